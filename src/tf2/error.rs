//! What can go wrong re-exporting a TF2 SavedModel.

use std::path::PathBuf;

use crate::format::bundle::BundleError;

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
    /// The planned export is larger than the size limit (`ExportOptions::max_size`) allows.
    #[error(
        "{path}: the export would be {bytes} bytes, over the size limit of {limit} bytes; nothing was written"
    )]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    /// The object graph (`object_graph_def`) cannot be read: a node or
    /// concrete function is not a well-formed message.
    #[error("{path}: object graph {part} is not readable: {detail}")]
    ObjectGraph {
        path: PathBuf,
        part: String,
        detail: String,
    },
    /// An id in the object graph names no node.
    #[error(
        "{path}: object graph {referrer} refers to node {target} ({field}), but there are {count} nodes"
    )]
    BadObjectReference {
        path: PathBuf,
        referrer: String,
        field: &'static str,
        target: i64,
        count: usize,
    },
    /// A graph node or function names a function the library lacks.
    #[error(
        "{path}: {referrer} calls function {function:?}, which the graph's library does not define"
    )]
    MissingFunction {
        path: PathBuf,
        referrer: String,
        function: String,
    },
    /// A graph node without a name, or with one an earlier node has.
    #[error("{path}: graph node {index} ({name:?}) {problem}; TensorFlow refuses to load it")]
    BadNodeName {
        path: PathBuf,
        index: usize,
        name: String,
        problem: &'static str,
    },
    /// Two different functions of the library under one name.
    #[error(
        "{path}: the graph's library defines function {function:?} twice, differently; TensorFlow refuses to load it"
    )]
    DuplicateFunction { path: PathBuf, function: String },
    /// Functions that call themselves, directly or through each other.
    #[error(
        "{path}: the graph's library functions call each other in a cycle ({}); TensorFlow refuses to load it",
        .functions.join(" -> ")
    )]
    CallCycle {
        path: PathBuf,
        functions: Vec<String>,
    },
    /// A concrete function bound to an object that is not a captured value.
    #[error(
        "{path}: concrete function {function:?} has bound input node {object} of the object graph, a {kind}, where a variable, resource, constant, asset or captured tensor belongs"
    )]
    BoundInputKind {
        path: PathBuf,
        function: String,
        object: usize,
        kind: &'static str,
    },
    /// An asset object whose index is not in `asset_file_def`.
    #[error(
        "{path}: object graph node {object} (asset) has asset_file_def index {index}, but there are {count}"
    )]
    AssetIndex {
        path: PathBuf,
        object: usize,
        index: i32,
        count: usize,
    },
    /// A signature tensor naming an output its node does not have.
    #[error("{path}: {place} names tensor {tensor:?}, but its node has {outputs} output(s)")]
    SignatureOutputIndex {
        path: PathBuf,
        /// `signature "serving_default", key "x"`.
        place: String,
        tensor: String,
        outputs: usize,
    },
    /// A saved variable object whose dtype or shape is not its handle's
    /// (and so not the checkpoint's, which is checked against the handle).
    #[error(
        "{path}: variable object {object_path:?} is saved as {saved}, but its handle (and the checkpoint) say {handle}"
    )]
    SavedVariableMismatch {
        path: PathBuf,
        object_path: String,
        saved: String,
        handle: String,
    },
    /// A signature, collection or node input names a node the graph lacks.
    #[error("{path}: {referrer} names node {node:?}, which the graph does not have")]
    MissingNode {
        path: PathBuf,
        referrer: String,
        node: String,
    },
    /// A call node passes fewer inputs than its function captures.
    #[error(
        "{path}: node {node:?} calls {function:?} with {inputs} inputs, fewer than its {captures} captured objects"
    )]
    CapturesMismatch {
        path: PathBuf,
        node: String,
        function: String,
        inputs: usize,
        captures: usize,
    },
    /// A kept variable object is captured through a node that is not a `VarHandleOp`.
    #[error(
        "{path}: variable object {object_path:?} is captured through node {node:?}, a {op}, not a VarHandleOp"
    )]
    NotAVariableHandle {
        path: PathBuf,
        object_path: String,
        node: String,
        op: String,
    },
    /// A kept variable object that no kept call node captures.
    #[error(
        "{path}: variable object {object_path:?} is kept, but no kept signature's call node passes its handle"
    )]
    NoVariableHandle { path: PathBuf, object_path: String },
    /// A kept variable object the checkpoint holds no value for.
    #[error(
        "{path}: variable object {object_path:?} has no VARIABLE_VALUE key in the checkpoint's object graph"
    )]
    NoCheckpointKey { path: PathBuf, object_path: String },
    /// A kept variable whose `VarHandleOp` lacks a dtype or a fully known shape.
    #[error("{path}: variable handle {node:?} has {problem}")]
    VariableHandle {
        path: PathBuf,
        node: String,
        problem: String,
    },
    /// The checkpoint's object graph is malformed.
    #[error(transparent)]
    CheckpointGraph(#[from] crate::front::object_graph::ObjectGraphError),
    /// The SavedModel's `variables/` has no object graph to prune.
    #[error(
        "{path}: no _CHECKPOINTABLE_OBJECT_GRAPH entry, so the TF2 SavedModel's variables cannot be matched to its objects"
    )]
    NoCheckpointGraph { path: PathBuf },
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
    /// Writing the export failed (a stage shared with the graph route);
    /// the top-level error carries it as that stage's error.
    #[error(transparent)]
    Write(#[from] crate::back::write::WriteError),
    /// Reading the source failed (a stage shared with the graph route).
    #[error(transparent)]
    Read(#[from] crate::front::read::ReadError),
    /// The export would pass `--max-size` (a check shared with the graph route).
    #[error(transparent)]
    Size(#[from] crate::back::size::SizeError),
}
