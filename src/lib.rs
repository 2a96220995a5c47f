//! servegraph turns a TensorFlow training graph and checkpoint into a serving
//! SavedModel, without Python or a TensorFlow runtime.
//!
//! Three stages, like a compiler:
//! - [`read`]: training artifacts (GraphDef, `.meta` + TensorBundle checkpoint,
//!   SavedModel) into a [`Model`] — a [`Graph`] IR plus where each variable is
//!   stored, collections, OpDefs;
//! - [`passes`]: the [`Pipeline`] of [`Pass`]es that makes it a serving graph
//!   (inputs, training conds, dropout, batch norm, prune, verify, metadata);
//! - [`write`](mod@write): the SavedModel directory, variables copied by byte range.
//!
//! [`export_serving_model`] strings them together (see its example). Tools
//! that add their own passes call the stages one by one, and ask for the
//! same verdict the one call reports: [`dropped_variables`] and
//! [`size_verdict`]. A pass is a name and a function over the [`Model`]
//! that says what it did:
//!
//! ```
//! use servegraph::{Model, Overwrite, Pass, PassContext, PassError, PassReport};
//! use servegraph::{Pipeline, ServingSpec, StorageOptions};
//! use servegraph::{dropped_variables, read_model, size_verdict, write_saved_model};
//!
//! /// Counts the matrix products the serving graph computes.
//! struct CountMatMuls;
//!
//! impl Pass for CountMatMuls {
//!     fn name(&self) -> &'static str {
//!         "count-matmuls"
//!     }
//!
//!     fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
//!         let ids = model.graph.node_ids();
//!         let matmuls = ids.iter().filter(|id| model.graph.op(**id) == "MatMul");
//!         let mut report = PassReport::default();
//!         report.note(format!("{} MatMul", matmuls.count()));
//!         Ok(report)
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut model = read_model("testdata/fixtures/tiny_mlp", None, &[])?;
//! let spec = ServingSpec {
//!     outputs: vec!["logits=logits/BiasAdd:0".parse()?],
//!     ..ServingSpec::default()
//! };
//! let mut pipeline = Pipeline::serving(&spec);
//! pipeline.insert_after("prune", CountMatMuls)?;
//! let reports = pipeline.run(&mut model, &mut PassContext::new())?;
//! let counted = reports.iter().find(|r| r.pass == "count-matmuls");
//! // Pruned to the two dense layers of the 4-3-2 MLP.
//! assert_eq!(counted.map(|r| r.notes.clone()), Some(vec!["2 MatMul".to_string()]));
//!
//! let out = tempfile::tempdir()?;
//! let tags = ["serve".to_string()];
//! let written = write_saved_model(&model, &tags, out.path().join("m"), Overwrite::Refuse)?;
//! assert_eq!(written.variables.len(), 4);
//! let dropped = dropped_variables(&model, &written)?;
//! assert_eq!(dropped.iter().map(|v| v.key.as_str()).collect::<Vec<_>>(), ["global_step"]);
//! assert!(size_verdict(&written, &StorageOptions::default())?.assessment.under_every_limit);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/custom_pass.rs` is the same as a program.
//! [`format`](mod@format) is the layer underneath: protobuf types, text format, tensors,
//! TensorBundle checkpoints.

pub mod back;
pub mod export;
pub mod format;
pub mod front;
pub mod ir;
pub mod model;
pub mod op_kinds;
pub mod ops;
pub mod passes;
pub mod storage;
pub mod tf2;
pub mod timings;
pub mod tools;
pub mod typing;
pub mod vocab;

/// The front end (reading training runs) and the back end (writing
/// SavedModels, sizing them), also at the crate root.
pub use back::{explain, size, warmup, write};
/// The format layer's modules, also at the crate root where callers have
/// always found them.
pub use format::{bundle, limits, proto, tensor, text, varint};
pub use front::{check, object_graph, read};
/// The tools over SavedModels, also at the crate root.
pub use passes::node_explain;
pub use tools::{inspect, lint, saved_model_cli, transform, validate};

pub use error::{Error, WriteError};
pub use export::error;
pub use export::{
    DroppedVariable, ExportOptions, ExportReport, dropped_variables, export_serving_model,
    size_verdict,
};
pub use ir::Graph;
pub use model::Model;
pub use passes::{Pass, PassContext, PassError, PassReport, Pipeline, ServingSpec};
pub use read::read_model;
pub use write::saved_model::{WriteOptions, WriteReport, write_saved_model};

// Every type an `ExportOptions` field takes, so filling one needs no module paths.
pub use explain::{BaselineSpec, ExplanationOptions};
pub use export::{Detail, ExportStorage, OutputOptions, ServingOptions, SourceOptions, Variant};
pub use passes::freeze::FreezeLimits;
pub use passes::inputs::{InputSpec, OutputSpec};
pub use passes::method::ServingMethod;
pub use storage::{StorageOptions, WeightPrecision};
pub use tf2::SignatureChoice;
pub use write::atomic::Overwrite;
pub use write::progress::CopyProgress;

// The README's and the library guide's code blocks compile and run as
// doctests, so the snippets a new user copies keep working.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[doc = include_str!("../docs/library.md")]
#[cfg(doctest)]
pub struct LibraryGuideDoctests;
