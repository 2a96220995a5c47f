//! Estimator model directories (`estimator_*` fixtures, written by
//! `tf.estimator` under TensorFlow 2.15): exported with only `--output`, the
//! inputs are detected and keyed by feature name (a SparseTensor feature as
//! its three components), the export loads in all three TensorFlow loaders
//! and reproduces the Estimator's own `predict()`; no optimizer slot, Keras
//! optimizer variable or `global_step` is kept; the missing-`--output`
//! error lists the head's predictions ready to paste; the report accounts
//! for the model directory's other files; a sparse input whose parts are
//! not a SparseTensor is refused by name.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{path_str, servegraph, stderr};
use serde_json::Value;

/// The Estimator fixtures, found by their generator's naming.
fn estimator_fixtures() -> Vec<String> {
    let names: Vec<String> = common::fixture_names()
        .into_iter()
        .filter(|n| n.starts_with("estimator_"))
        .collect();
    assert!(names.len() >= 3, "the Estimator fixtures are missing");
    names
}

/// `export MODEL_DIR OUT --output K=T ...` with the fixture's outputs only.
fn export_outputs_only(fixture: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let json = common::fixture_json(fixture);
    let source = common::testdata(&format!("fixtures/{fixture}"));
    let mut args = vec![
        "export".to_string(),
        path_str(&source).to_string(),
        path_str(out).to_string(),
    ];
    for (key, spec) in json["outputs"].as_object().unwrap() {
        args.push("--output".into());
        args.push(format!("{key}={}", spec["tensor"].as_str().unwrap()));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    servegraph(&args)
}

/// The signature input keys a fixture's inputs give, sparse ones expanded.
fn expected_input_keys(fixture: &str) -> BTreeSet<String> {
    let json = common::fixture_json(fixture);
    json["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(key, spec)| common::signature_shapes(key, spec))
        .map(|(key, _)| key)
        .collect()
}

#[test]
fn detected_inputs_are_keyed_by_feature_and_predict_like_the_estimator() {
    let python = common::tensorflow_python("estimator_interop::detected_inputs");
    for fixture in estimator_fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export");
        let result = export_outputs_only(&fixture, &out, &["--json"]);
        assert!(result.status.success(), "{fixture}: {}", stderr(&result));
        let report: Value = serde_json::from_slice(&result.stdout).unwrap();
        let inputs = report["signatures"]["serving_default"]["inputs"]
            .as_object()
            .unwrap();
        let keys: BTreeSet<String> = inputs.keys().cloned().collect();
        assert_eq!(keys, expected_input_keys(&fixture), "{fixture}");
        let json = common::fixture_json(&fixture);
        for (key, spec) in json["inputs"].as_object().unwrap() {
            for (key, shape) in common::signature_shapes(key, spec) {
                assert_eq!(inputs[&key]["shape"], shape, "{fixture}: {key}");
            }
        }
        if let Some(python) = &python {
            common::judge(python, &out, &fixture, "serve", "tf2,tf1,capi");
        }
    }
}

#[test]
fn no_optimizer_or_step_variable_is_kept() {
    for fixture in estimator_fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export");
        let result = export_outputs_only(&fixture, &out, &[]);
        assert!(result.status.success(), "{fixture}: {}", stderr(&result));
        let reader =
            servegraph::bundle::BundleReader::open(out.join("variables/variables")).unwrap();
        let kept: BTreeSet<String> = reader.names().into_iter().collect();
        // Every model variable of the checkpoint, and nothing the optimizers
        // (Keras optimizers keep theirs under `training/`) or the step counter own.
        let json = common::fixture_json(&fixture);
        let checkpoint: BTreeSet<String> = serde_json::from_str::<Value>(
            &std::fs::read_to_string(common::testdata(&format!(
                "fixtures/{fixture}/variables.json"
            )))
            .unwrap(),
        )
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
        let model: BTreeSet<String> = checkpoint
            .iter()
            .filter(|k| !k.starts_with("training/") && *k != "global_step")
            .cloned()
            .collect();
        assert!(
            checkpoint.len() > model.len() + 1,
            "{fixture}: the checkpoint holds optimizer state"
        );
        assert_eq!(kept, model, "{fixture} ({})", json["description"]);
    }
}

#[test]
fn a_missing_output_lists_the_heads_predictions_ready_to_paste() {
    for fixture in estimator_fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export");
        let source = common::testdata(&format!("fixtures/{fixture}"));
        let result = servegraph(&["export", path_str(&source), path_str(&out)]);
        assert!(!result.status.success(), "{fixture}");
        assert!(!out.exists(), "{fixture}: nothing written");
        let message = stderr(&result);
        let json = common::fixture_json(&fixture);
        for (key, spec) in json["outputs"].as_object().unwrap() {
            let candidate = format!("{key}={}", spec["tensor"].as_str().unwrap());
            assert!(
                message.contains(&candidate),
                "{fixture}: {candidate} not offered: {message}"
            );
        }
    }
}

#[test]
fn the_model_directory_is_read_at_its_latest_checkpoint_and_accounted_for() {
    let fixture = "estimator_wide_deep";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let result = export_outputs_only(fixture, &out, &["--json"]);
    assert!(result.status.success(), "{}", stderr(&result));
    let report: Value = serde_json::from_slice(&result.stdout).unwrap();
    let files = report["left_behind"]["files"].as_array().unwrap();
    let category = |name: &str| {
        files
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["category"].as_str().unwrap().to_string())
    };
    let json = common::fixture_json(fixture);
    let latest = json["checkpoint_prefix"].as_str().unwrap();
    assert!(
        files.iter().all(|f| !f["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{latest}."))),
        "the exported checkpoint {latest} is not left behind"
    );
    let older: Vec<&Value> = files
        .iter()
        .filter(|f| f["category"] == "other_checkpoint")
        .collect();
    assert_eq!(older.len(), 3, "{older:?}");
    let step = json["global_step"].as_u64().unwrap();
    assert!(older.iter().all(|f| f["step"].as_u64().unwrap() < step));
    assert_eq!(category("graph.pbtxt").as_deref(), Some("graph_text"));
    assert_eq!(category("eval").as_deref(), Some("subdirectory"));
    assert_eq!(category("checkpoint").as_deref(), Some("checkpoint_state"));
    assert_eq!(category("occupations.txt").as_deref(), Some("asset"));
    let events = files.iter().filter(|f| f["category"] == "events").count();
    assert_eq!(events, 1);
    // The vocabulary the linear and DNN tables each read is shipped for
    // each (a copy apiece, so `--max-vocab` may trim one and not the other).
    let mut assets: Vec<_> = std::fs::read_dir(out.join("assets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assets.sort();
    assert_eq!(assets, ["1_occupations.txt", "occupations.txt"]);
}

#[test]
fn sparse_parts_that_are_not_a_sparse_tensor_are_refused_by_name() {
    let fixture = "estimator_wide_deep";
    let json = common::fixture_json(fixture);
    let tags = json["inputs"]["tags"]["tensor"].as_str().unwrap();
    let parts: Vec<&str> = tags.split(',').collect();
    let [indices, values, dense_shape] = parts.as_slice() else {
        panic!("tags is a sparse input: {tags}");
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let source = common::testdata(&format!("fixtures/{fixture}"));
    // Values and indices swapped: the "indices" are strings.
    let swapped = format!("tags={values},{indices},{dense_shape}");
    let result = servegraph(&[
        "export",
        path_str(&source),
        path_str(&out),
        "--input",
        &swapped,
        "--output",
        "probabilities=head/predictions/probabilities:0",
    ]);
    assert!(!result.status.success());
    assert!(!out.exists(), "nothing written");
    let message = stderr(&result);
    for needle in ["\"tags\"", "indices", values, "not int64"] {
        assert!(message.contains(needle), "{needle} not in: {message}");
    }
    // A dense feature given as the dense shape: rank 1, but a string.
    let dense = json["inputs"]["education"]["tensor"].as_str().unwrap();
    let wrong = format!("tags={indices},{values},{dense}");
    let result = servegraph(&[
        "export",
        path_str(&source),
        path_str(&out),
        "--input",
        &wrong,
        "--output",
        "probabilities=head/predictions/probabilities:0",
    ]);
    assert!(!result.status.success());
    let message = stderr(&result);
    assert!(
        message.contains("dense_shape") && message.contains(dense),
        "{message}"
    );
}
