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

use super::error::{Place, RequestError};
use super::json::{Budget, b64_text, to_tensor};
use super::tree::Json;
use crate::format::limits::MAX_WARMUP_INSTANCES;
use crate::format::proto::TensorProto;
use crate::format::tensor::{Tensor, Values};
use crate::model::{Signature, TensorSpec};

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
    Instances(Vec<Json>),
    Inputs(Json),
}

/// The input tensors of one record, by signature key.
pub type RecordInputs = BTreeMap<String, TensorProto>;

impl Body {
    /// The outline of a request: an object with exactly one of `"instances"`
    /// (a non-empty list, at most [`MAX_WARMUP_INSTANCES`] long) and
    /// `"inputs"`, and optionally `"signature_name"`.
    pub fn parse(value: Json) -> Result<Body, RequestError> {
        let Json::Object(mut fields) = value else {
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

    /// How many instances the body lists; `None` for `"inputs"`.
    pub fn instances(&self) -> Option<usize> {
        match &self.examples {
            Examples::Instances(instances) => Some(instances.len()),
            Examples::Inputs(_) => None,
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
fn signature_name(fields: &mut BTreeMap<String, Json>) -> Result<Option<String>, RequestError> {
    match fields.remove("signature_name") {
        None => Ok(None),
        Some(Json::String(name)) => Ok(Some(name)),
        Some(_) => Err(RequestError::NotARequest(
            "its \"signature_name\" is not a string".into(),
        )),
    }
}

/// The `"instances"` list: present, non-empty, not over the cap.
fn instance_list(instances: Json) -> Result<Vec<Json>, RequestError> {
    let Some(count) = instances.list_len() else {
        return Err(RequestError::NotARequest(
            "its \"instances\" is not a list".into(),
        ));
    };
    if count == 0 {
        return Err(RequestError::NoInstances);
    }
    if count > MAX_WARMUP_INSTANCES {
        return Err(RequestError::TooManyInstances {
            count,
            limit: MAX_WARMUP_INSTANCES,
        });
    }
    Ok(instances.into_entries().unwrap_or_default())
}

/// Which record sizes a signature's batch dimensions admit.
struct BatchPlan {
    /// One record with every instance.
    together: bool,
    /// One record per instance.
    alone: bool,
}

fn row_records(
    instances: &[Json],
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
    inputs: &Json,
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
    example: &Json,
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
    example: &'a Json,
    signature: &'a Signature,
) -> Result<Vec<(&'a str, &'a Json)>, RequestError> {
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::format::proto::DataType;
    use crate::format::tensor::Tensor;
    use crate::model::PREDICT_METHOD;

    const SIGNATURE: &str = "serving_default";

    fn tree(value: Value) -> Json {
        Json::parse(value.to_string().as_bytes()).unwrap()
    }

    fn signature(inputs: &[(&str, DataType, Option<&[i64]>)]) -> Signature {
        Signature {
            method_name: PREDICT_METHOD.into(),
            inputs: inputs
                .iter()
                .map(|&(key, dtype, shape)| {
                    let spec = TensorSpec {
                        name: format!("{key}:0"),
                        dtype,
                        shape: shape.map(<[i64]>::to_vec),
                    };
                    (key.to_string(), spec)
                })
                .collect(),
            outputs: BTreeMap::new(),
        }
    }

    fn features(shape: &[i64]) -> Signature {
        signature(&[("x", DataType::DtFloat, Some(shape))])
    }

    fn records(body: Value, signature: &Signature) -> Result<Vec<RecordInputs>, RequestError> {
        let body = Body::parse(tree(body))?;
        body.records(SIGNATURE, signature, &mut Budget::new(10_000))
    }

    /// Each record's tensor under `key`, decoded.
    fn tensors(records: &[RecordInputs], key: &str) -> Vec<Tensor> {
        records
            .iter()
            .map(|r| Tensor::from_proto(&r[key]).unwrap())
            .collect()
    }

    #[test]
    fn instances_make_one_batch_then_one_record_each() {
        let body = json!({"instances": [[1, 2], {"x": [3, 4]}, [5, 6]]});
        let records = records(body, &features(&[-1, 2])).unwrap();
        let shapes: Vec<Vec<i64>> = tensors(&records, "x")
            .into_iter()
            .map(|t| t.shape)
            .collect();
        assert_eq!(shapes, [vec![3, 2], vec![1, 2], vec![1, 2], vec![1, 2]]);
        let batch = Tensor::from_proto(&records[0]["x"]).unwrap();
        assert_eq!(batch.values, Values::F32(vec![1., 2., 3., 4., 5., 6.]));
        let third = Tensor::from_proto(&records[3]["x"]).unwrap();
        assert_eq!(third.values, Values::F32(vec![5., 6.]));
    }

    #[test]
    fn one_instance_is_one_record() {
        let records = records(json!({"instances": [[1, 2]]}), &features(&[-1, 2])).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(tensors(&records, "x")[0].shape, [1, 2]);
    }

    #[test]
    fn a_fixed_batch_dimension_keeps_only_records_of_its_size() {
        let body = json!({"instances": [[1], [2]]});
        let alone = records(body.clone(), &features(&[1, 1])).unwrap();
        assert_eq!(alone.len(), 2);
        let together = records(body.clone(), &features(&[2, 1])).unwrap();
        assert_eq!(together.len(), 1);
        assert_eq!(tensors(&together, "x")[0].shape, [2, 1]);
        let err = records(body, &features(&[3, 1])).unwrap_err();
        assert_eq!(
            err,
            RequestError::BatchSize {
                key: "x".into(),
                size: 3,
                instances: 2
            }
        );
    }

    #[test]
    fn strings_stack_in_string_val() {
        let sig = signature(&[("t", DataType::DtString, Some(&[-1]))]);
        let records = records(json!({"instances": ["a", {"b64": "Yg=="}]}), &sig).unwrap();
        let batch = Tensor::from_proto(&records[0]["t"]).unwrap();
        assert_eq!(batch.shape, [2]);
        let expected = vec![bytes::Bytes::from("a"), bytes::Bytes::from("b")];
        assert_eq!(batch.values, Values::Strings(expected));
    }

    #[test]
    fn keys_must_be_exactly_the_signatures_inputs() {
        let two = signature(&[
            ("a", DataType::DtInt64, Some(&[-1])),
            ("b", DataType::DtBool, Some(&[-1, 2])),
        ]);
        let ok = json!({"instances": [{"a": 1, "b": [true, false]}]});
        assert_eq!(records(ok, &two).unwrap().len(), 1);
        let err = records(
            json!({"instances": [{"a": 1, "b": [true, false]}, {"a": 2, "c": 1}]}),
            &two,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "instance 1 has input \"c\", which the signature does not have (its inputs: a, b)"
        );
        let err = records(json!({"instances": [{"a": 1}]}), &two).unwrap_err();
        assert_eq!(
            err,
            RequestError::MissingKey {
                at: Place::Instance(0),
                key: "b".into()
            }
        );
        let err = records(json!({"instances": [1]}), &two).unwrap_err();
        assert!(matches!(err, RequestError::NeedsNames { .. }), "{err:?}");
    }

    #[test]
    fn shapes_are_checked_without_the_batch_dimension() {
        let err = records(json!({"instances": [[1, 2, 3]]}), &features(&[-1, 2])).unwrap_err();
        assert!(
            matches!(&err, RequestError::Shape { at: Place::Instance(0), key, found, .. }
                if key == "x" && found == &[3]),
            "{err:?}"
        );
        assert!(err.to_string().contains("[2] per instance"), "{err}");
        // -1 inner dimensions and unknown ranks take any size, but instances must agree.
        let any = features(&[-1, -1]);
        assert!(records(json!({"instances": [[1, 2, 3]]}), &any).is_ok());
        let err = records(json!({"instances": [[1, 2, 3], [1]]}), &any).unwrap_err();
        assert!(
            matches!(
                err,
                RequestError::Unstackable {
                    at: Place::Instance(1),
                    ..
                }
            ),
            "{err:?}"
        );
        let unknown = signature(&[("x", DataType::DtFloat, None)]);
        assert_eq!(
            records(json!({"instances": [[[1]], [[2]]]}), &unknown)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn values_name_the_instance_and_key() {
        let err = records(
            json!({"instances": [[1, 2], [1, "two"]]}),
            &features(&[-1, 2]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "instance 1, input \"x\": element [1] is the string \"two\", but a float32 value was expected"
        );
    }

    #[test]
    fn a_scalar_input_cannot_take_instances() {
        let err = records(json!({"instances": [1]}), &features(&[])).unwrap_err();
        assert_eq!(err, RequestError::ScalarInput { key: "x".into() });
        let records = records(json!({"inputs": 1}), &features(&[])).unwrap();
        assert_eq!(tensors(&records, "x")[0].shape, Vec::<i64>::new());
    }

    #[test]
    fn columns_are_one_record_checked_against_the_whole_shape() {
        let sig = features(&[-1, 2]);
        let records_ = records(json!({"inputs": {"x": [[1, 2], [3, 4], [5, 6]]}}), &sig).unwrap();
        assert_eq!(records_.len(), 1);
        assert_eq!(tensors(&records_, "x")[0].shape, [3, 2]);
        let err = records(json!({"inputs": [1, 2]}), &sig).unwrap_err();
        assert!(
            matches!(
                err,
                RequestError::Shape {
                    at: Place::Inputs,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn the_outline_is_checked_first() {
        let outline = |body: Value| Body::parse(tree(body)).unwrap_err();
        assert!(matches!(outline(json!([1])), RequestError::NotARequest(_)));
        assert!(matches!(
            outline(json!({"instances": [1], "inputs": 1})),
            RequestError::NotARequest(_)
        ));
        assert!(matches!(
            outline(json!({"examples": [1]})),
            RequestError::NotARequest(_)
        ));
        assert!(matches!(
            outline(json!({"instances": 1})),
            RequestError::NotARequest(_)
        ));
        assert_eq!(outline(json!({"instances": []})), RequestError::NoInstances);
        let many = vec![json!(1); MAX_WARMUP_INSTANCES + 1];
        assert!(matches!(
            outline(json!({ "instances": many })),
            RequestError::TooManyInstances { .. }
        ));
    }

    #[test]
    fn a_named_signature_must_be_the_exports() {
        let body = json!({"signature_name": "other", "instances": [[1]]});
        let err = records(body, &features(&[-1, 1])).unwrap_err();
        assert!(
            matches!(err, RequestError::OtherSignature { .. }),
            "{err:?}"
        );
        let body = json!({"signature_name": SIGNATURE, "instances": [[1]]});
        assert!(records(body, &features(&[-1, 1])).is_ok());
    }
}
