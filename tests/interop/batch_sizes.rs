//! Every export serves any batch, or says why not.
//!
//! - Each fixture's export is served by all three loaders at batch 1, at
//!   the training batch and at twice the training batch plus one, and
//!   matches the training program's own inference graph built for that
//!   batch (`batch_cases` in fixture.json).
//! - A training program that bakes its batch into shape constants
//!   (`testdata/batch_fixtures`) is exported with those constants made to
//!   follow the serving batch, the report listing each, and is served at
//!   the three batch sizes like the others.
//! - A program whose batch is fixed by design, or bounded by a loop over
//!   the training batch, is refused, the error naming
//!   the node, the constants behind it and the input it was traced to;
//!   with `--fixed-batch` it is exported for its training batch, the
//!   signature saying so, and served at that batch by all three loaders.

use std::path::{Path, PathBuf};

use crate::common;

use common::{path_str, servegraph, stderr};

fn batch_fixture(name: &str) -> PathBuf {
    common::testdata("batch_fixtures").join(name)
}

fn batch_fixture_json(name: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(batch_fixture(name).join("fixture.json")).expect("fixture.json");
    serde_json::from_str(&text).expect("fixture.json is JSON")
}

/// `servegraph export` of a batch fixture with its tensors, then `extra`.
fn export_batch_fixture(name: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let json = batch_fixture_json(name);
    let mut args = vec![
        "export".to_string(),
        path_str(&batch_fixture(name)).into(),
        path_str(out).into(),
    ];
    for (flag, field) in [("--input", "inputs"), ("--output", "outputs")] {
        for (key, spec) in json[field].as_object().expect("an object") {
            args.push(flag.into());
            args.push(format!(
                "{key}={}",
                spec["tensor"].as_str().expect("a tensor")
            ));
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    servegraph(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Judges `export` on each of `cases` with all three loaders.
fn serve_cases(
    python: &Path,
    export: &Path,
    cases: &[serde_json::Value],
    tolerance: f64,
) -> Vec<i64> {
    let mut served = Vec::new();
    for case in cases {
        let extra = serde_json::json!({ "loaders": "tf2,tf1,capi" });
        common::judge_tensors(
            python,
            export,
            &case["inputs"],
            &case["expected"],
            &extra,
            tolerance,
        );
        served.push(case["batch"].as_i64().expect("a batch"));
    }
    served
}

#[test]
fn every_fixture_serves_batch_one_the_training_batch_and_more() {
    let Some(python) = common::tensorflow_python("batch_sizes::every_fixture") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for fixture in common::fixture_names() {
        let json = common::fixture_json(&fixture);
        let cases = json["batch_cases"]
            .as_array()
            .expect("batch_cases in fixture.json");
        let out = dir.path().join(&fixture);
        let options = common::fixture_options(&fixture);
        let source = common::testdata("fixtures").join(&fixture);
        servegraph::export_serving_model(&source, &out, &options)
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let tolerance = json["tolerance"].as_f64().unwrap_or(1e-5).max(1e-4);
        let served = serve_cases(&python, &out, cases, tolerance);
        eprintln!("{fixture}: served batches {served:?}");
        assert_eq!(served.len(), 3, "{fixture}: three batch sizes");
    }
}

/// The batch fixtures whose training batch is baked into shape constants.
const REWRITTEN: [&str; 5] = [
    "cifar_reshape_queue",
    "cifar_moving_averages",
    "slim_softmax_folded",
    "rnn_zero_state",
    "fill_tile_attention",
];

/// The batch fixtures that serve only their training batch: one by design,
/// one that loops once per training example (a loop bound the tool cannot
/// prove to be the batch, so it refuses rather than guess).
const FIXED: [&str; 2] = ["fixed_batch_by_design", "tensorarray_batch_loop"];

#[test]
fn baked_shape_constants_follow_the_serving_batch() {
    let python = common::tensorflow_python("batch_sizes::baked_shape_constants");
    let dir = tempfile::tempdir().unwrap();
    for name in REWRITTEN {
        let json = batch_fixture_json(name);
        let batch = json["training_batch"].as_i64().expect("training_batch");
        let out = dir.path().join(name);
        let output = export_batch_fixture(name, &out, &["--json"]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let passes = report["passes"].as_array().unwrap();
        let rewrite = passes
            .iter()
            .find(|p| p["pass"] == "batch-rewrite")
            .unwrap();
        let notes: Vec<&str> = rewrite["notes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_str())
            .collect();
        assert!(!notes.is_empty(), "{name}: the rewrites are listed");
        assert!(
            notes
                .iter()
                .all(|n| n.contains(&format!("training batch {batch}"))),
            "{name}: {notes:?}"
        );
        let signature = &report["signatures"]["serving_default"];
        for (key, input) in signature["inputs"].as_object().unwrap() {
            assert_eq!(input["shape"][0], -1, "{name} input {key}");
        }
        let Some(python) = &python else { continue };
        let cases = json["batch_cases"].as_array().expect("batch_cases");
        let tolerance = json["tolerance"].as_f64().unwrap_or(1e-5).max(1e-4);
        let served = serve_cases(python, &out, cases, tolerance);
        eprintln!(
            "{name}: {} rewrites, served batches {served:?}",
            notes.len()
        );
        assert_eq!(served.len(), 3, "{name}");
    }
}

#[test]
fn a_batch_fixed_by_design_is_refused_naming_the_node_and_the_input() {
    let dir = tempfile::tempdir().unwrap();
    for name in FIXED {
        let json = batch_fixture_json(name);
        let batch = json["training_batch"].as_i64().expect("training_batch");
        let out = dir.path().join(name);
        let output = export_batch_fixture(name, &out, &[]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {message}");
        assert!(
            message.contains(&format!("serves only batch {batch}")),
            "{name}: {message}"
        );
        assert!(message.contains("node \""), "{name}: {message}");
        assert!(message.contains("traced to input \""), "{name}: {message}");
        assert!(!out.exists(), "{name}: nothing is written");
        eprintln!("{name}: {}", message.lines().next().unwrap_or_default());
    }
}

#[test]
fn with_fixed_batch_the_signature_says_the_training_batch_and_it_serves() {
    let python = common::tensorflow_python("batch_sizes::fixed_batch");
    let dir = tempfile::tempdir().unwrap();
    for name in FIXED {
        let json = batch_fixture_json(name);
        let batch = json["training_batch"].as_i64().expect("training_batch");
        let out = dir.path().join(name);
        let output = export_batch_fixture(name, &out, &["--fixed-batch", "--json"]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let signature = &report["signatures"]["serving_default"];
        for (key, input) in signature["inputs"].as_object().unwrap() {
            assert_eq!(input["shape"][0], batch, "{name} input {key}");
        }
        let Some(python) = &python else { continue };
        let cases = json["batch_cases"].as_array().expect("batch_cases");
        let at_training: Vec<serde_json::Value> = cases
            .iter()
            .filter(|c| c["batch"] == batch)
            .cloned()
            .collect();
        assert_eq!(at_training.len(), 1, "{name}: a case at the training batch");
        let tolerance = json["tolerance"].as_f64().unwrap_or(1e-5).max(1e-4);
        serve_cases(python, &out, &at_training, tolerance);
    }
}

/// `json` with every signature's test batch and expected outputs replaced
/// by its `index`th batch case; the case's batch, if every signature has one.
fn with_batch_case(json: &serde_json::Value, index: usize) -> Option<(serde_json::Value, i64)> {
    let mut json = json.clone();
    let mut batch = None;
    for signature in json["signatures"].as_object_mut()?.values_mut() {
        let case = signature["batch_cases"].get(index)?.clone();
        batch = case["batch"].as_i64();
        signature["test_inputs"] = case["inputs"].clone();
        signature["expected_outputs"] = case["expected"].clone();
    }
    Some((json, batch?))
}

#[test]
fn every_tf2_fixture_exported_lean_serves_every_batch_case() {
    let Some(python) = common::tensorflow_python("batch_sizes::tf2_lean") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in common::tf2::fixture_names() {
        let json = common::tf2::fixture_json(&name);
        let out = dir.path().join(&name);
        let source = common::tf2::saved_model(&name);
        servegraph::export_serving_model(&source, &out, &servegraph::ExportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut signatures: Vec<String> = json["signatures"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        signatures.sort();
        let mut served = Vec::new();
        for index in 0.. {
            let Some((case, batch)) = with_batch_case(&json, index) else {
                break;
            };
            let report = common::tf2::run_signatures(&python, &out, &case, "tf2,tf1,capi", None);
            for loader in ["tf2", "tf1", "capi"] {
                let (problems, _) = common::tf2::judge_loader(&case, &report[loader], &signatures);
                assert!(
                    problems.is_empty(),
                    "{name} batch {batch} {loader}: {problems:?}"
                );
            }
            served.push(batch);
        }
        eprintln!("{name}: served batches {served:?}");
        assert_eq!(served.len(), 3, "{name}: three batch sizes");
    }
}
