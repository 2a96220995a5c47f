//! One record per node a pass removed or rewired: op, inputs before and
//! after, and the rules that fired, in the order the passes ran.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::causes::cutting_rewires;
use super::rule::{Rule, rewire_rule};
use crate::ir::{Graph, InputName, NodeId, parse_input};
use crate::ops::training::{TrainingCategory, training_category};
use crate::passes::{PassReport, Removal, Rewire};

/// What the passes did to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeChange {
    pub node: String,
    /// `None` when the graph before does not hold the node (a node inside a
    /// library function).
    pub op: Option<String>,
    /// NodeDef inputs: `x`, `x:1`, `^x`.
    pub inputs_before: Vec<String>,
    /// `None`: the node was removed.
    pub inputs_after: Option<Vec<String>>,
    /// The pass and reason that removed it.
    pub removed_by: Option<Rule>,
    /// For a kept node, the rewires of its inputs; for a removed node, the
    /// rewires that left it unused (what it fed was bypassed).
    pub rewires: Vec<Rule>,
}

/// Every removal the reports record, then every node whose inputs changed;
/// only node `only`'s when given.
pub fn node_changes(
    before: &Graph,
    after: &Graph,
    reports: &[PassReport],
    only: Option<&str>,
) -> Vec<NodeChange> {
    let mut changes = removals(before, after, reports, only);
    changes.extend(rewired_nodes(before, after, reports, only));
    changes
}

/// A removal record per node the reports name, causes attached, then any
/// node that went without a report saying so.
fn removals(
    before: &Graph,
    after: &Graph,
    reports: &[PassReport],
    only: Option<&str>,
) -> Vec<NodeChange> {
    let wanted = |node: &str| only.is_none_or(|only| only == node);
    let cut = cutting_rewires(before, after, reports);
    let mut changes = Vec::new();
    let mut recorded: HashSet<&str> = HashSet::new();
    for (index, report) in reports.iter().enumerate() {
        for (reason, nodes) in &report.removed {
            for node in nodes.iter().filter(|node| wanted(node)) {
                recorded.insert(node);
                let rewires = cut.get(node.as_str()).map_or_else(Vec::new, |found| {
                    found
                        .iter()
                        .filter(|(at, _)| *at < index)
                        .map(|(_, rule)| rule.clone())
                        .collect()
                });
                let rule = removal_rule(before, &report.pass, *reason, node);
                changes.push(removed_change(before, node, rule, rewires));
            }
        }
    }
    for id in candidates(before, only) {
        let name = before.name(id);
        if after.find(name).is_none() && !recorded.contains(name) {
            let rule = Rule {
                pass: "?".into(),
                rule: "unrecorded".into(),
                why: "no pass recorded this removal".into(),
            };
            changes.push(removed_change(before, name, rule, Vec::new()));
        }
    }
    changes
}

/// The nodes of `before` to look at: all, or the one named `only`.
fn candidates(before: &Graph, only: Option<&str>) -> Vec<NodeId> {
    match only {
        None => before.node_ids(),
        Some(name) => before.find(name).into_iter().collect(),
    }
}

fn removed_change(before: &Graph, node: &str, rule: Rule, rewires: Vec<Rule>) -> NodeChange {
    let id = before.find(node);
    NodeChange {
        node: node.to_string(),
        op: id.map(|id| before.op(id).to_string()),
        inputs_before: id.map_or_else(Vec::new, |id| before.node_inputs(id)),
        inputs_after: None,
        removed_by: Some(rule),
        rewires,
    }
}

/// The rule behind one removal, said in words.
fn removal_rule(before: &Graph, pass: &str, reason: Removal, node: &str) -> Rule {
    let why = match reason {
        Removal::Training(category) => training_why(before, node, category),
        Removal::Unused => "nothing the serving outputs need reads it".into(),
        Removal::UnusedFunction => "a library function no serving node calls".into(),
        Removal::FoldedCond => "a training-flag cond, folded to its inference branch".into(),
        Removal::DeadBranch => "only the training branch of a folded cond read it".into(),
        Removal::Rule(rule) => transform_rule_why(rule).into(),
    };
    Rule {
        pass: pass.into(),
        rule: reason.as_str().into(),
        why,
    }
}

/// A graph transform's removal rule, said in words.
fn transform_rule_why(rule: &str) -> &'static str {
    match rule {
        "removed-op" => {
            "its op is one remove_nodes was asked to remove; its readers now read its input"
        }
        "duplicate" => "an identical node (same op, inputs and attributes) stays in its place",
        "folded-constant" => "its value was computed at transform time and stored as a constant",
        "folded-batch-norm" => "its batch normalization was folded into the preceding weights",
        _ => "a graph transform's rule removed it",
    }
}

/// Why a node is training-only: its own op, or else what it fed (all of
/// which went as training work of that category or an earlier one).
fn training_why(before: &Graph, node: &str, category: TrainingCategory) -> String {
    let Some(id) = before.find(node) else {
        return format!("training-only ({category})");
    };
    let op = before.op(id);
    let meaning = category.meaning();
    if training_category(op) == Some(category) {
        return format!("training-only ({category}): its op {op} is in that category ({meaning})");
    }
    let consumers = before.consumers(id);
    let fed: Vec<&str> = consumers.iter().take(3).map(|&c| before.name(c)).collect();
    let more = if consumers.len() > fed.len() {
        ", ..."
    } else {
        ""
    };
    format!(
        "training-only ({category}): {meaning}, by its place in the training step (it fed {}{more})",
        fed.join(", ")
    )
}

/// Nodes in both graphs whose inputs differ, with the rewires that did it.
fn rewired_nodes(
    before: &Graph,
    after: &Graph,
    reports: &[PassReport],
    only: Option<&str>,
) -> Vec<NodeChange> {
    let rewires: Vec<(&str, &Rewire)> = reports
        .iter()
        .flat_map(|r| r.rewired.iter().map(move |w| (r.pass.as_str(), w)))
        .collect();
    let removing: HashMap<&str, &str> = reports
        .iter()
        .flat_map(|r| {
            let nodes = r.removed.values().flatten();
            nodes.map(move |node| (node.as_str(), r.pass.as_str()))
        })
        .collect();
    let mut changes: Vec<(usize, NodeChange)> = Vec::new();
    for id in candidates(before, only) {
        let Some(kept) = after.find(before.name(id)) else {
            continue;
        };
        let inputs_before = before.node_inputs(id);
        let inputs_after = after.node_inputs(kept);
        if inputs_before == inputs_after {
            continue;
        }
        let (first, mut rules) = rewires_of(&inputs_before, &rewires);
        rules.extend(dropped_controls(&inputs_before, after, &removing));
        changes.push((
            first,
            NodeChange {
                node: before.name(id).to_string(),
                op: Some(before.op(id).to_string()),
                inputs_before,
                inputs_after: Some(inputs_after),
                removed_by: None,
                rewires: rules,
            },
        ));
    }
    changes.sort_by_key(|(first, _)| *first);
    changes.into_iter().map(|(_, change)| change).collect()
}

/// Replays the rewires, in order, on a node's inputs: the index of the
/// first that moved one of them (`usize::MAX` when none did) and a rule per
/// rewire that did.
fn rewires_of(inputs: &[String], rewires: &[(&str, &Rewire)]) -> (usize, Vec<Rule>) {
    let mut current: Vec<String> = inputs.iter().map(|i| canonical(i)).collect();
    let mut first = usize::MAX;
    let mut rules = Vec::new();
    for (index, (pass, rewire)) in rewires.iter().enumerate() {
        let (from, to) = (canonical(&rewire.from), canonical(&rewire.to));
        if !current.contains(&from) {
            continue;
        }
        for input in current.iter_mut().filter(|i| **i == from) {
            *input = to.clone();
        }
        first = first.min(index);
        rules.push(rewire_rule(pass, rewire));
    }
    (first, rules)
}

/// A rule per control input whose producer was removed: the edge went with it.
fn dropped_controls(inputs: &[String], after: &Graph, removing: &HashMap<&str, &str>) -> Vec<Rule> {
    inputs
        .iter()
        .filter_map(|input| input.strip_prefix('^'))
        .filter(|producer| after.find(producer).is_none())
        .map(|producer| Rule {
            pass: removing.get(producer).copied().unwrap_or("?").into(),
            rule: "control-dropped".into(),
            why: format!("its control input ^{producer} went with that node"),
        })
        .collect()
}

/// `x` and `x:0` spelled alike (`x:0`); controls and malformed names as given.
pub fn canonical(name: &str) -> String {
    match parse_input("", name) {
        Ok(InputName::Data { node, port }) => format!("{node}:{port}"),
        _ => name.to_string(),
    }
}
