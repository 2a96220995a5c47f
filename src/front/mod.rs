//! The front end: training runs read into the IR, and checked.
//!
//! - [`read`]: GraphDefs, `.meta` + TensorBundle checkpoints, Estimator
//!   model directories and SavedModels into a [`Model`](crate::Model);
//! - [`object_graph`]: the object graph of object-based (TF2) checkpoints:
//!   object paths, optimizer objects found by structure, variable name →
//!   checkpoint key;
//! - [`check`]: whether what was read is well-formed enough to export (ops
//!   exist, inputs and signature tensors name real outputs), checked before
//!   any pass runs.

pub mod check;
pub mod object_graph;
pub mod read;
