//! Errors, one enum per stage, gathered under [`Error`]. Every variant says
//! where the problem is: the file, the node, the tensor or the checkpoint key.

use std::path::PathBuf;

pub use crate::bundle::BundleError;
pub use crate::check::CheckError;
pub use crate::ir::IrError;
pub use crate::passes::PassError;
pub use crate::read::ReadError;
pub use crate::text::TextError;

/// Any servegraph failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Pass(#[from] PassError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error(transparent)]
    Check(#[from] CheckError),
}

/// Failures while writing a SavedModel.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("output directory {path} already exists (pass --overwrite to replace it)")]
    OutputExists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the serving graph reads variables but no checkpoint was given: {}", .variables.join(", "))]
    NoCheckpoint { variables: Vec<String> },
    #[error(
        "variable {variable:?} is restored from key {key:?}, which checkpoint {checkpoint} does not have"
    )]
    MissingVariable {
        variable: String,
        key: String,
        checkpoint: PathBuf,
    },
    #[error(
        "variable {variable:?} is {graph} in the graph but {stored} in checkpoint {checkpoint}"
    )]
    Mismatch {
        variable: String,
        graph: String,
        stored: String,
        checkpoint: PathBuf,
    },
    #[error("variable {variable:?}: {reason}")]
    BadVariable { variable: String, reason: String },
    #[error("asset {path} (read by node {node:?}) cannot be copied: {source}")]
    Asset {
        path: PathBuf,
        node: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Ir(#[from] IrError),
}
