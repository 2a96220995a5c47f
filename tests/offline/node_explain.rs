//! `export --explain [NODE]` on the fixtures: every removed or rewired node
//! explained with its rule, a dropout's nodes tied to the dropout pass, an
//! optimizer slot to its training category, a dense layer's weights to the
//! outputs that need them (along edges the written graph really has), and
//! an unknown node refused with suggestions before anything is written.

use crate::common;

use std::collections::HashMap;
use std::path::Path;

use common::{export_fixture_cli, stderr};
use prost::Message;
use serde_json::Value;
use servegraph::node_explain::ExplainScope;
use servegraph::passes::freeze::FreezeLimits;

const FIXTURE: &str = "mlp_queue";

/// `export --json` of `FIXTURE` with `extra` flags, parsed; panics on failure.
fn export_json(out: &Path, extra: &[&str]) -> Value {
    let mut flags = vec!["--json"];
    flags.extend_from_slice(extra);
    let output = export_fixture_cli(FIXTURE, out, &flags);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn changes(report: &Value) -> &Vec<Value> {
    report["explain"]["changes"]
        .as_array()
        .expect("explain.changes")
}

fn change<'r>(report: &'r Value, node: &str) -> &'r Value {
    let found = changes(report).iter().find(|c| c["node"] == node);
    found.unwrap_or_else(|| panic!("no change for {node}"))
}

fn passes_of(rules: &Value) -> Vec<&str> {
    let rules = rules.as_array().expect("rules");
    rules.iter().filter_map(|r| r["pass"].as_str()).collect()
}

/// The dropout pass's one rewire in the report: (from, to).
fn dropout_rewire(report: &Value) -> (String, String) {
    let passes = report["passes"].as_array().unwrap();
    let dropout = passes.iter().find(|p| p["pass"] == "dropout").unwrap();
    let rewire = &dropout["rewired"][0];
    let name = |field: &str| rewire[field].as_str().unwrap().to_string();
    (name("from"), name("to"))
}

fn node_of(tensor: &str) -> &str {
    tensor.rsplit_once(':').map_or(tensor, |(node, _)| node)
}

#[test]
fn a_dropout_is_explained_as_bypassed_by_the_dropout_pass() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_json(&dir.path().join("out"), &["--explain"]);
    let (from, to) = dropout_rewire(&report);
    let bypassed = change(&report, node_of(&from));
    assert!(bypassed["inputs_after"].is_null(), "{bypassed}");
    assert_eq!(bypassed["removed_by"]["pass"], "prune");
    assert!(
        passes_of(&bypassed["rewires"]).contains(&"dropout"),
        "{bypassed}"
    );
    // The random draw behind the mask went for the same reason.
    let random: Vec<&Value> = changes(&report)
        .iter()
        .filter(|c| c["op"] == "RandomUniform" && passes_of(&c["rewires"]).contains(&"dropout"))
        .collect();
    assert_eq!(random.len(), 1, "{random:?}");
    // Its consumer (kept, so with inputs after) now reads the dropout's input.
    let consumer = changes(&report)
        .iter()
        .filter(|c| c["removed_by"].is_null())
        .find(|c| {
            c["inputs_before"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i == node_of(&from))
        })
        .expect("the dropout's consumer is listed");
    let after = consumer["inputs_after"].as_array().expect("kept");
    assert!(after.iter().any(|i| i == node_of(&to)), "{consumer}");
    assert_eq!(passes_of(&consumer["rewires"]), ["dropout"]);
}

#[test]
fn explain_one_dropout_node_in_text_names_the_dropout_rule() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_json(&dir.path().join("probe"), &[]);
    let (from, _) = dropout_rewire(&report);
    let explain = format!("--explain={}", node_of(&from));
    let output = export_fixture_cli(FIXTURE, &dir.path().join("out"), &[&explain]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let first_line = format!("{} removed", node_of(&from));
    assert!(text.contains(&first_line), "{text}");
    assert!(
        text.contains("left unused when pass dropout [rewire]: dropout is identity at inference"),
        "{text}"
    );
}

#[test]
fn an_optimizer_slot_is_explained_as_training_only() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_json(
        &dir.path().join("out"),
        &["--explain", "hidden/kernel/Adam"],
    );
    let story = &report["explain"]["node"];
    assert_eq!(story["verdict"], "removed", "{story}");
    assert_eq!(story["op"], "VariableV2");
    let rule = &story["change"]["removed_by"];
    assert_eq!(rule["pass"], "prune");
    assert_eq!(rule["rule"], "optimizer");
    let why = rule["why"].as_str().unwrap();
    assert!(
        why.starts_with("training-only (optimizer)") && why.contains("ApplyAdam"),
        "{why}"
    );
    // Narrowed to that node.
    let changes = changes(&report);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["node"], "hidden/kernel/Adam");
    // And its checkpoint tensor is reported as dropped.
    let dropped = report["dropped"].as_array().unwrap();
    assert!(
        dropped.iter().any(|d| d["key"] == "hidden/kernel/Adam"),
        "{dropped:?}"
    );
}

/// Each node's inputs (as node names) in the written serving graph.
fn served_inputs(out: &Path) -> HashMap<String, Vec<String>> {
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    let saved = servegraph::proto::SavedModel::decode(bytes.as_slice()).unwrap();
    let graph = saved.meta_graphs[0].graph_def.as_ref().unwrap();
    let inputs = |node: &servegraph::proto::NodeDef| -> Vec<String> {
        node.input
            .iter()
            .map(|i| node_of(i.trim_start_matches('^')).to_string())
            .collect()
    };
    graph
        .node
        .iter()
        .map(|n| (n.name.clone(), inputs(n)))
        .collect()
}

#[test]
fn a_dense_layer_is_kept_with_its_path_to_each_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = export_json(&out, &["--explain", "hidden/kernel"]);
    let story = &report["explain"]["node"];
    assert_eq!(story["verdict"], "kept", "{story}");
    let needed = story["needed_by"].as_array().unwrap();
    let outputs: Vec<&str> = needed.iter().filter_map(|n| n["output"].as_str()).collect();
    assert_eq!(outputs, ["logits", "probabilities"]);
    let served = served_inputs(&out);
    for need in needed {
        let path: Vec<&str> = need["path"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(path.first(), Some(&"hidden/kernel"));
        assert_eq!(
            path.last(),
            Some(&node_of(need["tensor"].as_str().unwrap()))
        );
        for step in path.windows(2) {
            let reads = &served[step[1]];
            assert!(
                reads.iter().any(|i| i == step[0]),
                "{} does not read {}",
                step[1],
                step[0]
            );
        }
    }
}

#[test]
fn an_unknown_node_is_refused_with_suggestions_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = export_fixture_cli(FIXTURE, &out, &["--explain", "hidden/kernal"]);
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("\"hidden/kernal\"")
            && error.contains("did you mean")
            && error.contains("hidden/kernel"),
        "{error}"
    );
    assert!(!out.exists(), "an output was written");
}

#[test]
fn a_serving_input_is_explained_as_added_by_the_inputs_pass() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_json(&dir.path().join("out"), &["--explain=features"]);
    let story = &report["explain"]["node"];
    assert_eq!(story["verdict"], "added", "{story}");
    assert_eq!(story["added_by"], "inputs");
    assert_eq!(story["op"], "Placeholder");
    let needed = story["needed_by"].as_array().unwrap();
    assert_eq!(needed.len(), 2, "{story}");
    assert!(needed.iter().all(|n| n["path"][0] == "features"), "{story}");
}

#[test]
fn explain_with_quiet_prints_only_the_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = export_fixture_cli(FIXTURE, &out, &["--quiet", "--explain"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("signature \""), "no report: {text}");
    assert!(text.contains("removed "), "the explanation: {text}");
}

#[test]
fn without_explain_the_json_has_no_explain_field() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_json(&dir.path().join("out"), &[]);
    assert!(report.get("explain").is_none());
}

/// Every pass records why it removed or rewired each node: on every
/// fixture, as exported and frozen, no removal goes unrecorded and every
/// rewired node has a rule.
#[test]
fn every_fixture_change_has_a_rule() {
    let dir = tempfile::tempdir().unwrap();
    for fixture in common::fixture_names() {
        for freeze in [None, Some(FreezeLimits::default())] {
            let options = {
                let mut custom = common::fixture_options(&fixture);
                custom.output.explain = Some(ExplainScope::Every);
                custom.serving.training_flags = training_flags(&fixture);
                custom.storage.freeze = freeze;
                custom
            };
            let out = dir.path().join(format!("{fixture}-{}", freeze.is_some()));
            check_every_change_has_a_rule(&fixture, &out, &options);
        }
    }
}

fn check_every_change_has_a_rule(fixture: &str, out: &Path, options: &servegraph::ExportOptions) {
    let source = common::testdata(&format!("fixtures/{fixture}"));
    let report = servegraph::export_serving_model(&source, out, options)
        .unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let explanation = report.graph.explain.expect("asked for");
    assert!(!explanation.changes.is_empty(), "{fixture}");
    for change in &explanation.changes {
        match &change.removed_by {
            Some(rule) => assert_ne!(rule.rule, "unrecorded", "{fixture}: {change:?}"),
            None => assert!(!change.rewires.is_empty(), "{fixture}: {change:?}"),
        }
        let mut rules = change.removed_by.iter().chain(&change.rewires);
        assert!(
            rules.all(|r| r.pass != "?" && !r.why.is_empty()),
            "{fixture}: {change:?}"
        );
    }
    let removed = explanation
        .changes
        .iter()
        .filter(|c| c.removed_by.is_some())
        .count();
    let reported: usize = report.graph.passes.iter().map(|p| p.removed_count()).sum();
    assert_eq!(
        removed, reported,
        "{fixture}: each recorded removal explained once"
    );
}

/// Frozen, a variable stays as a constant of the same name, its readers
/// rewired onto a placeholder holding it; both are said.
#[test]
fn a_frozen_variable_is_kept_as_a_constant_and_its_readers_rewired() {
    let dir = tempfile::tempdir().unwrap();
    let report = export_json(
        &dir.path().join("out"),
        &["--freeze", "--explain=hidden/kernel"],
    );
    let story = &report["explain"]["node"];
    assert_eq!(story["verdict"], "kept", "{story}");
    assert_eq!(
        (&story["op"], &story["op_before"]),
        (&Value::from("Const"), &Value::from("VariableV2"))
    );
    let all = export_json(&dir.path().join("all"), &["--freeze", "--explain"]);
    let read = changes(&all)
        .iter()
        .find(|c| {
            c["inputs_before"] == serde_json::json!(["hidden/kernel"]) && c["removed_by"].is_null()
        })
        .expect("the variable's reader is rewired");
    assert_eq!(passes_of(&read["rewires"]), ["freeze"], "{read}");
}

fn training_flags(fixture: &str) -> Vec<String> {
    let json = common::fixture_json(fixture);
    let flags = json["training_flags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    flags
        .iter()
        .filter_map(|f| f.as_str().map(String::from))
        .collect()
}
