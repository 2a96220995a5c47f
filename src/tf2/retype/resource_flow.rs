//! Which variables each resource tensor of a TF2 SavedModel carries.
//!
//! A TF2 function never names a variable: it takes its handle as a
//! `DT_RESOURCE` argument. The handles come from the graph's `VarHandleOp`
//! nodes, passed by the signatures' call nodes (`StatefulPartitionedCall`,
//! `PartitionedCall`: input *i* is the callee's input arg *i*), and from the
//! object graph, where `tf.saved_model.load` passes a concrete function's
//! `bound_inputs` as its last arguments. Inside a function a handle flows
//! through `Identity` and into nested calls. Retyping a variable means
//! retyping every read of it, so this module follows those edges to a fixed
//! point and says, for every function argument and every resource tensor,
//! which variables (by `VarHandleOp` node name) reach it.
//!
//! Control flow (`If`, `While`, `Case`) is not followed: a handle reaching
//! one is a use the retyping refuses, naming the op.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::format::proto::{FunctionDef, MetaGraphDef, NodeDef, attr_value};
use crate::ir::{
    BodyInput, InputName, format_body_input, parse_body_input, parse_input, parse_tensor_name,
};

use super::super::{KeptVariable, Tf2Error};
use super::object_wire;

/// Variables by `VarHandleOp` node name.
pub type Variables = BTreeSet<String>;

/// The ops that call a function named by their `f` attribute, passing
/// input *i* as the callee's argument *i*.
pub const CALL_OPS: [&str; 2] = ["StatefulPartitionedCall", "PartitionedCall"];

/// Where the variables reach, for one MetaGraphDef.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceFlow {
    /// Top-level graph nodes whose output 0 is a variable handle
    /// (`VarHandleOp`, `Identity` of one), with the variables it carries.
    pub graph: BTreeMap<String, Variables>,
    /// `(function, input arg index)` → the variables passed there.
    pub args: BTreeMap<(String, usize), Variables>,
    /// `function` → `{tensor reference: variables}` for every resource
    /// tensor inside it that carries a variable: its arguments by name and
    /// `Identity` outputs (`node:output:0`).
    pub tensors: BTreeMap<String, BTreeMap<String, Variables>>,
}

/// A function-body data input as the tensor it names, spelled as
/// [`format_body_input`] spells it (`node:out_arg` is `node:out_arg:0`), or
/// `None` for a control input (`^node`). An input that does not parse names
/// no tensor this module follows and is kept as written.
pub fn data_reference(input: &str) -> Option<String> {
    match parse_body_input(input) {
        Ok(BodyInput::Control { .. }) => None,
        Ok(reference) => Some(format_body_input(&reference)),
        Err(_) => Some(input.to_string()),
    }
}

/// A top-level graph data input as the tensor it names, spelled
/// `node:port` (`node` is `node:0`), or `None` for a control input
/// (`^node`). An input that does not parse names no tensor this module
/// follows and is kept as written.
pub fn graph_reference(input: &str) -> Option<String> {
    match parse_input("", input) {
        Ok(InputName::Control { .. }) => None,
        Ok(InputName::Data { node, port }) => Some(graph_output(node, port)),
        Err(_) => (!input.starts_with('^')).then(|| input.to_string()),
    }
}

/// Output `port` of top-level node `node`, with the port always spelled.
pub fn graph_output(node: &str, port: usize) -> String {
    format!("{node}:{port}")
}

/// Output `index` of output arg `arg` of body node `node`.
pub fn body_output(node: &str, arg: &str, index: usize) -> String {
    format_body_input(&BodyInput::Output { node, arg, index })
}

/// The function a call node calls, when it is one of [`CALL_OPS`].
pub fn callee(node: &NodeDef) -> Option<&str> {
    if !CALL_OPS.contains(&node.op.as_str()) {
        return None;
    }
    match node.attr.get("f")?.value.as_ref()? {
        attr_value::Value::Func(func) => Some(func.name.as_str()),
        _ => None,
    }
}

/// Follows every variable handle of `meta_graph` to the function arguments
/// and tensors it reaches. `variables` maps object-graph ids to
/// `VarHandleOp` nodes for `bound_inputs`; every `VarHandleOp` of the graph
/// is followed whether listed or not, so a function argument shared with an
/// unlisted variable is still seen.
pub fn trace(
    meta_graph: &MetaGraphDef,
    variables: &[KeptVariable],
) -> Result<ResourceFlow, Tf2Error> {
    let Some(graph_def) = meta_graph.graph_def.as_ref() else {
        return Ok(ResourceFlow::default());
    };
    let library: BTreeMap<&str, &FunctionDef> = graph_def
        .library
        .iter()
        .flat_map(|library| &library.function)
        .filter_map(|f| Some((f.signature.as_ref()?.name.as_str(), f)))
        .collect();
    let mut flow = ResourceFlow {
        graph: graph_handles(&graph_def.node),
        ..ResourceFlow::default()
    };
    let mut pending = VecDeque::new();
    let graph_tensors: BTreeMap<String, Variables> = flow
        .graph
        .iter()
        .map(|(node, vars)| (graph_output(node, 0), vars.clone()))
        .collect();
    for (callee, index, vars) in call_arguments(&graph_def.node, &graph_tensors, graph_reference) {
        add_argument(&mut flow, &mut pending, callee, index, &vars);
    }
    for (function, index, vars) in bound_arguments(meta_graph, &library, variables)? {
        add_argument(&mut flow, &mut pending, function, index, &vars);
    }
    while let Some(function_name) = pending.pop_front() {
        let Some(function) = library.get(function_name.as_str()) else {
            continue;
        };
        let tensors = function_handles(&function_name, function, &flow.args);
        for (callee, index, vars) in call_arguments(&function.node_def, &tensors, data_reference) {
            add_argument(&mut flow, &mut pending, callee, index, &vars);
        }
        flow.tensors.insert(function_name, tensors);
    }
    Ok(flow)
}

/// Records that `vars` reach argument `index` of `function`; queues the
/// function again when that is news.
fn add_argument(
    flow: &mut ResourceFlow,
    pending: &mut VecDeque<String>,
    function: String,
    index: usize,
    vars: &Variables,
) {
    let known = flow.args.entry((function.clone(), index)).or_default();
    let before = known.len();
    known.extend(vars.iter().cloned());
    if known.len() != before && !pending.contains(&function) {
        pending.push_back(function);
    }
}

/// The top-level nodes whose output is a variable handle: every
/// `VarHandleOp`, and `Identity` nodes of those, to a fixed point.
fn graph_handles(nodes: &[NodeDef]) -> BTreeMap<String, Variables> {
    let mut handles: BTreeMap<String, Variables> = nodes
        .iter()
        .filter(|n| n.op == "VarHandleOp")
        .map(|n| (n.name.clone(), Variables::from([n.name.clone()])))
        .collect();
    loop {
        let mut changed = false;
        for node in nodes.iter().filter(|n| n.op == "Identity") {
            let Some(Ok((source_node, 0))) = node.input.first().map(|i| parse_tensor_name(i))
            else {
                continue;
            };
            let Some(vars) = handles.get(source_node).cloned() else {
                continue;
            };
            let known = handles.entry(node.name.clone()).or_default();
            let before = known.len();
            known.extend(vars);
            changed |= known.len() != before;
        }
        if !changed {
            return handles;
        }
    }
}

/// The resource tensors inside `function` that carry variables, given what
/// reaches its arguments: the arguments, then `Identity` outputs of those,
/// to a fixed point (a body's nodes need not be in order).
fn function_handles(
    name: &str,
    function: &FunctionDef,
    args: &BTreeMap<(String, usize), Variables>,
) -> BTreeMap<String, Variables> {
    let mut tensors: BTreeMap<String, Variables> = BTreeMap::new();
    let input_args = function.signature.iter().flat_map(|s| &s.input_arg);
    for (index, arg) in input_args.enumerate() {
        if let Some(vars) = args.get(&(name.to_string(), index)) {
            tensors.insert(arg.name.clone(), vars.clone());
        }
    }
    loop {
        let mut changed = false;
        for node in function.node_def.iter().filter(|n| n.op == "Identity") {
            let Some(source) = node.input.first().and_then(|i| data_reference(i)) else {
                continue;
            };
            let Some(vars) = tensors.get(&source).cloned() else {
                continue;
            };
            let known = tensors
                .entry(body_output(&node.name, "output", 0))
                .or_default();
            let before = known.len();
            known.extend(vars);
            changed |= known.len() != before;
        }
        if !changed {
            return tensors;
        }
    }
}

/// `(callee, argument index, variables)` for every data input of a call
/// node that carries variables.
fn call_arguments(
    nodes: &[NodeDef],
    tensors: &BTreeMap<String, Variables>,
    reference: impl Fn(&str) -> Option<String>,
) -> Vec<(String, usize, Variables)> {
    let mut found = Vec::new();
    for node in nodes {
        let Some(callee) = callee(node) else {
            continue;
        };
        let data_inputs = node.input.iter().filter_map(|i| reference(i));
        for (index, input) in data_inputs.enumerate() {
            if let Some(vars) = tensors.get(&input) {
                found.push((callee.to_string(), index, vars.clone()));
            }
        }
    }
    found
}

/// `(function, argument index, variables)` for the object graph's
/// `bound_inputs` that are listed variables: a concrete function's last
/// arguments are its bound inputs, in order.
fn bound_arguments(
    meta_graph: &MetaGraphDef,
    library: &BTreeMap<&str, &FunctionDef>,
    variables: &[KeptVariable],
) -> Result<Vec<(String, usize, Variables)>, Tf2Error> {
    let by_object: BTreeMap<i32, &str> = variables
        .iter()
        .map(|v| (v.object_id, v.node.as_str()))
        .collect();
    let mut found = Vec::new();
    for (name, bound) in object_wire::bound_inputs(meta_graph)? {
        let Some(function) = library.get(name.as_str()) else {
            continue;
        };
        let arg_count = function.signature.as_ref().map_or(0, |s| s.input_arg.len());
        let first_bound =
            arg_count
                .checked_sub(bound.len())
                .ok_or_else(|| Tf2Error::MalformedObjectGraph {
                    what: format!("concrete function {name}"),
                    why: format!(
                        "{} bound inputs but the function has {arg_count} arguments",
                        bound.len()
                    ),
                })?;
        for (offset, object_id) in bound.iter().enumerate() {
            if let Some(node) = by_object.get(object_id) {
                let vars = Variables::from([node.to_string()]);
                found.push((name.clone(), first_bound + offset, vars));
            }
        }
    }
    Ok(found)
}
