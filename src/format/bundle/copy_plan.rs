//! The `.index` a [`BundleWriter`](super::BundleWriter) writes, worked out
//! without writing anything: each copied record keeps its entry (dtype,
//! shape, size, crc32c) at the next offset of shard 0, a recoded record
//! takes the new dtype with the length and crc32c it is given for its
//! recoded bytes, an added tensor its own, and a partitioned tensor's full
//! entry lists its slices with no bytes of its own. Given the real
//! checksums (which only converting finds, as the tests do) it is the
//! written index byte for byte; given stand-ins, as an export's plan does
//! rather than convert twice, it has the written index's length, so a size
//! budget can be checked before an export creates a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::reader::BundleReader;
use super::slices::{extents, slice_key};
use super::writer::encode_index;
use super::{BundleError, crc, index_path};
use crate::format::dtypes::shape_proto;
use crate::format::proto::{BundleEntryProto, DataType};

/// What a recode writes for one record: its length and masked crc32c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecodedRecord {
    pub size: u64,
    pub masked_crc: u32,
}

#[cfg(test)]
/// Runs `recode` over every record of tensor `name` (each slice of a
/// partitioned one) as [`BundleWriter::recode_from`](super::BundleWriter::recode_from)
/// does, one chunk in memory at a time, keeping only what the index needs
/// of each record: its length and checksum, by record key.
pub fn recoded_records(
    source: &BundleReader,
    name: &str,
    recode: &mut dyn super::writer::Recode,
) -> Result<BTreeMap<Vec<u8>, RecodedRecord>, BundleError> {
    use super::writer::COPY_CHUNK_BYTES;
    let mut records = BTreeMap::new();
    for key in source.record_keys(name)? {
        recode.start(&key);
        let (mut crc_value, mut size, mut out) = (0u32, 0u64, Vec::new());
        source.read_chunks(&key, COPY_CHUNK_BYTES, &mut |chunk| {
            out.clear();
            recode.chunk(chunk, &mut out);
            crc_value = crc::extend(crc_value, &out);
            size += out.len() as u64;
            Ok(())
        })?;
        let masked_crc = crc::mask(crc_value);
        records.insert(key, RecodedRecord { size, masked_crc });
    }
    Ok(records)
}

/// The entries copies would write, in one data shard.
pub struct CopyPlan {
    prefix: PathBuf,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
    offset: u64,
}

impl CopyPlan {
    /// An empty plan for a bundle at `prefix` (named in errors only).
    pub fn new(prefix: impl AsRef<Path>) -> CopyPlan {
        let prefix = prefix.as_ref();
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

    /// Places tensor `name` of `source` as `BundleWriter::recode_from`
    /// would write it in `dtype`, each record with its entry in `records`
    /// (lengths and checksums); returns the bytes written.
    pub fn recode(
        &mut self,
        source: &BundleReader,
        name: &str,
        dtype: DataType,
        records: &BTreeMap<Vec<u8>, RecodedRecord>,
    ) -> Result<u64, BundleError> {
        let entry = source.entry(name.as_bytes())?;
        let mut written = 0;
        for key in source.record_keys(name)? {
            let Some(record) = records.get(&key) else {
                return Err(self.error(&key, "has no recoded length and checksum"));
            };
            let recoded = BundleEntryProto {
                dtype: dtype as i32,
                size: record.size as i64,
                crc32c: record.masked_crc,
                ..source.entry(&key)?.clone()
            };
            written += self.place(key, &recoded)?;
        }
        if !entry.slices.is_empty() {
            let full = BundleEntryProto {
                dtype: dtype as i32,
                shape: entry.shape.clone(),
                slices: entry.slices.clone(),
                ..BundleEntryProto::default()
            };
            self.insert(name.as_bytes().to_vec(), full)?;
        }
        Ok(written)
    }

    /// Places a tensor of `bytes` as `BundleWriter::add` would.
    pub fn add(
        &mut self,
        name: &str,
        dtype: DataType,
        shape: &[i64],
        bytes: &[u8],
    ) -> Result<(), BundleError> {
        let entry = BundleEntryProto {
            dtype: dtype as i32,
            shape: Some(shape_proto(shape)),
            size: bytes.len() as i64,
            crc32c: crc::mask(crc::crc32c(bytes)),
            ..BundleEntryProto::default()
        };
        self.place(name.as_bytes().to_vec(), &entry)?;
        Ok(())
    }

    /// Gives the tensor placed as `from` the key `to`, as
    /// [`BundleWriter::rename`](super::BundleWriter::rename) does.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), BundleError> {
        let entry = self.entries.remove(from.as_bytes());
        let Some(entry) = entry.filter(|e| e.slices.is_empty()) else {
            return Err(self.error(from.as_bytes(), "is not a whole tensor placed so far"));
        };
        self.insert(to.as_bytes().to_vec(), entry)
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
        if key.is_empty() || self.entries.contains_key(&key) {
            return Err(self.error(&key, "is empty or added twice"));
        }
        self.entries.insert(key, entry);
        Ok(())
    }

    fn error(&self, key: &[u8], what: &str) -> BundleError {
        BundleError::Write {
            path: self.prefix.clone(),
            reason: format!("key {:?} {what}", String::from_utf8_lossy(key)),
        }
    }

    /// Bytes of the data shard.
    pub fn data_bytes(&self) -> u64 {
        self.offset
    }

    /// The `.index` file the writer produces.
    pub fn index(&self) -> Result<Vec<u8>, BundleError> {
        encode_index(&self.entries, 1, &index_path(&self.prefix))
    }

    /// The length of the `.index` file.
    pub fn index_bytes(&self) -> Result<u64, BundleError> {
        Ok(self.index()?.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::bundle::BundleWriter;
    use crate::format::bundle::slices::Extent1;
    use crate::format::bundle::writer::Recode;
    use crate::format::proto::DataType;

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
        let data = std::fs::metadata(crate::format::bundle::data_path(&out, 0, 1)).unwrap();
        assert_eq!(plan.data_bytes(), data.len());
    }

    /// Keeps the upper half of each float32 (a bfloat16), xored with the
    /// first byte of the record's key, so every record's bytes depend on
    /// the record it belongs to.
    struct Truncate {
        salt: u8,
    }

    impl Recode for Truncate {
        fn dtype(&self) -> DataType {
            DataType::DtBfloat16
        }

        fn start(&mut self, record_key: &[u8]) {
            self.salt = record_key.first().copied().unwrap_or(0);
        }

        fn chunk(&mut self, input: &[u8], out: &mut Vec<u8>) {
            for element in input.chunks_exact(4) {
                out.extend([element[2] ^ self.salt, element[3]]);
            }
        }
    }

    #[test]
    fn recoded_and_added_entries_are_planned_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let reader = source(dir.path());
        let out = dir.path().join("out/variables");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let mut writer = BundleWriter::create(&out).unwrap();
        let mut plan = CopyPlan::new(&out);
        let scales = [1.5f32, -2.0, 0.25];
        let scale_bytes: Vec<u8> = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        for name in ["dense/kernel", "emb"] {
            let written = writer
                .recode_from(&reader, name, &mut Truncate { salt: 0 })
                .unwrap();
            let records = recoded_records(&reader, name, &mut Truncate { salt: 0 }).unwrap();
            let planned = plan
                .recode(&reader, name, DataType::DtBfloat16, &records)
                .unwrap();
            assert_eq!(planned, written, "{name}");
            let scales_key = format!("{name}/scales");
            writer
                .add(&scales_key, DataType::DtFloat, &[3], &scale_bytes)
                .unwrap();
            plan.add(&scales_key, DataType::DtFloat, &[3], &scale_bytes)
                .unwrap();
        }
        let records = recoded_records(&reader, "emb", &mut Truncate { salt: 0 }).unwrap();
        assert_eq!(records.len(), 2, "one record per slice");
        assert_eq!(
            plan.copy(&reader, "vocab").unwrap(),
            writer.copy_from(&reader, "vocab").unwrap()
        );
        writer.finish().unwrap();
        let index = std::fs::read(index_path(&out)).unwrap();
        assert_eq!(plan.index().unwrap(), index);
        let data = std::fs::metadata(crate::format::bundle::data_path(&out, 0, 1)).unwrap();
        assert_eq!(plan.data_bytes(), data.len());
        // 6 + 16 bfloat16 elements, two sets of 3 scales, 9 bytes of strings.
        assert_eq!(data.len(), (6 + 16) * 2 + 2 * 12 + 9);
        let written = BundleReader::open(&out).unwrap();
        assert_eq!(
            written.entry(b"emb").unwrap().dtype,
            DataType::DtBfloat16 as i32
        );
    }

    #[test]
    fn a_record_without_its_recoded_entry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let reader = source(dir.path());
        let mut plan = CopyPlan::new(Path::new("variables/variables"));
        let mut records = recoded_records(&reader, "emb", &mut Truncate { salt: 0 }).unwrap();
        records.pop_last();
        let err = plan
            .recode(&reader, "emb", DataType::DtBfloat16, &records)
            .unwrap_err();
        assert!(err.to_string().contains("emb"), "{err}");
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
