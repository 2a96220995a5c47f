//! Writing a serving SavedModel.

pub mod atomic;
pub mod meta_graph;
pub mod saver;
