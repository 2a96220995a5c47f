//! Checkpoint errors, each naming the file and, where there is one, the key.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    WriteIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a TensorBundle index: {reason}")]
    BadTable { path: PathBuf, reason: String },
    #[error("{path}: block at offset {offset} fails its checksum")]
    BlockChecksum { path: PathBuf, offset: u64 },
    #[error("{path}: tensor {key:?} fails its checksum")]
    TensorChecksum { path: PathBuf, key: String },
    #[error(
        "{path}: tensor {key:?} ({size} bytes at offset {offset}) runs past the end of the {len}-byte shard"
    )]
    PastEndOfShard {
        path: PathBuf,
        key: String,
        offset: u64,
        size: u64,
        len: u64,
    },
    #[error("{path}: data shard {shard} is missing ({data})")]
    MissingShard {
        path: PathBuf,
        shard: usize,
        data: PathBuf,
    },
    #[error("{path}: entry {key:?} is malformed: {reason}")]
    BadEntry {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error("{path}: no tensor {key:?} in the checkpoint")]
    NoSuchKey { path: PathBuf, key: String },
    #[error("{path}: bundle version {producer} (min consumer {min_consumer}) is not readable")]
    Version {
        path: PathBuf,
        producer: i32,
        min_consumer: i32,
    },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}
