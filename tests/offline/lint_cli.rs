//! `servegraph validate` on the command line: exit codes 0 (clean or
//! warnings), 1 (warnings under --strict), 2 (errors, or a path it cannot
//! read); `--json` with today's fields plus `findings` and `exit_code`;
//! `--tag_set` as an alias of `--tag`.

use crate::common;

use std::path::Path;

use common::{path_str, servegraph, stderr};
use prost::Message;
use serde_json::{Value, json};
use servegraph::proto::SavedModel;

/// tiny_mlp exported into `dir/model`.
fn export(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("model");
    let exported = common::export_fixture_cli("tiny_mlp", &out, &["-q"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    out
}

/// Gives the served output a fixed batch of 1: a batch-dimension warning.
fn plant_fixed_batch(out: &Path) {
    let file = out.join("saved_model.pb");
    let mut saved = SavedModel::decode(std::fs::read(&file).unwrap().as_slice()).unwrap();
    let signature = saved.meta_graphs[0]
        .signature_def
        .get_mut("serving_default")
        .unwrap();
    let logits = signature.outputs.get_mut("logits").unwrap();
    logits.tensor_shape = Some(servegraph::typing::shape_proto(&[1, 2]));
    std::fs::write(&file, saved.encode_to_vec()).unwrap();
}

fn json_of(args: &[&str]) -> (Option<i32>, Value) {
    let output = servegraph(args);
    let value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stderr(&output)));
    (output.status.code(), value)
}

#[test]
fn a_clean_export_exits_0_and_keeps_today_s_json_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path());
    let text = servegraph(&["validate", path_str(&out)]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let stdout = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(stdout.contains(": valid\n"), "{stdout}");
    let (code, report) = json_of(&["validate", path_str(&out), "--json", "--strict"]);
    assert_eq!(code, Some(0));
    for field in [
        "path",
        "meta_graphs",
        "signatures",
        "variables",
        "total_bytes",
        "fits_mls1",
        "fits_n1",
    ] {
        assert!(report.get(field).is_some(), "{field} missing: {report}");
    }
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(report["findings"], json!([]), "{report}");
    assert_eq!(report["exit_code"], 0, "{report}");
}

#[test]
fn warnings_exit_0_and_1_under_strict() {
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path());
    plant_fixed_batch(&out);
    let text = servegraph(&["validate", path_str(&out)]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let stdout = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(stdout.contains("warning[batch-dimension]: "), "{stdout}");
    let strict = servegraph(&["validate", path_str(&out), "--strict"]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));

    let (code, report) = json_of(&["validate", path_str(&out), "--json", "--strict"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["exit_code"], 1, "{report}");
    assert_eq!(report["problems"], json!([]), "{report}");
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["rule"], "batch-dimension");
    assert_eq!(findings[0]["severity"], "warning");
    assert_eq!(findings[0]["node"], "logits/BiasAdd");
    let message = findings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("fixed leading dimension of 1"),
        "{message}"
    );
}

#[test]
fn allowed_warnings_are_listed_and_pass_strict() {
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path());
    plant_fixed_batch(&out);
    let allowed = [
        "validate",
        path_str(&out),
        "--strict",
        "--allow",
        "batch-dimension",
    ];
    let text = servegraph(&allowed);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let stdout = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        stdout.contains("warning[batch-dimension] (allowed): "),
        "{stdout}"
    );

    let (code, report) = json_of(&[&allowed[..], &["--json", "--allow", "saver"]].concat());
    assert_eq!(code, Some(0));
    assert_eq!(
        report["allowed"],
        json!(["batch-dimension", "saver"]),
        "{report}"
    );
    assert_eq!(report["findings"].as_array().unwrap().len(), 1, "{report}");

    let other = servegraph(&["validate", path_str(&out), "--strict", "--allow", "saver"]);
    assert_eq!(other.status.code(), Some(1), "{}", stderr(&other));
    let typo = servegraph(&["validate", path_str(&out), "--allow", "batch-dim"]);
    assert_eq!(typo.status.code(), Some(2));
    let message = stderr(&typo);
    assert!(
        message.contains("unknown rule \"batch-dim\"") && message.contains("batch-dimension"),
        "{message}"
    );
}

#[test]
fn errors_exit_2_with_the_finding_and_tag_set_is_an_alias_of_tag() {
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path());
    let (code, report) = json_of(&["validate", path_str(&out), "--tag_set", "serve", "--json"]);
    assert_eq!(
        (code, &report["exit_code"]),
        (Some(0), &json!(0)),
        "{report}"
    );

    for flag in ["--tag_set", "--tag"] {
        let (code, report) = json_of(&["validate", path_str(&out), flag, "serve,gpu", "--json"]);
        assert_eq!(code, Some(2), "{report}");
        assert_eq!(report["exit_code"], 2, "{report}");
        assert_eq!(report["findings"][0]["rule"], "tag-set", "{report}");
        assert_eq!(report["findings"][0]["severity"], "error", "{report}");
        let problem = report["problems"][0].as_str().unwrap();
        assert!(problem.contains("[gpu, serve]"), "{problem}");
    }
    let text = servegraph(&["validate", path_str(&out), "--tag", "gpu"]);
    assert_eq!(text.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(stdout.contains("error[tag-set]: "), "{stdout}");
    assert!(stderr(&text).contains("1 problem(s)"), "{}", stderr(&text));
}

#[test]
fn a_graph_def_file_is_linted_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path());
    let saved = SavedModel::decode(
        std::fs::read(out.join("saved_model.pb"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let mut graph = saved.meta_graphs[0].graph_def.clone().unwrap();
    let file = dir.path().join("graph.pb");
    std::fs::write(&file, graph.encode_to_vec()).unwrap();
    let (code, report) = json_of(&["validate", path_str(&file), "--json"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["findings"], json!([]), "{report}");

    graph.node.push(servegraph::proto::NodeDef {
        name: "py".into(),
        op: "EagerPyFunc".into(),
        ..Default::default()
    });
    std::fs::write(&file, graph.encode_to_vec()).unwrap();
    let (code, report) = json_of(&["validate", path_str(&file), "--json"]);
    assert_eq!(code, Some(2), "{report}");
    assert_eq!(report["findings"][0]["rule"], "python-op", "{report}");
    assert_eq!(report["findings"][0]["node"], "py", "{report}");
}

/// A TF2 SavedModel's init op assigns its asset-path variable from the
/// placeholder the loader feeds: initialisation at load, not training.
/// With an assign planted outside the init op, the rule still fires.
#[test]
fn a_tf2_asset_variable_assigned_by_the_init_op_is_not_a_training_op() {
    let source = common::testdata("tf2/module_table/saved_model");
    let (code, report) = json_of(&["validate", path_str(&source), "--json"]);
    let findings = report["findings"].as_array().expect("findings");
    let rules: Vec<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(!rules.contains(&"training-op"), "{report}");
    assert_eq!(code, Some(0), "{report}");

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("model");
    std::fs::create_dir_all(copy.join("variables")).unwrap();
    std::fs::create_dir_all(copy.join("assets")).unwrap();
    for file in [
        "saved_model.pb",
        "assets/vocabulary.txt",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
    ] {
        std::fs::copy(source.join(file), copy.join(file)).unwrap();
    }
    let file = copy.join("saved_model.pb");
    let mut saved = SavedModel::decode(std::fs::read(&file).unwrap().as_slice()).unwrap();
    let graph = saved.meta_graphs[0].graph_def.as_mut().unwrap();
    let mut stray = graph
        .node
        .iter()
        .find(|n| n.op == "AssignVariableOp")
        .unwrap()
        .clone();
    stray.name = "stray/Assign".into();
    graph.node.push(stray);
    std::fs::write(&file, saved.encode_to_vec()).unwrap();
    let (code, report) = json_of(&["validate", path_str(&copy), "--json"]);
    assert_eq!(code, Some(2), "{report}");
    assert!(report.to_string().contains("stray/Assign"), "{report}");
}
