//! TensorFlow Serving's layout: a model server watching `OUT` serves the
//! highest numeric subdirectory `OUT/<version>/` and loads a new one when it
//! appears. `--version N` writes `OUT/N/`; `--version auto` the next integer
//! after the highest version already there (1 for none). Earlier versions
//! are never touched, and an existing `OUT/N` is refused.

use std::path::{Path, PathBuf};

use super::failure::CliError;

/// What `--version` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Number(u64),
    Auto,
}

impl std::str::FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Version, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Version::Auto);
        }
        s.parse::<u64>()
            .map(Version::Number)
            .map_err(|_| format!("{s:?} is not a version: give a whole number (1, 2, ...) or auto"))
    }
}

/// The numeric subdirectories of `root` (none when it does not exist).
fn existing_versions(root: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .collect()
}

/// The directory to write version `version` of the model served from
/// `root` to: `root/N`. An error when it exists already or `root` is a
/// SavedModel itself (a version directory inside a version).
pub fn version_dir(root: &Path, version: Version) -> Result<PathBuf, CliError> {
    let refuse = |message: String, hint: &str| CliError {
        kind: "usage",
        message,
        culprit: Some("--version".into()),
        hint: Some(hint.into()),
    };
    if root.join("saved_model.pb").is_file() {
        return Err(refuse(
            format!(
                "{} is a SavedModel, not the folder of a model's versions",
                root.display()
            ),
            "give --version the folder the model server watches (the parent of the versions)",
        ));
    }
    let number = match version {
        Version::Number(n) => n,
        Version::Auto => existing_versions(root)
            .into_iter()
            .max()
            .map_or(1, |n| n + 1),
    };
    let dir = root.join(number.to_string());
    if dir.exists() {
        return Err(refuse(
            format!(
                "version {number} exists already: {}; earlier versions are never replaced",
                dir.display()
            ),
            "pass --version auto for the next one, or another number",
        ));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_one_past_the_highest_numeric_subdirectory() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            version_dir(root.path(), Version::Auto).unwrap(),
            root.path().join("1")
        );
        for name in ["3", "12", "notes", "007"] {
            std::fs::create_dir(root.path().join(name)).unwrap();
        }
        assert_eq!(
            version_dir(root.path(), Version::Auto).unwrap(),
            root.path().join("13")
        );
        assert!(version_dir(root.path(), Version::Number(12)).is_err());
        assert_eq!("AUTO".parse::<Version>(), Ok(Version::Auto));
        assert!("v2".parse::<Version>().is_err());
    }
}
