//! The serving signature's inputs and outputs: each chosen input tensor of
//! the training graph (an iterator or queue output, say) is replaced by a
//! `Placeholder` whose batch dimension is unknown, and the outputs are
//! resolved. Without `--input`, the input boundary the outputs depend on is
//! found and named; without `--output`, candidates are suggested.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use super::{Pass, PassContext, PassError, PassReport, ServingSpec};
use crate::ir::{AttrExt, Graph, Node, NodeId, TensorRef};
use crate::model::Model;
use crate::proto::attr_value::Value;
use crate::proto::{AttrValue, DataType};
use crate::typing;
use crate::write::meta_graph::{DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorSpec};

/// `--input KEY=TENSOR[:shape=D0,D1,...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub key: String,
    pub tensor: String,
    /// Overrides the shape found in the graph; `-1` for unknown dimensions.
    pub shape: Option<Vec<i64>>,
}

/// `--output KEY=TENSOR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    pub key: String,
    pub tensor: String,
}

fn split_key<'a>(what: &'static str, spec: &'a str) -> Result<(&'a str, &'a str), PassError> {
    let bad = |reason: &str| PassError::BadSpec {
        what,
        spec: spec.into(),
        reason: reason.into(),
    };
    let (key, tensor) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=TENSOR"))?;
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(bad("the key must be letters, digits, '_', '-' or '.'"));
    }
    if tensor.is_empty() {
        return Err(bad("no tensor after '='"));
    }
    Ok((key, tensor))
}

impl FromStr for InputSpec {
    type Err = PassError;

    fn from_str(spec: &str) -> Result<InputSpec, PassError> {
        let (key, rest) = split_key("input", spec)?;
        let (tensor, shape) = match rest.split_once(":shape=") {
            None => (rest, None),
            Some((tensor, dims)) => {
                let dims = dims
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(|d| match d.trim() {
                        "?" | "-1" | "None" => Ok(-1),
                        d => d.parse::<i64>().ok().filter(|v| *v >= 0).ok_or(()),
                    })
                    .collect::<Result<Vec<i64>, ()>>()
                    .map_err(|()| PassError::BadSpec {
                        what: "input",
                        spec: spec.into(),
                        reason: "shape dimensions must be non-negative integers or -1".into(),
                    })?;
                (tensor, Some(dims))
            }
        };
        Ok(InputSpec {
            key: key.into(),
            tensor: tensor.into(),
            shape,
        })
    }
}

impl FromStr for OutputSpec {
    type Err = PassError;

    fn from_str(spec: &str) -> Result<OutputSpec, PassError> {
        let (key, tensor) = split_key("output", spec)?;
        Ok(OutputSpec {
            key: key.into(),
            tensor: tensor.into(),
        })
    }
}

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
        }
    }
}

impl Pass for InputsPass {
    fn name(&self) -> &'static str {
        "inputs"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        if self.outputs.is_empty() {
            return Err(PassError::NoOutputs {
                candidates: output_candidates(&model.graph),
            });
        }
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for output in &self.outputs {
            outputs.push((output.key.clone(), resolve(&model.graph, &output.tensor)?));
        }
        let inputs = if self.inputs.is_empty() {
            let detected = detect_inputs(&model.graph, outputs.iter().map(|(_, t)| t.node));
            if detected.is_empty() {
                return Err(PassError::NoInputs);
            }
            for spec in &detected {
                report.note(format!("input {:?} chosen: {}", spec.key, spec.tensor));
            }
            detected
        } else {
            self.inputs.clone()
        };

        let mut signature = Signature {
            method_name: PREDICT_METHOD.into(),
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
        };
        let mut training_batches = Vec::new();
        for spec in &inputs {
            let tensor = resolve(&model.graph, &spec.tensor)?;
            let (dtype, shape) = input_type(model, tensor, spec)?;
            training_batches.extend(training_batch_size(&model.graph, tensor));
            let placeholder = replace_with_placeholder(
                model,
                tensor,
                &spec.key,
                dtype,
                shape.as_deref(),
                &mut report,
            )?;
            signature.inputs.insert(
                spec.key.clone(),
                TensorSpec {
                    name: format!("{placeholder}:0"),
                    dtype,
                    shape,
                },
            );
        }
        for (key, tensor) in outputs {
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
            signature.outputs.insert(
                key,
                TensorSpec {
                    name: model.graph.tensor_name(tensor),
                    dtype,
                    shape,
                },
            );
        }
        model
            .signatures
            .insert(self.signature_name.clone(), signature);
        Ok(report)
    }
}

/// Resolves a tensor name, suggesting close names when it is not there.
pub fn resolve(graph: &Graph, name: &str) -> Result<TensorRef, PassError> {
    graph.tensor(name).map_err(|_| PassError::UnknownTensor {
        tensor: name.into(),
        suggestions: close_names(graph, name.split(':').next().unwrap_or(name)),
    })
}

/// Up to five node names close to `wanted`: containing it, or a small edit away.
fn close_names(graph: &Graph, wanted: &str) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = graph
        .node_ids()
        .into_iter()
        .map(|id| graph.name(id).to_string())
        .map(|name| {
            let related = name.contains(wanted) || wanted.contains(name.as_str());
            (edit_distance(&name, wanted), related, name)
        })
        .filter(|(distance, related, _)| *related || *distance <= wanted.len().max(4) / 3)
        .map(|(distance, _, name)| (distance, name))
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(5)
        .map(|(_, name)| format!("{name}:0"))
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Tensors that look like what a user wants to serve: the logits feeding a
/// loss, and softmax / sigmoid / argmax outputs.
pub fn output_candidates(graph: &Graph) -> Vec<String> {
    let mut candidates = Vec::new();
    for id in graph.node_ids() {
        let op = graph.op(id);
        let is_loss = op.contains("CrossEntropyWithLogits");
        if let Some(logits) = graph.data_input(id, 0).filter(|_| is_loss) {
            let logits = super::constants::through_identities(graph, logits);
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
    let mut seen = HashSet::new();
    candidates.retain(|c| seen.insert(c.clone()));
    candidates.truncate(10);
    candidates
}

/// The input-boundary tensors that `outputs` depend on, through data edges.
/// Training flags are not inputs: the training-conds pass makes them constant.
fn detect_inputs(graph: &Graph, outputs: impl Iterator<Item = NodeId>) -> Vec<InputSpec> {
    let flags: HashSet<NodeId> = super::conds::find_flags(graph, &[])
        .unwrap_or_default()
        .into_iter()
        .collect();
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
            if is_input_boundary(graph.op(input.node)) {
                if !boundary.contains(&input) {
                    boundary.push(input);
                }
            } else {
                stack.push(input.node);
            }
        }
    }
    boundary.sort_by_key(|t| (graph.name(t.node).to_string(), t.port));
    let single = boundary.len() == 1;
    boundary
        .into_iter()
        .enumerate()
        .map(|(i, tensor)| {
            let key = if graph.op(tensor.node) == "Placeholder" {
                graph.name(tensor.node).replace('/', "_")
            } else if single {
                "input".into()
            } else {
                format!("input_{i}")
            };
            InputSpec {
                key,
                tensor: graph.tensor_name(tensor),
                shape: None,
            }
        })
        .collect()
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
fn input_type(
    model: &Model,
    tensor: TensorRef,
    spec: &InputSpec,
) -> Result<(DataType, Option<Vec<i64>>), PassError> {
    let graph = &model.graph;
    let node = graph.node(tensor.node);
    let dtype = tensor_dtype(model, tensor)?;
    if let Some(shape) = &spec.shape {
        return Ok((dtype, Some(shape.clone())));
    }
    let mut shape = typing::stated_output_shape(&node.op, &node.attrs, tensor.port)
        .or_else(|| queue_component_shape(graph, tensor));
    if let Some(batch) = shape.as_mut().and_then(|dims| dims.first_mut()) {
        *batch = -1;
    }
    Ok((dtype, shape))
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
        super::constants::const_f64(graph, n)
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
    let Value::List(shapes) = graph.node(queue.node).attr_value("shapes").ok()? else {
        return None;
    };
    let component = typing::dims(shapes.shape.get(tensor.port)?)?;
    if dequeue.op.starts_with("QueueDequeueMany") || dequeue.op.starts_with("QueueDequeueUpTo") {
        Some(std::iter::once(-1).chain(component).collect())
    } else {
        Some(component)
    }
}

/// Puts a `Placeholder` named `key` (or a free variant) where `tensor` was read.
fn replace_with_placeholder(
    model: &mut Model,
    tensor: TensorRef,
    key: &str,
    dtype: DataType,
    shape: Option<&[i64]>,
    report: &mut PassReport,
) -> Result<String, PassError> {
    let shape_proto = typing::shape_proto_or_unknown(shape);
    let existing = model.graph.node(tensor.node);
    if existing.op == "Placeholder" && existing.name() == key {
        model.graph.node_mut(tensor.node).attrs.insert(
            "shape".into(),
            AttrValue {
                value: Some(Value::Shape(shape_proto)),
            },
        );
        return Ok(key.to_string());
    }
    let name = model.graph.unique_name(key);
    if name != key {
        report.note(format!(
            "a node named {key:?} exists; the input placeholder is {name:?}"
        ));
    }
    let placeholder = Node::new(name.clone(), "Placeholder")
        .with_attr(
            "dtype",
            AttrValue {
                value: Some(Value::Type(dtype as i32)),
            },
        )
        .with_attr(
            "shape",
            AttrValue {
                value: Some(Value::Shape(shape_proto)),
            },
        );
    let id = model.graph.add_node(placeholder)?;
    let from = model.graph.tensor_name(tensor);
    model.graph.rewire(tensor, TensorRef::new(id, 0));
    report.added.push(name.clone());
    report.rewired(from, format!("{name}:0"), "serving input");
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_input_specs_with_shapes() {
        let spec: InputSpec = "images=IteratorGetNext:0:shape=-1,28,28".parse().unwrap();
        assert_eq!(spec.key, "images");
        assert_eq!(spec.tensor, "IteratorGetNext:0");
        assert_eq!(spec.shape, Some(vec![-1, 28, 28]));
        let spec: InputSpec = "x=batch".parse().unwrap();
        assert_eq!(spec.shape, None);
        assert!("noequals".parse::<InputSpec>().is_err());
        assert!("x=t:shape=a,b".parse::<InputSpec>().is_err());
        assert!("bad key=t".parse::<OutputSpec>().is_err());
    }

    #[test]
    fn a_batched_dequeue_becomes_a_placeholder_with_unknown_batch() {
        use crate::proto::attr_value::ListValue;
        use crate::proto::{GraphDef, NodeDef};
        let node = |name: &str, op: &str, inputs: &[&str]| NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..NodeDef::default()
        };
        let mut queue = node("queue", "FIFOQueueV2", &[]);
        let shape = typing::shape_proto(&[6]);
        queue.attr.insert(
            "shapes".into(),
            AttrValue {
                value: Some(Value::List(Box::new(ListValue {
                    shape: vec![shape, typing::shape_proto(&[])],
                    ..Default::default()
                }))),
            },
        );
        let mut batch = node("batch", "QueueDequeueManyV2", &["queue", "n"]);
        batch.attr.insert(
            "component_types".into(),
            AttrValue {
                value: Some(Value::List(Box::new(ListValue {
                    r#type: vec![1, 9],
                    ..Default::default()
                }))),
            },
        );
        let mut out = node("out", "Relu", &["batch"]);
        out.attr.insert(
            "T".into(),
            AttrValue {
                value: Some(Value::Type(1)),
            },
        );
        let def = GraphDef {
            node: vec![queue, node("n", "Const", &[]), batch, out],
            ..Default::default()
        };
        let mut model = Model::from_graph(crate::ir::Graph::from_graph_def(def).unwrap());
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
        use crate::passes::testing::{model, node};
        let mut flag = node("is_training", "Placeholder", &[]);
        flag.attr.insert(
            "dtype".into(),
            AttrValue {
                value: Some(Value::Type(DataType::DtBool as i32)),
            },
        );
        let mut x = node("x", "Placeholder", &[]);
        x.attr.insert(
            "dtype".into(),
            AttrValue {
                value: Some(Value::Type(DataType::DtFloat as i32)),
            },
        );
        let mut out = node("out", "Select", &["is_training", "x", "x"]);
        out.attr.insert(
            "T".into(),
            AttrValue {
                value: Some(Value::Type(DataType::DtFloat as i32)),
            },
        );
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

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("logits", "logit"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
