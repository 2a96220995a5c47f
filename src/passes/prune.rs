//! Prune to what serving needs: the signature outputs and everything they
//! depend on, plus the initializers of the lookup tables they read (which
//! run from the init op after restore), and the files those read (assets).
//! Everything else — the input pipeline, loss, gradients, optimizer,
//! summaries, the training saver — goes, reported by category.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};

use super::{Pass, PassContext, PassError, PassReport, Removal};
use crate::ir::{Graph, NodeId};
use crate::model::Model;
use crate::ops::training::TrainingCategory;
use crate::ops::training_step::{Categories, Neighbours, StepGraph, removal_categories};

/// Removes every node the serving signatures do not need.
pub struct PrunePass;

/// Ops that fill a lookup table from its handle (input 0).
fn is_table_initializer(op: &str) -> bool {
    op.starts_with("InitializeTable") || op.starts_with("LookupTableImport")
}

impl Pass for PrunePass {
    fn name(&self) -> &'static str {
        "prune"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let roots = model.output_nodes();
        let mut keep = model.graph.reachable_backwards(roots.iter().copied());
        let initializers = table_initializers(&model.graph, &keep);
        keep.extend(
            model
                .graph
                .reachable_backwards(initializers.iter().copied()),
        );

        let reasons = removal_reasons(&model.graph, &keep)?;
        let gone: Vec<(NodeId, Removal)> = model
            .graph
            .node_ids()
            .into_iter()
            .filter(|id| !keep.contains(id))
            .map(|id| {
                let reason = reasons.get(id.index()).copied().flatten();
                (id, reason.map_or(Removal::Unused, Removal::Training))
            })
            .collect();
        let mut decoded: BTreeMap<Removal, usize> = BTreeMap::new();
        for &(_, reason) in &gone {
            *decoded.entry(reason).or_default() += 1;
        }
        // Nodes a narrowed read skipped go now, as if removed here.
        report_undecoded(&model.graph, &decoded, &mut report);
        model.graph.set_undecoded(Default::default());
        for (id, reason) in gone {
            if let Some(node) = model.graph.remove_node(id) {
                report.removed(reason, node.name());
            }
        }
        model.table_initializers = initializers
            .iter()
            .map(|&id| model.graph.name(id).to_string())
            .collect();
        model.assets = super::assets::find_assets(model, &initializers);
        for asset in &model.assets {
            report.note(format!(
                "asset {} from node {:?}",
                asset.filename, asset.node
            ));
        }
        Ok(report)
    }
}

/// Reports the nodes a narrowed read skipped, by the reason it recorded:
/// a hundred thousand names on a large graph, so each reason's list is
/// gathered apart and added once, every list sized first (for the
/// `decoded` removals still to come as well), as growing them one name at
/// a time costs more than the names.
fn report_undecoded(graph: &Graph, decoded: &BTreeMap<Removal, usize>, report: &mut PassReport) {
    let undecoded = graph.undecoded();
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for reason in undecoded.reasons() {
        match counts.iter_mut().find(|(word, _)| same_word(word, reason)) {
            Some((_, count)) => *count += 1,
            None => counts.push((reason, 1)),
        }
    }
    let mut sizes = decoded.clone();
    for &(word, count) in &counts {
        *sizes.entry(removal_named(word)).or_default() += count;
    }
    // The first word of each removal gathers into a list with room for
    // the whole removal's, which then becomes the report's list as it is.
    let mut sized: Vec<Removal> = Vec::new();
    let mut by_reason: Vec<(&'static str, Vec<String>)> = counts
        .iter()
        .map(|&(word, count)| {
            let removal = removal_named(word);
            let size = if sized.contains(&removal) {
                count
            } else {
                sizes.get(&removal).copied().unwrap_or(count)
            };
            sized.push(removal);
            (word, Vec::with_capacity(size))
        })
        .collect();
    for (name, reason) in undecoded.removals() {
        let known = by_reason
            .iter_mut()
            .find(|(word, _)| same_word(word, reason));
        match known {
            Some((_, names)) => names.push(name.to_string()),
            None => by_reason.push((reason, vec![name.to_string()])),
        }
    }
    for (reason, mut names) in by_reason {
        match report.removed.entry(removal_named(reason)) {
            Entry::Vacant(list) => {
                list.insert(names);
            }
            Entry::Occupied(mut list) => list.get_mut().append(&mut names),
        }
    }
    for (&removal, &count) in decoded {
        let list = report.removed.entry(removal);
        list.or_insert_with(|| Vec::with_capacity(count));
    }
}

/// Reasons are the same few static words: compared by address first.
fn same_word(word: &str, reason: &'static str) -> bool {
    std::ptr::eq(word, reason) || word == reason
}

/// The removal a narrowed read recorded by name for a node it skipped.
fn removal_named(reason: &str) -> Removal {
    TrainingCategory::ALL
        .into_iter()
        .find(|category| category.as_str() == reason)
        .map_or(Removal::Unused, Removal::Training)
}

/// Why each node outside `keep` goes, by the training step's structure
/// ([`removal_categories`]); nodes without a category are simply unused.
fn removal_reasons(graph: &Graph, keep: &HashSet<NodeId>) -> Result<Categories, PassError> {
    let mut consumers_first = graph.topological_order()?;
    consumers_first.reverse();
    consumers_first.retain(|id| !keep.contains(id));
    let view = PruneView { graph, keep };
    Ok(removal_categories(&view, &consumers_first))
}

/// The graph as the categorisation sees it: `keep` stays, the rest goes.
struct PruneView<'g> {
    graph: &'g Graph,
    keep: &'g HashSet<NodeId>,
}

impl StepGraph for PruneView<'_> {
    type Node = NodeId;
    fn op(&self, node: NodeId) -> &str {
        self.graph.op(node)
    }
    fn producers(&self, node: NodeId) -> Neighbours<NodeId> {
        Neighbours::from_vec(self.graph.producers(node))
    }
    fn consumers(&self, node: NodeId) -> Neighbours<NodeId> {
        Neighbours::from_vec(self.graph.consumers(node))
    }
    fn data_input(&self, node: NodeId, slot: usize) -> Option<NodeId> {
        self.graph.data_input(node, slot).map(|tensor| tensor.node)
    }
    fn is_removed(&self, node: NodeId) -> bool {
        !self.keep.contains(&node)
    }
    fn index(&self, node: NodeId) -> usize {
        node.index()
    }
    fn node_bound(&self) -> usize {
        self.graph.node_bound()
    }
}

/// Initializers of the tables in `keep`.
fn table_initializers(graph: &Graph, keep: &HashSet<NodeId>) -> Vec<NodeId> {
    graph
        .node_ids()
        .into_iter()
        .filter(|&id| is_table_initializer(graph.op(id)))
        .filter(|&id| {
            graph
                .data_input(id, 0)
                .is_some_and(|table| keep.contains(&table.node))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{node, serving_model};

    #[test]
    fn keeps_what_outputs_need_and_reports_the_rest_by_category() {
        let mut model = serving_model(
            vec![
                node("x", "Placeholder", &[]),
                node("w", "VariableV2", &[]),
                node("y", "MatMul", &["x", "w"]),
                node("loss", "SoftmaxCrossEntropyWithLogits", &["y", "x"]),
                node("grad", "BiasAddGrad", &["loss"]),
                node("update", "ApplyGradientDescent", &["w", "grad"]),
                node("summary", "ScalarSummary", &["loss"]),
                node("stray", "Const", &[]),
            ],
            "y:0",
        );
        let report = PrunePass.run(&mut model, &mut PassContext::new()).unwrap();
        let left: Vec<&str> = model
            .graph
            .node_ids()
            .into_iter()
            .map(|id| model.graph.name(id))
            .collect();
        assert_eq!(left, ["x", "w", "y"]);
        assert_eq!(report.removed["loss"], ["loss"]);
        assert_eq!(report.removed["optimizer"], ["update"]);
        assert_eq!(report.removed["summary"], ["summary"]);
        assert_eq!(report.removed["unused"], ["stray"]);
    }

    #[test]
    fn keeps_table_initializers_and_finds_their_vocabulary() {
        let vocab = crate::ir::constants::string_const("vocab", b"words/vocab.txt").into();
        let mut model = serving_model(
            vec![
                node("table", "HashTableV2", &[]),
                vocab,
                node("init", "InitializeTableFromTextFileV2", &["table", "vocab"]),
                node("tokens", "Placeholder", &[]),
                node("default", "Const", &[]),
                node("ids", "LookupTableFindV2", &["table", "tokens", "default"]),
            ],
            "ids:0",
        );
        model.base_dir = std::path::PathBuf::from("run");
        PrunePass.run(&mut model, &mut PassContext::new()).unwrap();
        assert_eq!(model.table_initializers, ["init"]);
        assert_eq!(model.assets.len(), 1);
        assert_eq!(model.assets[0].filename, "vocab.txt");
        assert_eq!(
            model.assets[0].source,
            std::path::Path::new("run/words/vocab.txt")
        );
        assert!(model.graph.find("vocab").is_some());
    }
}
