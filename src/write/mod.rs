//! Writing a serving SavedModel.

pub mod saver;
