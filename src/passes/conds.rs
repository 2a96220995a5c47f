//! Training conds resolved to inference: boolean training flags
//! (`is_training` placeholders with a default, `keras_learning_phase`, or
//! flags the user names) become the constant `false`, then every TF1
//! (control flow v1) `Switch` whose predicate is now constant is folded: the
//! dead branch is removed and each `Merge` is replaced by its live input.
//! Functional conds (`If`, `Case` and their stateless forms, control flow
//! v2) are folded first, onto their inlined branch ([`super::functional_conds`]).
//!
//! Deadness follows TensorFlow's executor: a node is dead when any input,
//! data or control, is dead; a `Merge` only when all its data inputs are.
//! While loops are left alone: their predicates (`LoopCond`) are not constant.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Pass, PassContext, PassError, PassReport, Removal};
use crate::ir::constants::{self, FORWARDING_OPS};
use crate::ir::{AttrExt, DataType, Graph, NodeId, TensorRef};
use crate::model::Model;

/// Names that mark a boolean placeholder as a training flag.
const FLAG_NAMES: &[&str] = &[
    "is_training",
    "training",
    "is_train",
    "train_phase",
    "phase_train",
    "keras_learning_phase",
    "learning_phase",
];

/// Sets training flags to false and folds the conds they drive.
pub struct TrainingCondsPass {
    extra_flags: Vec<String>,
}

impl TrainingCondsPass {
    /// `extra_flags` are node names to treat as flags besides the usual names.
    pub fn new(extra_flags: Vec<String>) -> TrainingCondsPass {
        TrainingCondsPass { extra_flags }
    }
}

impl Pass for TrainingCondsPass {
    fn name(&self) -> &'static str {
        "training-conds"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        for flag in find_flags(&model.graph, &self.extra_flags)? {
            let name = model.graph.name(flag).to_string();
            constants::make_bool_const(&mut model.graph, flag, false);
            report.note(format!("training flag {name:?} set to false"));
            report.edited(name);
        }
        super::functional_conds::fold_functional_conds(model, &mut report)?;
        fold_constant_switches(model, &mut report)?;
        Ok(report)
    }
}

/// Boolean placeholders named like training flags, plus the named extras.
pub fn find_flags(graph: &Graph, extra: &[String]) -> Result<Vec<NodeId>, PassError> {
    let mut flags = Vec::new();
    for name in extra {
        let id = graph
            .find(name)
            .ok_or_else(|| PassError::UnknownTrainingFlag {
                flag: name.clone(),
                suggestions: super::suggest::close_names(graph, name),
            })?;
        flags.push(id);
    }
    for id in graph.node_ids() {
        let node = graph.node(id);
        // The op first: asking any other node for its `dtype` builds a
        // missing-attr error only to throw it away.
        if !matches!(node.op.as_str(), "PlaceholderWithDefault" | "Placeholder") {
            continue;
        }
        let is_bool = node.attr_type("dtype").is_ok_and(|t| t == DataType::DtBool);
        let base = node.name().rsplit('/').next().unwrap_or_default();
        let base = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
        if is_bool && FLAG_NAMES.contains(&base) && !flags.contains(&id) {
            flags.push(id);
        }
    }
    Ok(flags)
}

/// Constant bool values of tensors, following identities and `LogicalNot`.
fn constant_bools(graph: &Graph, order: &[NodeId]) -> HashMap<TensorRef, bool> {
    let mut known = HashMap::new();
    for &id in order {
        let node = graph.node(id);
        let value = match node.op.as_str() {
            "Const" => node
                .attr_tensor("value")
                .ok()
                .and_then(constants::scalar_bool),
            op if FORWARDING_OPS.contains(&op) => {
                graph.data_input(id, 0).and_then(|t| known.get(&t).copied())
            }
            "LogicalNot" => graph
                .data_input(id, 0)
                .and_then(|t| known.get(&t).map(|v: &bool| !v)),
            _ => None,
        };
        if let Some(value) = value {
            known.insert(TensorRef::new(id, 0), value);
        }
    }
    known
}

/// A Merge left with one live data input: (merge, that input, its index).
type LiveMerge = (NodeId, TensorRef, usize);

/// Folds every `Switch` with a constant predicate; removes what is dead.
fn fold_constant_switches(model: &mut Model, report: &mut PassReport) -> Result<(), PassError> {
    let order = model.graph.topological_order()?;
    let known = constant_bools(&model.graph, &order);
    let live_port = live_ports(&model.graph, &order, &known);
    if live_port.is_empty() {
        return Ok(());
    }
    let (dead, merges) = dead_nodes(&model.graph, &order, &live_port);
    let resolved = resolve_merges(model, merges, &dead, report)?;
    bypass_switches(model, &live_port, &dead, report);

    // Resolved merges and folded switches now feed nothing.
    for id in resolved.into_iter().chain(live_port.keys().copied()) {
        let unused =
            model.graph.contains(id) && !dead.contains(&id) && model.graph.consumers(id).is_empty();
        if unused && let Some(node) = model.graph.remove_node(id) {
            report.removed(Removal::FoldedCond, node.name());
        }
    }
    let mut dead: Vec<NodeId> = dead.into_iter().collect();
    dead.sort_by_key(|id| model.graph.name(*id).to_string());
    for id in dead {
        if let Some(node) = model.graph.remove_node(id) {
            report.removed(Removal::DeadBranch, node.name());
        }
    }
    Ok(())
}

/// Each Switch whose predicate is constant → the output port that stays live.
fn live_ports(
    graph: &Graph,
    order: &[NodeId],
    known: &HashMap<TensorRef, bool>,
) -> BTreeMap<NodeId, usize> {
    order
        .iter()
        .filter(|&&id| matches!(graph.op(id), "Switch" | "RefSwitch"))
        .filter_map(|&id| {
            let pred = graph.data_input(id, 1).and_then(|p| known.get(&p))?;
            Some((id, usize::from(*pred)))
        })
        .collect()
}

/// TensorFlow's deadness, in topological order: a node is dead when any
/// input is; a Merge only when all its data inputs are. Also returns the
/// Merges left with exactly one live input.
fn dead_nodes(
    graph: &Graph,
    order: &[NodeId],
    live_port: &BTreeMap<NodeId, usize>,
) -> (HashSet<NodeId>, Vec<LiveMerge>) {
    let mut dead: HashSet<NodeId> = HashSet::new();
    let tensor_dead = |t: TensorRef, dead: &HashSet<NodeId>| {
        dead.contains(&t.node) || live_port.get(&t.node).is_some_and(|&live| live != t.port)
    };
    let mut merges = Vec::new();
    for &id in order {
        let inputs = graph.data_inputs(id);
        if matches!(graph.op(id), "Merge" | "RefMerge") {
            let live: Vec<(usize, TensorRef)> = inputs
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, t)| !tensor_dead(*t, &dead))
                .collect();
            if live.is_empty() {
                dead.insert(id);
            } else if live.len() == 1 && live.len() < inputs.len() {
                merges.push((id, live[0].1, live[0].0));
            }
            continue;
        }
        let control_dead = graph.control_inputs(id).iter().any(|c| dead.contains(c));
        if control_dead || inputs.iter().any(|t| tensor_dead(*t, &dead)) {
            dead.insert(id);
        }
    }
    (dead, merges)
}

/// Merges with one live input become that input; their value_index a constant.
fn resolve_merges(
    model: &mut Model,
    merges: Vec<LiveMerge>,
    dead: &HashSet<NodeId>,
    report: &mut PassReport,
) -> Result<Vec<NodeId>, PassError> {
    let mut resolved = Vec::with_capacity(merges.len());
    for (merge, live, index) in merges {
        if dead.contains(&merge) {
            continue;
        }
        let name = model.graph.name(merge).to_string();
        let target = model.graph.tensor_name(live);
        model.rewire(TensorRef::new(merge, 0), live);
        report.rewired(format!("{name}:0"), target, "merge of a folded cond");
        resolved.push(merge);
        if !model
            .graph
            .data_consumers(TensorRef::new(merge, 1))
            .is_empty()
        {
            let const_name = model.graph.unique_name(&format!("{name}/value_index"));
            let index_const = model
                .graph
                .add_node(constants::int32_const(&const_name, index as i32))?;
            model.rewire(TensorRef::new(merge, 1), TensorRef::new(index_const, 0));
            report.added.push(const_name);
        }
    }
    Ok(resolved)
}

/// Live outputs of folded switches read the switched value directly.
fn bypass_switches(
    model: &mut Model,
    live_port: &BTreeMap<NodeId, usize>,
    dead: &HashSet<NodeId>,
    report: &mut PassReport,
) {
    for (&switch, &port) in live_port {
        let data = model
            .graph
            .data_input(switch, 0)
            .filter(|_| !dead.contains(&switch));
        let Some(data) = data else { continue };
        let from = TensorRef::new(switch, port);
        if model.rewire(from, data) > 0 {
            let (from, to) = (model.graph.tensor_name(from), model.graph.tensor_name(data));
            report.rewired(from, to, "switch with a constant predicate");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{self, TestNode, node};

    /// `cond(flag, lambda: x * 2, lambda: x)` as TF1 builds it, over a bool
    /// placeholder with a default named `flag`.
    fn cond_nodes(flag: &str) -> Vec<TestNode> {
        let default = format!("{flag}/input");
        vec![
            node(&default, "Const", &[]),
            node(flag, "PlaceholderWithDefault", &[&default]).with_type("dtype", DataType::DtBool),
            node("x", "Placeholder", &[]),
            node("cond/Switch", "Switch", &[flag, flag]),
            node("cond/switch_t", "Identity", &["cond/Switch:1"]),
            node("cond/pred_id", "Identity", &[flag]),
            node("cond/two", "Const", &["^cond/switch_t"]),
            node("cond/mul/Switch", "Switch", &["x", "cond/pred_id"]),
            node("cond/mul", "Mul", &["cond/mul/Switch:1", "cond/two"]),
            node("cond/id/Switch", "Switch", &["x", "cond/pred_id"]),
            node("cond/id", "Identity", &["cond/id/Switch"]),
            node("cond/Merge", "Merge", &["cond/id", "cond/mul"]),
            node("out", "Relu", &["cond/Merge"]),
        ]
    }

    fn cond_graph() -> Model {
        testing::model(cond_nodes("is_training"))
    }

    #[test]
    fn folds_the_cond_to_its_false_branch() {
        let mut model = cond_graph();
        let report = TrainingCondsPass::new(vec![])
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let g = &model.graph;
        for gone in ["cond/mul", "cond/two", "cond/switch_t", "cond/Merge"] {
            assert!(g.find(gone).is_none(), "{gone} should be removed");
        }
        let out = g.find("out").unwrap();
        let input = g.data_input(out, 0).unwrap();
        assert_eq!(g.name(input.node), "cond/id");
        let id_in = g.data_input(input.node, 0).unwrap();
        assert_eq!(g.tensor_name(id_in), "x:0");
        assert_eq!(g.op(g.find("is_training").unwrap()), "Const");
        assert!(report.removed["dead-branch"].contains(&"cond/mul".to_string()));
        g.validate().unwrap();
    }

    #[test]
    fn leaves_graphs_without_flags_alone() {
        // A flag not named like one is not recognised: nothing is constant, nothing folds.
        let mut model = testing::model(cond_nodes("mode"));
        let before = model.graph.len();
        let report = TrainingCondsPass::new(vec![])
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        assert!(report.is_unchanged());
        assert_eq!(model.graph.len(), before);
    }

    #[test]
    fn deep_predicate_and_branch_chains_fold_without_recursion() {
        let mut nodes = cond_nodes("is_training");
        // The predicate through 50,000 LogicalNots (an even number: still
        // is_training), the true branch through 50,000 Identities.
        let depth = 50_000;
        for i in 0..depth {
            let input = if i == 0 {
                "is_training".to_string()
            } else {
                format!("not{}", i - 1)
            };
            nodes.push(node(&format!("not{i}"), "LogicalNot", &[&input]));
            let input = if i == 0 {
                "cond/mul".to_string()
            } else {
                format!("id{}", i - 1)
            };
            nodes.push(node(&format!("id{i}"), "Identity", &[&input]));
        }
        for n in &mut nodes {
            if n.name() == "cond/pred_id" {
                n.inputs = vec![format!("not{}", depth - 1)];
            }
            if n.name() == "cond/Merge" {
                n.inputs[1] = format!("id{}", depth - 1);
            }
        }
        let mut model = testing::model(nodes);
        let started = std::time::Instant::now();
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn_scoped(scope, || {
                    TrainingCondsPass::new(vec![])
                        .run(&mut model, &mut PassContext::new())
                        .unwrap()
                })
                .unwrap()
                .join()
                .unwrap()
        });
        eprintln!(
            "training-conds over 100,000 chained nodes: {:?}",
            started.elapsed()
        );
        let g = &model.graph;
        assert!(g.find("id0").is_none() && g.find(&format!("id{}", depth - 1)).is_none());
        let out = g.find("out").unwrap();
        assert_eq!(g.name(g.data_input(out, 0).unwrap().node), "cond/id");
    }
}
