//! Every fixture exported with `freeze`, then loaded by real TensorFlow
//! through all three loaders (TF2, TF1 and the C API loader TensorFlow
//! Serving uses): predictions within the 1e-4 of the fixture's own outputs,
//! and bit-identical (the same float32 values) to the export that keeps its
//! variables. The frozen SavedModel has no `variables/`, no saver and no
//! variable op.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;
use servegraph::op_kinds::is_variable_op;
use servegraph::passes::freeze::{FreezeLimits, FreezeReport};
use servegraph::proto::SavedModel;
use servegraph::proto::attr_value::Value;

const LOADERS: [&str; 3] = ["tf2", "tf1", "capi"];

fn export(name: &str, out: &Path, freeze: bool) -> servegraph::ExportReport {
    let options = {
        let mut custom = common::fixture_options(name);
        custom.storage.freeze = freeze.then(FreezeLimits::default);
        custom
    };
    let source = common::testdata("fixtures").join(name);
    servegraph::export_serving_model(&source, out, &options)
        .unwrap_or_else(|e| panic!("export of {name} failed: {e}"))
}

/// No `variables/`, no saver, no variable or restore op, no variables
/// collection; every op used is in `stripped_op_list`.
fn assert_frozen(name: &str, out: &Path) {
    assert!(
        !out.join("variables").exists(),
        "{name}: variables/ written"
    );
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    let saved = SavedModel::decode(bytes.as_slice()).unwrap();
    for meta in &saved.meta_graphs {
        assert!(meta.saver_def.is_none(), "{name}: a saver_def is left");
        let info = meta.meta_info_def.as_ref().unwrap();
        let listed: Vec<&str> = info
            .stripped_op_list
            .as_ref()
            .unwrap()
            .op
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        for node in &meta.graph_def.as_ref().unwrap().node {
            assert!(
                listed.contains(&node.op.as_str()),
                "{name}: op {} not in stripped_op_list",
                node.op
            );
        }
        assert!(!meta.collection_def.contains_key("variables"), "{name}");
        assert!(
            !meta.collection_def.contains_key("trainable_variables"),
            "{name}"
        );
        for node in &meta.graph_def.as_ref().unwrap().node {
            let restores = ["SaveV2", "RestoreV2", "ReadVariableOp", "ResourceGather"];
            assert!(
                !is_variable_op(&node.op) && !restores.contains(&node.op.as_str()),
                "{name}: node {} ({}) is left",
                node.name,
                node.op
            );
        }
    }
}

/// Each frozen variable is a `Const` of its name holding exactly its bytes.
fn assert_values_in_graph(name: &str, out: &Path, report: &FreezeReport) {
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    let saved = SavedModel::decode(bytes.as_slice()).unwrap();
    let graph = saved.meta_graphs[0].graph_def.as_ref().unwrap();
    for variable in &report.variables {
        let node = graph.node.iter().find(|n| n.name == variable.node).unwrap();
        assert_eq!(node.op, "Const", "{name}: {}", variable.node);
        let Some(Value::Tensor(tensor)) = &node.attr["value"].value else {
            panic!("{name}: {} has no tensor value", variable.node);
        };
        assert_eq!(tensor.tensor_content.len() as u64, variable.bytes, "{name}");
    }
}

/// What each loader predicts for the fixture's test inputs on each export,
/// after checking them against the fixture's expected outputs where its flag
/// is set; the exports are judged in one batch.
fn predictions<const N: usize>(
    python: &Path,
    exports: [(&Path, bool); N],
    name: &str,
) -> [serde_json::Value; N] {
    let fixture = common::fixture_json(name);
    let requests = exports
        .iter()
        .map(|(export, judge)| {
            let mut request = serde_json::json!({
                "op": "run_saved_model",
                "export_dir": export,
                "inputs": fixture["test_inputs"],
                "loaders": LOADERS.join(","),
                "tolerance": 1e-4,
            });
            if *judge {
                request["expected"] = fixture["expected_outputs"].clone();
            }
            request
        })
        .collect();
    let answers = common::judge::judge(python).ask_all(requests);
    std::array::from_fn(|i| {
        let answer = &answers[i];
        assert!(
            answer.ok,
            "{name} ({}): {}",
            exports[i].0.display(),
            answer.describe()
        );
        answer.result.clone()
    })
}

fn check_fixture(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (plain_dir, frozen_dir) = (dir.path().join("plain"), dir.path().join("frozen"));
    let plain = export(name, &plain_dir, false);
    let frozen = export(name, &frozen_dir, true);
    let report = frozen.graph.frozen.as_ref().expect("a frozen report");
    assert_eq!(frozen.written.variables_bytes, 0, "{name}");
    assert!(frozen.kept.is_empty(), "{name}");
    let mut kept: Vec<&str> = plain.kept.iter().map(|v| v.node.as_str()).collect();
    let mut froze: Vec<&str> = report.variables.iter().map(|v| v.node.as_str()).collect();
    kept.sort();
    froze.sort();
    assert_eq!(froze, kept, "{name}: every kept variable is frozen");
    // The pieces of a partitioned variable share a key: count each key once.
    let keys: BTreeMap<&str, u64> = plain
        .kept
        .iter()
        .map(|v| (v.key.as_str(), v.bytes))
        .collect();
    assert_eq!(
        report.bytes,
        keys.values().sum::<u64>(),
        "{name}: all the bytes moved"
    );
    assert_eq!(
        plain.dropped, frozen.dropped,
        "{name}: the same tensors are dropped"
    );
    assert_frozen(name, &frozen_dir);
    assert_values_in_graph(name, &frozen_dir, report);
    let validation = servegraph::validate::validate_saved_model(&frozen_dir, &[]).unwrap();
    assert!(validation.is_valid(), "{name}: {validation}");

    let Some(python) = common::tensorflow_python(&format!("freeze_interop::{name}")) else {
        return;
    };
    let [frozen_out, plain_out] =
        predictions(&python, [(&frozen_dir, true), (&plain_dir, false)], name);
    for loader in LOADERS {
        assert_eq!(
            frozen_out[loader]["ok"], true,
            "{name} {loader}: {}",
            frozen_out[loader]
        );
        assert_eq!(
            frozen_out[loader]["outputs"], plain_out[loader]["outputs"],
            "{name} {loader}: frozen predictions differ from the unfrozen export's"
        );
        eprintln!(
            "{name}: {loader} bit-identical to the unfrozen export, max abs diff to the fixture {}",
            frozen_out[loader]["max_abs_diff"]
        );
    }
}

/// Freezing and a variant together: both MetaGraphDefs hold the constants
/// and load under their own tags.
#[test]
fn a_frozen_model_with_a_gpu_variant_loads_under_both_tag_sets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frozen");
    let options = {
        let mut custom = common::fixture_options("tiny_mlp");
        custom.storage.freeze = Some(FreezeLimits::default());
        custom.serving.variants = vec!["gpu".parse().unwrap()];
        custom
    };
    let source = common::testdata("fixtures/tiny_mlp");
    servegraph::export_serving_model(&source, &out, &options).unwrap();
    assert_frozen("tiny_mlp", &out);
    let Some(python) = common::tensorflow_python("freeze_interop::variant") else {
        return;
    };
    for tags in ["serve", "serve,gpu"] {
        common::judge(&python, &out, "tiny_mlp", tags, &LOADERS.join(","));
    }
}

fixture_tests!(
    bn_train_only,
    cnn_dataset_bn,
    estimator_dnn_multiclass,
    estimator_linear,
    estimator_regressor,
    estimator_wide_deep,
    int64_offsets,
    keras_graph_bn_dropout,
    keras_graph_conv_dataset,
    mlp_queue,
    resource_int64,
    rnn_while,
    sharded_partitioned,
    tiny_mlp,
    vocab_lookup,
    vocab_oov
);
