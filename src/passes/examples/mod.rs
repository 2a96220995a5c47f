//! `--examples`: the serving signature takes serialized tf.Example protos
//! (one DT_STRING input `examples` of shape [-1]) and a `ParseExampleV2`
//! node turns them into the inputs the inputs pass made placeholders for,
//! as Estimator's parsing serving input receiver does.
//!
//! Each dense input becomes a `FixedLenFeature` of its per-example shape
//! (optional when its spec gives `:default=V`); a sparse input, whose
//! indices, values and dense shape the inputs pass made three placeholders,
//! becomes a `VarLenFeature`. tf.Example carries float32, int64 and string:
//! other dtypes are parsed as one of those and cast.

mod feature;

use std::collections::BTreeMap;

pub use feature::{ExamplesError, Feature, FeatureKind, SparseTensorNames, carrier};

use super::inputs::InputSpec;
use super::sparse_inputs::{SPARSE_SUFFIXES, component_key};
use super::{Pass, PassContext, PassError, PassReport, ServingSpec};
use crate::format::tensor::{Tensor, Values};
use crate::ir::{DataType, Node, NodeId, TensorRef};
use crate::model::{DEFAULT_SIGNATURE, Model, Signature, TensorSpec};

/// The signature input that takes the serialized examples.
pub const EXAMPLES_INPUT: &str = "examples";

/// Replaces the signature's input placeholders by a parse of serialized
/// tf.Examples.
pub struct ExamplesPass {
    signature_name: String,
}

impl ExamplesPass {
    pub fn new(spec: &ServingSpec) -> ExamplesPass {
        let signature_name = if spec.signature_name.is_empty() {
            DEFAULT_SIGNATURE.into()
        } else {
            spec.signature_name.clone()
        };
        ExamplesPass { signature_name }
    }
}

/// A feature and the placeholders its parsed value replaces.
struct Planned {
    feature: Feature,
    replaces: Replaced,
}

enum Replaced {
    Dense(TensorSpec),
    Sparse {
        indices: TensorSpec,
        values: TensorSpec,
        dense_shape: TensorSpec,
    },
}

impl Pass for ExamplesPass {
    fn name(&self) -> &'static str {
        "examples"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let signature = model.signatures.get(&self.signature_name).ok_or_else(|| {
            ExamplesError::NoSignature {
                signature: self.signature_name.clone(),
            }
        })?;
        let mut planned = chosen_specs(cx, signature)
            .iter()
            .map(|spec| plan(spec, signature, &self.signature_name))
            .collect::<Result<Vec<Planned>, ExamplesError>>()?;
        planned.sort_by(|a, b| a.feature.key.cmp(&b.feature.key));
        let mut report = PassReport::default();
        let examples = add_examples_input(model, &mut report)?;
        let parse = ParseNode::add(model, examples, &planned, &mut report)?;
        parse.rewire_features(model, &mut planned, &mut report)?;
        let inputs = examples_inputs(model, examples);
        if let Some(signature) = model.signatures.get_mut(&self.signature_name) {
            signature.inputs = inputs;
        }
        cx.example_features = Some(planned.into_iter().map(|p| p.feature).collect());
        Ok(report)
    }
}

/// The inputs the inputs pass chose; a pipeline without it gets one dense
/// feature per signature input.
fn chosen_specs(cx: &PassContext, signature: &Signature) -> Vec<InputSpec> {
    if !cx.inputs.is_empty() {
        return cx.inputs.clone();
    }
    signature
        .inputs
        .iter()
        .map(|(key, spec)| InputSpec {
            key: key.clone(),
            tensor: spec.name.clone(),
            ..InputSpec::default()
        })
        .collect()
}

/// The feature `spec` becomes, from the placeholders the signature holds.
fn plan(spec: &InputSpec, signature: &Signature, name: &str) -> Result<Planned, ExamplesError> {
    let input = |key: &str| -> Result<TensorSpec, ExamplesError> {
        signature.inputs.get(key).cloned().ok_or_else(|| {
            if key == spec.key {
                ExamplesError::NotAnInput {
                    key: key.into(),
                    signature: name.into(),
                }
            } else {
                ExamplesError::SparsePartMissing {
                    key: spec.key.clone(),
                    missing: key.into(),
                }
            }
        })
    };
    if spec.sparse.is_some() {
        let [indices, values, dense_shape] =
            SPARSE_SUFFIXES.map(|suffix| input(&component_key(&spec.key, suffix)));
        let (indices, values, dense_shape) = (indices?, values?, dense_shape?);
        check_sparse_rank(&spec.key, &indices)?;
        let feature = feature(spec, FeatureKind::VarLen, values.dtype, None)?;
        let replaces = Replaced::Sparse {
            indices,
            values,
            dense_shape,
        };
        return Ok(Planned { feature, replaces });
    }
    let dense = input(&spec.key)?;
    let shape = per_example_shape(&spec.key, dense.shape.as_deref())?;
    let feature = feature(spec, FeatureKind::Fixed, dense.dtype, Some(shape))?;
    Ok(Planned {
        feature,
        replaces: Replaced::Dense(dense),
    })
}

fn feature(
    spec: &InputSpec,
    kind: FeatureKind,
    dtype: DataType,
    shape: Option<Vec<i64>>,
) -> Result<Feature, ExamplesError> {
    let carrier_dtype = carrier(dtype).ok_or_else(|| ExamplesError::NoCarrier {
        key: spec.key.clone(),
        dtype: crate::typing::dtype_name(dtype as i32),
    })?;
    Ok(Feature {
        key: spec.key.clone(),
        kind,
        dtype,
        carrier_dtype,
        shape,
        default: spec.default.clone(),
        tensor: String::new(),
        sparse_tensors: None,
    })
}

/// The serving shape without its batch dimension, every dimension known.
fn per_example_shape(key: &str, shape: Option<&[i64]>) -> Result<Vec<i64>, ExamplesError> {
    match shape {
        Some([_, rest @ ..]) if rest.iter().all(|d| *d >= 0) => Ok(rest.to_vec()),
        _ => Err(ExamplesError::UnknownShape {
            key: key.into(),
            shape: shape.map_or("unknown".into(), crate::model::method_rules::shape_text),
        }),
    }
}

/// A var-len feature parses to `[batch, values]` indices, rank 2.
fn check_sparse_rank(key: &str, indices: &TensorSpec) -> Result<(), ExamplesError> {
    match indices.shape.as_deref() {
        Some([_, rank]) if *rank >= 0 && *rank != 2 => Err(ExamplesError::SparseRank {
            key: key.into(),
            rank: *rank,
        }),
        _ => Ok(()),
    }
}

/// The `examples` placeholder: serialized tf.Examples, one per row.
fn add_examples_input(model: &mut Model, report: &mut PassReport) -> Result<NodeId, PassError> {
    let name = model.graph.unique_name(EXAMPLES_INPUT);
    let placeholder = Node::new(name, "Placeholder")
        .with_type("dtype", DataType::DtString)
        .with_shape("shape", Some(&[-1]));
    add(model, placeholder, &[], report)
}

fn examples_inputs(model: &Model, examples: NodeId) -> BTreeMap<String, TensorSpec> {
    let spec = TensorSpec {
        name: model.graph.tensor_name(TensorRef::new(examples, 0)),
        dtype: DataType::DtString,
        shape: Some(vec![-1]),
    };
    [(EXAMPLES_INPUT.to_string(), spec)].into()
}

/// The `ParseExampleV2` node, its scope and how many sparse and dense
/// features it parses (its outputs: sparse indices, values and shapes,
/// then dense values).
struct ParseNode {
    id: NodeId,
    scope: String,
    sparse: usize,
}

impl ParseNode {
    fn add(
        model: &mut Model,
        examples: NodeId,
        planned: &[Planned],
        report: &mut PassReport,
    ) -> Result<ParseNode, PassError> {
        let scope = model.graph.unique_name("ParseExample");
        let (sparse, dense): (Vec<&Feature>, Vec<&Feature>) = planned
            .iter()
            .map(|p| &p.feature)
            .partition(|f| f.kind == FeatureKind::VarLen);
        let keys = |features: &[&Feature]| -> Vec<String> {
            features.iter().map(|f| f.key.clone()).collect()
        };
        let mut inputs = vec![TensorRef::new(examples, 0)];
        for (name, values) in [
            ("names", Vec::new()),
            ("sparse_keys", keys(&sparse)),
            ("dense_keys", keys(&dense)),
            ("ragged_keys", Vec::new()),
        ] {
            let node = const_node(&format!("{scope}/{name}"), &strings(values));
            inputs.push(TensorRef::new(add(model, node, &[], report)?, 0));
        }
        for feature in &dense {
            let node = const_node(
                &format!("{scope}/defaults/{}", feature.key),
                &dense_default(feature)?,
            );
            inputs.push(TensorRef::new(add(model, node, &[], report)?, 0));
        }
        let node = parse_example_node(&format!("{scope}/ParseExampleV2"), &sparse, &dense);
        let id = add(model, node, &inputs, report)?;
        Ok(ParseNode {
            id,
            scope,
            sparse: sparse.len(),
        })
    }

    /// Moves the readers of each replaced placeholder to the parsed value,
    /// cast to the placeholder's dtype where tf.Example carried another.
    fn rewire_features(
        &self,
        model: &mut Model,
        planned: &mut [Planned],
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let n = self.sparse;
        let (mut sparse_index, mut dense_index) = (0, 0);
        for planned in planned {
            let feature = &mut planned.feature;
            match &planned.replaces {
                Replaced::Sparse {
                    indices,
                    values,
                    dense_shape,
                } => {
                    let j = sparse_index;
                    sparse_index += 1;
                    let parsed_values = self.cast(model, feature, n + j, report)?;
                    self.rewire(model, indices, self.output(j), feature, report)?;
                    self.rewire(model, values, parsed_values, feature, report)?;
                    self.rewire(model, dense_shape, self.output(2 * n + j), feature, report)?;
                    feature.tensor = model.graph.tensor_name(parsed_values);
                    feature.sparse_tensors = Some(SparseTensorNames {
                        indices: model.graph.tensor_name(self.output(j)),
                        dense_shape: model.graph.tensor_name(self.output(2 * n + j)),
                    });
                }
                Replaced::Dense(placeholder) => {
                    let port = 3 * n + dense_index;
                    dense_index += 1;
                    let parsed = self.cast(model, feature, port, report)?;
                    self.rewire(model, placeholder, parsed, feature, report)?;
                    feature.tensor = model.graph.tensor_name(parsed);
                }
            }
        }
        Ok(())
    }

    fn output(&self, port: usize) -> TensorRef {
        TensorRef::new(self.id, port)
    }

    /// Output `port`, through a `Cast` to the feature's dtype when it was
    /// carried in another.
    fn cast(
        &self,
        model: &mut Model,
        feature: &Feature,
        port: usize,
        report: &mut PassReport,
    ) -> Result<TensorRef, PassError> {
        if feature.carrier_dtype == feature.dtype {
            return Ok(self.output(port));
        }
        let mut cast = Node::new(format!("{}/cast/{}", self.scope, feature.key), "Cast")
            .with_type("SrcT", feature.carrier_dtype)
            .with_type("DstT", feature.dtype);
        cast.set_attr_bool("Truncate", false);
        let id = add(model, cast, &[self.output(port)], report)?;
        Ok(TensorRef::new(id, 0))
    }

    fn rewire(
        &self,
        model: &mut Model,
        placeholder: &TensorSpec,
        parsed: TensorRef,
        feature: &Feature,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let old = model.graph.tensor(&placeholder.name)?;
        model.rewire(old, parsed);
        let to = model.graph.tensor_name(parsed);
        let why = format!("tf.Example feature {:?}", feature.key);
        report.rewired(placeholder.name.clone(), to, why);
        Ok(())
    }
}

/// A `ParseExampleV2` of `sparse` var-len and `dense` fixed-length
/// features; its six inputs are added by the caller.
fn parse_example_node(name: &str, sparse: &[&Feature], dense: &[&Feature]) -> Node {
    let carriers = |features: &[&Feature]| -> Vec<DataType> {
        features.iter().map(|f| f.carrier_dtype).collect()
    };
    let shapes: Vec<&[i64]> = dense
        .iter()
        .map(|f| f.shape.as_deref().unwrap_or(&[]))
        .collect();
    let shapes: Vec<Option<&[i64]>> = shapes.into_iter().map(Some).collect();
    let mut node = Node::new(name, "ParseExampleV2");
    node.set_attr_list_type("Tdense", &carriers(dense));
    node.set_attr_int("num_sparse", sparse.len() as i64);
    node.set_attr_list_type("sparse_types", &carriers(sparse));
    node.set_attr_list_type("ragged_value_types", &[]);
    node.set_attr_list_type("ragged_split_types", &[]);
    node.set_attr_list_shape("dense_shapes", &shapes);
    node
}

/// A fixed-length feature's default: its parsed `:default=`, else an empty
/// tensor, which makes the feature required.
fn dense_default(feature: &Feature) -> Result<Tensor, ExamplesError> {
    match (&feature.default, &feature.shape) {
        (Some(text), Some(shape)) => feature::default_tensor(feature, shape, text),
        _ => Ok(feature::empty_tensor(feature.carrier_dtype)),
    }
}

fn strings(values: Vec<String>) -> Tensor {
    Tensor {
        dtype: DataType::DtString,
        shape: vec![values.len() as i64],
        values: Values::Strings(values.into_iter().map(bytes::Bytes::from).collect()),
    }
}

/// A `Const` node holding `tensor`.
pub(crate) fn const_node(name: &str, tensor: &Tensor) -> Node {
    let mut node = Node::new(name, "Const").with_type("dtype", tensor.dtype);
    node.set_attr_tensor("value", tensor.to_proto());
    node
}

/// Adds `node` fed by `inputs` in order, and reports it.
pub(crate) fn add(
    model: &mut Model,
    node: Node,
    inputs: &[TensorRef],
    report: &mut PassReport,
) -> Result<NodeId, PassError> {
    let name = node.name().to_string();
    let id = model.graph.add_node(node)?;
    for input in inputs {
        model.graph.push_data_input(id, *input);
    }
    report.added.push(name);
    Ok(id)
}

#[cfg(test)]
mod tests;
