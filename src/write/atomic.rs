//! Writes an output directory all at once: everything goes into a hidden
//! temporary sibling, which is synced and renamed into place only when the
//! whole export succeeded. A failed export leaves nothing behind, and an
//! existing directory is replaced only when the caller asked for it.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::WriteError;

/// Whether an existing output directory may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Refuse to touch an existing output (the default).
    #[default]
    Refuse,
    /// Replace an existing output directory once the new one is complete.
    Replace,
}

/// A directory being written; dropped without [`StagedDir::commit`] it is removed.
#[derive(Debug)]
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    overwrite: Overwrite,
    committed: bool,
}

impl StagedDir {
    /// Prepares a staging directory next to `target`.
    pub fn create(target: &Path, overwrite: Overwrite) -> Result<StagedDir, WriteError> {
        if target.exists() && overwrite == Overwrite::Refuse {
            return Err(WriteError::OutputExists {
                path: target.to_path_buf(),
            });
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|source| WriteError::Io {
            path: parent.clone(),
            source,
        })?;
        let base = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "export".into());
        let staging = (0..1000)
            .map(|attempt| {
                parent.join(format!(
                    ".{base}.servegraph-tmp-{}-{attempt}",
                    std::process::id()
                ))
            })
            .find(|candidate| !candidate.exists())
            .ok_or_else(|| WriteError::Io {
                path: parent.clone(),
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "no free staging directory name",
                ),
            })?;
        fs::create_dir(&staging).map_err(|source| WriteError::Io {
            path: staging.clone(),
            source,
        })?;
        Ok(StagedDir {
            staging,
            target: target.to_path_buf(),
            overwrite,
            committed: false,
        })
    }

    /// Where files are written until commit.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final location.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs every file and renames the staging directory into place.
    pub fn commit(mut self) -> Result<(), WriteError> {
        sync_tree(&self.staging)?;
        if self.target.exists() {
            if self.overwrite == Overwrite::Refuse {
                return Err(WriteError::OutputExists {
                    path: self.target.clone(),
                });
            }
            // Move the old output aside first so that a failed rename keeps it.
            let aside = self.staging.with_extension("old");
            fs::rename(&self.target, &aside).map_err(|source| WriteError::Io {
                path: self.target.clone(),
                source,
            })?;
            if let Err(source) = fs::rename(&self.staging, &self.target) {
                let _ = fs::rename(&aside, &self.target);
                return Err(WriteError::Io {
                    path: self.target.clone(),
                    source,
                });
            }
            remove_any(&aside).map_err(|source| WriteError::Io {
                path: aside.clone(),
                source,
            })?;
        } else {
            fs::rename(&self.staging, &self.target).map_err(|source| WriteError::Io {
                path: self.target.clone(),
                source,
            })?;
        }
        self.committed = true;
        if let Some(parent) = self.target.parent() {
            // Make the rename itself durable; not every platform can open a directory.
            let _ = File::open(parent).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

fn remove_any(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn sync_tree(dir: &Path) -> Result<(), WriteError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_without_commit_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        {
            let staged = StagedDir::create(&target, Overwrite::Refuse).unwrap();
            fs::write(staged.path().join("saved_model.pb"), b"x").unwrap();
        }
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn commit_renames_into_place_and_refuses_existing() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        let staged = StagedDir::create(&target, Overwrite::Refuse).unwrap();
        fs::write(staged.path().join("a"), b"new").unwrap();
        staged.commit().unwrap();
        assert_eq!(fs::read(target.join("a")).unwrap(), b"new");
        let err = StagedDir::create(&target, Overwrite::Refuse).unwrap_err();
        assert!(matches!(err, WriteError::OutputExists { .. }), "{err}");
    }

    #[test]
    fn replace_swaps_the_old_output() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old"), b"old").unwrap();
        let staged = StagedDir::create(&target, Overwrite::Replace).unwrap();
        fs::write(staged.path().join("new"), b"new").unwrap();
        staged.commit().unwrap();
        assert!(!target.join("old").exists());
        assert!(target.join("new").exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
