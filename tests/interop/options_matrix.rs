//! Every fixture exported with each size option (float16 and int8 weights,
//! int64 narrowing, freezing, freezing with float16, a gpu variant), loaded
//! by real TensorFlow through all three loaders and compared with the
//! training program's own outputs. Each export prints one row of the table
//! fixture × option → size (all files, and the variables' data), ratio of
//! the size to the training checkpoint, worst weight error, worst output
//! difference over the three loaders and the tolerance it was held to:
//!
//! ```sh
//! cargo test --test interop options_matrix:: -- --nocapture --test-threads 1 2>&1 | grep '^|'
//! ```

use crate::common;

use std::path::Path;

/// What an unconverted export is held to (the judge's tolerance).
const EXACT: f64 = 1e-4;

/// The fixtures' activations stay within a few units (inputs standardized,
/// hidden units normalized or squashed); see [`tolerance`].
const ACTIVATION_BOUND: f64 = 4.0;

/// Exports `fixture` through the CLI with its fixture.json tensors and
/// `flags`; returns the JSON report.
fn export(fixture: &str, out: &Path, flags: &[&str]) -> serde_json::Value {
    let mut flags = flags.to_vec();
    flags.push("--json");
    let result = common::export_fixture_cli(fixture, out, &flags);
    assert!(
        result.status.success(),
        "{fixture} {flags:?}: {}",
        common::stderr(&result)
    );
    serde_json::from_slice(&result.stdout).expect("the report is JSON")
}

/// The bytes of the training checkpoint the fixture was exported from: the
/// `.meta`, `.index` and data shards of its `model.ckpt-N` (an Estimator's
/// directory keeps older checkpoints too, which are not counted).
fn training_checkpoint_bytes(fixture: &str) -> u64 {
    let dir = common::testdata(&format!("fixtures/{fixture}"));
    let prefix = common::fixture_json(fixture)["checkpoint_prefix"]
        .as_str()
        .expect("checkpoint_prefix")
        .to_string();
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(&prefix)
                .is_some_and(|rest| rest.starts_with('.'))
        })
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Elements summed into each output by a tensor of `shape` used as weights:
/// all but the last axis (1 for a bias or a scalar).
fn fan_in(shape: &[serde_json::Value]) -> f64 {
    match shape.split_last() {
        Some((_, rest)) if !rest.is_empty() => rest
            .iter()
            .map(|d| d.as_f64().unwrap())
            .product::<f64>()
            .max(1.0),
        _ => 1.0,
    }
}

/// The output tolerance the measured weight error justifies, to first
/// order: a float tensor whose elements each moved by at most `e` (the
/// export's own measured worst absolute error) moves each dot product it
/// takes part in by at most `e · fan_in · |x|`, `|x|` at most
/// [`ACTIVATION_BOUND`]; the moves of all converted tensors add. Without a
/// float conversion the export is held to [`EXACT`].
fn tolerance(report: &serde_json::Value) -> (f64, f64) {
    let converted = report["storage"]["converted"].as_array();
    let floats = converted
        .into_iter()
        .flatten()
        .filter(|t| t["from"] == "float32");
    let (mut moved, mut worst) = (0.0, 0.0f64);
    for tensor in floats {
        let error = tensor["max_abs_error"].as_f64().unwrap();
        worst = worst.max(error);
        moved += error * fan_in(tensor["shape"].as_array().unwrap());
    }
    (EXACT + ACTIVATION_BOUND * moved, worst)
}

/// Runs the three loaders on `export` under each of `tag_sets`, all in one
/// batch; returns the largest output difference any of them saw, after
/// asserting it is within `tolerance`. The TF1 and C API sessions get two
/// CPU devices (a variant keeps placements such as `/cpu:1`).
fn judge(python: &Path, export: &Path, fixture: &str, tag_sets: &[&str], tolerance: f64) -> f64 {
    let json = common::fixture_json(fixture);
    let requests = tag_sets
        .iter()
        .map(|tags| {
            serde_json::json!({
                "op": "run_saved_model",
                "export_dir": export,
                "inputs": json["test_inputs"],
                "expected": json["expected_outputs"],
                "tags": tags,
                "loaders": "tf2,tf1,capi",
                "tolerance": tolerance,
                "cpus": 2,
            })
        })
        .collect();
    let answers = common::judge::judge(python).ask_all(requests);
    let mut seen = 0.0f64;
    for (tags, answer) in tag_sets.iter().zip(answers) {
        assert!(
            answer.ok,
            "{fixture} [{tags}] within {tolerance:e}: {}",
            answer.describe()
        );
        for (loader, entry) in answer.result.as_object().unwrap() {
            assert_eq!(entry["ok"], true, "{fixture} [{tags}] {loader}");
            for diff in entry["max_abs_diff"].as_object().unwrap().values() {
                seen = seen.max(diff.as_f64().unwrap());
            }
        }
    }
    seen
}

/// Exports every fixture with `flags`, checks the report, `validate`,
/// `show` and `size` count its variables alike, judges each export under
/// each of `tag_sets` and prints its table row.
fn every_fixture(test: &str, option: &str, flags: &[&str], tag_sets: &[&str]) {
    let python = common::tensorflow_python(test);
    for fixture in common::fixture_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export");
        let report = export(&fixture, &out, flags);
        common::assert_tools_agree(&out, &report, &format!("{fixture} {option}"));
        let total = report["size"]["total_bytes"].as_u64().unwrap();
        let variables = report["size"]["variables_data_bytes"].as_u64().unwrap();
        let (tolerance, weight_error) = tolerance(&report);
        let seen = python
            .as_ref()
            .map(|python| judge(python, &out, &fixture, tag_sets, tolerance));
        let training = training_checkpoint_bytes(&fixture);
        let seen = seen.map_or("not run".into(), |d| format!("{d:.2e}"));
        eprintln!(
            "| {fixture} | {option} | {total} | {variables} | {:.3} | {weight_error:.2e} | {seen} | {tolerance:.2e} |",
            total as f64 / training as f64
        );
    }
}

#[test]
fn unconverted() {
    every_fixture("options_matrix::unconverted", "f32", &[], &["serve"]);
}

#[test]
fn float16_weights() {
    let flags = ["--weights", "f16", "--weights-min-size", "0"];
    every_fixture("options_matrix::float16_weights", "f16", &flags, &["serve"]);
}

#[test]
fn int8_weights() {
    let flags = ["--weights", "int8", "--weights-min-size", "0"];
    every_fixture("options_matrix::int8_weights", "int8", &flags, &["serve"]);
}

#[test]
fn narrowed_int64() {
    let flags = ["--narrow-int64", "--weights-min-size", "0"];
    every_fixture(
        "options_matrix::narrowed_int64",
        "narrow-int64",
        &flags,
        &["serve"],
    );
}

#[test]
fn frozen() {
    every_fixture(
        "options_matrix::frozen",
        "freeze",
        &["--freeze"],
        &["serve"],
    );
}

#[test]
fn frozen_with_float16_weights() {
    let flags = ["--freeze", "--weights", "f16", "--weights-min-size", "0"];
    every_fixture(
        "options_matrix::frozen_with_float16_weights",
        "freeze+f16",
        &flags,
        &["serve"],
    );
}

#[test]
fn gpu_variant() {
    every_fixture(
        "options_matrix::gpu_variant",
        "gpu variant",
        &["--variant", "gpu"],
        &["serve", "serve,gpu"],
    );
}
