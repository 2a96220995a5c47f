//! Cleans what the graph says about itself once the passes are done:
//! `_class` colocation entries naming removed nodes, `_output_shapes` that
//! may be stale after rewiring, and the training run's collections and
//! saver, which the writer replaces with its own.

use super::{Pass, PassContext, PassError, PassReport, Removal};
use crate::ir::{AttrExt, Graph, NodeId};
use crate::model::Model;
use crate::ops::shapes::reads_output_shapes;

/// Drops stale metadata.
pub struct MetadataPass;

impl Pass for MetadataPass {
    fn name(&self) -> &'static str {
        "metadata"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        drop_stale_colocations(&mut model.graph, &mut report);
        if drop_output_shapes(&mut model.graph, &mut report) {
            // Inference reads `_output_shapes` where an op's own attrs are silent.
            cx.shapes.clear();
        }
        drop_uncalled_functions(&mut model.graph, &mut report);
        drop_training_metadata(model, &mut report);
        Ok(report)
    }

    /// Colocations, uncalled functions and the training collections are
    /// nothing inference reads; the memo is emptied when `_output_shapes`
    /// go from a node whose inference may read them.
    fn keeps_shapes(&self) -> bool {
        true
    }
}

/// `loc:@node` entries of `_class` that name nodes no longer in the graph.
pub(crate) fn drop_stale_colocations(graph: &mut Graph, report: &mut PassReport) {
    let mut dropped = 0;
    for id in graph.node_ids() {
        if let Some(live) = live_colocations(graph, id) {
            graph.node_mut(id).set_attr_list_string("_class", live);
            dropped += 1;
        }
    }
    if dropped > 0 {
        report.note(format!(
            "{dropped} colocation constraints named removed nodes and were dropped"
        ));
    }
}

/// The `_class` entries of `id` worth keeping, when some are not.
fn live_colocations(graph: &Graph, id: NodeId) -> Option<Vec<Vec<u8>>> {
    let node = graph.node(id);
    // Most nodes have no `_class`: asking for it would build a
    // missing-attr error (three strings) only to throw it away.
    if !node.attrs.contains_key("_class") {
        return None;
    }
    let entries = node.attr_list_string("_class").ok()?;
    let is_live = |entry: &[u8]| {
        let entry = String::from_utf8_lossy(entry);
        entry
            .strip_prefix("loc:@")
            .is_none_or(|target| graph.find(target).is_some())
    };
    if entries.iter().all(|entry| is_live(entry)) {
        return None;
    }
    let live: Vec<Vec<u8>> = entries
        .iter()
        .filter(|entry| is_live(entry))
        .map(|entry| entry.to_vec())
        .collect();
    (live.len() < entries.len()).then_some(live)
}

/// `_output_shapes` may be stale once passes rewired the graph.
/// Whether one went from a node whose shape inference may read it
/// ([`reads_output_shapes`]): only then are remembered inferences stale,
/// and on a large graph inferring again costs as much as a pass.
fn drop_output_shapes(graph: &mut Graph, report: &mut PassReport) -> bool {
    let mut dropped = 0;
    let mut read = false;
    for id in graph.node_ids() {
        let node = graph.node_mut(id);
        if node.attrs.remove("_output_shapes").is_some() {
            dropped += 1;
            read |= reads_output_shapes(&node.op);
        }
    }
    if dropped > 0 {
        report.note(format!("{dropped} _output_shapes attrs dropped"));
    }
    read
}

fn drop_uncalled_functions(graph: &mut Graph, report: &mut PassReport) {
    let dropped = graph.retain_called_functions();
    if dropped.is_empty() {
        return;
    }
    report.note(format!(
        "{} functions no serving node calls were dropped from the library",
        dropped.len()
    ));
    for function in dropped {
        report.removed(Removal::UnusedFunction, function);
    }
}

/// The training run's collections and saver: the writer writes its own.
fn drop_training_metadata(model: &mut Model, report: &mut PassReport) {
    let collections: Vec<String> = std::mem::take(&mut model.collections).into_keys().collect();
    if !collections.is_empty() {
        report.note(format!(
            "training collections dropped: {}",
            collections.join(", ")
        ));
    }
    if model.saver_def.take().is_some() {
        report.note("training saver_def dropped; a serving saver is written instead");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Node;

    fn colocated_with(names: &[&str]) -> Vec<Vec<u8>> {
        names
            .iter()
            .map(|n| format!("loc:@{n}").into_bytes())
            .collect()
    }

    #[test]
    fn drops_colocations_with_removed_nodes_shapes_and_training_metadata() {
        let mut a = Node::new("a", "Const");
        a.set_attr_list_string("_class", colocated_with(&["gone", "b"]));
        a.set_attr_list_shape("_output_shapes", &[None]);
        let mut b = Node::new("b", "Const");
        b.set_attr_list_string("_class", colocated_with(&["gone"]));
        let mut graph = Graph::new();
        graph.add_node(a).unwrap();
        graph.add_node(b).unwrap();
        let mut model = Model::from_graph(graph);
        model
            .collections
            .insert("train_op".into(), Default::default());
        model.saver_def = Some(Default::default());
        MetadataPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let a = model.graph.node(model.graph.require("a").unwrap());
        assert_eq!(a.attr_list_string("_class").unwrap(), [b"loc:@b"]);
        assert!(!a.attrs.contains_key("_output_shapes"));
        let b = model.graph.node(model.graph.require("b").unwrap());
        assert!(!b.attrs.contains_key("_class"));
        assert!(model.collections.is_empty() && model.saver_def.is_none());
    }

    /// Inferences stay remembered unless the dropped `_output_shapes`
    /// belonged to an op whose inference reads them.
    #[test]
    fn forgets_inferences_only_when_dropped_shapes_were_read() {
        let remembered_after_drop = |op: &str| {
            let mut node = Node::new("n", op);
            node.set_attr_list_shape("_output_shapes", &[Some(&[3])]);
            let mut graph = Graph::new();
            graph.add_node(node).unwrap();
            let mut model = Model::from_graph(graph);
            let mut cx = PassContext::new();
            let seeds = Default::default();
            let before = cx.shapes.infer(&model, &seeds).unwrap();
            MetadataPass.run(&mut model, &mut cx).unwrap();
            let after = cx.shapes.infer(&model, &seeds).unwrap();
            std::sync::Arc::ptr_eq(&before, &after)
        };
        assert!(remembered_after_drop("Const"));
        assert!(!remembered_after_drop("IteratorGetNext"));
    }
}
