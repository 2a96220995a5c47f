//! Keras 3's own files, told apart by their first bytes: a `.keras` archive
//! (a zip) and an HDF5 file (a legacy `.h5` model or a `.weights.h5`). None
//! holds a TensorFlow graph, so they are refused with the command that turns
//! the model into a SavedModel servegraph reads, rather than failing later
//! as an undecodable GraphDef.

use std::io::Read;
use std::path::Path;

/// The local-file header every zip archive (and so every `.keras` file) opens with.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The HDF5 superblock signature at offset 0.
const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";

/// A Keras file that is not a TensorFlow graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KerasFile {
    /// A `.keras` zip archive (`config.json`, `metadata.json`, `model.weights.h5`).
    Archive,
    /// A weights-only HDF5 file (`model.save_weights`, `*.weights.h5`).
    Weights,
    /// Another HDF5 file: a legacy `.h5` model.
    Hdf5Model,
}

impl KerasFile {
    /// What the file is, in words for an error message.
    pub fn describe(self) -> &'static str {
        match self {
            KerasFile::Archive => "a Keras model archive (.keras, a zip file)",
            KerasFile::Weights => "a Keras weights file (.weights.h5, HDF5) with no model graph",
            KerasFile::Hdf5Model => "a Keras HDF5 model (.h5)",
        }
    }
}

/// Which Keras file `path` is, by its magic bytes; `None` for anything else
/// (or a file that cannot be read, which the GraphDef reader then reports).
pub fn sniff(path: &Path) -> Option<KerasFile> {
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).ok()?;
    let read = file.read(&mut head).ok()?;
    let head = &head[..read];
    if head.starts_with(ZIP_MAGIC) {
        return Some(KerasFile::Archive);
    }
    if head.starts_with(HDF5_MAGIC) {
        let name = path.file_name()?.to_string_lossy().to_lowercase();
        return Some(if name.ends_with(".weights.h5") {
            KerasFile::Weights
        } else {
            KerasFile::Hdf5Model
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(name: &str, bytes: &[u8]) -> Option<KerasFile> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        sniff(&path)
    }

    #[test]
    fn magic_decides_not_the_extension() {
        assert_eq!(sniffed("m.pb", b"PK\x03\x04rest"), Some(KerasFile::Archive));
        assert_eq!(
            sniffed("m.h5", b"\x89HDF\r\n\x1a\nrest"),
            Some(KerasFile::Hdf5Model)
        );
        assert_eq!(
            sniffed("m.weights.h5", b"\x89HDF\r\n\x1a\n"),
            Some(KerasFile::Weights)
        );
        assert_eq!(sniffed("m.keras", b"\x0a\x04node"), None);
        assert_eq!(sniffed("m.keras", b"PK"), None);
    }
}
