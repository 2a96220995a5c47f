//! What `export` prints: the summary that stays short, `--verbose`,
//! `--quiet`, `--timings`, the JSON contract, and the progress bar that
//! never draws when stderr is not a terminal (it is not, here).

use crate::common;

use common::servegraph;

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use prost::Message;
use serde_json::Value;
use servegraph::bundle::BundleWriter;
use servegraph::bundle::writer::COPY_CHUNK_BYTES;
use servegraph::proto::attr_value::Value as Attr;
use servegraph::proto::{AttrValue, DataType, GraphDef, NodeDef};
use servegraph::write::progress::CopyProgress;

const INPUT: &str = "images=IteratorGetNext:0";
const OUTPUT: &str = "logits=logits/BiasAdd:0";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exports the batch-norm CNN fixture (a pass removes dozens of nodes in
/// one category) to `out` with `extra` flags; the export must succeed.
fn export_cnn(out: &Path, extra: &[&str]) -> Output {
    let source = common::testdata("fixtures/cnn_dataset_bn");
    let mut args = vec![
        "export",
        source.to_str().unwrap(),
        out.to_str().unwrap(),
        "--input",
        INPUT,
        "--output",
        OUTPUT,
    ];
    args.extend_from_slice(extra);
    let output = servegraph(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_no_escape_codes(&output);
    output
}

fn export_cnn_json(out: &Path) -> Value {
    let output = export_cnn(out, &["--json"]);
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

fn assert_no_escape_codes(output: &Output) {
    for stream in [&output.stdout, &output.stderr] {
        assert!(
            !stream.contains(&0x1b) && !stream.contains(&b'\r'),
            "terminal control codes in the output of a piped export: {:?}",
            text(stream)
        );
    }
}

fn pass_names(report: &Value) -> Vec<String> {
    report["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pass"].as_str().unwrap().to_string())
        .collect()
}

/// The stages every export of a checkpoint times, passes aside.
const FIXED_STAGES: [&str; 8] = [
    "decode",
    "ir build",
    "restore build",
    "encode",
    "variable copy",
    "fsync",
    "total",
    "locate",
];

#[test]
fn timings_prints_a_row_per_stage_after_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_cnn_json(&dir.path().join("json"));
    let output = export_cnn(&dir.path().join("text"), &["--timings"]);
    let stdout = text(&output.stdout);
    let (summary, table) = stdout.split_once("timings:\n").expect("a timings table");
    assert!(summary.contains("variables kept"), "{summary}");
    let rows: Vec<&str> = table
        .lines()
        .filter_map(|line| line.split("  ").find(|s| !s.is_empty()))
        .collect();
    let mut wanted: Vec<String> = FIXED_STAGES.iter().map(|s| s.to_string()).collect();
    wanted.extend(pass_names(&report));
    for stage in &wanted {
        assert!(
            rows.contains(&stage.as_str()),
            "no row {stage:?} in\n{table}"
        );
    }
    for line in table.lines() {
        assert!(line.contains(" ms ") && line.ends_with('%'), "{line}");
    }
    let total = table.lines().last().unwrap();
    assert!(
        total.contains("total") && total.ends_with("100.0 %"),
        "{total}"
    );
}

#[test]
fn json_keeps_every_old_key_and_adds_the_timings() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_cnn_json(&dir.path().join("model"));
    let old_keys = [
        "source",
        "output",
        "nodes_before",
        "nodes_after",
        "passes",
        "signatures",
        "kept",
        "dropped",
        "written",
        "total_bytes",
        "fits_mls1",
        "fits_n1",
    ];
    for key in old_keys {
        assert!(report.get(key).is_some(), "--json lost {key:?}");
    }
    let written_keys = [
        "path",
        "variables",
        "assets",
        "saved_model_bytes",
        "variables_bytes",
        "assets_bytes",
        "warnings",
    ];
    for key in written_keys {
        assert!(report["written"].get(key).is_some(), "written lost {key:?}");
    }
    for key in ["pass", "removed", "added", "rewired", "notes", "micros"] {
        assert!(
            report["passes"][0].get(key).is_some(),
            "a pass lost {key:?}"
        );
    }

    let timings = report["timings"].as_array().expect("a timings array");
    let micros = |stage: &str| -> u64 {
        let entry = timings.iter().find(|t| t["stage"] == stage);
        let entry = entry.unwrap_or_else(|| panic!("no stage {stage:?}: {timings:?}"));
        entry["micros"]
            .as_u64()
            .expect("micros is a non-negative integer")
    };
    let mut stages: Vec<String> = FIXED_STAGES.iter().map(|s| s.to_string()).collect();
    stages.extend(pass_names(&report));
    for stage in &stages {
        micros(stage);
    }
    // Every stage, the listed ones and any other (say validation in debug builds).
    let parts: u64 = timings
        .iter()
        .filter(|t| t["stage"] != "total")
        .map(|t| {
            t["micros"]
                .as_u64()
                .expect("micros is a non-negative integer")
        })
        .sum();
    assert!(micros("total") > 0);
    assert!(
        parts <= micros("total"),
        "stages add up to {parts} µs, more than the total {} µs",
        micros("total")
    );
    for pass in report["passes"].as_array().unwrap() {
        let name = pass["pass"].as_str().unwrap();
        assert_eq!(Some(micros(name)), pass["micros"].as_u64(), "{name}");
    }
}

#[test]
fn the_summary_shows_a_few_names_and_verbose_shows_all() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_cnn_json(&dir.path().join("json"));
    let summary = text(&export_cnn(&dir.path().join("summary"), &[]).stdout);
    let verbose = text(&export_cnn(&dir.path().join("verbose"), &["--verbose"]).stdout);

    let mut long_lists = 0;
    for pass in report["passes"].as_array().unwrap() {
        for (reason, nodes) in pass["removed"].as_object().unwrap() {
            let nodes: Vec<&str> = nodes
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            // Every name, on lines wrapped at 120 characters.
            assert!(
                verbose.contains(&format!("      {reason}: ")),
                "--verbose lacks {reason}"
            );
            for node in &nodes {
                assert!(verbose.contains(node), "--verbose lacks {node}");
            }
            // The summary counts each category on its pass's one line.
            let count = format!("{} {reason}", nodes.len());
            assert!(
                summary.contains(&count),
                "the summary lacks {count:?}:\n{summary}"
            );
            if nodes.len() > 5 {
                long_lists += 1;
            }
        }
    }
    assert!(
        long_lists > 0,
        "the fixture has no category of more than 5 nodes"
    );
    for name in ["kept", "dropped"] {
        for v in report[name].as_array().unwrap() {
            let key = v["key"].as_str().unwrap();
            assert!(
                verbose.contains(&format!("  {key} ")),
                "--verbose lacks {key}"
            );
        }
    }
    assert!(summary.len() < verbose.len());
    let widest = verbose
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    assert!(
        widest <= 300,
        "--verbose wraps its lists: a line of {widest}"
    );
}

#[test]
fn quiet_prints_nothing_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let output = export_cnn(&out, &["--quiet"]);
    assert_eq!(text(&output.stdout), "");
    assert_eq!(text(&output.stderr), "");
    assert!(out.join("saved_model.pb").is_file());
}

#[test]
fn quiet_still_prints_errors() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::testdata("fixtures/cnn_dataset_bn");
    let output = servegraph(&[
        "export",
        source.to_str().unwrap(),
        dir.path().join("model").to_str().unwrap(),
        "--output",
        "logits=no_such_tensor:0",
        "--quiet",
    ]);
    assert!(!output.status.success());
    assert_eq!(text(&output.stdout), "");
    assert!(
        text(&output.stderr).contains("no_such_tensor"),
        "{}",
        text(&output.stderr)
    );
}

/// A GraphDef serving `y = x * w` whose variable `w` holds `bytes` of
/// floats, and its checkpoint; returns (graph file, checkpoint prefix).
fn graph_with_a_big_variable(dir: &Path, bytes: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let attr = |value| AttrValue { value: Some(value) };
    let float = || attr(Attr::Type(DataType::DtFloat as i32));
    let node = |name: &str, op: &str, inputs: &[&str]| NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        ..NodeDef::default()
    };
    let elements = (bytes / 4) as i64;
    let mut x = node("x", "Placeholder", &[]);
    x.attr.insert("dtype".into(), float());
    let mut w = node("w", "VariableV2", &[]);
    w.attr.insert("dtype".into(), float());
    let shape = servegraph::typing::shape_proto(&[elements]);
    w.attr.insert("shape".into(), attr(Attr::Shape(shape)));
    let mut read = node("w/read", "Identity", &["w"]);
    read.attr.insert("T".into(), float());
    let mut y = node("y", "Mul", &["x", "w/read"]);
    y.attr.insert("T".into(), float());
    let graph = GraphDef {
        node: vec![x, w, read, y],
        ..GraphDef::default()
    };
    let graph_file = dir.join("big.pb");
    std::fs::write(&graph_file, graph.encode_to_vec()).unwrap();
    let prefix = dir.join("big.ckpt");
    let mut writer = BundleWriter::create(&prefix).unwrap();
    let values = vec![0u8; elements as usize * 4];
    writer
        .add("w", DataType::DtFloat, &[elements], &values)
        .unwrap();
    writer.finish().unwrap();
    (graph_file, prefix)
}

#[test]
fn a_large_copy_draws_no_bar_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    // Above the size that shows the bar from the start on a terminal.
    let (graph, prefix) = graph_with_a_big_variable(&run, 65 << 20);
    let output = servegraph(&[
        "export",
        graph.to_str().unwrap(),
        dir.path().join("model").to_str().unwrap(),
        "--checkpoint",
        prefix.to_str().unwrap(),
        "--input",
        "x=x:0",
        "--output",
        "y=y:0",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_no_escape_codes(&output);
    assert_eq!(text(&output.stderr), "", "stderr of a piped export");
    assert!(text(&output.stdout).contains("variables kept: 1 (68.2 MB)"));
}

/// Every call a [`CopyProgress`] received, in order.
#[derive(Debug, Default)]
struct Recorded(Mutex<Vec<(&'static str, u64)>>);

impl CopyProgress for Recorded {
    fn start(&self, total_bytes: u64) {
        self.0.lock().unwrap().push(("start", total_bytes));
    }
    fn advance(&self, bytes: u64) {
        self.0.lock().unwrap().push(("advance", bytes));
    }
    fn finish(&self) {
        self.0.lock().unwrap().push(("finish", 0));
    }
}

#[test]
fn the_library_tells_its_progress_callback_every_byte_copied() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = Arc::new(Recorded::default());
    let options = {
        let mut custom = common::fixture_options("cnn_dataset_bn");
        custom.output.progress = Some(recorded.clone());
        custom
    };
    let source = common::testdata("fixtures/cnn_dataset_bn");
    let report =
        servegraph::export_serving_model(&source, dir.path().join("model"), &options).unwrap();
    let calls = recorded.0.lock().unwrap().clone();
    let kept: u64 = report.kept.iter().map(|v| v.bytes).sum();
    assert_eq!(calls.first(), Some(&("start", kept)), "{calls:?}");
    assert_eq!(calls.last(), Some(&("finish", 0)), "{calls:?}");
    let advances: Vec<u64> = calls
        .iter()
        .filter(|(call, _)| *call == "advance")
        .map(|(_, bytes)| *bytes)
        .collect();
    // Chunks, never empty and never more than the writer's chunk: at least
    // one per kept tensor that has bytes.
    let nonempty = report.kept.iter().filter(|v| v.bytes > 0).count();
    assert!(advances.len() >= nonempty, "{advances:?}");
    assert!(
        advances.iter().all(|&b| b > 0 && b <= COPY_CHUNK_BYTES),
        "{advances:?}"
    );
    assert_eq!(advances.iter().sum::<u64>(), report.written.variables_bytes);
    assert_eq!(report.written.variables_bytes, kept);
}

#[test]
fn one_large_tensor_advances_chunk_by_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let size = 2 * COPY_CHUNK_BYTES + COPY_CHUNK_BYTES / 2;
    let (graph, prefix) = graph_with_a_big_variable(&run, size as usize);
    let recorded = Arc::new(Recorded::default());
    let options = {
        let mut custom = servegraph::ExportOptions::default();
        custom.serving.inputs = vec!["x=x:0".parse().unwrap()];
        custom.serving.outputs = vec!["y=y:0".parse().unwrap()];
        custom.source.checkpoint = Some(prefix);
        custom.output.progress = Some(recorded.clone());
        custom
    };
    let report =
        servegraph::export_serving_model(&graph, dir.path().join("model"), &options).unwrap();
    let calls = recorded.0.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            ("start", size),
            ("advance", COPY_CHUNK_BYTES),
            ("advance", COPY_CHUNK_BYTES),
            ("advance", COPY_CHUNK_BYTES / 2),
            ("finish", 0),
        ]
    );
    assert_eq!(report.written.variables_bytes, size);
}
