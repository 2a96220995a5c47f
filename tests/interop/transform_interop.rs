//! `servegraph transform` judged by TensorFlow: every transform, applied to
//! the graphs of the fixtures, leaves a graph that TensorFlow imports and
//! that computes the fixture's expected outputs (within the fixture's
//! tolerance, or the 8-bit rounding for `quantize_weights`).
//! `remove_nodes(op=Identity)` on training graphs with a `tf.cond` and a
//! while loop still runs.

use crate::common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::{
    export_fixture_cli, fixture_json, judge, path_str, servegraph, stderr, tensorflow_python,
    testdata,
};

/// Fixtures served from dense numeric inputs by a predict signature.
const FIXTURES: &[&str] = &[
    "bn_train_only",
    "cnn_dataset_bn",
    "int64_offsets",
    "keras_graph_bn_dropout",
    "keras_graph_conv_dataset",
    "mlp_queue",
    "resource_int64",
    "rnn_while",
    "sharded_partitioned",
    "tiny_mlp",
];

/// Frozen weights are read through `PlaceholderWithDefault`s, which the
/// folding transforms need out of the way first.
const UNWRAP: &str = "remove_nodes(op=PlaceholderWithDefault, op=Identity)";

/// Each transform under test, with what must run before it.
fn transforms() -> Vec<(&'static str, String)> {
    let unwrapped = |t: &str| format!("{UNWRAP} {t}");
    vec![
        ("strip_unused_nodes", "strip_unused_nodes".into()),
        (
            "remove_nodes",
            "remove_nodes(op=Identity, op=CheckNumerics)".into(),
        ),
        ("remove_device", "remove_device".into()),
        ("set_device", r#"set_device(device="/device:CPU:0")"#.into()),
        (
            "remove_attribute",
            "remove_attribute(attribute_name=_class)".into(),
        ),
        (
            "rename_attribute",
            "rename_attribute(old_attribute_name=_class, new_attribute_name=_was_class)".into(),
        ),
        ("sort_by_execution_order", "sort_by_execution_order".into()),
        ("merge_duplicate_nodes", "merge_duplicate_nodes".into()),
        (
            "fold_constants",
            unwrapped("fold_constants(ignore_errors=false)"),
        ),
        (
            "fold_batch_norms",
            unwrapped("fold_constants fold_batch_norms"),
        ),
        ("fold_old_batch_norms", unwrapped("fold_old_batch_norms")),
        (
            "quantize_weights",
            unwrapped("quantize_weights(minimum_size=16)"),
        ),
        ("obfuscate_names", "obfuscate_names".into()),
        ("add_default_attributes", "add_default_attributes".into()),
    ]
}

/// Transforms that must change some fixture's graph (the others edit attrs).
/// (`strip_unused_nodes` has nothing to strip from an export: see the
/// training-graph test.)
const MUST_CHANGE: &[&str] = &[
    "remove_nodes",
    "fold_constants",
    "fold_batch_norms",
    "fold_old_batch_norms",
    "quantize_weights",
];

/// `(key, tensor name)` pairs.
type Tensors = Vec<(String, String)>;

/// The signature's input and output tensors of an export, by key.
fn signature_tensors(export: &Path) -> (Tensors, Tensors) {
    let out = servegraph(&["show", path_str(export), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let signature = &json["meta_graphs"][0]["signatures"]["serving_default"];
    let tensors = |side: &str| {
        signature[side]
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, spec)| (key.clone(), spec["name"].as_str().unwrap().to_string()))
            .collect()
    };
    (tensors("inputs"), tensors("outputs"))
}

/// Runs `transform` and returns its JSON report.
fn transform(input: &Path, output: &Path, transforms: &str) -> serde_json::Value {
    let out = servegraph(&[
        "transform",
        path_str(input),
        path_str(output),
        "--transforms",
        transforms,
        "--json",
    ]);
    assert!(out.status.success(), "{transforms}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// True when the report of pass `name` removed, added or rewired something.
fn changed(report: &serde_json::Value, name: &str) -> bool {
    report["passes"].as_array().unwrap().iter().any(|p| {
        p["pass"] == name
            && [&p["removed"], &p["added"], &p["rewired"]].iter().any(|v| {
                v.as_object().is_some_and(|o| !o.is_empty())
                    || v.as_array().is_some_and(|a| !a.is_empty())
            })
    })
}

/// What `tests/interop/run_graph_def.py` needs besides the graphs.
struct Run<'a> {
    fixture: &'a str,
    feeds: Tensors,
    fetches: Tensors,
    tolerance: f64,
    checkpoint: Option<PathBuf>,
    flags: Vec<String>,
}

/// Runs every graph of `graphs` in TensorFlow on the fixture's test inputs;
/// panics with the report unless each computes the expected outputs.
fn judge_graphs(python: &Path, run: &Run, graphs: &[PathBuf]) {
    let json = fixture_json(run.fixture);
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs.json");
    let expected = dir.path().join("expected.json");
    std::fs::write(&inputs, json["test_inputs"].to_string()).unwrap();
    std::fs::write(&expected, json["expected_outputs"].to_string()).unwrap();
    let mut args: Vec<OsString> = vec![
        "--inputs".into(),
        inputs.into(),
        "--expected".into(),
        expected.into(),
        "--tolerance".into(),
        run.tolerance.to_string().into(),
    ];
    for (flag, pairs) in [("--feed", &run.feeds), ("--fetch", &run.fetches)] {
        for (key, tensor) in pairs {
            args.push(flag.into());
            args.push(format!("{key}={tensor}").into());
        }
    }
    for flag in &run.flags {
        args.push("--flag".into());
        args.push(flag.into());
    }
    if let Some(prefix) = &run.checkpoint {
        args.push("--checkpoint".into());
        args.push(prefix.into());
    }
    args.extend(graphs.iter().map(|g| g.as_os_str().to_owned()));
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let result = common::judge::run_script(python, "tests/interop/run_graph_def.py", &args);
    assert!(
        result.success,
        "{}: {}\n{}\n{}",
        run.fixture, result.error, result.stdout, result.stderr
    );
}

fn tolerance(fixture: &str) -> f64 {
    fixture_json(fixture)["tolerance"].as_f64().unwrap_or(1e-5)
}

#[test]
fn every_transform_keeps_what_each_fixture_computes_in_tensorflow() {
    let Some(python) =
        tensorflow_python("every_transform_keeps_what_each_fixture_computes_in_tensorflow")
    else {
        return;
    };
    let mut changed_somewhere: Vec<&str> = Vec::new();
    for &fixture in FIXTURES {
        let dir = tempfile::tempdir().unwrap();
        let frozen = dir.path().join("frozen");
        let export = export_fixture_cli(fixture, &frozen, &["--freeze", "-q"]);
        assert!(export.status.success(), "{fixture}: {}", stderr(&export));
        let (feeds, fetches) = signature_tensors(&frozen);
        let (mut exact, mut quantized) = (Vec::new(), Vec::new());
        for (name, spec) in transforms() {
            // Text for half of them, so both encodings are imported.
            let extension = if exact.len() % 2 == 0 { "pb" } else { "pbtxt" };
            let graph = dir.path().join(format!("{name}.{extension}"));
            let report = transform(&frozen, &graph, &spec);
            if changed(&report, name) {
                changed_somewhere.push(name);
            }
            if name == "quantize_weights" {
                &mut quantized
            } else {
                &mut exact
            }
            .push(graph);
        }
        let run = Run {
            fixture,
            feeds,
            fetches,
            tolerance: tolerance(fixture),
            checkpoint: None,
            flags: Vec::new(),
        };
        judge_graphs(&python, &run, &exact);
        // 8-bit weights: each off by up to 1/510 of its constant's range.
        let loose = Run {
            tolerance: 0.05,
            ..run
        };
        judge_graphs(&python, &loose, &quantized);
    }
    for name in MUST_CHANGE {
        assert!(
            changed_somewhere.contains(name),
            "{name} changed no fixture's graph"
        );
    }
}

/// The training graph of `fixture` (from its checkpoint) after `transforms`.
fn training_run(fixture: &str, flags: &[&str]) -> Run<'static> {
    let json = fixture_json(fixture);
    let fixture: &'static str = Box::leak(fixture.to_string().into_boxed_str());
    let tensors = |side: &str| {
        json[side]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v["tensor"].as_str().unwrap().to_string()))
            .collect()
    };
    Run {
        fixture,
        feeds: tensors("inputs"),
        fetches: tensors("outputs"),
        tolerance: tolerance(fixture),
        checkpoint: Some(testdata(&format!(
            "fixtures/{fixture}/{}",
            json["checkpoint_prefix"].as_str().unwrap()
        ))),
        flags: flags.iter().map(|f| f.to_string()).collect(),
    }
}

#[test]
fn removing_identities_keeps_tf_cond_and_while_loops_running() {
    let Some(python) =
        tensorflow_python("removing_identities_keeps_tf_cond_and_while_loops_running")
    else {
        return;
    };
    for (fixture, flags, control_flow) in [
        (
            "cnn_dataset_bn",
            &["is_training:0"][..],
            &["Switch", "Merge"][..],
        ),
        (
            "rnn_while",
            &[][..],
            &["Enter", "Exit", "NextIteration", "LoopCond"][..],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let source = testdata(&format!("fixtures/{fixture}"));
        let graph = dir.path().join("no_identities.pb");
        let report = transform(&source, &graph, "remove_nodes(op=Identity)");
        assert!(changed(&report, "remove_nodes"), "{fixture}: {report}");
        let notes = report["passes"][0]["notes"].to_string();
        assert!(notes.contains("Identity nodes kept"), "{fixture}: {notes}");
        let text = dir.path().join("no_identities.pbtxt");
        transform(&graph, &text, "sort_by_execution_order");
        let text = std::fs::read_to_string(&text).unwrap();
        for op in control_flow {
            assert!(
                text.contains(&format!("op: \"{op}\"")),
                "{fixture} lost its {op}"
            );
        }
        // Merging and folding inside cond branches and loop bodies too.
        let merged = dir.path().join("merged_folded.pb");
        let report = transform(
            &source,
            &merged,
            "remove_nodes(op=Identity) merge_duplicate_nodes fold_constants",
        );
        assert!(
            changed(&report, "merge_duplicate_nodes"),
            "{fixture}: {report}"
        );
        judge_graphs(&python, &training_run(fixture, flags), &[graph, merged]);
    }
}

#[test]
fn strip_unused_nodes_cuts_a_training_graph_at_its_inputs() {
    let Some(python) = tensorflow_python("strip_unused_nodes_cuts_a_training_graph_at_its_inputs")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = testdata("fixtures/cnn_dataset_bn");
    let graph = dir.path().join("stripped.pbtxt");
    let out = servegraph(&[
        "transform",
        path_str(&source),
        path_str(&graph),
        "--inputs",
        "IteratorGetNext,is_training",
        "--outputs",
        "logits/BiasAdd",
        "--transforms",
        "strip_unused_nodes",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed = report["passes"][0]["removed"]["unused"].as_array().unwrap();
    assert!(removed.len() > 50, "{} removed", removed.len());
    let text = std::fs::read_to_string(&graph).unwrap();
    for gone in ["IteratorV2", "ApplyMomentum", "gradients/"] {
        assert!(
            !text.contains(gone),
            "{gone} is still in the stripped graph"
        );
    }
    judge_graphs(
        &python,
        &training_run("cnn_dataset_bn", &["is_training:0"]),
        &[graph],
    );
}

#[test]
fn servegraphs_own_passes_run_by_name_on_a_training_graph() {
    let Some(python) = tensorflow_python("servegraphs_own_passes_run_by_name_on_a_training_graph")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = testdata("fixtures/cnn_dataset_bn");
    let graph = dir.path().join("inference.pb");
    let report = transform(
        &source,
        &graph,
        "training_conds dropout batch_norm debug_ops",
    );
    assert!(changed(&report, "training_conds"), "{report}");
    // The flag is gone with its conds, so nothing feeds it.
    judge_graphs(&python, &training_run("cnn_dataset_bn", &[]), &[graph]);
}

#[test]
fn a_transformed_saved_model_keeps_its_variables_and_serves_in_all_loaders() {
    let Some(python) = tensorflow_python(
        "a_transformed_saved_model_keeps_its_variables_and_serves_in_all_loaders",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let out = export_fixture_cli("tiny_mlp", &export, &["-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let transformed = dir.path().join("transformed");
    let report = transform(
        &export,
        &transformed,
        "remove_nodes(op=Identity) merge_duplicate_nodes obfuscate_names sort_by_execution_order add_default_attributes",
    );
    assert_eq!(report["written_as"], "saved_model");
    assert!(transformed.join("variables/variables.index").is_file());
    judge(&python, &transformed, "tiny_mlp", "serve", "tf2,tf1,capi");
}
