//! `servegraph transform` without TensorFlow: formats in and out, and that
//! bad transforms, bad arguments and unsafe outputs are errors that write
//! nothing. (Outputs computed by TensorFlow: `transform_interop.rs`.)

use crate::common;

use std::path::Path;

use common::{export_fixture_cli, path_str, servegraph, stderr};
use prost::Message;

/// A SavedModel of fixture `tiny_mlp` in `dir`, and that graph as a text GraphDef.
fn sources(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let saved = dir.join("saved");
    let export = export_fixture_cli("tiny_mlp", &saved, &["-q"]);
    assert!(export.status.success(), "{}", stderr(&export));
    let text = dir.join("graph.pbtxt");
    let out = servegraph(&[
        "transform",
        path_str(&saved),
        path_str(&text),
        "--transforms",
        "sort_by_execution_order",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    (saved, text)
}

fn transform(input: &Path, output: &Path, transforms: &str) -> std::process::Output {
    servegraph(&[
        "transform",
        path_str(input),
        path_str(output),
        "--transforms",
        transforms,
    ])
}

#[test]
fn graph_defs_keep_their_format_unless_the_extension_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = sources(dir.path());
    let content = std::fs::read_to_string(&text).unwrap();
    assert!(content.contains("node"), "a text GraphDef: {content:.200}");

    let same = dir.path().join("same");
    assert!(transform(&text, &same, "remove_device").status.success());
    let same_bytes = std::fs::read(&same).unwrap();
    assert!(std::str::from_utf8(&same_bytes).is_ok_and(|t| t.contains("node")));

    let binary = dir.path().join("graph.pb");
    assert!(transform(&text, &binary, "remove_device").status.success());
    let graph = servegraph::proto::GraphDef::decode(std::fs::read(&binary).unwrap().as_slice())
        .expect("a binary GraphDef");
    assert!(!graph.node.is_empty());
    assert!(graph.node.iter().all(|n| n.device.is_empty()));
}

#[test]
fn remove_nodes_leaves_no_identity_that_carries_no_control_flow() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = sources(dir.path());
    let binary = dir.path().join("out.pb");
    let out = servegraph(&[
        "transform",
        path_str(&text),
        path_str(&binary),
        "--outputs",
        "logits/BiasAdd",
        "--transforms",
        "remove_nodes(op=Identity)",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed = report["passes"][0]["removed"]["removed-op"]
        .as_array()
        .unwrap();
    assert!(!removed.is_empty(), "{report}");
    let graph =
        servegraph::proto::GraphDef::decode(std::fs::read(&binary).unwrap().as_slice()).unwrap();
    for node in graph.node.iter().filter(|n| n.op == "Identity") {
        let has_control = node.input.iter().any(|i| i.starts_with('^'));
        let is_control_source = graph
            .node
            .iter()
            .any(|m| m.input.iter().any(|i| *i == format!("^{}", node.name)));
        assert!(has_control || is_control_source, "{} stayed", node.name);
    }
}

#[test]
fn unknown_transforms_and_arguments_list_the_valid_ones_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = sources(dir.path());
    let out_path = dir.path().join("out.pbtxt");
    let cases = [
        ("fold_everything", "strip_unused_nodes"),
        (
            "remove_nodes(ops=Identity)",
            "its arguments are: op, max_inputs",
        ),
        ("remove_nodes(op=Identity", "at character 24"),
        ("set_device", "needs argument \"device\""),
        ("", "no transforms were given"),
    ];
    for (transforms, expected) in cases {
        let out = transform(&text, &out_path, transforms);
        assert!(!out.status.success(), "{transforms}");
        let message = stderr(&out);
        assert!(message.contains(expected), "{transforms}: {message}");
        assert!(!out_path.exists(), "{transforms} wrote its output");
    }
}

#[test]
fn the_input_is_never_overwritten_nor_an_existing_output_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (saved, text) = sources(dir.path());
    let before = std::fs::read(&text).unwrap();
    let out = transform(&text, &text, "remove_device");
    assert!(stderr(&out).contains("is the input"), "{}", stderr(&out));
    let inside = saved.join("graph.pb");
    let out = transform(&saved, &inside, "remove_device");
    assert!(stderr(&out).contains("is the input"), "{}", stderr(&out));
    assert!(!inside.exists());

    let existing = dir.path().join("existing.pbtxt");
    std::fs::write(&existing, "keep me").unwrap();
    let out = transform(&text, &existing, "remove_device");
    assert!(stderr(&out).contains("--overwrite"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert_eq!(std::fs::read(&text).unwrap(), before);
}

#[test]
fn list_names_every_transform_with_its_arguments() {
    let out = servegraph(&["transform", "--list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "strip_unused_nodes",
        "remove_nodes",
        "set_device",
        "rename_attribute",
        "obfuscate_names",
        "dropout",
        "training_conds",
    ] {
        assert!(
            text.contains(&format!("{name}: ")),
            "{name} missing:\n{text}"
        );
    }
    assert!(
        text.contains("  op (string, required, repeatable)"),
        "{text}"
    );
}

#[test]
fn ignore_errors_leaves_the_graph_as_it_was_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = sources(dir.path());
    let out_path = dir.path().join("out.pb");
    // strip_unused_nodes needs outputs; a bare GraphDef names none.
    let failing = transform(&text, &out_path, "strip_unused_nodes remove_device");
    assert!(
        stderr(&failing).contains("no outputs were given"),
        "{}",
        stderr(&failing)
    );
    assert!(stderr(&failing).contains("hint: name the graph's inputs and outputs"));
    assert!(!out_path.exists());
    let out = servegraph(&[
        "transform",
        path_str(&text),
        path_str(&out_path),
        "--transforms",
        "strip_unused_nodes(ignore_errors=true) remove_device",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ignored = report["ignored_errors"].as_array().unwrap();
    assert_eq!(ignored.len(), 1, "{report}");
    assert!(
        ignored[0]
            .as_str()
            .unwrap()
            .starts_with("strip_unused_nodes: ")
    );
    assert_eq!(report["passes"][0]["pass"], "remove_device");
    assert_eq!(report["nodes_before"], report["nodes_after"]);
}

#[test]
fn explain_gives_each_removed_node_its_rule_and_a_kept_node_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let (saved, _) = sources(dir.path());
    let run = |out: &Path, explain: &str| {
        servegraph(&[
            "transform",
            path_str(&saved),
            path_str(out),
            "--transforms",
            "remove_nodes(op=Identity)",
            explain,
            "--json",
        ])
    };
    let every = run(&dir.path().join("every.pb"), "--explain");
    assert!(every.status.success(), "{}", stderr(&every));
    let report: serde_json::Value = serde_json::from_slice(&every.stdout).unwrap();
    let removed: Vec<&str> = report["passes"][0]["removed"]["removed-op"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(!removed.is_empty(), "{report}");
    let changes = report["explain"]["changes"].as_array().unwrap();
    for node in &removed {
        let change = changes
            .iter()
            .find(|c| c["node"] == *node)
            .unwrap_or_else(|| panic!("{node} is not explained: {report}"));
        assert_eq!(change["removed_by"]["pass"], "remove_nodes", "{change}");
        assert_eq!(change["removed_by"]["rule"], "removed-op", "{change}");
        assert_eq!(change["op"], "Identity", "{change}");
    }
    assert!(
        changes.iter().any(|c| c["removed_by"].is_null()),
        "a reader of a removed Identity is explained as rewired: {report}"
    );

    let one = run(
        &dir.path().join("one.pb"),
        &format!("--explain={}", removed[0]),
    );
    assert!(one.status.success(), "{}", stderr(&one));
    let story: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(story["explain"]["node"]["verdict"], "removed", "{story}");

    let graph = servegraph::proto::GraphDef::decode(
        std::fs::read(dir.path().join("every.pb"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let matmul = graph.node.iter().find(|n| n.op == "MatMul").unwrap();
    let kept = run(
        &dir.path().join("kept.pb"),
        &format!("--explain={}", matmul.name),
    );
    assert!(kept.status.success(), "{}", stderr(&kept));
    let story: serde_json::Value = serde_json::from_slice(&kept.stdout).unwrap();
    let node = &story["explain"]["node"];
    assert_eq!(node["verdict"], "kept", "{story}");
    let path = node["needed_by"][0]["path"].as_array().unwrap();
    assert_eq!(path[0], matmul.name.as_str(), "{story}");

    let unknown_out = dir.path().join("unknown.pb");
    let unknown = run(&unknown_out, "--explain=no_such_node");
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no_such_node"),
        "{}",
        stderr(&unknown)
    );
    assert!(
        !unknown_out.exists(),
        "nothing is written for an unknown node"
    );
}
