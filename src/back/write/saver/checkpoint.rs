//! What every saver shares, wherever its nodes live: the tensors its
//! `SaveV2` writes and its `RestoreV2` reads back (key, slice spec, dtype, in
//! one order both ops list them), those two ops with the `tensor_names` and
//! `shape_and_slices` constants they read, and the `SaverDef` pointing at
//! the saver. The emitters decide what surrounds them.

use std::collections::HashMap;

use super::nodes::{const_string_node, node, on_cpu, type_list_attr};
use crate::format::proto::saver_def::CheckpointFormatVersion;
use crate::format::proto::{DataType, NodeDef, SaverDef};

/// Where the saver's ops live, which decides how they are named and how one
/// names another's output.
pub(crate) enum Body {
    /// Nodes of the GraphDef, under a name scope (`save`).
    Graph(String),
    /// Nodes of a FunctionDef's body.
    Function,
}

impl Body {
    /// The name of the saver's node `suffix`.
    pub(crate) fn name(&self, suffix: &str) -> String {
        match self {
            Body::Graph(scope) => format!("{scope}/{suffix}"),
            Body::Function => suffix.to_string(),
        }
    }

    /// Output `index` of `node`, whose op calls that output argument `arg`:
    /// `node` or `node:index` in a graph, `node:arg:index` in a function.
    fn output(&self, node: &str, arg: &str, index: usize) -> String {
        match (self, index) {
            (Body::Graph(_), 0) => node.to_string(),
            (Body::Graph(_), _) => format!("{node}:{index}"),
            (Body::Function, _) => format!("{node}:{arg}:{index}"),
        }
    }
}

/// One tensor in the checkpoint: a variable's value, or whatever else the
/// save half writes beside it.
pub(crate) struct Saved {
    pub(crate) key: String,
    /// `""` for a whole tensor, else a piece's `shape_and_slices` spec ("50 8 0,17:-").
    pub(crate) spec: String,
    /// Its dtype in the checkpoint.
    pub(crate) dtype: DataType,
}

/// The tensors `SaveV2` and `RestoreV2` list, in the order given.
pub(crate) struct Checkpoint {
    names: Vec<Vec<u8>>,
    specs: Vec<Vec<u8>>,
    dtypes: Vec<DataType>,
    /// (key, spec) → position, for finding RestoreV2's output of a tensor.
    positions: HashMap<(String, String), usize>,
}

/// A `SaveV2` and the two constants it reads, kept apart so that an
/// emitter can place other nodes between them.
pub(crate) struct SaveOp {
    pub(crate) constants: [NodeDef; 2],
    pub(crate) op: NodeDef,
}

impl Checkpoint {
    pub(crate) fn new(tensors: &[Saved]) -> Checkpoint {
        Checkpoint {
            names: tensors.iter().map(|t| t.key.clone().into_bytes()).collect(),
            specs: tensors
                .iter()
                .map(|t| t.spec.clone().into_bytes())
                .collect(),
            dtypes: tensors.iter().map(|t| t.dtype).collect(),
            positions: tensors
                .iter()
                .enumerate()
                .map(|(i, t)| ((t.key.clone(), t.spec.clone()), i))
                .collect(),
        }
    }

    /// The `SaveV2` writing `inputs` (one per tensor, in order) to the
    /// checkpoint at `prefix`.
    pub(crate) fn save(
        &self,
        body: &Body,
        prefix: &str,
        inputs: impl IntoIterator<Item = String>,
    ) -> SaveOp {
        let constants = self.constants(body, "SaveV2");
        let inputs = self.op_inputs(body, "SaveV2", prefix).chain(inputs);
        SaveOp {
            constants,
            op: node("SaveV2", &body.name("SaveV2"), inputs)
                .attr("dtypes", type_list_attr(&self.dtypes))
                .build(),
        }
    }

    /// The `RestoreV2` reading every tensor from the checkpoint at
    /// `prefix`, after its constants, all on the CPU.
    pub(crate) fn restore(&self, body: &Body, prefix: &str) -> Vec<NodeDef> {
        let mut nodes = Vec::from(self.constants(body, "RestoreV2"));
        let inputs = self.op_inputs(body, "RestoreV2", prefix);
        nodes.push(
            node("RestoreV2", &body.name("RestoreV2"), inputs)
                .attr("dtypes", type_list_attr(&self.dtypes))
                .build(),
        );
        nodes.into_iter().map(on_cpu).collect()
    }

    /// RestoreV2's output holding the `index`th tensor.
    pub(crate) fn restored(&self, body: &Body, index: usize) -> String {
        body.output(&body.name("RestoreV2"), "tensors", index)
    }

    /// RestoreV2's output holding `key` (sliced as `spec`).
    pub(crate) fn restored_of(&self, body: &Body, key: &str, spec: &str) -> String {
        // Every tensor an emitter asks for is in the table it built.
        let index = self
            .positions
            .get(&(key.to_string(), spec.to_string()))
            .copied()
            .unwrap_or(0);
        self.restored(body, index)
    }

    /// The checkpoint prefix, then the two constants of `op`.
    fn op_inputs(&self, body: &Body, op: &str, prefix: &str) -> impl Iterator<Item = String> {
        let constant =
            |suffix: &str| body.output(&body.name(&format!("{op}/{suffix}")), "output", 0);
        [
            prefix.to_string(),
            constant("tensor_names"),
            constant("shape_and_slices"),
        ]
        .into_iter()
    }

    /// The two string constants a SaveV2 or RestoreV2 named `op` reads.
    fn constants(&self, body: &Body, op: &str) -> [NodeDef; 2] {
        let len = [self.names.len() as i64];
        let constant = |suffix: &str, values: &[Vec<u8>]| {
            let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            const_string_node(&body.name(&format!("{op}/{suffix}")), &values, &len)
        };
        [
            constant("tensor_names", &self.names),
            constant("shape_and_slices", &self.specs),
        ]
    }
}

/// The SaverDef a TF1 `Saver(sharded=False)` would record: the loaders feed
/// the checkpoint's path to `filename_node` and run `restore_op`.
pub(crate) fn saver_def(filename_node: &str, save_node: &str, restore_op: &str) -> SaverDef {
    SaverDef {
        filename_tensor_name: format!("{filename_node}:0"),
        save_tensor_name: format!("{save_node}:0"),
        restore_op_name: restore_op.to_string(),
        max_to_keep: 5,
        sharded: false,
        keep_checkpoint_every_n_hours: 10000.0,
        version: CheckpointFormatVersion::V2 as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(key: &str, spec: &str) -> Saved {
        Saved {
            key: key.into(),
            spec: spec.into(),
            dtype: DataType::DtFloat,
        }
    }

    #[test]
    fn graph_and_function_bodies_name_the_same_ops_their_own_way() {
        let checkpoint = Checkpoint::new(&[saved("a", ""), saved("b", "4 0,2")]);
        let graph = Body::Graph("save_1".into());
        assert_eq!(checkpoint.restored_of(&graph, "a", ""), "save_1/RestoreV2");
        assert_eq!(
            checkpoint.restored_of(&graph, "b", "4 0,2"),
            "save_1/RestoreV2:1"
        );
        assert_eq!(
            checkpoint.restored(&Body::Function, 0),
            "RestoreV2:tensors:0"
        );
        let save = checkpoint.save(&Body::Function, "file_prefix", ["x".to_string()]);
        assert_eq!(
            save.op.input,
            [
                "file_prefix",
                "SaveV2/tensor_names:output:0",
                "SaveV2/shape_and_slices:output:0",
                "x"
            ]
        );
        let restore = checkpoint.restore(&graph, "save_1/Const");
        assert!(restore.iter().all(|n| n.device == "/device:CPU:0"));
        assert_eq!(restore[2].input[1], "save_1/RestoreV2/tensor_names");
    }
}
