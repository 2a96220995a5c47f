//! `show` with saved_model_cli's flags and `scan`, without TensorFlow: which
//! output each flag selects, the JSON shapes, the summary kept as default,
//! and the errors (a missing tag set or signature, a non-SavedModel).

use crate::common;

use std::path::Path;

use common::{path_str, servegraph, stderr};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `tiny_mlp` exported with the CLI into `dir`.
fn export_tiny_mlp(dir: &Path) -> String {
    let out = dir.join("tiny_mlp");
    let output = common::export_fixture_cli("tiny_mlp", &out, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    path_str(&out).to_string()
}

fn run_ok(args: &[&str]) -> String {
    let output = servegraph(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    stdout(&output)
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run_ok(args)).expect("JSON output")
}

#[test]
fn each_flag_selects_saved_model_cli_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_tiny_mlp(dir.path());
    assert_eq!(
        run_ok(&["show", "--dir", &model]),
        "The given SavedModel contains the following tag-sets:\n'serve'\n"
    );
    assert_eq!(
        run_ok(&["show", "--dir", &model, "--tag_set", " serve,"]),
        "The given SavedModel MetaGraphDef contains SignatureDefs with the following keys:\n\
         SignatureDef key: \"serving_default\"\n"
    );
    let signature = run_ok(&[
        "show",
        "--dir",
        &model,
        "--tag_set",
        "serve",
        "--signature_def",
        "serving_default",
    ]);
    assert!(
        signature.starts_with(
            "The given SavedModel SignatureDef contains the following input(s):\n  \
             inputs['features'] tensor_info:\n      dtype: DT_FLOAT\n      shape: (-1, 4)\n"
        ),
        "{signature}"
    );
    assert!(signature.ends_with("Method name is: tensorflow/serving/predict\n"));
    // Without --tag_set, --signature_def is ignored, as saved_model_cli ignores it.
    assert_eq!(
        run_ok(&["show", "--dir", &model, "--signature_def", "x"]),
        run_ok(&["show", "--dir", &model])
    );
    let all = run_ok(&["show", &model, "--all"]);
    assert!(all.starts_with("\nMetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:\n\nsignature_def['serving_default']:\n"), "{all}");
    assert!(
        !all.contains("Concrete Functions"),
        "a TF1-style export has none"
    );
}

#[test]
fn the_summary_stays_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_tiny_mlp(dir.path());
    let summary = run_ok(&["show", &model]);
    assert!(summary.starts_with("saved_model "), "{summary}");
    assert_eq!(run_ok(&["show", "--dir", &model, "--summary"]), summary);
    assert_eq!(
        run_ok(&["show", "--dir", &model, "--tag", "serve"]),
        summary
    );
    let json = json(&["show", &model, "--json"]);
    assert_eq!(json["kind"], "saved_model");
    let clash = servegraph(&["show", &model, "--summary", "--all"]);
    assert_eq!(clash.status.code(), Some(2), "{}", stderr(&clash));
}

#[test]
fn json_carries_the_same_information() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_tiny_mlp(dir.path());
    let tag_sets = json(&["show", "--dir", &model, "--json"]);
    assert_eq!(tag_sets["show"], "tag_sets");
    assert_eq!(tag_sets["tag_sets"], serde_json::json!([["serve"]]));
    let keys = json(&[
        "show",
        "--dir",
        &model,
        "--tag_set",
        "serve",
        "--list_ops",
        "--json",
    ]);
    assert_eq!(
        keys["signature_keys"],
        serde_json::json!(["serving_default"])
    );
    assert!(
        keys["ops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|op| op == "MatMul")
    );
    let all = json(&["show", "--dir", &model, "--all", "--json"]);
    assert_eq!(all["show"], "all");
    let input = &all["meta_graphs"][0]["signature_defs"]["serving_default"]["inputs"]["features"];
    assert_eq!(input["dtype"], "DT_FLOAT");
    assert_eq!(input["shape"], serde_json::json!([-1, 4]));
    assert!(all["concrete_functions"].is_null());
    let scan = json(&["scan", &model, "--json"]);
    let meta = &scan["meta_graphs"][0];
    assert_eq!(meta["denylisted_ops"], serde_json::json!([]));
    assert_eq!(
        meta["denylist"],
        serde_json::json!(["PrintV2", "ReadFile", "WriteFile"])
    );
    assert_eq!(
        meta["training_ops"],
        serde_json::json!([]),
        "an export has none"
    );
}

#[test]
fn scan_of_a_clean_export_prints_saved_model_cli_line_only() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_tiny_mlp(dir.path());
    assert_eq!(
        run_ok(&["scan", "--dir", &model]),
        "MetaGraph with tag set ['serve'] does not contain the default denylisted ops: \
         {'PrintV2', 'ReadFile', 'WriteFile'}\n"
    );
    assert_eq!(
        run_ok(&["scan", &model, "--op_denylist", "MatMul, Foo"]),
        "MetaGraph with tag set ['serve'] contains the following denylisted ops: {'MatMul'}\n"
    );
}

#[test]
fn missing_tag_sets_signatures_and_non_saved_models_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = export_tiny_mlp(dir.path());
    let no_tags = servegraph(&["show", "--dir", &model, "--tag_set", "serve,gpu"]);
    assert_eq!(no_tags.status.code(), Some(1));
    assert!(stderr(&no_tags).contains("\"serve,gpu\"") && stderr(&no_tags).contains("'serve'"));
    let empty = servegraph(&["show", "--dir", &model, "--tag_set", " , "]);
    assert!(
        stderr(&empty).contains("at least one non-empty tag"),
        "{}",
        stderr(&empty)
    );
    let args = [
        "show",
        "--dir",
        &model,
        "--tag_set",
        "serve",
        "--signature_def",
        "nope",
    ];
    let no_signature = servegraph(&args);
    assert_eq!(no_signature.status.code(), Some(1));
    assert!(
        stderr(&no_signature).contains("serving_default"),
        "{}",
        stderr(&no_signature)
    );
    let checkpoint = common::testdata("fixtures/tiny_mlp");
    let not_saved_model = servegraph(&["scan", "--dir", path_str(&checkpoint)]);
    assert_eq!(not_saved_model.status.code(), Some(1));
    assert!(
        stderr(&not_saved_model).contains("not a SavedModel directory"),
        "{}",
        stderr(&not_saved_model)
    );
    assert!(stdout(&not_saved_model).is_empty());
}
