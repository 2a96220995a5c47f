//! `tf2::retype` on the real TF2 fixtures, before any lean writer: each
//! source's whole MetaGraphDef retyped in place (every float32 variable a
//! signature reaches with at least [`MIN_ELEMENTS`] elements becomes float16),
//! written beside a copy of the source's float32 `variables/`, must load in
//! TensorFlow's TF1 loader and C API loader (both run the source's own
//! restore function, whose assignments now cast float32 to float16) and give
//! fixture.json's outputs within float16 tolerance, as float32. The restored
//! variables are float16 in the graph and in the object graph.
//!
//! `tf.saved_model.load` is not judged here: it restores by object graph with
//! the variable's dtype, so it needs a float16 checkpoint, which only the
//! writer produces.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::tf2;
use prost::Message;
use serde_json::Value;
use servegraph::proto::{DataType, MetaGraphDef, NodeDef, SavedModel, attr_value};
use servegraph::tf2::KeptVariable;
use servegraph::tf2::retype::{bound_inputs, retype_weights};

/// Variables with fewer elements stay float32, so every fixture has both
/// kinds (its biases of 3 or 1 are kept, kernels and 8-wide vectors retyped).
const MIN_ELEMENTS: u64 = 8;

/// Tolerance relative to the largest expected output (at least 1): float16
/// keeps 11 significant bits, so each weight moves by at most 2^-11 ≈ 4.9e-4
/// of itself; the fixtures' outputs are sums over at most a few dozen such
/// products, which keeps their error an order of magnitude under 1e-2.
const RELATIVE_TOLERANCE: f64 = 1e-2;

fn type_attr(node: &NodeDef, name: &str) -> Option<i32> {
    match node.attr.get(name)?.value.as_ref()? {
        attr_value::Value::Type(dtype) => Some(*dtype),
        _ => None,
    }
}

fn shape_attr(node: &NodeDef) -> Vec<i64> {
    match node.attr.get("shape").and_then(|a| a.value.as_ref()) {
        Some(attr_value::Value::Shape(shape)) => shape.dim.iter().map(|d| d.size).collect(),
        _ => panic!("{} has no shape", node.name),
    }
}

/// The variables the signatures reach, as the plan would list them: a graph
/// call node's last inputs are the resources its concrete function binds
/// (`VarHandleOp`s; lookup tables, constants, asset paths), in the order of the object graph's
/// `bound_inputs`.
fn signature_variables(meta_graph: &MetaGraphDef) -> Vec<KeptVariable> {
    let graph = meta_graph.graph_def.as_ref().expect("a graph");
    let nodes: BTreeMap<&str, &NodeDef> = graph.node.iter().map(|n| (n.name.as_str(), n)).collect();
    let bound = bound_inputs(meta_graph).expect("bound inputs decode");
    let mut variables: BTreeMap<String, KeptVariable> = BTreeMap::new();
    for call in graph
        .node
        .iter()
        .filter(|n| n.op == "StatefulPartitionedCall")
    {
        let Some(attr_value::Value::Func(f)) = call.attr["f"].value.as_ref() else {
            continue;
        };
        let Some(ids) = bound.get(&f.name) else {
            continue;
        };
        let inputs: Vec<&String> = call.input.iter().filter(|i| !i.starts_with('^')).collect();
        let handles = &inputs[inputs.len() - ids.len()..];
        for (handle, id) in handles.iter().zip(ids) {
            let node = nodes[handle.split(':').next().unwrap()];
            if node.op != "VarHandleOp" {
                // Bound but no variable: a lookup table's handle, a captured
                // constant, an asset's path.
                continue;
            }
            variables
                .entry(node.name.clone())
                .or_insert_with(|| KeptVariable {
                    node: node.name.clone(),
                    object_id: *id,
                    object_path: node.name.clone(),
                    key: node.name.clone(),
                    dtype: DataType::try_from(type_attr(node, "dtype").unwrap()).unwrap(),
                    shape: shape_attr(node),
                });
        }
    }
    variables.into_values().collect()
}

/// Copies `from`'s files (one level of directories) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The fixture with its tolerance replaced by the float16 one.
fn with_half_tolerance(fixture: &Value) -> Value {
    let mut largest: f64 = 1.0;
    for signature in fixture["signatures"].as_object().unwrap().values() {
        for output in signature["expected_outputs"].as_object().unwrap().values() {
            if output["dtype"]
                .as_str()
                .is_some_and(|d| d.starts_with("float"))
            {
                for value in output["values"].as_array().unwrap() {
                    largest = largest.max(value.as_f64().unwrap().abs());
                }
            }
        }
    }
    let mut fixture = fixture.clone();
    fixture["tolerance"] = Value::from(RELATIVE_TOLERANCE * largest);
    fixture
}

/// `variable_dtypes.py`'s report for a SavedModel.
fn variable_dtypes(python: &Path, saved_model: &Path) -> Value {
    let report = common::run_python(
        python,
        "tests/interop/variable_dtypes.py",
        &[saved_model.as_os_str()],
    );
    serde_json::from_str(&report).unwrap_or_else(|e| panic!("not JSON ({e}): {report}"))
}

/// Retypes one fixture into `out` (saved_model.pb retyped, the rest copied
/// except fingerprint.pb, whose hash would be stale); returns the retyped
/// `VarHandleOp` names and how many stayed float32.
fn retype_fixture(name: &str, out: &Path) -> (Vec<String>, usize) {
    let source = tf2::saved_model(name);
    let bytes = std::fs::read(source.join("saved_model.pb")).unwrap();
    let mut saved_model = SavedModel::decode(bytes.as_slice()).unwrap();
    assert_eq!(saved_model.meta_graphs.len(), 1, "{name}: one MetaGraphDef");
    let meta_graph = &mut saved_model.meta_graphs[0];
    let mut variables = signature_variables(meta_graph);
    assert!(
        !variables.is_empty(),
        "{name}: the signatures read variables"
    );
    let report = retype_weights(meta_graph, &mut variables, MIN_ELEMENTS)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let retyped: Vec<String> = report.retyped.iter().map(|v| v.node.clone()).collect();
    let halves = variables.iter().filter(|v| v.dtype == DataType::DtHalf);
    assert_eq!(
        halves.count(),
        retyped.len(),
        "{name}: KeptVariable.dtype follows"
    );
    let elements: u64 = report.retyped.iter().map(|v| v.elements).sum();
    assert_eq!(report.bytes_saved, 2 * elements, "{name}");
    assert!(
        report.casts_added >= retyped.len(),
        "{name}: a cast per read at least"
    );
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let file_name = path.file_name().unwrap().to_owned();
        if file_name == "saved_model.pb" || file_name == "fingerprint.pb" {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &out.join(&file_name));
        } else {
            std::fs::copy(&path, out.join(&file_name)).unwrap();
        }
    }
    std::fs::write(out.join("saved_model.pb"), saved_model.encode_to_vec()).unwrap();
    (retyped, report.kept_float32)
}

#[test]
fn retyped_fixtures_compute_the_same_outputs_in_tf1_and_capi() {
    let Some(python) = common::tensorflow_python("retyped_fixtures_compute_the_same_outputs")
    else {
        return;
    };
    let mut failures = Vec::new();
    // Compared with the source as the TF1 loader sees it: a source whose
    // variables that loader cannot all restore has no such view (Keras 3's;
    // their f16 lean exports are judged in tf2_lean_size). Said, not skipped
    // silently, and the set is pinned.
    let (judged, left_out): (Vec<String>, Vec<String>) = tf2::fixture_names()
        .into_iter()
        .partition(|n| tf2::every_variable_restores_in_a_session(n));
    assert_eq!(left_out, ["keras3_export", "keras3_saved_model"]);
    eprintln!("NOT RETYPED HERE (the TF1 loader cannot restore their sources): {left_out:?}");
    for name in judged {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("retyped");
        std::fs::create_dir(&out).unwrap();
        let (retyped, kept) = retype_fixture(&name, &out);
        assert!(
            !retyped.is_empty(),
            "{name}: something is large enough to retype"
        );
        assert!(kept > 0, "{name}: something stays float32");

        let fixture = with_half_tolerance(&tf2::fixture_json(&name));
        let report = tf2::run_signatures(&python, &out, &fixture, "tf1,capi", None);
        let mut signatures: Vec<String> = fixture["signatures"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        signatures.sort();
        for loader in ["tf1", "capi"] {
            let (problems, largest) = tf2::judge_loader(&fixture, &report[loader], &signatures);
            eprintln!(
                "{name} {loader}: {} retyped, largest difference {largest:e} (tolerance {})",
                retyped.len(),
                fixture["tolerance"]
            );
            failures.extend(
                problems
                    .into_iter()
                    .map(|p| format!("{name} {loader}: {p}")),
            );
        }

        let source = variable_dtypes(&python, &tf2::saved_model(&name));
        let restored = variable_dtypes(&python, &out);
        failures.extend(compare_variables(&name, &source, &restored, &retyped));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The dtype `variable_dtypes.py` gives a graph variable.
fn after_dtype<'a>(graph: &'a serde_json::Map<String, Value>, node: &str) -> Option<&'a str> {
    graph.get(node).and_then(|v| v["dtype"].as_str())
}

/// Retyped variables are float16 in the graph and the object graph and
/// hold the float32 values rounded to float16; the others are unchanged.
fn compare_variables(
    name: &str,
    source: &Value,
    restored: &Value,
    retyped: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    let source_graph = source["graph"].as_object().unwrap();
    let restored_graph = restored["graph"].as_object().unwrap();
    assert_eq!(
        source_graph.keys().collect::<Vec<_>>(),
        restored_graph.keys().collect::<Vec<_>>(),
        "{name}: the same VarHandleOps"
    );
    for (node, before) in source_graph {
        let after = &restored_graph[node];
        let is_retyped = retyped.contains(node);
        let want = if is_retyped {
            "float16"
        } else {
            before["dtype"].as_str().unwrap()
        };
        if after["dtype"] != want {
            problems.push(format!("{name}: {node} is {} not {want}", after["dtype"]));
        }
        let (before, after) = (
            before["values"].as_array().unwrap(),
            after["values"].as_array().unwrap(),
        );
        if before.len() != after.len() {
            problems.push(format!(
                "{name}: {node} has {} values, not {}",
                after.len(),
                before.len()
            ));
            continue;
        }
        if !is_retyped {
            // Unchanged; a string variable holds an asset's path, which
            // names the directory loaded, so only its file name must agree.
            let file_name = |v: &Value| v.as_str().map(|s| s.rsplit('/').next().map(String::from));
            let names = |vs: &Vec<Value>| vs.iter().map(file_name).collect::<Vec<_>>();
            let is_string = after_dtype(restored_graph, node) == Some("string");
            if (is_string && names(before) != names(after)) || (!is_string && before != after) {
                problems.push(format!("{name}: {node} changed"));
            }
            continue;
        }
        for (a, b) in before.iter().zip(after) {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            // Round to nearest in float16: within half a unit in the last place.
            let allowed = a.abs() * 2f64.powi(-11) + 2f64.powi(-25);
            if (a - b).abs() > allowed {
                problems.push(format!("{name}: {node} restored {b}, source {a}"));
                break;
            }
        }
    }
    let halves = restored["object_graph"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["dtype"] == "float16")
        .count();
    if halves != retyped.len() {
        problems.push(format!(
            "{name}: {halves} float16 SavedVariables, {} retyped",
            retyped.len()
        ));
    }
    problems
}
