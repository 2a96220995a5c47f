//! Writes a single-shard TensorBundle: tensor records appended to the data
//! file in the order given, then the `.index` with every key sorted, as
//! TensorFlow's BundleWriter does. Both files are written under temporary
//! names and renamed at [`BundleWriter::finish`], so a failure leaves no
//! half-written bundle behind.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use prost::Message;

use super::reader::{BundleReader, extend_length, string_record_crc};
use super::slices::{self, Extent1};
use super::{BundleError, crc, data_path, index_path, table};
use crate::format::dtypes::shape_proto;
use crate::format::proto::{BundleEntryProto, BundleHeaderProto, DataType, VersionDef};

/// The most a copy reads and writes at once, and so the finest step of its
/// progress.
pub const COPY_CHUNK_BYTES: u64 = 1 << 20;

/// Converted chunks that may wait to be written while the next is
/// converted: with the one being converted and the one being written, a
/// recode holds at most four chunks of output.
const CHUNKS_IN_FLIGHT: usize = 2;

/// Turns a tensor's little-endian elements into another dtype's, a chunk
/// at a time, for [`BundleWriter::recode_from`].
pub trait Recode {
    /// The dtype written.
    fn dtype(&self) -> DataType;
    /// A new record begins: the tensor's own key, or one slice's key.
    fn start(&mut self, record_key: &[u8]);
    /// Appends the recoded form of `input` (whole elements) to `out`.
    fn chunk(&mut self, input: &[u8], out: &mut Vec<u8>);
}

/// One data file being written.
struct Shard {
    tmp: PathBuf,
    file: BufWriter<File>,
    offset: u64,
}

/// A bundle being written.
pub struct BundleWriter {
    prefix: PathBuf,
    shards: Vec<Shard>,
    current: usize,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
    finished: bool,
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tempstate");
    PathBuf::from(name)
}

impl BundleWriter {
    /// Starts a bundle at `prefix` with one data shard.
    pub fn create(prefix: impl AsRef<Path>) -> Result<BundleWriter, BundleError> {
        BundleWriter::create_sharded(prefix, 1)
    }

    /// Starts a bundle with `num_shards` data files; tensors go to shard 0
    /// until [`BundleWriter::set_shard`] picks another.
    pub fn create_sharded(
        prefix: impl AsRef<Path>,
        num_shards: usize,
    ) -> Result<BundleWriter, BundleError> {
        let prefix = prefix.as_ref().to_path_buf();
        let mut writer = BundleWriter {
            prefix,
            shards: Vec::new(),
            current: 0,
            entries: BTreeMap::new(),
            finished: false,
        };
        for shard in 0..num_shards.max(1) {
            let tmp = tmp_path(&data_path(&writer.prefix, shard, num_shards.max(1)));
            let file = File::create(&tmp).map_err(|source| BundleError::WriteIo {
                path: tmp.clone(),
                source,
            })?;
            writer.shards.push(Shard {
                tmp,
                file: BufWriter::new(file),
                offset: 0,
            });
        }
        Ok(writer)
    }

    /// Sends the following tensors to data shard `shard`.
    pub fn set_shard(&mut self, shard: usize) -> Result<(), BundleError> {
        if shard >= self.shards.len() {
            return Err(BundleError::Write {
                path: self.prefix.clone(),
                reason: format!("shard {shard} of a {}-shard bundle", self.shards.len()),
            });
        }
        self.current = shard;
        Ok(())
    }

    fn write_data(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        let shard = &mut self.shards[self.current];
        shard
            .file
            .write_all(bytes)
            .map_err(|source| BundleError::WriteIo {
                path: shard.tmp.clone(),
                source,
            })?;
        shard.offset += bytes.len() as u64;
        Ok(())
    }

    fn insert(&mut self, key: Vec<u8>, entry: BundleEntryProto) -> Result<(), BundleError> {
        if key.is_empty() || self.entries.contains_key(&key) {
            return Err(BundleError::Write {
                path: self.prefix.clone(),
                reason: format!(
                    "key {:?} is empty or added twice",
                    String::from_utf8_lossy(&key)
                ),
            });
        }
        self.entries.insert(key, entry);
        Ok(())
    }

    /// Gives the tensor written as `from` the key `to` (its bytes stay
    /// where they are): a tensor copied from a checkpoint whose keys have a
    /// prefix the output's lack. A partitioned tensor is refused.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), BundleError> {
        let entry = self.entries.remove(from.as_bytes());
        let Some(entry) = entry.filter(|e| e.slices.is_empty()) else {
            return Err(BundleError::Write {
                path: self.prefix.clone(),
                reason: format!("key {from:?} is not a whole tensor written so far"),
            });
        };
        self.insert(to.as_bytes().to_vec(), entry)
    }

    fn append(
        &mut self,
        key: Vec<u8>,
        dtype: DataType,
        shape: &[i64],
        bytes: &[u8],
        masked_crc: u32,
    ) -> Result<(), BundleError> {
        let entry = BundleEntryProto {
            dtype: dtype as i32,
            shape: Some(shape_proto(shape)),
            shard_id: self.current as i32,
            offset: self.shards[self.current].offset as i64,
            size: bytes.len() as i64,
            crc32c: masked_crc,
            slices: Vec::new(),
        };
        self.insert(key, entry)?;
        self.write_data(bytes)
    }

    /// Adds a fixed-size tensor from its raw little-endian bytes.
    pub fn add(
        &mut self,
        name: &str,
        dtype: DataType,
        shape: &[i64],
        bytes: &[u8],
    ) -> Result<(), BundleError> {
        let masked = crc::mask(crc::crc32c(bytes));
        self.append(name.as_bytes().to_vec(), dtype, shape, bytes, masked)
    }

    /// Adds a string tensor.
    pub fn add_strings(
        &mut self,
        name: &str,
        shape: &[i64],
        strings: &[&[u8]],
    ) -> Result<(), BundleError> {
        let record = encode_strings(strings);
        let crc = string_record_crc(&record, strings.len() as u64).map_err(|reason| {
            BundleError::Write {
                path: self.prefix.clone(),
                reason,
            }
        })?;
        let masked = crc::mask(crc);
        self.append(
            name.as_bytes().to_vec(),
            DataType::DtString,
            shape,
            &record,
            masked,
        )
    }

    /// Adds one slice of a partitioned tensor, and the full tensor's entry
    /// (which lists the slices) when it is the first.
    pub fn add_slice(
        &mut self,
        full_name: &str,
        dtype: DataType,
        full_shape: &[i64],
        extents: &[Extent1],
        bytes: &[u8],
    ) -> Result<(), BundleError> {
        let piece_shape: Vec<i64> = extents
            .iter()
            .zip(full_shape)
            .map(|(e, &d)| e.length.unwrap_or(d))
            .collect();
        let masked = crc::mask(crc::crc32c(bytes));
        self.append(
            slices::slice_key(full_name, extents),
            dtype,
            &piece_shape,
            bytes,
            masked,
        )?;
        self.register_slice(full_name, dtype, full_shape, extents);
        Ok(())
    }

    fn register_slice(
        &mut self,
        full_name: &str,
        dtype: DataType,
        full_shape: &[i64],
        extents: &[Extent1],
    ) {
        let full = self
            .entries
            .entry(full_name.as_bytes().to_vec())
            .or_insert_with(|| BundleEntryProto {
                dtype: dtype as i32,
                shape: Some(shape_proto(full_shape)),
                ..BundleEntryProto::default()
            });
        full.slices.push(slices::slice_proto(extents));
    }

    /// Copies tensor `name` (with all its slices when partitioned) from
    /// another bundle by byte range: no decoding, the crc32c carried over
    /// and checked against the bytes that pass through. Returns the bytes
    /// copied.
    pub fn copy_from(&mut self, source: &BundleReader, name: &str) -> Result<u64, BundleError> {
        self.copy_from_reporting(source, name, None)
    }

    /// [`BundleWriter::copy_from`], telling `progress` the size of each
    /// chunk (at most [`COPY_CHUNK_BYTES`]) as it is written, so one huge
    /// tensor shows steady progress; the sizes add up to the bytes copied.
    pub fn copy_from_reporting(
        &mut self,
        source: &BundleReader,
        name: &str,
        mut progress: Option<&mut dyn FnMut(u64)>,
    ) -> Result<u64, BundleError> {
        let entry = source.entry(name.as_bytes())?.clone();
        if entry.slices.is_empty() {
            return self.copy_entry(source, name.as_bytes(), &entry, progress);
        }
        let mut copied = 0;
        for piece in &entry.slices {
            let key = slices::slice_key(name, &slices::extents(piece));
            let piece_entry = source.entry(&key)?.clone();
            // Reborrowed per piece (a plain `as_deref_mut` would hold it for the loop).
            let progress = progress.as_mut().map(|p| &mut **p as &mut dyn FnMut(u64));
            copied += self.copy_entry(source, &key, &piece_entry, progress)?;
        }
        let mut full = entry;
        full.shard_id = 0;
        full.offset = 0;
        full.size = 0;
        full.crc32c = 0;
        self.insert(name.as_bytes().to_vec(), full)?;
        Ok(copied)
    }

    /// Copies one record, indexed under `key` at the current shard's end.
    fn copy_entry(
        &mut self,
        source: &BundleReader,
        key: &[u8],
        entry: &BundleEntryProto,
        progress: Option<&mut dyn FnMut(u64)>,
    ) -> Result<u64, BundleError> {
        let mut new_entry = entry.clone();
        new_entry.shard_id = self.current as i32;
        new_entry.offset = self.shards[self.current].offset as i64;
        if entry.dtype == DataType::DtString as i32 {
            // String checksums cover decoded lengths: check them by reading the record whole.
            let bytes = source.read_raw(key)?;
            self.insert(key.to_vec(), new_entry)?;
            self.write_data(&bytes)?;
            if let Some(progress) = progress {
                progress(bytes.len() as u64);
            }
            return Ok(bytes.len() as u64);
        }
        self.insert(key.to_vec(), new_entry)?;
        self.copy_checked(source, key, progress)
    }

    /// Streams the record's bytes from its shard in chunks, checking their
    /// crc32c against the one stored.
    fn copy_checked(
        &mut self,
        source: &BundleReader,
        key: &[u8],
        mut progress: Option<&mut dyn FnMut(u64)>,
    ) -> Result<u64, BundleError> {
        let (mut file, range) = source.open_shard(key)?;
        let read_error = |source| BundleError::Io {
            path: range.shard.clone(),
            source,
        };
        file.seek(SeekFrom::Start(range.offset))
            .map_err(read_error)?;
        let mut remaining = range.size;
        let mut crc_value = 0u32;
        let mut buffer = vec![0u8; COPY_CHUNK_BYTES.min(range.size) as usize];
        while remaining > 0 {
            let n = remaining.min(buffer.len() as u64) as usize;
            file.read_exact(&mut buffer[..n]).map_err(read_error)?;
            crc_value = crc::extend(crc_value, &buffer[..n]);
            self.write_data(&buffer[..n])?;
            remaining -= n as u64;
            if let Some(progress) = progress.as_deref_mut() {
                progress(n as u64);
            }
        }
        if crc::unmask(range.masked_crc) != crc_value {
            return Err(BundleError::TensorChecksum {
                path: range.shard,
                key: String::from_utf8_lossy(key).into_owned(),
            });
        }
        Ok(range.size)
    }

    /// Copies tensor `name` (every slice of a partitioned one) from another
    /// bundle, turning its elements into `recode`'s dtype chunk by chunk
    /// (at most [`COPY_CHUNK_BYTES`] read at once): the source crc32c is
    /// checked on the bytes read, a new one computed on the bytes written.
    /// Returns the bytes written.
    pub fn recode_from(
        &mut self,
        source: &BundleReader,
        name: &str,
        recode: &mut (dyn Recode + Send),
    ) -> Result<u64, BundleError> {
        let entry = source.entry(name.as_bytes())?.clone();
        let mut written = 0;
        for key in source.record_keys(name)? {
            let piece = source.entry(&key)?.clone();
            recode.start(&key);
            written += self.recode_record(source, &key, &piece, recode)?;
        }
        if !entry.slices.is_empty() {
            let full = BundleEntryProto {
                dtype: recode.dtype() as i32,
                shape: entry.shape,
                slices: entry.slices,
                ..BundleEntryProto::default()
            };
            self.insert(name.as_bytes().to_vec(), full)?;
        }
        Ok(written)
    }

    /// One record recoded, indexed under `key` at the current shard's end.
    fn recode_record(
        &mut self,
        source: &BundleReader,
        key: &[u8],
        entry: &BundleEntryProto,
        recode: &mut (dyn Recode + Send),
    ) -> Result<u64, BundleError> {
        let offset = self.shards[self.current].offset;
        let crc_value = if entry.size as u64 > COPY_CHUNK_BYTES {
            self.recode_overlapped(source, key, recode)?
        } else {
            self.recode_inline(source, key, recode)?
        };
        let size = self.shards[self.current].offset - offset;
        let new_entry = BundleEntryProto {
            dtype: recode.dtype() as i32,
            shard_id: self.current as i32,
            offset: offset as i64,
            size: size as i64,
            crc32c: crc::mask(crc_value),
            ..entry.clone()
        };
        self.insert(key.to_vec(), new_entry)?;
        Ok(size)
    }

    /// A record of one chunk, converted and written on this thread (a
    /// second thread would cost more than it saves); returns the crc32c of
    /// the bytes written.
    fn recode_inline(
        &mut self,
        source: &BundleReader,
        key: &[u8],
        recode: &mut (dyn Recode + Send),
    ) -> Result<u32, BundleError> {
        let (mut crc_value, mut out) = (0u32, Vec::new());
        source.read_chunks(key, COPY_CHUNK_BYTES, &mut |chunk| {
            out.clear();
            recode.chunk(chunk, &mut out);
            crc_value = crc::extend(crc_value, &out);
            self.write_data(&out)
        })?;
        Ok(crc_value)
    }

    /// A record of many chunks: a second thread reads and converts chunk
    /// k + 1 while this one checksums and writes chunk k, so conversion and
    /// writing use both cores. At most [`CHUNKS_IN_FLIGHT`] converted chunks
    /// wait, which bounds the memory; their buffers go back to be reused.
    /// Returns the crc32c of the bytes written.
    fn recode_overlapped(
        &mut self,
        source: &BundleReader,
        key: &[u8],
        recode: &mut (dyn Recode + Send),
    ) -> Result<u32, BundleError> {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 2);
        let prefix = self.prefix.clone();
        let stopped = move || recode_error(&prefix, key, "the write stopped before it ended");
        let panicked = recode_error(&self.prefix, key, "the conversion thread failed");
        std::thread::scope(|scope| {
            let converter = scope.spawn(move || {
                source.read_chunks(key, COPY_CHUNK_BYTES, &mut |chunk| {
                    let mut out = spare_rx.try_recv().unwrap_or_default();
                    out.clear();
                    recode.chunk(chunk, &mut out);
                    full_tx.send(out).map_err(|_| stopped())
                })
            });
            let written = self.write_converted(full_rx, &spare_tx);
            let read = converter.join().unwrap_or(Err(panicked));
            let crc_value = written?;
            read.map(|_| crc_value)
        })
    }

    /// Writes the converted chunks as they come, handing each buffer back;
    /// returns their crc32c.
    fn write_converted(
        &mut self,
        full: mpsc::Receiver<Vec<u8>>,
        spare: &mpsc::SyncSender<Vec<u8>>,
    ) -> Result<u32, BundleError> {
        let mut crc_value = 0u32;
        for out in full {
            crc_value = crc::extend(crc_value, &out);
            self.write_data(&out)?;
            // A full return queue only means the buffer is not reused.
            let _ = spare.try_send(out);
        }
        Ok(crc_value)
    }

    /// Writes the index and moves both files into place.
    pub fn finish(mut self) -> Result<(), BundleError> {
        for shard in &mut self.shards {
            shard.file.flush().map_err(|source| BundleError::WriteIo {
                path: shard.tmp.clone(),
                source,
            })?;
            shard
                .file
                .get_ref()
                .sync_all()
                .map_err(|source| BundleError::WriteIo {
                    path: shard.tmp.clone(),
                    source,
                })?;
        }
        let index = index_path(&self.prefix);
        let bytes = encode_index(&self.entries, self.shards.len(), &index)?;
        let index_tmp = tmp_path(&index);
        fs::write(&index_tmp, bytes).map_err(|source| BundleError::WriteIo {
            path: index_tmp.clone(),
            source,
        })?;
        let count = self.shards.len();
        for (i, shard) in self.shards.iter().enumerate() {
            let data = data_path(&self.prefix, i, count);
            fs::rename(&shard.tmp, &data).map_err(|source| BundleError::WriteIo {
                path: data.clone(),
                source,
            })?;
        }
        fs::rename(&index_tmp, &index).map_err(|source| BundleError::WriteIo {
            path: index.clone(),
            source,
        })?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        if !self.finished {
            for shard in &self.shards {
                let _ = fs::remove_file(&shard.tmp);
            }
        }
    }
}

/// A failure of the recode of `key` into the bundle at `prefix`.
fn recode_error(prefix: &Path, key: &[u8], reason: &str) -> BundleError {
    BundleError::Write {
        path: prefix.to_path_buf(),
        reason: format!("key {:?}: {reason}", String::from_utf8_lossy(key)),
    }
}

/// The `.index` table of a bundle with `num_shards` data files: the header
/// under the empty key, then every entry in key order.
pub(super) fn encode_index(
    entries: &BTreeMap<Vec<u8>, BundleEntryProto>,
    num_shards: usize,
    index: &Path,
) -> Result<Vec<u8>, BundleError> {
    let header = BundleHeaderProto {
        num_shards: num_shards as i32,
        endianness: 0,
        version: Some(VersionDef {
            producer: 1,
            min_consumer: 0,
            bad_consumers: vec![],
        }),
    };
    let mut pairs = vec![(Vec::new(), header.encode_to_vec())];
    pairs.extend(entries.iter().map(|(k, v)| (k.clone(), v.encode_to_vec())));
    table::build_table(&pairs, index)
}

/// A DT_STRING record: varint64 lengths, masked crc of the lengths, bytes.
pub fn encode_strings(strings: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut length_crc = 0u32;
    for s in strings {
        table::write_varint(&mut out, s.len() as u64);
        length_crc = extend_length(length_crc, s.len() as u64);
    }
    out.extend_from_slice(&crc::mask(length_crc).to_le_bytes());
    for s in strings {
        out.extend_from_slice(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::reader::TensorData;
    use super::*;

    #[test]
    fn writes_tensorflow_s_own_example_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("variables");
        let mut writer = BundleWriter::create(&prefix).unwrap();
        writer
            .add("b", DataType::DtFloat, &[1], &[0, 0, 0, 0])
            .unwrap();
        writer
            .add("w", DataType::DtFloat, &[1], &[0xdc, 0x9c, 0x5b, 0xbf])
            .unwrap();
        writer.finish().unwrap();
        let index = fs::read(index_path(&prefix)).unwrap();
        let expected: Vec<u8> = [
            "000006080 11a020801",
            "00010f62080112041202080128043 5a67b113a",
            "0001117708011204120208012004280435 7505531b",
            "0000000001000000",
            "00c007b33c",
            "000000000100000000c0f2a1b0",
            "000102780039000000000100000 0",
            "0053ee0f5d",
            "3e084b0e",
        ]
        .concat()
        .replace(' ', "")
        .as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .chain(std::iter::repeat_n(0u8, 36))
        .chain([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb])
        .collect();
        assert_eq!(index.len(), 142);
        assert_eq!(index, expected);
        assert_eq!(
            fs::read(data_path(&prefix, 0, 1)).unwrap(),
            [0, 0, 0, 0, 0xdc, 0x9c, 0x5b, 0xbf]
        );
    }

    #[test]
    fn strings_slices_and_copies_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("a");
        let mut writer = BundleWriter::create(&prefix).unwrap();
        let long = vec![7u8; 300];
        writer
            .add_strings("s", &[3], &[b"", b"\xff\x00bytes", &long])
            .unwrap();
        let rows = |start: i64, len: i64| {
            [
                Extent1 {
                    start,
                    length: Some(len),
                },
                Extent1 {
                    start: 0,
                    length: None,
                },
            ]
        };
        writer
            .add_slice(
                "emb",
                DataType::DtInt32,
                &[3, 2],
                &rows(0, 2),
                &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0],
            )
            .unwrap();
        writer
            .add_slice(
                "emb",
                DataType::DtInt32,
                &[3, 2],
                &rows(2, 1),
                &[5, 0, 0, 0, 6, 0, 0, 0],
            )
            .unwrap();
        writer.finish().unwrap();

        let reader = BundleReader::open(&prefix).unwrap();
        assert_eq!(reader.names(), ["emb", "s"]);
        assert_eq!(
            reader.read_tensor("s").unwrap(),
            TensorData::Strings(vec![vec![], b"\xff\x00bytes".to_vec(), long.clone()])
        );
        let TensorData::Raw(emb) = reader.read_tensor("emb").unwrap() else {
            panic!()
        };
        let values: Vec<i32> = emb
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(values, [1, 2, 3, 4, 5, 6]);

        let copy = dir.path().join("b");
        let mut writer = BundleWriter::create(&copy).unwrap();
        writer.copy_from(&reader, "emb").unwrap();
        writer.copy_from(&reader, "s").unwrap();
        writer.finish().unwrap();
        let copied = BundleReader::open(&copy).unwrap();
        assert_eq!(
            copied.read_tensor("s").unwrap(),
            reader.read_tensor("s").unwrap()
        );
        assert_eq!(
            copied.read_tensor("emb").unwrap(),
            reader.read_tensor("emb").unwrap()
        );
    }

    #[test]
    fn corruption_is_reported_with_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("c");
        let mut writer = BundleWriter::create(&prefix).unwrap();
        writer
            .add(
                "weights",
                DataType::DtFloat,
                &[2],
                &[0, 0, 128, 63, 0, 0, 0, 64],
            )
            .unwrap();
        writer.finish().unwrap();
        let data = data_path(&prefix, 0, 1);
        let mut bytes = fs::read(&data).unwrap();
        bytes[0] ^= 1;
        fs::write(&data, &bytes).unwrap();
        let reader = BundleReader::open(&prefix).unwrap();
        let err = reader.read_tensor("weights").unwrap_err().to_string();
        assert!(err.contains("weights") && err.contains("checksum"), "{err}");
        fs::write(&data, &bytes[..4]).unwrap();
        let err = reader.read_tensor("weights").unwrap_err().to_string();
        assert!(err.contains("past the end"), "{err}");
        fs::remove_file(&data).unwrap();
        let err = reader.read_tensor("weights").unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn absurd_shapes_are_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("d");
        let entry = BundleEntryProto {
            dtype: DataType::DtFloat as i32,
            shape: Some(shape_proto(&[1 << 40, 1 << 30])),
            size: 4,
            ..BundleEntryProto::default()
        };
        let header = BundleHeaderProto {
            num_shards: 1,
            ..Default::default()
        };
        let pairs = vec![
            (Vec::new(), header.encode_to_vec()),
            (b"huge".to_vec(), entry.encode_to_vec()),
        ];
        fs::write(
            index_path(&prefix),
            table::build_table(&pairs, &prefix).unwrap(),
        )
        .unwrap();
        let err = BundleReader::open(&prefix).unwrap_err().to_string();
        assert!(err.contains("huge"), "{err}");
    }

    #[test]
    fn a_reported_copy_advances_per_chunk_and_writes_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let big = COPY_CHUNK_BYTES as usize * 2 + 12;
        let bytes: Vec<u8> = (0..big).map(|i| (i % 251) as u8).collect();
        let mut writer = BundleWriter::create(&source).unwrap();
        writer
            .add("big", DataType::DtFloat, &[big as i64 / 4], &bytes)
            .unwrap();
        writer.add_strings("s", &[2], &[b"ab", b"cde"]).unwrap();
        let half = [Extent1 {
            start: 0,
            length: Some(1),
        }];
        let rest = [Extent1 {
            start: 1,
            length: Some(1),
        }];
        writer
            .add_slice("p", DataType::DtInt32, &[2], &half, &[1, 0, 0, 0])
            .unwrap();
        writer
            .add_slice("p", DataType::DtInt32, &[2], &rest, &[2, 0, 0, 0])
            .unwrap();
        writer.finish().unwrap();
        let reader = BundleReader::open(&source).unwrap();

        let (quiet, reported) = (dir.path().join("quiet"), dir.path().join("reported"));
        let mut plain = BundleWriter::create(&quiet).unwrap();
        let mut watched = BundleWriter::create(&reported).unwrap();
        for name in ["big", "p", "s"] {
            let mut advances = Vec::new();
            let copied = watched
                .copy_from_reporting(&reader, name, Some(&mut |n| advances.push(n)))
                .unwrap();
            assert_eq!(plain.copy_from(&reader, name).unwrap(), copied);
            assert_eq!(advances.iter().sum::<u64>(), copied, "{name}");
            let expected: &[u64] = match name {
                "big" => &[COPY_CHUNK_BYTES, COPY_CHUNK_BYTES, 12],
                "p" => &[4, 4],
                _ => &[copied],
            };
            assert_eq!(advances, expected, "{name}");
        }
        plain.finish().unwrap();
        watched.finish().unwrap();
        for path in [index_path, |p: &Path| data_path(p, 0, 1)] {
            assert_eq!(
                fs::read(path(&quiet)).unwrap(),
                fs::read(path(&reported)).unwrap()
            );
        }
    }
}
