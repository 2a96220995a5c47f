//! Every training fixture exported, then loaded by real TensorFlow through
//! all three loaders (TF2 `tf.saved_model.load`, the TF1 loader, and the C
//! API loader TensorFlow Serving uses), with predictions compared to the
//! training program's own inference outputs on a new batch size.

use crate::common;

use std::path::Path;

use servegraph::export::drop_reason;
use servegraph::ops::training::training_category;
use servegraph::proto::SavedModel;

fn export(name: &str, out: &Path) -> servegraph::ExportReport {
    let source = common::testdata("fixtures").join(name);
    servegraph::export_serving_model(&source, out, &common::fixture_options(name))
        .unwrap_or_else(|e| panic!("export of {name} failed: {e}"))
}

/// No training-only op outside the serving saver, and no optimizer state in variables/.
fn assert_lean(name: &str, out: &Path) {
    use prost::Message;
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    let saved = SavedModel::decode(bytes.as_slice()).unwrap();
    assert_eq!(saved.meta_graphs.len(), 1);
    let meta = &saved.meta_graphs[0];
    assert!(
        meta.object_graph_def.is_none(),
        "{name}: TF1-style models carry no object graph"
    );
    let saver_scope = meta.saver_def.as_ref().map(|s| {
        s.restore_op_name
            .split('/')
            .next()
            .unwrap_or("")
            .to_string()
    });
    for node in &meta.graph_def.as_ref().unwrap().node {
        let in_saver = saver_scope
            .as_ref()
            .is_some_and(|scope| node.name.starts_with(&format!("{scope}/")));
        if let (false, Some(category)) = (in_saver, training_category(&node.op)) {
            panic!(
                "{name}: training-only node {} ({}, {category}) left in the export",
                node.name, node.op
            );
        }
    }
    let listed: Vec<&str> = meta
        .meta_info_def
        .as_ref()
        .unwrap()
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
            "{name}: op {} missing from stripped_op_list",
            node.op
        );
    }
    let reader = servegraph::bundle::BundleReader::open(out.join("variables/variables")).unwrap();
    for key in reader.names() {
        assert_eq!(
            drop_reason(&key),
            "not read by the serving graph",
            "{name}: {key} should not be exported"
        );
    }
}

fn check_fixture(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let report = export(name, &out);
    assert!(!report.kept.is_empty(), "{name}: no variables kept");
    // The signature states the shapes the fixture declares, batch dimension unknown.
    let fixture = common::fixture_json(name);
    let signature = &report.signatures["serving_default"];
    for (field, tensors) in [
        ("inputs", &signature.inputs),
        ("outputs", &signature.outputs),
    ] {
        for (key, spec) in fixture[field].as_object().unwrap() {
            for (key, declared) in common::signature_shapes(key, spec) {
                let shape = tensors[&key]
                    .shape
                    .clone()
                    .map(|dims| serde_json::json!(dims));
                assert_eq!(
                    shape.as_ref(),
                    Some(&declared),
                    "{name}: {field} {key} shape"
                );
            }
        }
    }
    assert_lean(name, &out);
    let validation = servegraph::validate::validate_saved_model(&out, &[]).unwrap();
    assert!(validation.is_valid(), "{name}: {validation}");

    let Some(python) = common::tensorflow_python(&format!("export_interop::{name}")) else {
        return;
    };
    let fixture = common::fixture_json(name);
    let answer = common::judge::run_saved_model(
        &python,
        serde_json::json!({
            "export_dir": out,
            "inputs": fixture["test_inputs"],
            "expected": fixture["expected_outputs"],
            "tolerance": fixture["tolerance"].as_f64().unwrap_or(1e-5),
        }),
    );
    assert!(
        answer.ok,
        "{name}: TensorFlow loaders disagree:\n{}",
        answer.describe()
    );
    let verdict = answer.result;
    for loader in ["tf2", "tf1", "capi"] {
        assert_eq!(
            verdict[loader]["ok"], true,
            "{name}: loader {loader}: {}",
            verdict[loader]
        );
        eprintln!(
            "{name}: {loader} ok, max abs diff {}",
            verdict[loader]["max_abs_diff"]
        );
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
