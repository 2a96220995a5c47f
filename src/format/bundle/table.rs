//! The sorted string table of `.index` files (LevelDB's SSTable layout, no
//! filter blocks): data blocks of prefix-compressed keys with restart points,
//! an empty metaindex block, an index block, and a 48-byte footer. Every block
//! carries a type byte and a masked CRC-32C, verified on every read.
//!
//! The writer follows TensorFlow's choices (restart interval 16, 256 KiB
//! blocks, shortest separators) so its output is byte-identical.

use std::path::{Path, PathBuf};

use super::{BundleError, crc};
use crate::format::limits::{
    MAX_SNAPPY_RATIO, MAX_TABLE_BLOCK_BYTES, MAX_TABLE_EXPANSION, MAX_TABLE_KEY_BYTES,
    MIN_TABLE_DECODED_BYTES,
};

const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
const FOOTER_LEN: usize = 48;
const TRAILER_LEN: usize = 5;
const BLOCK_SIZE: usize = 256 * 1024;
const RESTART_INTERVAL: usize = 16;

fn bad(path: &Path, reason: impl Into<String>) -> BundleError {
    BundleError::BadTable {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Key/value pairs in key order.
pub type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

pub use crate::format::varint::{read_varint, write_varint};

/// Offset and size of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockHandle {
    offset: u64,
    size: u64,
}

impl BlockHandle {
    fn decode(data: &[u8]) -> Option<(BlockHandle, usize)> {
        let (offset, a) = read_varint(data)?;
        let (size, b) = read_varint(&data[a..])?;
        Some((BlockHandle { offset, size }, a + b))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.offset);
        write_varint(out, self.size);
    }
}

/// Every key/value pair of a table, in order.
pub fn read_table(path: impl AsRef<Path>, file: &[u8]) -> Result<KeyValues, BundleError> {
    let path = path.as_ref();
    if file.len() < FOOTER_LEN {
        return Err(bad(
            path,
            format!("{} bytes is shorter than the 48-byte footer", file.len()),
        ));
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let magic = u64::from_le_bytes(footer[40..48].try_into().unwrap_or_default());
    if magic != MAGIC {
        return Err(bad(path, format!("wrong footer magic {magic:#018x}")));
    }
    let (_metaindex, used) =
        BlockHandle::decode(footer).ok_or_else(|| bad(path, "bad metaindex handle"))?;
    let (index, _) =
        BlockHandle::decode(&footer[used..]).ok_or_else(|| bad(path, "bad index handle"))?;
    let mut budget = DecodeBudget::for_file(file.len());
    let index_block = read_block(path, file, index)?;
    let mut entries = Vec::new();
    for (_, handle) in block_entries(path, &index_block, &mut budget)? {
        let (handle, _) =
            BlockHandle::decode(&handle).ok_or_else(|| bad(path, "bad block handle in index"))?;
        let block = read_block(path, file, handle)?;
        for (key, value) in block_entries(path, &block, &mut budget)? {
            if entries
                .last()
                .is_some_and(|(last, _): &(Vec<u8>, Vec<u8>)| *last >= key)
            {
                return Err(bad(path, "keys are not in increasing order"));
            }
            entries.push((key, value));
        }
    }
    Ok(entries)
}

/// A block's contents after checking its trailer (and decompressing Snappy).
fn read_block(path: &Path, file: &[u8], handle: BlockHandle) -> Result<Vec<u8>, BundleError> {
    let start = usize::try_from(handle.offset).map_err(|_| bad(path, "block offset too large"))?;
    let size = usize::try_from(handle.size).map_err(|_| bad(path, "block size too large"))?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(TRAILER_LEN))
        .filter(|&e| e <= file.len())
        .ok_or_else(|| {
            bad(
                path,
                format!("block at {start} of {size} bytes runs past the end of the file"),
            )
        })?;
    let contents = &file[start..start + size];
    let kind = file[start + size];
    let stored = u32::from_le_bytes(file[start + size + 1..end].try_into().unwrap_or_default());
    let actual = crc::extend(crc::crc32c(contents), &[kind]);
    if crc::unmask(stored) != actual {
        return Err(BundleError::BlockChecksum {
            path: path.to_path_buf(),
            offset: handle.offset,
        });
    }
    match kind {
        0 => Ok(contents.to_vec()),
        1 => decompress_snappy(path, start, contents),
        other => Err(bad(
            path,
            format!("unknown block compression {other} at {start}"),
        )),
    }
}

/// Decompresses a Snappy block after checking the length it claims against
/// what its compressed size can produce and against the block cap, so a
/// forged header cannot make the decompressor allocate gigabytes.
fn decompress_snappy(path: &Path, start: usize, compressed: &[u8]) -> Result<Vec<u8>, BundleError> {
    let claimed = snap::raw::decompress_len(compressed)
        .map_err(|e| bad(path, format!("Snappy block at {start}: {e}")))?;
    let producible = compressed.len().saturating_mul(MAX_SNAPPY_RATIO);
    if claimed > producible || claimed > MAX_TABLE_BLOCK_BYTES {
        return Err(bad(
            path,
            format!(
                "Snappy block at {start} claims {claimed} bytes from {} compressed \
                 (at most {} possible, cap {MAX_TABLE_BLOCK_BYTES})",
                compressed.len(),
                producible.min(MAX_TABLE_BLOCK_BYTES)
            ),
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(compressed)
        .map_err(|e| bad(path, format!("Snappy block at {start}: {e}")))
}

/// How many more decoded key and value bytes a table may produce: prefix
/// sharing lets a small file describe huge keys, so decoding is charged
/// against a multiple of the file size.
struct DecodeBudget {
    remaining: u64,
    limit: u64,
}

impl DecodeBudget {
    fn for_file(file_len: usize) -> DecodeBudget {
        let limit = (file_len as u64)
            .saturating_mul(MAX_TABLE_EXPANSION)
            .max(MIN_TABLE_DECODED_BYTES);
        DecodeBudget {
            remaining: limit,
            limit,
        }
    }

    fn charge(&mut self, path: &Path, bytes: usize) -> Result<(), BundleError> {
        self.remaining = self.remaining.checked_sub(bytes as u64).ok_or_else(|| {
            bad(
                path,
                format!(
                    "its keys and values decode to more than {} bytes \
                         ({MAX_TABLE_EXPANSION} times the file size)",
                    self.limit
                ),
            )
        })?;
        Ok(())
    }
}

/// Decodes the prefix-compressed entries of one block.
fn block_entries(
    path: &Path,
    block: &[u8],
    budget: &mut DecodeBudget,
) -> Result<KeyValues, BundleError> {
    if block.len() < 4 {
        return Err(bad(path, "block shorter than its restart count"));
    }
    let restarts =
        u32::from_le_bytes(block[block.len() - 4..].try_into().unwrap_or_default()) as usize;
    let restart_bytes = restarts
        .checked_mul(4)
        .and_then(|r| r.checked_add(4))
        .filter(|&r| r <= block.len());
    let Some(restart_bytes) = restart_bytes else {
        return Err(bad(path, format!("block claims {restarts} restarts")));
    };
    let data = &block[..block.len() - restart_bytes];
    let mut restarts = Restarts::new(&block[data.len()..block.len() - 4]);
    let mut entries = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let start = at;
        let mut next = |what: &str| -> Result<usize, BundleError> {
            let (value, used) = read_varint(&data[at..])
                .ok_or_else(|| bad(path, format!("bad varint ({what})")))?;
            at += used;
            usize::try_from(value).map_err(|_| bad(path, "length too large"))
        };
        let shared = next("shared")?;
        restarts.check_entry(path, start, shared)?;
        let unshared = next("unshared")?;
        let value_len = next("value length")?;
        let end = at
            .checked_add(unshared)
            .and_then(|e| e.checked_add(value_len))
            .filter(|&e| e <= data.len())
            .ok_or_else(|| bad(path, "entry runs past the end of its block"))?;
        if shared > key.len() {
            return Err(bad(
                path,
                "entry shares more key bytes than the previous key has",
            ));
        }
        let key_len = shared + unshared;
        if key_len > MAX_TABLE_KEY_BYTES {
            return Err(bad(
                path,
                format!("a key of {key_len} bytes exceeds the cap of {MAX_TABLE_KEY_BYTES}"),
            ));
        }
        budget.charge(path, key_len + value_len)?;
        key.truncate(shared);
        key.extend_from_slice(&data[at..at + unshared]);
        entries.push((key.clone(), data[at + unshared..end].to_vec()));
        at = end;
    }
    restarts.all_met(path, data.len()).map(|()| entries)
}

/// The restart offsets stored at the end of a block, met in order as the
/// entries are decoded: each must start an entry that shares no key bytes
/// (LevelDB seeks to them); one left over points past the entries, inside
/// an entry, or out of order.
struct Restarts<'a> {
    offsets: std::iter::Peekable<std::slice::ChunksExact<'a, u8>>,
}

impl<'a> Restarts<'a> {
    fn new(array: &'a [u8]) -> Restarts<'a> {
        Restarts {
            offsets: array.chunks_exact(4).peekable(),
        }
    }

    fn offset(bytes: &[u8]) -> usize {
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
    }

    /// An entry starting at `start` that shares `shared` key bytes: at a
    /// restart point (consumed here) it must share none.
    fn check_entry(&mut self, path: &Path, start: usize, shared: usize) -> Result<(), BundleError> {
        let restarts_here = self.offsets.next_if(|b| Self::offset(b) == start).is_some();
        if restarts_here && shared != 0 {
            return Err(bad(path, "a restart point's entry shares key bytes"));
        }
        Ok(())
    }

    fn all_met(&mut self, path: &Path, entries_bytes: usize) -> Result<(), BundleError> {
        match self.offsets.next().map(Self::offset) {
            Some(offset) if !(offset == 0 && entries_bytes == 0) => Err(bad(
                path,
                format!(
                    "a restart offset {offset} is not the start of an entry (the block's entries take {entries_bytes} bytes)"
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Builds one block.
#[derive(Default)]
struct BlockBuilder {
    buffer: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    last_key: Vec<u8>,
    interval: usize,
}

impl BlockBuilder {
    fn new(interval: usize) -> BlockBuilder {
        BlockBuilder {
            restarts: vec![0],
            interval,
            ..BlockBuilder::default()
        }
    }

    fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.interval {
            key.iter()
                .zip(&self.last_key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buffer.len() as u32);
            self.counter = 0;
            0
        };
        write_varint(&mut self.buffer, shared as u64);
        write_varint(&mut self.buffer, (key.len() - shared) as u64);
        write_varint(&mut self.buffer, value.len() as u64);
        self.buffer.extend_from_slice(&key[shared..]);
        self.buffer.extend_from_slice(value);
        self.last_key = key.to_vec();
        self.counter += 1;
    }

    fn size_estimate(&self) -> usize {
        self.buffer.len() + self.restarts.len() * 4 + 4
    }

    fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buffer);
        for restart in &self.restarts {
            out.extend_from_slice(&restart.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        *self = BlockBuilder::new(self.interval);
        out
    }
}

/// The shortest key `k` with `start <= k < limit`, as LevelDB's comparator picks it.
fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let common = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
    if common < start.len().min(limit.len()) {
        let byte = start[common];
        if byte < 0xff && byte + 1 < limit[common] {
            let mut key = start[..=common].to_vec();
            key[common] += 1;
            return key;
        }
    }
    start.to_vec()
}

/// The shortest key `>= key`.
fn short_successor(key: &[u8]) -> Vec<u8> {
    match key.iter().position(|&b| b != 0xff) {
        Some(i) => {
            let mut out = key[..=i].to_vec();
            out[i] += 1;
            out
        }
        None => key.to_vec(),
    }
}

/// Serializes sorted key/value pairs as a table.
pub fn build_table(
    entries: &[(Vec<u8>, Vec<u8>)],
    path: impl AsRef<Path>,
) -> Result<Vec<u8>, BundleError> {
    let path = path.as_ref();
    let mut out = Vec::new();
    let mut block = BlockBuilder::new(RESTART_INTERVAL);
    let mut index = BlockBuilder::new(1);
    let mut pending: Option<BlockHandle> = None;
    let mut last_key: Vec<u8> = Vec::new();
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 && *key <= last_key {
            return Err(BundleError::Write {
                path: PathBuf::from(path),
                reason: format!("keys out of order at {:?}", String::from_utf8_lossy(key)),
            });
        }
        if let Some(handle) = pending.take() {
            let mut encoded = Vec::new();
            handle.encode(&mut encoded);
            index.add(&shortest_separator(&last_key, key), &encoded);
        }
        block.add(key, value);
        last_key = key.clone();
        if block.size_estimate() >= BLOCK_SIZE {
            pending = Some(write_block(&mut out, block.finish()));
        }
    }
    if !block.is_empty() {
        pending = Some(write_block(&mut out, block.finish()));
    }
    if let Some(handle) = pending {
        let mut encoded = Vec::new();
        handle.encode(&mut encoded);
        index.add(&short_successor(&last_key), &encoded);
    }
    let metaindex = write_block(&mut out, BlockBuilder::new(RESTART_INTERVAL).finish());
    let index = write_block(&mut out, index.finish());
    let mut footer = Vec::with_capacity(FOOTER_LEN);
    metaindex.encode(&mut footer);
    index.encode(&mut footer);
    footer.resize(40, 0);
    footer.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&footer);
    Ok(out)
}

fn write_block(out: &mut Vec<u8>, contents: Vec<u8>) -> BlockHandle {
    let handle = BlockHandle {
        offset: out.len() as u64,
        size: contents.len() as u64,
    };
    let crc = crc::extend(crc::crc32c(&contents), &[0]);
    out.extend_from_slice(&contents);
    out.push(0);
    out.extend_from_slice(&crc::mask(crc).to_le_bytes());
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                (
                    format!("key/{i:06}").into_bytes(),
                    vec![(i % 251) as u8; i % 700],
                )
            })
            .collect()
    }

    #[test]
    fn round_trips_many_blocks() {
        let entries = pairs(3000);
        let bytes = build_table(&entries, Path::new("t.index")).unwrap();
        assert_eq!(read_table(Path::new("t.index"), &bytes).unwrap(), entries);
    }

    /// A table with one data block holding `contents` stored with compression `kind`.
    fn one_block_table(contents: &[u8], kind: u8, last_key: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let data = BlockHandle {
            offset: 0,
            size: contents.len() as u64,
        };
        let crc = crc::extend(crc::crc32c(contents), &[kind]);
        out.extend_from_slice(contents);
        out.push(kind);
        out.extend_from_slice(&crc::mask(crc).to_le_bytes());
        let mut index = BlockBuilder::new(1);
        let mut handle = Vec::new();
        data.encode(&mut handle);
        index.add(&short_successor(last_key), &handle);
        let metaindex = write_block(&mut out, BlockBuilder::new(RESTART_INTERVAL).finish());
        let index = write_block(&mut out, index.finish());
        let mut footer = Vec::new();
        metaindex.encode(&mut footer);
        index.encode(&mut footer);
        footer.resize(40, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&footer);
        out
    }

    fn block_of(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Vec<u8> {
        let mut block = BlockBuilder::new(interval);
        for (key, value) in entries {
            block.add(key, value);
        }
        block.finish()
    }

    /// A table whose one data block is Snappy-compressed, as old TensorFlow wrote them.
    fn snappy_table(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let compressed = snap::raw::Encoder::new()
            .compress_vec(&block_of(entries, RESTART_INTERVAL))
            .unwrap();
        one_block_table(&compressed, 1, &entries.last().unwrap().0)
    }

    #[test]
    fn a_snappy_block_claiming_4_gib_is_refused_before_decompressing() {
        // Varint 0xffff_ffff (the claimed length), then a literal of 4 bytes.
        let forged = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x0c, b'a', b'b', b'c', b'd'];
        let bytes = one_block_table(&forged, 1, b"a");
        let err = read_table(Path::new("forged.index"), &bytes).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("forged.index") && message.contains("claims 4294967295 bytes"),
            "{message}"
        );
    }

    /// A valid Snappy stream of `len` zero bytes: one literal, then copies
    /// of 64 bytes at offset 1 (Snappy's densest element), then a short tail.
    fn snappy_zeros(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_varint(&mut out, len as u64);
        out.extend_from_slice(&[0x00, 0x00]); // literal of one zero byte
        let copies = (len - 1) / 64;
        for _ in 0..copies {
            out.extend_from_slice(&[(63 << 2) | 0b10, 1, 0]);
        }
        let tail = len - 1 - copies * 64;
        if tail > 0 {
            out.extend_from_slice(&[(((tail - 1) as u8) << 2) | 0b10, 1, 0]);
        }
        out
    }

    #[test]
    fn a_snappy_block_within_its_ratio_but_over_the_cap_is_refused() {
        let small = snappy_zeros(1000);
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&small).unwrap(),
            [0; 1000]
        );
        let genuine = snappy_zeros(MAX_TABLE_BLOCK_BYTES + 1);
        let bytes = one_block_table(&genuine, 1, b"a");
        let err = read_table(Path::new("big.index"), &bytes).unwrap_err();
        assert!(err.to_string().contains("cap 67108864"), "{err}");
    }

    #[test]
    fn keys_sharing_a_long_prefix_cannot_outgrow_the_file() {
        // One 60 KB key, then 10,000 increasing keys each sharing all of its
        // 60 KB prefix: no restarts, so the block stays about 100 KB.
        let mut block = Vec::new();
        let prefix = vec![b'p'; 60_000];
        for i in 0..10_001u16 {
            let (shared, suffix) = match i {
                0 => (0, [&prefix[..], &i.to_be_bytes()].concat()),
                _ => (prefix.len() as u64, i.to_be_bytes().to_vec()),
            };
            write_varint(&mut block, shared);
            write_varint(&mut block, suffix.len() as u64);
            write_varint(&mut block, 0);
            block.extend_from_slice(&suffix);
        }
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        let bytes = one_block_table(&block, 0, &prefix);
        assert!(bytes.len() < 200_000, "{} bytes", bytes.len());
        let started = std::time::Instant::now();
        let err = read_table(Path::new("shared.index"), &bytes).unwrap_err();
        assert!(err.to_string().contains("times the file size"), "{err}");
        assert!(started.elapsed().as_secs() < 5);
    }

    #[test]
    fn a_key_over_the_cap_is_refused() {
        let entries = vec![(vec![b'k'; MAX_TABLE_KEY_BYTES + 1], vec![1])];
        let bytes = one_block_table(&block_of(&entries, RESTART_INTERVAL), 0, b"l");
        let err = read_table(Path::new("long.index"), &bytes).unwrap_err();
        assert!(err.to_string().contains("exceeds the cap"), "{err}");
    }

    #[test]
    fn reads_snappy_compressed_blocks() {
        let entries = pairs(40);
        let bytes = snappy_table(&entries);
        assert_eq!(read_table(Path::new("old.index"), &bytes).unwrap(), entries);
        let mut damaged = bytes.clone();
        damaged[2] ^= 0xff;
        assert!(read_table(Path::new("old.index"), &damaged).is_err());
    }

    #[test]
    fn separators_follow_leveldb() {
        assert_eq!(shortest_separator(b"abc", b"abe"), b"abd");
        assert_eq!(shortest_separator(b"abc", b"abd"), b"abc");
        assert_eq!(short_successor(b"w"), b"x");
        assert_eq!(short_successor(&[0xff, 0x01]), vec![0xff, 0x02]);
    }

    #[test]
    fn a_flipped_byte_is_a_block_checksum_error() {
        let mut bytes = build_table(&pairs(10), Path::new("t.index")).unwrap();
        bytes[5] ^= 0x40;
        let err = read_table(Path::new("t.index"), &bytes).unwrap_err();
        assert!(
            matches!(err, BundleError::BlockChecksum { offset: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn wrong_magic_and_truncation_are_errors() {
        let mut bytes = build_table(&pairs(3), Path::new("t.index")).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(
            read_table(Path::new("t.index"), &bytes)
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
        let bytes = build_table(&pairs(3), Path::new("t.index")).unwrap();
        assert!(read_table(Path::new("t.index"), &bytes[..20]).is_err());
        assert!(read_table(Path::new("t.index"), &bytes[10..]).is_err());
    }
}
