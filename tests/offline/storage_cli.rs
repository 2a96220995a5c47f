//! `export --weights f16|int8 --weights-min-size N --narrow-int64` from the
//! command line: the flags reach the library, the JSON carries the storage
//! section, the text report summarizes it, bad values are refused.

use crate::common;

use common::{path_str, servegraph, stderr};

fn fixture(name: &str) -> String {
    common::testdata("fixtures")
        .join(name)
        .display()
        .to_string()
}

/// `export tiny_mlp OUT` with its input and output and `extra` flags.
fn export_tiny(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        "--input",
        "features=IteratorGetNext:0",
        "--output",
        "logits=logits/BiasAdd:0",
    ];
    let source = fixture("tiny_mlp");
    args.push(&source);
    args.push(path_str(out));
    args.extend(extra);
    servegraph(&args)
}

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn int8_weights_are_reported_per_tensor_with_bytes_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("int8");
    let report = json(&export_tiny(
        &out,
        &["--weights", "int8", "--weights-min-size", "0", "--json"],
    ));
    let storage = &report["storage"];
    assert_eq!(storage["weights"], "int8");
    assert_eq!(storage["min_elements"], 0);
    let converted = storage["converted"].as_array().unwrap();
    let names: Vec<&str> = converted
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "hidden/bias",
            "hidden/kernel",
            "logits/bias",
            "logits/kernel"
        ]
    );
    let kernel = &converted[1];
    assert_eq!(
        (kernel["from"].as_str(), kernel["to"].as_str()),
        (Some("float32"), Some("int8"))
    );
    // [4, 3]: 12 int8 bytes and 3 float32 scales.
    assert_eq!(
        (
            kernel["bytes_before"].as_u64(),
            kernel["bytes_after"].as_u64()
        ),
        (Some(48), Some(24))
    );
    let error = kernel["max_abs_error"].as_f64().unwrap();
    let largest = kernel["max_abs_value"].as_f64().unwrap();
    assert!(
        error > 0.0 && error <= largest / 254.0 * 1.0001,
        "{error} vs {largest}"
    );
    assert!(kernel["max_rel_error"].as_f64().unwrap() > 0.0);
    let before: u64 = converted
        .iter()
        .map(|t| t["bytes_before"].as_u64().unwrap())
        .sum();
    assert_eq!(storage["bytes_before"].as_u64(), Some(before));
    // The JSON carries the storage section once, not again under `written`.
    assert!(report["written"].get("storage").is_none());
}

#[test]
fn the_default_threshold_keeps_small_weights_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let report = json(&export_tiny(
        &dir.path().join("f16"),
        &["--weights", "f16", "--json"],
    ));
    let storage = &report["storage"];
    assert_eq!(storage["min_elements"], 1024);
    assert_eq!(storage["converted"].as_array().unwrap().len(), 0);
    let skipped = storage["skipped"].as_array().unwrap();
    let kernel = skipped
        .iter()
        .find(|t| t["name"] == "hidden/kernel")
        .unwrap();
    assert_eq!(kernel["reason"], "12 elements, below the threshold of 1024");
    assert_eq!(kernel["kind"], "variable");
}

#[test]
fn the_text_report_has_a_storage_section_and_no_conversion_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let output = export_tiny(
        &dir.path().join("a"),
        &["--weights", "f16", "--weights-min-size", "0", "--verbose"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("storage: 4 converted, 92 B -> 46 B"),
        "{text}"
    );
    assert!(
        text.contains("hidden/kernel float32 -> float16 [4, 3] 48 B -> 24 B"),
        "{text}"
    );
    let plain = json(&export_tiny(&dir.path().join("b"), &["--json"]));
    assert!(plain["storage"].is_null());
}

#[test]
fn an_unknown_precision_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad");
    let output = export_tiny(&out, &["--weights", "int4"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("int4"), "{}", stderr(&output));
    assert!(!out.exists());
}
