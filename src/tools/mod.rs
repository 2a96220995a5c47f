//! The tools over SavedModels and graphs, above the export: they read what
//! the layers below produce and report on it, and nothing below calls them.
//!
//! - [`inspect`]: `show`'s summary of a SavedModel, checkpoint or graph;
//! - [`saved_model_cli`]: `show` with saved_model_cli's flags, and `scan`;
//! - [`lint`] and [`validate`]: the rules a SavedModel must pass, and which
//!   of them run on which input;
//! - [`transform`]: the Graph Transform Tool's transforms on a GraphDef;
//! - [`explain`]: AI Explanations' metadata for a served signature;
//! - [`node_explain`]: why each node of an export was removed, rewired or kept;
//! - [`warmup`]: TensorFlow Serving warm-up records from a predict request.

pub mod explain;
pub mod inspect;
pub mod lint;
pub mod node_explain;
pub mod saved_model_cli;
pub mod transform;
pub mod validate;
pub mod warmup;
