//! TensorBundle, TensorFlow's checkpoint format V2: a sorted `.index` table
//! (LevelDB SSTable layout) of `BundleEntryProto`s and `.data-NNNNN-of-NNNNN`
//! shards holding the raw tensor bytes.
//!
//! Reading is lazy: the index is read at open, tensor bytes only on demand,
//! and a tensor can be handed out as a byte range so the writer copies it
//! without decoding (its crc32c stays valid).

pub mod crc;
mod error;
pub mod reader;
pub mod slices;
pub mod table;
pub mod writer;

pub use error::BundleError;
pub use reader::{BundleReader, Entry};
pub use writer::BundleWriter;

use std::path::{Path, PathBuf};

/// `PREFIX.index`.
pub fn index_path(prefix: &Path) -> PathBuf {
    append(prefix, ".index")
}

/// `PREFIX.data-SSSSS-of-NNNNN`.
pub fn data_path(prefix: &Path, shard: usize, num_shards: usize) -> PathBuf {
    append(prefix, &format!(".data-{shard:05}-of-{num_shards:05}"))
}

fn append(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Bytes per element of fixed-size dtypes; `None` for strings, variants, resources.
pub fn element_size(dtype: crate::proto::DataType) -> Option<usize> {
    use crate::proto::DataType::*;
    Some(match dtype {
        DtFloat | DtInt32 | DtQint32 | DtUint32 => 4,
        DtDouble | DtInt64 | DtUint64 | DtComplex64 => 8,
        DtComplex128 => 16,
        DtUint8 | DtInt8 | DtBool | DtQint8 | DtQuint8 => 1,
        DtInt16 | DtUint16 | DtQint16 | DtQuint16 | DtBfloat16 | DtHalf => 2,
        DtFloat8E5m2 | DtFloat8E4m3fn | DtFloat8E4m3fnuz | DtFloat8E4m3b11fnuz
        | DtFloat8E5m2fnuz | DtInt4 | DtUint4 | DtInt2 | DtUint2 | DtFloat4E2m1fn => 1,
        _ => return None,
    })
}
