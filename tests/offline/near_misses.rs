//! Near-miss inputs get errors that say what to do: a checkpoint's data
//! file or a folder of checkpoints without a state file, a GraphDef without
//! its checkpoint, an output named without a key, a typo in a transform or
//! a flag, the wrong component of an iterator as an input, a variant of a
//! graph with no placements, `size` on a training directory; and with
//! `--json`, the error as a JSON object on stdout.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::{path_str, servegraph, stderr, testdata};
use serde_json::Value;

const INPUT: &str = "features=IteratorGetNext:0";
const OUTPUT: &str = "logits=logits/BiasAdd:0";

fn tiny_mlp() -> std::path::PathBuf {
    testdata("fixtures/tiny_mlp")
}

fn export(source: &Path, out: &Path, extra: &[&str]) -> Output {
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
    servegraph(&args)
}

/// The `{"error": ...}` object a failed `--json` run printed on stdout.
fn json_error(output: &Output) -> Value {
    let value: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is no JSON ({e}): {:?} / {}",
            String::from_utf8_lossy(&output.stdout),
            stderr(output)
        )
    });
    let error = value["error"].clone();
    for field in ["kind", "message", "culprit", "hint"] {
        assert!(error.get(field).is_some(), "{field} missing: {value}");
    }
    error
}

#[test]
fn a_checkpoint_data_file_is_taken_as_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let shard = tiny_mlp().join("model.ckpt-5.data-00000-of-00001");
    let out = dir.path().join("model");
    let output = export(&shard, &out, &["-q"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(out.join("saved_model.pb").is_file());
}

#[test]
fn a_folder_of_checkpoints_without_a_state_file_lists_them_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    for step in ["5", "12"] {
        for suffix in [".index", ".meta", ".data-00000-of-00001"] {
            let from = tiny_mlp().join(format!("model.ckpt-5{suffix}"));
            std::fs::copy(from, run.join(format!("model.ckpt-{step}{suffix}"))).unwrap();
        }
    }
    let out = dir.path().join("model");
    let output = export(&run, &out, &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("no `checkpoint` state file")
            && message.contains("model.ckpt-12, model.ckpt-5")
            && message.contains(&format!("e.g. {}", run.join("model.ckpt-12").display())),
        "{message}"
    );
    let error = json_error(&output);
    assert_eq!(error["kind"], "read");
    assert_eq!(error["culprit"], path_str(&run));
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn a_graph_def_with_variables_and_no_checkpoint_hints_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let graph = dir.path().join("graph.pb");
    let written = servegraph(&[
        "transform",
        path_str(&tiny_mlp()),
        path_str(&graph),
        "--transforms",
        "sort_by_execution_order",
    ]);
    assert!(written.status.success(), "{}", stderr(&written));
    let output = export(&graph, &dir.path().join("model"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("no checkpoint was given")
            && message.contains("hint: give the checkpoint holding them with --checkpoint PREFIX"),
        "{message}"
    );
}

#[test]
fn an_output_without_a_key_suggests_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = servegraph(&[
        "export",
        path_str(&tiny_mlp()),
        path_str(&dir.path().join("model")),
        "--output",
        "logits:0",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("did you mean --output logits=logits:0?"),
        "{}",
        stderr(&output)
    );
    let error = json_error(&output);
    assert_eq!(error["kind"], "usage");
    assert_eq!(error["culprit"], "--output logits:0");
}

#[test]
fn typos_in_a_transform_or_a_flag_say_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    assert!(export(&tiny_mlp(), &model, &["-q"]).status.success());
    let output = servegraph(&[
        "transform",
        path_str(&model),
        path_str(&dir.path().join("t")),
        "--transforms",
        "fold_constant",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("no transform named \"fold_constant\"; did you mean fold_constants?"),
        "{}",
        stderr(&output)
    );
    let output = export(
        &tiny_mlp(),
        &dir.path().join("f"),
        &["--weight", "f16", "--json"],
    );
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&output).contains("'--weights'"),
        "{}",
        stderr(&output)
    );
    let error = json_error(&output);
    assert_eq!(error["kind"], "usage");
    assert!(
        error["hint"].as_str().unwrap().contains("--weights"),
        "{error}"
    );
}

#[test]
fn the_wrong_component_of_an_iterator_names_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let output = servegraph(&[
        "export",
        path_str(&tiny_mlp()),
        path_str(&dir.path().join("model")),
        "--input",
        "features=IteratorGetNext:1",
        "--output",
        OUTPUT,
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("serving input features=IteratorGetNext:1 is the likely cause")
            && message.contains("did you mean features=IteratorGetNext:0?")
            && message.contains("hint: name the component the model reads with --input"),
        "{message}"
    );
    assert_eq!(
        json_error(&output)["culprit"],
        "--input features=IteratorGetNext:1"
    );
}

#[test]
fn a_variant_of_a_graph_without_placements_warns() {
    let dir = tempfile::tempdir().unwrap();
    let output = export(
        &tiny_mlp(),
        &dir.path().join("model"),
        &["--variant", "gpu", "-q"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("warning: variant \"gpu\" (tags serve,gpu): the training graph places no node on a device"),
        "{message}"
    );
}

#[test]
fn size_on_a_training_directory_exits_1_and_says_what_to_do() {
    let output = servegraph(&["size", path_str(&tiny_mlp()), "--json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is not a SavedModel directory")
            && stderr(&output).contains("hint: size measures an export"),
        "{}",
        stderr(&output)
    );
    let error = json_error(&output);
    assert_eq!(error["culprit"], path_str(&tiny_mlp()));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("saved_model.pb")
    );
}

#[test]
fn a_json_error_of_validate_is_on_stdout_with_exit_2() {
    let output = servegraph(&["validate", "no/such/model", "--json"]);
    assert_eq!(output.status.code(), Some(2));
    let error = json_error(&output);
    assert_eq!(error["kind"], "read");
    assert_eq!(error["culprit"], "no/such/model");
}
