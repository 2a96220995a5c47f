//! TF-Slim image classifiers trained as `train_image_classifier.py` trains
//! them (`testdata/slim_fixtures`: a ResNet v1, an Inception v2 and a
//! MobileNet v1 with fused batch norm in training mode, dropout, an input
//! queue or iterator and moving averages of the model variables), each
//! exported by default and served by all three TensorFlow loaders at the
//! fixture's test batch, batch 1, the training batch and twice it plus one,
//! against the evaluation program's own outputs (the net built with
//! `is_training=False` restoring the checkpoint).
//!
//! The export must be in inference form: batch norm reading its moving
//! statistics, no dropout randomness, no queue or iterator, the batch
//! dimension unknown.
//!
//! With `--moving-averages` the export must serve what the evaluation
//! program restoring `ema.variables_to_restore()` computes
//! (`moving_average_expected_outputs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use serde_json::{Value, json};

use servegraph::proto::SavedModel;
use servegraph::proto::attr_value::Value as AttrValue;

use crate::common;

/// The slim fixtures this module tests, each by name.
const SLIM_FIXTURES: [&str; 3] = ["slim_inception_v2", "slim_mobilenet_v1", "slim_resnet_v1"];

fn fixture_dir(name: &str) -> PathBuf {
    common::testdata("slim_fixtures").join(name)
}

fn fixture_json(name: &str) -> Value {
    let path = fixture_dir(name).join("fixture.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture.json readable"))
        .expect("fixture.json is JSON")
}

#[test]
fn every_slim_fixture_is_tested() {
    let mut found: Vec<String> = std::fs::read_dir(common::testdata("slim_fixtures"))
        .expect("testdata/slim_fixtures exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("fixture.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(
        found, SLIM_FIXTURES,
        "add new slim fixtures to SLIM_FIXTURES"
    );
}

/// The default export of fixture `name` into `out`.
fn export(name: &str, out: &Path) -> servegraph::ExportReport {
    let options = common::fixture_dir_options(&fixture_dir(name));
    servegraph::export_serving_model(fixture_dir(name), out, &options)
        .unwrap_or_else(|e| panic!("export of {name} failed: {e}"))
}

/// The exported graph's nodes as (op, attrs).
fn exported_nodes(out: &Path) -> Vec<servegraph::proto::NodeDef> {
    let bytes = std::fs::read(out.join("saved_model.pb")).expect("saved_model.pb");
    let saved = SavedModel::decode(bytes.as_slice()).expect("a SavedModel");
    let graph = saved.meta_graphs[0].graph_def.clone().expect("a graph");
    graph.node
}

/// Inference form: every batch norm reads its moving statistics, no
/// dropout randomness, no queue or iterator; at least one batch norm left
/// (the nets have them in every conv layer, unless folded away).
fn assert_inference_form(name: &str, out: &Path) {
    let nodes = exported_nodes(out);
    for node in &nodes {
        if node.op.starts_with("FusedBatchNorm") {
            let training = node.attr.get("is_training").and_then(|a| a.value.as_ref());
            assert!(
                matches!(training, Some(AttrValue::B(false))),
                "{name}: {} ({}) left in training mode",
                node.name,
                node.op
            );
        }
        let forbidden = node.op.starts_with("Random")
            || node.op.starts_with("Queue")
            || node.op.contains("Iterator")
            || node.op.ends_with("Dataset");
        assert!(
            !forbidden,
            "{name}: {} ({}) left in the export",
            node.name, node.op
        );
    }
}

/// The signature declares the fixture's shapes, batch dimension unknown.
fn assert_signature(name: &str, report: &servegraph::ExportReport) {
    let fixture = fixture_json(name);
    let signature = &report.signatures["serving_default"];
    for (field, tensors) in [
        ("inputs", &signature.inputs),
        ("outputs", &signature.outputs),
    ] {
        for (key, spec) in fixture[field].as_object().expect("an object") {
            let shape = tensors[key].shape.clone().map(|dims| json!(dims));
            assert_eq!(
                shape.as_ref(),
                Some(&spec["shape"]),
                "{name}: {field} {key}"
            );
            assert_eq!(spec["shape"][0], -1, "{name}: {field} {key} batch unknown");
        }
    }
}

/// `export` served by all three loaders on `inputs`, compared with
/// `expected`; the largest difference each loader saw.
fn serve(
    python: &Path,
    name: &str,
    export: &Path,
    inputs: &Value,
    expected: &Value,
) -> BTreeMap<String, f64> {
    let tolerance = fixture_json(name)["tolerance"].as_f64().unwrap_or(1e-4);
    let answer = common::judge::run_saved_model(
        python,
        json!({
            "export_dir": export,
            "inputs": inputs,
            "expected": expected,
            "loaders": "tf2,tf1,capi",
            "tolerance": tolerance,
        }),
    );
    assert!(
        answer.ok,
        "{name}: TensorFlow loaders disagree:\n{}",
        answer.describe()
    );
    let mut largest = BTreeMap::new();
    for loader in ["tf2", "tf1", "capi"] {
        let entry = &answer.result[loader];
        assert_eq!(entry["ok"], true, "{name}: loader {loader}: {entry}");
        let diff = common::largest_difference(&json!({ loader: entry }));
        largest.insert(loader.to_string(), diff);
    }
    largest
}

/// `export` served on the fixture's test batch and each of its batch
/// cases, against `top` (the test batch's expected outputs) and each
/// case's `case_key`; the largest difference per loader over all of them.
fn serve_every_batch(
    python: &Path,
    name: &str,
    export: &Path,
    top: &str,
    case_key: &str,
) -> BTreeMap<String, f64> {
    let fixture = fixture_json(name);
    let mut largest = serve(python, name, export, &fixture["test_inputs"], &fixture[top]);
    let cases = fixture["batch_cases"].as_array().expect("batch_cases");
    let batches: Vec<i64> = cases.iter().filter_map(|c| c["batch"].as_i64()).collect();
    let training = fixture["training_batch"].as_i64().expect("training_batch");
    assert_eq!(
        batches,
        [1, training, 2 * training + 1],
        "{name}: batch cases"
    );
    for case in cases {
        let diffs = serve(python, name, export, &case["inputs"], &case[case_key]);
        for (loader, diff) in diffs {
            let entry = largest.entry(loader).or_insert(0.0);
            *entry = entry.max(diff);
        }
    }
    largest
}

fn check_fixture(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let report = export(name, &out);
    assert!(!report.kept.is_empty(), "{name}: no variables kept");
    assert_signature(name, &report);
    assert_inference_form(name, &out);
    let validation = servegraph::validate::validate_saved_model(&out, &[]).unwrap();
    assert!(validation.is_valid(), "{name}: {validation}");
    let Some(python) = common::tensorflow_python(&format!("slim_nets::{name}")) else {
        return;
    };
    let largest = serve_every_batch(&python, name, &out, "expected_outputs", "expected");
    eprintln!("{name}: max abs diff per loader {largest:?}");
}

#[test]
fn slim_resnet_v1() {
    check_fixture("slim_resnet_v1");
}

#[test]
fn slim_inception_v2() {
    check_fixture("slim_inception_v2");
}

#[test]
fn slim_mobilenet_v1() {
    check_fixture("slim_mobilenet_v1");
}

/// `servegraph export --moving-averages` of fixture `name`, served against
/// the evaluation program that restores the moving averages.
fn check_moving_averages(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let fixture = fixture_json(name);
    let mut args = vec![
        "export".to_string(),
        common::path_str(&fixture_dir(name)).to_string(),
        common::path_str(&out).to_string(),
        "--moving-averages".to_string(),
    ];
    for (flag, field) in [("--input", "inputs"), ("--output", "outputs")] {
        for (key, spec) in fixture[field].as_object().expect("an object") {
            args.push(flag.to_string());
            args.push(format!(
                "{key}={}",
                spec["tensor"].as_str().expect("a tensor")
            ));
        }
    }
    let run = common::servegraph(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        run.status.success(),
        "{name}: export --moving-averages failed: {}",
        common::stderr(&run)
    );
    assert_inference_form(name, &out);
    let Some(python) = common::tensorflow_python(&format!("slim_nets::moving_averages {name}"))
    else {
        return;
    };
    let largest = serve_every_batch(
        &python,
        name,
        &out,
        "moving_average_expected_outputs",
        "moving_average_expected",
    );
    eprintln!("{name} --moving-averages: max abs diff per loader {largest:?}");
}

#[test]
fn slim_moving_averages_resnet_v1() {
    check_moving_averages("slim_resnet_v1");
}

#[test]
fn slim_moving_averages_inception_v2() {
    check_moving_averages("slim_inception_v2");
}

#[test]
fn slim_moving_averages_mobilenet_v1() {
    check_moving_averages("slim_mobilenet_v1");
}

/// The raw and averaged expectations differ, so serving the wrong set of
/// weights cannot pass the moving-averages tests.
#[test]
fn slim_fixtures_averages_differ_from_raw_weights() {
    for name in SLIM_FIXTURES {
        let fixture = fixture_json(name);
        let raw = &fixture["expected_outputs"]["logits"]["values"];
        let averaged = &fixture["moving_average_expected_outputs"]["logits"]["values"];
        let gap = raw
            .as_array()
            .expect("values")
            .iter()
            .zip(averaged.as_array().expect("values"))
            .map(|(a, b)| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs())
            .fold(0.0, f64::max);
        assert!(
            gap > 1e-2,
            "{name}: averages differ from raw weights by {gap}"
        );
    }
}
