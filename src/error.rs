//! Errors, one enum per stage, gathered under [`Error`]. Every variant says
//! where the problem is: the file, the node, the tensor or the checkpoint key.

use std::path::PathBuf;

pub use crate::bundle::BundleError;
pub use crate::check::CheckError;
pub use crate::ir::IrError;
pub use crate::passes::PassError;
pub use crate::read::ReadError;
pub use crate::text::TextError;

/// The messages of `error` and of its sources, outermost first, for printing
/// one per line. A cause whose text the line before already contains (a
/// message that embeds its cause) is left out, so no text is printed twice.
pub fn messages(error: &dyn std::error::Error) -> Vec<String> {
    let mut lines = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !lines.last().is_some_and(|last| last.contains(&text)) {
            lines.push(text);
        }
        source = cause.source();
    }
    lines
}

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
        overlap: crate::write::guard::Overlap,
        input: PathBuf,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the model: {source}")]
    struct Embeds {
        source: std::io::Error,
    }

    fn not_found() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
    }

    #[test]
    fn a_chain_never_repeats_a_cause_its_message_embeds() {
        let embedded = Embeds {
            source: not_found(),
        };
        assert_eq!(messages(&embedded), ["cannot open the model: no such file"]);
        let chained = ReadError::Io {
            path: "run/model.ckpt-5.meta".into(),
            source: not_found(),
        };
        assert_eq!(
            messages(&chained),
            ["cannot read run/model.ckpt-5.meta", "no such file"]
        );
    }
}
