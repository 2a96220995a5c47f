//! TensorBundle, TensorFlow's checkpoint format V2: a sorted `.index` table
//! (LevelDB SSTable layout) of `BundleEntryProto`s and `.data-NNNNN-of-NNNNN`
//! shards holding the raw tensor bytes.
//!
//! Reading is lazy: the index is read at open, tensor bytes only on demand,
//! and a tensor can be handed out as a byte range so the writer copies it
//! without decoding (its crc32c stays valid).

pub mod copy_plan;
pub mod crc;
mod error;
mod pieces;
pub mod reader;
pub mod slices;
pub mod table;
pub mod variables;
pub mod writer;

pub use crate::format::dtypes::element_size;
pub use error::BundleError;
pub use pieces::{Piece, locate_piece, read_piece};
pub use reader::{BundleReader, Entry};
pub use writer::BundleWriter;

use std::path::{Path, PathBuf};

/// `PREFIX.index`.
pub fn index_path(prefix: impl AsRef<Path>) -> PathBuf {
    let prefix = prefix.as_ref();
    append(prefix, ".index")
}

/// `PREFIX.data-SSSSS-of-NNNNN`.
pub fn data_path(prefix: impl AsRef<Path>, shard: usize, num_shards: usize) -> PathBuf {
    let prefix = prefix.as_ref();
    append(prefix, &format!(".data-{shard:05}-of-{num_shards:05}"))
}

fn append(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
