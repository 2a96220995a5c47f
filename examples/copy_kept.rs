//! The physical limit for an export's variables: copy exactly the tensor
//! bytes an export keeps from the source checkpoint into one file, then fsync
//! it. No checksum, no index, no graph: what is left is reading and writing
//! the kept bytes once. Used by `bench/run.py` as the yardstick for
//! `servegraph export`. A plain read/write loop: on ext4 it beat
//! `copy_file_range` (which `std::io::copy` would use) by about a third.
//!
//! ```sh
//! cargo run --release --example copy_kept -- PREFIX EXPORT_REPORT.json OUT_FILE
//! ```
//! `EXPORT_REPORT.json` is what `servegraph export --json` printed; its `kept`
//! entries name the checkpoint keys to copy.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use servegraph::bundle::BundleReader;

/// Big enough that syscalls cost nothing next to the bytes; 64 KiB to
/// 1 MiB measured the same.
const BUFFER: usize = 1 << 20;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The checkpoint keys of the variables an export report says it kept.
fn kept_keys(report: &Path) -> Result<Vec<String>> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report)?)?;
    let kept = json["kept"]
        .as_array()
        .ok_or_else(|| format!("{}: no `kept` list", report.display()))?;
    kept.iter()
        .map(|entry| {
            entry["key"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{}: a kept entry without a key", report.display()).into())
        })
        .collect()
}

/// Appends one tensor's stored bytes to `out` through `buffer`; returns how many.
fn copy_tensor(source: &BundleReader, key: &str, buffer: &mut [u8], out: &mut File) -> Result<u64> {
    let (mut shard, range) = source.open_shard(key.as_bytes())?;
    shard.seek(SeekFrom::Start(range.offset))?;
    let mut remaining = range.size;
    while remaining > 0 {
        let n = usize::try_from(remaining).map_or(buffer.len(), |r| r.min(buffer.len()));
        let chunk = &mut buffer[..n];
        shard.read_exact(chunk)?;
        out.write_all(chunk)?;
        remaining -= n as u64;
    }
    Ok(range.size)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [prefix, report, out] = args.as_slice() else {
        return Err("usage: copy_kept PREFIX EXPORT_REPORT.json OUT_FILE".into());
    };
    let keys = kept_keys(Path::new(report))?;
    let source = BundleReader::open(prefix)?;
    let mut file = File::create(out)?;
    let mut total = 0;
    let mut buffer = vec![0u8; BUFFER];
    for key in &keys {
        total += copy_tensor(&source, key, &mut buffer, &mut file)?;
    }
    file.sync_all()?;
    println!("copied {} tensors, {total} bytes", keys.len());
    Ok(())
}
