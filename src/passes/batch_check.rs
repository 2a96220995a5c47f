//! Every export serves any batch, or says why not. Training programs bake
//! their batch into the graph (`tf.reshape(x, [batch_size, -1])`, a
//! zero state `[batch_size, units]`, a softmax reshaped back to a folded
//! `[8, 1, 1, 10]`); such a graph loads, then fails — or silently answers
//! wrongly — at any other batch. Shape inference runs over the serving
//! graph with the inputs' batch set to a probe size no training program
//! uses: a node that cannot take its inputs then, or a served output whose
//! leading dimension is still the training batch, shows the batch baked
//! in. The export stops there, naming the node, the constants behind it and
//! the input it was traced to; with `fixed_batch` it goes on, the
//! signature's batch dimension set to the training batch so it never lies.

use std::collections::{HashMap, HashSet, VecDeque};

use super::output_shapes::seeds;
use super::shape_memo::ShapeMemo;
use super::{Pass, PassContext, PassError, PassReport};
use crate::ir::{Graph, NodeId, TensorRef};
use crate::model::{Model, Signature};
use crate::ops::shapes::{Dim, Fact, Inference, NodeConflict, Shape};

/// A batch size no training program uses, so a clash with it is the batch.
pub const PROBE_BATCH: i64 = 7919;

/// How far back from a clashing node constants are looked for.
const TRACE_DEPTH: usize = 8;

/// Finds a batch baked into the served graph; refuses it unless `fixed_batch`.
pub struct BatchCheckPass {
    pub signature: String,
    pub fixed_batch: bool,
}

/// Where the batch is baked in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the graph serves only batch {batch}: at batch {PROBE_BATCH}, node {node:?} ({op}) fails: {why}; \
     constants behind it: {constants}; traced to input {input:?}"
)]
pub struct BakedBatch {
    /// The training batch, as far as it is known (`?` when not).
    pub batch: String,
    pub node: String,
    pub op: String,
    pub why: String,
    /// The constants that hold it, `name = value`, or "none found".
    pub constants: String,
    pub input: String,
}

impl Pass for BatchCheckPass {
    fn name(&self) -> &'static str {
        "batch-check"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let found = baked_in_with(model, &self.signature, cx.training_batch, &mut cx.shapes)?;
        let Some((_, baked)) = found else {
            return Ok(report);
        };
        if !self.fixed_batch {
            return Err(PassError::BakedBatch(Box::new(baked)));
        }
        let batch = cx
            .training_batch
            .or_else(|| baked.batch.parse().ok())
            .ok_or_else(|| PassError::BakedBatch(Box::new(baked.clone())))?;
        if let Some(signature) = model.signatures.get_mut(&self.signature) {
            fix_batch(signature, batch);
        }
        report.note(format!(
            "--fixed-batch: {baked}; the signature's batch dimension is {batch}"
        ));
        Ok(report)
    }

    /// Only the signature changes, and the memo is keyed by the inputs'
    /// facts the signature gives.
    fn keeps_shapes(&self) -> bool {
        true
    }
}

/// Where `model` bakes the training `batch` into the graph `signature`
/// serves, if it does.
pub fn baked_batch(
    model: &Model,
    signature: &Signature,
    batch: i64,
) -> Result<Option<BakedBatch>, PassError> {
    baked_batch_or_unknown(model, signature, Some(batch), &mut ShapeMemo::default())
}

/// The signature `key` names and where its graph bakes the batch in, if it does.
pub fn baked_in(
    model: &Model,
    key: &str,
    training_batch: Option<i64>,
) -> Result<Option<(Signature, BakedBatch)>, PassError> {
    baked_in_with(model, key, training_batch, &mut ShapeMemo::default())
}

/// [`baked_in`] with its inferences remembered in (or added to) `memo`.
pub(super) fn baked_in_with(
    model: &Model,
    key: &str,
    training_batch: Option<i64>,
    memo: &mut ShapeMemo,
) -> Result<Option<(Signature, BakedBatch)>, PassError> {
    let Some(signature) = model.signatures.get(key).cloned() else {
        return Ok(None);
    };
    let baked = baked_batch_or_unknown(model, &signature, training_batch, memo)?;
    Ok(baked.map(|baked| (signature, baked)))
}

/// [`baked_batch`] when the training batch may not be known.
fn baked_batch_or_unknown(
    model: &Model,
    signature: &Signature,
    training_batch: Option<i64>,
    memo: &mut ShapeMemo,
) -> Result<Option<BakedBatch>, PassError> {
    let probes = probe_seeds(&model.graph, signature);
    if probes.is_empty() {
        return Ok(None);
    }
    // Conflicts at any batch are not the batch's doing.
    let symbolic = memo.infer(model, &seeds(&model.graph, signature))?;
    let inference = memo.infer(model, &probes)?;
    let anyway: HashSet<&str> = symbolic.conflicts.iter().map(|c| c.node.as_str()).collect();
    let conflicts = inference
        .conflicts
        .iter()
        .filter(|c| !anyway.contains(c.node.as_str()));
    Ok(find_baked(
        model,
        signature,
        &inference,
        conflicts,
        &probes,
        training_batch,
    ))
}

/// The signature's batched inputs with the probe batch in front.
fn probe_seeds(graph: &Graph, signature: &Signature) -> HashMap<TensorRef, Fact> {
    let mut probes = seeds(graph, signature);
    probes.retain(|_, fact| fact.shape.dim(0) == Some(Dim::Batch));
    for fact in probes.values_mut() {
        if let Shape::Ranked(dims) = &mut fact.shape {
            dims[0] = Dim::Known(PROBE_BATCH);
        }
    }
    probes
}

/// The first sign of a baked batch: a node that cannot take the probe
/// batch, or a served output still led by the training batch.
fn find_baked<'a>(
    model: &Model,
    signature: &Signature,
    inference: &Inference,
    mut conflicts: impl Iterator<Item = &'a NodeConflict>,
    probes: &HashMap<TensorRef, Fact>,
    training_batch: Option<i64>,
) -> Option<BakedBatch> {
    let graph = &model.graph;
    let inputs: HashSet<NodeId> = probes.keys().map(|t| t.node).collect();
    if let Some(conflict) = conflicts.next() {
        let id = graph.find(&conflict.node)?;
        let batch = training_batch.or_else(|| clashing_size(&conflict.conflict.to_string()));
        return Some(baked_at(
            graph,
            id,
            &conflict.op,
            conflict.conflict.to_string(),
            batch,
            &inputs,
        ));
    }
    signature.outputs.values().find_map(|spec| {
        let tensor = graph.tensor(&spec.name).ok()?;
        let Dim::Known(rows) = inference.shape(tensor).dim(0)? else {
            return None;
        };
        // Without the training batch, a fixed row count over batched
        // inputs is one the tool cannot prove to be anything else.
        let baked = match training_batch {
            Some(batch) => rows == batch,
            None => rows > 1 && rows != PROBE_BATCH && reads_an_input(graph, tensor.node, &inputs),
        };
        baked.then(|| {
            let why = format!("its output {} keeps {rows} rows", spec.name);
            baked_at(
                graph,
                tensor.node,
                graph.op(tensor.node),
                why,
                Some(rows),
                &inputs,
            )
        })
    })
}

/// Whether `id` depends on one of the serving `inputs`.
fn reads_an_input(graph: &Graph, id: NodeId, inputs: &HashSet<NodeId>) -> bool {
    graph
        .reachable_backwards([id])
        .iter()
        .any(|n| inputs.contains(n))
}

/// A known size other than the probe in a conflict's words: the batch the
/// graph was built for.
fn clashing_size(text: &str) -> Option<i64> {
    let numbers = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse::<i64>().ok());
    let sizes: Vec<i64> = numbers.filter(|&n| n > 1 && n != PROBE_BATCH).collect();
    (sizes.len() == 1).then(|| sizes[0])
}

fn baked_at(
    graph: &Graph,
    id: NodeId,
    op: &str,
    why: String,
    batch: Option<i64>,
    inputs: &HashSet<NodeId>,
) -> BakedBatch {
    let (constants, input) = trace(graph, id, batch, inputs);
    BakedBatch {
        batch: batch.map_or("?".into(), |b| b.to_string()),
        node: graph.name(id).to_string(),
        op: op.to_string(),
        why,
        constants: if constants.is_empty() {
            "none found".into()
        } else {
            constants.join(", ")
        },
        input: input.map_or_else(|| "(none reached)".into(), |n| graph.name(n).to_string()),
    }
}

/// Walks back from `id`: the integer constants holding `batch` within
/// [`TRACE_DEPTH`] steps, and the first serving input reached.
fn trace(
    graph: &Graph,
    id: NodeId,
    batch: Option<i64>,
    inputs: &HashSet<NodeId>,
) -> (Vec<String>, Option<NodeId>) {
    let mut constants = Vec::new();
    let mut input = None;
    let mut seen = HashSet::from([id]);
    let mut queue = VecDeque::from([(id, 0usize)]);
    while let Some((at, depth)) = queue.pop_front() {
        if inputs.contains(&at) && input.is_none() {
            input = Some(at);
        }
        if let Some(value) = batch_constant(graph, at, batch) {
            constants.push(format!("{} = {value}", graph.name(at)));
        }
        for tensor in graph.data_inputs(at) {
            let deeper = depth + 1;
            let near = deeper <= TRACE_DEPTH || input.is_none();
            if near && seen.insert(tensor.node) {
                queue.push_back((tensor.node, deeper));
            }
        }
    }
    (constants, input)
}

/// A `Const` of integers that holds `batch`, as written.
fn batch_constant(graph: &Graph, id: NodeId, batch: Option<i64>) -> Option<String> {
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
    let fact = crate::ops::shapes::rule("Const")?(&call)
        .ok()?
        .into_iter()
        .next()?;
    let values = fact.known_values()?;
    let batch = batch?;
    values.contains(&batch).then(|| format!("{values:?}"))
}

/// The signature for the one batch the graph serves.
fn fix_batch(signature: &mut Signature, batch: i64) {
    let specs = signature
        .inputs
        .values_mut()
        .chain(signature.outputs.values_mut());
    for spec in specs {
        if let Some(first) = spec.shape.as_mut().and_then(|d| d.first_mut())
            && *first < 0
        {
            *first = batch;
        }
    }
}
