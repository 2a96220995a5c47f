//! Batch norm in inference mode. A `FusedBatchNorm*` still running with
//! `is_training=true` is rewired to read the moving mean and variance with
//! `is_training=false`; an unfused batch norm (`tf.nn.moments` feeding
//! `tf.nn.batch_normalization`) has its batch statistics replaced by the
//! moving averages. The moving averages are found from their update ops
//! ([`averages`](super::averages)), which then have no serving consumer and
//! are pruned away; only batch statistics are replaced — an average of a
//! loss kept for summaries, or of a weight, is no batch norm's business.

use std::collections::BTreeMap;

use super::averages::{AverageKind, find_averages, is_fused_batch_norm, variable_of};
use super::{Pass, PassContext, PassError, PassReport};
use crate::ir::constants::FORWARDING_OPS;
use crate::ir::{AttrExt, Graph, Node, NodeId, TensorRef};
use crate::model::Model;
use crate::op_kinds::is_resource_variable_op;

/// Puts every batch norm in inference mode.
pub struct BatchNormPass;

impl Pass for BatchNormPass {
    fn name(&self) -> &'static str {
        "batch-norm"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let averages = moving_averages(&model.graph);
        for id in model.graph.node_ids() {
            let node = model.graph.node(id);
            if is_fused_batch_norm(&node.op) && node.attr_bool("is_training").unwrap_or(false) {
                fuse_to_inference(model, id, &averages, &mut report)?;
            }
        }
        // Unfused: batch statistics that have a moving average are replaced by it.
        for (value, (variable, update_reader)) in &averages {
            if is_fused_batch_norm(model.graph.op(value.node))
                || is_variable_read(&model.graph, *value)
            {
                continue;
            }
            let read = variable_read(model, *variable, &mut report)?;
            let consumers = model.graph.data_consumers(*value);
            let from = model.graph.tensor_name(*value);
            let to = model.graph.tensor_name(read);
            let mut moved = false;
            for (consumer, slot) in consumers {
                if consumer != *update_reader {
                    model.graph.set_data_input(consumer, slot, read)?;
                    moved = true;
                }
            }
            if moved {
                report.rewired(from, to, "batch statistic replaced by its moving average");
            }
        }
        Ok(report)
    }
}

/// Batch statistic tensor → (moving-average variable node, the update node
/// that reads the statistic).
fn moving_averages(graph: &Graph) -> BTreeMap<TensorRef, (NodeId, NodeId)> {
    find_averages(graph)
        .into_iter()
        .filter(|a| a.kind == AverageKind::BatchStatistic)
        .map(|a| (a.source, (a.shadow, a.reader)))
        .collect()
}

fn is_variable_read(graph: &Graph, tensor: TensorRef) -> bool {
    variable_of(graph, tensor).is_some()
}

/// A tensor holding the variable's current value: an existing read, or a new one.
fn variable_read(
    model: &mut Model,
    variable: NodeId,
    report: &mut PassReport,
) -> Result<TensorRef, PassError> {
    let graph = &model.graph;
    let resource = is_resource_variable_op(graph.op(variable));
    let existing = graph
        .data_consumers(TensorRef::new(variable, 0))
        .into_iter()
        .find(|(c, _)| {
            let op = graph.op(*c);
            (resource && op == "ReadVariableOp") || (!resource && FORWARDING_OPS.contains(&op))
        });
    if let Some((reader, _)) = existing {
        return Ok(TensorRef::new(reader, 0));
    }
    let var_node = graph.node(variable);
    let dtype = var_node.attr_type("dtype")?;
    let name = graph.unique_name(&format!("{}/read_for_inference", var_node.name()));
    let node = if resource {
        Node::new(name.clone(), "ReadVariableOp")
    } else {
        Node::new(name.clone(), "Identity")
    };
    let key = if resource { "dtype" } else { "T" };
    let node = node.with_type(key, dtype);
    let id = model.graph.add_node(node)?;
    model.graph.push_data_input(id, TensorRef::new(variable, 0));
    report.added.push(name);
    Ok(TensorRef::new(id, 0))
}

/// Rewires one training-mode fused batch norm to its moving statistics.
fn fuse_to_inference(
    model: &mut Model,
    id: NodeId,
    averages: &BTreeMap<TensorRef, (NodeId, NodeId)>,
    report: &mut PassReport,
) -> Result<(), PassError> {
    let name = model.graph.name(id).to_string();
    let mut stats = Vec::with_capacity(2);
    for (port, slot) in [(1usize, 3usize), (2, 4)] {
        let moving = match averages.get(&TensorRef::new(id, port)) {
            Some(&(variable, _)) => variable_read(model, variable, report)?,
            None => match model.graph.data_input(id, slot) {
                // Keras passes the moving statistics in already.
                Some(input) if is_variable_read(&model.graph, input) => input,
                _ => return Err(PassError::BatchNormWithoutMovingStats { node: name }),
            },
        };
        stats.push((slot, moving));
    }
    for (slot, moving) in stats {
        let from = model
            .graph
            .data_input(id, slot)
            .map(|t| model.graph.tensor_name(t))
            .unwrap_or_default();
        model.graph.set_data_input(id, slot, moving)?;
        report.rewired(
            from,
            model.graph.tensor_name(moving),
            format!("{name} uses its moving statistics"),
        );
    }
    let node = model.graph.node_mut(id);
    node.set_attr_bool("is_training", false);
    if node.attrs.contains_key("exponential_avg_factor") {
        node.set_attr_float("exponential_avg_factor", 1.0);
    }
    report.edited(name.to_string());
    report.note(format!("{name}: is_training set to false"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::limits::MAX_MATCH_DEPTH;
    use crate::ir::DataType;
    use crate::passes::testing::{self, node};

    #[test]
    fn training_fused_batch_norm_reads_moving_statistics() {
        let mut nodes = vec![
            node("x", "Placeholder", &[]),
            node("scale", "Const", &[]),
            node("offset", "Const", &[]),
            node("empty", "Const", &[]),
            node(
                "bn",
                "FusedBatchNormV3",
                &["x", "scale", "offset", "empty", "empty"],
            )
            .with_bool("is_training", true),
            node("out", "Relu", &["bn"]),
        ];
        for (var, port) in [("moving_mean", 1), ("moving_variance", 2)] {
            nodes.push(node(var, "VariableV2", &[]).with_type("dtype", DataType::DtFloatRef));
            nodes.push(node(&format!("{var}/read"), "Identity", &[var]));
            nodes.push(node(&format!("{var}/decay"), "Const", &[]));
            nodes.push(node(
                &format!("{var}/sub"),
                "Sub",
                &[&format!("{var}/read"), &format!("bn:{port}")],
            ));
            nodes.push(node(
                &format!("{var}/mul"),
                "Mul",
                &[&format!("{var}/sub"), &format!("{var}/decay")],
            ));
            nodes.push(node(
                &format!("{var}/AssignMovingAvg"),
                "AssignSub",
                &[var, &format!("{var}/mul")],
            ));
        }
        let mut model = testing::model(nodes);
        BatchNormPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let g = &model.graph;
        let bn = g.find("bn").unwrap();
        assert!(!g.node(bn).attr_bool("is_training").unwrap());
        assert_eq!(
            g.tensor_name(g.data_input(bn, 3).unwrap()),
            "moving_mean/read:0"
        );
        assert_eq!(
            g.tensor_name(g.data_input(bn, 4).unwrap()),
            "moving_variance/read:0"
        );
    }

    #[test]
    fn training_batch_norm_without_statistics_is_an_error() {
        let mut model = testing::model(vec![
            node("x", "Placeholder", &[]),
            node("c", "Const", &[]),
            node("bn", "FusedBatchNormV3", &["x", "c", "c", "c", "c"])
                .with_bool("is_training", true),
        ]);
        let err = BatchNormPass
            .run(&mut model, &mut PassContext::new())
            .unwrap_err();
        assert!(err.to_string().contains("\"bn\""), "{err}");
    }

    #[test]
    fn unfused_moments_use_the_moving_average() {
        let nodes = vec![
            node("x", "Placeholder", &[]),
            node("moments/mean", "Mean", &["x"]),
            node("moments/stop", "StopGradient", &["moments/mean"]),
            node("moments/sq", "SquaredDifference", &["x", "moments/stop"]),
            node("moments/variance", "Mean", &["moments/sq"]),
            node("norm", "Sub", &["x", "moments/mean"]),
            node("ema", "VarHandleOp", &[]).with_type("dtype", DataType::DtFloat),
            node("ema/read", "ReadVariableOp", &["ema"]),
            node("ema/sub", "Sub", &["ema/read", "moments/mean"]),
            node("decay", "Const", &[]),
            node("ema/mul", "Mul", &["decay", "ema/sub"]),
            node("ema/update", "AssignSubVariableOp", &["ema", "ema/mul"]),
        ];
        let mut model = testing::model(nodes);
        BatchNormPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let g = &model.graph;
        let norm = g.find("norm").unwrap();
        assert_eq!(g.tensor_name(g.data_input(norm, 1).unwrap()), "ema/read:0");
        // The update still reads the batch statistic; pruning removes it.
        let sub = g.find("ema/sub").unwrap();
        assert_eq!(
            g.tensor_name(g.data_input(sub, 1).unwrap()),
            "moments/mean:0"
        );
    }

    /// The CIFAR-10 tutorial's loss averages: an average of a loss kept
    /// for summaries is no batch statistic, and what reads the loss keeps
    /// reading it.
    #[test]
    fn a_loss_average_is_not_a_batch_statistic() {
        let nodes = vec![
            node("x", "Placeholder", &[]),
            node("loss", "Mean", &["x"]),
            node("total", "AddN", &["loss"]),
            node("avg", "VariableV2", &[]).with_type("dtype", DataType::DtFloatRef),
            node("avg/sub", "Sub", &["avg", "loss"]),
            node("decay", "Const", &[]),
            node("avg/mul", "Mul", &["avg/sub", "decay"]),
            node("avg/update", "AssignSub", &["avg", "avg/mul"]),
        ];
        let mut model = testing::model(nodes);
        let report = BatchNormPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        assert!(report.rewired.is_empty(), "{:?}", report.rewired);
        let g = &model.graph;
        let total = g.find("total").unwrap();
        assert_eq!(g.tensor_name(g.data_input(total, 0).unwrap()), "loss:0");
    }

    #[test]
    fn a_deep_chain_of_reads_is_a_non_match_not_a_stack_overflow() {
        let mut nodes = vec![node("v", "VarHandleOp", &[]).with_type("dtype", DataType::DtFloat)];
        let depth = 100_000;
        for i in 0..depth {
            let input = if i == 0 {
                "v".to_string()
            } else {
                format!("r{}", i - 1)
            };
            nodes.push(node(&format!("r{i}"), "ReadVariableOp", &[&input]));
        }
        let graph = testing::graph(nodes);
        let (near, far) = (
            graph.find(&format!("r{}", MAX_MATCH_DEPTH - 2)).unwrap(),
            graph.find(&format!("r{}", depth - 1)).unwrap(),
        );
        let found = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn_scoped(scope, || {
                    (
                        variable_of(&graph, TensorRef::new(near, 0)),
                        variable_of(&graph, TensorRef::new(far, 0)),
                    )
                })
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!(found, (graph.find("v"), None));
    }
}
