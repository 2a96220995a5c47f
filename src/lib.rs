//! servegraph turns a TensorFlow training graph and checkpoint into a serving
//! SavedModel, without Python or a TensorFlow runtime.

pub mod bundle;
pub mod error;
pub mod export;
pub mod inspect;
pub mod ir;
pub mod model;
pub mod passes;
pub mod proto;
pub mod read;
pub mod tensor;
pub mod text;
pub mod typing;
pub mod validate;
pub mod write;

pub use error::{Error, WriteError};
pub use export::{ExportOptions, ExportReport, export_serving_model};
pub use ir::Graph;
pub use model::Model;
pub use passes::{Pass, PassContext, PassReport, Pipeline};
