//! `merge_duplicate_nodes`: two stateless nodes with the same op, device,
//! attrs and inputs compute the same thing, so one is enough. Repeated until
//! nothing merges, since merging producers makes their consumers equal.
//! Stateful ops (variables, random numbers, queues, placeholders, control
//! flow, anything that reads or writes state) and the run's inputs and
//! outputs are never merged.

use std::collections::{BTreeSet, HashMap};

use prost::Message;

use super::super::registry::BuildContext;
use super::super::{Pass, PassContext, PassError, PassReport, Removal};
use super::Endpoints;
use crate::ir::{Graph, NodeId, TensorRef};
use crate::model::Model;

/// Op names (or parts of them) whose nodes hold or touch state, or whose
/// identity matters beyond their value.
const STATEFUL_MARKERS: &[&str] = &[
    "Variable",
    "VarHandle",
    "Assign",
    "Placeholder",
    "Random",
    "Stateful",
    "Iterator",
    "Queue",
    "Reader",
    "Table",
    "Print",
    "Save",
    "Restore",
    "Switch",
    "Merge",
    "Enter",
    "Exit",
    "NextIteration",
    "LoopCond",
    "Dataset",
    "Stack",
    "TensorArray",
    "Barrier",
    "Accumulator",
    "Call",
    "If",
    "While",
    "Case",
    "Scatter",
    "Resource",
    "Assert",
    "Send",
    "Recv",
    "NoOp",
    "PyFunc",
    "Multinomial",
    "Shuffle",
    "Write",
    "Read",
    "Summary",
    "Mutex",
    "Lookup",
];

fn is_stateless(op: &str) -> bool {
    !STATEFUL_MARKERS.iter().any(|marker| op.contains(marker))
}

pub struct MergeDuplicates {
    endpoints: Endpoints,
}

impl MergeDuplicates {
    pub(super) fn new(cx: &BuildContext) -> MergeDuplicates {
        MergeDuplicates {
            endpoints: Endpoints::of(cx),
        }
    }
}

/// Everything that makes two nodes compute the same value.
#[derive(PartialEq, Eq, Hash)]
struct Key {
    op: String,
    device: String,
    attrs: Vec<(String, Vec<u8>)>,
    data: Vec<TensorRef>,
    control: BTreeSet<NodeId>,
}

fn key_of(graph: &Graph, id: NodeId) -> Key {
    let node = graph.node(id);
    Key {
        op: node.op.clone(),
        device: node.device.clone(),
        attrs: node
            .attrs
            .iter()
            .filter(|(name, _)| name.as_str() != "_output_shapes")
            .map(|(name, value)| (name.clone(), value.encode_to_vec()))
            .collect(),
        data: graph.data_inputs(id),
        control: graph.control_inputs(id).into_iter().collect(),
    }
}

impl Pass for MergeDuplicates {
    fn name(&self) -> &'static str {
        "merge_duplicate_nodes"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let protected = self.endpoints.protected(model);
        while merge_round(model, &protected, &mut report) > 0 {}
        Ok(report)
    }
}

/// One sweep in graph order; returns how many nodes merged.
fn merge_round(model: &mut Model, protected: &BTreeSet<String>, report: &mut PassReport) -> usize {
    let mut first_of: HashMap<Key, NodeId> = HashMap::new();
    let mut merged = 0;
    for id in model.graph.node_ids() {
        let name = model.graph.name(id).to_string();
        if protected.contains(&name) || !is_stateless(model.graph.op(id)) {
            continue;
        }
        let key = key_of(&model.graph, id);
        let Some(&keep) = first_of.get(&key) else {
            first_of.insert(key, id);
            continue;
        };
        merge_into(model, id, keep, report);
        merged += 1;
    }
    merged
}

/// Moves every reader of `duplicate` to `keep` and removes it.
fn merge_into(model: &mut Model, duplicate: NodeId, keep: NodeId, report: &mut PassReport) {
    let ports: BTreeSet<usize> = model
        .graph
        .consumers(duplicate)
        .into_iter()
        .flat_map(|c| model.graph.data_inputs(c))
        .filter(|t| t.node == duplicate)
        .map(|t| t.port)
        .collect();
    for port in ports {
        let from = TensorRef::new(duplicate, port);
        let to = TensorRef::new(keep, port);
        let (from_name, to_name) = (model.graph.tensor_name(from), model.graph.tensor_name(to));
        model.rewire(from, to);
        report.rewired(from_name, to_name, "duplicate node merged");
    }
    model.graph.rewire_control(duplicate, Some(keep));
    if let Some(node) = model.graph.remove_node(duplicate) {
        report.removed(Removal::Rule("duplicate"), node.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{model, node};

    #[test]
    fn equal_constants_and_then_their_equal_consumers_merge() {
        let mut a = node("a", "Const", &[]);
        a.set_attr_float("value_f", 1.0);
        let mut b = node("b", "Const", &[]);
        b.set_attr_float("value_f", 1.0);
        let mut m = model(vec![
            a,
            b,
            node("na", "Neg", &["a"]),
            node("nb", "Neg", &["b"]),
            node("r1", "RandomUniform", &["a"]),
            node("r2", "RandomUniform", &["a"]),
            node("out", "Add", &["na", "nb"]),
        ]);
        let cx = BuildContext {
            outputs: vec!["out".into()],
            ..BuildContext::default()
        };
        let report = MergeDuplicates::new(&cx)
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        assert_eq!(report.removed["duplicate"], ["b", "nb"]);
        let out = m.graph.require("out").unwrap();
        let names: Vec<&str> = m
            .graph
            .data_inputs(out)
            .into_iter()
            .map(|t| m.graph.name(t.node))
            .collect();
        assert_eq!(names, ["na", "na"]);
        assert!(m.graph.find("r2").is_some(), "random ops are never merged");
    }
}
