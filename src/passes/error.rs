//! Why a pass could not turn the graph into a serving graph.

use crate::front::check::CheckError;
use crate::ir::IrError;

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("tensor {tensor:?} is not in the graph{}", suggest(.suggestions))]
    UnknownTensor {
        tensor: String,
        suggestions: Vec<String>,
    },
    #[error("no outputs were named; the tensors to serve are probably among: {}", .candidates.join(", "))]
    NoOutputs { candidates: Vec<String> },
    #[error("{spec:?} is not a valid {what}: {reason}")]
    BadSpec {
        what: &'static str,
        spec: String,
        reason: String,
    },
    #[error("cannot tell the dtype of tensor {tensor:?} (op {op}); the graph states none")]
    UnknownDtype { tensor: String, op: String },
    #[error("no input found: the outputs depend on no iterator, queue, reader or placeholder")]
    NoInputs,
    #[error(
        "training-only node {node:?} ({op}, {category}) is still needed by the serving graph: {}",
        .path.join(" <- ")
    )]
    TrainingOpRemains {
        node: String,
        op: String,
        category: String,
        path: Vec<String>,
    },
    #[error(
        "serving input {input} is the likely cause: it replaces only that output of {:?}, but the serving graph still reads {read}, which needs training-only node {training}: {}; did you mean {}={read}?",
        crate::ir::node_of(.read),
        .path.join(" <- "),
        .input.split('=').next().unwrap_or_default()
    )]
    InputComponent {
        /// The `--input` as given, `KEY=TENSOR`.
        input: String,
        /// The tensor of the same node the serving graph reads instead.
        read: String,
        /// The training-only node it needs: `"name" (op, category)`.
        training: String,
        path: Vec<String>,
    },
    #[error(
        "training-only node {node:?} ({op}, {category}) is in library function {function:?}, which the serving graph calls"
    )]
    TrainingOpInFunction {
        function: String,
        node: String,
        op: String,
        category: String,
    },
    #[error("in library function {function:?}: {source}")]
    InFunction {
        function: String,
        #[source]
        source: Box<PassError>,
    },
    #[error(
        "batch norm node {node:?} runs in training mode and its moving statistics cannot be found"
    )]
    BatchNormWithoutMovingStats { node: String },
    #[error(
        "moving averages were asked to serve, but the training graph keeps no moving \
         average of a weight (an ExponentialMovingAverage update whose averaged value is a \
         variable); its {batch_statistics} batch-norm moving statistics and \
         {summary_averages} averages for summaries are not weight averages"
    )]
    NoWeightAverages {
        batch_statistics: usize,
        summary_averages: usize,
    },
    #[error(
        "the moving average {shadow:?} of variable {variable:?} cannot serve in its \
         place: {reason}"
    )]
    BadWeightAverage {
        variable: String,
        shadow: String,
        reason: String,
    },
    #[error("no pass named {name:?}{}; the pipeline has: {}", suggest_among(.known, .name), .known.join(", "))]
    UnknownPass { name: String, known: Vec<String> },
    #[error("no transform named {name:?}{}; the valid ones are: {}", suggest_among(.known, .name), .known.join(", "))]
    UnknownTransform { name: String, known: Vec<String> },
    #[error("{pass} takes no argument {arg:?}; its arguments are: {}", list_or_none(.known))]
    UnknownArgument {
        pass: String,
        arg: String,
        known: Vec<String>,
    },
    #[error("{pass} needs argument {arg:?}")]
    MissingArgument { pass: String, arg: String },
    #[error("{pass}: argument {arg:?} is given more than once")]
    RepeatedArgument { pass: String, arg: String },
    #[error("{pass}: argument {arg:?} is {value:?}, expected {expected}")]
    BadArgument {
        pass: String,
        arg: String,
        value: String,
        expected: &'static str,
    },
    #[error("{pass}: {reason}")]
    Transform { pass: &'static str, reason: String },
    /// A pass defined above this layer (the writer's lowering, a tool's or
    /// a user's own) failing with an error of its own type, which callers
    /// may downcast.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
    /// Boxed: it carries the node, its inputs and the rule's words.
    #[error(transparent)]
    ShapeConflict(Box<crate::passes::shape_check::ShapeConflict>),
    /// Boxed: it carries the node, its constants and its input.
    #[error(transparent)]
    BakedBatch(Box<crate::passes::batch_check::BakedBatch>),
    /// Boxed: it carries both shapes.
    #[error(transparent)]
    InputShape(Box<InputShapeError>),
    #[error("the graph is invalid after pass {pass}")]
    Invalid {
        pass: &'static str,
        #[source]
        source: IrError,
    },
    #[error("{what} key {key:?} is given twice ({first} and {second}); keys must be unique")]
    DuplicateKey {
        what: &'static str,
        key: String,
        first: String,
        second: String,
    },
    #[error("tensor {tensor:?} is given for two inputs, {first:?} and {second:?}")]
    DuplicateInputTensor {
        tensor: String,
        first: String,
        second: String,
    },
    #[error("training flag {flag:?} is not in the graph{}", suggest(.suggestions))]
    UnknownTrainingFlag {
        flag: String,
        suggestions: Vec<String>,
    },
    #[error(
        "sparse input {key:?}: its {part} {tensor:?} cannot be a SparseTensor's {part}: {reason}"
    )]
    NotSparse {
        key: String,
        part: &'static str,
        tensor: String,
        reason: String,
    },
    #[error("{flag:?} is named as a training flag and cannot also be input {key:?}")]
    FlagAsInput { flag: String, key: String },
    /// Boxed: it carries a checkpoint error and a path.
    #[error(transparent)]
    Freeze(Box<crate::passes::freeze::FreezeError>),
    #[error(transparent)]
    Examples(#[from] crate::passes::examples::ExamplesError),
    /// Boxed: it carries a signature rule's names.
    #[error(transparent)]
    Method(Box<crate::passes::method::MethodError>),
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error(transparent)]
    Vocab(#[from] crate::vocab::VocabError),
    #[error(transparent)]
    Check(#[from] CheckError),
}

impl From<crate::passes::freeze::FreezeError> for PassError {
    fn from(error: crate::passes::freeze::FreezeError) -> PassError {
        PassError::Freeze(Box::new(error))
    }
}

impl From<crate::passes::method::MethodError> for PassError {
    fn from(error: crate::passes::method::MethodError) -> PassError {
        PassError::Method(Box::new(error))
    }
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

/// `; did you mean X?` for the names of `known` close to `name`.
fn suggest_among(known: &[String], name: &str) -> String {
    let close = crate::passes::suggest::close_words(known.iter().map(String::as_str), name);
    suggest(&close)
}

fn list_or_none(known: &[String]) -> String {
    if known.is_empty() {
        "none".into()
    } else {
        known.join(", ")
    }
}

/// A given input shape that does not fit the training tensor.
#[derive(Debug, thiserror::Error)]
#[error(
    "input {input:?} ({tensor}): shape {given:?} does not fit the training tensor's shape {training:?}: {why}"
)]
pub struct InputShapeError {
    pub input: String,
    pub tensor: String,
    pub given: Vec<i64>,
    pub training: Vec<i64>,
    pub why: String,
}
