//! What can go wrong re-exporting a TF2 SavedModel.

use std::path::PathBuf;

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
}
