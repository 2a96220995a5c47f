//! Graph passes that turn a training graph into a serving graph.

pub mod training_ops;
