//! The saver of the graph route: the nodes
//! `tf.compat.v1.train.Saver(sharded=False)` would add under a `save` scope,
//! for ref (`VariableV2`) and resource (`VarHandleOp`) variables alike,
//! appended to a finished GraphDef.
//!
//! The loaders only run `restore_op_name` feeding `filename_tensor_name`, but
//! the TF1 Python Saver insists that the save half exists too, so both are
//! built. A variable stored in another dtype than the graph's is converted
//! on the way out and back (see [`stored`](super::stored)).

use std::collections::{BTreeMap, HashSet};

use super::checkpoint::{Body, Checkpoint, Saved, saver_def};
use super::names::{Counters, free_scope};
use super::nodes::{bool_attr, const_string_node, node, shape_attr, type_attr};
use super::stored::{Storage, from_stored, to_stored};
use crate::format::proto::{DataType, NodeDef, SaverDef};

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
    /// How the bundle stores it (converted on save, converted back on restore).
    pub storage: Storage,
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
/// `existing` node names (`save`, then `save_1`, ... as TF would): owned
/// or borrowed, so a large graph's names need not be copied to be asked.
pub fn build_saver<S: AsRef<str>>(
    variables: &[SavedVariable],
    existing: &HashSet<S>,
) -> SaverSubgraph {
    let body = Body::Graph(free_scope(existing));
    let sorted = sorted_by_key(variables);
    let (conversions, records) = save_records(&body, &sorted);
    let (tensors, save_inputs): (Vec<Saved>, Vec<String>) = records.into_iter().unzip();
    let checkpoint = Checkpoint::new(&tensors);
    let filename = body.name("Const");
    let mut nodes = filename_nodes(&body);
    nodes.extend(conversions);
    nodes.extend(save_half(&body, &checkpoint, save_inputs));
    nodes.extend(checkpoint.restore(&body, &filename));
    let (assignments, assign_op_of) = assignments(&body, &sorted, &checkpoint);
    nodes.extend(assignments);
    SaverSubgraph {
        nodes,
        saver_def: saver_def(
            &filename,
            &body.name("control_dependency"),
            &body.name("restore_all"),
        ),
        assign_op_of,
    }
}

/// Variables in the order SaveV2 and RestoreV2 list them: by key, then slice.
fn sorted_by_key(variables: &[SavedVariable]) -> Vec<&SavedVariable> {
    let mut sorted: Vec<&SavedVariable> = variables.iter().collect();
    sorted.sort_by(|a, b| {
        (a.checkpoint_key.as_str(), a.slice_spec.as_str())
            .cmp(&(b.checkpoint_key.as_str(), b.slice_spec.as_str()))
    });
    sorted
}

/// Each variable's tensors in the checkpoint (its value in its stored
/// dtype, and the int8 scales of one) with what SaveV2 reads for each, in
/// key order; and the save-half nodes converting values into their stored
/// form.
fn save_records(body: &Body, sorted: &[&SavedVariable]) -> (Vec<NodeDef>, Vec<(Saved, String)>) {
    let mut nodes = Vec::new();
    let mut records = Vec::with_capacity(sorted.len());
    for v in sorted {
        let prefix = body.name(&format!("to_stored/{}", v.node));
        let inputs = to_stored(&prefix, &v.read_tensor, v.dtype, &v.storage);
        nodes.extend(inputs.nodes);
        let value = Saved {
            key: v.checkpoint_key.clone(),
            spec: v.slice_spec.clone(),
            dtype: v.storage.stored_dtype(v.dtype),
        };
        records.push((value, inputs.value));
        if let (Storage::Int8 { scales_key, .. }, Some(scales)) = (&v.storage, inputs.scales) {
            let scales_tensor = Saved {
                key: scales_key.clone(),
                spec: String::new(),
                dtype: DataType::DtFloat,
            };
            records.push((scales_tensor, scales));
        }
    }
    records.sort_by(|(a, _), (b, _)| (&a.key, &a.spec).cmp(&(&b.key, &b.spec)));
    (nodes, records)
}

/// The checkpoint path the loaders feed: `Const` defaults to `"model"`.
fn filename_nodes(body: &Body) -> Vec<NodeDef> {
    let n = |suffix: &str| body.name(suffix);
    vec![
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
    ]
}

/// SaveV2 of every variable, then an Identity of the prefix that depends on it.
fn save_half(body: &Body, checkpoint: &Checkpoint, save_inputs: Vec<String>) -> Vec<NodeDef> {
    let filename = body.name("Const");
    let save = checkpoint.save(body, &filename, save_inputs);
    let mut nodes = Vec::from(save.constants);
    nodes.push(save.op);
    nodes.push(
        node(
            "Identity",
            &body.name("control_dependency"),
            [filename, format!("^{}", body.name("SaveV2"))],
        )
        .attr("T", type_attr(DataType::DtString))
        .build(),
    );
    nodes
}

/// One assignment per restored tensor, and the `restore_all` NoOp that runs them all.
fn assignments(
    body: &Body,
    sorted: &[&SavedVariable],
    checkpoint: &Checkpoint,
) -> (Vec<NodeDef>, BTreeMap<String, String>) {
    let mut counters = Counters::default();
    let mut nodes = Vec::new();
    let mut assign_op_of = BTreeMap::new();
    for variable in sorted {
        let restored = restored_value(body, checkpoint, variable, &mut nodes);
        let assign = assign_restored(body, &mut counters, variable, restored, &mut nodes);
        assign_op_of.insert(variable.node.clone(), assign);
    }
    let mut assign_ops: Vec<&String> = assign_op_of.values().collect();
    assign_ops.sort();
    let restore_all = node(
        "NoOp",
        &body.name("restore_all"),
        assign_ops.iter().map(|a| format!("^{a}")),
    )
    .build();
    nodes.push(restore_all);
    (nodes, assign_op_of)
}

/// The variable's value as RestoreV2 read it, converted back to its dtype
/// by nodes appended to `nodes`.
fn restored_value(
    body: &Body,
    checkpoint: &Checkpoint,
    variable: &SavedVariable,
    nodes: &mut Vec<NodeDef>,
) -> String {
    let restored = checkpoint.restored_of(body, &variable.checkpoint_key, &variable.slice_spec);
    let scales = match &variable.storage {
        Storage::Int8 { scales_key, .. } => Some(checkpoint.restored_of(body, scales_key, "")),
        _ => None,
    };
    let prefix = body.name(&format!("from_stored/{}", variable.node));
    let (converting, value) = from_stored(
        &prefix,
        &restored,
        scales.as_deref(),
        variable.dtype,
        &variable.storage,
    );
    nodes.extend(converting);
    value
}

/// Appends the nodes that assign `restored` to `variable`; returns the assigning op.
fn assign_restored(
    body: &Body,
    counters: &mut Counters,
    variable: &SavedVariable,
    restored: String,
    nodes: &mut Vec<NodeDef>,
) -> String {
    match variable.kind {
        VariableKind::Ref => {
            let name = body.name(&counters.next("Assign"));
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
            let identity = body.name(&counters.next("Identity"));
            nodes.push(
                node("Identity", &identity, [restored])
                    .attr("T", type_attr(variable.dtype))
                    .build(),
            );
            let name = body.name(&counters.next("AssignVariableOp"));
            nodes.push(
                node("AssignVariableOp", &name, [variable.node.clone(), identity])
                    .attr("dtype", type_attr(variable.dtype))
                    .build(),
            );
            name
        }
    }
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
            storage: Storage::AsIs,
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
        let saver = build_saver::<String>(&vars, &HashSet::new());
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
