//! Object-based checkpoints (`tf.train.Checkpoint`, keys are object paths)
//! as the variables of a TF1-style graph: real TensorFlow trains a graph and
//! saves it object-based, servegraph exports the graph with `--checkpoint`,
//! and TensorFlow's three loaders reproduce the trained outputs.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{judge_tensors, path_str, run_python, servegraph, stderr, tensorflow_python};

/// What `tests/interop/write_object_checkpoint.py` wrote, once per run.
struct Run {
    python: PathBuf,
    dir: PathBuf,
}

impl Run {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn json(&self, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.file(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn names(&self) -> serde_json::Value {
        self.json("names.json")
    }

    /// `servegraph export graph.meta OUT --checkpoint CHECKPOINT` serving `output`.
    fn export(&self, out: &Path, checkpoint: &Path, output: &str) -> std::process::Output {
        let names = self.names();
        let input = format!("x={}", names["input"].as_str().unwrap());
        let meta = self.file("graph.meta");
        servegraph(&[
            "export",
            path_str(&meta),
            path_str(out),
            "--checkpoint",
            path_str(checkpoint),
            "--input",
            &input,
            "--output",
            output,
            "--json",
        ])
    }
}

fn generated(test: &str) -> Option<&'static Run> {
    static RUN: OnceLock<Option<Run>> = OnceLock::new();
    let python = tensorflow_python(test)?;
    RUN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("object_checkpoint");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = "tests/interop/write_object_checkpoint.py";
        run_python(&python, script, &[dir.as_os_str()]);
        Some(Run { python, dir })
    })
    .as_ref()
}

fn report(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The checkpoint keys the export kept, sorted.
fn kept_keys(report: &serde_json::Value) -> Vec<String> {
    let kept = report["kept"].as_array().unwrap();
    let mut keys: Vec<String> = kept
        .iter()
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

const MODEL_KEYS: [&str; 4] = [
    "model/hidden/bias/.ATTRIBUTES/VARIABLE_VALUE",
    "model/hidden/kernel/.ATTRIBUTES/VARIABLE_VALUE",
    "model/logits/bias/.ATTRIBUTES/VARIABLE_VALUE",
    "model/logits/kernel/.ATTRIBUTES/VARIABLE_VALUE",
];

#[test]
fn a_graph_restored_from_an_object_based_checkpoint_serves_its_trained_outputs() {
    let Some(run) = generated("object_checkpoint") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("export");
    let output = format!("probs={}", run.names()["output"].as_str().unwrap());
    let prefix = run.file("ckpts/ckpt-1");
    let report = report(&run.export(&export, &prefix, &output));
    // Ref variables (by node name) and resource variables (by shared name)
    // both found their object-path keys.
    assert_eq!(kept_keys(&report), MODEL_KEYS);
    let dropped = report["dropped"].as_array().unwrap();
    let slots = dropped.iter().filter(|d| d["reason"] == "optimizer slot");
    assert_eq!(
        slots.count(),
        8,
        "Adam's m and v for four variables: {dropped:?}"
    );
    let difference = judge_tensors(
        &run.python,
        &export,
        &run.json("inputs.json"),
        &run.json("expected.json"),
        &serde_json::json!({"loaders": "tf2,tf1,capi"}),
        1e-6,
    );
    assert!(difference <= 1e-6, "{difference}");
}

#[test]
fn a_checkpoint_directory_exports_its_latest_object_based_checkpoint() {
    let Some(run) = generated("object_checkpoint_directory") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("export");
    let output = format!("probs={}", run.names()["output"].as_str().unwrap());
    let report = report(&run.export(&export, &run.file("ckpts"), &output));
    assert_eq!(kept_keys(&report), MODEL_KEYS);
}

#[test]
fn a_variable_the_object_graph_lacks_is_an_error_naming_it_and_the_checkpoint() {
    let Some(run) = generated("object_checkpoint_untracked") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("export");
    let output = format!(
        "scaled={}",
        run.names()["untracked_output"].as_str().unwrap()
    );
    let failed = run.export(&export, &run.file("ckpts/ckpt-1"), &output);
    assert!(!failed.status.success());
    let message = stderr(&failed);
    assert!(message.contains("\"untracked/scale\""), "{message}");
    assert!(message.contains("not in the object graph"), "{message}");
    assert!(message.contains("ckpt-1"), "{message}");
    assert!(!export.exists(), "a failed export leaves nothing behind");
}

#[test]
fn show_lists_an_object_based_checkpoints_variables_with_object_paths_and_names() {
    let Some(run) = generated("object_checkpoint_show") else {
        return;
    };
    let prefix = run.file("ckpts/ckpt-1");
    let shown = servegraph(&["show", path_str(&prefix), "--json"]);
    let summary = report(&shown);
    assert_eq!(summary["kind"], "checkpoint");
    let variables = summary["variables"].as_array().unwrap();
    let kernel = variables
        .iter()
        .find(|v| v["name"] == "model/hidden/kernel/.ATTRIBUTES/VARIABLE_VALUE")
        .expect("the kernel is listed");
    assert_eq!(kernel["object_path"], "model/hidden/kernel");
    assert_eq!(kernel["full_name"], "hidden/kernel");
    let named: Vec<&str> = variables
        .iter()
        .filter_map(|v| v["full_name"].as_str())
        .collect();
    for variable in run.names()["variables"].as_array().unwrap() {
        assert!(named.contains(&variable.as_str().unwrap()), "{named:?}");
    }
    let text = servegraph(&["show", path_str(&run.file("ckpts"))]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("(object model/logits/bias, name logits/bias)"),
        "{text}"
    );
}

/// A tf_keras `model.save()` SavedModel: the variables its MetaGraphDef's
/// graph references resolve through the object graph of its `variables/`,
/// so re-exporting it with an `--output` no longer fails on a missing key.
#[test]
fn a_keras_saved_models_variables_resolve_through_its_object_graph() {
    let Some(python) = tensorflow_python("object_checkpoint_keras_saved_model") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = "tests/interop/write_keras_saved_model.py";
    run_python(&python, script, &[dir.path().as_os_str()]);
    let names: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("names.json")).unwrap())
            .unwrap();
    let export = dir.path().join("export");
    let output = format!("probs={}", names["output"].as_str().unwrap());
    let saved = dir.path().join("saved_model");
    let exported = servegraph(&[
        "export",
        path_str(&saved),
        path_str(&export),
        "--output",
        &output,
        "--json",
    ]);
    let report = report(&exported);
    let keys = kept_keys(&report);
    assert_eq!(
        keys.len(),
        4,
        "two Dense layers' kernels and biases: {keys:?}"
    );
    assert!(
        keys.iter()
            .all(|k| k.starts_with("layer_with_weights-")
                && k.ends_with("/.ATTRIBUTES/VARIABLE_VALUE")),
        "{keys:?}"
    );
    // Adam's moments sit under the optimizer as plain children (no slot
    // variables): found by the optimizer's structure all the same.
    let dropped = report["dropped"].as_array().unwrap();
    let optimizer = dropped.iter().filter(|d| d["reason"] == "optimizer state");
    assert!(optimizer.count() >= 8, "{dropped:?}");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).unwrap()).unwrap()
    };
    let difference = judge_tensors(
        &python,
        &export,
        &read("inputs.json"),
        &read("expected.json"),
        &serde_json::json!({"loaders": "tf2,tf1,capi"}),
        1e-6,
    );
    assert!(difference <= 1e-6, "{difference}");
}
