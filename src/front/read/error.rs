//! Errors reading training artifacts; each names the file.

use std::path::PathBuf;

use crate::format::bundle::BundleError;
use crate::format::text::TextError;
use crate::ir::IrError;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}")]
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
    #[error("{path} is not valid text format")]
    Text {
        path: PathBuf,
        #[source]
        source: TextError,
    },
    #[error("{path} does not exist; it should hold the {what}")]
    NotFound { path: PathBuf, what: &'static str },
    #[error("{path} does not exist")]
    DoesNotExist { path: PathBuf },
    #[error("{path} is not a GraphDef, checkpoint, .meta file or SavedModel directory")]
    Unrecognized { path: PathBuf },
    #[error(
        "{path} is {}, not a TensorFlow graph: in Python, load the model and run `model.export(DIR)` (Keras 3) or `tf.saved_model.save(model, DIR)`, then `servegraph export DIR OUT_DIR`",
        kind.describe()
    )]
    KerasFile {
        path: PathBuf,
        kind: super::keras_files::KerasFile,
    },
    #[error(
        "{path} is not a SavedModel or a training directory: it holds no saved_model.pb, saved_model.pbtxt or checkpoint file"
    )]
    NotAModelDirectory { path: PathBuf },
    #[error(
        "{path} holds checkpoints but no `checkpoint` state file naming the latest: {}; pass the prefix to export, e.g. {}",
        prefixes.join(", "),
        path.join(&prefixes[0]).display()
    )]
    CheckpointsWithoutState {
        path: PathBuf,
        /// The prefixes found (each with its `.index` and `.meta`), newest
        /// first; never empty.
        prefixes: Vec<String>,
    },
    #[error(
        "{path} is not a SavedModel directory: it holds neither saved_model.pb nor saved_model.pbtxt"
    )]
    NotASavedModel { path: PathBuf },
    #[error("{path}: no MetaGraphDef has exactly the tags [{tags}] (available: {available})")]
    NoMetaGraph {
        path: PathBuf,
        tags: String,
        available: String,
    },
    #[error("the graph in {path} is malformed")]
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
    #[error(transparent)]
    ObjectGraph(#[from] crate::front::object_graph::ObjectGraphError),
}
