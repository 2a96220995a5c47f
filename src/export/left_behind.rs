//! What a checkpoint export leaves behind in the training directory, so a
//! user sees that the upload directory holds only the model.
//!
//! Only directory metadata is read (names, kinds, sizes), never a file's
//! contents, and only inside the source checkpoint's directory. A
//! subdirectory is summed, not listed, and the sum stops after
//! [`MAX_SUBDIRECTORY_ENTRIES`] entries (the size is then "at least").
//!
//! Files are classified by the names TensorFlow gives them:
//! - `<prefix>.index`, `<prefix>.meta`, `<prefix>.data-NNNNN-of-NNNNN`: a
//!   checkpoint written by `tf.train.Saver` / `tf.train.Checkpoint`; a
//!   `-<digits>` ending of the prefix is the global step Saver appends.
//! - `checkpoint`: the checkpoint state file naming the newest checkpoints.
//! - `events.out.tfevents.*`: summary event files (TensorBoard).
//! - `graph.pbtxt`: the text GraphDef an Estimator writes beside its checkpoints.
//! - a directory (e.g. the `eval/` an Estimator writes): summed.
//! - a file the export copied into `assets/` (a vocabulary file an
//!   Estimator's feature columns read): an asset, in the export too.
//! - anything else: other.

use std::fs::{self, DirEntry};
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::back::write::guard::directory_of;

/// How many entries all subdirectory sums together may visit before they stop
/// and report "at least".
pub const MAX_SUBDIRECTORY_ENTRIES: usize = 10_000;

/// The training directory's contents that are not part of the export.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeftBehind {
    /// The source checkpoint's directory.
    pub directory: PathBuf,
    /// Every entry of `directory` other than the source checkpoint's own
    /// files, sorted by name.
    pub files: Vec<LeftFile>,
    /// Bytes of the source checkpoint's tensors the export did not keep
    /// (the `dropped` variables).
    pub checkpoint_bytes_not_kept: u64,
}

/// One entry of the training directory left behind.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeftFile {
    /// The entry's name inside the directory.
    pub name: String,
    pub category: Category,
    /// Its size; a directory's is the sum of the files inside.
    pub bytes: u64,
    /// The directory sum stopped early: `bytes` is a lower bound.
    pub at_least: bool,
    /// The global step of another checkpoint's file, when its prefix has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    pub reason: &'static str,
}

/// What kind of training artifact a left-behind entry is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    OtherCheckpoint,
    CheckpointState,
    Events,
    GraphText,
    Subdirectory,
    Asset,
    Other,
}

impl Category {
    /// The category as the text report names it.
    pub fn label(self) -> &'static str {
        match self {
            Category::OtherCheckpoint => "other checkpoints",
            Category::CheckpointState => "checkpoint state",
            Category::Events => "events files",
            Category::GraphText => "graph.pbtxt",
            Category::Subdirectory => "subdirectories",
            Category::Asset => "assets",
            Category::Other => "other",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Category::OtherCheckpoint => "another checkpoint than the one exported",
            Category::CheckpointState => "training bookkeeping: names the newest checkpoints",
            Category::Events => "TensorBoard summaries of the training run",
            Category::GraphText => "the training graph as text; the export writes its own",
            Category::Subdirectory => "not read by the export",
            Category::Asset => "read by the serving graph; copied into the export's assets/",
            Category::Other => "not a file the export reads",
        }
    }
}

/// Lists what stays behind in the directory of the checkpoint `prefix` whose
/// graph came from `meta`; `dropped_bytes` are the bytes of its tensors the
/// export left out, `assets` the files it copied into `assets/`.
pub fn left_behind(
    prefix: &Path,
    meta: &Path,
    dropped_bytes: u64,
    assets: &[PathBuf],
) -> io::Result<LeftBehind> {
    let directory = directory_of(prefix);
    let source = SourceFiles::new(prefix, meta);
    let assets: Vec<PathBuf> = assets
        .iter()
        .filter_map(|a| fs::canonicalize(a).ok())
        .collect();
    let mut budget = MAX_SUBDIRECTORY_ENTRIES;
    let mut files = Vec::new();
    for entry in fs::read_dir(&directory)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !source.contains(&name) {
            let mut file = describe(&entry, name, &mut budget)?;
            let copied = fs::canonicalize(entry.path()).is_ok_and(|p| assets.contains(&p));
            if copied && file.category == Category::Other {
                file.category = Category::Asset;
                file.reason = Category::Asset.reason();
            }
            files.push(file);
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(LeftBehind {
        directory,
        files,
        checkpoint_bytes_not_kept: dropped_bytes,
    })
}

/// The names of the exported checkpoint's own files.
struct SourceFiles {
    prefix: String,
    meta: String,
}

impl SourceFiles {
    fn new(prefix: &Path, meta: &Path) -> SourceFiles {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        SourceFiles {
            prefix: name(prefix),
            meta: name(meta),
        }
    }

    fn contains(&self, name: &str) -> bool {
        name == self.meta || checkpoint_prefix(name) == Some(self.prefix.as_str())
    }
}

/// One entry, classified and sized, without following symbolic links.
fn describe(entry: &DirEntry, name: String, budget: &mut usize) -> io::Result<LeftFile> {
    let metadata = fs::symlink_metadata(entry.path())?;
    let (category, bytes, at_least) = if metadata.is_dir() {
        let (bytes, complete) = directory_bytes(&entry.path(), budget)?;
        (Category::Subdirectory, bytes, !complete)
    } else {
        (classify(&name), metadata.len(), false)
    };
    let step = match category {
        Category::OtherCheckpoint => checkpoint_prefix(&name).and_then(global_step),
        _ => None,
    };
    Ok(LeftFile {
        name,
        category,
        bytes,
        at_least,
        step,
        reason: category.reason(),
    })
}

/// A file's category from its name (see the module doc for the patterns).
fn classify(name: &str) -> Category {
    if name == "checkpoint" {
        Category::CheckpointState
    } else if name.starts_with("events.out.tfevents.") {
        Category::Events
    } else if name == "graph.pbtxt" {
        Category::GraphText
    } else if checkpoint_prefix(name).is_some() {
        Category::OtherCheckpoint
    } else {
        Category::Other
    }
}

/// The prefix of a checkpoint file name: `model.ckpt-10` for
/// `model.ckpt-10.index`, `.meta` or `.data-00000-of-00001`.
fn checkpoint_prefix(name: &str) -> Option<&str> {
    if let Some(prefix) = name.strip_suffix(".index") {
        return Some(prefix);
    }
    if let Some(prefix) = name.strip_suffix(".meta") {
        return Some(prefix);
    }
    let (prefix, shard) = name.rsplit_once(".data-")?;
    is_shard_suffix(shard).then_some(prefix)
}

/// `00000-of-00001`: two runs of digits around `-of-`.
fn is_shard_suffix(shard: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    shard
        .split_once("-of-")
        .is_some_and(|(index, count)| digits(index) && digits(count))
}

/// The global step Saver appends to a prefix: `10` in `model.ckpt-10`.
fn global_step(prefix: &str) -> Option<u64> {
    prefix.rsplit_once('-')?.1.parse().ok()
}

/// The bytes of the files under `dir`, and whether every entry was counted
/// before `budget` ran out. Symbolic links are not followed.
fn directory_bytes(dir: &Path, budget: &mut usize) -> io::Result<(u64, bool)> {
    let mut bytes = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next)? {
            if *budget == 0 {
                return Ok((bytes, false));
            }
            *budget -= 1;
            let path = entry?.path();
            let metadata = fs::symlink_metadata(&path)?;
            if metadata.is_dir() {
                pending.push(path);
            } else {
                bytes += metadata.len();
            }
        }
    }
    Ok((bytes, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: usize) {
        fs::write(dir.join(name), vec![0u8; bytes]).unwrap();
    }

    fn training_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        for step in [100, 200, 300] {
            write(path, &format!("model.ckpt-{step}.index"), 10);
            write(path, &format!("model.ckpt-{step}.meta"), 20);
            write(path, &format!("model.ckpt-{step}.data-00000-of-00002"), 30);
            write(path, &format!("model.ckpt-{step}.data-00001-of-00002"), 40);
        }
        write(path, "checkpoint", 5);
        write(path, "events.out.tfevents.1700000000.host", 70);
        write(path, "events.out.tfevents.1700000100.host", 80);
        write(path, "graph.pbtxt", 90);
        write(path, "notes.txt", 3);
        fs::create_dir_all(path.join("eval/nested")).unwrap();
        write(&path.join("eval"), "events.out.tfevents.1.host", 11);
        write(&path.join("eval/nested"), "x", 22);
        dir
    }

    fn of(report: &LeftBehind, category: Category) -> Vec<&LeftFile> {
        report
            .files
            .iter()
            .filter(|f| f.category == category)
            .collect()
    }

    fn bytes(files: &[&LeftFile]) -> u64 {
        files.iter().map(|f| f.bytes).sum()
    }

    #[test]
    fn a_training_directory_is_classified_and_sized() {
        let dir = training_dir();
        let prefix = dir.path().join("model.ckpt-300");
        let meta = dir.path().join("model.ckpt-300.meta");
        let vocabulary = dir.path().join("notes.txt");
        let report = left_behind(&prefix, &meta, 1234, &[]).unwrap();
        assert_eq!(report.checkpoint_bytes_not_kept, 1234);
        assert!(
            report
                .files
                .iter()
                .all(|f| !f.name.starts_with("model.ckpt-300"))
        );

        let others = of(&report, Category::OtherCheckpoint);
        assert_eq!(others.len(), 8);
        assert_eq!(bytes(&others), 2 * (10 + 20 + 30 + 40));
        let mut steps: Vec<u64> = others.iter().filter_map(|f| f.step).collect();
        steps.dedup();
        assert_eq!(steps, [100, 200]);

        assert_eq!(bytes(&of(&report, Category::CheckpointState)), 5);
        let events = of(&report, Category::Events);
        assert_eq!((events.len(), bytes(&events)), (2, 150));
        assert_eq!(bytes(&of(&report, Category::GraphText)), 90);
        let subdirs = of(&report, Category::Subdirectory);
        assert_eq!(subdirs.len(), 1);
        assert_eq!((subdirs[0].name.as_str(), subdirs[0].bytes), ("eval", 33));
        assert!(!subdirs[0].at_least);
        let other = of(&report, Category::Other);
        assert_eq!(other.len(), 1);
        assert_eq!((other[0].name.as_str(), other[0].bytes), ("notes.txt", 3));
        assert_eq!(report.files.len(), 8 + 1 + 2 + 1 + 1 + 1);

        // The same file, copied as an asset, is reported as one.
        let report = left_behind(&prefix, &meta, 1234, &[vocabulary]).unwrap();
        let assets = of(&report, Category::Asset);
        assert_eq!(assets.len(), 1);
        assert_eq!(assets[0].name, "notes.txt");
        assert!(of(&report, Category::Other).is_empty());
    }

    #[test]
    fn a_subdirectory_sum_stops_at_the_budget_and_says_at_least() {
        let dir = training_dir();
        let eval = dir.path().join("eval");
        let mut budget = 3;
        assert_eq!(directory_bytes(&eval, &mut budget).unwrap(), (33, true));
        let mut budget = 2;
        let (bytes, complete) = directory_bytes(&eval, &mut budget).unwrap();
        assert!(!complete);
        assert!(bytes < 33);
        assert_eq!(budget, 0);
    }

    #[test]
    fn checkpoint_file_names_follow_the_saver_pattern() {
        assert_eq!(checkpoint_prefix("m-7.index"), Some("m-7"));
        assert_eq!(checkpoint_prefix("m-7.data-00000-of-00001"), Some("m-7"));
        assert_eq!(checkpoint_prefix("m-7.data-x-of-1"), None);
        assert_eq!(checkpoint_prefix("m.data"), None);
        assert_eq!(global_step("model.ckpt-1500"), Some(1500));
        assert_eq!(global_step("model.ckpt"), None);
        assert_eq!(classify("checkpoint.bak"), Category::Other);
    }
}
