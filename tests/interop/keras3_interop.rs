//! Keras 3 (`import keras` on TensorFlow 2.21): the SavedModels its
//! `model.export(DIR)` and `tf.saved_model.save(model, DIR)` write
//! (`testdata/tf2/keras3_*`), each run as TensorFlow wrote it and re-exported
//! lean, through all three loaders, against Keras's own inference; and its
//! own files (`.keras`, `.weights.h5`, `.h5`) refused as SOURCE by their
//! magic, with the command that makes a SavedModel, nothing written.

use crate::common;

use std::path::Path;

use common::tf2;
use serde_json::Value;

const KERAS3_FIXTURES: [&str; 2] = ["keras3_export", "keras3_saved_model"];
const LOADERS: [&str; 3] = ["tf2", "tf1", "capi"];

/// For each loader: whether it ran every signature of `saved_model` with
/// the fixture's outputs, and the largest difference (or why not).
fn judged(python: &Path, name: &str, saved_model: &Path) -> Vec<(String, Result<f64, String>)> {
    let json = tf2::fixture_json(name);
    let report = tf2::run_signatures(python, saved_model, &json, &LOADERS.join(","), None);
    let signatures: Vec<String> = json["signatures"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    LOADERS
        .iter()
        .map(|loader| {
            let entry = &report[*loader];
            let verdict = if entry["ok"] == true {
                let (problems, largest) = tf2::judge_loader(&json, entry, &signatures);
                if problems.is_empty() {
                    Ok(largest)
                } else {
                    Err(problems.join("; "))
                }
            } else {
                Err(entry["error"].to_string())
            };
            (loader.to_string(), verdict)
        })
        .collect()
}

fn describe(verdicts: &[(String, Result<f64, String>)]) -> String {
    let passed: Vec<&str> = verdicts
        .iter()
        .filter(|(_, v)| v.is_ok())
        .map(|(l, _)| l.as_str())
        .collect();
    let largest = verdicts
        .iter()
        .filter_map(|(_, v)| v.as_ref().ok())
        .fold(0.0f64, |a, b| a.max(*b));
    format!(
        "{}/3 ({}), max abs diff {largest:e}",
        passed.len(),
        passed.join(",")
    )
}

#[test]
fn keras3_saved_models_export_lean_and_load_in_every_loader() {
    let Some(python) = common::tensorflow_python("keras3_interop::export_lean") else {
        return;
    };
    let mut table = Vec::new();
    for name in KERAS3_FIXTURES {
        let source = tf2::saved_model(name);
        let source_verdicts = judged(&python, name, &source);
        // What TensorFlow's own loaders make of Keras's SavedModel, recorded
        // as it is: the lean export must load everywhere regardless.
        for (loader, verdict) in &source_verdicts {
            let runs = loader == "tf2" || tf2::source_signatures_run_in_a_session(name);
            assert_eq!(
                verdict.is_ok(),
                runs,
                "{name} as Keras wrote it in {loader}: {verdict:?}"
            );
            if let Err(why) = verdict {
                let first = why.lines().next().unwrap_or_default();
                eprintln!("{name}: the source as Keras wrote it FAILS in {loader}: {first}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("export");
        let run = common::servegraph(&[
            "export",
            common::path_str(&source),
            common::path_str(&export),
            "-q",
        ]);
        assert!(run.status.success(), "{name}: {}", common::stderr(&run));
        let lean_verdicts = judged(&python, name, &export);
        for (loader, verdict) in &lean_verdicts {
            assert!(verdict.is_ok(), "{name} lean in {loader}: {verdict:?}");
        }
        table.push(format!(
            "| {name} | source: {} | lean: {} |",
            describe(&source_verdicts),
            describe(&lean_verdicts)
        ));
    }
    eprintln!("| fixture | as Keras wrote it | servegraph lean |");
    for row in table {
        eprintln!("{row}");
    }
}

#[test]
fn keras3_files_are_refused_by_their_magic_with_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("model.keras", "Keras model archive"),
        ("model.weights.h5", "Keras weights file"),
        ("model.h5", "Keras HDF5 model"),
    ];
    for (file, what) in files {
        // Renamed, so that only the bytes can tell what it is.
        let renamed = dir.path().join(format!("{file}.pb"));
        let source = tf2::root().join("keras3_saved_model").join(file);
        let original = std::fs::read(&source).unwrap();
        std::fs::write(&renamed, &original).unwrap();
        for path in [source.as_path(), renamed.as_path()] {
            let out = dir.path().join("out");
            let run =
                common::servegraph(&["export", common::path_str(path), common::path_str(&out)]);
            assert_eq!(run.status.code(), Some(1), "{file}");
            assert!(!out.exists(), "{file}: nothing written");
            let message = common::stderr(&run);
            for needle in [
                path.to_str().unwrap(),
                "model.export(DIR)",
                "servegraph export DIR",
            ] {
                assert!(
                    message.contains(needle),
                    "{file}: {needle} not in {message}"
                );
            }
            let expected = if path == renamed.as_path() && file == "model.weights.h5" {
                "Keras HDF5 model" // the name no longer says weights: HDF5 is all the bytes say
            } else {
                what
            };
            assert!(message.contains(expected), "{file}: {message}");
            assert!(!message.contains("GraphDef"), "{file}: {message}");
        }
        assert_eq!(
            std::fs::read(&source).unwrap(),
            original,
            "{file} unchanged"
        );
    }
}

#[test]
fn keras3_fixtures_are_what_keras_3_wrote() {
    for name in KERAS3_FIXTURES {
        let json: Value = tf2::fixture_json(name);
        let version = json["written_by_keras"].as_str().unwrap_or_default();
        assert!(
            version.starts_with('3'),
            "{name}: written by Keras {version}"
        );
    }
    let export = tf2::fixture_json("keras3_export");
    let keys: Vec<&String> = export["signatures"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["serve", "serving_default"]);
}
