//! Lean TF2 re-exports judged by TensorFlow's three loaders against each
//! fixture's recorded outputs (`common::tf2`).
//!
//! The writer is first judged on its own: a plan that keeps everything the
//! source restores (its variables found from the source's own restore
//! function) is written with a fresh saver, and every loader must still
//! give the source's outputs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::tf2;
use prost::Message;
use servegraph::bundle::BundleReader;
use servegraph::object_graph::ObjectGraph;
use servegraph::proto::attr_value::Value as Attr;
use servegraph::proto::{DataType, FunctionDef, MetaGraphDef, NodeDef, SavedModel};
use servegraph::tf2::write::{LeanWriteOptions, write_lean};
use servegraph::tf2::{KeptVariable, LeanPlan};

const LOADERS: &str = "tf2,tf1,capi";

fn read_meta_graph(saved_model: &Path) -> MetaGraphDef {
    let bytes = std::fs::read(saved_model.join("saved_model.pb")).unwrap();
    let mut model = SavedModel::decode(bytes.as_slice()).unwrap();
    model.meta_graphs.remove(0)
}

fn node<'a>(nodes: &'a [NodeDef], name: &str) -> &'a NodeDef {
    let found = nodes.iter().find(|n| n.name == name);
    found.unwrap_or_else(|| panic!("no node {name}"))
}

fn function_of<'a>(meta: &'a MetaGraphDef, call: &NodeDef) -> &'a FunctionDef {
    let Some(Attr::Func(f)) = call.attr["f"].value.as_ref() else {
        panic!("{} calls no function", call.name);
    };
    let library = meta.graph_def.as_ref().unwrap().library.as_ref().unwrap();
    let found = library
        .function
        .iter()
        .find(|d| d.signature.as_ref().unwrap().name == f.name);
    found.unwrap_or_else(|| panic!("no function {}", f.name))
}

fn strings(node: &NodeDef) -> Vec<String> {
    let Some(Attr::Tensor(t)) = node.attr["value"].value.as_ref() else {
        panic!("{} holds no tensor", node.name);
    };
    let values = t.string_val.iter();
    values
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

/// The tensor index `RestoreV2:tensors:i` feeds, following `Identity`s.
fn restored_index(function: &FunctionDef, input: &str) -> usize {
    if let Some(i) = input.strip_prefix("RestoreV2:tensors:") {
        return i.parse().unwrap();
    }
    let name = input.split(':').next().unwrap();
    let identity = node(&function.node_def, name);
    restored_index(function, &identity.input[0])
}

/// Everything the source's restore op restores, as kept variables: each
/// `AssignVariableOp` of its restore function pairs a key of the
/// `RestoreV2` with the handle the call node passes for that argument.
fn restored_by_source(meta: &MetaGraphDef) -> Vec<KeptVariable> {
    let graph = &meta.graph_def.as_ref().unwrap().node;
    let saver = meta.saver_def.as_ref().unwrap();
    let call = node(graph, &saver.restore_op_name);
    let restore = function_of(meta, call);
    let restore_v2 = node(&restore.node_def, "RestoreV2");
    let keys_node = restore_v2.input[1].split(':').next().unwrap();
    let keys = strings(node(&restore.node_def, keys_node));
    let args = &restore.signature.as_ref().unwrap().input_arg;
    let assigns = restore
        .node_def
        .iter()
        .filter(|n| n.op == "AssignVariableOp");
    let mut variables: Vec<KeptVariable> = assigns
        .map(|assign| {
            let arg = args.iter().position(|a| a.name == assign.input[0]).unwrap();
            let handle = node(graph, &call.input[arg]);
            let key = keys[restored_index(restore, &assign.input[1])].clone();
            let Some(Attr::Type(dtype)) = handle.attr["dtype"].value else {
                panic!("{} has no dtype", handle.name);
            };
            let Some(Attr::Shape(shape)) = handle.attr["shape"].value.as_ref() else {
                panic!("{} has no shape", handle.name);
            };
            KeptVariable {
                node: handle.name.clone(),
                object_id: 0,
                object_path: key.trim_end_matches("/.ATTRIBUTES/VARIABLE_VALUE").into(),
                key,
                dtype: DataType::try_from(dtype).unwrap(),
                shape: shape.dim.iter().map(|d| d.size).collect(),
            }
        })
        .collect();
    variables.sort_by(|a, b| a.key.cmp(&b.key));
    variables
}

/// The source's MetaGraphDef without its saver: no saver_def, no filename
/// placeholder, save or restore call, nor what only the save call read.
fn without_saver(meta: &MetaGraphDef) -> MetaGraphDef {
    let mut meta = meta.clone();
    let saver = meta.saver_def.take().unwrap();
    let graph = meta.graph_def.as_mut().unwrap();
    let save = saver
        .save_tensor_name
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let filename = saver
        .filename_tensor_name
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let save_inputs = node(&graph.node, &save).input.clone();
    let only_save_reads = save_inputs.iter().filter(|input| {
        let op = &node(&graph.node, input).op;
        op == "Const"
    });
    let mut gone: Vec<String> = vec![save, filename, saver.restore_op_name.clone()];
    gone.extend(only_save_reads.cloned());
    graph.node.retain(|n| !gone.contains(&n.name));
    meta
}

/// A plan that keeps every variable the source restores.
fn keep_everything_plan(saved_model: &Path) -> LeanPlan {
    let meta = read_meta_graph(saved_model);
    let reader = BundleReader::open(saved_model.join("variables/variables")).unwrap();
    let checkpoint_graph = ObjectGraph::read(&reader).unwrap().unwrap().to_proto();
    LeanPlan {
        variables: restored_by_source(&meta),
        meta_graph: without_saver(&meta),
        checkpoint_graph,
        ..LeanPlan::default()
    }
}

/// Judges every loader's run of `export` against the fixture; returns the
/// largest difference per loader.
fn judge_all(python: &Path, name: &str, export: &Path) -> BTreeMap<String, f64> {
    let json = tf2::fixture_json(name);
    let report = tf2::run_signatures(python, export, &json, LOADERS, None);
    let signatures: Vec<String> = {
        let mut keys: Vec<String> = json["signatures"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let mut diffs = BTreeMap::new();
    for loader in LOADERS.split(',') {
        let (problems, largest) = tf2::judge_loader(&json, &report[loader], &signatures);
        assert!(problems.is_empty(), "{name} {loader}: {problems:?}");
        diffs.insert(loader.to_string(), largest);
    }
    diffs
}

#[test]
fn a_fresh_saver_restores_what_the_sources_own_did_in_every_loader() {
    let Some(python) = common::tensorflow_python("a_fresh_saver_restores_what_the_sources_own_did")
    else {
        return;
    };
    for name in tf2::fixture_names() {
        let source = tf2::saved_model(&name);
        let plan = keep_everything_plan(&source);
        assert!(!plan.variables.is_empty(), "{name}");
        let out = tempfile::tempdir().unwrap();
        let export = out.path().join("export");
        let written = write_lean(&source, &plan, &export, &LeanWriteOptions::default()).unwrap();
        assert!(!export.join("fingerprint.pb").exists(), "{name}");
        assert!(
            written
                .files
                .iter()
                .any(|f| f.file == "fingerprint.pb" && !f.kept),
            "{name}"
        );
        let reader = BundleReader::open(export.join("variables/variables")).unwrap();
        assert_eq!(reader.names().len(), plan.variables.len() + 1, "{name}");
        let diffs = judge_all(&python, &name, &export);
        eprintln!(
            "{name}: fresh saver, {} variables, max abs diff {diffs:?}",
            plan.variables.len()
        );
    }
}
