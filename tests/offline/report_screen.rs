//! The default export report fits a screen: at most 30 lines, none wider
//! than 120 characters, on every fixture, every TF2 SavedModel and a
//! synthetic graph of thousands of nodes and hundreds of variables; it
//! opens with what was written and how to call it and closes with what to
//! run next. `--verbose` keeps every detail.

use crate::common;

use std::path::Path;

use common::{path_str, servegraph, stderr, tf2};
use prost::Message;
use servegraph::bundle::BundleWriter;
use servegraph::proto::attr_value::Value as Attr;
use servegraph::proto::{AttrValue, DataType, GraphDef, NodeDef};

const MAX_LINES: usize = 30;
const MAX_WIDTH: usize = 120;

fn assert_fits(what: &str, report: &str, out: &Path) {
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines.len() <= MAX_LINES,
        "{what}: {} lines:\n{report}",
        lines.len()
    );
    for line in &lines {
        assert!(
            line.chars().count() <= MAX_WIDTH,
            "{what}: a line of {}: {line}",
            line.chars().count()
        );
    }
    assert!(lines[0].starts_with("exported "), "{what}: {report}");
    assert!(
        lines[1].starts_with("signature "),
        "{what}: the call comes first: {report}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("size: ")),
        "{what}: {report}"
    );
    let next = format!("next: servegraph validate {}", out.display());
    assert!(lines.last().unwrap().starts_with(&next), "{what}: {report}");
}

#[test]
fn every_fixture_report_fits_a_screen() {
    let dir = tempfile::tempdir().unwrap();
    for fixture in common::fixture_names() {
        let out = dir.path().join(&fixture);
        let output = common::export_fixture_cli(&fixture, &out, &["--weights", "f16"]);
        assert!(output.status.success(), "{fixture}: {}", stderr(&output));
        assert_fits(&fixture, &String::from_utf8_lossy(&output.stdout), &out);
    }
    for fixture in tf2::fixture_names() {
        let out = dir.path().join(format!("tf2-{fixture}"));
        let source = tf2::saved_model(&fixture);
        let output = servegraph(&["export", path_str(&source), path_str(&out)]);
        assert!(output.status.success(), "{fixture}: {}", stderr(&output));
        assert_fits(&fixture, &String::from_utf8_lossy(&output.stdout), &out);
    }
}

fn node(name: String, op: &str, inputs: Vec<String>) -> NodeDef {
    let float = AttrValue {
        value: Some(Attr::Type(DataType::DtFloat as i32)),
    };
    let mut n = NodeDef {
        name,
        op: op.into(),
        input: inputs,
        ..NodeDef::default()
    };
    n.attr.insert("T".into(), float.clone());
    n.attr.insert("dtype".into(), float);
    n
}

/// A graph of `layers` layers, each a variable added to the running sum
/// with its gradient, update and summary beside, and its checkpoint.
fn big_training_graph(
    dir: &Path,
    layers: usize,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let prefix = dir.join("model.ckpt-1");
    let mut writer = BundleWriter::create(&prefix).unwrap();
    let mut graph = GraphDef::default();
    graph.node.push(node("x".into(), "Placeholder", vec![]));
    let mut previous = "x".to_string();
    for i in 0..layers {
        let var = format!("layer{i:04}/weight_with_a_long_descriptive_name");
        let mut v = node(var.clone(), "VariableV2", vec![]);
        v.attr.insert(
            "shape".into(),
            AttrValue {
                value: Some(Attr::Shape(servegraph::typing::shape_proto(&[1]))),
            },
        );
        let add = format!("layer{i:04}/add");
        graph.node.extend([
            v,
            node(format!("{var}/read"), "Identity", vec![var.clone()]),
            node(
                add.clone(),
                "AddV2",
                vec![previous.clone(), format!("{var}/read")],
            ),
            node(
                format!("gradients/layer{i:04}/grad"),
                "ReluGrad",
                vec![add.clone(), previous.clone()],
            ),
            node(
                format!("train/layer{i:04}/update"),
                "ApplyGradientDescent",
                vec![var.clone(), format!("gradients/layer{i:04}/grad")],
            ),
            node(
                format!("summaries/layer{i:04}"),
                "HistogramSummary",
                vec![add.clone()],
            ),
        ]);
        writer
            .add(&var, DataType::DtFloat, &[1], &(i as f32).to_le_bytes())
            .unwrap();
        previous = add;
    }
    writer.finish().unwrap();
    let file = dir.join("graph.pb");
    std::fs::write(&file, graph.encode_to_vec()).unwrap();
    (file, prefix, previous)
}

#[test]
fn a_big_graph_report_fits_a_screen_and_verbose_keeps_the_details() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("run");
    std::fs::create_dir(&source).unwrap();
    let (graph, checkpoint, last) = big_training_graph(&source, 800);
    let out = dir.path().join("model");
    let output_spec = format!("y={last}:0");
    let args = [
        "export",
        path_str(&graph),
        path_str(&out),
        "--checkpoint",
        path_str(&checkpoint),
        "--input",
        "x=x:0",
        "--output",
        &output_spec,
    ];
    let output = servegraph(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_fits("synthetic graph", &report, &out);
    assert!(report.contains("variables kept: 800 ("), "{report}");
    let verbose = dir.path().join("verbose");
    let mut args = args.to_vec();
    args[2] = path_str(&verbose);
    args.push("--verbose");
    let output = servegraph(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let detailed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        detailed.contains("layer0799/weight_with_a_long_descriptive_name"),
        "every variable"
    );
    assert!(detailed.lines().count() > report.lines().count());
}

/// A pass that only edits nodes in place (the batch rewrite of a baked-in
/// training batch) lists them in `edited` (`--json`), and the summary's
/// line for it counts them.
#[test]
fn a_pass_that_edits_in_place_counts_its_edits() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::testdata("batch_fixtures/fill_tile_attention");
    let out = dir.path().join("model");
    let mut args = vec![
        "export".to_string(),
        path_str(&source).to_string(),
        path_str(&out).to_string(),
    ];
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source.join("fixture.json")).unwrap())
            .unwrap();
    for (flag, field) in [("--input", "inputs"), ("--output", "outputs")] {
        for (key, spec) in json[field].as_object().unwrap() {
            args.push(flag.into());
            args.push(format!("{key}={}", spec["tensor"].as_str().unwrap()));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = servegraph(&args);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let mut with_json = args.clone();
    with_json.extend(["--overwrite", "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&servegraph(&with_json).stdout).expect("JSON");
    let passes = report["passes"].as_array().unwrap();
    let rewrite = passes
        .iter()
        .find(|p| p["pass"] == "batch-rewrite")
        .unwrap();
    let edited = rewrite["edited"].as_array().unwrap();
    assert_eq!(edited.len(), 2, "{rewrite}");
    assert!(rewrite["removed"].as_object().unwrap().is_empty());
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("batch-rewrite"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("edited 2 in place: "), "{line}");
}
