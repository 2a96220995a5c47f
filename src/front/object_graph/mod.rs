//! The object graph of an object-based checkpoint: what `tf.train.Checkpoint`
//! and TF2 SavedModels store beside the tensors (under
//! [`OBJECT_GRAPH_KEY`]) to say which object owns each tensor. Keys in such
//! checkpoints are object paths (`model/layer_with_weights-0/kernel/
//! .ATTRIBUTES/VARIABLE_VALUE`), not variable names, so a graph's variables
//! are found through each attribute's `full_name` (the variable's name in the
//! graph that saved it).
//!
//! [`ObjectGraph::read`] decodes and checks it (every node reference in
//! range), [`ObjectGraph::object_paths`] names each object by its shortest
//! path from the root, [`ObjectGraph::roles`] finds the optimizer by
//! structure (the object holding slot variables) and what only it reaches,
//! and [`ObjectGraph::key_for_full_name`] maps a variable to its key.

mod decode;
mod error;
mod mapping;
mod paths;

pub use error::ObjectGraphError;
pub use mapping::{KeyLookup, VariableObject, explain_missing, map_variables, variable_full_name};
pub use paths::Role;

/// The bundle key of the serialized `TrackableObjectGraph` (a DT_STRING scalar).
pub use crate::format::bundle::variables::OBJECT_GRAPH_KEY;

/// The attribute name under which a variable object saves its value.
pub const VARIABLE_VALUE: &str = "VARIABLE_VALUE";

/// Index of an object in [`ObjectGraph::objects`]; the root is 0.
pub type ObjectId = usize;

/// A checked object graph: every reference names an object that exists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectGraph {
    pub objects: Vec<TrackableObject>,
}

/// One object: its named edges, the tensors it saves, and (for an
/// optimizer) the slot variables it keeps for other objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackableObject {
    pub children: Vec<Child>,
    pub attributes: Vec<Attribute>,
    pub slot_variables: Vec<SlotVariable>,
    pub registered_saver: Option<RegisteredSaver>,
    /// Whether the checkpoint holds values for it or its descendants, when recorded.
    pub has_checkpoint_values: Option<bool>,
}

/// An edge from a parent to `object`, under the parent's name for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub object: ObjectId,
    pub local_name: String,
}

/// A tensor an object saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// `VARIABLE_VALUE` for a variable; other names for other saveables.
    pub name: String,
    /// The variable's name in the graph that saved it (may be empty).
    pub full_name: String,
    /// The bundle key holding the value.
    pub checkpoint_key: String,
}

/// A slot an optimizer keeps for a variable: `slot` is the slot variable's
/// object, `original` the variable it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotVariable {
    pub original: ObjectId,
    pub slot_name: String,
    pub slot: ObjectId,
}

/// An object saved by a saver registered with TensorFlow, not by attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSaver {
    pub name: String,
    pub object_name: String,
}

#[cfg(test)]
mod tests;
