//! The graph IR every pass works on.
//!
//! Invariants (what a pass may assume, and must keep):
//! - A [`Graph`] is a `petgraph` `StableDiGraph<Node, Edge>` plus a name index.
//!   Node names are unique and are a node's identity; a [`NodeId`] is only a
//!   handle valid until that node is removed (petgraph may reuse the slot for a
//!   later node), so never keep one across passes — keep the name.
//! - An edge runs from producer to consumer. [`Edge::Data`] carries the
//!   producer's output port and the consumer's input slot: NodeDef input
//!   `"x:2"` at position 1 is `Data { src_port: 2, dst_slot: 1 }`. The data
//!   slots of a node are exactly `0..n` with no gaps and no duplicates.
//!   [`Edge::Control`] is a `"^x"` input: the consumer runs after the producer.
//! - Control inputs keep their order (`Node::control_order`), so GraphDef →
//!   Graph → GraphDef is lossless: node order, input order, attrs, devices,
//!   debug info, full types, the function library, versions and debug info.
//! - Cycles exist only through `NextIteration` → `Merge` edges of TF1 while
//!   loops; [`Graph::topological_order`] treats those as back edges.
//! - Whatever servegraph does not understand (unknown ops, attrs, functions)
//!   passes through untouched.

mod attrs;
pub mod constants;
mod convert;
mod error;
pub mod function_body;
mod graph;
pub mod inline;
mod input_name;
mod library;
mod print;
mod undecoded;

/// The IR's dtype is TensorFlow's own enum: every stage names dtypes the way
/// the files do.
pub use crate::format::proto::DataType;
/// A constant's value is TensorFlow's own tensor message, handed from the
/// checkpoint reader to a `Const` node's `value` attr without decoding.
pub use crate::format::proto::TensorProto;
pub use attrs::{AttrExt, NestedAttrs, check_tensor_attrs, nested_attrs};
pub use convert::ResolvedInput;
pub use error::IrError;
pub use graph::{Edge, Graph, Node, NodeId, TensorRef};
pub use input_name::{
    BodyInput, InputName, MalformedBodyInput, format_body_input, format_input, node_of,
    parse_body_input, parse_input, parse_tensor_name,
};
pub use library::{CalledFrom, FunctionIndex, Gradients, functions_in_attrs};
pub use undecoded::{PendingNames, UndecodedNames};

/// Frees `value` on a thread of its own: a large graph's nodes take as long
/// to free, one allocation at a time, as a pass takes to run, and nothing
/// waits on their memory. Freed here when no thread can be started.
pub fn release<T: Send + 'static>(value: T) {
    let freeing = std::thread::Builder::new().name("release".into());
    drop(freeing.spawn(move || drop(value)));
}
