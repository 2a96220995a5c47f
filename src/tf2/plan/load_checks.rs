//! What TensorFlow checks when it loads a TF2 SavedModel, checked before
//! anything is planned, so a source TensorFlow would refuse is refused here
//! rather than re-exported with exit 0: graph nodes have unique names; every function the object graph
//! names is defined, once; no function calls itself, directly or through
//! others; a concrete function's bound inputs are captured values, not
//! functions; each asset object's index is in `asset_file_def`; and each
//! signature tensor's output index is within its node's outputs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::objects::{Kind, SavedGraph};
use crate::format::proto::{FunctionDef, GraphDef, MetaGraphDef, tensor_info};
use crate::ir::FunctionIndex;
use crate::tf2::Tf2Error;

/// Every check above, in that order.
pub(super) fn check(
    source: &Path,
    meta_graph: &MetaGraphDef,
    graph_def: &GraphDef,
    saved: &SavedGraph,
) -> Result<(), Tf2Error> {
    node_names(source, graph_def)?;
    unique_functions(source, graph_def)?;
    let library = FunctionIndex::new(graph_def.library.as_ref());
    named_functions_exist(source, saved, &library)?;
    no_call_cycles(source, graph_def, &library)?;
    bound_inputs_are_values(source, saved)?;
    asset_indexes_in_range(source, meta_graph, saved)?;
    signature_output_indexes(source, meta_graph, graph_def, &library)
}

/// Every graph node has a name, and no two share one (TensorFlow's graph
/// import refuses either).
fn node_names(source: &Path, graph_def: &GraphDef) -> Result<(), Tf2Error> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(graph_def.node.len());
    for (index, node) in graph_def.node.iter().enumerate() {
        let problem = if node.name.is_empty() {
            "has no name"
        } else if !seen.insert(node.name.as_str()) {
            "repeats the name of an earlier node"
        } else {
            continue;
        };
        return Err(Tf2Error::BadNodeName {
            path: source.to_path_buf(),
            index,
            name: node.name.clone(),
            problem,
        });
    }
    Ok(())
}

/// A name defined twice must be the same definition twice (TensorFlow's
/// function library refuses a different one under a taken name).
fn unique_functions(source: &Path, graph_def: &GraphDef) -> Result<(), Tf2Error> {
    let mut seen: HashMap<&str, &FunctionDef> = HashMap::new();
    let functions = graph_def.library.iter().flat_map(|l| &l.function);
    for function in functions {
        let Some(name) = function.signature.as_ref().map(|s| s.name.as_str()) else {
            continue;
        };
        match seen.insert(name, function) {
            Some(earlier) if earlier != function => {
                return Err(Tf2Error::DuplicateFunction {
                    path: source.to_path_buf(),
                    function: name.to_string(),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Each function an object names, and each concrete function with an
/// entry in the object graph, is in the library.
fn named_functions_exist(
    source: &Path,
    saved: &SavedGraph,
    library: &FunctionIndex<'_>,
) -> Result<(), Tf2Error> {
    let by_objects = saved.nodes.iter().enumerate().flat_map(|(id, node)| {
        let referrer = format!("object graph node {id} ({})", node.kind.name());
        node.kind
            .functions()
            .into_iter()
            .map(move |f| (referrer.clone(), f))
    });
    let by_entries = saved.bound_inputs.keys().map(|name| {
        (
            "object graph's concrete_functions".to_string(),
            name.as_str(),
        )
    });
    for (referrer, function) in by_objects.chain(by_entries) {
        if !library.contains(function) {
            return Err(Tf2Error::MissingFunction {
                path: source.to_path_buf(),
                referrer,
                function: function.to_string(),
            });
        }
    }
    Ok(())
}

/// Depth-first over the library's call graph, iteratively; a function met
/// again while still on the path closes a cycle (a function calling
/// itself is the shortest).
fn no_call_cycles(
    source: &Path,
    graph_def: &GraphDef,
    library: &FunctionIndex<'_>,
) -> Result<(), Tf2Error> {
    let callees = |name: &str| -> Vec<String> {
        let Some(function) = library.get(name) else {
            return Vec::new();
        };
        let mut called: Vec<String> = function
            .node_def
            .iter()
            .flat_map(|node| library.called_by_node(node))
            .filter(|callee| library.contains(callee))
            .map(String::from)
            .collect();
        called.dedup();
        called
    };
    // 1: on the current path, 2: done.
    let mut state: BTreeMap<String, u8> = BTreeMap::new();
    let functions = graph_def.library.iter().flat_map(|l| &l.function);
    for root in functions.filter_map(|f| f.signature.as_ref().map(|s| s.name.clone())) {
        if state.contains_key(&root) {
            continue;
        }
        let mut path: Vec<(String, Vec<String>)> = vec![(root.clone(), callees(&root))];
        state.insert(root, 1);
        while let Some((_, pending)) = path.last_mut() {
            let Some(next) = pending.pop() else {
                let (done, _) = path.pop().unwrap_or_default();
                state.insert(done, 2);
                continue;
            };
            match state.get(&next) {
                Some(2) => {}
                Some(_) => return Err(cycle(source, &path, &next)),
                None => {
                    state.insert(next.clone(), 1);
                    let called = callees(&next);
                    path.push((next, called));
                }
            }
        }
    }
    Ok(())
}

/// The cycle that `path` closes by calling `again`, named from `again` on.
fn cycle(source: &Path, path: &[(String, Vec<String>)], again: &str) -> Tf2Error {
    let start = path.iter().position(|(f, _)| f == again).unwrap_or(0);
    let mut functions: Vec<String> = path[start..].iter().map(|(f, _)| f.clone()).collect();
    functions.push(again.to_string());
    Tf2Error::CallCycle {
        path: source.to_path_buf(),
        functions,
    }
}

/// A bound input is what a function captures: a variable, a resource, a
/// constant, an asset or a captured tensor, never a function or a plain object.
fn bound_inputs_are_values(source: &Path, saved: &SavedGraph) -> Result<(), Tf2Error> {
    for (function, ids) in &saved.bound_inputs {
        for &id in ids {
            let kind = saved.kind(id).map_or("missing", Kind::name);
            let value = matches!(
                saved.kind(id),
                Some(
                    Kind::Variable { .. }
                        | Kind::Resource
                        | Kind::Constant { .. }
                        | Kind::Asset { .. }
                        | Kind::CapturedTensor { .. }
                )
            );
            if !value {
                return Err(Tf2Error::BoundInputKind {
                    path: source.to_path_buf(),
                    function: function.clone(),
                    object: id,
                    kind,
                });
            }
        }
    }
    Ok(())
}

fn asset_indexes_in_range(
    source: &Path,
    meta_graph: &MetaGraphDef,
    saved: &SavedGraph,
) -> Result<(), Tf2Error> {
    let count = meta_graph.asset_file_def.len();
    for (id, node) in saved.nodes.iter().enumerate() {
        if let Kind::Asset { index } = node.kind
            && usize::try_from(index).is_ok_and(|i| i < count)
        {
            continue;
        }
        if let Kind::Asset { index } = node.kind {
            return Err(Tf2Error::AssetIndex {
                path: source.to_path_buf(),
                object: id,
                index,
                count,
            });
        }
    }
    Ok(())
}

/// Each signature tensor `node:k` whose node's output count is known
/// (a function call's `Tout`, a library function's outputs, a TensorFlow
/// op's definition) has `k` below it. A missing node is the planner's to name.
fn signature_output_indexes(
    source: &Path,
    meta_graph: &MetaGraphDef,
    graph_def: &GraphDef,
    library: &FunctionIndex<'_>,
) -> Result<(), Tf2Error> {
    let nodes: HashMap<&str, &crate::format::proto::NodeDef> = graph_def
        .node
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    // The init op's "tensor" is an operation run for its effect, named bare.
    let tensor_signatures = meta_graph
        .signature_def
        .iter()
        .filter(|(name, _)| *name != super::graph::INIT_OP_SIGNATURE);
    for (signature, def) in tensor_signatures {
        for (key, info) in def.inputs.iter().chain(&def.outputs) {
            let Some(tensor_info::Encoding::Name(tensor)) = &info.encoding else {
                continue;
            };
            let Ok((node, index)) = crate::ir::parse_tensor_name(tensor) else {
                continue;
            };
            let Some(node_def) = nodes.get(node) else {
                continue;
            };
            let Some(outputs) = output_count(node_def, library) else {
                continue;
            };
            if index >= outputs {
                return Err(Tf2Error::SignatureOutputIndex {
                    path: source.to_path_buf(),
                    place: format!("signature {signature:?}, key {key:?}"),
                    tensor: tensor.clone(),
                    outputs,
                });
            }
        }
    }
    Ok(())
}

/// How many outputs `node` has, when its op says.
fn output_count(
    node: &crate::format::proto::NodeDef,
    library: &FunctionIndex<'_>,
) -> Option<usize> {
    if let Some(function) = library.get(&node.op) {
        return function.signature.as_ref().map(|s| s.output_arg.len());
    }
    let def = crate::ops::tensorflow_op(&node.op)?;
    crate::typing::output_count(def, &node.attr).ok()
}
