//! The judge itself can fail: the three-loader script must reject wrong
//! predictions and a SavedModel that cannot restore, or the interop suite
//! would prove nothing.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

fn run_judge(
    python: &Path,
    export: &Path,
    inputs: &serde_json::Value,
    expected: &serde_json::Value,
) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (inputs_file, expected_file) = (dir.path().join("in.json"), dir.path().join("out.json"));
    std::fs::write(&inputs_file, inputs.to_string()).unwrap();
    std::fs::write(&expected_file, expected.to_string()).unwrap();
    std::process::Command::new(python)
        .arg(common::repo_root().join("tests/interop/run_saved_model.py"))
        .args([
            export.as_os_str(),
            OsStr::new("--inputs"),
            inputs_file.as_os_str(),
        ])
        .args([OsStr::new("--expected"), expected_file.as_os_str()])
        .output()
        .unwrap()
}

#[test]
fn wrong_predictions_and_missing_variables_are_caught_by_every_loader() {
    let Some(python) = common::tensorflow_python("judge::wrong_predictions") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    servegraph::export_serving_model(
        common::testdata("fixtures/tiny_mlp"),
        &out,
        &common::fixture_options("tiny_mlp"),
    )
    .unwrap();
    let fixture = common::fixture_json("tiny_mlp");
    let mut wrong = fixture["expected_outputs"].clone();
    let first = wrong["logits"]["values"][0].as_f64().unwrap();
    wrong["logits"]["values"][0] = serde_json::json!(first + 0.01);

    let judged = run_judge(&python, &out, &fixture["test_inputs"], &wrong);
    assert!(!judged.status.success(), "a 0.01 error went unnoticed");
    let verdict: serde_json::Value = serde_json::from_slice(&judged.stdout).unwrap();
    for loader in ["tf2", "tf1", "capi"] {
        assert_eq!(
            verdict[loader]["ok"], false,
            "{loader} accepted a wrong prediction"
        );
    }

    std::fs::remove_dir_all(out.join("variables")).unwrap();
    let judged = run_judge(
        &python,
        &out,
        &fixture["test_inputs"],
        &fixture["expected_outputs"],
    );
    assert!(
        !judged.status.success(),
        "a model without its variables passed"
    );
}
