//! One inventory: the export report, `show`, `size` and `validate` agree on
//! what a written directory holds. A partitioned variable is one logical
//! variable with its whole shape and its slice count, and the report's
//! `output_bytes` is the directory's size as `size` measures it.

use crate::common;

use common::{export_fixture_cli, path_str, servegraph, stderr};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let output = servegraph(args);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stderr(&output)))
}

#[test]
fn a_partitioned_variable_is_one_line_with_its_whole_shape_and_slices() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let exported = export_fixture_cli("sharded_partitioned", &out, &["--verbose"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let report = String::from_utf8_lossy(&exported.stdout).into_owned();
    let embedding: Vec<&str> = report
        .lines()
        .filter(|l| l.trim_start().starts_with("embedding "))
        .collect();
    assert_eq!(embedding.len(), 1, "{report}");
    assert!(
        embedding[0].contains("[50, 8]") && embedding[0].contains("(3 slices)"),
        "{report}"
    );
    let shown = servegraph(&["show", path_str(&out)]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    let shown_line = shown
        .lines()
        .find(|l| l.trim_start().starts_with("embedding "))
        .expect("show lists the embedding");
    assert_eq!(shown_line.trim(), embedding[0].trim(), "{shown}\n{report}");
    assert!(
        report.contains("variables kept: 3 ("),
        "three logical variables: {report}"
    );
    let validated = json(&["validate", path_str(&out), "--json"]);
    assert_eq!(validated["variables"], 3, "{validated}");
}

#[test]
fn output_bytes_is_what_size_measures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let exported = export_fixture_cli("tiny_mlp", &out, &["--json"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let report: Value = serde_json::from_slice(&exported.stdout).unwrap();
    let measured = json(&["size", path_str(&out), "--json"]);
    assert_eq!(
        report["output_bytes"], measured["total_bytes"],
        "{measured}"
    );
    assert_eq!(report["output_bytes"], report["size"]["total_bytes"]);
    let validated = json(&["validate", path_str(&out), "--json"]);
    assert_eq!(validated["total_bytes"], measured["total_bytes"]);
    // The old field stays: every byte but the variables index.
    let index = std::fs::metadata(out.join("variables/variables.index"))
        .unwrap()
        .len();
    assert_eq!(
        report["total_bytes"].as_u64().unwrap() + index,
        report["output_bytes"].as_u64().unwrap()
    );
}

/// int8 and float16 exports: the report, `validate`, `show` and `size`
/// count the same variables and bytes. An int8 variable's scales are stored
/// as tensors of their own, but belong to it: one variable, its bytes the
/// quantised data and the scales.
#[test]
fn converted_weights_are_counted_alike_by_every_tool() {
    let dir = tempfile::tempdir().unwrap();
    for weights in ["int8", "f16"] {
        let out = dir.path().join(weights);
        let flags = ["--weights", weights, "--weights-min-size", "1", "--json"];
        let exported = export_fixture_cli("sharded_partitioned", &out, &flags);
        assert!(exported.status.success(), "{}", stderr(&exported));
        let report: Value = serde_json::from_slice(&exported.stdout).unwrap();
        let converted = report["storage"]["converted"].as_array().unwrap();
        assert_eq!(converted.len(), 3, "every weight converted: {report}");
        common::assert_tools_agree(&out, &report, weights);
        assert_eq!(report["variables_kept"]["count"], 3);
        // The report's bytes are what the directory holds, not the source's.
        let written = &report["written"]["variables_bytes"];
        assert_eq!(&report["variables_kept"]["bytes"], written);
        let kept_bytes = report["variables_kept"]["bytes"].as_u64().unwrap();
        let source: u64 = converted
            .iter()
            .map(|c| c["bytes_before"].as_u64().unwrap())
            .sum();
        assert!(kept_bytes < source, "{kept_bytes} < {source}");
    }
    let int8 = dir.path().join("int8");
    let validated = json(&["validate", path_str(&int8), "--json"]);
    // Three variables; the embedding's three slices and the two whole
    // tensors each have their scales: 3 + 3 + 2 stored tensors.
    assert_eq!(validated["variables"], 3, "{validated}");
    assert_eq!(validated["stored_tensors"], 8, "{validated}");
    let shown = servegraph(&["show", path_str(&int8)]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.contains("embedding int8 + scales [50, 8]") && !shown.contains("int8_scales"),
        "{shown}"
    );
}
