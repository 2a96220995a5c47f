//! Writing a serving SavedModel.

pub mod atomic;
mod error;
pub mod guard;
pub mod lower;
pub mod meta_graph;
pub mod op_defs;
pub mod progress;
pub mod saved_model;
pub mod saver;
pub mod streamed;

pub use error::WriteError;
/// The saver's storage conversions, at the path they had before they moved
/// into [`saver`].
pub use saver::stored;
