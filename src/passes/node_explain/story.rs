//! One node's verdict: kept (and for which outputs, by which path),
//! removed (by which pass, for which reason), or added by a pass.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use super::changes::NodeChange;
use super::{NodeExplainError, ServedOutput};
use crate::ir::{Graph, NodeId, node_of};
use crate::passes::PassReport;
use crate::passes::suggest::close_names;

/// What became of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Kept,
    Removed,
    Added,
}

/// A signature output that needs a kept node, and the path from the node
/// to the output's node (both included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputPath {
    pub signature: String,
    pub output: String,
    pub tensor: String,
    pub path: Vec<String>,
}

/// One node, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStory {
    pub node: String,
    pub verdict: Verdict,
    pub op: Option<String>,
    /// Its op before the passes, when a pass changed it (a frozen variable
    /// became a constant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_before: Option<String>,
    /// Its inputs in the served graph (kept or added nodes).
    pub inputs: Option<Vec<String>>,
    /// What the passes did to it, if anything.
    pub change: Option<NodeChange>,
    /// Kept: the outputs that need it.
    pub needed_by: Vec<OutputPath>,
    /// Added: the pass that added it.
    pub added_by: Option<String>,
    /// Kept though no output reads it: why it stays.
    pub kept_because: Option<String>,
}

/// The story of node `name`; an error naming close names when neither
/// graph nor any report holds it.
pub fn node_story(
    before: &Graph,
    after: &Graph,
    outputs: &[ServedOutput],
    reports: &[PassReport],
    changes: &[NodeChange],
    name: &str,
) -> Result<NodeStory, NodeExplainError> {
    let change = changes.iter().find(|c| c.node == name).cloned();
    if let Some(change) = change.clone().filter(|c| c.removed_by.is_some()) {
        return Ok(removed_story(change));
    }
    let Some(id) = after.find(name) else {
        return Err(unknown_node(before, after, name));
    };
    let old = before.find(name);
    let added_by = old.is_none().then(|| adding_pass(reports, name)).flatten();
    let needed_by = paths_to_outputs(after, outputs, id);
    let kept_because = needed_by.is_empty().then(|| why_kept_unread(after, id));
    Ok(NodeStory {
        node: name.into(),
        verdict: if old.is_some() {
            Verdict::Kept
        } else {
            Verdict::Added
        },
        op: Some(after.op(id).to_string()),
        op_before: old
            .map(|old| before.op(old))
            .filter(|&old| old != after.op(id))
            .map(String::from),
        inputs: Some(after.node_inputs(id)),
        change,
        needed_by,
        added_by,
        kept_because,
    })
}

fn removed_story(change: NodeChange) -> NodeStory {
    NodeStory {
        node: change.node.clone(),
        verdict: Verdict::Removed,
        op: change.op.clone(),
        op_before: None,
        inputs: None,
        change: Some(change),
        needed_by: Vec::new(),
        added_by: None,
        kept_because: None,
    }
}

fn unknown_node(before: &Graph, after: &Graph, name: &str) -> NodeExplainError {
    let mut suggestions = close_names(before, name);
    for close in close_names(after, name) {
        if !suggestions.contains(&close) {
            suggestions.push(close);
        }
    }
    suggestions.truncate(5);
    NodeExplainError::UnknownNode {
        node: name.into(),
        suggestions,
    }
}

fn adding_pass(reports: &[PassReport], name: &str) -> Option<String> {
    reports
        .iter()
        .find(|r| r.added.iter().any(|a| a == name))
        .map(|r| r.pass.clone())
}

/// For each output whose node depends on `id`, one shortest path from `id`
/// to it, found by walking consumers forward.
fn paths_to_outputs(graph: &Graph, outputs: &[ServedOutput], id: NodeId) -> Vec<OutputPath> {
    let parents = forward_parents(graph, id);
    outputs
        .iter()
        .filter_map(|output| {
            let target = graph.find(node_of(&output.tensor))?;
            let path = path_back(graph, &parents, id, target)?;
            Some(OutputPath {
                signature: output.signature.clone(),
                output: output.key.clone(),
                tensor: output.tensor.clone(),
                path,
            })
        })
        .collect()
}

/// Every node reachable forward from `start`, mapped to the node it was
/// first reached from (breadth first, so paths are shortest).
fn forward_parents(graph: &Graph, start: NodeId) -> HashMap<NodeId, NodeId> {
    let mut parents: HashMap<NodeId, NodeId> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(id) = queue.pop_front() {
        for consumer in graph.consumers(id) {
            if consumer != start && !parents.contains_key(&consumer) {
                parents.insert(consumer, id);
                queue.push_back(consumer);
            }
        }
    }
    parents
}

fn path_back(
    graph: &Graph,
    parents: &HashMap<NodeId, NodeId>,
    start: NodeId,
    target: NodeId,
) -> Option<Vec<String>> {
    let mut path = vec![graph.name(target).to_string()];
    let mut at = target;
    while at != start {
        at = *parents.get(&at)?;
        path.push(graph.name(at).to_string());
    }
    path.reverse();
    Some(path)
}

/// Why a node no output reads is still served.
fn why_kept_unread(graph: &Graph, id: NodeId) -> String {
    let reached = forward_parents(graph, id);
    let initializes_table = std::iter::once(id)
        .chain(reached.keys().copied())
        .any(|n| is_table_initializer(graph.op(n)));
    if initializes_table {
        "it initializes a lookup table the serving graph reads (run at load time)".into()
    } else {
        "no signature output reads it; a pass's rule kept it (the saver, an asset, a variable)"
            .into()
    }
}

fn is_table_initializer(op: &str) -> bool {
    op.starts_with("InitializeTable") || op.starts_with("LookupTableImport")
}
