//! Errors about graphs, each naming the node (and attr or input) at fault.

/// A graph that breaks the IR's invariants, or an attr that is not what the op needs.
#[derive(Debug, thiserror::Error)]
pub enum IrError {
    #[error("node {node:?} has input {input:?}, which names no node in the graph")]
    UnknownInput { node: String, input: String },
    #[error("node {node:?} has a malformed input {input:?}: {reason}")]
    MalformedInput {
        node: String,
        input: String,
        reason: String,
    },
    #[error("two nodes are named {name:?}")]
    DuplicateName { name: String },
    #[error("node name {name:?} is empty or malformed")]
    BadName { name: String },
    #[error("node {node:?} has a data input after a control input")]
    DataAfterControl { node: String },
    #[error("node {node:?} ({op}) has no attr {attr:?}")]
    MissingAttr {
        node: String,
        op: String,
        attr: String,
    },
    #[error("node {node:?} ({op}): attr {attr:?} is not {expected}")]
    AttrType {
        node: String,
        op: String,
        attr: String,
        expected: &'static str,
    },
    #[error("the graph has a cycle through node {node:?} that is not a while loop")]
    Cycle { node: String },
    #[error("node {node:?}: input slots are not contiguous (slot {slot} missing)")]
    SlotGap { node: String, slot: usize },
    #[error("inlining function {function:?} at node {call:?}: {reason}")]
    Inline {
        call: String,
        function: String,
        reason: String,
    },
    #[error("no node named {name:?}")]
    NoSuchNode { name: String },
    #[error("node {node:?}: the tensor in attr {attr:?} is malformed: {source}")]
    BadTensor {
        node: String,
        attr: String,
        #[source]
        source: crate::format::tensor::TensorError,
    },
}
