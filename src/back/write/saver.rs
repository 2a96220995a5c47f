//! Builds the save/restore subgraph of a serving SavedModel, as
//! `tf.compat.v1.train.Saver(sharded=False)` would, for ref (`VariableV2`)
//! and resource (`VarHandleOp`) variables alike.
//!
//! The loaders only run `restore_op_name` feeding `filename_tensor_name`, but
//! the TF1 Python Saver insists that the save half exists too, so both are
//! built. Works at the NodeDef level: it appends to a finished GraphDef.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use super::stored::{Storage, from_stored, to_stored};
use crate::format::proto::attr_value::{ListValue, Value};
use crate::format::proto::{self, AttrValue, DataType, NodeDef, SaverDef, TensorProto};

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
/// `existing` node names (`save`, then `save_1`, ... as TF would).
pub fn build_saver(variables: &[SavedVariable], existing: &HashSet<String>) -> SaverSubgraph {
    let scope = Scope(free_scope(existing));
    let sorted = sorted_by_key(variables);
    let (conversions, records) = save_records(&scope, &sorted);
    let table = KeyTable::of(&records);
    let mut nodes = filename_nodes(&scope);
    nodes.extend(conversions);
    nodes.extend(save_half(&scope, &table));
    nodes.extend(restore_op(&scope, &table));
    let (assignments, assign_op_of) = assignments(&scope, &sorted, &table);
    nodes.extend(assignments);
    SaverSubgraph {
        nodes,
        saver_def: saver_def(&scope),
        assign_op_of,
    }
}

/// The scope every saver node lives under.
struct Scope(String);

impl Scope {
    fn name(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.0)
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

/// One tensor SaveV2 writes and RestoreV2 reads back: a variable's value
/// in its stored dtype, or the int8 scales of one.
struct Record {
    key: String,
    spec: String,
    dtype: DataType,
    /// What SaveV2 reads for it.
    save_input: String,
}

/// Each variable's records, and the save-half nodes converting values into
/// their stored form.
fn save_records(scope: &Scope, sorted: &[&SavedVariable]) -> (Vec<NodeDef>, Vec<Record>) {
    let mut nodes = Vec::new();
    let mut records = Vec::with_capacity(sorted.len());
    for v in sorted {
        let prefix = scope.name(&format!("to_stored/{}", v.node));
        let inputs = to_stored(&prefix, &v.read_tensor, v.dtype, &v.storage);
        nodes.extend(inputs.nodes);
        records.push(Record {
            key: v.checkpoint_key.clone(),
            spec: v.slice_spec.clone(),
            dtype: v.storage.stored_dtype(v.dtype),
            save_input: inputs.value,
        });
        if let (Storage::Int8 { scales_key, .. }, Some(scales)) = (&v.storage, inputs.scales) {
            records.push(Record {
                key: scales_key.clone(),
                spec: String::new(),
                dtype: DataType::DtFloat,
                save_input: scales,
            });
        }
    }
    records.sort_by(|a, b| (&a.key, &a.spec).cmp(&(&b.key, &b.spec)));
    (nodes, records)
}

/// The `tensor_names`, `shape_and_slices` and `dtypes` both halves share,
/// and what SaveV2 reads for each.
struct KeyTable {
    names: Vec<Vec<u8>>,
    specs: Vec<Vec<u8>>,
    dtypes: Vec<DataType>,
    save_inputs: Vec<String>,
    /// (key, spec) → position, for finding RestoreV2's output of a record.
    positions: HashMap<(String, String), usize>,
}

impl KeyTable {
    fn of(records: &[Record]) -> KeyTable {
        KeyTable {
            names: records.iter().map(|r| r.key.clone().into_bytes()).collect(),
            specs: records
                .iter()
                .map(|r| r.spec.clone().into_bytes())
                .collect(),
            dtypes: records.iter().map(|r| r.dtype).collect(),
            save_inputs: records.iter().map(|r| r.save_input.clone()).collect(),
            positions: records
                .iter()
                .enumerate()
                .map(|(i, r)| ((r.key.clone(), r.spec.clone()), i))
                .collect(),
        }
    }

    /// RestoreV2's output holding `key` (sliced as `spec`).
    fn output(&self, scope: &Scope, key: &str, spec: &str) -> String {
        // Every variable's records are in the table it was built from.
        let index = self
            .positions
            .get(&(key.to_string(), spec.to_string()))
            .copied()
            .unwrap_or(0);
        match index {
            0 => scope.name("RestoreV2"),
            _ => format!("{}:{index}", scope.name("RestoreV2")),
        }
    }

    /// The two string constants a SaveV2 or RestoreV2 named `op` reads.
    fn constants(&self, scope: &Scope, op: &str) -> [NodeDef; 2] {
        let len = [self.names.len() as i64];
        [
            const_string_node(
                &scope.name(&format!("{op}/tensor_names")),
                &as_slices(&self.names),
                &len,
            ),
            const_string_node(
                &scope.name(&format!("{op}/shape_and_slices")),
                &as_slices(&self.specs),
                &len,
            ),
        ]
    }
}

fn as_slices(items: &[Vec<u8>]) -> Vec<&[u8]> {
    items.iter().map(Vec::as_slice).collect()
}

/// The checkpoint path the loaders feed: `Const` defaults to `"model"`.
fn filename_nodes(scope: &Scope) -> Vec<NodeDef> {
    let n = |suffix: &str| scope.name(suffix);
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
fn save_half(scope: &Scope, table: &KeyTable) -> Vec<NodeDef> {
    let n = |suffix: &str| scope.name(suffix);
    let mut nodes = Vec::from(table.constants(scope, "SaveV2"));
    let inputs = [
        n("Const"),
        n("SaveV2/tensor_names"),
        n("SaveV2/shape_and_slices"),
    ]
    .into_iter()
    .chain(table.save_inputs.iter().cloned());
    nodes.push(
        node("SaveV2", &n("SaveV2"), inputs)
            .attr("dtypes", type_list_attr(&table.dtypes))
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
    nodes
}

/// One RestoreV2 of every variable, placed on the CPU with its constants.
fn restore_op(scope: &Scope, table: &KeyTable) -> Vec<NodeDef> {
    let n = |suffix: &str| scope.name(suffix);
    let inputs = [
        n("Const"),
        n("RestoreV2/tensor_names"),
        n("RestoreV2/shape_and_slices"),
    ];
    let mut nodes = Vec::from(table.constants(scope, "RestoreV2"));
    nodes.push(
        node("RestoreV2", &n("RestoreV2"), inputs)
            .attr("dtypes", type_list_attr(&table.dtypes))
            .build(),
    );
    for restore_node in &mut nodes {
        restore_node.device = "/device:CPU:0".into();
    }
    nodes
}

/// One assignment per restored tensor, and the `restore_all` NoOp that runs them all.
fn assignments(
    scope: &Scope,
    sorted: &[&SavedVariable],
    table: &KeyTable,
) -> (Vec<NodeDef>, BTreeMap<String, String>) {
    let mut counters = Counters::default();
    let mut nodes = Vec::new();
    let mut assign_op_of = BTreeMap::new();
    for variable in sorted {
        let restored = restored_value(scope, table, variable, &mut nodes);
        let assign = assign_restored(scope, &mut counters, variable, restored, &mut nodes);
        assign_op_of.insert(variable.node.clone(), assign);
    }
    let mut assign_ops: Vec<&String> = assign_op_of.values().collect();
    assign_ops.sort();
    let restore_all = node(
        "NoOp",
        &scope.name("restore_all"),
        assign_ops.iter().map(|a| format!("^{a}")),
    )
    .build();
    nodes.push(restore_all);
    (nodes, assign_op_of)
}

/// The variable's value as RestoreV2 read it, converted back to its dtype
/// by nodes appended to `nodes`.
fn restored_value(
    scope: &Scope,
    table: &KeyTable,
    variable: &SavedVariable,
    nodes: &mut Vec<NodeDef>,
) -> String {
    let restored = table.output(scope, &variable.checkpoint_key, &variable.slice_spec);
    let scales = match &variable.storage {
        Storage::Int8 { scales_key, .. } => Some(table.output(scope, scales_key, "")),
        _ => None,
    };
    let prefix = scope.name(&format!("from_stored/{}", variable.node));
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
    scope: &Scope,
    counters: &mut Counters,
    variable: &SavedVariable,
    restored: String,
    nodes: &mut Vec<NodeDef>,
) -> String {
    match variable.kind {
        VariableKind::Ref => {
            let name = scope.name(&counters.next("Assign"));
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
            let identity = scope.name(&counters.next("Identity"));
            nodes.push(
                node("Identity", &identity, [restored])
                    .attr("T", type_attr(variable.dtype))
                    .build(),
            );
            let name = scope.name(&counters.next("AssignVariableOp"));
            nodes.push(
                node("AssignVariableOp", &name, [variable.node.clone(), identity])
                    .attr("dtype", type_attr(variable.dtype))
                    .build(),
            );
            name
        }
    }
}

/// The SaverDef a TF1 `Saver(sharded=False)` would record for these nodes.
fn saver_def(scope: &Scope) -> SaverDef {
    SaverDef {
        filename_tensor_name: format!("{}:0", scope.name("Const")),
        save_tensor_name: format!("{}:0", scope.name("control_dependency")),
        restore_op_name: scope.name("restore_all"),
        max_to_keep: 5,
        sharded: false,
        keep_checkpoint_every_n_hours: 10000.0,
        version: proto::saver_def::CheckpointFormatVersion::V2 as i32,
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
        value: Some(Value::List(Box::new(ListValue {
            r#type: dtypes.iter().map(|d| *d as i32).collect(),
            ..ListValue::default()
        }))),
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
                value: Some(Value::Tensor(tensor.into())),
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
