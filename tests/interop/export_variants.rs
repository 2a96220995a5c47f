//! Beyond one export: a SavedModel re-exported lean (assets and all), and
//! several MetaGraphDefs (a CPU and a GPU tag set) sharing one set of
//! variables — each judged by real TensorFlow's loaders.

use crate::common;

use std::path::Path;

use servegraph::passes::{PassContext, Pipeline, ServingSpec};
use servegraph::write::atomic::Overwrite;
use servegraph::write::saved_model::{MetaGraphVariant, write_variants};

#[test]
fn a_saved_model_re_exports_with_its_assets() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let options = common::fixture_options("vocab_lookup");
    servegraph::export_serving_model(common::testdata("fixtures/vocab_lookup"), &first, &options)
        .unwrap();
    let second = dir.path().join("second");
    let options = {
        let mut custom = servegraph::ExportOptions::default();
        custom.serving.inputs = vec!["tokens=tokens:0".parse().unwrap()];
        custom.serving.outputs = vec!["logits=logits/BiasAdd:0".parse().unwrap()];
        custom
    };
    let report = servegraph::export_serving_model(&first, &second, &options).unwrap();
    assert_eq!(report.written.assets, ["vocab.txt"]);
    assert!(second.join("assets/vocab.txt").is_file());
    let Some(python) = common::tensorflow_python("export_variants::re_export") else {
        return;
    };
    common::judge(&python, &second, "vocab_lookup", "serve", "tf2,tf1,capi");
}

#[test]
fn cpu_and_gpu_meta_graphs_share_one_set_of_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("variants");
    let options = common::fixture_options("resource_int64");
    let mut model =
        servegraph::read::read_model(common::testdata("fixtures/resource_int64"), None, &[])
            .unwrap();
    let spec = ServingSpec {
        inputs: options.serving.inputs.clone(),
        outputs: options.serving.outputs.clone(),
        ..Default::default()
    };
    Pipeline::serving(&spec)
        .run(&mut model, &mut PassContext::new())
        .unwrap();
    let variants = [
        MetaGraphVariant {
            model: &model,
            tags: vec!["serve".into()],
        },
        MetaGraphVariant {
            model: &model,
            tags: vec!["serve".into(), "gpu".into()],
        },
    ];
    let report = write_variants(&variants, &out, Overwrite::Refuse).unwrap();
    assert_eq!(report.variables.len(), 3);
    let reader = servegraph::bundle::BundleReader::open(out.join("variables/variables")).unwrap();
    assert_eq!(reader.names().len(), 3, "one copy of each variable");
    let Some(python) = common::tensorflow_python("export_variants::cpu_and_gpu") else {
        return;
    };
    common::judge(&python, &out, "resource_int64", "serve", "tf2,tf1,capi");
    common::judge(&python, &out, "resource_int64", "serve,gpu", "tf2,tf1,capi");
}

#[test]
fn every_source_form_exports_the_same_model() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::testdata("fixtures/tiny_mlp");
    let meta = servegraph::proto::MetaGraphDef::decode(
        std::fs::read(fixture.join("model.ckpt-5.meta"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let graph = dir.path().join("graph.pb");
    std::fs::write(&graph, meta.graph_def.unwrap().encode_to_vec()).unwrap();
    let options = common::fixture_options("tiny_mlp");
    let sources = [
        ("directory", fixture.clone(), None),
        ("prefix", fixture.join("model.ckpt-5"), None),
        ("meta", fixture.join("model.ckpt-5.meta"), None),
        ("index", fixture.join("model.ckpt-5.index"), None),
        ("graphdef", graph, Some(fixture.join("model.ckpt-5"))),
    ];
    let mut exports = Vec::new();
    for (form, source, checkpoint) in sources {
        let out = dir.path().join(form);
        let options = {
            let mut custom = options.clone();
            custom.source.checkpoint = checkpoint;
            custom
        };
        servegraph::export_serving_model(&source, &out, &options)
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        exports.push((form, out));
    }
    let variables =
        |out: &Path| std::fs::read(out.join("variables/variables.data-00000-of-00001")).unwrap();
    for (form, out) in &exports[1..] {
        assert_eq!(
            variables(out),
            variables(&exports[0].1),
            "{form}: different variables"
        );
    }
    let Some(python) = common::tensorflow_python("export_variants::every_source_form") else {
        return;
    };
    let (_, graphdef_export) = &exports[4];
    common::judge(
        &python,
        graphdef_export,
        "tiny_mlp",
        "serve",
        "tf2,tf1,capi",
    );
}
