//! tf_keras trained in TF1 graph mode: the learning phase's functional
//! conds folded onto their inference branch, the Keras `Input` detected as
//! the serving input, no optimizer or metric state kept, and predictions
//! equal to Keras's own `model.predict` through all three loaders.

mod common;

use std::path::Path;

use prost::Message;
use servegraph::proto::{MetaGraphDef, SavedModel};

const FIXTURE: &str = "keras_graph_bn_dropout";

/// Exports the fixture naming only its output: the input is detected.
fn export(out: &Path) -> servegraph::ExportReport {
    let source = common::testdata("fixtures").join(FIXTURE);
    let options = servegraph::ExportOptions {
        inputs: Vec::new(),
        ..common::fixture_options(FIXTURE)
    };
    servegraph::export_serving_model(&source, out, &options)
        .unwrap_or_else(|e| panic!("export of {FIXTURE} failed: {e}"))
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

#[test]
fn learning_phase_conds_are_folded_and_no_training_state_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let report = export(&out);

    // The Keras Input placeholder is the detected input.
    let signature = &report.signatures["serving_default"];
    let inputs: Vec<(&String, &str)> = signature
        .inputs
        .iter()
        .map(|(k, v)| (k, v.name.as_str()))
        .collect();
    assert_eq!(inputs, [(&"features".to_string(), "features:0")]);

    // Three learning-phase conds in the serving path (two batch-norm
    // statistics, one dropout) folded onto their else branch.
    let conds = report
        .passes
        .iter()
        .find(|p| p.pass == "training-conds")
        .unwrap();
    assert_eq!(
        conds.removed["folded-cond"],
        ["bn/cond", "bn/cond_1", "dropout/cond"]
    );
    let folds: Vec<&String> = conds
        .notes
        .iter()
        .filter(|n| n.contains("folded onto its else branch"))
        .collect();
    assert_eq!(folds.len(), 3, "{:?}", conds.notes);

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
    assert_eq!(
        keys,
        [
            "bn/beta",
            "bn/gamma",
            "bn/moving_mean",
            "bn/moving_variance",
            "hidden/bias",
            "hidden/kernel",
            "probabilities/bias",
            "probabilities/kernel"
        ]
    );
    let dropped: Vec<&str> = report.dropped.iter().map(|d| d.key.as_str()).collect();
    for key in ["training/Adam/iter", "training/Adam/hidden/kernel/m"] {
        assert!(
            dropped.contains(&key),
            "{key} not reported dropped: {dropped:?}"
        );
    }
    for node in &graph.node {
        assert!(
            !node.name.starts_with("training/") && !node.name.starts_with("metrics/"),
            "{} left in the graph",
            node.name
        );
    }

    let Some(python) = common::tensorflow_python("keras_interop") else {
        return;
    };
    let difference = common::judge_within(&python, &out, FIXTURE, "serve", "tf2,tf1,capi", 1e-5);
    eprintln!(
        "{FIXTURE}: largest difference from model.predict over three loaders: {difference:e}"
    );
}
