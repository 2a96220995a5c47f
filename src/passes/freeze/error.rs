//! Why variables could not be frozen into constants.

use std::path::PathBuf;

use crate::format::bundle::BundleError;
use crate::ir::IrError;

#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    #[error("cannot freeze: variables {variables:?} have no checkpoint to read their values from")]
    NoCheckpoint { variables: Vec<String> },
    #[error("cannot freeze: the checkpoint {checkpoint} cannot be read")]
    Checkpoint {
        checkpoint: PathBuf,
        #[source]
        source: Box<BundleError>,
    },
    #[error("cannot freeze variable {variable:?}: its value in {checkpoint} cannot be read")]
    Value {
        variable: String,
        checkpoint: PathBuf,
        #[source]
        source: Box<BundleError>,
    },
    #[error(
        "cannot freeze variable {variable:?}: the graph says {graph}, checkpoint key {key:?} in {checkpoint} holds {stored}"
    )]
    Mismatch {
        variable: String,
        key: String,
        graph: String,
        stored: String,
        checkpoint: PathBuf,
    },
    #[error(
        "cannot freeze variable {variable:?}: node {node:?} (op {op}) {use_}, which a constant cannot stand in for"
    )]
    NotAValue {
        variable: String,
        node: String,
        op: String,
        use_: &'static str,
    },
    #[error(
        "cannot freeze: saved_model.pb would be about {bytes} bytes, over the {limit}-byte limit \
         (TensorFlow Serving and older TensorFlow refuse a larger one); largest variables: {}; {advice}",
        .largest.join(", ")
    )]
    GraphTooLarge {
        bytes: u64,
        limit: u64,
        largest: Vec<String>,
        advice: String,
    },
    #[error(
        "cannot freeze variable {variable:?}: its constant would hold {bytes} bytes, over the \
         {limit}-byte limit of one protobuf message; {advice}"
    )]
    ConstantTooLarge {
        variable: String,
        bytes: u64,
        limit: u64,
        advice: String,
    },
    #[error(transparent)]
    Ir(#[from] IrError),
}
