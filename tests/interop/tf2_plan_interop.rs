//! The planned MetaGraphDef alone, judged by `tf.saved_model.load`: each
//! fixture's plan written as `saved_model.pb` beside the source's own
//! `variables/` loads, every kept signature gives the fixture's outputs,
//! and the restored object graph holds exactly the kept variables. (The
//! checkpoint keeps its dropped values; the TF2 loader restores by object
//! graph and ignores them. The TF1 and C API loaders need the saver the
//! writer adds, so they judge written exports, not plans.)

use crate::common;

use std::path::Path;

use common::tf2;
use prost::Message;
use servegraph::proto::SavedModel;
use servegraph::tf2::{SignatureChoice, plan_lean};

/// The fixture's plan written as a SavedModel in `dir`, with the source's
/// `variables/` and `assets/` (a vocabulary table's file) copied beside it.
fn write_plan(fixture: &str, choice: &SignatureChoice, dir: &Path) -> servegraph::tf2::LeanPlan {
    let source = tf2::saved_model(fixture);
    let bytes = std::fs::read(source.join("saved_model.pb")).unwrap();
    let saved_model = SavedModel::decode(bytes.as_slice()).unwrap();
    let meta_graph = saved_model.meta_graphs.first().unwrap();
    let reader =
        servegraph::bundle::BundleReader::open(source.join("variables/variables")).unwrap();
    let checkpoint = servegraph::object_graph::ObjectGraph::read(&reader)
        .unwrap()
        .unwrap()
        .to_proto();
    let plan = plan_lean(&source, meta_graph, &checkpoint, choice).unwrap();
    let written = SavedModel {
        meta_graphs: vec![plan.meta_graph.clone()],
        ..saved_model
    };
    std::fs::write(dir.join("saved_model.pb"), written.encode_to_vec()).unwrap();
    copy_files(&source.join("variables"), &dir.join("variables"));
    if source.join("assets").is_dir() {
        copy_files(&source.join("assets"), &dir.join("assets"));
    }
    plan
}

/// Copies every file of `from` into a new directory `to`.
fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn planned_object_graphs_load_and_serve_in_tensorflow() {
    let Some(python) =
        common::tensorflow_python("planned_object_graphs_load_and_serve_in_tensorflow")
    else {
        return;
    };
    for fixture in tf2::fixture_names() {
        let json = tf2::fixture_json(&fixture);
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        let plan = write_plan(&fixture, &SignatureChoice::All, &model);
        let report = tf2::run_signatures(&python, &model, &json, "tf2", None);
        let mut signatures: Vec<String> = json["signatures"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        signatures.sort();
        let (problems, _) = tf2::judge_loader(&json, &report["tf2"], &signatures);
        assert!(problems.is_empty(), "{fixture}: {problems:?}");

        let restored = tf2::restored_variables(&python, &model);
        let mut paths: Vec<String> = restored
            .iter()
            .map(|v| v["path"].as_str().unwrap().to_string())
            .collect();
        paths.sort();
        let mut kept: Vec<String> = plan
            .variables
            .iter()
            .map(|v| v.object_path.clone())
            .collect();
        kept.sort();
        assert_eq!(paths, kept, "{fixture}");
    }
}

#[test]
fn a_plan_keeping_one_signature_serves_just_that_one() {
    let Some(python) =
        common::tensorflow_python("a_plan_keeping_one_signature_serves_just_that_one")
    else {
        return;
    };
    let fixture = "module_function";
    let json = tf2::fixture_json(fixture);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    let choice = SignatureChoice::Only(vec!["classify".into()]);
    write_plan(fixture, &choice, &model);
    let report = tf2::run_signatures(&python, &model, &json, "tf2", Some("classify"));
    let (problems, _) = tf2::judge_loader(&json, &report["tf2"], &["classify".to_string()]);
    assert!(problems.is_empty(), "{problems:?}");
    let report = tf2::run_signatures(&python, &model, &json, "tf2", Some("serving_default"));
    assert_ne!(report["tf2"]["ok"], true, "{report}");
}
