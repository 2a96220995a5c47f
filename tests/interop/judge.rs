//! The judge itself can fail: its three loaders must reject wrong
//! predictions and a SavedModel that cannot restore, a loader that crashes
//! or hangs must fail its request (and the judge go on), or the interop
//! suite would prove nothing.

use crate::common;

use std::path::Path;

fn run_judge(
    python: &Path,
    export: &Path,
    inputs: &serde_json::Value,
    expected: &serde_json::Value,
) -> common::judge::Answer {
    common::judge::run_saved_model(
        python,
        serde_json::json!({"export_dir": export, "inputs": inputs, "expected": expected}),
    )
}

/// Exports `tiny_mlp` into `out`; returns its fixture.json and its expected
/// outputs with the first value 0.01 off.
fn tiny_mlp_export(out: &Path) -> (serde_json::Value, serde_json::Value) {
    servegraph::export_serving_model(
        common::testdata("fixtures/tiny_mlp"),
        out,
        &common::fixture_options("tiny_mlp"),
    )
    .unwrap();
    let fixture = common::fixture_json("tiny_mlp");
    let mut wrong = fixture["expected_outputs"].clone();
    let first = wrong["logits"]["values"][0].as_f64().unwrap();
    wrong["logits"]["values"][0] = serde_json::json!(first + 0.01);
    (fixture, wrong)
}

#[test]
fn wrong_predictions_and_missing_variables_are_caught_by_every_loader() {
    let Some(python) = common::tensorflow_python("judge::wrong_predictions") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let (fixture, wrong) = tiny_mlp_export(&out);

    let judged = run_judge(&python, &out, &fixture["test_inputs"], &wrong);
    assert!(!judged.ok, "a 0.01 error went unnoticed");
    let verdict = &judged.result;
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
    assert!(!judged.ok, "a model without its variables passed");
}

#[test]
fn a_loader_that_crashes_or_hangs_fails_loudly_and_the_judge_goes_on() {
    let Some(python) = common::tensorflow_python("judge::crashes_and_hangs") else {
        return;
    };
    let judge = common::judge::judge(&python);
    // One after the other: the template's death fails whatever it has in flight.
    let cases = [
        ("crash", "crashed (signal 11)"),
        ("hang", "timed out after 2 s"),
        ("exit", "template process exited"),
    ];
    for (mode, why) in cases {
        let answer = judge.ask(serde_json::json!({"op": "selftest", "mode": mode, "timeout": 2}));
        assert!(!answer.ok, "passed: {}", answer.describe());
        assert!(answer.error.contains(why), "{why}: {}", answer.describe());
    }
    // The template that died is started again for the next request.
    let again = judge.ask(serde_json::json!({"op": "selftest", "mode": "pass"}));
    assert!(again.ok, "{}", again.describe());
    let unknown = judge.ask(serde_json::json!({"op": "no_such_op"}));
    assert!(
        !unknown.ok && unknown.error.contains("no_such_op"),
        "{}",
        unknown.describe()
    );
}

#[test]
fn the_command_line_script_is_a_client_of_the_judge() {
    let Some(python) = common::tensorflow_python("judge::command_line_script") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let (fixture, wrong) = tiny_mlp_export(&out);
    for (expected, passes) in [(&fixture["expected_outputs"], true), (&wrong, false)] {
        let (inputs, expected_file) = (dir.path().join("in.json"), dir.path().join("out.json"));
        std::fs::write(&inputs, fixture["test_inputs"].to_string()).unwrap();
        std::fs::write(&expected_file, expected.to_string()).unwrap();
        let run = std::process::Command::new(&python)
            .arg(common::repo_root().join("tests/interop/run_saved_model.py"))
            .arg(&out)
            .arg("--inputs")
            .arg(&inputs)
            .arg("--expected")
            .arg(&expected_file)
            .args(["--loaders", "tf1,capi"])
            .output()
            .unwrap();
        assert_eq!(run.status.success(), passes, "{run:?}");
        common::judge::count_client_line(&String::from_utf8_lossy(&run.stderr));
        let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        for loader in ["tf1", "capi"] {
            assert_eq!(report[loader]["ok"], passes, "{loader}: {report}");
        }
    }
}
