//! servegraph turns a TensorFlow training graph and checkpoint into a serving
//! SavedModel, without Python or a TensorFlow runtime.
//!
//! Three stages, like a compiler:
//! - [`read`]: training artifacts (GraphDef, `.meta` + TensorBundle checkpoint,
//!   SavedModel) into a [`Model`] — a [`Graph`] IR plus where each variable is
//!   stored, collections, OpDefs;
//! - [`passes`]: the [`Pipeline`] of [`Pass`]es that makes it a serving graph
//!   (inputs, training conds, dropout, batch norm, prune, verify, metadata);
//! - [`write`]: the SavedModel directory, variables copied by byte range.
//!
//! [`export_serving_model`] strings them together; tools that add their own
//! passes call the stages one by one (see `examples/custom_pass.rs`).
//! [`bundle`], [`text`] and [`tensor`] are the format layers underneath.

pub mod bundle;
pub mod check;
pub mod error;
pub mod explain;
pub mod export;
pub mod inspect;
pub mod ir;
pub mod limits;
pub mod model;
pub mod object_graph;
pub mod op_kinds;
pub mod ops;
pub mod passes;
pub mod proto;
pub mod read;
pub mod saved_model_cli;
pub mod size;
pub mod storage;
pub mod tensor;
pub mod text;
pub mod timings;
pub mod transform;
pub mod typing;
pub mod validate;
pub mod varint;
pub mod vocab;
pub mod warmup;
pub mod write;

pub use error::{Error, WriteError};
pub use export::{ExportOptions, ExportReport, export_serving_model};
pub use ir::Graph;
pub use model::Model;
pub use passes::{Pass, PassContext, PassReport, Pipeline};
