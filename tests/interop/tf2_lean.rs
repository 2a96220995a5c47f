//! Lean TF2 re-exports judged by TensorFlow's three loaders against each
//! fixture's recorded outputs (`common::tf2`).
//!
//! The writer is first judged on its own: a plan that keeps everything the
//! source restores (its variables found from the source's own restore
//! function) is written with a fresh saver, and every loader must still
//! give the source's outputs.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::tf2;
use prost::Message;
use serde_json::Value;
use servegraph::bundle::BundleReader;
use servegraph::object_graph::{OBJECT_GRAPH_KEY, ObjectGraph};
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
    judge_in(python, name, export, LOADERS)
}

/// [`judge_all`] in `loaders` alone (comma-separated).
fn judge_in(python: &Path, name: &str, export: &Path, loaders: &str) -> BTreeMap<String, f64> {
    let json = tf2::fixture_json(name);
    let report = tf2::run_signatures(python, export, &json, loaders, None);
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
    for loader in loaders.split(',') {
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
        // Everything kept keeps what the source does: a source TensorFlow's
        // session loaders cannot run is judged by tf.saved_model.load alone.
        let loaders = if tf2::source_signatures_run_in_a_session(&name) {
            LOADERS
        } else {
            eprintln!(
                "{name}: keeping everything, judged in tf2 only (the source fails in tf1 and capi)"
            );
            "tf2"
        };
        let diffs = judge_in(&python, &name, &export, loaders);
        eprintln!(
            "{name}: fresh saver, {} variables, max abs diff {diffs:?}",
            plan.variables.len()
        );
    }
}

/// Runs `servegraph export SOURCE OUT --json` with `extra` flags; returns
/// the report.
fn export_cli(source: &Path, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "export",
        common::path_str(source),
        common::path_str(out),
        "--json",
    ];
    args.extend(extra);
    let output = common::servegraph(&args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        common::stderr(&output)
    );
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

fn sorted_signature_keys(json: &Value) -> Vec<String> {
    let mut keys: Vec<String> = json["signatures"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Every key of a bundle.
fn bundle_keys(prefix: &Path) -> Vec<String> {
    let mut names = BundleReader::open(prefix).unwrap().names();
    names.sort();
    names
}

/// One row of the closing table.
struct Row {
    fixture: String,
    before: u64,
    after: u64,
    dropped_keys: usize,
    dropped_key_bytes: u64,
    dropped_objects: usize,
    dropped_functions: usize,
    diffs: BTreeMap<String, f64>,
}

#[test]
fn every_fixture_exports_lean_and_every_loader_agrees() {
    let Some(python) =
        common::tensorflow_python("every_fixture_exports_lean_and_every_loader_agrees")
    else {
        return;
    };
    let mut rows = Vec::new();
    for name in tf2::fixture_names() {
        let json = tf2::fixture_json(&name);
        let source = tf2::saved_model(&name);
        let out = tempfile::tempdir().unwrap();
        let export = out.path().join("export");
        let report = export_cli(&source, &export, &[]);

        // Every signature kept, each giving the source's outputs in every loader.
        let diffs = judge_all(&python, &name, &export);
        let signatures = sorted_signature_keys(&json);
        let reported: Vec<String> = report["signatures"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(reported, signatures, "{name}");

        // No training state (nor state no signature reads) left; exactly
        // the weights restored by tf.saved_model.load.
        let keys = bundle_keys(&export.join("variables/variables"));
        let dropped_roles = ["optimizer", "iterations", "metric", "unused", "duplicate"];
        let training = tf2::keys_with_role(&json, &dropped_roles);
        for key in &training {
            assert!(!keys.contains(key), "{name}: {key} left in the export");
        }
        let mut weights = tf2::keys_with_role(&json, &["weight"]);
        weights.sort();
        let mut expected_keys = weights.clone();
        expected_keys.push(OBJECT_GRAPH_KEY.to_string());
        expected_keys.sort();
        assert_eq!(keys, expected_keys, "{name}");
        let restored = tf2::restored_variables(&python, &export);
        let mut restored_keys: Vec<String> = restored
            .iter()
            .map(|v| format!("{}/.ATTRIBUTES/VARIABLE_VALUE", v["path"].as_str().unwrap()))
            .collect();
        restored_keys.sort();
        assert_eq!(restored_keys, weights, "{name}");

        // The report: dropped keys with bytes, the lean section, the size.
        let dropped = report["dropped"].as_array().unwrap();
        let mut dropped_keys: Vec<String> = dropped
            .iter()
            .map(|d| d["key"].as_str().unwrap().to_string())
            .collect();
        dropped_keys.sort();
        let mut expected_dropped = training.clone();
        expected_dropped.sort();
        assert_eq!(dropped_keys, expected_dropped, "{name}");
        let dropped_key_bytes: u64 = dropped.iter().map(|d| d["bytes"].as_u64().unwrap()).sum();
        let lean = &report["lean"];
        for field in [
            "kept_signatures",
            "dropped_signatures",
            "dropped_objects",
            "dropped_functions",
            "files",
            "bytes_before",
            "bytes_after",
        ] {
            assert!(
                !lean[field].is_null(),
                "{name}: lean.{field} missing: {lean}"
            );
        }
        let before = lean["bytes_before"].as_u64().unwrap();
        let after = lean["bytes_after"].as_u64().unwrap();
        assert_eq!(
            before,
            json["saved_model_bytes"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(after, report["total_bytes"].as_u64().unwrap(), "{name}");
        assert!(
            after + dropped_key_bytes <= before,
            "{name}: {after} bytes written + {dropped_key_bytes} dropped > {before} in the source"
        );
        let files = lean["files"].as_array().unwrap();
        assert!(
            files
                .iter()
                .any(|f| f["file"] == "fingerprint.pb" && f["kept"] == false),
            "{name}"
        );
        assert!(!export.join("fingerprint.pb").exists(), "{name}");
        assert_assets_kept(&name, &json, &source, &export);
        let keras = files.iter().find(|f| f["file"] == "keras_metadata.pb");
        assert_eq!(
            keras.is_some(),
            source.join("keras_metadata.pb").exists(),
            "{name}"
        );
        if let Some(keras) = keras {
            assert_eq!(
                keras["kept"] == true,
                export.join("keras_metadata.pb").exists(),
                "{name}"
            );
        }
        if !training.is_empty() {
            assert!(
                !lean["dropped_objects"].as_array().unwrap().is_empty(),
                "{name}"
            );
        }
        rows.push(Row {
            fixture: name.clone(),
            before,
            after,
            dropped_keys: dropped.len(),
            dropped_key_bytes,
            dropped_objects: lean["dropped_objects"].as_array().unwrap().len(),
            dropped_functions: lean["dropped_functions"].as_array().unwrap().len(),
            diffs,
        });
    }
    print_table(&rows);
}

/// The export holds every asset file of the source, byte for byte, and
/// its MetaGraphDef names the same asset files as the source's.
fn assert_assets_kept(name: &str, json: &Value, source: &Path, export: &Path) {
    let files = json["saved_model_files"].as_object().unwrap();
    let assets: Vec<&String> = files.keys().filter(|f| f.starts_with("assets/")).collect();
    for asset in &assets {
        let kept = std::fs::read(export.join(asset.as_str()))
            .unwrap_or_else(|e| panic!("{name}: {asset} not in the export: {e}"));
        assert_eq!(
            kept,
            std::fs::read(source.join(asset.as_str())).unwrap(),
            "{name}: {asset}"
        );
    }
    let asset_files = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = read_meta_graph(dir)
            .asset_file_def
            .iter()
            .map(|a| a.filename.clone())
            .collect();
        names.sort();
        names
    };
    let named = asset_files(export);
    assert_eq!(named, asset_files(source), "{name}");
    assert_eq!(named.len(), assets.len(), "{name}: {named:?} vs {assets:?}");
}

#[test]
fn the_table_module_keeps_its_vocabulary_and_drops_what_no_signature_reads() {
    let json = tf2::fixture_json("module_table");
    let source = tf2::saved_model("module_table");
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("export");
    let report = export_cli(&source, &export, &[]);
    assert!(export.join("assets/vocabulary.txt").is_file());
    assert_assets_kept("module_table", &json, &source, &export);
    let unused = tf2::keys_with_role(&json, &["unused"]);
    assert_eq!(unused.len(), 1, "{unused:?}");
    let keys = bundle_keys(&export.join("variables/variables"));
    assert!(!keys.contains(&unused[0]), "{keys:?}");
    let dropped = report["dropped"].as_array().unwrap();
    assert!(
        dropped.iter().any(|d| d["key"] == unused[0].as_str()),
        "{dropped:?}"
    );
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<24} {:>9} {:>9} {:>13} {:>8} {:>10} {:>9} {:>9} {:>9}",
        "fixture", "before", "after", "dropped keys", "objects", "functions", "tf2", "tf1", "capi"
    );
    for row in rows {
        println!(
            "{:<24} {:>9} {:>9} {:>6} ({:>4} B) {:>8} {:>10} {:>9.1e} {:>9.1e} {:>9.1e}",
            row.fixture,
            row.before,
            row.after,
            row.dropped_keys,
            row.dropped_key_bytes,
            row.dropped_objects,
            row.dropped_functions,
            row.diffs["tf2"],
            row.diffs["tf1"],
            row.diffs["capi"],
        );
    }
}

#[test]
fn signature_keeps_only_that_source_signature() {
    let Some(python) = common::tensorflow_python("signature_keeps_only_that_source_signature")
    else {
        return;
    };
    let json = tf2::fixture_json("module_function");
    let source = tf2::saved_model("module_function");
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("export");
    let report = export_cli(&source, &export, &["--signature", "classify"]);
    let reported: Vec<&String> = report["signatures"].as_object().unwrap().keys().collect();
    assert_eq!(reported, ["classify"]);
    assert_eq!(
        report["lean"]["dropped_signatures"],
        serde_json::json!(["serving_default"])
    );
    let run = tf2::run_signatures(&python, &export, &json, LOADERS, Some("classify"));
    for loader in LOADERS.split(',') {
        let (problems, _) = tf2::judge_loader(&json, &run[loader], &["classify".to_string()]);
        assert!(problems.is_empty(), "{loader}: {problems:?}");
    }
    let meta = read_meta_graph(&export);
    let mut keys: Vec<&String> = meta.signature_def.keys().collect();
    keys.sort();
    assert_eq!(keys, ["__saved_model_init_op", "classify"]);
}

/// Runs an export expected to fail; returns its stderr after checking
/// nothing was created.
fn refused(source: &Path, extra: &[&str]) -> String {
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("export");
    let mut args = vec![
        "export",
        common::path_str(source),
        common::path_str(&export),
    ];
    args.extend(extra);
    let output = common::servegraph(&args);
    assert!(!output.status.success(), "{args:?} succeeded");
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert!(left.is_empty(), "{args:?} left {left:?}");
    common::stderr(&output)
}

#[test]
fn refusals_write_nothing() {
    let source = tf2::saved_model("module_function");
    let unknown = refused(&source, &["--signature", "nope"]);
    assert!(
        unknown.contains("nope") && unknown.contains("classify"),
        "{unknown}"
    );
    for flags in [
        &["--freeze"][..],
        &["--weights", "int8"],
        &["--examples"],
        &["--max-vocab", "10"],
        &["--narrow-int64"],
        &["--moving-averages"],
    ] {
        let stderr = refused(&source, flags);
        assert!(stderr.contains(flags[0]), "{flags:?}: {stderr}");
    }
    let budget = refused(&source, &["--max-size", "1000"]);
    assert!(budget.contains("--max-size"), "{budget}");
}

/// `ckpt-1` of module_function with `model/scale` set to 42: every other
/// key (the object graph included) copied as is.
fn checkpoint_with_new_scale(dir: &Path) -> std::path::PathBuf {
    let source = BundleReader::open(tf2::root().join("module_function/ckpt-1")).unwrap();
    let prefix = dir.join("ckpt-7");
    let mut writer = servegraph::bundle::BundleWriter::create(&prefix).unwrap();
    for name in source.names() {
        if name == "model/scale/.ATTRIBUTES/VARIABLE_VALUE" {
            writer
                .add(&name, DataType::DtFloat, &[], &42f32.to_le_bytes())
                .unwrap();
        } else {
            writer.copy_from(&source, &name).unwrap();
        }
    }
    writer.finish().unwrap();
    prefix
}

#[test]
fn checkpoint_values_are_taken_by_object_path() {
    let Some(python) = common::tensorflow_python("checkpoint_values_are_taken_by_object_path")
    else {
        return;
    };
    let fixture = tf2::root().join("module_function");
    let source = tf2::saved_model("module_function");
    let out = tempfile::tempdir().unwrap();

    // The checkpoint beside the SavedModel (the directory's state file names ckpt-1).
    let export = out.path().join("from_ckpt");
    export_cli(
        &source,
        &export,
        &["--checkpoint", common::path_str(&fixture)],
    );
    let checkpoint = BundleReader::open(fixture.join("ckpt-1")).unwrap();
    let written = BundleReader::open(export.join("variables/variables")).unwrap();
    let json = tf2::fixture_json("module_function");
    for key in tf2::keys_with_role(&json, &["weight"]) {
        let in_checkpoint = checkpoint
            .read_raw(format!("model/{key}").as_bytes())
            .unwrap();
        assert_eq!(
            written.read_raw(key.as_bytes()).unwrap(),
            in_checkpoint,
            "{key}"
        );
    }
    judge_all(&python, "module_function", &export);

    // A checkpoint whose values differ: the export holds its values.
    let checkpoints = tempfile::tempdir().unwrap();
    let changed = checkpoint_with_new_scale(checkpoints.path());
    let export = out.path().join("from_changed");
    export_cli(
        &source,
        &export,
        &["--checkpoint", common::path_str(&changed)],
    );
    let written = BundleReader::open(export.join("variables/variables")).unwrap();
    let scale = written
        .read_raw(b"scale/.ATTRIBUTES/VARIABLE_VALUE")
        .unwrap();
    assert_eq!(scale, 42f32.to_le_bytes());

    // A checkpoint of another object lacks the kept variables: an error naming one.
    let keras = tf2::saved_model("keras_subclassed");
    let stderr = refused(&keras, &["--checkpoint", common::path_str(&fixture)]);
    assert!(
        stderr.contains("ckpt-1") && stderr.contains("VARIABLE_VALUE"),
        "{stderr}"
    );
}
