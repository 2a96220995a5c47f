//! Builds the save/restore subgraph of a serving SavedModel, as
//! `tf.compat.v1.train.Saver(sharded=False)` would, for ref (`VariableV2`)
//! and resource (`VarHandleOp`) variables alike.
//!
//! The loaders only run `restore_op_name` feeding `filename_tensor_name`, but
//! the TF1 Python Saver insists that the save half exists too, so both are
//! built. Works at the NodeDef level: it appends to a finished GraphDef.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;

use crate::proto::attr_value::{ListValue, Value};
use crate::proto::{self, AttrValue, DataType, NodeDef, SaverDef, TensorProto};

/// How a variable holds its value in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableKind {
    /// A TF1 reference variable (`VariableV2`), assigned with `Assign`.
    Ref,
    /// A resource variable (`VarHandleOp`), assigned with `AssignVariableOp`.
    Resource,
}

/// One variable the restore subgraph fills from the `variables/` bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedVariable {
    /// The variable node (`VariableV2` or `VarHandleOp`).
    pub node: String,
    pub kind: VariableKind,
    /// The base dtype (never a `_REF` type).
    pub dtype: DataType,
    /// The key in the bundle: the whole tensor's name for a partitioned piece.
    pub checkpoint_key: String,
    /// `""` for a whole tensor, else the piece's `shape_and_slices` spec ("50 8 0,17:-").
    pub slice_spec: String,
    /// The tensor SaveV2 reads: the variable itself (ref) or a `ReadVariableOp` of it (resource).
    pub read_tensor: String,
}

/// The nodes to append and the SaverDef that points at them.
#[derive(Debug, Clone, PartialEq)]
pub struct SaverSubgraph {
    pub nodes: Vec<NodeDef>,
    pub saver_def: SaverDef,
    /// Variable node name → the op that assigns its restored value.
    pub assign_op_of: BTreeMap<String, String>,
}

/// Builds the subgraph under a `save` scope that does not collide with
/// `existing` node names (`save`, then `save_1`, ... as TF would).
pub fn build_saver(variables: &[SavedVariable], existing: &HashSet<String>) -> SaverSubgraph {
    let scope = free_scope(existing);
    let mut sorted: Vec<&SavedVariable> = variables.iter().collect();
    sorted.sort_by(|a, b| {
        (a.checkpoint_key.as_str(), a.slice_spec.as_str())
            .cmp(&(b.checkpoint_key.as_str(), b.slice_spec.as_str()))
    });
    let names: Vec<&str> = sorted.iter().map(|v| v.checkpoint_key.as_str()).collect();
    let specs: Vec<&str> = sorted.iter().map(|v| v.slice_spec.as_str()).collect();
    let dtypes: Vec<DataType> = sorted.iter().map(|v| v.dtype).collect();
    let n = |suffix: &str| format!("{scope}/{suffix}");

    let mut nodes = vec![
        const_string_node(&n("filename/input"), &[b"model"], &[]),
        node(
            "PlaceholderWithDefault",
            &n("filename"),
            [n("filename/input")],
        )
        .attr("dtype", type_attr(DataType::DtString))
        .attr("shape", shape_attr(&[]))
        .build(),
        node("PlaceholderWithDefault", &n("Const"), [n("filename")])
            .attr("dtype", type_attr(DataType::DtString))
            .attr("shape", shape_attr(&[]))
            .build(),
    ];
    let len = [names.len() as i64];
    let as_bytes =
        |items: &[&str]| -> Vec<Vec<u8>> { items.iter().map(|s| s.as_bytes().to_vec()).collect() };
    let name_bytes = as_bytes(&names);
    let spec_bytes = as_bytes(&specs);
    let name_refs: Vec<&[u8]> = name_bytes.iter().map(Vec::as_slice).collect();
    let spec_refs: Vec<&[u8]> = spec_bytes.iter().map(Vec::as_slice).collect();

    // Save half: SaveV2 then an Identity of the prefix that depends on it.
    nodes.push(const_string_node(
        &n("SaveV2/tensor_names"),
        &name_refs,
        &len,
    ));
    nodes.push(const_string_node(
        &n("SaveV2/shape_and_slices"),
        &spec_refs,
        &len,
    ));
    let save_inputs = [
        n("Const"),
        n("SaveV2/tensor_names"),
        n("SaveV2/shape_and_slices"),
    ]
    .into_iter()
    .chain(sorted.iter().map(|v| v.read_tensor.clone()));
    nodes.push(
        node("SaveV2", &n("SaveV2"), save_inputs)
            .attr("dtypes", type_list_attr(&dtypes))
            .build(),
    );
    nodes.push(
        node(
            "Identity",
            &n("control_dependency"),
            [n("Const"), format!("^{}", n("SaveV2"))],
        )
        .attr("T", type_attr(DataType::DtString))
        .build(),
    );

    // Restore half: one RestoreV2 on the CPU, then one assignment per variable.
    let cpu = "/device:CPU:0";
    let mut restore_names = const_string_node(&n("RestoreV2/tensor_names"), &name_refs, &len);
    restore_names.device = cpu.into();
    let mut restore_specs = const_string_node(&n("RestoreV2/shape_and_slices"), &spec_refs, &len);
    restore_specs.device = cpu.into();
    nodes.push(restore_names);
    nodes.push(restore_specs);
    let mut restore = node(
        "RestoreV2",
        &n("RestoreV2"),
        [
            n("Const"),
            n("RestoreV2/tensor_names"),
            n("RestoreV2/shape_and_slices"),
        ],
    )
    .attr("dtypes", type_list_attr(&dtypes))
    .build();
    restore.device = cpu.into();
    nodes.push(restore);

    let mut counters = Counters::default();
    let mut assign_ops = Vec::with_capacity(sorted.len());
    let mut assign_op_of = BTreeMap::new();
    for (index, variable) in sorted.iter().enumerate() {
        let restored = if index == 0 {
            n("RestoreV2")
        } else {
            format!("{}:{index}", n("RestoreV2"))
        };
        let assign = match variable.kind {
            VariableKind::Ref => {
                let name = n(&counters.next("Assign"));
                nodes.push(
                    node("Assign", &name, [variable.node.clone(), restored])
                        .attr("T", type_attr(variable.dtype))
                        .attr("use_locking", bool_attr(true))
                        .attr("validate_shape", bool_attr(true))
                        .build(),
                );
                name
            }
            VariableKind::Resource => {
                let identity = n(&counters.next("Identity"));
                nodes.push(
                    node("Identity", &identity, [restored])
                        .attr("T", type_attr(variable.dtype))
                        .build(),
                );
                let name = n(&counters.next("AssignVariableOp"));
                nodes.push(
                    node("AssignVariableOp", &name, [variable.node.clone(), identity])
                        .attr("dtype", type_attr(variable.dtype))
                        .build(),
                );
                name
            }
        };
        assign_op_of.insert(variable.node.clone(), assign.clone());
        assign_ops.push(assign);
    }
    assign_ops.sort();
    nodes.push(
        node(
            "NoOp",
            &n("restore_all"),
            assign_ops.iter().map(|a| format!("^{a}")),
        )
        .build(),
    );

    let saver_def = SaverDef {
        filename_tensor_name: format!("{}:0", n("Const")),
        save_tensor_name: format!("{}:0", n("control_dependency")),
        restore_op_name: n("restore_all"),
        max_to_keep: 5,
        sharded: false,
        keep_checkpoint_every_n_hours: 10000.0,
        version: proto::saver_def::CheckpointFormatVersion::V2 as i32,
    };
    SaverSubgraph {
        nodes,
        saver_def,
        assign_op_of,
    }
}

/// `save`, or `save_1`, `save_2`, ... when a node already lives under that scope.
fn free_scope(existing: &HashSet<String>) -> String {
    let taken = |scope: &str| {
        existing.iter().any(|name| {
            name == scope || name.strip_prefix(scope).is_some_and(|r| r.starts_with('/'))
        })
    };
    let mut scope = "save".to_string();
    let mut suffix = 0;
    while taken(&scope) {
        suffix += 1;
        scope = format!("save_{suffix}");
    }
    scope
}

/// TF's name uniquifier: `X`, `X_1`, `X_2`, ... counted per base name.
#[derive(Default)]
struct Counters(BTreeMap<&'static str, usize>);

impl Counters {
    fn next(&mut self, base: &'static str) -> String {
        let count = self.0.entry(base).or_insert(0);
        let name = if *count == 0 {
            base.to_string()
        } else {
            format!("{base}_{count}")
        };
        *count += 1;
        name
    }
}

/// A small NodeDef builder, so the table above reads like TF's node listing.
pub(crate) struct NodeBuilder(NodeDef);

pub(crate) fn node<I, S>(op: &str, name: &str, inputs: I) -> NodeBuilder
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    NodeBuilder(NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.into_iter().map(Into::into).collect(),
        ..NodeDef::default()
    })
}

impl NodeBuilder {
    pub(crate) fn attr(mut self, key: &str, value: AttrValue) -> Self {
        self.0.attr.insert(key.into(), value);
        self
    }

    pub(crate) fn build(self) -> NodeDef {
        self.0
    }
}

pub(crate) fn type_attr(dtype: DataType) -> AttrValue {
    AttrValue {
        value: Some(Value::Type(dtype as i32)),
    }
}

pub(crate) fn bool_attr(value: bool) -> AttrValue {
    AttrValue {
        value: Some(Value::B(value)),
    }
}

pub(crate) fn type_list_attr(dtypes: &[DataType]) -> AttrValue {
    AttrValue {
        value: Some(Value::List(ListValue {
            r#type: dtypes.iter().map(|d| *d as i32).collect(),
            ..ListValue::default()
        })),
    }
}

pub(crate) fn shape_attr(dims: &[i64]) -> AttrValue {
    AttrValue {
        value: Some(Value::Shape(crate::typing::shape_proto(dims))),
    }
}

/// A `Const` of dtype string holding `values` with shape `dims` (scalar when empty).
pub(crate) fn const_string_node(name: &str, values: &[&[u8]], dims: &[i64]) -> NodeDef {
    let tensor = TensorProto {
        dtype: DataType::DtString as i32,
        tensor_shape: Some(crate::typing::shape_proto(dims)),
        string_val: values.iter().map(|v| Bytes::copy_from_slice(v)).collect(),
        ..TensorProto::default()
    };
    node("Const", name, std::iter::empty::<String>())
        .attr("dtype", type_attr(DataType::DtString))
        .attr(
            "value",
            AttrValue {
                value: Some(Value::Tensor(tensor)),
            },
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(node: &str, kind: VariableKind) -> SavedVariable {
        SavedVariable {
            node: node.into(),
            kind,
            dtype: DataType::DtFloat,
            checkpoint_key: node.into(),
            slice_spec: String::new(),
            read_tensor: match kind {
                VariableKind::Ref => node.into(),
                VariableKind::Resource => format!("{node}/Read/ReadVariableOp"),
            },
        }
    }

    fn find<'a>(nodes: &'a [NodeDef], name: &str) -> &'a NodeDef {
        nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    #[test]
    fn restores_ref_and_resource_variables_in_key_order() {
        let vars = [
            variable("w", VariableKind::Resource),
            variable("b", VariableKind::Ref),
        ];
        let saver = build_saver(&vars, &HashSet::new());
        // Sorted by key: b (ref) is output 0, w (resource) output 1.
        let assign = find(&saver.nodes, "save/Assign");
        assert_eq!(assign.input, ["b", "save/RestoreV2"]);
        let identity = find(&saver.nodes, "save/Identity");
        assert_eq!(identity.input, ["save/RestoreV2:1"]);
        let assign_var = find(&saver.nodes, "save/AssignVariableOp");
        assert_eq!(assign_var.input, ["w", "save/Identity"]);
        let restore_all = find(&saver.nodes, "save/restore_all");
        assert_eq!(
            restore_all.input,
            ["^save/Assign", "^save/AssignVariableOp"]
        );
        let save = find(&saver.nodes, "save/SaveV2");
        assert_eq!(save.input[3..], ["b", "w/Read/ReadVariableOp"]);
        assert_eq!(saver.saver_def.filename_tensor_name, "save/Const:0");
        assert_eq!(saver.saver_def.restore_op_name, "save/restore_all");
        assert_eq!(saver.assign_op_of["w"], "save/AssignVariableOp");
    }

    #[test]
    fn avoids_a_save_scope_already_in_the_graph() {
        let existing: HashSet<String> = ["save/Const".to_string(), "save_1".to_string()].into();
        let saver = build_saver(&[variable("v", VariableKind::Ref)], &existing);
        assert_eq!(saver.saver_def.restore_op_name, "save_2/restore_all");
    }
}
