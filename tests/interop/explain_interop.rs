//! `--explanation-metadata` with real TensorFlow: every fixture exported with
//! the file (and a baseline for each input) still loads in all three
//! loaders and predicts what the training program predicted; and the file
//! works the way AI Explanations use it on a TensorFlow 1 SavedModel
//! (`tests/interop/check_explanation.py`): every tensor it names resolves
//! in the loaded graph with the signature's name and dtype, every input is
//! a placeholder, the explained output runs from the baselines to finite
//! values, and each numeric input has a gradient path to it (integrated
//! gradients needs one; categorical inputs have none).

use crate::common;

use std::ffi::OsStr;
use std::path::Path;

use serde_json::Value;

use common::{export_fixture_cli, path_str, servegraph, stderr};

/// Fixtures whose numeric inputs have no gradient in the export, each with
/// the reason, which [`assert_reason`] checks.
const NO_GRADIENT: &[(&str, &str)] = &[(
    "rnn_while",
    "the export keeps no `while_context` collection, so tf.gradients cannot \
     cross the TF1 while loop",
)];

/// A baseline every input of `dtype` accepts.
fn neutral_value(dtype: &str) -> &'static str {
    match dtype {
        "string" => "",
        "bool" => "false",
        _ => "0",
    }
}

/// `--explanation-metadata` with one broadcast baseline per input, and the
/// first float output explained.
fn explanation_flags(fixture: &str) -> Vec<String> {
    let json = common::fixture_json(fixture);
    let mut flags = vec!["--explanation-metadata".to_string()];
    for (key, input) in json["inputs"].as_object().expect("inputs") {
        if is_sparse(input) {
            continue;
        }
        let dtype = input["dtype"].as_str().expect("a dtype");
        flags.push("--baseline".into());
        flags.push(format!("{key}={}", neutral_value(dtype)));
    }
    let outputs = json["outputs"].as_object().expect("outputs");
    let floats: Vec<&String> = outputs
        .iter()
        .filter(|(_, o)| o["dtype"] == "float32")
        .map(|(key, _)| key)
        .collect();
    if let [first, _, ..] = floats.as_slice() {
        flags.extend(["--explain-output".to_string(), (*first).clone()]);
    }
    flags
}

/// Whether a fixture input is a SparseTensor's three components.
fn is_sparse(input: &Value) -> bool {
    input["sparse"] == true
}

/// A fixture with a sparse input, served by a predict signature as three
/// inputs (`KEY_indices`, `KEY_values`, `KEY_dense_shape`, the last with no
/// batch dimension): no per-input baseline can form a SparseTensor, so the
/// explained output cannot run from baselines alone. With `--examples`
/// the sparse feature is one parsed input (`explain_metadata.rs`).
fn has_sparse_input(fixture: &str) -> bool {
    let json = common::fixture_json(fixture);
    let inputs = json["inputs"].as_object().expect("inputs");
    inputs.values().any(is_sparse)
}

fn check_explanation(python: &Path, export: &Path) -> Value {
    let stdout = common::run_python(
        python,
        "tests/interop/check_explanation.py",
        &[
            export.as_os_str(),
            OsStr::new("--tags"),
            OsStr::new("serve"),
        ],
    );
    serde_json::from_str(&stdout).expect("the check prints JSON")
}

/// The metadata's claims, checked against what TensorFlow found.
fn assert_explainable(fixture: &str, metadata: &Value, checked: &Value) {
    let no_gradient = NO_GRADIENT.iter().any(|(name, _)| *name == fixture);
    for (key, input) in metadata["inputs"].as_object().unwrap() {
        let found = &checked["inputs"][key];
        assert_eq!(found["placeholder"], true, "{fixture} {key}: {found}");
        assert_eq!(found["dtype"], found["signature_dtype"], "{fixture} {key}");
        assert_eq!(
            found["signature_name"], input["input_tensor_name"],
            "{fixture} {key}"
        );
        assert_eq!(found["baselines"], 1, "{fixture} {key}");
        let numeric = input["modality"] == "numeric";
        if numeric && no_gradient {
            assert!(
                found["gradient_error"].is_string(),
                "{fixture} {key}: {found}"
            );
        } else {
            assert_eq!(found["has_gradient"], numeric, "{fixture} {key}: {found}");
        }
    }
    let (key, output) = metadata["outputs"]
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("one output");
    let ran = &checked["output"];
    assert_eq!(ran["key"], key.as_str(), "{fixture}");
    assert_eq!(
        ran["signature_name"], output["output_tensor_name"],
        "{fixture}"
    );
    assert_eq!(ran["dtype"], "float32", "{fixture}");
    assert_eq!(ran["runs"], 1, "{fixture}");
    assert_eq!(ran["finite"], true, "{fixture}: {ran}");
}

/// A listed fixture's reason holds: its export has no `while_context`.
fn assert_reason(fixture: &str, export: &Path) {
    let shown = servegraph(&["show", path_str(export), "--json"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let summary: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let collections = &summary["meta_graphs"][0]["collections"];
    let names: Vec<&str> = collections
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !names.contains(&"while_context"),
        "{fixture} now keeps while_context: drop it from NO_GRADIENT"
    );
}

#[test]
fn every_fixture_with_explanation_metadata_loads_and_explains_in_tensorflow() {
    let Some(python) = common::tensorflow_python("explain_interop") else {
        return;
    };
    for fixture in common::fixture_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let flags = explanation_flags(&fixture);
        let args: Vec<&str> = flags.iter().map(String::as_str).collect();
        let exported = export_fixture_cli(&fixture, &out, &args);
        assert!(
            exported.status.success(),
            "{fixture}: {}",
            stderr(&exported)
        );
        let text = std::fs::read_to_string(out.join("explanation_metadata.json")).unwrap();
        let metadata: Value = serde_json::from_str(&text).unwrap();
        let difference =
            common::judge_within(&python, &out, &fixture, "serve", "tf2,tf1,capi", 1e-4);
        if has_sparse_input(&fixture) {
            let inputs = metadata["inputs"].as_object().expect("inputs");
            assert!(
                inputs.keys().any(|key| key.ends_with("_dense_shape")),
                "{fixture}: a sparse input is three signature inputs: {metadata}"
            );
            println!(
                "{fixture}: loads with the metadata (max diff {difference:.2e}); \
                 not run from baselines: a sparse input's parts take no baseline"
            );
            continue;
        }
        let checked = check_explanation(&python, &out);
        assert_explainable(&fixture, &metadata, &checked);
        if NO_GRADIENT.iter().any(|(name, _)| *name == fixture) {
            assert_reason(&fixture, &out);
        }
        println!("{fixture}: loads with the metadata (max diff {difference:.2e}); {checked}");
    }
}
