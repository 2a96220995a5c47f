//! What can go wrong re-exporting a TF2 SavedModel.

use std::path::PathBuf;

use crate::bundle::BundleError;

/// A TF2 SavedModel the lean export cannot re-export as asked. Every
/// variant names the file, signature, object or function at fault.
#[derive(Debug, thiserror::Error)]
pub enum Tf2Error {
    /// A signature key the source does not have.
    #[error("{path}: no signature {name:?}; the source has {available:?}")]
    UnknownSignature {
        path: PathBuf,
        name: String,
        available: Vec<String>,
    },
    /// An export option the object-graph export does not support.
    #[error("{path}: {option} does not apply to a TF2 SavedModel re-exported whole: {why}")]
    Unsupported {
        path: PathBuf,
        option: String,
        why: String,
    },
    /// The source's `variables/` bundle cannot be read or copied.
    #[error("{path}: {source}")]
    Bundle {
        path: PathBuf,
        #[source]
        source: BundleError,
    },
    /// A kept variable's key is not in the source's `variables/`.
    #[error(
        "{path}: the kept variable {object_path:?} is restored from key {key:?}, which the checkpoint does not have"
    )]
    MissingKey {
        path: PathBuf,
        object_path: String,
        key: String,
    },
    /// A kept variable's stored dtype or shape is not what the graph says.
    #[error("{path}: key {key:?} holds {stored}, but the graph's variable is {graph}")]
    StoredMismatch {
        path: PathBuf,
        key: String,
        stored: String,
        graph: String,
    },
    /// A source file the export copies or decodes cannot be read.
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A source file is not the protobuf it should be.
    #[error("{path} is not a valid {message}: {reason}")]
    Decode {
        path: PathBuf,
        message: &'static str,
        reason: String,
    },
    /// The planned export is larger than `--max-size` allows.
    #[error(
        "{path}: the export would be {bytes} bytes, over --max-size {limit}; nothing was written"
    )]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
}
