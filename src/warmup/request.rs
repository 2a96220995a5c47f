//! The predict API's request body → the input tensors of each warm-up
//! record, checked against the signature.
//!
//! Row format (`"instances"`): each instance is one example, an object
//! `{key: value}` or, for a single-input signature, the bare value. The
//! instances become one record holding them all as a batch, then one record
//! per instance (batch size 1): TensorFlow Serving replays every record once,
//! so both the batch size of the file and the single-example requests of
//! online serving are warm when the first real request arrives. One instance
//! gives one record. A signature whose batch dimension is fixed only gets the
//! records of that batch size.
//!
//! Columnar format (`"inputs"`): each value is the whole tensor, batch
//! dimension included; it becomes exactly one record.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{Place, RequestError};
use super::json::{Budget, b64_text, to_tensor};
use crate::limits::MAX_WARMUP_INSTANCES;
use crate::model::{Signature, TensorSpec};
use crate::proto::TensorProto;
use crate::tensor::{Tensor, Values};

/// A request body whose outline is right; its values are checked against
/// a signature by [`Body::records`].
#[derive(Debug, Clone)]
pub struct Body {
    /// The `"signature_name"` the body gives, if any.
    signature_name: Option<String>,
    examples: Examples,
}

#[derive(Debug, Clone)]
enum Examples {
    Instances(Vec<Value>),
    Inputs(Value),
}

/// The input tensors of one record, by signature key.
pub type RecordInputs = BTreeMap<String, TensorProto>;

impl Body {
    /// The outline of a request: an object with exactly one of `"instances"`
    /// (a non-empty list, at most [`MAX_WARMUP_INSTANCES`] long) and
    /// `"inputs"`, and optionally `"signature_name"`.
    pub fn parse(value: Value) -> Result<Body, RequestError> {
        let Value::Object(mut fields) = value else {
            return Err(RequestError::NotARequest(
                "the file holds something else".into(),
            ));
        };
        let signature_name = signature_name(&mut fields)?;
        if let Some(unknown) = fields
            .keys()
            .find(|k| !["instances", "inputs"].contains(&k.as_str()))
        {
            return Err(RequestError::NotARequest(format!(
                "it has field {unknown:?}"
            )));
        }
        let examples = match (fields.remove("instances"), fields.remove("inputs")) {
            (Some(instances), None) => Examples::Instances(instance_list(instances)?),
            (None, Some(inputs)) => Examples::Inputs(inputs),
            (Some(_), Some(_)) => {
                return Err(RequestError::NotARequest("it has both".into()));
            }
            (None, None) => return Err(RequestError::NotARequest("it has neither".into())),
        };
        Ok(Body {
            signature_name,
            examples,
        })
    }

    /// How many examples the body gives (`"inputs"` counts as one request).
    pub fn instances(&self) -> usize {
        match &self.examples {
            Examples::Instances(instances) => instances.len(),
            Examples::Inputs(_) => 1,
        }
    }

    /// The inputs of every record, checked against `signature` (named
    /// `signature_name`), in the order TensorFlow Serving will replay them.
    pub fn records(
        &self,
        signature_name: &str,
        signature: &Signature,
        budget: &mut Budget,
    ) -> Result<Vec<RecordInputs>, RequestError> {
        if let Some(given) = self
            .signature_name
            .as_ref()
            .filter(|g| *g != signature_name)
        {
            return Err(RequestError::OtherSignature {
                given: given.clone(),
                expected: signature_name.into(),
            });
        }
        match &self.examples {
            Examples::Instances(instances) => row_records(instances, signature, budget),
            Examples::Inputs(inputs) => columnar_record(inputs, signature, budget),
        }
    }
}

/// Takes `"signature_name"` out of the body's fields; it must be a string.
fn signature_name(fields: &mut Map<String, Value>) -> Result<Option<String>, RequestError> {
    match fields.remove("signature_name") {
        None => Ok(None),
        Some(Value::String(name)) => Ok(Some(name)),
        Some(_) => Err(RequestError::NotARequest(
            "its \"signature_name\" is not a string".into(),
        )),
    }
}

/// The `"instances"` list: present, non-empty, not over the cap.
fn instance_list(instances: Value) -> Result<Vec<Value>, RequestError> {
    let Value::Array(instances) = instances else {
        return Err(RequestError::NotARequest(
            "its \"instances\" is not a list".into(),
        ));
    };
    if instances.is_empty() {
        return Err(RequestError::NoInstances);
    }
    if instances.len() > MAX_WARMUP_INSTANCES {
        return Err(RequestError::TooManyInstances {
            count: instances.len(),
            limit: MAX_WARMUP_INSTANCES,
        });
    }
    Ok(instances)
}

/// Which record sizes a signature's batch dimensions admit.
struct BatchPlan {
    /// One record with every instance.
    together: bool,
    /// One record per instance.
    alone: bool,
}

fn row_records(
    instances: &[Value],
    signature: &Signature,
    budget: &mut Budget,
) -> Result<Vec<RecordInputs>, RequestError> {
    let plan = batch_plan(signature, instances.len())?;
    let mut examples = Vec::with_capacity(instances.len());
    for (index, instance) in instances.iter().enumerate() {
        let at = Place::Instance(index);
        let tensors = example_tensors(at, instance, signature, budget, Dims::PerInstance)?;
        if let Some(first) = examples.first() {
            check_stackable(at, first, &tensors)?;
        }
        examples.push(tensors);
    }
    let mut records = Vec::new();
    if plan.together && (examples.len() > 1 || !plan.alone) {
        records.push(stacked(&examples.iter().collect::<Vec<_>>()));
    }
    if plan.alone {
        records.extend(examples.iter().map(|example| stacked(&[example])));
    }
    Ok(records)
}

fn columnar_record(
    inputs: &Value,
    signature: &Signature,
    budget: &mut Budget,
) -> Result<Vec<RecordInputs>, RequestError> {
    let tensors = example_tensors(Place::Inputs, inputs, signature, budget, Dims::Whole)?;
    let record = tensors
        .into_iter()
        .map(|(key, tensor)| (key, tensor.to_proto()))
        .collect();
    Ok(vec![record])
}

/// Whether instances may be sent together, alone, or both, given each
/// input's batch dimension (a fixed one admits only its own size).
fn batch_plan(signature: &Signature, instances: usize) -> Result<BatchPlan, RequestError> {
    let mut plan = BatchPlan {
        together: true,
        alone: true,
    };
    for (key, spec) in &signature.inputs {
        let Some(dims) = &spec.shape else { continue };
        let Some(&batch) = dims.first() else {
            return Err(RequestError::ScalarInput { key: key.clone() });
        };
        if batch >= 0 {
            plan.together &= batch == instances as i64;
            plan.alone &= batch == 1;
        }
        if !plan.together && !plan.alone {
            return Err(RequestError::BatchSize {
                key: key.clone(),
                size: batch,
                instances,
            });
        }
    }
    Ok(plan)
}

/// Which dimensions of the signature's shape a value spells.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dims {
    /// All but the batch dimension (one instance).
    PerInstance,
    /// All of them (a columnar value).
    Whole,
}

/// The tensors of one example (an instance or the `"inputs"` value), each
/// checked against its signature input's dtype and shape.
fn example_tensors(
    at: Place,
    example: &Value,
    signature: &Signature,
    budget: &mut Budget,
    dims: Dims,
) -> Result<BTreeMap<String, Tensor>, RequestError> {
    let mut tensors = BTreeMap::new();
    for (key, value) in named_values(at, example, signature)? {
        let Some(spec) = signature.inputs.get(key) else {
            return Err(unknown_key(at, key, signature));
        };
        let tensor =
            to_tensor(value, spec.dtype, budget).map_err(|problem| RequestError::Value {
                at,
                key: key.into(),
                problem,
            })?;
        check_shape(at, key, &tensor.shape, spec, dims)?;
        tensors.insert(key.to_string(), tensor);
    }
    Ok(tensors)
}

/// The (key, value) pairs of an example: its fields, each a signature input
/// and all inputs given, or for a single-input signature a bare value.
fn named_values<'a>(
    at: Place,
    example: &'a Value,
    signature: &'a Signature,
) -> Result<Vec<(&'a str, &'a Value)>, RequestError> {
    let fields = example.as_object().filter(|_| b64_text(example).is_none());
    let Some(fields) = fields else {
        let mut keys = signature.inputs.keys();
        return match (keys.next(), keys.next()) {
            (Some(only), None) => Ok(vec![(only.as_str(), example)]),
            _ => Err(RequestError::NeedsNames {
                at,
                keys: signature.inputs.keys().cloned().collect(),
            }),
        };
    };
    if let Some(unknown) = fields.keys().find(|k| !signature.inputs.contains_key(*k)) {
        return Err(unknown_key(at, unknown, signature));
    }
    if let Some(missing) = signature.inputs.keys().find(|k| !fields.contains_key(*k)) {
        return Err(RequestError::MissingKey {
            at,
            key: missing.clone(),
        });
    }
    Ok(fields.iter().map(|(k, v)| (k.as_str(), v)).collect())
}

fn unknown_key(at: Place, key: &str, signature: &Signature) -> RequestError {
    RequestError::UnknownKey {
        at,
        key: key.into(),
        known: signature.inputs.keys().cloned().collect(),
    }
}

/// The value's shape matches the signature's (an unknown rank or a `-1`
/// dimension matches anything), without the batch dimension for an instance.
fn check_shape(
    at: Place,
    key: &str,
    found: &[i64],
    spec: &TensorSpec,
    dims: Dims,
) -> Result<(), RequestError> {
    let Some(full) = &spec.shape else {
        return Ok(());
    };
    let expected = match dims {
        Dims::Whole => full.as_slice(),
        Dims::PerInstance => full.get(1..).unwrap_or_default(),
    };
    let fits =
        expected.len() == found.len() && expected.iter().zip(found).all(|(&e, &f)| e < 0 || e == f);
    if fits {
        return Ok(());
    }
    let expected = match dims {
        Dims::Whole => format!("{full:?} (-1: any size)"),
        Dims::PerInstance => format!(
            "{expected:?} per instance (its shape {full:?} without the batch dimension; -1: any size)"
        ),
    };
    Err(RequestError::Shape {
        at,
        key: key.into(),
        found: found.to_vec(),
        expected,
    })
}

/// Instances are stacked along a new first dimension, so each input's shape
/// must be the same in every instance.
fn check_stackable(
    at: Place,
    first: &BTreeMap<String, Tensor>,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<(), RequestError> {
    for (key, tensor) in tensors {
        let Some(first) = first.get(key) else {
            continue;
        };
        if first.shape != tensor.shape {
            return Err(RequestError::Unstackable {
                at,
                key: key.clone(),
                found: tensor.shape.clone(),
                first: first.shape.clone(),
            });
        }
    }
    Ok(())
}

/// One record's inputs: each key's tensors from `examples`, stacked along
/// a new batch dimension.
fn stacked(examples: &[&BTreeMap<String, Tensor>]) -> RecordInputs {
    let Some(first) = examples.first() else {
        return RecordInputs::new();
    };
    first
        .iter()
        .map(|(key, tensor)| {
            let parts = examples.iter().filter_map(|example| example.get(key));
            (key.clone(), stacked_proto(tensor, parts, examples.len()))
        })
        .collect()
}

/// `parts` (all shaped like `first`) as one tensor of shape `[count] + shape`.
fn stacked_proto<'a>(
    first: &Tensor,
    parts: impl Iterator<Item = &'a Tensor>,
    count: usize,
) -> TensorProto {
    let shape: Vec<i64> = std::iter::once(count as i64)
        .chain(first.shape.iter().copied())
        .collect();
    let mut proto = TensorProto {
        dtype: first.dtype as i32,
        tensor_shape: Some(crate::typing::shape_proto(&shape)),
        ..TensorProto::default()
    };
    let mut content = Vec::new();
    for part in parts {
        match &part.values {
            Values::Strings(strings) => proto.string_val.extend(strings.iter().cloned()),
            _ => content.extend(part.to_le_bytes().unwrap_or_default()),
        }
    }
    proto.tensor_content = content.into();
    proto
}
