//! The graph side of freezing: a variable node becomes a `Const` holding
//! its value, and every node its reference or resource handle flowed
//! through is told that a plain value now flows there instead.
//!
//! Planning walks the graph without changing it, so a variable that cannot
//! be frozen (something writes it, or passes its handle to a function) is
//! refused before any value is read or any node is touched.

use std::collections::HashSet;

use crate::ir::constants::int32_const;
use crate::ir::{AttrExt, DataType, Graph, IrError, Node, NodeId, TensorProto, TensorRef};
use crate::typing::base_dtype;

/// How a variable is read: through a reference or a resource handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Ref,
    Resource,
}

/// What one node reached from the variable must become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// A ref-forwarding op (`RefEnter`, `RefSwitch`, ...) becomes this value op.
    ValueOp(&'static str),
    /// Its `*_REF` type attrs become their base types; the ref flows on.
    Deref,
    /// It passed the handle on (`Enter`, `Switch`, ...); now it passes the value.
    CarryValue,
    /// `ReadVariableOp` becomes `Identity` of the value.
    ReadToIdentity,
    /// `ResourceGather` becomes a gather from the value.
    GatherFromValue,
    /// `VariableShape` becomes `Shape` of the value.
    ShapeOfValue,
}

/// The changes freezing one variable makes, found before any is made.
#[derive(Debug, Clone)]
pub struct Plan {
    variable: NodeId,
    dtype: DataType,
    steps: Vec<(NodeId, Change)>,
}

/// Why a reader of the variable keeps it from being frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub node: String,
    pub op: String,
    pub use_: &'static str,
}

/// Plans the freezing of `variable` (a value of `dtype`), or names the node
/// that needs the variable itself rather than its value. `writers` are the
/// ops whose definition takes an input by reference.
pub fn plan(
    graph: &Graph,
    variable: NodeId,
    access: Access,
    dtype: DataType,
    writers: &HashSet<&str>,
) -> Result<Plan, Blocker> {
    let mut steps = Vec::new();
    let mut seen = HashSet::from([variable]);
    let mut work = vec![variable];
    while let Some(id) = work.pop() {
        for reader in data_readers(graph, id) {
            if !seen.insert(reader) {
                continue;
            }
            let change = match access {
                Access::Ref => ref_change(graph, reader, writers)?,
                Access::Resource => handle_change(graph, reader)?,
            };
            let Some(change) = change else { continue };
            if matches!(
                change,
                Change::ValueOp(_) | Change::Deref | Change::CarryValue
            ) {
                work.push(reader);
            }
            steps.push((reader, change));
        }
    }
    Ok(Plan {
        variable,
        dtype,
        steps,
    })
}

/// Makes the planned changes, the variable a `Const` holding `value`;
/// returns the nodes added (axis constants of rewritten gathers).
pub fn apply(graph: &mut Graph, plan: &Plan, value: TensorProto) -> Result<Vec<String>, IrError> {
    make_const(graph, plan.variable, plan.dtype, value);
    let mut added = Vec::new();
    for &(id, change) in &plan.steps {
        let node = graph.node_mut(id);
        match change {
            Change::ValueOp(op) => {
                node.op = op.into();
                deref_types(node);
            }
            Change::Deref => deref_types(node),
            Change::CarryValue => resource_types_become(node, plan.dtype),
            Change::ReadToIdentity => {
                node.op = "Identity".into();
                node.attrs.remove("dtype");
                node.set_attr_type("T", plan.dtype);
            }
            Change::ShapeOfValue => {
                node.op = "Shape".into();
                node.attrs.remove("dtype");
                node.set_attr_type("T", plan.dtype);
            }
            Change::GatherFromValue => added.extend(gather_from_value(graph, id, plan.dtype)?),
        }
    }
    Ok(added)
}

/// Every (reader, slot) of any output of `id`.
fn data_readers(graph: &Graph, id: NodeId) -> Vec<NodeId> {
    graph
        .consumers(id)
        .into_iter()
        .filter(|&c| graph.data_inputs(c).iter().any(|t| t.node == id))
        .collect()
}

/// What a reader of a reference must become: nothing when it reads the
/// value (`Identity` with a base `T`, any math op).
fn ref_change(
    graph: &Graph,
    reader: NodeId,
    writers: &HashSet<&str>,
) -> Result<Option<Change>, Blocker> {
    let node = graph.node(reader);
    if let Some(value_op) = value_form_of_ref_op(&node.op) {
        return Ok(Some(Change::ValueOp(value_op)));
    }
    if node.op.starts_with("Ref") {
        let use_ = "forwards the reference in a way freezing does not rewrite";
        return Err(blocker(graph, reader, use_));
    }
    if node.any_attr_type(is_ref_type) {
        return Ok(Some(Change::Deref));
    }
    if writers.contains(node.op.as_str()) {
        return Err(blocker(
            graph,
            reader,
            "takes it by reference (to change it)",
        ));
    }
    Ok(None)
}

/// The ops that forward a reference, and the op forwarding a value.
fn value_form_of_ref_op(op: &str) -> Option<&'static str> {
    Some(match op {
        "RefEnter" => "Enter",
        "RefExit" => "Exit",
        "RefSwitch" => "Switch",
        "RefMerge" => "Merge",
        "RefIdentity" => "Identity",
        "RefNextIteration" => "NextIteration",
        _ => return None,
    })
}

/// What a reader of a resource handle must become.
fn handle_change(graph: &Graph, reader: NodeId) -> Result<Option<Change>, Blocker> {
    let node = graph.node(reader);
    let change = match node.op.as_str() {
        "ReadVariableOp" => Change::ReadToIdentity,
        "ResourceGather" => Change::GatherFromValue,
        "VariableShape" => Change::ShapeOfValue,
        "Identity" | "Enter" | "Exit" | "Switch" | "Merge" | "NextIteration"
            if node.attr_type("T").ok() == Some(DataType::DtResource) =>
        {
            Change::CarryValue
        }
        _ => {
            let use_ = "uses its handle (to change it, or inside a function)";
            return Err(blocker(graph, reader, use_));
        }
    };
    Ok(Some(change))
}

fn blocker(graph: &Graph, id: NodeId, use_: &'static str) -> Blocker {
    Blocker {
        node: graph.name(id).into(),
        op: graph.op(id).into(),
        use_,
    }
}

fn is_ref_type(dtype: DataType) -> bool {
    base_dtype(dtype) != dtype
}

/// Every type attr of `node` with its `*_REF` stripped.
fn deref_types(node: &mut Node) {
    node.map_attr_types(base_dtype);
}

/// Every `DT_RESOURCE` in a type attr of `node` becomes `dtype`.
fn resource_types_become(node: &mut Node, dtype: DataType) {
    node.map_attr_types(|t| if t == DataType::DtResource { dtype } else { t });
}

/// The variable node becomes a `Const` of the same name, device and
/// internal (`_`-prefixed) attrs, such as its colocation class.
fn make_const(graph: &mut Graph, id: NodeId, dtype: DataType, value: TensorProto) {
    let node = graph.node_mut(id);
    node.op = "Const".into();
    node.attrs.retain(|key, _| key.starts_with('_'));
    node.set_attr_type("dtype", dtype);
    node.set_attr_tensor("value", value);
}

/// `ResourceGather(handle, indices)` becomes `Gather(value, indices)`, or
/// with `batch_dims` `GatherV2(value, indices, batch_dims)`, whose axis
/// constant runs in the indices' frame (a control input from their producer),
/// so it works inside a while loop too.
fn gather_from_value(
    graph: &mut Graph,
    id: NodeId,
    dtype: DataType,
) -> Result<Option<String>, IrError> {
    let batch_dims = graph.node(id).attr_int("batch_dims").unwrap_or(0);
    let node = graph.node_mut(id);
    node.attrs.remove("dtype");
    node.set_attr_type("Tparams", dtype);
    if batch_dims == 0 {
        node.op = "Gather".into();
        node.attrs.remove("batch_dims");
        return Ok(None);
    }
    node.op = "GatherV2".into();
    node.attrs.remove("validate_indices");
    node.set_attr_type("Taxis", DataType::DtInt32);
    let device = node.device.clone();
    let name = graph.unique_name(&format!("{}/axis", graph.name(id)));
    let axis_value = i32::try_from(batch_dims).unwrap_or(0);
    let mut axis = int32_const(&name, axis_value);
    axis.device = device;
    let axis = graph.add_node(axis)?;
    if let Some(indices) = graph.data_input(id, 1) {
        graph.add_control_input(axis, indices.node);
    }
    graph.push_data_input(id, TensorRef::new(axis, 0));
    Ok(Some(name))
}
