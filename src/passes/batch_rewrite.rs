//! Makes a graph that bakes its training batch into shape constants serve
//! any batch, the way TensorFlow itself would have built it had the
//! program not fixed the batch: a constant holding the training batch that
//! reaches a shape-like operand (`Reshape`'s shape, `Fill`'s dims, `Tile`'s
//! multiples, `BroadcastTo`, `Slice` sizes, `StridedSlice` ends,
//! `TensorArray` sizes, `Range` limits, through `ConcatV2`/`Pack`) is
//! rewritten to follow the serving batch: `-1` where that is exact (the
//! one batch element of a `Reshape` shape without another `-1`), else
//! `Shape(input)[0]` put in its place; a `TensorArray`'s element shape
//! loses the training batch. The rewrite is kept only when shape inference
//! at a probe batch then finds the batch no longer baked in
//! ([`super::batch_check`]); otherwise the graph is left as it was, and the
//! check that follows refuses it.

use super::batch_check::{baked_batch, baked_in_with};
use super::output_shapes::seeds;
use super::{Pass, PassContext, PassError, PassReport};
use crate::format::proto::{DataType, TensorProto};
use crate::ir::{AttrExt, Graph, Node, NodeId, TensorRef};
use crate::model::{Model, Signature};
use crate::ops::shapes::{Dim, Fact, Inference};

/// Ops and the input that carries a shape (or a size counted in rows).
const SHAPE_OPERANDS: &[(&str, usize)] = &[
    ("Reshape", 1),
    ("Fill", 0),
    ("Tile", 1),
    ("BroadcastTo", 1),
    ("Slice", 2),
    ("StridedSlice", 2),
    ("TensorArrayV3", 0),
    ("Range", 1),
];

/// Ops a shape passes through on its way to a shape-like operand.
const SHAPE_CARRIERS: &[&str] = &["Identity", "ConcatV2", "Pack", "Cast"];

/// Rewrites baked batch constants to follow the serving batch.
pub struct BatchRewritePass {
    pub signature: String,
}

/// One constant rewritten.
struct Rewrite {
    node: String,
    old: Vec<i64>,
    new: String,
}

impl Pass for BatchRewritePass {
    fn name(&self) -> &'static str {
        "batch-rewrite"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let found = baked_in_with(model, &self.signature, cx.training_batch, &mut cx.shapes)?;
        let Some((signature, baked)) = found else {
            return Ok(report);
        };
        let Some(batch) = cx.training_batch.or_else(|| baked.batch.parse().ok()) else {
            return Ok(report);
        };
        if let Some(bound) = loop_bound(&model.graph, batch) {
            // A loop that runs once per training example cannot be made
            // to follow the batch by its shapes alone.
            report.note(format!(
                "{bound}: a loop bound holds the training batch {batch}; nothing rewritten"
            ));
            return Ok(report);
        }
        let symbolic = cx.shapes.infer(model, &seeds(&model.graph, &signature))?;
        let before = model.graph.clone();
        let rewrites = rewrite_all(&mut model.graph, &signature, &symbolic, batch)?;
        if rewrites.is_empty() || baked_batch(model, &signature, batch)?.is_some() {
            // The graph as it was: what the memo holds is still true.
            model.graph = before;
            return Ok(report);
        }
        cx.shapes.clear();
        for rewrite in rewrites {
            report.edited(rewrite.node.to_string());
            report.note(format!(
                "{}: the training batch {batch} in {:?} now follows the serving batch: {}",
                rewrite.node, rewrite.old, rewrite.new
            ));
        }
        Ok(report)
    }

    /// The memo is emptied when the graph is rewritten.
    fn keeps_shapes(&self) -> bool {
        true
    }
}

/// A constant holding `batch` that a while loop's condition compares with
/// (through `Enter`/`Identity`), if there is one.
fn loop_bound(graph: &Graph, batch: i64) -> Option<String> {
    const COMPARISONS: &[&str] = &["Less", "LessEqual", "Greater", "GreaterEqual", "NotEqual"];
    for id in graph.node_ids() {
        if graph.op(id) != "LoopCond" {
            continue;
        }
        let mut pending: Vec<NodeId> = graph.data_inputs(id).iter().map(|t| t.node).collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(at) = pending.pop() {
            if !seen.insert(at) {
                continue;
            }
            let op = graph.op(at);
            if int_values(graph, at).is_some_and(|v| v == [batch]) {
                return Some(graph.name(at).to_string());
            }
            if COMPARISONS.contains(&op) || matches!(op, "LogicalAnd" | "Identity" | "Enter") {
                pending.extend(graph.data_inputs(at).iter().map(|t| t.node));
            }
        }
    }
    None
}

/// Every constant holding `batch` that reaches a shape-like operand,
/// rewritten; and every TensorArray element shape led by it.
fn rewrite_all(
    graph: &mut Graph,
    signature: &Signature,
    symbolic: &Inference,
    batch: i64,
) -> Result<Vec<Rewrite>, PassError> {
    let fallback = signature
        .inputs
        .values()
        .filter_map(|spec| graph.tensor(&spec.name).ok())
        .find(|t| symbolic.shape(*t).dim(0) == Some(Dim::Batch));
    let mut rewrites = Vec::new();
    for (constant, consumer, slot) in candidates(graph, batch) {
        let source = batch_source(graph, symbolic, consumer).or(fallback);
        let Some(source) = source else { continue };
        if let Some(rewrite) = rewrite_constant(graph, constant, consumer, slot, source, batch)? {
            rewrites.push(rewrite);
        }
    }
    rewrites.extend(loosen_element_shapes(graph, batch));
    Ok(rewrites)
}

/// `(constant, consumer, slot)`: each integer `Const` holding `batch` whose
/// value reaches input `slot` of a shape-like `consumer`, directly or
/// through [`SHAPE_CARRIERS`].
fn candidates(graph: &Graph, batch: i64) -> Vec<(NodeId, NodeId, usize)> {
    let mut found = Vec::new();
    for id in graph.node_ids() {
        let Some(&(_, slot)) = SHAPE_OPERANDS.iter().find(|(op, _)| *op == graph.op(id)) else {
            continue;
        };
        let Some(operand) = graph.data_input(id, slot) else {
            continue;
        };
        let mut pending = vec![(operand.node, id, slot)];
        while let Some((at, consumer, at_slot)) = pending.pop() {
            if int_values(graph, at).is_some_and(|v| v.contains(&batch)) {
                found.push((at, consumer, at_slot));
            } else if SHAPE_CARRIERS.contains(&graph.op(at)) {
                for (i, input) in graph.data_inputs(at).into_iter().enumerate() {
                    pending.push((input.node, at, i));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The elements of an integer `Const` of rank 0 or 1.
fn int_values(graph: &Graph, id: NodeId) -> Option<Vec<i64>> {
    let node = graph.node(id);
    if node.op != "Const" {
        return None;
    }
    let call = crate::ops::shapes::Call {
        op: &node.op,
        attrs: &node.attrs,
        inputs: &[],
        outputs: 1,
    };
    let rule = crate::ops::shapes::rule("Const")?;
    let fact: Fact = rule(&call).ok()?.into_iter().next()?;
    fact.known_values()
}

/// The consumer's data input whose leading dimension is the batch (for
/// `Shape(input)[0]`), if it has one.
fn batch_source(graph: &Graph, symbolic: &Inference, consumer: NodeId) -> Option<TensorRef> {
    graph
        .data_inputs(consumer)
        .into_iter()
        .find(|t| symbolic.shape(*t).dim(0) == Some(Dim::Batch))
}

/// Rewrites `constant` (feeding input `slot` of `consumer`) to follow the
/// batch of `source`.
fn rewrite_constant(
    graph: &mut Graph,
    constant: NodeId,
    consumer: NodeId,
    slot: usize,
    source: TensorRef,
    batch: i64,
) -> Result<Option<Rewrite>, PassError> {
    let Some(old) = int_values(graph, constant) else {
        return Ok(None);
    };
    let dtype = graph
        .node(constant)
        .attr_type("dtype")
        .unwrap_or(DataType::DtInt32);
    let name = graph.name(constant).to_string();
    let scalar = graph
        .node(constant)
        .attr_tensor("value")
        .ok()
        .and_then(|t| t.tensor_shape.as_ref())
        .is_some_and(|s| s.dim.is_empty());
    let exact = graph.op(consumer) == "Reshape"
        && slot == 1
        && old.iter().filter(|&&v| v == batch).count() == 1
        && !old.contains(&-1);
    if exact {
        let new: Vec<i64> = old
            .iter()
            .map(|&v| if v == batch { -1 } else { v })
            .collect();
        set_int_value(graph, constant, dtype, &new, scalar);
        return Ok(Some(Rewrite {
            node: name,
            old,
            new: format!("{new:?}"),
        }));
    }
    let size = batch_size_node(graph, &name, source, dtype)?;
    let replacement = if scalar {
        size
    } else {
        pack_with(graph, &name, &old, batch, size, dtype)?
    };
    graph.rewire(TensorRef::new(constant, 0), replacement);
    let new = format!(
        "{} (Shape({})[0] for {batch})",
        graph.tensor_name(replacement),
        graph.tensor_name(source)
    );
    Ok(Some(Rewrite {
        node: name,
        old,
        new,
    }))
}

/// `StridedSlice(Shape(source), [0], [1], [1])`, a scalar of `dtype`.
fn batch_size_node(
    graph: &mut Graph,
    base: &str,
    source: TensorRef,
    dtype: DataType,
) -> Result<TensorRef, PassError> {
    let shape_name = graph.unique_name(&format!("{base}/batch/Shape"));
    let shape = graph.add_node(
        Node::new(shape_name, "Shape")
            .with_type("T", graph_dtype(graph, source))
            .with_type("out_type", dtype),
    )?;
    graph.push_data_input(shape, source);
    let mut ends = Vec::new();
    for (suffix, value) in [("begin", 0), ("end", 1), ("strides", 1)] {
        let name = graph.unique_name(&format!("{base}/batch/{suffix}"));
        let node = int_const(&name, dtype, &[value], false);
        ends.push(graph.add_node(node)?);
    }
    let slice_name = graph.unique_name(&format!("{base}/batch/size"));
    let mut slice = Node::new(slice_name, "StridedSlice")
        .with_type("T", dtype)
        .with_type("Index", dtype);
    for (key, value) in [
        ("begin_mask", 0),
        ("end_mask", 0),
        ("ellipsis_mask", 0),
        ("new_axis_mask", 0),
        ("shrink_axis_mask", 1),
    ] {
        slice.set_attr_int(key, value);
    }
    let slice = graph.add_node(slice)?;
    graph.push_data_input(slice, TensorRef::new(shape, 0));
    for end in ends {
        graph.push_data_input(slice, TensorRef::new(end, 0));
    }
    Ok(TensorRef::new(slice, 0))
}

/// The dtype of `tensor` as its node states it (float when it does not).
fn graph_dtype(graph: &Graph, tensor: TensorRef) -> DataType {
    let node = graph.node(tensor.node);
    ["dtype", "T", "out_type"]
        .iter()
        .find_map(|key| node.attr_type(key).ok())
        .unwrap_or(DataType::DtFloat)
}

/// A `Pack` of `old`'s elements with `size` in place of each `batch`.
fn pack_with(
    graph: &mut Graph,
    base: &str,
    old: &[i64],
    batch: i64,
    size: TensorRef,
    dtype: DataType,
) -> Result<TensorRef, PassError> {
    let mut parts = Vec::with_capacity(old.len());
    for (i, &value) in old.iter().enumerate() {
        if value == batch {
            parts.push(size);
            continue;
        }
        let name = graph.unique_name(&format!("{base}/batch/dim_{i}"));
        let id = graph.add_node(int_const(&name, dtype, &[value], true))?;
        parts.push(TensorRef::new(id, 0));
    }
    let name = graph.unique_name(&format!("{base}/batch/shape"));
    let mut pack = Node::new(name, "Pack").with_type("T", dtype);
    pack.set_attr_int("N", old.len() as i64);
    pack.set_attr_int("axis", 0);
    let pack = graph.add_node(pack)?;
    for part in parts {
        graph.push_data_input(pack, part);
    }
    Ok(TensorRef::new(pack, 0))
}

/// An integer `Const`: a scalar of `values[0]`, or a vector of `values`.
fn int_const(name: &str, dtype: DataType, values: &[i64], scalar: bool) -> Node {
    let mut node = Node::new(name, "Const").with_type("dtype", dtype);
    node.set_attr_tensor("value", int_tensor(dtype, values, scalar));
    node
}

fn int_tensor(dtype: DataType, values: &[i64], scalar: bool) -> TensorProto {
    let dims: Vec<i64> = if scalar {
        Vec::new()
    } else {
        vec![values.len() as i64]
    };
    let mut tensor = TensorProto {
        dtype: dtype as i32,
        tensor_shape: Some(crate::typing::shape_proto(&dims)),
        ..TensorProto::default()
    };
    if dtype == DataType::DtInt64 {
        tensor.int64_val = values.to_vec();
    } else {
        tensor.int_val = values.iter().map(|&v| v as i32).collect();
    }
    tensor
}

fn set_int_value(graph: &mut Graph, id: NodeId, dtype: DataType, values: &[i64], scalar: bool) {
    graph
        .node_mut(id)
        .set_attr_tensor("value", int_tensor(dtype, values, scalar));
}

/// A `TensorArray` whose element shape is led by the training batch gets
/// an unknown leading dimension there (the element shape is a promise the
/// writes are checked against).
fn loosen_element_shapes(graph: &mut Graph, batch: i64) -> Vec<Rewrite> {
    let mut rewrites = Vec::new();
    for id in graph.node_ids() {
        if !graph.op(id).starts_with("TensorArray") {
            continue;
        }
        let Ok(Some(dims)) = graph.node(id).attr_dims("element_shape") else {
            continue;
        };
        if dims.first() != Some(&batch) {
            continue;
        }
        let mut loose = dims.clone();
        loose[0] = -1;
        graph
            .node_mut(id)
            .set_attr_shape("element_shape", Some(&loose));
        rewrites.push(Rewrite {
            node: graph.name(id).to_string(),
            old: dims,
            new: format!("element_shape {loose:?}"),
        });
    }
    rewrites
}
