//! Reads a TensorBundle: the whole `.index` at open (it is small), tensor
//! bytes from the data shards only when asked, each checked against its
//! crc32c and against the shard's length before anything is allocated.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use prost::Message;

use super::slices::{self, Extent1};
use super::{BundleError, crc, data_path, element_size, index_path, table};
use crate::format::limits::MAX_ELEMENTS;
use crate::format::proto::{BundleEntryProto, BundleHeaderProto, DataType};

/// A summary of one stored tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub dtype: DataType,
    pub shape: Vec<i64>,
    /// Stored bytes (summed over slices for a partitioned tensor).
    pub bytes: u64,
    /// Number of slices for a partitioned tensor, 0 otherwise.
    pub slices: usize,
}

/// Where a tensor's bytes are, so they can be copied without decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct ByteRange {
    pub shard: PathBuf,
    pub offset: u64,
    pub size: u64,
    /// The masked crc32c as stored in the entry.
    pub masked_crc: u32,
}

/// A decoded tensor: raw little-endian elements, or strings.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    Raw(Vec<u8>),
    Strings(Vec<Vec<u8>>),
}

/// An open bundle.
#[derive(Debug, Clone)]
pub struct BundleReader {
    prefix: PathBuf,
    index: PathBuf,
    header: BundleHeaderProto,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
}

/// Element count of a shape, `None` on a negative dim or overflow.
pub fn num_elements(shape: &[i64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, &d| {
        u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
    })
}

impl BundleReader {
    /// Opens `PREFIX.index` and checks its header.
    pub fn open(prefix: impl AsRef<Path>) -> Result<BundleReader, BundleError> {
        let prefix = prefix.as_ref().to_path_buf();
        let index = index_path(&prefix);
        let bytes = std::fs::read(&index).map_err(|source| BundleError::Io {
            path: index.clone(),
            source,
        })?;
        let mut entries = BTreeMap::new();
        let mut header = None;
        for (key, value) in table::read_table(&index, &bytes)? {
            let bad = |reason: String| BundleError::BadEntry {
                path: index.clone(),
                key: String::from_utf8_lossy(&key).into_owned(),
                reason,
            };
            if key.is_empty() {
                header = Some(
                    BundleHeaderProto::decode(value.as_slice()).map_err(|e| bad(e.to_string()))?,
                );
            } else {
                let entry =
                    BundleEntryProto::decode(value.as_slice()).map_err(|e| bad(e.to_string()))?;
                entries.insert(key, entry);
            }
        }
        let header = header.ok_or_else(|| BundleError::BadTable {
            path: index.clone(),
            reason: "no header entry (empty key)".into(),
        })?;
        let version = header.version.clone().unwrap_or_default();
        if version.min_consumer > 1 || version.bad_consumers.contains(&1) {
            return Err(BundleError::Version {
                path: index,
                producer: version.producer,
                min_consumer: version.min_consumer,
            });
        }
        if header.num_shards < 1 && !entries.is_empty() {
            return Err(BundleError::BadTable {
                path: index,
                reason: format!("num_shards is {}", header.num_shards),
            });
        }
        let reader = BundleReader {
            prefix,
            index,
            header,
            entries,
        };
        let mut shard_lengths = BTreeMap::new();
        for (key, entry) in &reader.entries {
            reader.check_entry(key, entry)?;
            reader.check_within_shard(key, entry, &mut shard_lengths)?;
        }
        Ok(reader)
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    pub fn index_path(&self) -> &Path {
        &self.index
    }

    pub fn num_shards(&self) -> usize {
        usize::try_from(self.header.num_shards).unwrap_or(0)
    }

    pub fn is_big_endian(&self) -> bool {
        self.header.endianness == crate::format::proto::bundle_header_proto::Endianness::Big as i32
    }

    fn error(&self, key: &[u8], reason: impl Into<String>) -> BundleError {
        BundleError::BadEntry {
            path: self.index.clone(),
            key: String::from_utf8_lossy(key).into_owned(),
            reason: reason.into(),
        }
    }

    fn check_entry(&self, key: &[u8], entry: &BundleEntryProto) -> Result<(), BundleError> {
        let shape = self.shape_of(key, entry)?;
        let count = num_elements(&shape)
            .ok_or_else(|| self.error(key, "the shape's element count overflows"))?;
        if !entry.slices.is_empty() {
            return Ok(());
        }
        if entry.shard_id < 0 || entry.shard_id >= self.header.num_shards {
            return Err(self.error(
                key,
                format!("shard {} of {}", entry.shard_id, self.header.num_shards),
            ));
        }
        if entry.offset < 0 || entry.size < 0 {
            return Err(self.error(key, "negative offset or size"));
        }
        let dtype = DataType::try_from(entry.dtype)
            .map_err(|_| self.error(key, format!("unknown dtype {}", entry.dtype)))?;
        match element_size(dtype) {
            Some(size) => {
                let expected = count
                    .checked_mul(size as u64)
                    .ok_or_else(|| self.error(key, "size overflows"))?;
                if expected != entry.size as u64 {
                    return Err(self.error(
                        key,
                        format!("{} bytes stored for {expected} expected", entry.size),
                    ));
                }
            }
            None if dtype == DataType::DtString
                && (entry.size as u64) < count.saturating_add(4) =>
            {
                return Err(self.error(key, "too few bytes for its strings"));
            }
            None => {}
        }
        Ok(())
    }

    /// Checks that an unsliced entry's bytes lie inside its data shard, so
    /// no size taken from the index is trusted beyond the bytes on disk. A
    /// shard that is not there is reported when its bytes are first read.
    fn check_within_shard(
        &self,
        key: &[u8],
        entry: &BundleEntryProto,
        lengths: &mut BTreeMap<i32, Option<u64>>,
    ) -> Result<(), BundleError> {
        if !entry.slices.is_empty() {
            return Ok(());
        }
        let range = self.byte_range(key)?;
        let len = *lengths
            .entry(entry.shard_id)
            .or_insert_with(|| std::fs::metadata(&range.shard).ok().map(|m| m.len()));
        match len {
            Some(len) => check_range_in_shard(key, range, len).map(|_| ()),
            None => Ok(()),
        }
    }

    fn shape_of(&self, key: &[u8], entry: &BundleEntryProto) -> Result<Vec<i64>, BundleError> {
        let shape = entry.shape.clone().unwrap_or_default();
        if shape.unknown_rank || shape.dim.iter().any(|d| d.size < 0) {
            return Err(self.error(key, "the shape is not fully defined"));
        }
        Ok(shape.dim.iter().map(|d| d.size).collect())
    }

    /// Names of the stored tensors (slice pieces are not listed on their own).
    pub fn names(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter(|k| k.first() != Some(&0))
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    /// Summaries of every stored tensor, in key order.
    pub fn entries(&self) -> Vec<Entry> {
        self.names()
            .into_iter()
            .filter_map(|name| {
                let entry = self.entries.get(name.as_bytes())?;
                let shape: Vec<i64> = entry
                    .shape
                    .clone()
                    .unwrap_or_default()
                    .dim
                    .iter()
                    .map(|d| d.size)
                    .collect();
                let bytes = if entry.slices.is_empty() {
                    entry.size as u64
                } else {
                    entry
                        .slices
                        .iter()
                        .filter_map(|s| {
                            self.entries
                                .get(&slices::slice_key(&name, &slices::extents(s)))
                        })
                        .map(|e| e.size as u64)
                        .sum()
                };
                Some(Entry {
                    dtype: DataType::try_from(entry.dtype).unwrap_or(DataType::DtInvalid),
                    shape,
                    bytes,
                    slices: entry.slices.len(),
                    name,
                })
            })
            .collect()
    }

    /// Makes tensor `name` read `source`'s stored bytes (its entry and, for
    /// a partitioned tensor, its slices' entries): a copy of `name` then
    /// copies `source`'s byte ranges under `name`. `name` need not exist.
    pub fn alias(&mut self, name: &str, source: &str) -> Result<(), BundleError> {
        let entry = self.entry(source.as_bytes())?.clone();
        for piece in &entry.slices {
            let extents = slices::extents(piece);
            let record = self.entry(&slices::slice_key(source, &extents))?.clone();
            self.entries
                .insert(slices::slice_key(name, &extents), record);
        }
        self.entries.insert(name.as_bytes().to_vec(), entry);
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name.as_bytes())
    }

    /// The entry stored under `key` (a name, or an encoded slice key).
    pub fn entry(&self, key: &[u8]) -> Result<&BundleEntryProto, BundleError> {
        self.entries.get(key).ok_or_else(|| BundleError::NoSuchKey {
            path: self.index.clone(),
            key: String::from_utf8_lossy(key).into_owned(),
        })
    }

    /// The shape and dtype of tensor `name`.
    pub fn dtype_and_shape(&self, name: &str) -> Result<(DataType, Vec<i64>), BundleError> {
        let entry = self.entry(name.as_bytes())?;
        let dtype = DataType::try_from(entry.dtype).unwrap_or(DataType::DtInvalid);
        Ok((dtype, self.shape_of(name.as_bytes(), entry)?))
    }

    /// Where the bytes of an unsliced entry are.
    pub fn byte_range(&self, key: &[u8]) -> Result<ByteRange, BundleError> {
        let entry = self.entry(key)?;
        if !entry.slices.is_empty() {
            return Err(self.error(
                key,
                "a partitioned tensor has no bytes of its own; copy its slices",
            ));
        }
        Ok(ByteRange {
            shard: data_path(&self.prefix, entry.shard_id as usize, self.num_shards()),
            offset: entry.offset as u64,
            size: entry.size as u64,
            masked_crc: entry.crc32c,
        })
    }

    /// Opens the shard holding an unsliced entry, after checking that the
    /// entry lies inside it.
    pub fn open_shard(&self, key: &[u8]) -> Result<(File, ByteRange), BundleError> {
        let range = self.byte_range(key)?;
        let file = File::open(&range.shard).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BundleError::MissingShard {
                path: self.index.clone(),
                shard: self.entry(key).map(|e| e.shard_id as usize).unwrap_or(0),
                data: range.shard.clone(),
            },
            _ => BundleError::Io {
                path: range.shard.clone(),
                source,
            },
        })?;
        let len = file
            .metadata()
            .map_err(|source| BundleError::Io {
                path: range.shard.clone(),
                source,
            })?
            .len();
        let range = check_range_in_shard(key, range, len)?;
        Ok((file, range))
    }

    /// The stored bytes of an unsliced entry, checked against its crc32c.
    pub fn read_raw(&self, key: &[u8]) -> Result<Vec<u8>, BundleError> {
        let (file, range) = self.open_shard(key)?;
        let mut bytes = vec![0u8; range.size as usize];
        file.read_exact_at(&mut bytes, range.offset)
            .map_err(|source| BundleError::Io {
                path: range.shard.clone(),
                source,
            })?;
        let entry = self.entry(key)?;
        let actual = if entry.dtype == DataType::DtString as i32 {
            let count = num_elements(&self.shape_of(key, entry)?).unwrap_or(0);
            string_record_crc(&bytes, count).map_err(|reason| self.error(key, reason))?
        } else {
            crc::crc32c(&bytes)
        };
        if crc::unmask(range.masked_crc) != actual {
            return Err(BundleError::TensorChecksum {
                path: range.shard,
                key: String::from_utf8_lossy(key).into_owned(),
            });
        }
        Ok(bytes)
    }

    /// Streams an unsliced fixed-size entry's bytes to `take` in chunks of
    /// at most `chunk` bytes (a multiple of the element size keeps elements
    /// whole), then checks the crc32c of all of them: memory stays one chunk
    /// whatever the tensor's size.
    pub fn read_chunks(
        &self,
        key: &[u8],
        chunk: u64,
        take: &mut dyn FnMut(&[u8]) -> Result<(), BundleError>,
    ) -> Result<u64, BundleError> {
        let (file, range) = self.open_shard(key)?;
        let mut buffer = vec![0u8; chunk.clamp(1, range.size.max(1)) as usize];
        let (mut done, mut crc_value) = (0u64, 0u32);
        while done < range.size {
            let n = (range.size - done).min(buffer.len() as u64) as usize;
            let part = &mut buffer[..n];
            file.read_exact_at(part, range.offset + done)
                .map_err(|source| BundleError::Io {
                    path: range.shard.clone(),
                    source,
                })?;
            crc_value = crc::extend(crc_value, part);
            take(part)?;
            done += n as u64;
        }
        if crc::unmask(range.masked_crc) != crc_value {
            return Err(BundleError::TensorChecksum {
                path: range.shard,
                key: String::from_utf8_lossy(key).into_owned(),
            });
        }
        Ok(range.size)
    }

    /// The record keys holding a tensor's bytes: its slices' keys when it
    /// is partitioned, else its own.
    pub fn record_keys(&self, name: &str) -> Result<Vec<Vec<u8>>, BundleError> {
        let entry = self.entry(name.as_bytes())?;
        if entry.slices.is_empty() {
            return Ok(vec![name.as_bytes().to_vec()]);
        }
        Ok(entry
            .slices
            .iter()
            .map(|piece| slices::slice_key(name, &slices::extents(piece)))
            .collect())
    }

    /// Tensor `name` decoded: fixed-size elements as little-endian bytes,
    /// strings as a list; partitioned tensors assembled from their slices.
    pub fn read_tensor(&self, name: &str) -> Result<TensorData, BundleError> {
        let key = name.as_bytes();
        let entry = self.entry(key)?;
        let dtype = DataType::try_from(entry.dtype).unwrap_or(DataType::DtInvalid);
        let shape = self.shape_of(key, entry)?;
        if !entry.slices.is_empty() {
            return self.assemble(name, dtype, &shape, &entry.slices);
        }
        let raw = self.read_raw(key)?;
        match (dtype, element_size(dtype)) {
            (DataType::DtString, _) => {
                let count = num_elements(&shape).unwrap_or(0);
                decode_strings(&raw, count)
                    .map(TensorData::Strings)
                    .map_err(|reason| self.error(key, reason))
            }
            (_, Some(size)) => {
                if dtype == DataType::DtBool && raw.iter().any(|b| *b > 1) {
                    return Err(self.error(key, "a bool byte is neither 0 nor 1"));
                }
                Ok(TensorData::Raw(if self.is_big_endian() {
                    swap_bytes(raw, size)
                } else {
                    raw
                }))
            }
            _ => Err(self.error(key, format!("cannot decode dtype {}", dtype.as_str_name()))),
        }
    }

    /// Tensor `name` as typed values.
    pub fn read_typed(&self, name: &str) -> Result<crate::format::tensor::Tensor, BundleError> {
        let (dtype, shape) = self.dtype_and_shape(name)?;
        let typed = match self.read_tensor(name)? {
            TensorData::Raw(raw) => {
                crate::format::tensor::Tensor::from_le_bytes(dtype, &shape, &raw)
            }
            TensorData::Strings(strings) => Ok(crate::format::tensor::Tensor {
                dtype,
                shape,
                values: crate::format::tensor::Values::Strings(
                    strings.into_iter().map(bytes::Bytes::from).collect(),
                ),
            }),
        };
        typed.map_err(|e| self.error(name.as_bytes(), e.to_string()))
    }

    /// Bytes of a partitioned tensor's slices as they lie in their shards,
    /// each checked against the shard's real length.
    fn stored_slice_bytes(
        &self,
        name: &str,
        pieces: &[crate::format::proto::TensorSliceProto],
    ) -> Result<u64, BundleError> {
        pieces.iter().try_fold(0u64, |stored, piece| {
            let (_, range) = self.open_shard(&slices::slice_key(name, &slices::extents(piece)))?;
            Ok(stored.saturating_add(range.size))
        })
    }

    fn assemble(
        &self,
        name: &str,
        dtype: DataType,
        shape: &[i64],
        pieces: &[crate::format::proto::TensorSliceProto],
    ) -> Result<TensorData, BundleError> {
        let key = name.as_bytes();
        let size = element_size(dtype)
            .ok_or_else(|| self.error(key, "only fixed-size partitioned tensors are assembled"))?;
        let count = num_elements(shape).ok_or_else(|| self.error(key, "shape overflows"))?;
        let total = count
            .checked_mul(size as u64)
            .ok_or_else(|| self.error(key, "size overflows"))?;
        if count > MAX_ELEMENTS {
            return Err(self.error(
                key,
                format!("{count} elements exceed the cap of {MAX_ELEMENTS}"),
            ));
        }
        let stored = self.stored_slice_bytes(name, pieces)?;
        if total > stored.saturating_mul(2).max(1 << 20) {
            return Err(self.error(key, "the full shape is far larger than its stored slices"));
        }
        let mut out = vec![0u8; total as usize];
        let strides: Vec<u64> = (0..shape.len())
            .map(|i| shape[i + 1..].iter().map(|&d| d as u64).product::<u64>())
            .collect();
        for piece in pieces {
            let extents = resolve_extents(&slices::extents(piece), shape)
                .ok_or_else(|| self.error(key, "slice outside the tensor"))?;
            let data = self.read_raw(&slices::slice_key(name, &slices::extents(piece)))?;
            let piece_shape: Vec<u64> = extents.iter().map(|e| e.1).collect();
            let piece_count: u64 = piece_shape.iter().product();
            if data.len() as u64 != piece_count * size as u64 {
                return Err(self.error(key, "a slice's byte count does not match its extent"));
            }
            for (i, chunk) in data.chunks_exact(size).enumerate() {
                let mut rest = i as u64;
                let mut offset = 0u64;
                for (dim, &(start, len)) in extents.iter().enumerate().rev() {
                    let coord = rest % len;
                    rest /= len;
                    offset += (start + coord) * strides[dim];
                }
                let at = (offset as usize) * size;
                out[at..at + size].copy_from_slice(chunk);
            }
        }
        Ok(TensorData::Raw(out))
    }
}

/// The range back when it lies inside a shard of `len` bytes.
fn check_range_in_shard(key: &[u8], range: ByteRange, len: u64) -> Result<ByteRange, BundleError> {
    if range
        .offset
        .checked_add(range.size)
        .is_none_or(|end| end > len)
    {
        return Err(BundleError::PastEndOfShard {
            path: range.shard,
            key: String::from_utf8_lossy(key).into_owned(),
            offset: range.offset,
            size: range.size,
            len,
        });
    }
    Ok(range)
}

/// (start, length) per dimension with whole dimensions filled in.
fn resolve_extents(extents: &[Extent1], shape: &[i64]) -> Option<Vec<(u64, u64)>> {
    if extents.len() != shape.len() {
        return None;
    }
    extents
        .iter()
        .zip(shape)
        .map(|(e, &dim)| {
            let (start, len) = match e.length {
                None => (0, dim),
                Some(len) => (e.start, len),
            };
            let end = start.checked_add(len)?;
            (start >= 0 && len >= 0 && end <= dim).then_some((start as u64, len as u64))
        })
        .collect()
}

fn swap_bytes(mut raw: Vec<u8>, size: usize) -> Vec<u8> {
    for chunk in raw.chunks_exact_mut(size) {
        chunk.reverse();
    }
    raw
}

/// Decodes a DT_STRING record: varint64 lengths, their masked crc, the bytes.
pub fn decode_strings(raw: &[u8], count: u64) -> Result<Vec<Vec<u8>>, String> {
    if count > raw.len() as u64 {
        return Err(format!("{count} strings cannot fit in {} bytes", raw.len()));
    }
    let mut lengths = Vec::with_capacity(count as usize);
    let mut at = 0;
    let mut crc = 0u32;
    for _ in 0..count {
        let (len, used) = table::read_varint(&raw[at..]).ok_or("bad string length")?;
        at += used;
        crc = extend_length(crc, len);
        lengths.push(len);
    }
    let stored = raw
        .get(at..at + 4)
        .ok_or("missing string length checksum")?;
    if crc::unmask(u32::from_le_bytes(stored.try_into().unwrap_or_default())) != crc {
        return Err("string length checksum mismatch".into());
    }
    at += 4;
    let mut out = Vec::with_capacity(lengths.len());
    for len in lengths {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| at.checked_add(l))
            .filter(|&e| e <= raw.len())
            .ok_or("string runs past its record")?;
        out.push(raw[at..end].to_vec());
        at = end;
    }
    if at != raw.len() {
        return Err("trailing bytes after the strings".into());
    }
    Ok(out)
}

/// The checksum TensorFlow stores for a DT_STRING record: one running CRC
/// over the lengths (as fixed-width integers, not their varints), the stored
/// length checksum, then the string bytes.
pub fn string_record_crc(raw: &[u8], count: u64) -> Result<u32, String> {
    if count > raw.len() as u64 {
        return Err(format!("{count} strings cannot fit in {} bytes", raw.len()));
    }
    let mut at = 0;
    let mut crc = 0u32;
    for _ in 0..count {
        let (len, used) = table::read_varint(&raw[at..]).ok_or("bad string length")?;
        at += used;
        crc = extend_length(crc, len);
    }
    let rest = raw.get(at..).ok_or("string record truncated")?;
    Ok(crc::extend(crc, rest))
}

/// The length CRC feeds each length as 4 LE bytes, or 8 when it needs them.
pub(crate) fn extend_length(crc: u32, len: u64) -> u32 {
    match u32::try_from(len) {
        Ok(small) => crc::extend(crc, &small.to_le_bytes()),
        Err(_) => crc::extend(crc, &len.to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shard bundle whose index holds `entries` (and a header) and
    /// whose data shard is `shard_len` zero bytes.
    fn bundle(entries: Vec<(&str, BundleEntryProto)>, shard_len: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("hostile");
        let header = BundleHeaderProto {
            num_shards: 1,
            ..Default::default()
        };
        let mut pairs = vec![(Vec::new(), header.encode_to_vec())];
        pairs.extend(
            entries
                .into_iter()
                .map(|(k, e)| (k.as_bytes().to_vec(), e.encode_to_vec())),
        );
        let index = table::build_table(&pairs, Path::new("hostile.index")).unwrap();
        std::fs::write(index_path(&prefix), index).unwrap();
        std::fs::write(data_path(&prefix, 0, 1), vec![0u8; shard_len]).unwrap();
        dir
    }

    fn float_entry(dims: &[i64], offset: i64, size: i64) -> BundleEntryProto {
        BundleEntryProto {
            dtype: DataType::DtFloat as i32,
            shape: Some(crate::format::dtypes::shape_proto(dims)),
            offset,
            size,
            ..Default::default()
        }
    }

    #[test]
    fn an_entry_larger_than_its_shard_is_refused_at_open() {
        let dir = bundle(vec![("w", float_entry(&[1 << 38], 0, 1 << 40))], 16);
        let err = BundleReader::open(dir.path().join("hostile")).unwrap_err();
        assert!(
            matches!(&err, BundleError::PastEndOfShard { key, size, len: 16, .. }
                if key == "w" && *size == 1 << 40),
            "{err}"
        );
        assert!(err.to_string().contains("hostile.data-00000-of-00001"));
    }

    #[test]
    fn an_entry_past_the_end_of_its_shard_is_refused_at_open() {
        let dir = bundle(vec![("w", float_entry(&[4], 4, 16))], 16);
        let err = BundleReader::open(dir.path().join("hostile")).unwrap_err();
        assert!(
            matches!(&err, BundleError::PastEndOfShard { offset: 4, .. }),
            "{err}"
        );
        let dir = bundle(vec![("w", float_entry(&[4], 0, 16))], 16);
        let reader = BundleReader::open(dir.path().join("hostile")).unwrap();
        assert_eq!(reader.dtype_and_shape("w").unwrap().1, [4]);
    }

    #[test]
    fn a_size_that_disagrees_with_the_shape_is_refused() {
        let dir = bundle(vec![("w", float_entry(&[4], 0, 15))], 16);
        let err = BundleReader::open(dir.path().join("hostile")).unwrap_err();
        assert!(
            err.to_string().contains("15 bytes stored for 16 expected"),
            "{err}"
        );
    }
}
