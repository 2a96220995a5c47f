//! The moving averages a training graph keeps, found by structure and told
//! apart by what they average:
//!
//! - an update `shadow -= (shadow - value) * (1 - decay)` (`AssignSub` or
//!   `AssignSubVariableOp` of a `Mul` of a `Sub` starting from the shadow)
//!   averages `value` into `shadow`; Keras's fused batch norm assigns the
//!   new average itself (`shadow = FusedBatchNorm:1|2`);
//! - the zero-debiased form averages into a `biased` variable and assigns
//!   `shadow = biased / (1 - (1 - decay)^local_step)` after counting
//!   `local_step` up: the shadow, `biased` and `local_step` are one average.
//!
//! What is averaged decides the kind: a batch moment (a fused batch norm's
//! mean or variance, `tf.nn.moments`' mean or variance) or a shadow that a
//! batch norm reads as its statistics is a **batch-norm moving statistic**;
//! a variable's value is a **weight average** (`ExponentialMovingAverage`
//! over the trainable variables, what an evaluation restores with
//! `variables_to_restore()`); anything else — a loss, a metric — is an
//! average kept **for summaries**. Optimizer slots and state are the
//! variables an `Apply*` op updates besides the variable it trains.

use std::collections::{BTreeMap, BTreeSet};

use crate::format::limits::MAX_MATCH_DEPTH;
use crate::ir::constants::through_identities;
use crate::ir::{AttrExt, Graph, NodeId, TensorRef};
use crate::model::Model;
use crate::op_kinds::is_variable_op;

/// What a moving average averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AverageKind {
    /// A batch norm's moving mean or variance: what inference reads.
    BatchStatistic,
    /// An exponential moving average of a variable (a weight).
    WeightAverage,
    /// An average of some other training tensor (a loss), for summaries.
    SummaryAverage,
}

impl AverageKind {
    /// How reports call a checkpoint tensor of this kind.
    pub fn reason(self) -> &'static str {
        match self {
            AverageKind::BatchStatistic => "batch-norm moving statistic",
            AverageKind::WeightAverage => "weight moving average",
            AverageKind::SummaryAverage => "moving average for summaries",
        }
    }
}

/// One moving average of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Average {
    /// The variable holding the average.
    pub shadow: NodeId,
    /// The tensor averaged.
    pub source: TensorRef,
    /// The node of the update that reads `source` (its `Sub`, or the
    /// assignment itself).
    pub reader: NodeId,
    /// For a weight average, the variable averaged.
    pub averaged: Option<NodeId>,
    /// The zero-debiased form's `biased` and `local_step` variables.
    pub companions: Vec<NodeId>,
    pub kind: AverageKind,
}

/// Every moving average `graph` updates, by its shadow variable; a
/// zero-debiased average once, under the variable holding the debiased value.
pub fn find_averages(graph: &Graph) -> Vec<Average> {
    let mut found: BTreeMap<NodeId, Average> = BTreeMap::new();
    for id in graph.node_ids() {
        let (Some(target), Some(value)) = (graph.data_input(id, 0), graph.data_input(id, 1)) else {
            continue;
        };
        let Some(shadow) = variable_of(graph, target) else {
            continue;
        };
        let (source, reader) = match graph.op(id) {
            "AssignSub" | "AssignSubVariableOp" => match decayed_value(graph, shadow, value) {
                Some(found) => found,
                None => continue,
            },
            "Assign" | "AssignVariableOp" => match fused_statistic(graph, value) {
                Some(statistic) => (statistic, id),
                None => continue,
            },
            _ => continue,
        };
        let kind = kind_of(graph, shadow, source);
        let averaged = (kind == AverageKind::WeightAverage)
            .then(|| variable_of(graph, source))
            .flatten();
        found.insert(
            shadow,
            Average {
                shadow,
                source,
                reader,
                averaged,
                companions: Vec::new(),
                kind,
            },
        );
    }
    debiased(graph, &mut found);
    found.into_values().collect()
}

/// `shadow -= (shadow - value) * decay`: the averaged `value` and the `Sub`
/// reading it, for the update's `delta`.
fn decayed_value(graph: &Graph, shadow: NodeId, delta: TensorRef) -> Option<(TensorRef, NodeId)> {
    let delta = through_identities(graph, delta);
    if graph.op(delta.node) != "Mul" {
        return None;
    }
    graph
        .data_inputs(delta.node)
        .into_iter()
        .map(|factor| through_identities(graph, factor).node)
        .filter(|&sub| graph.op(sub) == "Sub")
        .find_map(|sub| {
            let (minuend, value) = (graph.data_input(sub, 0)?, graph.data_input(sub, 1)?);
            (variable_of(graph, minuend) == Some(shadow)).then_some((value, sub))
        })
}

/// Keras's fused batch norm computes the new average itself:
/// `var = FusedBatchNorm:1` (mean) or `:2` (variance).
fn fused_statistic(graph: &Graph, value: TensorRef) -> Option<TensorRef> {
    let value = through_identities(graph, value);
    (is_fused_batch_norm(graph.op(value.node)) && matches!(value.port, 1 | 2)).then_some(value)
}

/// Folds the zero-debiased form into one average: for each
/// `shadow = numerator / denominator` whose numerator is the update (or a
/// read) of an average found (`biased`), the shadow takes `biased`'s source
/// and kind, with `biased` and the step counters the denominator reads as
/// its companions.
fn debiased(graph: &Graph, found: &mut BTreeMap<NodeId, Average>) {
    for id in graph.node_ids() {
        if !matches!(graph.op(id), "Assign" | "AssignVariableOp") {
            continue;
        }
        let (Some(target), Some(value)) = (graph.data_input(id, 0), graph.data_input(id, 1)) else {
            continue;
        };
        let Some(shadow) = variable_of(graph, target) else {
            continue;
        };
        let division = through_identities(graph, value).node;
        if graph.op(division) != "RealDiv" || found.contains_key(&shadow) {
            continue;
        }
        let (Some(numerator), Some(denominator)) =
            (graph.data_input(division, 0), graph.data_input(division, 1))
        else {
            continue;
        };
        let Some(biased) = updated_or_read(graph, numerator).filter(|b| found.contains_key(b))
        else {
            continue;
        };
        let mut companions = vec![biased];
        companions.extend(counters(graph, denominator));
        let Some(inner) = found.remove(&biased) else {
            continue;
        };
        found.insert(
            shadow,
            Average {
                shadow,
                companions,
                ..inner
            },
        );
    }
}

/// The variable a tensor reads, or the one the update producing it assigns.
fn updated_or_read(graph: &Graph, tensor: TensorRef) -> Option<NodeId> {
    let behind = through_identities(graph, tensor);
    if graph.op(behind.node).starts_with("Assign") {
        return variable_of(graph, graph.data_input(behind.node, 0)?);
    }
    variable_of(graph, behind)
}

/// The variables counted up (`AssignAdd`) within a few hops back from a
/// debiasing denominator: its `local_step`.
fn counters(graph: &Graph, denominator: TensorRef) -> Vec<NodeId> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![denominator];
    for _ in 0..6 {
        let mut next = Vec::new();
        for tensor in frontier {
            let node = through_identities(graph, tensor).node;
            if graph.op(node).starts_with("AssignAdd") {
                found.extend(
                    graph
                        .data_input(node, 0)
                        .and_then(|t| variable_of(graph, t)),
                );
            } else if variable_of(graph, TensorRef::new(node, 0)).is_none() {
                next.extend(graph.data_inputs(node));
            }
        }
        frontier = next;
    }
    found.into_iter().collect()
}

fn kind_of(graph: &Graph, shadow: NodeId, source: TensorRef) -> AverageKind {
    if is_batch_moment(graph, source) || read_by_batch_norm(graph, shadow) {
        AverageKind::BatchStatistic
    } else if variable_of(graph, source).is_some_and(|v| v != shadow) {
        AverageKind::WeightAverage
    } else {
        AverageKind::SummaryAverage
    }
}

/// A batch's mean or variance: a fused batch norm's output 1 or 2, or
/// `tf.nn.moments` (through a `Squeeze`): the variance a `Mean` of a
/// `SquaredDifference` from a `StopGradient` of the mean, the mean a
/// `Mean` that such a difference reads.
pub fn is_batch_moment(graph: &Graph, tensor: TensorRef) -> bool {
    let mut tensor = through_identities(graph, tensor);
    if is_fused_batch_norm(graph.op(tensor.node)) {
        return matches!(tensor.port, 1 | 2);
    }
    if graph.op(tensor.node) == "Squeeze" {
        match graph.data_input(tensor.node, 0) {
            Some(input) => tensor = through_identities(graph, input),
            None => return false,
        }
    }
    let mean = tensor.node;
    if graph.op(mean) != "Mean" {
        return false;
    }
    let of_difference = graph
        .data_input(mean, 0)
        .map(|input| through_identities(graph, input).node)
        .is_some_and(|node| moments_difference(graph, node));
    of_difference || read_by_moments_difference(graph, mean)
}

/// `SquaredDifference(x, StopGradient(Mean(...)))`, as `tf.nn.moments`
/// computes the variance.
fn moments_difference(graph: &Graph, node: NodeId) -> bool {
    if graph.op(node) != "SquaredDifference" {
        return false;
    }
    let Some(stopped) = graph.data_input(node, 1) else {
        return false;
    };
    graph.op(stopped.node) == "StopGradient"
        && graph
            .data_input(stopped.node, 0)
            .is_some_and(|m| graph.op(through_identities(graph, m).node) == "Mean")
}

/// Whether `mean`'s output reaches, behind a `StopGradient`, a
/// `SquaredDifference` of the moments form.
fn read_by_moments_difference(graph: &Graph, mean: NodeId) -> bool {
    let mut frontier = vec![TensorRef::new(mean, 0)];
    for _ in 0..4 {
        let mut next = Vec::new();
        for tensor in frontier {
            for (consumer, _) in graph.data_consumers(tensor) {
                match graph.op(consumer) {
                    "SquaredDifference" if moments_difference(graph, consumer) => return true,
                    op if crate::ir::constants::FORWARDING_OPS.contains(&op) => {
                        next.push(TensorRef::new(consumer, 0));
                    }
                    _ => {}
                }
            }
        }
        frontier = next;
    }
    false
}

/// Whether a batch norm in inference form reads `shadow` as its mean or
/// variance (inputs 3 and 4 of a `FusedBatchNorm*`).
fn read_by_batch_norm(graph: &Graph, shadow: NodeId) -> bool {
    let mut frontier = vec![TensorRef::new(shadow, 0)];
    for _ in 0..4 {
        let mut next = Vec::new();
        for tensor in frontier {
            for (consumer, slot) in graph.data_consumers(tensor) {
                let op = graph.op(consumer);
                if is_fused_batch_norm(op) && matches!(slot, 3 | 4) {
                    return true;
                }
                if op == "ReadVariableOp" || crate::ir::constants::FORWARDING_OPS.contains(&op) {
                    next.push(TensorRef::new(consumer, 0));
                }
            }
        }
        frontier = next;
    }
    false
}

pub fn is_fused_batch_norm(op: &str) -> bool {
    matches!(
        op,
        "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3"
    )
}

/// The variable node behind a ref, a handle or a read of either, followed
/// back through at most [`MAX_MATCH_DEPTH`] reads (a non-match beyond).
pub fn variable_of(graph: &Graph, mut tensor: TensorRef) -> Option<NodeId> {
    for _ in 0..MAX_MATCH_DEPTH {
        let behind = through_identities(graph, tensor);
        match graph.op(behind.node) {
            op if is_variable_op(op) => return Some(behind.node),
            "ReadVariableOp" => tensor = graph.data_input(behind.node, 0)?,
            _ => return None,
        }
    }
    None
}

/// The weight averages to serve: variable averaged → its shadow.
pub fn weight_averages(averages: &[Average]) -> Vec<(NodeId, NodeId)> {
    averages
        .iter()
        .filter(|a| a.kind == AverageKind::WeightAverage)
        .filter_map(|a| Some((a.averaged?, a.shadow)))
        .collect()
}

/// Each optimizer op's extra variables (besides the one it trains, input
/// 0): a slot when shaped like the trained variable, else optimizer state
/// (Adam's `beta1_power`).
fn optimizer_variables(graph: &Graph) -> BTreeMap<NodeId, &'static str> {
    let mut found = BTreeMap::new();
    for id in graph.node_ids() {
        let op = graph.op(id);
        let applies = [
            "Apply",
            "ResourceApply",
            "SparseApply",
            "ResourceSparseApply",
        ];
        if !applies.iter().any(|prefix| op.starts_with(prefix)) {
            continue;
        }
        let Some(trained) = graph.data_input(id, 0).and_then(|t| variable_of(graph, t)) else {
            continue;
        };
        let trained_shape = shape_of(graph, trained);
        for input in graph.data_inputs(id).into_iter().skip(1) {
            let Some(variable) = variable_of(graph, input).filter(|&v| v != trained) else {
                continue;
            };
            let slot = trained_shape.is_some() && shape_of(graph, variable) == trained_shape;
            found.insert(
                variable,
                if slot {
                    "optimizer slot"
                } else {
                    "optimizer state"
                },
            );
        }
    }
    found
}

fn shape_of(graph: &Graph, variable: NodeId) -> Option<Vec<i64>> {
    let shape = graph.node(variable).attr_shape("shape").ok()?;
    Some(shape.dim.iter().map(|d| d.size).collect())
}

/// What each averaging or optimizer variable of `model` is, by checkpoint
/// key: the reason a report gives when it is left out.
pub fn checkpoint_roles(model: &Model, averages: &[Average]) -> BTreeMap<String, String> {
    let graph = &model.graph;
    let key = |id: NodeId| {
        let name = graph.name(id);
        model
            .checkpoint_slots
            .get(name)
            .map_or_else(|| name.to_string(), |slot| slot.key.clone())
    };
    let mut roles = BTreeMap::new();
    for (variable, role) in optimizer_variables(graph) {
        roles.insert(key(variable), role.to_string());
    }
    for average in averages {
        for id in std::iter::once(average.shadow).chain(average.companions.iter().copied()) {
            roles.insert(key(id), average.kind.reason().to_string());
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DataType;
    use crate::passes::testing::{self, TestNode, node};

    fn variable(name: &str) -> TestNode {
        node(name, "VariableV2", &[]).with_type("dtype", DataType::DtFloatRef)
    }

    /// `shadow -= (shadow - value) * decay`, as `assign_moving_average` writes it.
    fn update(shadow: &str, value: &str) -> Vec<TestNode> {
        vec![
            variable(shadow),
            node(&format!("{shadow}/sub"), "Sub", &[shadow, value]),
            node(
                &format!("{shadow}/mul"),
                "Mul",
                &[&format!("{shadow}/sub"), "decay"],
            ),
            node(
                &format!("{shadow}/update"),
                "AssignSub",
                &[shadow, &format!("{shadow}/mul")],
            ),
        ]
    }

    fn kinds(nodes: Vec<TestNode>) -> Vec<(String, AverageKind, Option<String>)> {
        let graph = testing::graph(nodes);
        find_averages(&graph)
            .into_iter()
            .map(|a| {
                let averaged = a.averaged.map(|v| graph.name(v).to_string());
                (graph.name(a.shadow).to_string(), a.kind, averaged)
            })
            .collect()
    }

    /// Names say nothing: a weight average is any average of a variable
    /// read, a loss average any average of another tensor, a batch
    /// statistic an average of `tf.nn.moments`' outputs.
    #[test]
    fn averages_are_told_apart_by_what_they_average() {
        let mut nodes = vec![
            node("decay", "Const", &[]),
            node("x", "Placeholder", &[]),
            variable("w"),
            node("w/read", "Identity", &["w"]),
            node("loss", "Mean", &["x"]),
            node("m", "Mean", &["x"]),
            node("m/stop", "StopGradient", &["m"]),
            node("sq", "SquaredDifference", &["x", "m/stop"]),
            node("v", "Mean", &["sq"]),
            node("m/squeezed", "Squeeze", &["m"]),
        ];
        nodes.extend(update("a", "w/read"));
        nodes.extend(update("b", "loss"));
        nodes.extend(update("c", "m/squeezed"));
        nodes.extend(update("d", "v"));
        let found = kinds(nodes);
        assert_eq!(
            found,
            vec![
                ("a".into(), AverageKind::WeightAverage, Some("w".into())),
                ("b".into(), AverageKind::SummaryAverage, None),
                ("c".into(), AverageKind::BatchStatistic, None),
                ("d".into(), AverageKind::BatchStatistic, None),
            ]
        );
    }

    /// A mean squared error is no batch moment: its difference is not from
    /// a stopped mean of the same batch.
    #[test]
    fn a_mean_squared_error_average_is_for_summaries() {
        let mut nodes = vec![
            node("decay", "Const", &[]),
            node("x", "Placeholder", &[]),
            node("y", "Placeholder", &[]),
            node("sq", "SquaredDifference", &["x", "y"]),
            node("mse", "Mean", &["sq"]),
        ];
        nodes.extend(update("avg", "mse"));
        assert_eq!(
            kinds(nodes),
            vec![("avg".into(), AverageKind::SummaryAverage, None)]
        );
    }

    /// An average a fused batch norm reads as its statistics is one,
    /// whatever it averages.
    #[test]
    fn an_average_a_batch_norm_reads_is_a_batch_statistic() {
        let mut nodes = vec![
            node("decay", "Const", &[]),
            node("x", "Placeholder", &[]),
            node("c", "Const", &[]),
            variable("w"),
            node("stat/read", "Identity", &["stat"]),
            node(
                "bn",
                "FusedBatchNormV3",
                &["x", "c", "c", "stat/read", "stat/read"],
            ),
        ];
        nodes.extend(update("stat", "w"));
        assert_eq!(
            kinds(nodes),
            vec![("stat".into(), AverageKind::BatchStatistic, None)]
        );
    }

    /// TF-Slim averages every model variable, batch-norm statistics among
    /// them: the statistic (an average of a batch moment) is a batch
    /// statistic, its own average (an average of a variable) a weight
    /// average, as `variables_to_restore()` maps it.
    #[test]
    fn the_average_of_a_moving_statistic_is_a_weight_average() {
        let mut nodes = vec![
            node("decay", "Const", &[]),
            node("x", "Placeholder", &[]),
            node("c", "Const", &[]),
            node("bn", "FusedBatchNormV3", &["x", "c", "c", "c", "c"])
                .with_bool("is_training", true),
            node("moving_mean/read", "Identity", &["moving_mean"]),
        ];
        nodes.extend(update("moving_mean", "bn:1"));
        nodes.extend(update(
            "moving_mean/ExponentialMovingAverage",
            "moving_mean/read",
        ));
        assert_eq!(
            kinds(nodes),
            vec![
                ("moving_mean".into(), AverageKind::BatchStatistic, None),
                (
                    "moving_mean/ExponentialMovingAverage".into(),
                    AverageKind::WeightAverage,
                    Some("moving_mean".into())
                ),
            ]
        );
    }

    /// The zero-debiased form is one average, under the variable holding
    /// the debiased value, with `biased` and `local_step` its companions.
    #[test]
    fn a_zero_debiased_average_is_one_average() {
        let mut nodes = vec![
            node("decay", "Const", &[]),
            variable("w"),
            variable("shadow"),
            variable("local_step"),
            node("one", "Const", &[]),
            node("step", "AssignAdd", &["local_step", "one"]),
            node("pow", "Pow", &["decay", "step"]),
            node("factor", "Sub", &["one", "pow"]),
            node("debiased", "RealDiv", &["biased/update", "factor"]),
            node("shadow/assign", "Assign", &["shadow", "debiased"]),
        ];
        nodes.extend(update("biased", "w"));
        let graph = testing::graph(nodes);
        let found = find_averages(&graph);
        assert_eq!(found.len(), 1, "{found:?}");
        let average = &found[0];
        assert_eq!(graph.name(average.shadow), "shadow");
        assert_eq!(average.kind, AverageKind::WeightAverage);
        let companions: Vec<&str> = average.companions.iter().map(|&c| graph.name(c)).collect();
        assert_eq!(companions, ["biased", "local_step"]);
    }
}
