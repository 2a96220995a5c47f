//! Exports that read serialized tf.Examples (`--examples`) and serve
//! TensorFlow Serving's Classify and Regress APIs (`--method`), judged by
//! real TensorFlow: each fixture's test batch is turned into tf.Example
//! protos by TensorFlow's own `tf.train.Example`, fed through all three
//! loaders, and the outputs compared with the training program's.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

fn python(test: &str) -> Option<PathBuf> {
    common::tensorflow_python(test)
}

fn fixture_tolerance(fixture: &str) -> f64 {
    common::fixture_json(fixture)["tolerance"]
        .as_f64()
        .unwrap_or(1e-5)
        .max(1e-5)
}

/// The tensor a fixture serves under output `key`.
fn output_tensor(fixture: &str, key: &str) -> String {
    common::fixture_json(fixture)["outputs"][key]["tensor"]
        .as_str()
        .unwrap_or_else(|| panic!("{fixture} has no output {key}"))
        .to_string()
}

/// Where an export's inputs come from.
#[derive(Clone, Copy)]
enum Inputs {
    /// The fixture's own `--input`s.
    Named,
    /// None given: detected (an Estimator's are named after its features).
    Detected,
}

/// Exports `fixture` with `inputs`, these `--output`s and `extra` flags.
fn export_with(
    fixture: &str,
    out: &Path,
    inputs: Inputs,
    outputs: &[(&str, String)],
    extra: &[&str],
) -> Output {
    let json = common::fixture_json(fixture);
    let source = common::testdata(&format!("fixtures/{fixture}"));
    let mut args: Vec<String> = vec!["export".into(), common::path_str(&source).into()];
    args.push(common::path_str(out).into());
    let named = json["inputs"].as_object().unwrap();
    for (key, spec) in named.iter().filter(|_| matches!(inputs, Inputs::Named)) {
        args.push("--input".into());
        args.push(format!("{key}={}", spec["tensor"].as_str().unwrap()));
    }
    for (key, tensor) in outputs {
        args.push("--output".into());
        args.push(format!("{key}={tensor}"));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::servegraph(&args);
    assert!(
        output.status.success(),
        "{fixture}: {}",
        common::stderr(&output)
    );
    output
}

/// `labels` repeated for each of `batch` examples: what `classes` must hold.
fn tiled_labels(labels: &[String], batch: u64) -> Value {
    let values: Vec<&String> = (0..batch).flat_map(|_| labels.iter()).collect();
    json!({"dtype": "string", "shape": [batch, labels.len()], "values": values})
}

/// The batch size of a fixture's expected output.
fn batch_of(expected: &Value) -> u64 {
    expected["shape"][0].as_u64().expect("a batch dimension")
}

/// The class names a fixture's `method` hints give.
fn class_names(fixture: &str) -> Vec<String> {
    let json = common::fixture_json(fixture);
    let names = json["method"]["class_names"]
        .as_array()
        .expect("class_names");
    names
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn examples_feed_every_fixture() {
    let Some(python) = python("examples_feed_every_fixture") else {
        return;
    };
    for fixture in common::fixture_names() {
        let fixture = fixture.as_str();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let exported = common::export_fixture_cli(fixture, &out, &["--examples", "-q"]);
        assert!(exported.status.success(), "{}", common::stderr(&exported));
        let json = common::fixture_json(fixture);
        let diff = common::judge_tensors(
            &python,
            &out,
            &json["test_inputs"],
            &json["expected_outputs"],
            &json!({"examples": "examples"}),
            fixture_tolerance(fixture),
        );
        eprintln!("{fixture} --examples: max abs diff {diff:e}");
    }
}

#[test]
fn a_default_fills_the_feature_an_example_lacks() {
    let Some(python) = python("a_default_fills_the_feature_an_example_lacks") else {
        return;
    };
    let json = common::fixture_json("tiny_mlp");
    let first_row: Vec<String> = json["test_inputs"]["features"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .take(4)
        .map(Value::to_string)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let with_default = dir.path().join("with_default");
    let input = format!("features=IteratorGetNext:0:default={}", first_row.join(","));
    let source = common::testdata("fixtures/tiny_mlp");
    let exported = common::servegraph(&[
        "export",
        common::path_str(&source),
        common::path_str(&with_default),
        "--input",
        &input,
        "--output",
        "logits=logits/BiasAdd:0",
        "--examples",
        "-q",
    ]);
    assert!(exported.status.success(), "{}", common::stderr(&exported));
    let omit = json!({"examples": "examples", "omit_feature": ["features"]});
    common::judge_tensors(
        &python,
        &with_default,
        &json["test_inputs"],
        &json["expected_outputs"],
        &omit,
        1e-5,
    );
    // Without a default the feature is required: the same request fails.
    let required = dir.path().join("required");
    let exported = common::export_fixture_cli("tiny_mlp", &required, &["--examples", "-q"]);
    assert!(exported.status.success(), "{}", common::stderr(&exported));
    let run_required = common::judge::run_saved_model(
        &python,
        serde_json::json!({
            "export_dir": required,
            "inputs": json["test_inputs"],
            "loaders": "tf2",
            "examples": omit["examples"],
            "omit_feature": omit["omit_feature"],
        }),
    );
    assert!(!run_required.ok, "a required feature was missing");
    let report = run_required.result.to_string();
    assert!(report.contains("features"), "{report}");
}

/// Judges the classify signature (`serving_default`) and the predict one
/// beside it: `scores` and the labels, and every predict output.
fn judge_classify(
    python: &Path,
    out: &Path,
    fixture: &str,
    predict_expected: Value,
    scores: &Value,
    labels: &[String],
) {
    let json = common::fixture_json(fixture);
    let classes = tiled_labels(labels, batch_of(scores));
    let expected = json!({"scores": scores, "classes": classes});
    let tolerance = fixture_tolerance(fixture);
    let diff = common::judge_tensors(
        python,
        out,
        &json["test_inputs"],
        &expected,
        &json!({"examples": "inputs"}),
        tolerance,
    );
    eprintln!("{fixture} classify: max abs diff {diff:e}");
    let mut predict_expected = predict_expected;
    predict_expected["classes"] = classes;
    common::judge_tensors(
        python,
        out,
        &json["test_inputs"],
        &predict_expected,
        &json!({"examples": "examples", "signature": "predict"}),
        tolerance,
    );
}

#[test]
fn classify_serves_the_scores_and_their_labels() {
    let Some(python) = python("classify_serves_the_scores_and_their_labels") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let flags = ["--method", "classify", "--class-names", "a,b,c", "-q"];
    let outputs = ["scores", "class_id"].map(|key| (key, output_tensor("resource_int64", key)));
    export_with("resource_int64", &out, Inputs::Named, &outputs, &flags);
    let expected = common::fixture_json("resource_int64")["expected_outputs"].clone();
    let labels = ["a", "b", "c"].map(String::from);
    let scores = expected["scores"].clone();
    judge_classify(&python, &out, "resource_int64", expected, &scores, &labels);
}

/// Fixtures whose `method` hints name a classify scores output or a
/// regress output.
fn hinted_fixtures(hint: &str) -> Vec<String> {
    let fixtures: Vec<String> = common::fixture_names()
        .into_iter()
        .filter(|f| common::fixture_json(f)["method"][hint].is_string())
        .collect();
    fixtures
}

/// A classifier exported for Classify as its `method` hints say, its inputs
/// detected: scores from the hinted output, labels the hinted class names,
/// every other output (but the trainer's own `classes`) in the predict
/// signature. The examples carry the features under the fixture's input
/// keys, so the detected inputs must be named after them.
fn hinted_classify(python: &Path, fixture: &str) {
    let json = common::fixture_json(fixture);
    let scores_key = json["method"]["scores_output"].as_str().unwrap();
    let labels = class_names(fixture);
    let expected = &json["expected_outputs"];
    let mut outputs = vec![("scores", output_tensor(fixture, scores_key))];
    let mut predict = json!({"scores": expected[scores_key]});
    for key in json["outputs"].as_object().unwrap().keys() {
        if key != scores_key && key != "classes" {
            outputs.push((key.as_str(), output_tensor(fixture, key)));
            predict[key] = expected[key].clone();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let names = labels.join(",");
    let flags = ["--method", "classify", "--class-names", &names, "-q"];
    export_with(fixture, &out, Inputs::Detected, &outputs, &flags);
    let scores = expected[scores_key].clone();
    judge_classify(python, &out, fixture, predict, &scores, &labels);
}

#[test]
fn classify_serves_every_hinted_classifier() {
    let Some(python) = python("classify_serves_every_hinted_classifier") else {
        return;
    };
    let fixtures = hinted_fixtures("scores_output");
    assert!(
        fixtures.iter().any(|f| f == "estimator_wide_deep"),
        "{fixtures:?}"
    );
    for fixture in &fixtures {
        hinted_classify(&python, fixture);
    }
}

/// A regressor exported for Regress, its inputs detected (named after its
/// features): `outputs` is the hinted output.
fn hinted_regress(python: &Path, fixture: &str) {
    let json = common::fixture_json(fixture);
    let hint = json["method"]["regress_output"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let outputs = [("outputs", output_tensor(fixture, hint))];
    export_with(
        fixture,
        &out,
        Inputs::Detected,
        &outputs,
        &["--method", "regress", "-q"],
    );
    let expected = json!({"outputs": json["expected_outputs"][hint]});
    let tolerance = fixture_tolerance(fixture);
    for extra in [
        json!({"examples": "inputs"}),
        json!({"examples": "examples", "signature": "predict"}),
    ] {
        let diff = common::judge_tensors(
            python,
            &out,
            &json["test_inputs"],
            &expected,
            &extra,
            tolerance,
        );
        eprintln!("{fixture} regress {extra}: max abs diff {diff:e}");
    }
}

#[test]
fn regress_serves_every_hinted_regressor() {
    let Some(python) = python("regress_serves_every_hinted_regressor") else {
        return;
    };
    let fixtures = hinted_fixtures("regress_output");
    assert!(
        fixtures.iter().any(|f| f == "estimator_regressor"),
        "{fixtures:?}"
    );
    for fixture in &fixtures {
        hinted_regress(&python, fixture);
    }
}
