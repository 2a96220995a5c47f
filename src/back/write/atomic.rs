//! Writes an output directory all at once: everything goes into a hidden
//! sibling `.NAME.servegraph-tmp-PID-N`, which is synced (files and
//! directories) and renamed into place only when the whole export
//! succeeded; the parent is synced after. A failed export leaves nothing
//! behind. An existing output is replaced only when the caller asked, and
//! only if it is an empty directory or a SavedModel: it is first moved aside
//! to `.NAME.servegraph-old-PID-N`, so a failed rename puts it back.
//!
//! A process killed mid-export cannot clean up; the next export to the same
//! target sweeps the hidden siblings whose process is gone (the PID is in
//! the name), and puts a moved-aside output back if the target is missing.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::WriteError;
use super::guard::resolve_output;

/// Whether an existing output directory may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Refuse to touch an existing output (the default).
    #[default]
    Refuse,
    /// Replace an existing empty directory or SavedModel once the new one is complete.
    Replace,
}

/// What a hidden sibling holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sibling {
    /// An export being written.
    Staging,
    /// The previous output, moved aside during the swap.
    Aside,
}

impl Sibling {
    fn tag(self) -> &'static str {
        match self {
            Sibling::Staging => "tmp",
            Sibling::Aside => "old",
        }
    }

    /// `.NAME.servegraph-KIND-PID-N`.
    fn name(self, base: &str, pid: u32, n: u32) -> String {
        format!(".{base}.servegraph-{}-{pid}-{n}", self.tag())
    }

    /// The kind and PID of `name` if it is exactly a sibling of `base`.
    fn parse(name: &str, base: &str) -> Option<(Sibling, u32)> {
        let rest = name.strip_prefix(&format!(".{base}.servegraph-"))?;
        let (kind, rest) = rest.split_once('-')?;
        let kind = [Sibling::Staging, Sibling::Aside]
            .into_iter()
            .find(|k| k.tag() == kind)?;
        let (pid, n) = rest.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(pid) || !digits(n) {
            return None;
        }
        Some((kind, pid.parse().ok()?))
    }
}

/// Numbers the siblings this process makes, so two exports in one process never collide.
static NEXT_SIBLING: AtomicU32 = AtomicU32::new(0);

/// A directory being written; dropped without [`StagedDir::commit`] it is removed.
#[derive(Debug)]
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    overwrite: Overwrite,
    committed: bool,
    warnings: Vec<String>,
}

impl StagedDir {
    /// Prepares a staging directory next to `target`, after refusing a
    /// target that may not be replaced and sweeping siblings that killed
    /// exports left behind.
    pub fn create(target: impl AsRef<Path>, overwrite: Overwrite) -> Result<StagedDir, WriteError> {
        let target = target.as_ref();
        let target = resolve_output(target)?;
        let (parent, base) = parent_and_name(&target)?;
        check_replaceable(&target, overwrite)?;
        fs::create_dir_all(&parent).map_err(io_error(&parent))?;
        let warnings = sweep_stale_siblings(&parent, &base, &target);
        check_replaceable(&target, overwrite)?;
        let staging = create_sibling_dir(&parent, &base)?;
        Ok(StagedDir {
            staging,
            target,
            overwrite,
            committed: false,
            warnings,
        })
    }

    /// Where files are written until commit.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Syncs every file and directory, renames the staging directory into
    /// place and syncs the parent. (Without a system call crate the rename
    /// cannot be told not to replace: a directory created at the target
    /// after the last check and still empty would be replaced.) Once the rename is done the export has
    /// succeeded: what goes wrong afterwards (syncing the parent, removing
    /// the old output) is returned as warnings, never as an error.
    pub fn commit(mut self) -> Result<Vec<String>, WriteError> {
        sync_tree(&self.staging)?;
        check_replaceable(&self.target, self.overwrite)?;
        let aside = self.move_old_output_aside()?;
        if let Err(source) = fs::rename(&self.staging, &self.target) {
            if let Some(aside) = &aside {
                let _ = fs::rename(aside, &self.target);
            }
            return Err(WriteError::Io {
                path: self.target.clone(),
                source,
            });
        }
        self.committed = true;
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.extend(clean_up_after_commit(&self.target, aside.as_deref()));
        Ok(warnings)
    }

    /// Renames an existing output to a fresh `.NAME.servegraph-old-PID-N`.
    fn move_old_output_aside(&self) -> Result<Option<PathBuf>, WriteError> {
        if fs::symlink_metadata(&self.target).is_err() {
            return Ok(None);
        }
        let (parent, base) = parent_and_name(&self.target)?;
        let aside = loop {
            let n = NEXT_SIBLING.fetch_add(1, Ordering::Relaxed);
            let candidate = parent.join(Sibling::Aside.name(&base, std::process::id(), n));
            if fs::symlink_metadata(&candidate).is_err() {
                break candidate;
            }
        };
        fs::rename(&self.target, &aside).map_err(io_error(&self.target))?;
        Ok(Some(aside))
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Syncs the parent of a committed `target` and removes the old output
/// moved `aside`; failures are returned as warnings, the export stands.
fn clean_up_after_commit(target: &Path, aside: Option<&Path>) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(parent) = target.parent()
        && let Err(e) = sync_dir(parent)
    {
        warnings.push(format!("could not sync {}: {e}", parent.display()));
    }
    if let Some(aside) = aside
        && let Err(e) = fs::remove_dir_all(aside)
    {
        warnings.push(format!(
            "the replaced output was left at {}: {e}",
            aside.display()
        ));
    }
    warnings
}

fn parent_and_name(target: &Path) -> Result<(PathBuf, String), WriteError> {
    let no_parent = || WriteError::OutputHasNoParent {
        path: target.to_path_buf(),
    };
    let parent = target.parent().ok_or_else(no_parent)?;
    let name = target.file_name().ok_or_else(no_parent)?;
    Ok((parent.to_path_buf(), name.to_string_lossy().into_owned()))
}

/// Creates a fresh, empty `.NAME.servegraph-tmp-PID-N` in `parent`.
fn create_sibling_dir(parent: &Path, base: &str) -> Result<PathBuf, WriteError> {
    loop {
        let n = NEXT_SIBLING.fetch_add(1, Ordering::Relaxed);
        let staging = parent.join(Sibling::Staging.name(base, std::process::id(), n));
        match fs::create_dir(&staging) {
            Ok(()) => return Ok(staging),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(WriteError::Io {
                    path: staging,
                    source,
                });
            }
        }
    }
}

/// Whether `target` may be written: absent, or (when replacing) an empty
/// directory or one holding a SavedModel. A symlink or a file never is.
pub fn check_replaceable(target: impl AsRef<Path>, overwrite: Overwrite) -> Result<(), WriteError> {
    let target = target.as_ref();
    let path = target.to_path_buf();
    let metadata = match fs::symlink_metadata(target) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(WriteError::Io { path, source }),
    };
    if metadata.file_type().is_symlink() {
        return Err(WriteError::OutputIsSymlink { path });
    }
    if !metadata.is_dir() {
        return Err(WriteError::OutputNotDirectory { path });
    }
    if overwrite == Overwrite::Refuse {
        return Err(WriteError::OutputExists { path });
    }
    if ["saved_model.pb", "saved_model.pbtxt"]
        .iter()
        .any(|name| target.join(name).is_file())
    {
        return Ok(());
    }
    let mut entries: Vec<String> = fs::read_dir(target)
        .map_err(io_error(target))?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(io_error(target))?;
    if entries.is_empty() {
        return Ok(());
    }
    entries.sort();
    let count = entries.len();
    entries.truncate(5);
    Err(WriteError::OutputNotSavedModel {
        path,
        entries,
        count,
    })
}

/// Removes the staging directories of exports to `base` whose process is
/// gone, and their moved-aside outputs — or, when the target is missing
/// (killed between the two renames), puts the newest moved-aside output
/// back. Anything not named exactly like our siblings is left alone.
/// Returns what could not be cleaned, and what was restored.
fn sweep_stale_siblings(parent: &Path, base: &str, target: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    let Ok(entries) = fs::read_dir(parent) else {
        return warnings;
    };
    let mut stale: Vec<(Sibling, u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (kind, pid) = Sibling::parse(&name, base)?;
            (pid != std::process::id() && !process_is_alive(pid)).then(|| (kind, pid, e.path()))
        })
        .collect();
    stale.sort_by_key(|(_, _, path)| modified(path));
    if let Some(index) = stale.iter().rposition(|(kind, ..)| *kind == Sibling::Aside)
        && fs::symlink_metadata(target).is_err()
    {
        let (_, pid, aside) = stale.remove(index);
        match fs::rename(&aside, target) {
            Ok(()) => warnings.push(format!(
                "restored {} from {}, moved aside by an export (process {pid}) that was killed",
                target.display(),
                aside.display()
            )),
            Err(e) => warnings.push(format!("could not restore {}: {e}", aside.display())),
        }
    }
    for (_, _, path) in stale {
        if let Err(e) = fs::remove_dir_all(&path) {
            warnings.push(format!(
                "could not remove {} left by a killed export: {e}",
                path.display()
            ));
        }
    }
    warnings
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    fs::symlink_metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether process `pid` still exists. Only Linux can tell without a
/// system call crate (`/proc`); elsewhere every process counts as alive, so
/// nothing is swept.
#[cfg(target_os = "linux")]
fn process_is_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_is_alive(_pid: u32) -> bool {
    true
}

/// Syncs every file under `dir`, every directory, and `dir` itself, so that
/// what the rename publishes is on disk.
fn sync_tree(dir: &Path) -> Result<(), WriteError> {
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        if entry.file_type().map_err(io_error(&path))?.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_error(&path))?;
        }
    }
    sync_dir(dir).map_err(io_error(dir))
}

/// Makes a directory's entries durable. Only Unix can open a directory for that.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WriteError {
    let path = path.to_path_buf();
    move |source| WriteError::Io { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The PID of a process that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn dropped_without_commit_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        {
            let staged = StagedDir::create(&target, Overwrite::Refuse).unwrap();
            fs::write(staged.path().join("saved_model.pb"), b"x").unwrap();
        }
        assert_eq!(entries(root.path()), Vec::<String>::new());
    }

    #[test]
    fn commit_renames_into_place_and_refuses_existing() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        let staged = StagedDir::create(&target, Overwrite::Refuse).unwrap();
        fs::write(staged.path().join("a"), b"new").unwrap();
        assert_eq!(staged.commit().unwrap(), Vec::<String>::new());
        assert_eq!(fs::read(target.join("a")).unwrap(), b"new");
        let err = StagedDir::create(&target, Overwrite::Refuse).unwrap_err();
        assert!(matches!(err, WriteError::OutputExists { .. }), "{err}");
        assert!(
            !err.to_string().contains("--"),
            "library messages name no flags: {err}"
        );
    }

    #[test]
    fn replace_swaps_an_old_saved_model() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("saved_model.pb"), b"old").unwrap();
        let staged = StagedDir::create(&target, Overwrite::Replace).unwrap();
        fs::write(staged.path().join("new"), b"new").unwrap();
        staged.commit().unwrap();
        assert_eq!(entries(&target), ["new"]);
        assert_eq!(entries(root.path()), ["model"]);
    }

    #[test]
    fn replace_refuses_anything_but_an_empty_dir_or_a_saved_model() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("notes");
        fs::create_dir(&dir).unwrap();
        for i in 0..7 {
            fs::write(dir.join(format!("note{i}")), b"mine").unwrap();
        }
        let err = StagedDir::create(&dir, Overwrite::Replace).unwrap_err();
        let message = err.to_string();
        assert!(matches!(
            err,
            WriteError::OutputNotSavedModel { count: 7, .. }
        ));
        assert!(
            message.contains("note0, note1, note2, note3, note4 and 2 more"),
            "{message}"
        );
        let file = root.path().join("file");
        fs::write(&file, b"mine").unwrap();
        let err = StagedDir::create(&file, Overwrite::Replace).unwrap_err();
        assert!(
            matches!(err, WriteError::OutputNotDirectory { .. }),
            "{err}"
        );
        assert_eq!(fs::read(&file).unwrap(), b"mine");
        assert_eq!(entries(root.path()), ["file", "notes"]);
        let empty = root.path().join("empty");
        fs::create_dir(&empty).unwrap();
        StagedDir::create(&empty, Overwrite::Replace)
            .unwrap()
            .commit()
            .unwrap();
    }

    #[test]
    fn sibling_names_parse_only_when_exact() {
        assert_eq!(
            Sibling::parse(".model.servegraph-tmp-42-0", "model"),
            Some((Sibling::Staging, 42))
        );
        assert_eq!(
            Sibling::parse(".model.servegraph-old-7-3", "model"),
            Some((Sibling::Aside, 7))
        );
        for other in [
            ".model.servegraph-tmp-42-0x",
            ".model.servegraph-tmp-42",
            ".model.servegraph-new-42-0",
            ".other.servegraph-tmp-42-0",
            ".model.servegraph-tmp--0",
            "model",
        ] {
            assert_eq!(Sibling::parse(other, "model"), None, "{other}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stale_siblings_of_dead_processes_are_swept_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        let dead = dead_pid();
        let alive = std::process::id();
        let stale = Sibling::Staging.name("model", dead, 0);
        let live = Sibling::Staging.name("model", alive, 999_999);
        let other_target = Sibling::Staging.name("other", dead, 0);
        for name in [
            &stale,
            &live,
            &other_target,
            &".model.servegraph-tmp-x".to_string(),
        ] {
            fs::create_dir(root.path().join(name)).unwrap();
        }
        let staged = StagedDir::create(&target, Overwrite::Refuse).unwrap();
        assert!(!root.path().join(&stale).exists());
        staged.commit().unwrap();
        let mut expected = vec![
            ".model.servegraph-tmp-x".to_string(),
            live,
            "model".into(),
            other_target,
        ];
        expected.sort();
        assert_eq!(entries(root.path()), expected);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_output_moved_aside_by_a_killed_export_is_put_back() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        let aside = root
            .path()
            .join(Sibling::Aside.name("model", dead_pid(), 0));
        fs::create_dir(&aside).unwrap();
        fs::write(aside.join("saved_model.pb"), b"old").unwrap();
        let staged = StagedDir::create(&target, Overwrite::Replace).unwrap();
        assert_eq!(fs::read(target.join("saved_model.pb")).unwrap(), b"old");
        fs::write(staged.path().join("saved_model.pb"), b"new").unwrap();
        let warnings = staged.commit().unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("restored")),
            "{warnings:?}"
        );
        assert_eq!(fs::read(target.join("saved_model.pb")).unwrap(), b"new");
        assert_eq!(entries(root.path()), ["model"]);
    }

    #[test]
    fn a_failed_cleanup_after_commit_is_a_warning() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        fs::create_dir(&target).unwrap();
        let vanished = root.path().join(Sibling::Aside.name("model", 1, 0));
        let warnings = clean_up_after_commit(&target, Some(&vanished));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains(&*vanished.to_string_lossy()),
            "{warnings:?}"
        );
    }
}
