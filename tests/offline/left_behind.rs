//! The export report's account of a training directory's files that stay
//! behind: categories, byte sums, and an output that holds none of them.

use crate::common;

use common::{path_str, servegraph, stderr};

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

const INPUT: &str = "images=IteratorGetNext:0";
const OUTPUT: &str = "logits=logits/BiasAdd:0";

/// Extra files a training run leaves, as (relative path, bytes).
const EXTRAS: &[(&str, usize)] = &[
    ("model.ckpt-5.index", 101),
    ("model.ckpt-5.meta", 202),
    ("model.ckpt-5.data-00000-of-00001", 303),
    ("events.out.tfevents.1700000000.trainer", 404),
    ("graph.pbtxt", 505),
    ("eval/events.out.tfevents.1700000001.trainer", 606),
    ("eval/more/notes", 7),
    ("stray.bin", 8),
];

/// A copy of the batch-norm CNN fixture's directory with `EXTRAS` added.
fn training_dir(root: &Path) -> PathBuf {
    let source = common::testdata("fixtures/cnn_dataset_bn");
    let dir = root.join("train");
    fs::create_dir(&dir).unwrap();
    for entry in fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    for (name, bytes) in EXTRAS {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, vec![7u8; *bytes]).unwrap();
    }
    dir
}

fn export(source: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        path_str(source),
        path_str(out),
        "--input",
        INPUT,
        "--output",
        OUTPUT,
    ];
    args.extend_from_slice(extra);
    let output = servegraph(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

/// The (bytes, count) of the left-behind entries in `category`.
fn category(report: &Value, name: &str) -> (u64, usize) {
    let files = report["left_behind"]["files"].as_array().unwrap();
    let of: Vec<&Value> = files.iter().filter(|f| f["category"] == name).collect();
    let bytes = of.iter().map(|f| f["bytes"].as_u64().unwrap()).sum();
    (bytes, of.len())
}

/// Every file name under `dir`.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            names.extend(file_names(&entry.path()));
        } else {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

#[test]
fn json_reports_each_category_with_its_bytes_and_the_output_holds_none() {
    let root = tempfile::tempdir().unwrap();
    let train = training_dir(root.path());
    let out = root.path().join("model");
    let output = export(&train, &out, &["--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(category(&report, "other_checkpoint"), (101 + 202 + 303, 3));
    assert_eq!(category(&report, "events"), (404, 1));
    assert_eq!(category(&report, "graph_text"), (505, 1));
    assert_eq!(category(&report, "subdirectory"), (606 + 7, 1));
    let state = file_size(&train.join("checkpoint"));
    assert_eq!(category(&report, "checkpoint_state"), (state, 1));
    let others = ["fixture.json", "variables.json", "stray.bin"];
    let other_bytes = others.iter().map(|n| file_size(&train.join(n))).sum();
    assert_eq!(category(&report, "other"), (other_bytes, 3));

    let files = report["left_behind"]["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .all(|f| !f["name"].as_str().unwrap().starts_with("model.ckpt-10"))
    );
    let steps: Vec<u64> = files.iter().filter_map(|f| f["step"].as_u64()).collect();
    assert_eq!(steps, [5, 5, 5]);
    let dropped: u64 = report["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["bytes"].as_u64().unwrap())
        .sum();
    assert!(dropped > 0, "the fixture's optimizer slots are dropped");
    assert_eq!(
        report["left_behind"]["checkpoint_bytes_not_kept"].as_u64(),
        Some(dropped)
    );

    let written = file_names(&out);
    for name in files.iter().map(|f| f["name"].as_str().unwrap()) {
        assert!(!written.iter().any(|w| w == name), "{name} in the output");
    }
    for (name, _) in EXTRAS {
        let base = Path::new(name).file_name().unwrap().to_str().unwrap();
        assert!(!written.iter().any(|w| w == base), "{base} in the output");
    }
}

#[test]
fn the_text_summarises_categories_and_verbose_names_every_file() {
    let root = tempfile::tempdir().unwrap();
    let train = training_dir(root.path());
    for i in 0..12 {
        fs::write(train.join(format!("scratch{i:02}.txt")), b"x").unwrap();
    }
    let summary = export(&train, &root.path().join("a"), &[]);
    let summary = String::from_utf8_lossy(&summary.stdout).into_owned();
    assert!(summary.contains("left behind in "), "{summary}");
    assert!(!summary.contains("scratch11.txt"), "{summary}");

    let verbose = export(&train, &root.path().join("b"), &["--verbose"]);
    let verbose = String::from_utf8_lossy(&verbose.stdout).into_owned();
    assert!(verbose.contains("scratch11.txt"), "{verbose}");
    assert!(
        verbose.contains("  other checkpoints: 3 (606 B)"),
        "{verbose}"
    );
    assert!(verbose.contains("  other: 15 ("), "{verbose}");
    assert!(!verbose.contains("… and 5 more"), "{verbose}");
}

#[test]
fn a_saved_model_source_reports_nothing_left_behind() {
    let root = tempfile::tempdir().unwrap();
    let train = training_dir(root.path());
    let first = root.path().join("first");
    export(&train, &first, &[]);
    let output = servegraph(&[
        "export",
        path_str(&first),
        path_str(&root.path().join("second")),
        "--output",
        OUTPUT,
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["left_behind"], Value::Null);
}
