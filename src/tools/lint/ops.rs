//! Ops that have no place in a serving graph: training-only ops, Python
//! function ops (TensorFlow Serving has no Python to call), and the ops of
//! `saved_model_cli scan`'s denylist (file reads and writes, printing).
//! Each node is reported by one rule: the denylist first, then Python ops,
//! then training-only ops.

use super::init::init_op_nodes;
use super::{Findings, Rule};
use crate::ir::Graph;
use crate::ops::training::{TrainingCategory, training_category};
use std::collections::HashSet;

use prost::Message;

use crate::format::proto::collection_def::Kind;
use crate::format::proto::{GraphDef, MetaGraphDef, SaverDef, VariableDef};
use crate::ir::node_of;
use crate::tools::saved_model_cli::{DEFAULT_DENYLIST, PYTHON_OPS};

/// `denylisted-op`: a `ReadFile`, `WriteFile` or `PrintV2` in the graph or
/// a library function. They run, but touch the server's files or logs, so
/// `saved_model_cli scan` flags them; a warning.
pub fn denylisted_ops(graph: &GraphDef, findings: &mut Findings) {
    for (function, node, op) in every_node(graph) {
        if DEFAULT_DENYLIST.contains(&op) {
            findings.warning(
                Rule::DenylistedOp,
                Some(node),
                format!(
                    "node {node:?}{} is a {op}, on saved_model_cli scan's denylist: it touches the server's files or logs",
                    place(function)
                ),
            );
        }
    }
}

/// `python-op`: a `PyFunc`, `PyFuncStateless` or `EagerPyFunc` calls back
/// into the Python process that built the graph, which a server lacks.
pub fn python_ops(graph: &GraphDef, findings: &mut Findings) {
    for (function, node, op) in every_node(graph) {
        if PYTHON_OPS.contains(&op) {
            findings.error(
                Rule::PythonOp,
                Some(node),
                format!(
                    "node {node:?}{} is a {op}: it calls Python, which TensorFlow Serving cannot run",
                    place(function)
                ),
            );
        }
    }
}

/// `training-op`: no training-only op in the graph outside a saver (the
/// saver's `SaveV2`/`RestoreV2` and assigns are what serving restores
/// variables with) and other than a variable's initializer (which a loader
/// never runs once the variable is restored) or an assignment the init op
/// runs at load (a TF2 SavedModel assigns its asset-path variables there,
/// from the placeholder the loader feeds each asset's path to).
pub fn training_ops(graph: &Graph, meta: Option<&MetaGraphDef>, findings: &mut Findings) {
    let scopes = saver_scopes(graph, meta.and_then(|m| m.saver_def.as_ref()));
    let initializers = meta.map(variable_initializers).unwrap_or_default();
    let run_at_load =
        graph.reachable_backwards(meta.map(|m| init_op_nodes(graph, m)).unwrap_or_default());
    for id in graph.node_ids() {
        let (name, op) = (graph.name(id), graph.op(id));
        let loads = run_at_load.contains(&id)
            && training_category(op) == Some(TrainingCategory::VariableUpdate);
        let in_saver = loads
            || scopes.iter().any(|scope| name.starts_with(scope))
            || initializers.contains(name);
        let reported_elsewhere = DEFAULT_DENYLIST.contains(&op) || PYTHON_OPS.contains(&op);
        if let (false, false, Some(category)) =
            (in_saver, reported_elsewhere, training_category(op))
        {
            findings.error(
                Rule::TrainingOp,
                Some(name),
                format!("training-only node {name:?} ({op}, {category})"),
            );
        }
    }
}

/// The name scopes (`"save/"`) of the saver: that of the saver_def's
/// restore op, and each scope holding a save or restore op.
fn saver_scopes(graph: &Graph, saver: Option<&SaverDef>) -> Vec<String> {
    let restore_op = saver.map(|s| s.restore_op_name.as_str());
    let saver_nodes = graph
        .node_ids()
        .into_iter()
        .filter(|&id| training_category(graph.op(id)) == Some(TrainingCategory::Saver))
        .map(|id| graph.name(id));
    restore_op
        .into_iter()
        .chain(saver_nodes)
        .filter_map(|name| name.rsplit_once('/'))
        .map(|(scope, _)| format!("{scope}/"))
        .collect()
}

/// The initializer op of each variable the MetaGraphDef's variable
/// collections describe.
fn variable_initializers(meta: &MetaGraphDef) -> HashSet<String> {
    let collections = VARIABLE_COLLECTIONS
        .iter()
        .filter_map(|key| meta.collection_def.get(*key));
    let defs = collections.flat_map(|c| match &c.kind {
        Some(Kind::BytesList(list)) => list.value.clone(),
        _ => Vec::new(),
    });
    defs.filter_map(|bytes| VariableDef::decode(bytes).ok())
        .map(|def| node_of(&def.initializer_name).to_string())
        .collect()
}

/// The collections holding `VariableDef`s.
const VARIABLE_COLLECTIONS: [&str; 4] = [
    "variables",
    "trainable_variables",
    "local_variables",
    "model_variables",
];

/// `" in function F"` for a node of a library function, else nothing.
fn place(function: Option<&str>) -> String {
    function.map_or_else(String::new, |f| format!(" in function {f:?}"))
}

/// Every node of the graph (function `None`) and of its library functions,
/// as (function, node name, op).
fn every_node(graph: &GraphDef) -> impl Iterator<Item = (Option<&str>, &str, &str)> {
    let in_graph = graph
        .node
        .iter()
        .map(|n| (None, n.name.as_str(), n.op.as_str()));
    let functions = graph.library.iter().flat_map(|l| &l.function);
    let in_functions = functions.flat_map(|function| {
        let name = function.signature.as_ref().map(|s| s.name.as_str());
        function
            .node_def
            .iter()
            .map(move |n| (name, n.name.as_str(), n.op.as_str()))
    });
    in_graph.chain(in_functions)
}
