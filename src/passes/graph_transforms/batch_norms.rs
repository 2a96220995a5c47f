//! Folding batch normalization into the weights before it, for graphs whose
//! weights are constants (frozen):
//! - `fold_batch_norms`: `Mul(Conv2D|DepthwiseConv2dNative|MatMul(x, W), s)`
//!   with constant `W` and a constant `s` per output channel (or scalar)
//!   becomes the op on `W * s`;
//! - `fold_old_batch_norms`: an inference `FusedBatchNorm`/`V2`/`V3`
//!   (`is_training=false`) or `BatchNormWithGlobalNormalization` right
//!   after such an op becomes the op on `W * scale` plus a `BiasAdd` of
//!   `beta - mean * scale`, with `scale = gamma / sqrt(variance + epsilon)`.
//!
//! The folded node takes the batch norm's name, so whatever read the batch
//! norm (the outputs included) reads the same name. Only channels-last
//! layouts fold; the op before must have no other reader. The statistics and
//! weights may sit behind `Identity` ops.

use super::super::{Pass, PassContext, PassError, PassReport, Removal};
use super::eval::{Dense, Numbers};
use super::fold_constants::const_value;
use crate::ir::constants::through_identities;
use crate::ir::{AttrExt, Graph, Node, NodeId, TensorRef};
use crate::model::Model;

/// Ops whose last weight dimension(s) are the output channels.
const WEIGHTED_OPS: &[&str] = &["Conv2D", "DepthwiseConv2dNative", "MatMul"];

/// A weighted op that can absorb a per-channel scale.
struct Weighted {
    node: NodeId,
    weights: Dense,
    /// Output channels: the weights' last dimension (both last two for depthwise).
    channels: usize,
}

/// The weighted op feeding `tensor`, when it can be folded into.
fn weighted_producer(graph: &Graph, tensor: TensorRef) -> Option<Weighted> {
    let node = tensor.node;
    let op = graph.op(node);
    if tensor.port != 0 || !WEIGHTED_OPS.contains(&op) || graph.consumers(node).len() != 1 {
        return None;
    }
    let n = graph.node(node);
    if n.attr_string("data_format").is_ok_and(|f| f != b"NHWC")
        || n.attr_bool("transpose_b").unwrap_or(false)
    {
        return None;
    }
    let weights_ref = through_identities(graph, graph.data_input(node, 1)?);
    let weights = const_value(graph, weights_ref.node)?;
    if !matches!(weights.numbers, Numbers::Float(_)) {
        return None;
    }
    let dims: Vec<usize> = weights.shape.iter().map(|&d| d.max(0) as usize).collect();
    let channels = match (op, dims.as_slice()) {
        ("DepthwiseConv2dNative", [.., input, multiplier]) => input * multiplier,
        (_, [.., out]) => *out,
        _ => return None,
    };
    Some(Weighted {
        node,
        weights,
        channels,
    })
}

/// A weighted op, maybe followed by a `BiasAdd` of a constant: what a
/// per-channel scale can fold into.
struct Chain {
    weighted: Weighted,
    /// The `BiasAdd`, its bias values, and the constant holding them.
    bias: Option<(NodeId, Vec<f64>, NodeId)>,
}

/// The chain producing `tensor`, when it can be folded into.
fn chain_producing(graph: &Graph, tensor: TensorRef) -> Option<Chain> {
    if let Some(weighted) = weighted_producer(graph, tensor) {
        return Some(Chain {
            weighted,
            bias: None,
        });
    }
    let add = tensor.node;
    if tensor.port != 0 || graph.op(add) != "BiasAdd" || graph.consumers(add).len() != 1 {
        return None;
    }
    if graph
        .node(add)
        .attr_string("data_format")
        .is_ok_and(|f| f != b"NHWC")
    {
        return None;
    }
    let weighted = weighted_producer(graph, graph.data_input(add, 0)?)?;
    let bias_ref = through_identities(graph, graph.data_input(add, 1)?);
    let bias = per_channel(&const_value(graph, bias_ref.node)?, weighted.channels)?;
    Some(Chain {
        weighted,
        bias: Some((add, bias, bias_ref.node)),
    })
}

/// `values` as one number per channel (a scalar repeats).
fn per_channel(values: &Dense, channels: usize) -> Option<Vec<f64>> {
    let v = values.floats();
    match v.len() {
        1 => Some(vec![v[0]; channels]),
        n if n == channels => Some(v),
        _ => None,
    }
}

/// The weights scaled channel by channel, as a new `Const` read by the op.
fn scale_weights(graph: &mut Graph, weighted: &Weighted, scale: &[f64]) -> Result<(), PassError> {
    let channels = weighted.channels.max(1);
    let scaled: Vec<f64> = weighted
        .weights
        .floats()
        .iter()
        .enumerate()
        .map(|(i, w)| w * scale.get(i % channels).copied().unwrap_or(1.0))
        .collect();
    let value = Dense::new(
        weighted.weights.dtype,
        weighted.weights.shape.clone(),
        Numbers::Float(scaled),
    );
    let name = graph.unique_name(&format!("{}/folded_weights", graph.name(weighted.node)));
    let id = graph.add_node(const_node(&name, &value))?;
    graph.set_data_input(weighted.node, 1, TensorRef::new(id, 0))?;
    Ok(())
}

fn const_node(name: &str, value: &Dense) -> Node {
    let mut node = Node::new(name, "Const");
    node.set_attr_type("dtype", value.dtype);
    node.set_attr_tensor("value", value.to_proto());
    node
}

/// Removes `old` and gives `new` its name and its readers.
fn take_place(
    graph: &mut Graph,
    old: NodeId,
    new: NodeId,
    report: &mut PassReport,
) -> Result<(), PassError> {
    let name = graph.name(old).to_string();
    let from = format!("{name}:0");
    graph.rewire(TensorRef::new(old, 0), TensorRef::new(new, 0));
    graph.rewire_control(old, Some(new));
    for control in graph.control_inputs(old) {
        graph.add_control_input(new, control);
    }
    let op = graph.op(old).to_string();
    graph.remove_node(old);
    report.removed(Removal::Rule("folded-batch-norm"), name.clone());
    let temporary = graph.name(new).to_string();
    graph.rename_node(new, &name)?;
    report.rewired(
        from,
        format!("{name}:0"),
        format!("{op} folded into the weights of {temporary}"),
    );
    Ok(())
}

/// Replaces node `old`, which computes `chain * scale + offset`, by the
/// chain's op on scaled weights, plus a `BiasAdd` when there is a bias.
fn fold_into_chain(
    graph: &mut Graph,
    old: NodeId,
    chain: Chain,
    scale: &[f64],
    offset: Option<Vec<f64>>,
    mut unread: Vec<NodeId>,
    report: &mut PassReport,
) -> Result<(), PassError> {
    let weighted = chain.weighted;
    unread.extend(graph.data_input(weighted.node, 1).map(|t| t.node));
    scale_weights(graph, &weighted, scale)?;
    let old_bias = chain.bias.as_ref().map(|(_, values, _)| values.clone());
    if let Some((add, _, constant)) = chain.bias {
        unread.push(constant);
        unread.push(add);
    }
    if old_bias.is_none() && offset.is_none() {
        take_place(graph, old, weighted.node, report)?;
        drop_unread(graph, unread, report);
        return Ok(());
    }
    let channels = scale.len();
    let old_bias = old_bias.unwrap_or_else(|| vec![0.0; channels]);
    let offset = offset.unwrap_or_else(|| vec![0.0; channels]);
    let bias: Vec<f64> = old_bias
        .iter()
        .zip(scale)
        .zip(&offset)
        .map(|((b, s), o)| b * s + o)
        .collect();
    let name = graph.name(old).to_string();
    let dtype = weighted.weights.dtype;
    let bias_value = Dense::new(dtype, vec![bias.len() as i64], Numbers::Float(bias));
    let bias_node = graph.add_node(const_node(
        &graph.unique_name(&format!("{name}/folded_bias")),
        &bias_value,
    ))?;
    let mut add =
        Node::new(graph.unique_name(&format!("{name}/folded")), "BiasAdd").with_type("T", dtype);
    add.device = graph.node(old).device.clone();
    let add = graph.add_node(add)?;
    graph.push_data_input(add, TensorRef::new(weighted.node, 0));
    graph.push_data_input(add, TensorRef::new(bias_node, 0));
    take_place(graph, old, add, report)?;
    drop_unread(graph, unread, report);
    Ok(())
}

/// Removes the constants (and Identity chains) nothing reads any more.
fn drop_unread(graph: &mut Graph, candidates: Vec<NodeId>, report: &mut PassReport) {
    let mut stack = candidates;
    while let Some(id) = stack.pop() {
        if !graph.contains(id) || !graph.consumers(id).is_empty() {
            continue;
        }
        if !matches!(graph.op(id), "Const" | "Identity" | "BiasAdd") {
            continue;
        }
        stack.extend(graph.producers(id));
        if let Some(node) = graph.remove_node(id) {
            let rule = if node.op == "Const" {
                "folded-constant"
            } else {
                "folded-batch-norm"
            };
            report.removed(Removal::Rule(rule), node.name());
        }
    }
}

pub struct FoldBatchNorms;

impl Pass for FoldBatchNorms {
    fn name(&self) -> &'static str {
        "fold_batch_norms"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        for id in model.graph.node_ids() {
            if model.graph.contains(id) && model.graph.op(id) == "Mul" {
                fold_mul(&mut model.graph, id, &mut report)?;
            }
        }
        Ok(report)
    }
}

/// Folds `Mul(weighted, s)` (either order), if it matches.
fn fold_mul(graph: &mut Graph, mul: NodeId, report: &mut PassReport) -> Result<(), PassError> {
    let inputs = graph.data_inputs(mul);
    let [a, b] = inputs.as_slice() else {
        return Ok(());
    };
    for (x, s) in [(*a, *b), (*b, *a)] {
        let Some(chain) = chain_producing(graph, x) else {
            continue;
        };
        let s_ref = through_identities(graph, s);
        let Some(scale) =
            const_value(graph, s_ref.node).and_then(|v| per_channel(&v, chain.weighted.channels))
        else {
            continue;
        };
        return fold_into_chain(graph, mul, chain, &scale, None, vec![s.node], report);
    }
    Ok(())
}

pub struct FoldOldBatchNorms;

impl Pass for FoldOldBatchNorms {
    fn name(&self) -> &'static str {
        "fold_old_batch_norms"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        for id in model.graph.node_ids() {
            if !model.graph.contains(id) {
                continue;
            }
            if let Some(stats) = batch_norm_stats(&model.graph, id) {
                fold_batch_norm(&mut model.graph, id, stats, &mut report)?;
            }
        }
        Ok(report)
    }
}

/// What an inference batch norm computes: its input, then `x * scale + offset`.
struct BatchNormStats {
    input: TensorRef,
    scale: Vec<f64>,
    offset: Vec<f64>,
    /// The constants it read.
    read: Vec<NodeId>,
}

/// The inputs of an inference batch norm, whichever op spells it.
struct BatchNormInputs {
    x: TensorRef,
    /// `None` when the op does not scale (gamma is then 1).
    gamma: Option<TensorRef>,
    beta: TensorRef,
    mean: TensorRef,
    variance: TensorRef,
    epsilon: f64,
}

/// The inputs of batch norm `id` when it is one that folds: a FusedBatchNorm
/// in inference mode, NHWC, whose other outputs (batch statistics) nothing
/// reads; or a BatchNormWithGlobalNormalization. The two ops order their
/// inputs differently, so this is where they are told apart.
fn batch_norm_inputs(graph: &Graph, id: NodeId) -> Option<BatchNormInputs> {
    let node = graph.node(id);
    let inputs = graph.data_inputs(id);
    match node.op.as_str() {
        "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => {
            let inference = matches!(node.attr_bool("is_training"), Ok(false));
            let nhwc = node
                .attr_string("data_format")
                .map_or(true, |f| f == b"NHWC");
            if !inference
                || !nhwc
                || graph
                    .consumers(id)
                    .iter()
                    .any(|&c| reads_port_above_zero(graph, id, c))
            {
                return None;
            }
            let epsilon = node.attr_float("epsilon").map_or(1e-4, f64::from);
            let [x, g, b, m, v, ..] = inputs.as_slice() else {
                return None;
            };
            Some(BatchNormInputs {
                x: *x,
                gamma: Some(*g),
                beta: *b,
                mean: *m,
                variance: *v,
                epsilon,
            })
        }
        "BatchNormWithGlobalNormalization" => {
            let epsilon = f64::from(node.attr_float("variance_epsilon").ok()?);
            let scaled = node.attr_bool("scale_after_normalization").ok()?;
            let [x, m, v, b, g] = inputs.as_slice() else {
                return None;
            };
            Some(BatchNormInputs {
                x: *x,
                gamma: scaled.then_some(*g),
                beta: *b,
                mean: *m,
                variance: *v,
                epsilon,
            })
        }
        _ => None,
    }
}

/// The per-channel scale and offset of batch norm `id`, if it is one that folds.
fn batch_norm_stats(graph: &Graph, id: NodeId) -> Option<BatchNormStats> {
    let BatchNormInputs {
        x,
        gamma,
        beta,
        mean,
        variance,
        epsilon,
    } = batch_norm_inputs(graph, id)?;
    let channels = chain_producing(graph, x)?.weighted.channels;
    let value = |t: TensorRef| {
        let t = through_identities(graph, t);
        Some((per_channel(&const_value(graph, t.node)?, channels)?, t.node))
    };
    let (beta, b_id) = value(beta)?;
    let (mean, m_id) = value(mean)?;
    let (variance, v_id) = value(variance)?;
    let (gamma, g_id) = match gamma {
        Some(g) => {
            let (values, id) = value(g)?;
            (values, Some(id))
        }
        None => (vec![1.0; channels], None),
    };
    let scale: Vec<f64> = gamma
        .iter()
        .zip(&variance)
        .map(|(g, v)| g / (v + epsilon).sqrt())
        .collect();
    let offset = beta
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    let mut read = vec![b_id, m_id, v_id];
    read.extend(g_id);
    Some(BatchNormStats {
        input: x,
        scale,
        offset,
        read,
    })
}

fn reads_port_above_zero(graph: &Graph, producer: NodeId, consumer: NodeId) -> bool {
    graph
        .data_inputs(consumer)
        .iter()
        .any(|t| t.node == producer && t.port > 0)
}

/// Rewrites batch norm `bn` as scaled weights and a `BiasAdd` under its name.
fn fold_batch_norm(
    graph: &mut Graph,
    bn: NodeId,
    stats: BatchNormStats,
    report: &mut PassReport,
) -> Result<(), PassError> {
    let Some(chain) = chain_producing(graph, stats.input) else {
        return Ok(());
    };
    fold_into_chain(
        graph,
        bn,
        chain,
        &stats.scale,
        Some(stats.offset),
        stats.read,
        report,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DataType;
    use crate::passes::testing::{TestNode, model, node};

    fn constant(name: &str, shape: &[i64], values: &[f64]) -> TestNode {
        let value = Dense::new(
            DataType::DtFloat,
            shape.to_vec(),
            Numbers::Float(values.to_vec()),
        );
        TestNode::from(const_node(name, &value))
    }

    fn weights_of(m: &Model, name: &str) -> Vec<f64> {
        let op = m.graph.require(name).unwrap();
        let w = m.graph.data_input(op, 1).unwrap();
        const_value(&m.graph, w.node).unwrap().floats()
    }

    #[test]
    fn a_per_channel_mul_after_matmul_folds_into_the_weights() {
        let mut m = model(vec![
            node("x", "Placeholder", &[]),
            constant("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0]),
            node("mm", "MatMul", &["x", "w"]),
            constant("s", &[2], &[10.0, 100.0]),
            node("scaled", "Mul", &["mm", "s"]),
            node("out", "Relu", &["scaled"]),
        ]);
        let report = FoldBatchNorms.run(&mut m, &mut PassContext::new()).unwrap();
        assert_eq!(m.graph.op(m.graph.require("scaled").unwrap()), "MatMul");
        assert_eq!(weights_of(&m, "scaled"), [10.0, 200.0, 30.0, 400.0]);
        assert!(m.graph.find("mm").is_none() && m.graph.find("s").is_none());
        assert_eq!(report.removed["folded-batch-norm"], ["scaled"]);
    }

    #[test]
    fn an_inference_fused_batch_norm_after_conv_becomes_weights_and_a_bias() {
        let bn = node(
            "bn",
            "FusedBatchNormV3",
            &["conv", "gamma", "beta", "mean", "var"],
        )
        .with_bool("is_training", false);
        let mut m = model(vec![
            node("x", "Placeholder", &[]),
            constant("w", &[1, 1, 1, 2], &[1.0, 1.0]),
            node("conv", "Conv2D", &["x", "w"]),
            constant("gamma", &[2], &[2.0, 3.0]),
            constant("beta", &[2], &[0.5, 0.0]),
            constant("mean", &[2], &[1.0, 2.0]),
            constant("var", &[2], &[3.0, 8.0]),
            bn,
            node("out", "Relu", &["bn"]),
        ]);
        FoldOldBatchNorms
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        let bn = m.graph.require("bn").unwrap();
        assert_eq!(m.graph.op(bn), "BiasAdd");
        let eps = 1e-4;
        let scale = [2.0 / (3.0f64 + eps).sqrt(), 3.0 / (8.0f64 + eps).sqrt()];
        let w = weights_of(&m, "conv");
        assert!(
            (w[0] - scale[0]).abs() < 1e-6 && (w[1] - scale[1]).abs() < 1e-6,
            "{w:?}"
        );
        let bias = const_value(&m.graph, m.graph.data_input(bn, 1).unwrap().node)
            .unwrap()
            .floats();
        assert!((bias[0] - (0.5 - scale[0])).abs() < 1e-6, "{bias:?}");
        assert!(m.graph.find("gamma").is_none() && m.graph.find("w").is_none());
    }

    #[test]
    fn a_bias_between_the_op_and_the_batch_norm_is_scaled_into_the_new_bias() {
        let bn = node(
            "bn",
            "FusedBatchNormV3",
            &["biased", "gamma", "beta", "mean", "var"],
        )
        .with_bool("is_training", false);
        let mut m = model(vec![
            node("x", "Placeholder", &[]),
            constant("w", &[2, 1], &[1.0, 2.0]),
            node("mm", "MatMul", &["x", "w"]),
            constant("b", &[1], &[5.0]),
            node("biased", "BiasAdd", &["mm", "b"]),
            constant("gamma", &[1], &[2.0]),
            constant("beta", &[1], &[1.0]),
            constant("mean", &[1], &[3.0]),
            constant("var", &[1], &[4.0 - 1e-4]),
            bn,
            node("out", "Relu", &["bn"]),
        ]);
        let report = FoldOldBatchNorms
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        // scale = 2 / sqrt(4) = 1; bias = 5 * 1 + (1 - 3 * 1) = 3.
        let bn = m.graph.require("bn").unwrap();
        assert_eq!(m.graph.op(bn), "BiasAdd");
        let bias = const_value(&m.graph, m.graph.data_input(bn, 1).unwrap().node)
            .unwrap()
            .floats();
        assert!((bias[0] - 3.0).abs() < 1e-6, "{bias:?}");
        let w = weights_of(&m, "mm");
        assert!(
            (w[0] - 1.0).abs() < 1e-6 && (w[1] - 2.0).abs() < 1e-6,
            "{w:?}"
        );
        assert!(m.graph.find("biased").is_none(), "{report:?}");
    }
}
