//! The TF2 SavedModel fixtures (`testdata/tf2/<name>/`) and the harness that
//! judges a SavedModel against them: every signature run by TensorFlow's
//! three loaders (`tests/interop/run_signatures.py`), compared in Rust with
//! the outputs the source model computed.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The `format` a TF2 fixture's `fixture.json` declares; other directories
/// under `testdata/tf2/` are not fixtures of this harness.
pub const FORMAT: &str = "tf2-saved-model";

/// Where the TF2 fixtures live.
pub fn root() -> PathBuf {
    super::testdata("tf2")
}

/// The fixture directories under `testdata/tf2` whose fixture.json is of [`FORMAT`], sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root())
        .expect("testdata/tf2 exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            root().join(name).join("fixture.json").is_file()
                && fixture_json(name)["format"] == FORMAT
        })
        .collect();
    names.sort();
    names
}

/// A TF2 fixture's `fixture.json`.
pub fn fixture_json(name: &str) -> Value {
    let path = root().join(name).join("fixture.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The source SavedModel directory of a TF2 fixture.
pub fn saved_model(name: &str) -> PathBuf {
    let json = fixture_json(name);
    let relative = json["saved_model"].as_str().expect("saved_model is a path");
    root().join(name).join(relative)
}

/// The keys of the fixture's `variables` entries whose role is one of `roles`.
pub fn keys_with_role(json: &Value, roles: &[&str]) -> Vec<String> {
    let variables = json["variables"].as_array().expect("variables is a list");
    variables
        .iter()
        .filter(|v| roles.iter().any(|r| v["role"] == *r))
        .map(|v| v["key"].as_str().expect("a key").to_string())
        .collect()
}

/// `{signature: {input key: tensor}}`: every signature's test batch.
pub fn signature_inputs(json: &Value) -> Value {
    let signatures = json["signatures"].as_object().expect("signatures");
    let inputs = signatures
        .iter()
        .map(|(key, sig)| (key.clone(), sig["test_inputs"].clone()));
    Value::Object(inputs.collect())
}

/// `tests/interop/run_signatures.py`'s run as a judge request: every
/// signature of `saved_model` (or only `signature`) on the fixture's test
/// batches, through `loaders` (comma-separated); returns the report
/// `{loader: {"ok", "error", "signatures"}}`.
pub fn run_signatures(
    python: &Path,
    saved_model: &Path,
    fixture: &Value,
    loaders: &str,
    signature: Option<&str>,
) -> Value {
    let answer = super::judge::judge(python).ask(serde_json::json!({
        "op": "run_signatures",
        "saved_model": saved_model,
        "inputs": signature_inputs(fixture),
        "loaders": loaders,
        "signature": signature,
    }));
    assert!(
        answer.ok,
        "{}: {}",
        saved_model.display(),
        answer.describe()
    );
    answer.result
}

/// The variables `tf.saved_model.load` restores from `saved_model`:
/// `[{"path", "name", "dtype", "shape"}]`.
pub fn restored_variables(python: &Path, saved_model: &Path) -> Vec<Value> {
    let answer = super::judge::judge(python).ask(serde_json::json!({
        "op": "list_variables",
        "saved_model": saved_model,
    }));
    assert!(
        answer.ok,
        "{}: {}",
        saved_model.display(),
        answer.describe()
    );
    answer
        .result
        .as_array()
        .expect("a list of variables")
        .clone()
}

/// How a loader's outputs for one signature differ from the expected ones:
/// a missing or extra output, another dtype or shape, integer values not
/// equal, float values further than `tolerance` apart. Returns the
/// problems (empty when they agree) and the largest float difference.
pub fn compare_outputs(expected: &Value, got: &Value, tolerance: f64) -> (Vec<String>, f64) {
    let expected = expected
        .as_object()
        .expect("expected outputs are an object");
    let got = got.as_object().expect("outputs are an object");
    super::judge::count_comparisons(expected.len());
    let mut problems = Vec::new();
    let mut largest: f64 = 0.0;
    for key in got.keys().filter(|k| !expected.contains_key(*k)) {
        problems.push(format!("unexpected output {key:?}"));
    }
    for (key, want) in expected {
        let Some(have) = got.get(key) else {
            problems.push(format!("output {key:?} missing"));
            continue;
        };
        for field in ["dtype", "shape"] {
            if have[field] != want[field] {
                problems.push(format!("{key}: {field} {} != {}", have[field], want[field]));
            }
        }
        let is_float = want["dtype"]
            .as_str()
            .is_some_and(|d| d.starts_with("float"));
        let difference = if have["values"] == want["values"] {
            Some(0.0)
        } else {
            value_difference(&want["values"], &have["values"])
        };
        match difference {
            Some(diff) if is_float => {
                largest = largest.max(diff);
                if diff > tolerance {
                    problems.push(format!("{key}: max abs diff {diff:e} > {tolerance:e}"));
                }
            }
            Some(0.0) => {}
            _ => problems.push(format!("{key}: values differ")),
        }
    }
    (problems, largest)
}

/// The largest absolute difference of two equally long numeric lists, or
/// `None` when they differ in length or hold something else.
fn value_difference(want: &Value, have: &Value) -> Option<f64> {
    let (want, have) = (want.as_array()?, have.as_array()?);
    if want.len() != have.len() {
        return None;
    }
    want.iter().zip(have).try_fold(0.0_f64, |largest, (a, b)| {
        Some(largest.max((a.as_f64()? - b.as_f64()?).abs()))
    })
}

/// Judges one loader's entry of a [`run_signatures`] report against the
/// fixture: it loaded, ran exactly `signatures`, and each gave the expected
/// outputs within the fixture's tolerance. Returns the problems and the
/// largest difference seen.
pub fn judge_loader(fixture: &Value, entry: &Value, signatures: &[String]) -> (Vec<String>, f64) {
    if entry["ok"] != true {
        return (vec![format!("failed: {}", entry["error"])], 0.0);
    }
    let tolerance = fixture["tolerance"].as_f64().expect("a tolerance");
    let ran = entry["signatures"].as_object().expect("signatures ran");
    let mut ran_keys: Vec<&String> = ran.keys().collect();
    ran_keys.sort();
    let mut problems = Vec::new();
    if ran_keys != signatures.iter().collect::<Vec<_>>() {
        problems.push(format!("ran {ran_keys:?}, not {signatures:?}"));
    }
    let mut largest: f64 = 0.0;
    for (key, outputs) in ran {
        let expected = &fixture["signatures"][key]["expected_outputs"];
        let (found, diff) = compare_outputs(expected, outputs, tolerance);
        problems.extend(found.into_iter().map(|p| format!("{key}: {p}")));
        largest = largest.max(diff);
    }
    (problems, largest)
}

/// Whether TensorFlow's TF1 loader (and the C API's, which TensorFlow
/// Serving runs) restores every variable of the fixture's source as written.
/// Keras 3's SavedModels leave some unrestored in a session: reading every
/// variable handle after the load fails with "Could not find variable"
/// (servegraph's lean exports of them restore everything; keras3_interop).
pub fn every_variable_restores_in_a_session(name: &str) -> bool {
    !name.starts_with("keras3_")
}

/// Whether the source's signatures run in the TF1 and C API loaders as
/// written: Keras 3's `tf.saved_model.save(model)` output does not (a
/// variable its signature reads is not restored in a session), while
/// `tf.saved_model.load` runs it.
pub fn source_signatures_run_in_a_session(name: &str) -> bool {
    name != "keras3_saved_model"
}
