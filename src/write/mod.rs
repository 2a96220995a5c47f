//! Writing a serving SavedModel.

pub mod atomic;
pub mod saver;
