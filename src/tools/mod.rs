//! The tools over SavedModels and graphs, above the export: they read what
//! the layers below produce and report on it, and nothing below calls them.
//!
//! - [`inspect`]: `show`'s summary of a SavedModel, checkpoint or graph;
//! - [`saved_model_cli`]: `show` with saved_model_cli's flags, and `scan`;
//! - [`lint`] and [`validate`]: the rules a SavedModel must pass, and which
//!   of them run on which input;
//! - [`transform`]: the Graph Transform Tool's transforms on a GraphDef.

pub mod inspect;
pub mod lint;
pub mod saved_model_cli;
pub mod transform;
pub mod validate;
