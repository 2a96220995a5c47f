//! The `.index` a [`BundleWriter`](super::BundleWriter) writes for tensors
//! copied from other bundles, worked out without writing anything: each
//! copied record keeps its entry (dtype, shape, size, crc32c) at the next
//! offset of shard 0, and a partitioned tensor's full entry lists its slices
//! with no bytes of its own. Its length is exact, so a size budget can be
//! checked before an export creates a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::reader::BundleReader;
use super::slices::{extents, slice_key};
use super::writer::encode_index;
use super::{BundleError, index_path};
use crate::proto::BundleEntryProto;

/// The entries copies would write, in one data shard.
pub struct CopyPlan {
    prefix: PathBuf,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
    offset: u64,
}

impl CopyPlan {
    /// An empty plan for a bundle at `prefix` (named in errors only).
    pub fn new(prefix: &Path) -> CopyPlan {
        CopyPlan {
            prefix: prefix.to_path_buf(),
            entries: BTreeMap::new(),
            offset: 0,
        }
    }

    /// Places tensor `name` of `source` (all its slices when partitioned)
    /// as `BundleWriter::copy_from` would; returns its bytes.
    pub fn copy(&mut self, source: &BundleReader, name: &str) -> Result<u64, BundleError> {
        let entry = source.entry(name.as_bytes())?;
        if entry.slices.is_empty() {
            return self.place(name.as_bytes().to_vec(), entry);
        }
        let mut copied = 0;
        for piece in &entry.slices {
            let key = slice_key(name, &extents(piece));
            copied += self.place(key.clone(), source.entry(&key)?)?;
        }
        let full = BundleEntryProto {
            shard_id: 0,
            offset: 0,
            size: 0,
            crc32c: 0,
            ..entry.clone()
        };
        self.insert(name.as_bytes().to_vec(), full)?;
        Ok(copied)
    }

    /// One record at the end of the data written so far.
    fn place(&mut self, key: Vec<u8>, entry: &BundleEntryProto) -> Result<u64, BundleError> {
        let size = u64::try_from(entry.size).unwrap_or(0);
        let placed = BundleEntryProto {
            shard_id: 0,
            offset: self.offset as i64,
            ..entry.clone()
        };
        self.insert(key, placed)?;
        self.offset += size;
        Ok(size)
    }

    fn insert(&mut self, key: Vec<u8>, entry: BundleEntryProto) -> Result<(), BundleError> {
        if self.entries.insert(key.clone(), entry).is_some() {
            return Err(BundleError::Write {
                path: self.prefix.clone(),
                reason: format!("key {:?} is added twice", String::from_utf8_lossy(&key)),
            });
        }
        Ok(())
    }

    /// Bytes of the data shard.
    pub fn data_bytes(&self) -> u64 {
        self.offset
    }

    /// The length of the `.index` file.
    pub fn index_bytes(&self) -> Result<u64, BundleError> {
        let index = encode_index(&self.entries, 1, &index_path(&self.prefix))?;
        Ok(index.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::BundleWriter;
    use crate::bundle::slices::Extent1;
    use crate::proto::DataType;

    /// A bundle with a whole tensor, a string tensor and a two-slice one.
    fn source(dir: &Path) -> BundleReader {
        let prefix = dir.join("source/model");
        std::fs::create_dir_all(prefix.parent().unwrap()).unwrap();
        let mut writer = BundleWriter::create(&prefix).unwrap();
        writer
            .add("dense/kernel", DataType::DtFloat, &[2, 3], &[7u8; 24])
            .unwrap();
        writer
            .add_strings("vocab", &[2], &[b"a".as_slice(), b"bc".as_slice()])
            .unwrap();
        for start in [0, 2] {
            let extents = [
                Extent1 {
                    start,
                    length: Some(2),
                },
                Extent1 {
                    start: 0,
                    length: None,
                },
            ];
            let bytes = [start as u8; 32];
            writer
                .add_slice("emb", DataType::DtFloat, &[4, 4], &extents, &bytes)
                .unwrap();
        }
        writer.finish().unwrap();
        BundleReader::open(&prefix).unwrap()
    }

    #[test]
    fn the_planned_index_is_the_written_one_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let reader = source(dir.path());
        let out = dir.path().join("out/variables");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let mut writer = BundleWriter::create(&out).unwrap();
        let mut plan = CopyPlan::new(&out);
        for name in ["dense/kernel", "emb", "vocab"] {
            let written = writer.copy_from(&reader, name).unwrap();
            assert_eq!(plan.copy(&reader, name).unwrap(), written);
        }
        writer.finish().unwrap();
        let index = std::fs::read(index_path(&out)).unwrap();
        let planned = encode_index(&plan.entries, 1, &index_path(&out)).unwrap();
        assert_eq!(planned, index);
        assert_eq!(plan.index_bytes().unwrap(), index.len() as u64);
        let data = std::fs::metadata(crate::bundle::data_path(&out, 0, 1)).unwrap();
        assert_eq!(plan.data_bytes(), data.len());
    }

    #[test]
    fn a_key_copied_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let reader = source(dir.path());
        let mut plan = CopyPlan::new(Path::new("variables/variables"));
        plan.copy(&reader, "emb").unwrap();
        let err = plan.copy(&reader, "emb").unwrap_err();
        assert!(err.to_string().contains("emb"), "{err}");
    }
}
