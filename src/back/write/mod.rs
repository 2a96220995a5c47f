//! Writing a serving SavedModel.

pub mod atomic;
mod error;
pub mod guard;
pub mod meta_graph;
pub mod op_defs;
pub mod progress;
pub mod saved_model;
pub mod saver;
pub mod stored;

pub use error::WriteError;
