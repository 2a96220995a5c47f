//! Is the graph closed? Rules on the GraphDef's node list as written, run
//! before the graph is loaded (a graph that breaks one of them does not
//! load): unique names, inputs that name nodes of the graph, data inputs
//! before control inputs. And the load itself, for what only it finds.

use std::collections::HashSet;

use super::{Findings, Rule};
use crate::format::proto::GraphDef;
use crate::ir::{Graph, InputName, parse_input};

/// `duplicate-node`: two nodes with one name make every input naming it
/// ambiguous; TensorFlow refuses to import the graph.
pub fn duplicate_nodes(graph: &GraphDef, findings: &mut Findings) {
    let mut seen = HashSet::new();
    let mut reported = HashSet::new();
    for node in &graph.node {
        if !seen.insert(node.name.as_str()) && reported.insert(node.name.as_str()) {
            findings.error(
                Rule::DuplicateNode,
                Some(&node.name),
                format!("more than one node is named {:?}", node.name),
            );
        }
    }
}

/// `dangling-input`: every input (data or control) names a node of the
/// graph, spelled `x`, `x:N` or `^x`.
pub fn dangling_inputs(graph: &GraphDef, findings: &mut Findings) {
    let names: HashSet<&str> = graph.node.iter().map(|n| n.name.as_str()).collect();
    for node in &graph.node {
        for input in &node.input {
            let problem = match parse_input(&node.name, input) {
                Err(e) => Some(e.to_string()),
                Ok(InputName::Data { node: from, .. } | InputName::Control { node: from })
                    if !names.contains(from) =>
                {
                    Some(format!("no node is named {from:?}"))
                }
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                findings.error(
                    Rule::DanglingInput,
                    Some(&node.name),
                    format!("node {:?} reads input {input:?}: {problem}", node.name),
                );
            }
        }
    }
}

/// `control-input-order`: TensorFlow numbers data inputs by position, so
/// one listed after a control input (`^x`) is refused at import.
pub fn control_input_order(graph: &GraphDef, findings: &mut Findings) {
    for node in &graph.node {
        let first_control = node.input.iter().position(|i| i.starts_with('^'));
        let late_data =
            first_control.and_then(|at| node.input.iter().skip(at).find(|i| !i.starts_with('^')));
        if let Some(input) = late_data {
            findings.error(
                Rule::ControlInputOrder,
                Some(&node.name),
                format!(
                    "node {:?} lists data input {input:?} after a control input",
                    node.name
                ),
            );
        }
    }
}

/// `graph-structure`: the graph loads (constants well formed) and has no
/// cycle outside a while loop. `None` when it does not load.
pub fn load(graph: &GraphDef, findings: &mut Findings) -> Option<Graph> {
    let loaded = Graph::from_graph_def(graph.clone())
        .map_err(|e| findings.error(Rule::GraphStructure, None, format!("the graph: {e}")))
        .ok()?;
    if let Err(e) = loaded.validate() {
        findings.error(Rule::GraphStructure, None, format!("the graph: {e}"));
    }
    Some(loaded)
}

/// The rules that look at the node list as written; `true` when the graph
/// is closed, so that it can be loaded.
pub fn closed(graph: &GraphDef, findings: &mut Findings) -> bool {
    let before = findings.0.len();
    duplicate_nodes(graph, findings);
    dangling_inputs(graph, findings);
    control_input_order(graph, findings);
    findings.0.len() == before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::NodeDef;

    fn node(name: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: "Identity".into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..NodeDef::default()
        }
    }

    fn rules(nodes: Vec<NodeDef>) -> Vec<(Rule, Option<String>)> {
        let graph = GraphDef {
            node: nodes,
            ..GraphDef::default()
        };
        let mut findings = Findings::default();
        closed(&graph, &mut findings);
        findings.0.into_iter().map(|f| (f.rule, f.node)).collect()
    }

    #[test]
    fn a_closed_graph_has_no_finding() {
        assert!(rules(vec![node("a", &[]), node("b", &["a:0", "^a"])]).is_empty());
    }

    #[test]
    fn each_defect_fires_its_rule_on_its_node() {
        let a = || Some("a".to_string());
        let b = || Some("b".to_string());
        assert_eq!(
            rules(vec![node("a", &[]), node("a", &[]), node("a", &[])]),
            [(Rule::DuplicateNode, a())]
        );
        assert_eq!(
            rules(vec![node("a", &[]), node("b", &["gone:1"])]),
            [(Rule::DanglingInput, b())]
        );
        assert_eq!(
            rules(vec![node("a", &[]), node("b", &["a:x"])]),
            [(Rule::DanglingInput, b())]
        );
        assert_eq!(
            rules(vec![node("a", &[]), node("b", &["^a", "a"])]),
            [(Rule::ControlInputOrder, b())]
        );
    }
}
