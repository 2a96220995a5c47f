//! `--moving-averages` on the CIFAR-10 tutorial's program with its variable
//! averages (`testdata/batch_fixtures/cifar_moving_averages`): the export
//! serves what the tutorial's evaluation restores (`variables_to_restore()`)
//! at batch 1, the training batch and twice it plus one, by all three
//! loaders — as variables, frozen, stored as float16 or int8 — and without the
//! flag the trained weights, as the inference model restoring them gives.

use std::path::{Path, PathBuf};

use crate::common;

use common::{path_str, servegraph, stderr};

const FIXTURE: &str = "cifar_moving_averages";

fn fixture_dir() -> PathBuf {
    common::testdata("batch_fixtures").join(FIXTURE)
}

fn fixture_json() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir().join("fixture.json")).expect("fixture.json");
    serde_json::from_str(&text).expect("fixture.json is JSON")
}

/// `servegraph export` of the fixture with its tensors, `--json`, then `extra`.
fn export(out: &Path, extra: &[&str]) -> serde_json::Value {
    let json = fixture_json();
    let mut args = vec![
        "export".to_string(),
        path_str(&fixture_dir()).into(),
        path_str(out).into(),
        "--json".into(),
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
    let output = servegraph(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        output.status.code(),
        Some(0),
        "{extra:?}: {}",
        stderr(&output)
    );
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

/// The batch cases with the averaged expectations: the inputs of
/// `batch_cases`, the outputs of `averaged_batch_cases` (same batches).
fn averaged_cases(json: &serde_json::Value) -> Vec<serde_json::Value> {
    let cases = json["batch_cases"].as_array().expect("batch_cases");
    let averaged = json["averaged_batch_cases"]
        .as_array()
        .expect("averaged_batch_cases");
    assert_eq!(cases.len(), averaged.len());
    cases
        .iter()
        .zip(averaged)
        .map(|(case, avg)| {
            assert_eq!(case["batch"], avg["batch"]);
            serde_json::json!({
                "batch": case["batch"],
                "inputs": case["inputs"],
                "expected": avg["expected"],
            })
        })
        .collect()
}

/// Judges `export` on `cases` with all three loaders; the largest difference.
fn serve(python: &Path, export: &Path, cases: &[serde_json::Value], tolerance: f64) -> f64 {
    let extra = serde_json::json!({ "loaders": "tf2,tf1,capi" });
    cases
        .iter()
        .map(|case| {
            common::judge_tensors(
                python,
                export,
                &case["inputs"],
                &case["expected"],
                &extra,
                tolerance,
            )
        })
        .fold(0.0, f64::max)
}

/// The variable → average pairs a report says it served.
fn served(report: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    report["moving_averages"]["served"]
        .as_array()
        .expect("moving_averages.served")
        .iter()
        .map(|s| {
            let variable = s["variable"].as_str().expect("variable").to_string();
            (variable, s["average"].clone())
        })
        .collect()
}

#[test]
fn the_export_serves_what_the_evaluation_restores() {
    let json = fixture_json();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("averaged");
    let report = export(&out, &["--moving-averages"]);
    // The pairs are the ones TensorFlow's variables_to_restore() maps.
    let expected = json["moving_averages"]["variables"]
        .as_object()
        .expect("moving_averages.variables");
    assert_eq!(&served(&report), expected);
    // The export holds each average's bytes under its variable's own key.
    let source = servegraph::bundle::BundleReader::open(
        fixture_dir().join(json["checkpoint_prefix"].as_str().unwrap()),
    )
    .unwrap();
    let written = servegraph::bundle::BundleReader::open(out.join("variables/variables")).unwrap();
    let mut names = written.names();
    names.sort();
    let mut variables: Vec<&String> = expected.keys().collect();
    variables.sort();
    assert_eq!(names.iter().collect::<Vec<_>>(), variables);
    for (variable, average) in expected {
        let average = average.as_str().unwrap();
        assert_eq!(
            written.read_raw(variable.as_bytes()).unwrap(),
            source.read_raw(average.as_bytes()).unwrap(),
            "{variable} holds {average}'s bytes"
        );
        assert_ne!(
            written.read_raw(variable.as_bytes()).unwrap(),
            source.read_raw(variable.as_bytes()).unwrap(),
            "{variable}: the average differs from the trained value"
        );
    }
    let Some(python) = common::tensorflow_python("moving_averages::serves") else {
        return;
    };
    let tolerance = json["tolerance"].as_f64().unwrap_or(1e-4);
    let largest = serve(&python, &out, &averaged_cases(&json), tolerance);
    eprintln!("{FIXTURE} --moving-averages: largest difference {largest:e}");
}

#[test]
fn without_the_flag_the_trained_weights_serve() {
    let json = fixture_json();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("raw");
    let report = export(&out, &[]);
    assert!(served(&report).is_empty());
    let available = report["moving_averages"]["available"].as_array().unwrap();
    let expected = json["moving_averages"]["variables"].as_object().unwrap();
    assert_eq!(available.len(), expected.len());
    let Some(python) = common::tensorflow_python("moving_averages::raw") else {
        return;
    };
    let cases = json["batch_cases"].as_array().expect("batch_cases");
    serve(
        &python,
        &out,
        cases,
        json["tolerance"].as_f64().unwrap_or(1e-4),
    );
}

#[test]
fn frozen_float16_and_int8_exports_serve_the_averages() {
    let json = fixture_json();
    let difference = json["moving_averages"]["max_abs_difference"]
        .as_f64()
        .expect("max_abs_difference");
    // Tolerances well below the averages' difference from the trained
    // weights: each check tells which ones were served.
    let dir = tempfile::tempdir().unwrap();
    let python = common::tensorflow_python("moving_averages::freeze_f16_int8");
    let runs: [(&str, &[&str], f64); 4] = [
        ("frozen", &["--freeze"], 1e-4),
        (
            "f16",
            &["--weights", "f16", "--weights-min-size", "0"],
            1e-3,
        ),
        (
            "frozen_f16",
            &["--freeze", "--weights", "f16", "--weights-min-size", "0"],
            1e-3,
        ),
        (
            "int8",
            &["--weights", "int8", "--weights-min-size", "0"],
            2e-2,
        ),
    ];
    for (name, flags, tolerance) in runs {
        assert!(difference > 4.0 * tolerance, "{name}: {difference}");
        let out = dir.path().join(name);
        let mut extra = vec!["--moving-averages"];
        extra.extend_from_slice(flags);
        let report = export(&out, &extra);
        let expected = json["moving_averages"]["variables"].as_object().unwrap();
        assert_eq!(&served(&report), expected, "{name}");
        let Some(python) = &python else { continue };
        let largest = serve(python, &out, &averaged_cases(&json), tolerance);
        eprintln!("{FIXTURE} --moving-averages {flags:?}: largest difference {largest:e}");
    }
}
