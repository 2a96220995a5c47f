//! A [`Model`]: the graph plus everything that travels with it from the
//! training artifacts to the SavedModel — where each variable lives in the
//! checkpoint, collections, signatures, assets, op definitions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

mod kept;
pub mod method_rules;
mod signature;

pub use kept::{KeptTotals, KeptVariable, LogicalVariable, logical_variables};
pub use signature::{DEFAULT_SIGNATURE, PREDICT_METHOD, SERVE_TAG, Signature, TensorSpec};

use crate::format::proto::{CollectionDef, OpDef, SaverDef, VariableDef};
use crate::ir::Graph;

/// Where a variable's value is stored in the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CheckpointSlot {
    /// The bundle key (the full tensor's name for a piece of a partitioned variable).
    pub key: String,
    /// `""` for a whole tensor, else the `shape_and_slices` spec of the piece.
    pub slice_spec: String,
}

/// A file a lookup table reads at initialization, to ship in `assets/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The string `Const` node holding the file's path.
    pub node: String,
    /// Where the file is now.
    pub source: PathBuf,
    /// Its name inside `assets/`.
    pub filename: String,
    /// Write only its first lines (a trimmed vocabulary); `None` copies it whole.
    pub keep_lines: Option<u64>,
}

/// Why `name` cannot be a file name inside `assets/`, if it cannot: it must
/// be one plain component, so that joined onto a directory it stays there.
pub fn asset_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name == "." || name == ".." {
        return Some("it names a directory");
    }
    if name.contains('/') || name.contains('\\') {
        return Some("it contains a path separator");
    }
    if name.contains('\0') {
        return Some("it contains a NUL byte");
    }
    if std::path::Path::new(name).is_absolute() {
        return Some("it is an absolute path");
    }
    None
}

/// The graph and its companions.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub graph: Graph,
    /// The checkpoint prefix variables are read from, if the model has one.
    pub checkpoint: Option<PathBuf>,
    /// The directory relative file names in the graph are resolved against.
    pub base_dir: PathBuf,
    /// Variable node name → where its value is in the checkpoint.
    pub checkpoint_slots: BTreeMap<String, CheckpointSlot>,
    /// Checkpoint keys whose values a freeze moved into graph constants:
    /// served from the graph, so not dropped although not in `variables/`.
    pub frozen_keys: BTreeSet<String>,
    /// Variable node name → its VariableDef from the source collections.
    pub variable_defs: BTreeMap<String, VariableDef>,
    /// Names of trainable variable nodes.
    pub trainable: BTreeSet<String>,
    /// The source MetaGraphDef's collections, minus the variable ones.
    pub collections: BTreeMap<String, CollectionDef>,
    /// The training saver, if any (dropped by the metadata pass).
    pub saver_def: Option<SaverDef>,
    /// Op type → its definition, from the source's stripped op list.
    pub op_defs: BTreeMap<String, OpDef>,
    /// Signatures to write, by key.
    pub signatures: BTreeMap<String, Signature>,
    /// Table initializer ops to run after restore.
    pub table_initializers: Vec<String>,
    pub assets: Vec<Asset>,
    /// Assets a SavedModel source declares (its `asset_file_def`), already
    /// checked to be files inside its `assets/`; kept when their node is.
    pub declared_assets: Vec<Asset>,
    /// When set, every asset must resolve to a file inside this directory
    /// (a SavedModel source's `assets/`, canonical).
    pub asset_root: Option<PathBuf>,
    pub tensorflow_version: String,
    pub tensorflow_git_version: String,
    /// What lowering for saving added (the writer's lowering pass): set,
    /// the graph already reads every variable and points its assets at
    /// their files, and the writer only serialises.
    pub saving: Option<Saving>,
    /// Checkpoint key of a variable → the key of the moving average served
    /// in its place (`--moving-averages`): its bytes are written under the
    /// variable's own key. Empty: every variable serves its own value.
    pub served_averages: BTreeMap<String, String>,
    /// Checkpoint key → what the training graph used it for, found by
    /// structure (`optimizer slot`, `batch-norm moving statistic`, `weight
    /// moving average`, ...): the reason a report gives when it is left out.
    pub checkpoint_roles: BTreeMap<String, String>,
}

/// What a SavedModel needs beside the serving graph, worked out once by
/// the lowering pass: the saver's nodes (written after the graph's own),
/// and the MetaGraphDef parts that name the graph's tensors.
#[derive(Debug, Clone, Default)]
pub struct Saving {
    pub saver_nodes: Vec<crate::format::proto::NodeDef>,
    pub saver_def: Option<SaverDef>,
    /// The `variables` collection.
    pub variables: Vec<VariableDef>,
    /// Each asset's `(tensor, file name inside assets/)`.
    pub assets: Vec<(String, String)>,
    /// The op that initializes tables after restore.
    pub init_op: Option<String>,
    pub stripped_op_list: Option<OpDefList>,
    /// Each variable kept, checked against the checkpoint.
    pub kept: Vec<KeptVariable>,
}

/// The op definitions a MetaGraphDef lists.
pub type OpDefList = crate::format::proto::OpList;

impl Model {
    /// The bundle at `prefix` (this model's checkpoint) as the export reads
    /// it: each variable with a moving average served in its place reads
    /// the average's bytes ([`Model::served_averages`]).
    pub fn open_checkpoint(
        &self,
        prefix: &std::path::Path,
    ) -> Result<crate::format::bundle::BundleReader, crate::format::bundle::BundleError> {
        let mut reader = crate::format::bundle::BundleReader::open(prefix)?;
        for (key, shadow) in &self.served_averages {
            reader.alias(key, shadow)?;
        }
        Ok(reader)
    }

    /// A model around a bare graph.
    pub fn from_graph(graph: Graph) -> Model {
        Model {
            graph,
            ..Model::default()
        }
    }

    /// Moves every reader of `from` to `to`: graph consumers and signature
    /// outputs alike, so that a pass replacing a tensor never strands a
    /// signature on a node that is about to be removed.
    pub fn rewire(&mut self, from: crate::ir::TensorRef, to: crate::ir::TensorRef) -> usize {
        let moved = self.graph.rewire(from, to);
        let from_name = self.graph.tensor_name(from);
        let bare = (from.port == 0).then(|| self.graph.name(from.node).to_string());
        let to_name = self.graph.tensor_name(to);
        for signature in self.signatures.values_mut() {
            for output in signature.outputs.values_mut() {
                if output.name == from_name || Some(&output.name) == bare.as_ref() {
                    output.name = to_name.clone();
                }
            }
        }
        moved
    }

    /// The nodes every signature output is read from.
    pub fn output_nodes(&self) -> Vec<crate::ir::NodeId> {
        let mut nodes: Vec<crate::ir::NodeId> = self
            .signatures
            .values()
            .flat_map(|s| s.outputs.values())
            .filter_map(|t| self.graph.tensor(&t.name).ok().map(|t| t.node))
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }
}
