//! Removal categories follow the training step's structure, checked against
//! structure the test rebuilds from the whole graph (not node names): the
//! optimizer category holds no node the gradient computation reads, a
//! forward while loop's exits are never gradient work, and the loss the
//! gradients are seeded from is loss even when only a summary reads it.

use std::collections::HashMap;

use crate::common;

use servegraph::ir::{Graph, NodeId, TensorRef};
use servegraph::ops::training::{TrainingCategory, reads_only_shape, training_category};
use servegraph::passes::{PassContext, Pipeline, ServingSpec};
use servegraph::read::read_model;

/// The whole graph before serving, and each removed node's category.
fn categorised(name: &str) -> (Graph, HashMap<String, String>) {
    let source = common::testdata("fixtures").join(name);
    let mut model = read_model(&source, None, &[]).unwrap();
    let before = model.graph.clone();
    let options = common::fixture_options(name);
    let spec = ServingSpec {
        inputs: options.serving.inputs,
        outputs: options.serving.outputs,
        ..ServingSpec::default()
    };
    let reports = Pipeline::serving(&spec)
        .run(&mut model, &mut PassContext::new())
        .unwrap();
    let prune = reports.iter().find(|r| r.pass == "prune").unwrap();
    let categories = prune
        .removed
        .iter()
        .flat_map(|(reason, names)| names.iter().map(move |n| (n.clone(), reason.to_string())))
        .collect();
    (before, categories)
}

fn of_category(graph: &Graph, category: TrainingCategory) -> Vec<NodeId> {
    graph
        .node_ids()
        .into_iter()
        .filter(|&id| training_category(graph.op(id)) == Some(category))
        .collect()
}

#[test]
fn nothing_a_gradient_op_reads_is_optimizer_work() {
    for name in ["tiny_mlp", "rnn_while", "mlp_queue"] {
        let (graph, categories) = categorised(name);
        let gradient_ops = of_category(&graph, TrainingCategory::Gradient);
        assert!(!gradient_ops.is_empty(), "{name}: a training graph");
        let behind_gradient_ops = graph.reachable_backwards(gradient_ops);
        let mut checked = 0;
        for id in behind_gradient_ops {
            if let Some(category) = categories.get(graph.name(id)) {
                assert_ne!(category, "optimizer", "{name}: {}", graph.name(id));
                checked += 1;
            }
        }
        assert!(checked > 10, "{name}: only {checked} removed nodes checked");
        // The apply ops themselves are optimizer work.
        for id in of_category(&graph, TrainingCategory::Optimizer) {
            assert_eq!(categories[graph.name(id)], "optimizer", "{name}");
        }
    }
}

#[test]
fn a_forward_loops_exits_are_not_gradient_work() {
    let (graph, categories) = categorised("rnn_while");
    // A forward exit: one whose value flows into no gradient op and no
    // apply op (a gradient loop's exits feed the apply ops).
    let mut training_step = of_category(&graph, TrainingCategory::Gradient);
    training_step.extend(of_category(&graph, TrainingCategory::Optimizer));
    let feeding_gradients = graph.reachable_backwards(training_step);
    let mut forward_exits = 0;
    for id in graph.node_ids() {
        if graph.op(id) != "Exit" || feeding_gradients.contains(&id) {
            continue;
        }
        if let Some(category) = categories.get(graph.name(id)) {
            assert_ne!(category, "gradient", "rnn_while: {}", graph.name(id));
        }
        forward_exits += 1;
    }
    assert!(forward_exits > 0, "rnn_while: no forward loop exit found");
}

/// What `graph` computes from the value of the cross-entropy ops (by op
/// type) through data edges, up to the summaries and the gradient and
/// optimizer ops that read it: the per-example losses reduced to the loss
/// (`Mean`, `Sum` and `truediv`, ...).
fn computed_from_cross_entropy(graph: &Graph) -> Vec<NodeId> {
    let mut stack: Vec<NodeId> = graph
        .node_ids()
        .into_iter()
        .filter(|&id| graph.op(id) == "SparseSoftmaxCrossEntropyWithLogits")
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut computed = Vec::new();
    while let Some(id) = stack.pop() {
        let readers = graph.data_consumers(TensorRef::new(id, 0));
        for (reader, _) in readers {
            let op = graph.op(reader);
            if training_category(op).is_none() && !reads_only_shape(op) && seen.insert(reader) {
                computed.push(reader);
                stack.push(reader);
            }
        }
    }
    computed
}

#[test]
fn the_loss_is_loss_also_when_only_a_summary_or_nothing_reads_it() {
    // mlp_queue's loss is read by a scalar summary; the others' by nothing
    // (the training program fetched it); rnn_while's gradients run through
    // a while loop.
    for name in ["mlp_queue", "tiny_mlp", "rnn_while", "int64_offsets"] {
        let (graph, categories) = categorised(name);
        let computed = computed_from_cross_entropy(&graph);
        // Only what the gradient and optimizer ops do not read: the
        // gradients' own arithmetic on the cross entropy's value is
        // gradient work.
        let mut training_step = of_category(&graph, TrainingCategory::Gradient);
        training_step.extend(of_category(&graph, TrainingCategory::Optimizer));
        let feeding_gradients = graph.reachable_backwards(training_step);
        let forward: Vec<NodeId> = computed
            .into_iter()
            .filter(|id| !feeding_gradients.contains(id))
            .collect();
        assert!(!forward.is_empty(), "{name}: no loss computed");
        for id in forward {
            assert_eq!(
                categories.get(graph.name(id)).map(String::as_str),
                Some("loss"),
                "{name}: {} ({})",
                graph.name(id),
                graph.op(id)
            );
        }
    }
}
