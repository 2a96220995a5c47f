use serde_json::json;

use super::*;
use crate::model::PREDICT_METHOD;

fn tensor(name: &str, dtype: DataType, shape: &[i64]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype,
        shape: Some(shape.to_vec()),
    }
}

/// A signature with a float, an integer and two string inputs, and a
/// float and an integer output.
fn signatures() -> BTreeMap<String, Signature> {
    let inputs = [
        ("age", tensor("age:0", DataType::DtFloat, &[-1])),
        ("pixels", tensor("pixels:0", DataType::DtFloat, &[-1, 2, 2])),
        ("ids", tensor("ids:0", DataType::DtInt64, &[-1, 3])),
        ("colour", tensor("colour:0", DataType::DtString, &[-1])),
        ("tokens", tensor("tokens:0", DataType::DtString, &[-1, 5])),
    ];
    let outputs = [
        (
            "scores",
            tensor("head/Softmax:0", DataType::DtFloat, &[-1, 3]),
        ),
        (
            "class_id",
            tensor("head/ArgMax:0", DataType::DtInt64, &[-1]),
        ),
    ];
    let owned = |pairs: &[(&str, TensorSpec)]| {
        pairs
            .iter()
            .map(|(k, t)| (k.to_string(), t.clone()))
            .collect()
    };
    let signature = Signature {
        method_name: PREDICT_METHOD.into(),
        inputs: owned(&inputs),
        outputs: owned(&outputs),
    };
    BTreeMap::from([("serving_default".to_string(), signature)])
}

fn metadata(options: &ExplanationOptions) -> Result<ExplanationMetadata, ExplainError> {
    ExplanationMetadata::of_signature(&signatures(), "serving_default", options)
}

fn file_json(metadata: &ExplanationMetadata) -> Value {
    serde_json::from_slice(&metadata.to_file().unwrap()).unwrap()
}

#[test]
fn the_file_has_the_documented_shape() {
    let options = ExplanationOptions {
        baselines: vec!["age=40".parse().unwrap(), "ids=1,2,3".parse().unwrap()],
        ..ExplanationOptions::default()
    };
    let written = file_json(&metadata(&options).unwrap());
    assert_eq!(
        written,
        json!({
            "inputs": {
                "age": {
                    "input_tensor_name": "age:0",
                    "input_baselines": [40.0],
                    "modality": "numeric"
                },
                "pixels": {"input_tensor_name": "pixels:0", "modality": "numeric"},
                "ids": {
                    "input_tensor_name": "ids:0",
                    "input_baselines": [[1, 2, 3]],
                    "modality": "categorical"
                },
                "colour": {"input_tensor_name": "colour:0", "modality": "categorical"},
                "tokens": {"input_tensor_name": "tokens:0", "modality": "text"}
            },
            "outputs": {"scores": {"output_tensor_name": "head/Softmax:0"}},
            "framework": "tensorflow"
        })
    );
}

#[test]
fn the_file_is_pretty_json_ending_in_a_newline_and_deterministic() {
    let options = ExplanationOptions::default();
    let first = metadata(&options).unwrap().to_file().unwrap();
    let second = metadata(&options).unwrap().to_file().unwrap();
    assert_eq!(first, second);
    assert!(first.ends_with(b"}\n"));
    assert!(first.starts_with(b"{\n  \""));
}

#[test]
fn repeated_baselines_for_one_input_are_all_kept_in_order() {
    let options = ExplanationOptions {
        baselines: vec![
            "pixels=0".parse().unwrap(),
            "pixels=1,2,3,4".parse().unwrap(),
        ],
        ..ExplanationOptions::default()
    };
    let written = file_json(&metadata(&options).unwrap());
    assert_eq!(
        written["inputs"]["pixels"]["input_baselines"],
        json!([0.0, [[1.0, 2.0], [3.0, 4.0]]])
    );
    let report = metadata(&options).unwrap().report(7);
    let pixels = report.inputs.iter().find(|i| i.key == "pixels").unwrap();
    assert_eq!(pixels.baselines, 2);
    assert_eq!(report.output, "scores");
    assert_eq!(report.file, EXPLANATION_METADATA_FILE);
}

#[test]
fn an_unknown_baseline_key_lists_the_inputs() {
    let options = ExplanationOptions {
        baselines: vec!["agee=1".parse().unwrap()],
        ..ExplanationOptions::default()
    };
    let error = metadata(&options).unwrap_err();
    assert_eq!(
        error,
        ExplainError::UnknownInput {
            key: "agee".into(),
            signature: "serving_default".into(),
            keys: ["age", "colour", "ids", "pixels", "tokens"]
                .map(String::from)
                .into(),
        }
    );
    assert!(
        error
            .to_string()
            .contains("age, colour, ids, pixels, tokens")
    );
}

#[test]
fn the_explained_output_is_the_only_float_one_or_the_one_asked_for() {
    let only_float = metadata(&ExplanationOptions::default()).unwrap();
    assert_eq!(only_float.outputs.keys().collect::<Vec<_>>(), ["scores"]);
    let asked = |key: &str| {
        metadata(&ExplanationOptions {
            output: Some(key.into()),
            ..ExplanationOptions::default()
        })
    };
    assert_eq!(asked("scores").unwrap(), only_float);
    assert_eq!(
        asked("class_id").unwrap_err(),
        ExplainError::NotNumeric {
            key: "class_id".into(),
            dtype: "int64".into()
        }
    );
    assert!(matches!(
        asked("logits"),
        Err(ExplainError::UnknownOutput { keys, .. }) if keys == ["class_id", "scores"]
    ));
}

#[test]
fn several_float_outputs_must_be_chosen_between() {
    let mut signatures = signatures();
    let signature = signatures.get_mut("serving_default").unwrap();
    signature.outputs.insert(
        "logits".into(),
        tensor("head/BiasAdd:0", DataType::DtFloat, &[-1, 3]),
    );
    let error =
        ExplanationMetadata::of_signature(&signatures, "serving_default", &Default::default())
            .unwrap_err();
    assert_eq!(
        error,
        ExplainError::AmbiguousOutput {
            signature: "serving_default".into(),
            candidates: vec!["logits".into(), "scores".into()],
        }
    );
    signature_without_float_outputs_is_refused(signatures);
}

fn signature_without_float_outputs_is_refused(mut signatures: BTreeMap<String, Signature>) {
    let signature = signatures.get_mut("serving_default").unwrap();
    signature.outputs.retain(|key, _| key == "class_id");
    let error =
        ExplanationMetadata::of_signature(&signatures, "serving_default", &Default::default())
            .unwrap_err();
    assert!(matches!(error, ExplainError::NoNumericOutput { .. }));
    assert!(error.to_string().contains("class_id (int64)"), "{error}");
}

#[test]
fn a_missing_signature_is_named() {
    let error = ExplanationMetadata::of_signature(&signatures(), "predict", &Default::default())
        .unwrap_err();
    assert_eq!(
        error,
        ExplainError::NoSignature {
            signature: "predict".into()
        }
    );
}

#[test]
fn modality_follows_the_dtype() {
    let of = |dtype, shape: &[i64]| Modality::of(&tensor("t:0", dtype, shape));
    assert_eq!(of(DataType::DtHalf, &[-1]), Some(Modality::Numeric));
    assert_eq!(of(DataType::DtDouble, &[-1, 2]), Some(Modality::Numeric));
    assert_eq!(of(DataType::DtInt32, &[-1]), Some(Modality::Categorical));
    assert_eq!(of(DataType::DtBool, &[-1]), Some(Modality::Categorical));
    assert_eq!(of(DataType::DtString, &[-1]), Some(Modality::Categorical));
    assert_eq!(of(DataType::DtString, &[-1, 4]), Some(Modality::Text));
    assert_eq!(of(DataType::DtResource, &[]), None);
}

#[test]
fn a_bare_node_name_gets_port_zero() {
    assert_eq!(tensor_name("x"), "x:0");
    assert_eq!(tensor_name("a/b:2"), "a/b:2");
}
