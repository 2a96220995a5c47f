//! What can go wrong while writing a SavedModel; every variant names the
//! path, the node or the variable.

use std::path::PathBuf;

use super::guard::Overlap;
use crate::format::bundle::BundleError;
use crate::ir::IrError;

/// Failures while writing a SavedModel.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "saved_model.pb would be {bytes} bytes, over the limit of {limit} bytes; nothing was written"
    )]
    SavedModelTooLarge { bytes: u64, limit: u64 },
    #[error("output directory {path} already exists")]
    OutputExists { path: PathBuf },
    #[error("output {path} is a symlink; give the directory it points to, or another path")]
    OutputIsSymlink { path: PathBuf },
    #[error("output {path} exists and is not a directory; it is never replaced")]
    OutputNotDirectory { path: PathBuf },
    #[error(
        "output directory {path} is not empty and holds no SavedModel (no saved_model.pb or saved_model.pbtxt), so it is not replaced; it holds {}",
        listing(.entries, *.count)
    )]
    OutputNotSavedModel {
        path: PathBuf,
        /// The first few entries, sorted.
        entries: Vec<String>,
        count: usize,
    },
    #[error("output {output} {overlap} {input}, which the export reads; sources are never written")]
    OutputOverlapsSource {
        output: PathBuf,
        overlap: Overlap,
        input: PathBuf,
    },
    #[error(
        "the MetaGraphDef for {output} would have {problem}: loaders and TensorFlow Serving find a MetaGraphDef by its tags (`serve` to serve it, the default)"
    )]
    BadTagSet {
        output: PathBuf,
        problem: &'static str,
    },
    #[error("output {path} has no parent directory to stage the export in")]
    OutputHasNoParent { path: PathBuf },
    #[error(
        "asset {name:?} (read by node {node:?}) is not a plain file name: {reason}; it cannot be written under assets/"
    )]
    UnsafeAssetName {
        name: String,
        node: String,
        reason: &'static str,
    },
    #[error("asset {name:?} (read by node {node:?}) resolves to {path}, outside {root}")]
    AssetOutsideSource {
        name: String,
        node: String,
        path: PathBuf,
        root: PathBuf,
    },
    #[error("assets.extra file {name:?} is not a plain file name: {reason}")]
    UnsafeExtraName { name: String, reason: &'static str },
    #[error("cannot write {name:?} beside saved_model.pb: {reason}")]
    UnsafeRootName { name: String, reason: &'static str },
    #[error("cannot write {path}")]
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
    #[error("asset {path} (read by node {node:?}) cannot be copied")]
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

/// `a, b, c` or `a, b, c and 4 more`.
fn listing(first: &[String], count: usize) -> String {
    let shown = first.join(", ");
    match count.saturating_sub(first.len()) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
