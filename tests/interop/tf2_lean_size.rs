//! Size options on the lean TF2 path: `--weights f16` stores the large
//! float32 weights as float16 while every signature still computes in
//! float32, judged by TensorFlow's three loaders on every TF2 fixture;
//! `--max-size` is checked against the retyped size before anything is
//! written; `--weights int8` and `--freeze` are refused, naming the flag.

use crate::common;

use std::path::Path;

use common::tf2;
use serde_json::Value;

/// The fixtures' weights are small; below this many elements a variable
/// stays float32 (their 3- and 1-element biases), above it is retyped.
const MIN_ELEMENTS: &str = "8";

/// Output tolerance relative to the largest expected output (at least 1):
/// float16 keeps 11 significant bits, so each weight moves by at most
/// 2^-11 ≈ 4.9e-4 of itself, and the fixtures' outputs are sums over a few
/// dozen such products — an order of magnitude under 1e-2.
const RELATIVE_TOLERANCE: f64 = 1e-2;

const VALUE_SUFFIX: &str = "/.ATTRIBUTES/VARIABLE_VALUE";

/// Exports `fixture`'s SavedModel to `out` with `extra` flags and `--json`;
/// returns the report, panicking with stderr when the export fails.
fn export(fixture: &str, out: &Path, extra: &[&str]) -> Value {
    let source = tf2::saved_model(fixture);
    let mut args = vec![
        "export",
        common::path_str(&source),
        common::path_str(out),
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = common::servegraph(&args);
    assert!(
        output.status.success(),
        "{fixture} {extra:?}: {}",
        common::stderr(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{fixture}: JSON: {e}"))
}

/// The bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        total += if path.is_dir() {
            dir_bytes(&path)
        } else {
            std::fs::metadata(&path).unwrap().len()
        };
    }
    total
}

/// The fixture with its tolerance replaced by the float16 one.
fn with_half_tolerance(fixture: &Value) -> Value {
    let mut largest: f64 = 1.0;
    for signature in fixture["signatures"].as_object().unwrap().values() {
        for output in signature["expected_outputs"].as_object().unwrap().values() {
            if output["dtype"]
                .as_str()
                .is_some_and(|d| d.starts_with("float"))
            {
                for value in output["values"].as_array().unwrap() {
                    largest = largest.max(value.as_f64().unwrap().abs());
                }
            }
        }
    }
    let mut fixture = fixture.clone();
    fixture["tolerance"] = Value::from(RELATIVE_TOLERANCE * largest);
    fixture
}

fn converted_paths(report: &Value) -> Vec<String> {
    let converted = report["storage"]["converted"]
        .as_array()
        .expect("storage.converted");
    converted
        .iter()
        .map(|t| {
            let key = t["name"].as_str().unwrap();
            key.strip_suffix(VALUE_SUFFIX).unwrap_or(key).to_string()
        })
        .collect()
}

#[test]
fn every_fixture_exported_with_f16_loads_in_every_loader() {
    let Some(python) = common::tensorflow_python("every_fixture_exported_with_f16") else {
        return;
    };
    let mut failures = Vec::new();
    for name in tf2::fixture_names() {
        let dir = tempfile::tempdir().unwrap();
        let (f32_out, f16_out) = (dir.path().join("f32"), dir.path().join("f16"));
        export(&name, &f32_out, &[]);
        let report = export(
            &name,
            &f16_out,
            &["--weights", "f16", "--weights-min-size", MIN_ELEMENTS],
        );
        let storage = &report["storage"];
        assert_eq!(storage["weights"], "f16", "{name}: {storage}");
        let retyped = converted_paths(&report);
        assert!(!retyped.is_empty(), "{name}: something is retyped");
        assert!(
            !storage["skipped"].as_array().unwrap().is_empty(),
            "{name}: something small stays float32"
        );
        let saved =
            storage["bytes_before"].as_u64().unwrap() - storage["bytes_after"].as_u64().unwrap();
        let (f32_vars, f16_vars) = (
            dir_bytes(&f32_out.join("variables")),
            dir_bytes(&f16_out.join("variables")),
        );
        eprintln!(
            "{name}: variables/ {f32_vars} B (f32 lean) -> {f16_vars} B (f16 lean), {} retyped, {saved} B of weights saved; whole export {} -> {} B",
            retyped.len(),
            dir_bytes(&f32_out),
            dir_bytes(&f16_out)
        );
        assert!(f16_vars < f32_vars, "{name}: {f16_vars} >= {f32_vars}");
        assert!(
            f32_vars - f16_vars >= saved / 2,
            "{name}: only {} B smaller",
            f32_vars - f16_vars
        );

        let fixture = with_half_tolerance(&tf2::fixture_json(&name));
        let mut signatures: Vec<String> = fixture["signatures"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        signatures.sort();
        let ran = tf2::run_signatures(&python, &f16_out, &fixture, "tf2,tf1,capi", None);
        for loader in ["tf2", "tf1", "capi"] {
            let (problems, largest) = tf2::judge_loader(&fixture, &ran[loader], &signatures);
            eprintln!(
                "{name} {loader}: largest difference {largest:e} (tolerance {})",
                fixture["tolerance"]
            );
            failures.extend(
                problems
                    .into_iter()
                    .map(|p| format!("{name} {loader}: {p}")),
            );
        }

        let restored = tf2::restored_variables(&python, &f16_out);
        for variable in &restored {
            let path = variable["path"].as_str().unwrap();
            let want = if retyped.iter().any(|r| r == path) {
                "float16"
            } else {
                "float32"
            };
            if variable["dtype"] != want {
                failures.push(format!(
                    "{name}: {path} restored as {}, not {want}",
                    variable["dtype"]
                ));
            }
        }
        let halves = restored.iter().filter(|v| v["dtype"] == "float16").count();
        if halves != retyped.len() {
            failures.push(format!(
                "{name}: {halves} float16 variables restored, {} retyped",
                retyped.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `--max-size` is checked against what the float16 export writes (its
/// casts make saved_model.pb larger, its variables/ smaller): one byte under
/// it is refused before anything is created, exactly it is written.
#[test]
fn max_size_is_checked_against_the_retyped_size() {
    let name = "keras_bn_dropout";
    let dir = tempfile::tempdir().unwrap();
    let measured = dir.path().join("measured");
    export(
        name,
        &measured,
        &["--weights", "f16", "--weights-min-size", MIN_ELEMENTS],
    );
    let f16_bytes = dir_bytes(&measured);
    let source = tf2::saved_model(name);
    let with_limit = |out: &Path, limit: &str| {
        common::servegraph(&[
            "export",
            common::path_str(&source),
            common::path_str(out),
            "--weights",
            "f16",
            "--weights-min-size",
            MIN_ELEMENTS,
            "--max-size",
            limit,
        ])
    };

    let refused = dir.path().join("refused");
    let limit = (f16_bytes - 1).to_string();
    let output = with_limit(&refused, &limit);
    assert!(
        !output.status.success(),
        "an export over --max-size succeeded"
    );
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains(&limit),
        "the refusal names the limit: {stderr}"
    );
    assert!(
        !refused.exists(),
        "nothing is written when the size is refused"
    );

    let fits = dir.path().join("fits");
    let output = with_limit(&fits, &f16_bytes.to_string());
    assert!(output.status.success(), "{}", common::stderr(&output));
    assert_eq!(dir_bytes(&fits), f16_bytes);
}

/// An export of `module_function` with `flags` fails, naming `flag`, and
/// writes nothing.
fn refused(flags: &[&str], flag: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let source = tf2::saved_model("module_function");
    let mut args = vec!["export", common::path_str(&source), common::path_str(&out)];
    args.extend_from_slice(flags);
    let output = common::servegraph(&args);
    assert!(!output.status.success(), "{flags:?} succeeded");
    let stderr = common::stderr(&output);
    assert!(stderr.contains(flag), "{flags:?}: {stderr}");
    assert!(!out.exists(), "{flags:?}: nothing is written");
    stderr
}

#[test]
fn int8_weights_are_refused_on_a_tf2_source() {
    let stderr = refused(&["--weights", "int8"], "--weights int8");
    assert!(
        stderr.contains("f16"),
        "the refusal says what works instead: {stderr}"
    );
}

#[test]
fn freeze_is_refused_on_a_tf2_source_with_what_to_use_instead() {
    let stderr = refused(&["--freeze"], "--freeze");
    assert!(
        stderr.contains("--output"),
        "the refusal says what works instead: {stderr}"
    );
}
