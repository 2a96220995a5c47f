//! Helpers shared by the integration tests: the CLI binary, fixture paths and
//! the Python with TensorFlow that interop tests use as the judge.
#![allow(dead_code)]

pub mod judge;
pub mod tf2;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the servegraph binary with `args` and collects what it printed.
pub fn servegraph(args: &[&str]) -> Output {
    // Help wraps to `COLUMNS` when it is set: the width a test sees is
    // pinned to the one a pipe gets, so help texts compare the same
    // wherever the suite runs.
    Command::new(env!("CARGO_BIN_EXE_servegraph"))
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .expect("the binary runs")
}

/// What a run printed on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A path as a CLI argument; test paths are UTF-8.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// The repository root (where Cargo.toml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file or directory under `testdata/`.
pub fn testdata(relative: &str) -> PathBuf {
    repo_root().join("testdata").join(relative)
}

/// The Python interpreter that has TensorFlow installed, if any.
///
/// Looked up as `$SERVEGRAPH_PYTHON`, then `.venv/bin/python` in the repository.
/// When neither exists the interop test cannot run: under CI (`CI` set) that is
/// a failure, elsewhere the test prints a loud SKIPPED line and returns `None`.
pub fn tensorflow_python(test_name: &str) -> Option<PathBuf> {
    let candidate = std::env::var_os("SERVEGRAPH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    if candidate.exists() {
        return Some(candidate);
    }
    let message = format!(
        "interop test `{test_name}` needs Python with tensorflow-cpu: set SERVEGRAPH_PYTHON \
         or create .venv (see .ci/run); {} does not exist",
        candidate.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!!!! SKIPPED: {message} !!!!!!!!!!\n");
    judge::count_skipped();
    None
}

/// Runs `python script args...` (a script of `tests/interop`) in the judge,
/// from the repository root, and returns stdout; panics with stderr when the
/// script fails.
pub fn run_python(python: &Path, script: &str, args: &[&std::ffi::OsStr]) -> String {
    let run = judge::run_script(python, script, args);
    assert!(
        run.success,
        "{script} failed: {}\n{}",
        run.error, run.stderr
    );
    run.stdout
}

/// The fixture directories under `testdata/fixtures`.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(testdata("fixtures"))
        .expect("testdata/fixtures exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("fixture.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fixture's `fixture.json`.
pub fn fixture_json(name: &str) -> serde_json::Value {
    let path = testdata("fixtures").join(name).join("fixture.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture.json readable"))
        .expect("fixture.json is JSON")
}

/// The export options a fixture asks for: its inputs and outputs.
pub fn fixture_options(name: &str) -> servegraph::ExportOptions {
    options_of(&fixture_json(name))
}

/// The export options of the fixture in `dir` (of any fixture set).
pub fn fixture_dir_options(dir: &Path) -> servegraph::ExportOptions {
    let text = std::fs::read_to_string(dir.join("fixture.json")).expect("fixture.json");
    options_of(&serde_json::from_str(&text).expect("fixture.json is JSON"))
}

/// The inputs and outputs a fixture.json names, as export options.
fn options_of(json: &serde_json::Value) -> servegraph::ExportOptions {
    let specs = |field: &str| -> Vec<String> {
        json[field]
            .as_object()
            .expect("inputs/outputs are objects")
            .iter()
            .map(|(key, spec)| format!("{key}={}", spec["tensor"].as_str().expect("tensor name")))
            .collect()
    };
    {
        let mut custom = servegraph::ExportOptions::default();
        custom.serving.inputs = specs("inputs")
            .iter()
            .map(|s| s.parse().expect("input spec"))
            .collect();
        custom.serving.outputs = specs("outputs")
            .iter()
            .map(|s| s.parse().expect("output spec"))
            .collect();
        custom
    }
}

/// The signature entries a fixture input or output declares, with their
/// shapes: one, or for a sparse input (`"sparse": true`, shape = its dense
/// shape) its three components `KEY_indices` `[-1, rank]`, `KEY_values`
/// `[-1]` and `KEY_dense_shape` `[rank]`.
pub fn signature_shapes(key: &str, spec: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    if spec["sparse"] != true {
        return vec![(key.to_string(), spec["shape"].clone())];
    }
    let rank = spec["shape"].as_array().expect("a dense shape").len();
    vec![
        (format!("{key}_indices"), serde_json::json!([-1, rank])),
        (format!("{key}_values"), serde_json::json!([-1])),
        (format!("{key}_dense_shape"), serde_json::json!([rank])),
    ]
}

/// Loads `export` under the comma-separated `tags` with `loaders` (`tf2`,
/// `tf1`, `capi`) and compares its predictions with the fixture's own.
pub fn judge(python: &Path, export: &Path, fixture: &str, tags: &str, loaders: &str) {
    judge_within(python, export, fixture, tags, loaders, 1e-4);
}

/// [`judge`] with another tolerance on float outputs (max absolute
/// difference); returns the largest difference any loader saw.
pub fn judge_within(
    python: &Path,
    export: &Path,
    fixture: &str,
    tags: &str,
    loaders: &str,
    tolerance: f64,
) -> f64 {
    let json = fixture_json(fixture);
    let answer = judge::run_saved_model(
        python,
        serde_json::json!({
            "export_dir": export,
            "inputs": json["test_inputs"],
            "expected": json["expected_outputs"],
            "tags": tags,
            "loaders": loaders,
            "tolerance": tolerance,
        }),
    );
    assert!(answer.ok, "{fixture} [{tags}]: {}", answer.describe());
    largest_difference(&answer.result)
}

/// The largest `max_abs_diff` of any loader and output in a report of
/// `tests/interop/run_saved_model.py`'s check.
pub fn largest_difference(report: &serde_json::Value) -> f64 {
    let loaders = report.as_object().expect("one entry per loader");
    loaders
        .values()
        .filter_map(|entry| entry["max_abs_diff"].as_object())
        .flat_map(|diffs| diffs.values().filter_map(|d| d.as_f64()))
        .fold(0.0, f64::max)
}

/// Runs `servegraph export` on fixture `fixture` into `out` with the
/// fixture.json tensors as `--input` / `--output`, then `extra` flags.
pub fn export_fixture_cli(fixture: &str, out: &Path, extra: &[&str]) -> Output {
    let source = testdata(&format!("fixtures/{fixture}"));
    export_fixture_dir_cli(&source, out, extra)
}

/// [`export_fixture_cli`] for the fixture in `source`, of any fixture set
/// (`testdata/batch_fixtures/NAME`, `testdata/slim_fixtures/NAME`).
pub fn export_fixture_dir_cli(source: &Path, out: &Path, extra: &[&str]) -> Output {
    let text = std::fs::read_to_string(source.join("fixture.json")).expect("fixture.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("fixture.json is JSON");
    let mut args = vec![
        "export".to_string(),
        path_str(source).to_string(),
        path_str(out).to_string(),
    ];
    for (flag, field) in [("--input", "inputs"), ("--output", "outputs")] {
        for (key, spec) in json[field].as_object().expect("inputs/outputs are objects") {
            args.push(flag.into());
            args.push(format!(
                "{key}={}",
                spec["tensor"].as_str().expect("tensor name")
            ));
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    servegraph(&args)
}

/// `tests/interop/run_saved_model.py`'s check on `export` with `inputs` and
/// `expected` (`{key: {"dtype", "shape", "values"}}`) and `extra` request
/// fields (`{"signature": KEY}`, `{"examples": KEY}` to feed serialized
/// tf.Examples, `{"omit_feature": [NAME]}`, `{"loaders": "tf2,tf1"}`)
/// through all three loaders unless `extra` names others; panics with the
/// report when one fails, else returns the largest difference seen.
pub fn judge_tensors(
    python: &Path,
    export: &Path,
    inputs: &serde_json::Value,
    expected: &serde_json::Value,
    extra: &serde_json::Value,
    tolerance: f64,
) -> f64 {
    let mut request = serde_json::json!({
        "export_dir": export,
        "inputs": inputs,
        "expected": expected,
        "tolerance": tolerance,
    });
    for (field, value) in extra
        .as_object()
        .expect("extra request fields are an object")
    {
        request[field] = value.clone();
    }
    let answer = judge::run_saved_model(python, request);
    assert!(
        answer.ok,
        "{} {extra}: {}",
        export.display(),
        answer.describe()
    );
    largest_difference(&answer.result)
}

/// `servegraph ARGS --json` parsed; panics with stderr when it is not JSON.
fn json_of(args: &[&str]) -> serde_json::Value {
    let output = servegraph(args);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stderr(&output)))
}

/// The export `report` (its `--json`) of `dir`, `validate`, `show` and
/// `size` count the same variables with the same bytes, and the same
/// directory size: one inventory. `what` names the export in a failure.
pub fn assert_tools_agree(dir: &Path, report: &serde_json::Value, what: &str) {
    let dir = path_str(dir);
    let validated = json_of(&["validate", dir, "--json"]);
    let shown = json_of(&["show", dir, "--json"]);
    let sized = json_of(&["size", dir, "--json"]);
    let kept = &report["variables_kept"];
    let logical_keys: std::collections::BTreeSet<&str> = report["kept"]
        .as_array()
        .expect("kept is a list")
        .iter()
        .filter_map(|v| v["key"].as_str())
        .collect();
    let contributors = sized["contributors"].as_array().expect("contributors");
    let variables = contributors.iter().filter(|c| c["kind"] == "variable");
    let (size_count, size_bytes) = variables.fold((0u64, 0u64), |(n, b), c| {
        (n + 1, b + c["bytes"].as_u64().unwrap())
    });
    let shown_count = shown["variables"].as_array().map_or(0, Vec::len) as u64;
    let counts = [
        ("report kept keys", logical_keys.len() as u64),
        (
            "validate variables",
            validated["variables"].as_u64().unwrap(),
        ),
        ("show variables", shown_count),
        ("size variables", size_count),
    ];
    for (who, count) in counts {
        assert_eq!(kept["count"], count, "{what}: {who}: {kept} {validated}");
    }
    let bytes = [
        ("show", shown["total_variable_bytes"].as_u64().unwrap()),
        ("size", size_bytes),
    ];
    for (who, b) in bytes {
        assert_eq!(kept["bytes"], b, "{what}: {who} variable bytes: {kept}");
    }
    let stored = [&validated["stored_tensors"], &shown["stored_tensors"]];
    for count in stored {
        assert_eq!(&kept["stored_tensors"], count, "{what}: stored tensors");
    }
    let total = sized["total_bytes"].as_u64().unwrap();
    assert_eq!(report["output_bytes"], total, "{what}: output_bytes");
    assert_eq!(validated["total_bytes"], total, "{what}: validate total");
}
