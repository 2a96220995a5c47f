//! The save/restore subgraph a serving SavedModel carries so that the TF1
//! loader and TensorFlow Serving can fill its variables from `variables/`:
//! a filename tensor, `SaveV2` and `RestoreV2` of the checkpoint's keys,
//! assignments, and the `SaverDef` pointing at them.
//!
//! `checkpoint` holds what every saver shares: the tensors saved (key,
//! slice spec, dtype), the two ops with their constants, the `SaverDef`.
//! Two emitters place them: `graph` ([`build_saver`]) as nodes of the
//! GraphDef under a `save` scope, for the graph route's ref and resource
//! variables, stored dtypes converted; `function` ([`build_function_saver`])
//! as save and restore functions the graph calls, for the lean TF2 route's
//! resource variables, passed by handle. [`stored`] converts a variable
//! stored in another dtype than the graph's on the way out and back (the
//! graph route's); `names` keeps the savers' names clear of the graph's.

mod checkpoint;
mod function;
mod graph;
mod names;
pub(crate) mod nodes;
pub mod stored;

pub use function::{FunctionSaver, SavedHandle, TakenNames, build_function_saver};
pub use graph::{SavedVariable, SaverSubgraph, VariableKind, build_saver};
