//! The serving signature's inputs and outputs: each chosen input tensor of
//! the training graph (an iterator or queue output, say) is replaced by a
//! `Placeholder` whose batch dimension is unknown, and the outputs are
//! resolved. Without `--input`, the input boundary the outputs depend on is
//! found and named; without `--output`, candidates are suggested.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::InputShapeError;
use super::feature_names::feature_inputs;
use super::placeholder::replace_with_placeholder;
use super::sparse_inputs::{SparseTensors, serve_sparse};
pub use super::specs::{InputSpec, OutputSpec};
use super::suggest::close_names;
use super::{Pass, PassContext, PassError, PassReport, ServingSpec};
use crate::front::check;
use crate::ir::{AttrExt, DataType, Graph, NodeId, TensorRef};
use crate::model::{DEFAULT_SIGNATURE, Model, PREDICT_METHOD, Signature, TensorSpec};
use crate::ops::OpSignatures;
use crate::typing;

/// Ops whose outputs are where a training input pipeline hands over to the model.
pub fn is_input_boundary(op: &str) -> bool {
    op.starts_with("IteratorGetNext")
        || op.starts_with("QueueDequeue")
        || op.starts_with("ReaderRead")
        || op == "Placeholder"
}

/// Replaces input tensors with placeholders and records the signature.
pub struct InputsPass {
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
    signature_name: String,
    training_flags: Vec<String>,
}

impl InputsPass {
    pub fn new(spec: &ServingSpec) -> InputsPass {
        InputsPass {
            inputs: spec.inputs.clone(),
            outputs: spec.outputs.clone(),
            signature_name: if spec.signature_name.is_empty() {
                DEFAULT_SIGNATURE.into()
            } else {
                spec.signature_name.clone()
            },
            training_flags: spec.training_flags.clone(),
        }
    }

    /// Each output key with its tensor, which must exist.
    fn resolve_outputs(&self, model: &Model) -> Result<Vec<(String, TensorRef)>, PassError> {
        let ops = OpSignatures::of(model);
        self.outputs
            .iter()
            .map(|output| {
                let used_as = format!("output {:?}", output.key);
                let tensor = resolve_existing(model, &ops, &output.tensor, &used_as)?;
                Ok((output.key.clone(), tensor))
            })
            .collect()
    }

    /// The inputs given, or else those detected upstream of `outputs`, never
    /// a training flag.
    fn choose_inputs(
        &self,
        graph: &Graph,
        outputs: &[(String, TensorRef)],
        flags: &[NodeId],
        report: &mut PassReport,
    ) -> Result<Vec<InputSpec>, PassError> {
        if !self.inputs.is_empty() {
            return Ok(self.inputs.clone());
        }
        let detected = detect_inputs(graph, outputs.iter().map(|(_, t)| t.node), flags);
        if detected.is_empty() {
            return Err(PassError::NoInputs);
        }
        for spec in &detected {
            let tensors = match &spec.sparse {
                Some(parts) => format!(
                    "{},{},{} (a SparseTensor)",
                    parts.indices, spec.tensor, parts.dense_shape
                ),
                None => spec.tensor.clone(),
            };
            report.note(format!("input {:?} chosen: {tensors}", spec.key));
        }
        Ok(detected)
    }

    /// Each input with its tensor (a sparse input's three), which must
    /// exist, must not be a training flag the user named, and must not be
    /// given for another key too.
    fn resolve_inputs(
        &self,
        model: &Model,
        inputs: Vec<InputSpec>,
    ) -> Result<Vec<ResolvedInput>, PassError> {
        let ops = OpSignatures::of(model);
        let graph = &model.graph;
        let mut keys_by_tensor: HashMap<TensorRef, String> = HashMap::new();
        let mut resolved = Vec::with_capacity(inputs.len());
        for spec in inputs {
            let used_as = format!("input {:?}", spec.key);
            let mut resolve_one = |name: &str| -> Result<TensorRef, PassError> {
                let tensor = resolve_existing(model, &ops, name, &used_as)?;
                let flag = graph.name(tensor.node);
                if self.training_flags.iter().any(|named| named == flag) {
                    return Err(PassError::FlagAsInput {
                        flag: flag.into(),
                        key: spec.key.clone(),
                    });
                }
                if let Some(first) = keys_by_tensor.insert(tensor, spec.key.clone()) {
                    return Err(PassError::DuplicateInputTensor {
                        tensor: graph.tensor_name(tensor),
                        first,
                        second: spec.key.clone(),
                    });
                }
                Ok(tensor)
            };
            let sparse = match &spec.sparse {
                None => None,
                Some(parts) => Some((
                    resolve_one(&parts.indices)?,
                    resolve_one(&parts.dense_shape)?,
                )),
            };
            let tensor = resolve_one(&spec.tensor)?;
            let sparse = sparse.map(|(indices, dense_shape)| SparseTensors {
                indices,
                values: tensor,
                dense_shape,
            });
            resolved.push(ResolvedInput {
                spec,
                tensor,
                sparse,
            });
        }
        Ok(resolved)
    }
}

impl Pass for InputsPass {
    fn name(&self) -> &'static str {
        "inputs"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        if self.outputs.is_empty() {
            return Err(PassError::NoOutputs {
                candidates: output_candidates(&model.graph),
            });
        }
        unique_keys("output", self.outputs.iter().map(|o| (&o.key, &o.tensor)))?;
        unique_keys("input", self.inputs.iter().map(|i| (&i.key, &i.tensor)))?;
        let flags = super::conds::find_flags(&model.graph, &self.training_flags)?;
        let outputs = self.resolve_outputs(model)?;
        let inputs = self.choose_inputs(&model.graph, &outputs, &flags, &mut report)?;
        let inputs = self.resolve_inputs(model, inputs)?;
        cx.inputs = inputs.iter().map(|input| input.spec.clone()).collect();
        let (inputs, training_batches) = serving_inputs(model, &inputs, &mut report)?;
        cx.training_batch = one_batch(&training_batches);
        let outputs = outputs
            .into_iter()
            .map(|(key, tensor)| Ok((key, output_spec(model, tensor, &training_batches)?)))
            .collect::<Result<_, PassError>>()?;
        let signature = Signature {
            method_name: PREDICT_METHOD.into(),
            inputs,
            outputs,
        };
        model
            .signatures
            .insert(self.signature_name.clone(), signature);
        Ok(report)
    }
}

/// An input spec with its tensors found in the graph.
#[derive(Debug, Clone)]
pub struct ResolvedInput {
    pub spec: InputSpec,
    /// The tensor replaced; for a sparse input, its values.
    pub tensor: TensorRef,
    /// All three tensors of a sparse input.
    pub sparse: Option<SparseTensors>,
}

/// Replaces each input tensor with a placeholder and gives the signature's
/// inputs, with the batch sizes the training graph fixed (an output with
/// such a leading dimension gets -1 there, as the inputs do). A sparse
/// input gives three (see [`super::sparse_inputs`]).
fn serving_inputs(
    model: &mut Model,
    inputs: &[ResolvedInput],
    report: &mut PassReport,
) -> Result<(BTreeMap<String, TensorSpec>, Vec<i64>), PassError> {
    let mut specs = BTreeMap::new();
    let mut training_batches = Vec::new();
    for ResolvedInput {
        spec,
        tensor,
        sparse,
    } in inputs
    {
        if let Some(sparse) = sparse {
            for (key, entry) in serve_sparse(model, &spec.key, sparse, report)? {
                if let Some(first) = specs.insert(key.clone(), entry) {
                    return Err(PassError::DuplicateKey {
                        what: "input",
                        key,
                        first: first.name,
                        second: format!("a component of sparse input {:?}", spec.key),
                    });
                }
            }
            continue;
        }
        let (dtype, shape) = input_type(model, *tensor, spec, report)?;
        training_batches.extend(training_batch_size(&model.graph, *tensor));
        let placeholder =
            replace_with_placeholder(model, *tensor, &spec.key, dtype, shape.as_deref(), report)?;
        let name = format!("{placeholder}:0");
        specs.insert(spec.key.clone(), TensorSpec { name, dtype, shape });
    }
    Ok((specs, training_batches))
}

/// The training batch when every input that states one states the same.
fn one_batch(batches: &[i64]) -> Option<i64> {
    let first = *batches.first()?;
    batches.iter().all(|&b| b == first).then_some(first)
}

/// An output's signature entry: its dtype, and its stated shape with a
/// training batch size made unknown.
fn output_spec(
    model: &Model,
    tensor: TensorRef,
    training_batches: &[i64],
) -> Result<TensorSpec, PassError> {
    let node = model.graph.node(tensor.node);
    let dtype = tensor_dtype(model, tensor)?;
    let mut shape = typing::stated_output_shape(&node.op, &node.attrs, tensor.port);
    if let Some(batch) = shape
        .as_mut()
        .and_then(|dims| dims.first_mut())
        .filter(|b| training_batches.contains(b))
    {
        *batch = -1;
    }
    let name = model.graph.tensor_name(tensor);
    Ok(TensorSpec { name, dtype, shape })
}

/// An error when two specs share a key: a signature maps each key to one
/// tensor, so the second would silently replace the first.
fn unique_keys<'a>(
    what: &'static str,
    specs: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<(), PassError> {
    let mut tensors_by_key: HashMap<&str, &str> = HashMap::new();
    for (key, tensor) in specs {
        if let Some(first) = tensors_by_key.insert(key, tensor) {
            return Err(PassError::DuplicateKey {
                what,
                key: key.clone(),
                first: first.into(),
                second: tensor.clone(),
            });
        }
    }
    Ok(())
}

/// Resolves a tensor name, suggesting close names when it is not there.
pub fn resolve(graph: &Graph, name: &str) -> Result<TensorRef, PassError> {
    graph.tensor(name).map_err(|_| PassError::UnknownTensor {
        tensor: name.into(),
        suggestions: close_names(graph, crate::ir::node_of(name))
            .into_iter()
            .map(|node| format!("{node}:0"))
            .collect(),
    })
}

/// [`resolve`], and the output must be one its op has.
fn resolve_existing(
    model: &Model,
    ops: &OpSignatures<'_>,
    name: &str,
    used_as: &str,
) -> Result<TensorRef, PassError> {
    let tensor = resolve(&model.graph, name)?;
    check::check_output_exists(&model.graph, ops, tensor, used_as)?;
    Ok(tensor)
}

/// Tensors that look like what a user wants to serve: an Estimator head's
/// predictions as `KEY=TENSOR` (see [`super::head_outputs`]), the logits
/// feeding a loss, and softmax / sigmoid / argmax outputs.
pub fn output_candidates(graph: &Graph) -> Vec<String> {
    let mut candidates = super::head_outputs::head_candidates(graph);
    for id in graph.node_ids() {
        let op = graph.op(id);
        let is_loss = op.contains("CrossEntropyWithLogits");
        if let Some(logits) = graph.data_input(id, 0).filter(|_| is_loss) {
            let logits = crate::ir::constants::through_identities(graph, logits);
            candidates.push(graph.tensor_name(logits));
        }
    }
    for id in graph.node_ids() {
        if matches!(graph.op(id), "Softmax" | "Sigmoid" | "ArgMax")
            && !graph.name(id).starts_with("gradients")
        {
            candidates.push(format!("{}:0", graph.name(id)));
        }
    }
    // One entry per tensor: a head's `KEY=TENSOR` comes first and wins.
    let mut seen = HashSet::new();
    candidates
        .retain(|c| seen.insert(c.split_once('=').map_or(c.as_str(), |(_, t)| t).to_string()));
    candidates.truncate(10);
    candidates
}

/// The input-boundary tensors that `outputs` depend on, through data edges,
/// each keyed by the feature it carries when the feature columns reading it
/// say (a SparseTensor's components as one sparse input; see
/// [`super::feature_names`]). Training flags are not inputs: the
/// training-conds pass makes them constant.
fn detect_inputs(
    graph: &Graph,
    outputs: impl Iterator<Item = NodeId>,
    flags: &[NodeId],
) -> Vec<InputSpec> {
    let boundary = input_boundary(graph, outputs, flags);
    let single = boundary.len() == 1;
    let features = feature_inputs(graph, &boundary);
    // Named features take their keys first, so a fallback key never takes
    // one; a name two tensors derive gets a suffix the second time.
    let mut keys: HashSet<String> = features.iter().filter_map(|f| f.name.clone()).collect();
    let mut named: HashSet<String> = HashSet::new();
    boundary
        .into_iter()
        .zip(features)
        .enumerate()
        .map(|(i, (tensor, feature))| InputSpec {
            key: match feature.name {
                Some(name) if named.insert(name.clone()) => name,
                Some(name) => unused_key(&mut keys, name),
                None => unused_key(&mut keys, detected_key(graph, tensor, i, single)),
            },
            tensor: feature.tensor,
            sparse: feature.sparse,
            ..InputSpec::default()
        })
        .collect()
}

/// The tensors where walking back from `outputs` meets a boundary op
/// (placeholders, dequeues, iterators), flags aside, sorted by name.
fn input_boundary(
    graph: &Graph,
    outputs: impl Iterator<Item = NodeId>,
    flags: &[NodeId],
) -> Vec<TensorRef> {
    let mut boundary: Vec<TensorRef> = Vec::new();
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = outputs.collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for input in graph.data_inputs(id) {
            if flags.contains(&input.node) {
                continue;
            }
            if !is_input_boundary(graph.op(input.node)) {
                stack.push(input.node);
            } else if !boundary.contains(&input) {
                boundary.push(input);
            }
        }
    }
    boundary.sort_by_key(|t| (graph.name(t.node).to_string(), t.port));
    boundary
}

/// A placeholder keeps its name as key; anything else is `input`, or
/// `input_<i>` among several.
fn detected_key(graph: &Graph, tensor: TensorRef, i: usize, single: bool) -> String {
    if graph.op(tensor.node) == "Placeholder" {
        graph.name(tensor.node).replace('/', "_")
    } else if single {
        "input".into()
    } else {
        format!("input_{i}")
    }
}

/// `key`, or `key_1`, `key_2`, ... when an earlier input took it (placeholders
/// `a/b` and `a_b` both want key `a_b`).
fn unused_key(taken: &mut HashSet<String>, key: String) -> String {
    let key = if taken.contains(&key) {
        (1..)
            .map(|i| format!("{key}_{i}"))
            .find(|candidate| !taken.contains(candidate))
            .unwrap_or(key)
    } else {
        key
    };
    taken.insert(key.clone());
    key
}

/// The dtype of a tensor, or an error naming it and its op.
fn tensor_dtype(model: &Model, tensor: TensorRef) -> Result<DataType, PassError> {
    let node = model.graph.node(tensor.node);
    typing::output_dtype(
        &node.op,
        &node.attrs,
        tensor.port,
        model.op_defs.get(&node.op),
    )
    .ok_or_else(|| PassError::UnknownDtype {
        tensor: model.graph.tensor_name(tensor),
        op: node.op.clone(),
    })
}

/// The dtype and the serving shape (batch dimension unknown) of an input.
/// A shape given with the input (`:shape=`) is checked against the
/// training tensor's (see [`given_shape`]).
fn input_type(
    model: &Model,
    tensor: TensorRef,
    spec: &InputSpec,
    report: &mut PassReport,
) -> Result<(DataType, Option<Vec<i64>>), PassError> {
    let graph = &model.graph;
    let node = graph.node(tensor.node);
    let dtype = tensor_dtype(model, tensor)?;
    let training = typing::stated_output_shape(&node.op, &node.attrs, tensor.port)
        .or_else(|| queue_component_shape(graph, tensor));
    if let Some(given) = &spec.shape {
        let shape = given_shape(spec, given, training.as_deref(), graph.tensor_name(tensor))?;
        if shape.len() != given.len() {
            report.note(format!(
                "input {:?}: shape {given:?} is one example's; the batch dimension is put in front: {shape:?}",
                spec.key
            ));
        }
        return Ok((dtype, Some(shape)));
    }
    let mut shape = training;
    if let Some(batch) = shape.as_mut().and_then(|dims| dims.first_mut()) {
        *batch = -1;
    }
    Ok((dtype, shape))
}

/// A given input shape checked against the training tensor's: one rank
/// short is the per-example shape (what many users write), and gets the
/// batch dimension in front; any other rank, or a size that differs from
/// the training tensor's past the batch dimension, is an error naming the
/// input, the given shape and the training shape. Without a training shape
/// the given one stands.
fn given_shape(
    spec: &InputSpec,
    given: &[i64],
    training: Option<&[i64]>,
    tensor: String,
) -> Result<Vec<i64>, PassError> {
    let Some(training) = training else {
        return Ok(given.to_vec());
    };
    let shape = if given.len() + 1 == training.len() {
        std::iter::once(-1).chain(given.iter().copied()).collect()
    } else {
        given.to_vec()
    };
    let error = |why: String| {
        PassError::InputShape(Box::new(InputShapeError {
            input: spec.key.clone(),
            tensor: tensor.clone(),
            given: given.to_vec(),
            training: training.to_vec(),
            why,
        }))
    };
    if shape.len() != training.len() {
        let why = format!(
            "rank {} where the graph needs rank {} (or {} for one example's shape)",
            given.len(),
            training.len(),
            training.len().saturating_sub(1)
        );
        return Err(error(why));
    }
    let clash = shape
        .iter()
        .zip(training)
        .enumerate()
        .skip(1)
        .find(|(_, (s, t))| **s >= 0 && **t >= 0 && s != t);
    if let Some((axis, (s, t))) = clash {
        return Err(error(format!(
            "dimension {axis} is {s} where the graph has {t}"
        )));
    }
    Ok(shape)
}

/// The batch size the training pipeline fed through `tensor`, when the graph
/// states it: shapes computed during training carry it in their first
/// dimension, and the serving signature must not.
fn training_batch_size(graph: &Graph, tensor: TensorRef) -> Option<i64> {
    let node = graph.node(tensor.node);
    let stated = typing::stated_output_shape(&node.op, &node.attrs, tensor.port)
        .and_then(|dims| dims.first().copied())
        .filter(|&b| b > 0);
    stated.or_else(|| {
        let batched =
            node.op.starts_with("QueueDequeueMany") || node.op.starts_with("QueueDequeueUpTo");
        let n = graph.data_input(tensor.node, 1).filter(|_| batched)?;
        crate::ir::constants::const_f64(graph, n)
            .map(|v| v as i64)
            .filter(|&b| b > 0)
    })
}

/// A dequeue's component shape from the queue's `shapes` attr; a batched
/// dequeue adds the batch dimension in front.
fn queue_component_shape(graph: &Graph, tensor: TensorRef) -> Option<Vec<i64>> {
    let dequeue = graph.node(tensor.node);
    if !dequeue.op.starts_with("QueueDequeue") {
        return None;
    }
    let queue = graph.data_input(tensor.node, 0)?;
    let shapes = graph.node(queue.node).attr_list_dims("shapes").ok()?;
    let component = shapes.into_iter().nth(tensor.port)??;
    if dequeue.op.starts_with("QueueDequeueMany") || dequeue.op.starts_with("QueueDequeueUpTo") {
        Some(std::iter::once(-1).chain(component).collect())
    } else {
        Some(component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::check::CheckError;
    use crate::passes::testing::{model, node};

    #[test]
    fn a_batched_dequeue_becomes_a_placeholder_with_unknown_batch() {
        let mut queue = node("queue", "FIFOQueueV2", &[]);
        queue.set_attr_list_shape("shapes", &[Some(&[6]), Some(&[])]);
        let mut batch = node("batch", "QueueDequeueManyV2", &["queue", "n"]);
        batch.set_attr_list_type("component_types", &[DataType::DtFloat, DataType::DtInt64]);
        let out = node("out", "Relu", &["batch"]).with_type("T", DataType::DtFloat);
        let mut model = model(vec![queue, node("n", "Const", &[]), batch, out]);
        let spec = ServingSpec {
            outputs: vec!["y=out:0".parse().unwrap()],
            ..Default::default()
        };
        let report = InputsPass::new(&spec)
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        assert!(report.notes[0].contains("batch:0"), "{:?}", report.notes);
        let signature = &model.signatures[DEFAULT_SIGNATURE];
        let input = &signature.inputs["input"];
        assert_eq!(
            (input.name.as_str(), input.dtype, input.shape.clone()),
            ("input:0", DataType::DtFloat, Some(vec![-1, 6]))
        );
        let g = &model.graph;
        assert_eq!(
            g.tensor_name(g.data_input(g.find("out").unwrap(), 0).unwrap()),
            "input:0"
        );
        let err = InputsPass::new(&ServingSpec::default())
            .run(&mut model, &mut PassContext::new())
            .unwrap_err();
        assert!(matches!(err, PassError::NoOutputs { .. }));
    }

    #[test]
    fn a_training_flag_placeholder_is_not_detected_as_an_input() {
        let flag = node("is_training", "Placeholder", &[]).with_type("dtype", DataType::DtBool);
        let x = node("x", "Placeholder", &[]).with_type("dtype", DataType::DtFloat);
        let out =
            node("out", "Select", &["is_training", "x", "x"]).with_type("T", DataType::DtFloat);
        let mut model = model(vec![flag, x, out]);
        let spec = ServingSpec {
            outputs: vec!["y=out:0".parse().unwrap()],
            ..Default::default()
        };
        InputsPass::new(&spec)
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let inputs: Vec<&String> = model.signatures[DEFAULT_SIGNATURE].inputs.keys().collect();
        assert_eq!(inputs, ["x"]);
    }

    /// Placeholders `x` (float) and `mode` (bool, not named like a usual
    /// training flag), and `out = Select(mode, x, x)`.
    fn flag_model() -> Model {
        model(vec![
            node("mode", "Placeholder", &[]).with_type("dtype", DataType::DtBool),
            node("x", "Placeholder", &[]).with_type("dtype", DataType::DtFloat),
            node("out", "Select", &["mode", "x", "x"]).with_type("T", DataType::DtFloat),
        ])
    }

    fn run_inputs(
        model: &mut Model,
        inputs: &[&str],
        outputs: &[&str],
        flags: &[&str],
    ) -> Result<Vec<String>, PassError> {
        let spec = ServingSpec {
            inputs: inputs.iter().map(|s| s.parse().unwrap()).collect(),
            outputs: outputs.iter().map(|s| s.parse().unwrap()).collect(),
            training_flags: flags.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        InputsPass::new(&spec).run(model, &mut PassContext::new())?;
        Ok(model.signatures[DEFAULT_SIGNATURE]
            .inputs
            .keys()
            .cloned()
            .collect())
    }

    #[test]
    fn a_named_training_flag_is_never_detected_as_an_input() {
        let detected = run_inputs(&mut flag_model(), &[], &["y=out:0"], &[]).unwrap();
        assert_eq!(
            detected,
            ["mode", "x"],
            "unnamed, the flag looks like an input"
        );
        let detected = run_inputs(&mut flag_model(), &[], &["y=out:0"], &["mode"]).unwrap();
        assert_eq!(detected, ["x"]);
        let err =
            run_inputs(&mut flag_model(), &["m=mode:0"], &["y=out:0"], &["mode"]).unwrap_err();
        assert!(
            matches!(&err, PassError::FlagAsInput { flag, key } if flag == "mode" && key == "m"),
            "{err}"
        );
    }

    #[test]
    fn a_training_flag_that_does_not_exist_is_named() {
        let err = run_inputs(&mut flag_model(), &[], &["y=out:0"], &["modee"]).unwrap_err();
        assert!(
            matches!(&err, PassError::UnknownTrainingFlag { flag, .. } if flag == "modee"),
            "{err}"
        );
        assert!(err.to_string().contains("did you mean mode"), "{err}");
    }

    #[test]
    fn duplicate_keys_and_a_tensor_given_twice_are_refused() {
        let err =
            run_inputs(&mut flag_model(), &["a=x:0", "a=mode:0"], &["y=out:0"], &[]).unwrap_err();
        assert!(
            matches!(&err, PassError::DuplicateKey { what: "input", key, .. } if key == "a"),
            "{err}"
        );
        let err = run_inputs(&mut flag_model(), &[], &["y=out:0", "y=x:0"], &[]).unwrap_err();
        assert!(
            matches!(&err, PassError::DuplicateKey { what: "output", key, first, second }
                if key == "y" && first == "out:0" && second == "x:0"),
            "{err}"
        );
        // The same key for an input and an output is fine: they are separate maps.
        run_inputs(&mut flag_model(), &["y=x:0", "m=mode"], &["y=out:0"], &[]).unwrap();
        let err = run_inputs(&mut flag_model(), &["a=x:0", "b=x"], &["y=out:0"], &[]).unwrap_err();
        assert!(
            matches!(&err, PassError::DuplicateInputTensor { tensor, first, second }
                if tensor == "x:0" && first == "a" && second == "b"),
            "{err}"
        );
    }

    #[test]
    fn inputs_and_outputs_past_the_op_outputs_are_refused() {
        let err = run_inputs(&mut flag_model(), &["a=x:3"], &["y=out:0"], &[]).unwrap_err();
        assert!(
            matches!(&err, PassError::Check(CheckError::NoSuchOutput { used_as, tensor, outputs: 1, .. })
                if used_as == "input \"a\"" && tensor == "x:3"),
            "{err}"
        );
        let err = run_inputs(&mut flag_model(), &[], &["k=out:5"], &[]).unwrap_err();
        assert!(
            matches!(&err, PassError::Check(CheckError::NoSuchOutput { used_as, tensor, .. })
                if used_as == "output \"k\"" && tensor == "out:5"),
            "{err}"
        );
    }

    #[test]
    fn detected_inputs_take_their_feature_names_and_stay_unique() {
        let mut it = node("IteratorGetNext", "IteratorGetNext", &[]);
        it.set_attr_list_type(
            "output_types",
            &[
                DataType::DtFloat,
                DataType::DtFloat,
                DataType::DtFloat,
                DataType::DtFloat,
            ],
        );
        let layer = "dnn/input_layer";
        let reader = |name: String, port: usize| {
            node(&name, "ExpandDims", &[&format!("IteratorGetNext:{port}")])
                .with_type("T", DataType::DtFloat)
        };
        let mut nodes = vec![
            it,
            reader(format!("{layer}/age/ExpandDims"), 0),
            reader(format!("{layer}/age_bucketized/ExpandDims"), 0),
            // A second tensor whose column also derives from `age`.
            reader(format!("{layer}/age_embedding/ExpandDims"), 1),
            reader("plain".into(), 2),
            reader("other".into(), 3),
        ];
        let sum_inputs = [
            format!("{layer}/age/ExpandDims"),
            format!("{layer}/age_bucketized/ExpandDims"),
            format!("{layer}/age_embedding/ExpandDims"),
            "plain".to_string(),
            "other".to_string(),
        ];
        let sum_inputs: Vec<&str> = sum_inputs.iter().map(String::as_str).collect();
        nodes.push(node("out", "AddN", &sum_inputs).with_type("T", DataType::DtFloat));
        let keys = run_inputs(&mut model(nodes), &[], &["y=out:0"], &[]).unwrap();
        assert_eq!(keys, ["age", "age_1", "input_2", "input_3"]);
    }

    #[test]
    fn detected_keys_are_unique() {
        let placeholder =
            |name: &str| node(name, "Placeholder", &[]).with_type("dtype", DataType::DtFloat);
        let add = node("out", "AddV2", &["a/b", "a_b"]).with_type("T", DataType::DtFloat);
        let mut model = model(vec![placeholder("a/b"), placeholder("a_b"), add]);
        let keys = run_inputs(&mut model, &[], &["y=out:0"], &[]).unwrap();
        assert_eq!(keys, ["a_b", "a_b_1"]);
    }
}
