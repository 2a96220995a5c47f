//! Errors reading training artifacts; each names the file.

use std::path::PathBuf;

use crate::bundle::BundleError;
use crate::ir::IrError;
use crate::text::TextError;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid {what}: {detail}")]
    Decode {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("{path}: {source}")]
    Text {
        path: PathBuf,
        #[source]
        source: TextError,
    },
    #[error("{path}: no {what} found")]
    NotFound { path: PathBuf, what: &'static str },
    #[error("{path} is not a GraphDef, checkpoint, .meta file or SavedModel directory")]
    Unrecognized { path: PathBuf },
    #[error("{path}: no MetaGraphDef has exactly the tags [{tags}] (available: {available})")]
    NoMetaGraph {
        path: PathBuf,
        tags: String,
        available: String,
    },
    #[error("{path}: {source}")]
    Graph {
        path: PathBuf,
        #[source]
        source: IrError,
    },
    #[error("{path}: asset {asset:?} cannot be read: {reason}")]
    UnsafeAsset {
        path: PathBuf,
        asset: String,
        reason: &'static str,
    },
    #[error("asset {asset:?} is missing: {path}")]
    MissingAsset {
        path: PathBuf,
        asset: String,
        #[source]
        source: std::io::Error,
    },
    #[error("asset {asset:?} resolves to {path}, outside the source's {root}")]
    AssetOutside {
        asset: String,
        path: PathBuf,
        root: PathBuf,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}
