//! Moving averages told apart by structure, and `--moving-averages`:
//!
//! - without the flag, an export of a training run that keeps weight
//!   averages says so in one line naming the flag, and `--json` lists them;
//! - the flag on a run that averages no weight (`tiny_mlp`), or only batch
//!   statistics (`bn_train_only`, `cnn_dataset_bn`), is an error and
//!   nothing is written;
//! - an average whose checkpoint tensor is not shaped like its variable is
//!   an error naming both;
//! - the dropped-variable reasons say which average is which (loss averages
//!   for summaries, weight averages), and the batch-norm pass leaves loss
//!   averages alone while it still replaces real batch statistics.

use std::path::{Path, PathBuf};

use crate::common;

use common::{path_str, servegraph, stderr};

const CIFAR: &str = "cifar_moving_averages";

fn batch_fixture(name: &str) -> PathBuf {
    common::testdata("batch_fixtures").join(name)
}

fn json_of(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("fixture.json")).expect("fixture.json");
    serde_json::from_str(&text).expect("fixture.json is JSON")
}

/// `servegraph export SOURCE OUT` with the fixture.json tensors of `json`, then `extra`.
fn export(
    source: &Path,
    json: &serde_json::Value,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "export".to_string(),
        path_str(source).into(),
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
    for flag in json["training_flags"].as_array().into_iter().flatten() {
        args.push("--training-flag".into());
        args.push(flag.as_str().expect("a flag").into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    servegraph(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn cifar_json() -> serde_json::Value {
    json_of(&batch_fixture(CIFAR))
}

#[test]
fn without_the_flag_the_report_says_the_checkpoint_holds_weight_averages() {
    let json = cifar_json();
    let dir = tempfile::tempdir().unwrap();
    let output = export(&batch_fixture(CIFAR), &json, &dir.path().join("text"), &[]);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("moving averages:"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let count = json["moving_averages"]["variables"]
        .as_object()
        .unwrap()
        .len();
    assert!(
        lines[0].contains(&format!("moving averages of {count} weights"))
            && lines[0].contains("--moving-averages"),
        "{}",
        lines[0]
    );
    let output = export(
        &batch_fixture(CIFAR),
        &json,
        &dir.path().join("json"),
        &["--json"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let averages = &report["moving_averages"];
    assert_eq!(averages["served"], serde_json::json!([]));
    let mut available: Vec<&str> = averages["available"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let mut shadows: Vec<&str> = json["moving_averages"]["variables"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k.as_str().unwrap())
        .collect();
    available.sort();
    shadows.sort();
    assert_eq!(available, shadows);
}

#[test]
fn with_the_flag_the_report_and_json_list_the_variables_served() {
    let json = cifar_json();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let output = export(
        &batch_fixture(CIFAR),
        &json,
        &out,
        &["--moving-averages", "--json"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let served: serde_json::Map<String, serde_json::Value> = report["moving_averages"]["served"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["variable"].as_str().unwrap().to_string(),
                s["average"].clone(),
            )
        })
        .collect();
    assert_eq!(
        &served,
        json["moving_averages"]["variables"].as_object().unwrap()
    );
    // The averages are kept (under the variables' keys), not dropped.
    for dropped in report["dropped"].as_array().unwrap() {
        assert_ne!(dropped["reason"], "weight moving average", "{dropped}");
    }
    let kept: Vec<&str> = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    for variable in served.keys() {
        assert!(kept.contains(&variable.as_str()), "{variable} in {kept:?}");
    }
    let output = export(
        &batch_fixture(CIFAR),
        &json,
        &dir.path().join("t"),
        &["--moving-averages"],
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("moving averages:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(&format!(
            "{} weights served by their averages",
            served.len()
        )),
        "{line}"
    );
}

/// The flag where no weight is averaged: an error naming what was found,
/// exit 1, nothing written.
fn refused(source: &Path) -> String {
    let json = json_of(source);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let output = export(source, &json, &out, &["--moving-averages"]);
    let message = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}: {message}",
        source.display()
    );
    assert!(!out.exists(), "{}: nothing is written", source.display());
    assert!(
        message.contains("keeps no moving average of a weight"),
        "{}: {message}",
        source.display()
    );
    message
}

#[test]
fn the_flag_without_weight_averages_is_an_error() {
    let message = refused(&common::testdata("fixtures/tiny_mlp"));
    assert!(
        message.contains("its 0 batch-norm moving statistics"),
        "{message}"
    );
}

#[test]
fn batch_norm_statistics_are_not_weight_averages() {
    for fixture in ["bn_train_only", "cnn_dataset_bn"] {
        let message = refused(&common::testdata(&format!("fixtures/{fixture}")));
        assert!(
            !message.contains("its 0 batch-norm")
                && message.contains("batch-norm moving statistics"),
            "{fixture}: {message}"
        );
    }
}

#[test]
fn batch_norm_statistics_keep_their_role_and_still_replace_batch_moments() {
    let source = common::testdata("fixtures/bn_train_only");
    let json = json_of(&source);
    let dir = tempfile::tempdir().unwrap();
    let output = export(&source, &json, &dir.path().join("m"), &["--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report.get("moving_averages").is_none(),
        "no weight averages"
    );
    let passes = report["passes"].as_array().unwrap();
    let batch_norm = passes.iter().find(|p| p["pass"] == "batch-norm").unwrap();
    let rewired = batch_norm["rewired"].as_array().unwrap();
    assert_eq!(rewired.len(), 4, "{rewired:?}");
}

#[test]
fn loss_averages_are_kept_for_summaries_not_batch_statistics() {
    let json = cifar_json();
    let dir = tempfile::tempdir().unwrap();
    let output = export(
        &batch_fixture(CIFAR),
        &json,
        &dir.path().join("m"),
        &["--json"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let passes = report["passes"].as_array().unwrap();
    let batch_norm = passes.iter().find(|p| p["pass"] == "batch-norm").unwrap();
    assert_eq!(batch_norm["rewired"], serde_json::json!([]), "{batch_norm}");
    let shadows: Vec<&str> = json["moving_averages"]["variables"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k.as_str().unwrap())
        .collect();
    let mut summaries = 0;
    for dropped in report["dropped"].as_array().unwrap() {
        let key = dropped["key"].as_str().unwrap();
        let reason = dropped["reason"].as_str().unwrap();
        if shadows.contains(&key) {
            assert_eq!(reason, "weight moving average", "{key}");
        } else if key != "global_step" {
            // The tutorial's loss averages: one per loss, and the total's.
            assert_eq!(reason, "moving average for summaries", "{key}");
            summaries += 1;
        }
    }
    assert!(summaries >= 2, "{summaries}");
}

/// The fixture with one average's checkpoint tensor given another shape.
fn with_a_misshapen_average(dir: &Path, average: &str) -> PathBuf {
    use servegraph::bundle::{BundleReader, BundleWriter};
    let source = batch_fixture(CIFAR);
    let json = cifar_json();
    let prefix = json["checkpoint_prefix"].as_str().unwrap();
    let copy = dir.join("source");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["checkpoint", "fixture.json"] {
        std::fs::copy(source.join(file), copy.join(file)).unwrap();
    }
    let meta = format!("{prefix}.meta");
    std::fs::copy(source.join(&meta), copy.join(&meta)).unwrap();
    let reader = BundleReader::open(source.join(prefix)).unwrap();
    let mut writer = BundleWriter::create(copy.join(prefix)).unwrap();
    let mut names = reader.names();
    names.sort();
    for name in names {
        if name == average {
            let (dtype, _) = reader.dtype_and_shape(&name).unwrap();
            writer.add(&name, dtype, &[2], &[0u8; 8]).unwrap();
        } else {
            writer.copy_from(&reader, &name).unwrap();
        }
    }
    writer.finish().unwrap();
    copy
}

#[test]
fn an_average_shaped_unlike_its_variable_is_an_error_naming_both() {
    let json = cifar_json();
    let pairs = json["moving_averages"]["variables"].as_object().unwrap();
    let (variable, average) = pairs.iter().next().unwrap();
    let average = average.as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = with_a_misshapen_average(dir.path(), average);
    let out = dir.path().join("m");
    let output = export(&source, &json, &out, &["--moving-averages"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!("{variable:?}")) && message.contains(&format!("{average:?}")),
        "{message}"
    );
    assert!(message.contains("[2]"), "{message}");
    assert!(!out.exists(), "nothing is written");
    // Without the flag the average is not served, so its shape is no matter.
    let output = export(&source, &json, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// The library's option: the report's data names the pairs, and the
/// error without weight averages is a typed `PassError`.
#[test]
fn the_library_option_serves_and_refuses_as_the_flag_does() {
    let dir = tempfile::tempdir().unwrap();
    let json = cifar_json();
    let mut options = common::fixture_dir_options(&batch_fixture(CIFAR));
    options.serving.moving_averages = true;
    let report =
        servegraph::export_serving_model(batch_fixture(CIFAR), dir.path().join("m"), &options)
            .unwrap();
    let averages = report
        .graph
        .moving_averages
        .expect("moving averages reported");
    let pairs = json["moving_averages"]["variables"].as_object().unwrap();
    assert_eq!(averages.served.len(), pairs.len());
    for served in &averages.served {
        assert_eq!(pairs[&served.variable], served.average.as_str());
    }
    let tiny = common::testdata("fixtures/tiny_mlp");
    let mut options = common::fixture_options("tiny_mlp");
    options.serving.moving_averages = true;
    let out = dir.path().join("tiny");
    let error = servegraph::export_serving_model(&tiny, &out, &options).unwrap_err();
    assert!(
        matches!(
            error,
            servegraph::Error::Pass(servegraph::passes::PassError::NoWeightAverages { .. })
        ),
        "{error}"
    );
    assert!(!out.exists());
}
