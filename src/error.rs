//! Errors, one enum per stage, gathered under [`Error`]. Every variant says
//! where the problem is: the file, the node, the tensor or the checkpoint key.

use std::path::PathBuf;

/// Any servegraph failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Write(#[from] WriteError),
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
}
