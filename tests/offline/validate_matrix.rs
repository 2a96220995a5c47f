//! The tools agree: every export servegraph writes passes
//! `servegraph validate --strict`, and its report, `validate`, `show` and
//! `size` count the same variables and bytes, over the whole options
//! matrix — every
//! fixture with each storage, freezing, variant and signature option, a
//! warm-up file, Graph Transform Tool transforms, and every TF2 SavedModel
//! re-exported lean.
//!
//! Two findings are kept on purpose, each recognised by structure and
//! printed loudly when the matrix meets it:
//! - `batch-dimension` on the `dense_shape` component of a SparseTensor
//!   input (fixture.json `"sparse": true`): the component is `[rank]`, so
//!   stacking requests along dimension 0 cannot work for it; true, and said.
//! - whatever the source SavedModel of a TF2 lean export is already told
//!   (the `object-graph` warning, that the functions' bodies are not
//!   linted, and the source's own signatures, e.g. a scalar input): a lean
//!   export keeps the source's functions and signatures, so it cannot be
//!   cleaner than its source. Nothing new may appear.

use crate::common;

use std::path::Path;

use common::{path_str, servegraph, stderr, tf2};
use serde_json::Value;

/// The option sets every TF1 fixture is exported with.
const OPTION_SETS: &[&[&str]] = &[
    &[],
    &["--weights", "f16", "--weights-min-size", "1"],
    &["--weights", "int8", "--weights-min-size", "1"],
    &["--narrow-int64", "--weights-min-size", "1"],
    &["--freeze"],
    &["--freeze", "--weights", "f16", "--weights-min-size", "1"],
    &["--freeze", "--weights", "int8", "--weights-min-size", "1"],
    &["--variant", "gpu"],
    &["--examples"],
    &["--examples", "--weights", "int8", "--weights-min-size", "1"],
];

/// `servegraph validate --strict --json` on `dir`: exit code and findings.
fn validate(dir: &Path) -> (Option<i32>, Vec<Value>) {
    let output = servegraph(&["validate", path_str(dir), "--strict", "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{}: {e}: {}", dir.display(), stderr(&output)));
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    (output.status.code(), findings)
}

/// The signature keys of the `dense_shape` components of `fixture`'s
/// sparse inputs.
fn sparse_dense_shapes(fixture: &str) -> Vec<String> {
    let json = common::fixture_json(fixture);
    let inputs = json["inputs"].as_object().expect("inputs");
    inputs
        .iter()
        .filter(|(_, spec)| spec["sparse"] == true)
        .map(|(key, _)| format!("{key}_dense_shape"))
        .collect()
}

/// Whether `finding` is the batch warning of a sparse input's dense shape.
fn is_sparse_shape_warning(finding: &Value, dense_shapes: &[String]) -> bool {
    let message = finding["message"].as_str().unwrap_or("");
    finding["rule"] == "batch-dimension"
        && finding["severity"] == "warning"
        && dense_shapes
            .iter()
            .any(|key| message.contains(&format!("input {key:?}")))
}

/// Asserts `dir` validates under `--strict` but for `allowed` findings,
/// which are printed; `what` names the export in the failure.
fn assert_strictly_valid(dir: &Path, what: &str, allowed: impl Fn(&Value) -> bool) {
    let (code, findings) = validate(dir);
    let (kept, unexpected): (Vec<&Value>, Vec<&Value>) = findings.iter().partition(|f| allowed(f));
    assert!(
        unexpected.is_empty(),
        "{what}: validate --strict found {unexpected:#?}"
    );
    for finding in &kept {
        eprintln!(
            "NOTE {what}: kept on purpose: {}[{}] {}",
            finding["severity"], finding["rule"], finding["message"]
        );
    }
    let expected_code = if kept.is_empty() { 0 } else { 1 };
    assert_eq!(code, Some(expected_code), "{what}: {findings:#?}");
}

fn export_ok(fixture: &str, out: &Path, flags: &[&str]) {
    let output = common::export_fixture_cli(fixture, out, flags);
    assert!(
        output.status.success(),
        "{fixture} {flags:?}: {}",
        stderr(&output)
    );
}

/// The `--json` report of exporting `fixture` to `out` with `flags`.
fn export_json(fixture: &str, out: &Path, flags: &[&str]) -> Value {
    let mut all = flags.to_vec();
    all.push("--json");
    let output = common::export_fixture_cli(fixture, out, &all);
    assert!(
        output.status.success(),
        "{fixture} {flags:?}: {}",
        stderr(&output)
    );
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

#[test]
fn every_fixture_with_every_option_set_validates_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::fixture_names();
    assert!(fixtures.len() >= 10, "{fixtures:?}");
    for fixture in &fixtures {
        let dense_shapes = sparse_dense_shapes(fixture);
        for (i, flags) in OPTION_SETS.iter().enumerate() {
            let out = dir.path().join(format!("{fixture}-{i}"));
            let report = export_json(fixture, &out, flags);
            let what = format!("{fixture} {flags:?}");
            assert_strictly_valid(&out, &what, |f| is_sparse_shape_warning(f, &dense_shapes));
            common::assert_tools_agree(&out, &report, &what);
        }
    }
}

/// The fixtures of `testdata/SET/`, by directory.
fn fixture_dirs(set: &str) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(common::testdata(set))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("fixture.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// The batch fixtures (a training batch baked into the graph) and the
/// TF-Slim nets, plain, as int8 and with their moving averages: each export
/// validates strictly and the tools agree on it. A graph whose batch is
/// fixed by design is refused without `--fixed-batch`; with it, its
/// `batch-dimension` warnings are all `validate` finds, and `--allow
/// batch-dimension` passes `--strict`.
#[test]
fn batch_and_slim_fixtures_validate_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let mut fixed = Vec::new();
    for source in [
        fixture_dirs("batch_fixtures"),
        fixture_dirs("slim_fixtures"),
    ]
    .concat()
    {
        let name = source.file_name().unwrap().to_string_lossy().to_string();
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(source.join("fixture.json")).unwrap())
                .unwrap();
        let averaged =
            json.get("moving_averages").is_some() || json.get("moving_average_decay").is_some();
        let mut option_sets: Vec<Vec<&str>> =
            vec![vec![], vec!["--weights", "int8", "--weights-min-size", "1"]];
        if averaged {
            option_sets.push(vec!["--moving-averages"]);
        }
        for (i, flags) in option_sets.iter().enumerate() {
            let out = dir.path().join(format!("{name}-{i}"));
            let what = format!("{name} {flags:?}");
            let mut all = flags.clone();
            all.push("--json");
            let output = common::export_fixture_dir_cli(&source, &out, &all);
            if output.status.code() == Some(1) && stderr(&output).contains("--fixed-batch") {
                all.push("--fixed-batch");
                let output = common::export_fixture_dir_cli(&source, &out, &all);
                assert!(output.status.success(), "{what}: {}", stderr(&output));
                let (_, findings) = validate(&out);
                assert!(!findings.is_empty(), "{what}: a fixed batch, no warning");
                assert!(
                    findings.iter().all(|f| f["rule"] == "batch-dimension"),
                    "{what}: {findings:#?}"
                );
                let allowed = servegraph(&[
                    "validate",
                    path_str(&out),
                    "--strict",
                    "--allow",
                    "batch-dimension",
                ]);
                assert_eq!(
                    allowed.status.code(),
                    Some(0),
                    "{what}: {}",
                    stderr(&allowed)
                );
                fixed.push(name.clone());
                continue;
            }
            assert!(output.status.success(), "{what}: {}", stderr(&output));
            let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
            assert_strictly_valid(&out, &what, |_| false);
            common::assert_tools_agree(&out, &report, &what);
        }
    }
    fixed.dedup();
    assert_eq!(fixed, ["fixed_batch_by_design", "tensorarray_batch_loop"]);
}

/// The fixtures whose fixture.json hints a classify or regress method:
/// (fixture, `--method`, served output key, the fixture's output).
fn method_cases() -> Vec<(String, &'static str, &'static str, String)> {
    let mut cases = Vec::new();
    for fixture in common::fixture_names() {
        let json = common::fixture_json(&fixture);
        let method = &json["method"];
        if let Some(scores) = method["scores_output"].as_str() {
            cases.push((fixture.clone(), "classify", "scores", scores.to_string()));
        }
        if let Some(output) = method["regress_output"].as_str() {
            cases.push((fixture.clone(), "regress", "outputs", output.to_string()));
        }
    }
    cases
}

#[test]
fn classify_and_regress_exports_validate_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = method_cases();
    assert!(cases.len() >= 3, "{cases:?}");
    for (fixture, method, key, output) in &cases {
        let json = common::fixture_json(fixture);
        let source = common::testdata(&format!("fixtures/{fixture}"));
        let out = dir.path().join(format!("{fixture}-{method}"));
        let mut args = vec![
            "export".to_string(),
            path_str(&source).to_string(),
            path_str(&out).to_string(),
        ];
        for (input, spec) in json["inputs"].as_object().expect("inputs") {
            args.push("--input".into());
            args.push(format!("{input}={}", spec["tensor"].as_str().unwrap()));
        }
        let tensor = json["outputs"][output.as_str()]["tensor"].as_str().unwrap();
        args.extend(["--output".into(), format!("{key}={tensor}")]);
        args.extend(["--method".into(), method.to_string(), "-q".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let exported = servegraph(&args);
        assert!(exported.status.success(), "{args:?}: {}", stderr(&exported));
        let dense_shapes = sparse_dense_shapes(fixture);
        assert_strictly_valid(&out, &format!("{fixture} --method {method}"), |f| {
            is_sparse_shape_warning(f, &dense_shapes)
        });
    }
}

#[test]
fn a_warmup_export_and_a_transformed_one_validate_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("warmup.json");
    std::fs::write(&body, r#"{"instances": [[0.1, 0.2, 0.3, 0.4]]}"#).unwrap();
    let warm = dir.path().join("warm");
    export_ok("tiny_mlp", &warm, &["--warmup", path_str(&body), "-q"]);
    assert!(
        warm.join("assets.extra/tf_serving_warmup_requests")
            .is_file()
    );
    assert_strictly_valid(&warm, "tiny_mlp --warmup", |_| false);

    for transforms in [
        "fold_constants strip_unused_nodes",
        "fold_batch_norms remove_nodes(op=Identity)",
    ] {
        let transformed = dir.path().join("transformed");
        let _ = std::fs::remove_dir_all(&transformed);
        let output = servegraph(&[
            "transform",
            path_str(&warm),
            path_str(&transformed),
            "--transforms",
            transforms,
        ]);
        assert!(output.status.success(), "{transforms}: {}", stderr(&output));
        assert_strictly_valid(&transformed, &format!("transform {transforms}"), |_| false);
    }
}

/// The findings of validating the source SavedModel itself, by rule and
/// message: what a lean export inherits.
fn source_findings(source: &Path) -> Vec<(Value, Value)> {
    let (_, findings) = validate(source);
    findings
        .iter()
        .map(|f| (f["rule"].clone(), f["message"].clone()))
        .collect()
}

#[test]
fn every_tf2_saved_model_exported_lean_validates_as_its_source_does() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = tf2::fixture_names();
    assert!(fixtures.len() >= 5, "{fixtures:?}");
    for fixture in &fixtures {
        let source = tf2::saved_model(fixture);
        let inherited = source_findings(&source);
        for flags in [&[][..], &["--weights", "f16", "--weights-min-size", "1"]] {
            let out = dir.path().join(format!("{fixture}-{}", flags.len()));
            let mut args = vec!["export", path_str(&source), path_str(&out), "--json"];
            args.extend_from_slice(flags);
            let exported = servegraph(&args);
            assert!(exported.status.success(), "{args:?}: {}", stderr(&exported));
            let what = format!("TF2 lean {fixture} {flags:?}");
            assert_strictly_valid(&out, &what, |f| {
                f["severity"] == "warning"
                    && inherited.contains(&(f["rule"].clone(), f["message"].clone()))
            });
            let report: Value = serde_json::from_slice(&exported.stdout).expect("JSON");
            common::assert_tools_agree(&out, &report, &what);
        }
    }
}
