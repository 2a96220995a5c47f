//! TF2 SavedModels re-exported lean.
//!
//! A SavedModel written by `tf.saved_model.save` or Keras `model.save()` is
//! not a graph of ops to prune: its signatures call functions
//! (`StatefulPartitionedCall`) from the graph's function library, a
//! `SavedObjectGraph` says which Python objects `tf.saved_model.load`
//! rebuilds, and `variables/` is an object-based checkpoint whose keys are
//! object paths, with its own object graph under
//! [`OBJECT_GRAPH_KEY`](crate::front::object_graph::OBJECT_GRAPH_KEY). Such a model
//! is re-exported by keeping those parts and cutting each down to what the
//! kept signatures reach, so the optimizer, its slots, metrics and training
//! functions fall away while every loader still finds what it looks for.
//!
//! The work is split in stages over [`LeanPlan`]: planning (what to keep),
//! retyping (weights stored as float16 with casts inside the functions), and
//! writing (fresh save/restore functions, `variables/` copied by byte range,
//! the object graphs rewritten).

mod error;
pub mod plan;
mod report;
pub mod retype;
pub mod write;

pub use error::Tf2Error;
pub use plan::plan_lean;
pub use report::{DroppedObjectReport, LeanReport};

use crate::format::proto::{DataType, MetaGraphDef, TrackableObjectGraph};

/// Which of the source's signatures the export keeps. The init-op entry
/// (`__saved_model_init_op`) is not a signature users call; it is kept
/// whenever the source has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SignatureChoice {
    /// Every signature of the source.
    #[default]
    All,
    /// Just these keys; a key the source lacks is an error.
    Only(Vec<String>),
}

/// What the lean export keeps of one TF2 MetaGraphDef, and what it drops.
#[derive(Debug, Clone, Default)]
pub struct LeanPlan {
    /// The MetaGraphDef cut down: the kept signatures, the graph nodes they
    /// and the kept variables need, the functions those reach, and the
    /// object graph pruned and renumbered. It has no saver: `saver_def` is
    /// cleared and the source's save/restore call nodes and their filename
    /// placeholder are gone; the writer adds its own.
    pub meta_graph: MetaGraphDef,
    /// The checkpoint's object graph cut down to the objects kept. Child
    /// names are unchanged, so the object-based keys stay valid.
    pub checkpoint_graph: TrackableObjectGraph,
    /// Every kept variable, in a stable order (the order the saver uses).
    pub variables: Vec<KeptVariable>,
    /// What was left out, for the report.
    pub dropped: DroppedParts,
    /// For each node id of the source's object graph, its id in
    /// `meta_graph.object_graph_def`, or `None` when it was dropped (to
    /// remap what else names nodes by id, e.g. `keras_metadata.pb`).
    pub object_ids: Vec<Option<i32>>,
    /// The source path (see [`DroppedObject::path`]) of each kept
    /// object-graph node, indexed by its new id.
    pub kept_object_paths: Vec<String>,
}

/// A variable the kept signatures read.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptVariable {
    /// Its `VarHandleOp` node in `meta_graph.graph_def`.
    pub node: String,
    /// Its node id in the pruned `meta_graph.object_graph_def`.
    pub object_id: i32,
    /// Its path from the root object, e.g. `layer_with_weights-0/kernel`.
    pub object_path: String,
    /// Its key in the source checkpoint
    /// (`layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`).
    pub key: String,
    /// Its dtype in the graph (the retyping stage may change what is stored).
    pub dtype: DataType,
    /// Its shape; every dimension known.
    pub shape: Vec<i64>,
}

/// What the lean export leaves out of the source MetaGraphDef.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DroppedParts {
    /// Signature keys not kept.
    pub signatures: Vec<String>,
    /// Object-graph nodes not kept, by path, with their kind and why.
    pub objects: Vec<DroppedObject>,
    /// Functions of the library no kept part reaches.
    pub functions: Vec<String>,
    /// Checkpoint keys not kept, and why (the writer adds their bytes).
    pub keys: Vec<DroppedKey>,
}

/// An object-graph node left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedObject {
    /// Its shortest path from the root (`optimizer/_variables/3`).
    pub path: String,
    /// Its kind in the SavedObjectGraph (`variable`, `function`, `user_object`...).
    pub kind: String,
    /// Why: `optimizer`, `optimizer slot`, `optimizer state`, `training step
    /// counter`, `metric`, `signature not kept`, `function not called by a
    /// kept signature`, `not reached by a kept signature` (see
    /// [`plan`]'s reasons).
    pub reason: String,
}

/// A checkpoint key left out of `variables/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedKey {
    pub key: String,
    /// Same wording as the export report's dropped-variable reason:
    /// `optimizer slot`, `optimizer state`, `metric`, `training step counter`...
    pub reason: String,
}

/// Whether `meta_graph` is TF2-style: its object graph has nodes, so
/// `tf.saved_model.load` rebuilds objects from it and its signatures call
/// functions rather than naming tensors of training ops.
pub fn has_object_graph(meta_graph: &MetaGraphDef) -> bool {
    meta_graph
        .object_graph_def
        .as_ref()
        .is_some_and(|graph| !graph.nodes.is_empty())
}
