//! `--version N` writes TensorFlow Serving's layout, `OUT/N/`; `--version
//! auto` the next version after the highest; earlier versions stay as they
//! were, an existing version is refused, and a failed export into a folder
//! that did not exist leaves nothing.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::{path_str, servegraph, stderr};

fn export(out: &Path, version: &str) -> Output {
    let source = common::testdata("fixtures/tiny_mlp");
    servegraph(&[
        "export",
        path_str(&source),
        path_str(out),
        "--input",
        "features=IteratorGetNext:0",
        "--output",
        "logits=logits/BiasAdd:0",
        "--version",
        version,
        "-q",
    ])
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn versions_are_numbered_subdirectories_and_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("model");
    for _ in 0..2 {
        let output = export(&root, "auto");
        assert!(output.status.success(), "{}", stderr(&output));
    }
    assert!(root.join("1/saved_model.pb").is_file());
    assert!(root.join("2/saved_model.pb").is_file());
    let first = modified(&root.join("1/saved_model.pb"));
    let output = export(&root, "7");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(root.join("7/variables/variables.index").is_file());
    let output = export(&root, "auto");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        root.join("8/saved_model.pb").is_file(),
        "auto follows the highest"
    );
    let refused = export(&root, "2");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("version 2 exists already"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(modified(&root.join("1/saved_model.pb")), first);
    let validated = servegraph(&["validate", path_str(&root.join("8")), "--strict"]);
    assert!(validated.status.success(), "{}", stderr(&validated));
}

#[test]
fn a_bad_version_or_a_failed_export_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("model");
    let output = export(&root, "v2");
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&output).contains("not a version"),
        "{}",
        stderr(&output)
    );
    let source = common::testdata("fixtures/tiny_mlp");
    let failed = servegraph(&[
        "export",
        path_str(&source),
        path_str(&root),
        "--output",
        "logits=no_such_node:0",
        "--version",
        "1",
    ]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(!root.exists(), "the folder made for the version is gone");
}
