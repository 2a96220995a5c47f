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
    /// The SavedObjectGraph's serialized messages are not what TensorFlow writes.
    #[error("saved_model.pb object graph: {what}: {why}")]
    MalformedObjectGraph { what: String, why: String },
    /// A variable handle the float16 retyping changes reaches an op whose
    /// use of it cannot be retyped (control flow, an op writing or reading it
    /// in a way not known, a function returning it).
    #[error(
        "float16 weights: function {function:?}, node {node:?} ({op}) uses the handle of variable(s) {variables:?}: {why}"
    )]
    UnsupportedResourceUse {
        function: String,
        node: String,
        op: String,
        variables: Vec<String>,
        why: String,
    },
    /// One function argument receives both variables stored as float16 and
    /// variables kept float32, so its reads cannot have one dtype.
    #[error(
        "float16 weights: argument {arg:?} of function {function:?} receives variables retyped to float16 {retyped:?} and variables kept float32 {kept:?}; a minimum size that retypes all of them, or none, avoids this"
    )]
    MixedVariableArgument {
        function: String,
        arg: String,
        retyped: Vec<String>,
        kept: Vec<String>,
    },
}
