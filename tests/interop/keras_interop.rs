//! tf_keras trained in TF1 graph mode: the learning phase's functional
//! conds folded onto their inference branch, the Keras `Input` detected as
//! the serving input, no optimizer or metric state kept, and predictions
//! equal to Keras's own `model.predict` through all three loaders.

use crate::common;

use std::path::Path;

use prost::Message;
use servegraph::proto::{MetaGraphDef, SavedModel};

/// What one Keras fixture's export must show.
struct Expected {
    fixture: &'static str,
    /// The Keras `Input`: signature key and tensor.
    input: (&'static str, &'static str),
    /// The learning-phase conds the outputs need, folded.
    folded: &'static [&'static str],
    /// Every key of the export's `variables/`: the model's weights only.
    variables: &'static [&'static str],
}

/// Exports the fixture naming only its output: the input is detected.
fn export(fixture: &str, out: &Path) -> servegraph::ExportReport {
    let source = common::testdata("fixtures").join(fixture);
    let options = {
        let mut custom = common::fixture_options(fixture);
        custom.serving.inputs = Vec::new();
        custom
    };
    servegraph::export_serving_model(&source, out, &options)
        .unwrap_or_else(|e| panic!("export of {fixture} failed: {e}"))
}

fn meta_graph(out: &Path) -> MetaGraphDef {
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    let mut saved = SavedModel::decode(bytes.as_slice()).unwrap();
    saved.meta_graphs.remove(0)
}

/// Every op of the graph and of every library function.
fn all_ops(meta: &MetaGraphDef) -> Vec<String> {
    let graph = meta.graph_def.as_ref().unwrap();
    let functions = graph.library.iter().flat_map(|l| &l.function);
    graph
        .node
        .iter()
        .map(|n| n.op.clone())
        .chain(functions.flat_map(|f| f.node_def.iter().map(|n| n.op.clone())))
        .collect()
}

fn check(expected: &Expected) {
    let name = expected.fixture;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let report = export(name, &out);

    // The Keras Input placeholder is the detected input.
    let signature = &report.signatures["serving_default"];
    let inputs: Vec<(&String, &str)> = signature
        .inputs
        .iter()
        .map(|(k, v)| (k, v.name.as_str()))
        .collect();
    let (key, tensor) = expected.input;
    assert_eq!(inputs, [(&key.to_string(), tensor)], "{name}");

    // The learning-phase conds in the serving path folded onto their else branch.
    let conds = report
        .graph
        .passes
        .iter()
        .find(|p| p.pass == "training-conds")
        .unwrap();
    assert_eq!(conds.removed["folded-cond"], expected.folded, "{name}");
    let folds: Vec<&String> = conds
        .notes
        .iter()
        .filter(|n| n.contains("folded onto its else branch"))
        .collect();
    assert_eq!(folds.len(), expected.folded.len(), "{:?}", conds.notes);

    let meta = meta_graph(&out);
    let ops = all_ops(&meta);
    for banned in ["If", "StatelessIf", "RandomUniform"] {
        assert!(
            !ops.iter().any(|op| op == banned),
            "{banned} left in the export: {ops:?}"
        );
    }
    let graph = meta.graph_def.as_ref().unwrap();
    assert!(graph.library.is_none(), "no function is called any more");
    assert!(
        !graph.node.iter().any(|n| n.name.contains("learning_phase")),
        "the learning phase is gone"
    );

    // variables/ holds the model's eight weights: no optimizer iterations,
    // hyperparameters or slots, no metric totals.
    let reader = servegraph::bundle::BundleReader::open(out.join("variables/variables")).unwrap();
    let mut keys = reader.names();
    keys.sort();
    assert_eq!(keys, expected.variables, "{name}");
    let dropped: Vec<&str> = report.dropped.iter().map(|d| d.key.as_str()).collect();
    // The optimizer's step, hyperparameters and both slots of every trained weight.
    let trained = expected.variables.iter().filter(|v| !v.contains("moving_"));
    let slots = trained.flat_map(|v| {
        [
            format!("training/Adam/{v}/m"),
            format!("training/Adam/{v}/v"),
        ]
    });
    let hyper = ["iter", "beta_1", "beta_2", "decay", "learning_rate"]
        .map(|h| format!("training/Adam/{h}"));
    for key in slots.chain(hyper) {
        assert!(
            dropped.contains(&key.as_str()),
            "{name}: {key} not reported dropped: {dropped:?}"
        );
    }
    for node in &graph.node {
        assert!(
            !node.name.starts_with("training/") && !node.name.starts_with("metrics/"),
            "{} left in the graph",
            node.name
        );
    }

    let Some(python) = common::tensorflow_python(&format!("keras_interop::{name}")) else {
        return;
    };
    let difference = common::judge_within(&python, &out, name, "serve", "tf2,tf1,capi", 1e-5);
    eprintln!("{name}: largest difference from model.predict over three loaders: {difference:e}");
}

#[test]
fn dense_batch_norm_dropout_model() {
    check(&Expected {
        fixture: "keras_graph_bn_dropout",
        input: ("features", "features:0"),
        // Two batch-norm statistics and the dropout.
        folded: &["bn/cond", "bn/cond_1", "dropout/cond"],
        variables: &[
            "bn/beta",
            "bn/gamma",
            "bn/moving_mean",
            "bn/moving_variance",
            "hidden/bias",
            "hidden/kernel",
            "probabilities/bias",
            "probabilities/kernel",
        ],
    });
}

#[test]
fn conv_fused_batch_norm_model_fitted_from_a_dataset() {
    check(&Expected {
        fixture: "keras_graph_conv_dataset",
        input: ("images", "images:0"),
        // The fused batch norm (FusedBatchNormV3 in both branches) and the dropout.
        folded: &["bn/cond", "dropout/cond"],
        variables: &[
            "bn/beta",
            "bn/gamma",
            "bn/moving_mean",
            "bn/moving_variance",
            "conv/bias",
            "conv/kernel",
            "logits/bias",
            "logits/kernel",
        ],
    });
}
