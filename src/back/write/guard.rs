//! Keeps the output away from the sources: an export may never write,
//! replace or delete a path it reads from. Paths are compared after
//! resolving symlinks, so `out -> run/` or `run/../run` are seen for what
//! they are; an output that does not exist yet is resolved through its
//! nearest existing ancestor.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::WriteError;

/// How an output path overlaps a source path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// The output is the source itself.
    Same,
    /// The output lies inside the source directory.
    Inside,
    /// The output contains the source.
    Contains,
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Overlap::Same => "is",
            Overlap::Inside => "lies inside",
            Overlap::Contains => "contains",
        })
    }
}

/// The absolute, symlink-free path `out_dir` names, which need not exist:
/// its nearest existing ancestor canonicalised, the rest appended (a `..`
/// there undoes the component before it, as it will once that is created).
/// An output that is itself a symlink is refused rather than followed.
pub fn resolve_output(out_dir: impl AsRef<Path>) -> Result<PathBuf, WriteError> {
    let out_dir = out_dir.as_ref();
    let is_symlink = std::fs::symlink_metadata(out_dir).is_ok_and(|m| m.file_type().is_symlink());
    if is_symlink {
        return Err(WriteError::OutputIsSymlink {
            path: out_dir.to_path_buf(),
        });
    }
    let absolute = std::path::absolute(out_dir).map_err(io_error(out_dir))?;
    let (existing, rest) = split_at_existing(&absolute);
    let mut resolved = existing.canonicalize().map_err(io_error(&existing))?;
    for component in rest.components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(part) => resolved.push(part),
            _ => {}
        }
    }
    Ok(resolved)
}

/// The longest leading part of `path` that exists (following symlinks), and
/// the rest, starting at the first component that does not exist.
fn split_at_existing(path: &Path) -> (PathBuf, PathBuf) {
    let mut existing = PathBuf::new();
    let mut components = path.components();
    for component in components.by_ref() {
        let longer = existing.join(component);
        if !longer.exists() {
            let rest = std::iter::once(component).chain(components).collect();
            return (existing, rest);
        }
        existing = longer;
    }
    (existing, PathBuf::new())
}

/// How `output` (already resolved) overlaps `source`, if it does.
pub fn overlap(output: impl AsRef<Path>, source: impl AsRef<Path>) -> Option<Overlap> {
    let output = output.as_ref();
    let source = source.as_ref();
    if output == source {
        Some(Overlap::Same)
    } else if output.starts_with(source) {
        Some(Overlap::Inside)
    } else if source.starts_with(output) {
        Some(Overlap::Contains)
    } else {
        None
    }
}

/// Refuses an `output` (already resolved) that is, lies inside or contains
/// any of `sources`. Sources that do not exist cannot be harmed and are skipped.
pub fn keep_apart(output: impl AsRef<Path>, sources: &[PathBuf]) -> Result<(), WriteError> {
    let output = output.as_ref();
    for source in sources {
        let Ok(canonical) = source.canonicalize() else {
            continue;
        };
        if let Some(overlap) = overlap(output, &canonical) {
            return Err(WriteError::OutputOverlapsSource {
                output: output.to_path_buf(),
                overlap,
                input: source.clone(),
            });
        }
    }
    Ok(())
}

/// The directory a checkpoint prefix's files live in.
pub fn directory_of(prefix: impl AsRef<Path>) -> PathBuf {
    let prefix = prefix.as_ref();
    match prefix.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WriteError {
    let path = path.to_path_buf();
    move |source| WriteError::Io { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_by_whole_components() {
        let run = Path::new("/data/run");
        assert_eq!(overlap(run, run), Some(Overlap::Same));
        assert_eq!(
            overlap(Path::new("/data/run/out"), run),
            Some(Overlap::Inside)
        );
        assert_eq!(overlap(Path::new("/data"), run), Some(Overlap::Contains));
        assert_eq!(overlap(Path::new("/data/run2"), run), None);
        assert_eq!(overlap(Path::new("/data/ru"), run), None);
    }

    #[test]
    fn a_missing_output_resolves_through_its_existing_ancestor() {
        let root = tempfile::tempdir().unwrap();
        let canonical = root.path().canonicalize().unwrap();
        std::fs::create_dir(root.path().join("run")).unwrap();
        let out = root.path().join("new/../run/./x/y");
        assert_eq!(resolve_output(&out).unwrap(), canonical.join("run/x/y"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_ancestors_are_resolved_and_a_symlinked_output_refused() {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::os::unix::fs::symlink(&run, root.path().join("link")).unwrap();
        let via_link = resolve_output(root.path().join("link/out")).unwrap();
        assert_eq!(via_link, run.canonicalize().unwrap().join("out"));
        let err = resolve_output(root.path().join("link")).unwrap_err();
        assert!(matches!(err, WriteError::OutputIsSymlink { .. }), "{err}");
        let err = keep_apart(&via_link, std::slice::from_ref(&run)).unwrap_err();
        assert!(
            matches!(
                err,
                WriteError::OutputOverlapsSource {
                    overlap: Overlap::Inside,
                    ..
                }
            ),
            "{err}"
        );
    }
}
