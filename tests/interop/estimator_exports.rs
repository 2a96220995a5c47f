//! The canned Estimators' model directories exported by servegraph, compared
//! with Estimator's own `export_saved_model` of the same directory
//! (`testdata/estimator_exports/NAME/{raw,parsing}`, written under TensorFlow
//! 2.15 by testdata/generate_estimator_fixtures.py): for each signature both
//! write, the method name, input and output keys and dtypes, and the outputs
//! on the same inputs, both run through TensorFlow 2.21's loaders (servegraph's
//! export through all three, each compared with Estimator's).
//!
//! The raw receiver's export is matched with `--signature predict` and, for
//! a classifier, `--estimator-signatures --class-names ...`: its predict
//! signature then serves, as Estimator's does, every class id and label as
//! `all_class_ids` and `all_classes`. A SparseTensor feature is, in
//! Estimator's raw receiver, one dense string input of the sparse tensor's
//! dense shape (its feature columns drop the empty strings again), and
//! servegraph's three inputs `K_indices`, `K_values`, `K_dense_shape`: the
//! test batch is fed to each in its form.
//!
//! The parsing receiver's export is matched with `--method classify|regress
//! --estimator-signatures` (Estimator's `classification` copy of
//! `serving_default` and, for a binary classifier, its `regression`
//! signature); its predict signature then serves, as Estimator's does, each
//! example's predicted label as `classes` and every class id and label as
//! `all_class_ids` and `all_classes`, and all of them are compared.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

const LOADERS: &str = "tf2,tf1,capi";
/// The parts of a SparseTensor input `K` in servegraph's signature: `K_PART`.
const SPARSE_PARTS: [&str; 3] = ["indices", "values", "dense_shape"];

fn exports_root() -> PathBuf {
    common::testdata("estimator_exports")
}

/// The fixtures with Estimator's own exports, and the canned estimator of each.
fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(exports_root())
        .expect("testdata/estimator_exports")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let descriptions: Vec<String> = names
        .iter()
        .map(|n| common::fixture_json(n)["description"].to_string())
        .collect();
    for canned in [
        "DNNClassifier",
        "LinearClassifier",
        "DNNLinearCombinedClassifier",
        "Regressor",
    ] {
        assert!(
            descriptions.iter().any(|d| d.starts_with(&format!("\"{canned}"))
                || d.contains(&format!("{canned} "))),
            "no fixture of {canned}: {descriptions:?}"
        );
    }
    names
}

fn signature_defs(python: &Path, saved_model: &Path) -> Value {
    let out = common::run_python(
        python,
        "tests/interop/signature_defs.py",
        &[saved_model.as_os_str()],
    );
    serde_json::from_str(&out).expect("signature_defs.py prints JSON")
}

/// `servegraph export MODEL_DIR OUT` with the fixture's outputs (but those
/// in `skip`), `extra` flags and its inputs detected.
fn servegraph_export(fixture: &str, out: &Path, skip: &[&str], extra: &[String]) {
    let json = common::fixture_json(fixture);
    let source = common::testdata(&format!("fixtures/{fixture}"));
    let mut args = vec!["export".to_string(), common::path_str(&source).into()];
    args.push(common::path_str(out).into());
    for (key, spec) in json["outputs"].as_object().unwrap() {
        if !skip.contains(&key.as_str()) {
            args.push("--output".into());
            args.push(format!("{key}={}", spec["tensor"].as_str().unwrap()));
        }
    }
    args.extend(extra.iter().cloned());
    args.push("-q".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::servegraph(&args);
    assert!(run.status.success(), "{fixture}: {}", common::stderr(&run));
}

/// A signature's tensors as (dtype, sparse) by key (a COO sparse tensor
/// info is `sparse`).
fn tensors(signature: &Value, side: &str) -> BTreeMap<String, (Value, Value)> {
    signature[side]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), (v["dtype"].clone(), v["sparse"].clone())))
        .collect()
}

/// The input keys of Estimator's signature as servegraph names them: a
/// SparseTensor feature `K` is servegraph's three inputs `K_indices`,
/// `K_values`, `K_dense_shape`, where Estimator 2.15's raw receiver serves
/// one dense tensor `K` of the sparse tensor's values (its
/// `build_raw_serving_input_receiver_fn` makes a placeholder of the sparse
/// tensor's dense shape): that `K` counts as the three when `ours` has them.
fn their_input_keys(what: &str, theirs: &Value, ours: &BTreeSet<String>) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for key in tensors(theirs, "inputs").into_keys() {
        let parts = SPARSE_PARTS.map(|p| format!("{key}_{p}"));
        if !ours.contains(&key) && parts.iter().all(|p| ours.contains(p)) {
            eprintln!("{what}: Estimator serves SparseTensor input {key} as one dense tensor");
            keys.extend(parts);
        } else {
            keys.insert(key);
        }
    }
    keys
}

/// The dtype of our input that carries Estimator's input `key`: the input
/// itself, or the values of a SparseTensor input.
fn our_input_dtype(ours: &BTreeMap<String, (Value, Value)>, key: &str) -> Value {
    let values = format!("{key}_values");
    let found = ours.get(key).or_else(|| ours.get(&values));
    found.unwrap_or_else(|| panic!("no input {key}")).0.clone()
}

/// Compares one signature both wrote: the same method, input and output
/// keys and dtypes; returns the output keys compared (all but `skip`).
fn compare_signature(what: &str, ours: &Value, theirs: &Value, skip: &[&str]) -> Vec<String> {
    assert_eq!(ours["method"], theirs["method"], "{what}: method name");
    let our_keys: BTreeSet<String> = tensors(ours, "inputs").into_keys().collect();
    let their_keys = their_input_keys(what, theirs, &our_keys);
    assert_eq!(our_keys, their_keys, "{what}: input keys");
    let (our_inputs, their_inputs) = (tensors(ours, "inputs"), tensors(theirs, "inputs"));
    for (key, (dtype, _)) in &their_inputs {
        let ours = our_input_dtype(&our_inputs, key);
        assert_eq!(&ours, dtype, "{what}: input {key} dtype");
    }
    let (our_outputs, their_outputs) = (tensors(ours, "outputs"), tensors(theirs, "outputs"));
    let missing: Vec<&String> = their_outputs
        .keys()
        .filter(|k| !our_outputs.contains_key(*k))
        .collect();
    assert!(missing.is_empty(), "{what}: servegraph lacks {missing:?}");
    let mut compared = Vec::new();
    for (key, (dtype, _)) in &our_outputs {
        let theirs = their_outputs
            .get(key)
            .unwrap_or_else(|| panic!("{what}: extra output {key}"));
        assert_eq!(&theirs.0, dtype, "{what}: output {key} dtype");
        if !skip.contains(&key.as_str()) {
            compared.push(key.clone());
        }
    }
    compared
}

/// Runs `signature` of `saved_model` on `inputs` (tf.Examples under
/// `examples` when given) in `loaders`; returns each loader's outputs.
fn run(
    python: &Path,
    saved_model: &Path,
    signature: &str,
    inputs: &Value,
    examples: Option<&str>,
    loaders: &str,
) -> BTreeMap<String, Value> {
    let mut request = json!({"export_dir": saved_model, "inputs": inputs, "signature": signature, "loaders": loaders});
    if let Some(key) = examples {
        request["examples"] = json!(key);
    }
    let answer = common::judge::run_saved_model(python, request);
    assert!(
        answer.ok,
        "{} {signature}: {}",
        saved_model.display(),
        answer.describe()
    );
    loaders
        .split(',')
        .map(|l| (l.to_string(), answer.result[l]["outputs"].clone()))
        .collect()
}

/// Estimator's outputs (TF2 loader) against servegraph's in every loader,
/// on the keys compared; returns the largest difference.
fn compare_outputs(
    what: &str,
    theirs: &Value,
    ours: &BTreeMap<String, Value>,
    keys: &[String],
    tolerance: f64,
) -> f64 {
    assert!(!keys.is_empty(), "{what}: no output compared");
    for key in keys {
        let values = theirs[key]["values"].as_array();
        assert!(
            values.is_some_and(|v| !v.is_empty()),
            "{what}: Estimator gave no {key}"
        );
    }
    let expected: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| (k.clone(), theirs[k].clone()))
        .collect();
    let expected = Value::Object(expected);
    let mut largest = 0.0f64;
    for (loader, outputs) in ours {
        let got: serde_json::Map<String, Value> = keys
            .iter()
            .map(|k| (k.clone(), outputs[k].clone()))
            .collect();
        let (problems, diff) =
            common::tf2::compare_outputs(&expected, &Value::Object(got), tolerance);
        assert!(problems.is_empty(), "{what} {loader}: {problems:?}");
        largest = largest.max(diff);
    }
    largest
}

/// The fixture's test batch as Estimator's raw receiver takes it: each
/// SparseTensor feature `K` (servegraph's `K_indices`, `K_values`,
/// `K_dense_shape`) as one dense string tensor of its dense shape, the
/// cells without a value empty, which Estimator's feature columns drop
/// (`to_sparse_input`) to give the same sparse tensor back.
fn raw_receiver_inputs(fixture: &str) -> Value {
    let json = common::fixture_json(fixture);
    let mut inputs = json["test_inputs"].clone();
    for (key, spec) in json["inputs"].as_object().unwrap() {
        if spec["sparse"] != true {
            continue;
        }
        let feeds = inputs.as_object_mut().unwrap();
        let [indices, values, shape] =
            SPARSE_PARTS.map(|p| feeds.remove(&format!("{key}_{p}")).unwrap());
        let dense = densify(key, &indices, &values, &shape);
        feeds.insert(key.clone(), dense);
    }
    inputs
}

/// A 2-D string SparseTensor's values laid out in its dense shape, empty
/// strings between. Its indices must be in row-major order and its values
/// not empty, as the dense form gives them back.
fn densify(key: &str, indices: &Value, values: &Value, shape: &Value) -> Value {
    assert_eq!(values["dtype"], "string", "{key}: a string SparseTensor");
    let numbers = |v: &Value| -> Vec<usize> {
        let list = v["values"].as_array().unwrap();
        list.iter().map(|n| n.as_u64().unwrap() as usize).collect()
    };
    let (indices, shape) = (numbers(indices), numbers(shape));
    let [rows, width] = shape[..] else {
        panic!("{key}: dense shape {shape:?} is not 2-D")
    };
    let values = values["values"].as_array().unwrap();
    let mut dense = vec![String::new(); rows * width];
    let mut last = None;
    for (at, value) in indices.chunks(2).zip(values) {
        let cell = at[0] * width + at[1];
        assert!(last < Some(cell), "{key}: indices not in row-major order");
        let value = value.as_str().unwrap();
        assert!(!value.is_empty(), "{key}: an empty string value");
        dense[cell] = value.to_string();
        last = Some(cell);
    }
    json!({"dtype": "string", "shape": [rows, width], "values": dense})
}

/// The raw receiver: Estimator's `predict` signature against servegraph's
/// export under the same key (a classifier's with `--estimator-signatures`
/// and its class names). Returns (signatures compared, max diff).
fn compare_raw(python: &Path, fixture: &str) -> (Vec<String>, f64) {
    let theirs_dir = exports_root().join(fixture).join("raw");
    let theirs = signature_defs(python, &theirs_dir);
    let keys: Vec<&String> = theirs.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["predict"],
        "{fixture}: raw receivers write predict alone"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("raw");
    let mut args: Vec<String> = vec!["--signature".into(), "predict".into()];
    let hints = &common::fixture_json(fixture)["method"];
    if let Some(names) = hints["class_names"].as_array() {
        let names: Vec<&str> = names.iter().map(|n| n.as_str().unwrap()).collect();
        args.extend(["--estimator-signatures".into(), "--class-names".into()]);
        args.push(names.join(","));
    }
    servegraph_export(fixture, &out, &[], &args);
    let ours = signature_defs(python, &out);
    assert_eq!(
        ours.as_object().unwrap().keys().collect::<Vec<_>>(),
        keys,
        "{fixture}"
    );
    let what = format!("{fixture} raw predict");
    let compared = compare_signature(&what, &ours["predict"], &theirs["predict"], &[]);
    let their_inputs = raw_receiver_inputs(fixture);
    let their_outputs = &run(python, &theirs_dir, "predict", &their_inputs, None, "tf2")["tf2"];
    let inputs = &common::fixture_json(fixture)["test_inputs"];
    let our_outputs = run(python, &out, "predict", inputs, None, LOADERS);
    let tolerance = tolerance(fixture);
    let diff = compare_outputs(&what, their_outputs, &our_outputs, &compared, tolerance);
    (vec!["predict".into()], diff)
}

fn tolerance(fixture: &str) -> f64 {
    common::fixture_json(fixture)["tolerance"]
        .as_f64()
        .unwrap_or(1e-5)
        .max(1e-5)
}

/// The `--method` flags and `--output`s the fixture's hints give: a
/// classifier's scores from its probabilities, every other prediction kept
/// in `predict` under its own key (the class labels come from
/// `--class-names`); a regressor's `outputs`.
fn method_args(fixture: &str) -> Vec<String> {
    let json = common::fixture_json(fixture);
    let hints = &json["method"];
    let tensor = |key: &str| json["outputs"][key]["tensor"].as_str().unwrap().to_string();
    let mut args: Vec<String> = Vec::new();
    if let Some(scores) = hints["scores_output"].as_str() {
        let names: Vec<&str> = hints["class_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        args.extend(["--method".into(), "classify".into(), "--class-names".into()]);
        args.push(names.join(","));
        args.extend(["--output".into(), format!("scores={}", tensor(scores))]);
        return args;
    }
    let regress = hints["regress_output"].as_str().expect("a method hint");
    args.extend(["--method".into(), "regress".into(), "--output".into()]);
    args.push(format!("outputs={}", tensor(regress)));
    args
}

/// The parsing receiver: every signature both write, compared; returns
/// (signatures compared, the largest difference over them).
fn compare_parsing(python: &Path, fixture: &str) -> (Vec<String>, f64) {
    let theirs_dir = exports_root().join(fixture).join("parsing");
    let theirs = signature_defs(python, &theirs_dir);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("parsing");
    let classify = common::fixture_json(fixture)["method"]["scores_output"].is_string();
    // A classifier's labels come from --class-names, not the `classes` output.
    let skip: &[&str] = if classify { &["classes"] } else { &[] };
    let mut args = method_args(fixture);
    args.push("--estimator-signatures".into());
    servegraph_export(fixture, &out, skip, &args);
    let ours = signature_defs(python, &out);
    let their_keys: BTreeSet<&String> = theirs.as_object().unwrap().keys().collect();
    let our_keys: BTreeSet<&String> = ours.as_object().unwrap().keys().collect();
    assert_eq!(our_keys, their_keys, "{fixture}: signature keys");
    let json = common::fixture_json(fixture);
    let mut largest = 0.0f64;
    for key in &our_keys {
        let what = format!("{fixture} parsing {key}");
        let predict = key.as_str() == "predict";
        let (ours_sig, mut theirs_sig) = (ours[key.as_str()].clone(), theirs[key.as_str()].clone());
        // servegraph's predict beside classify (regress) also serves the
        // method's own output, `scores` (`outputs`), a copy of one Estimator
        // serves under its prediction key.
        let (alias, of) = if classify {
            ("scores", "probabilities")
        } else {
            ("outputs", "predictions")
        };
        if predict {
            theirs_sig["outputs"][alias] = theirs_sig["outputs"][of].clone();
        }
        // The alias is Estimator's own output again: compared once, there.
        let not_valued: &[&str] = if predict { &[alias] } else { &[] };
        let compared = compare_signature(&what, &ours_sig, &theirs_sig, not_valued);
        let examples = if predict { "examples" } else { "inputs" };
        let inputs = &json["test_inputs"];
        let their_outputs = &run(python, &theirs_dir, key, inputs, Some(examples), "tf2")["tf2"];
        let our_outputs = run(python, &out, key, inputs, Some(examples), LOADERS);
        let diff = compare_outputs(
            &what,
            their_outputs,
            &our_outputs,
            &compared,
            tolerance(fixture),
        );
        largest = largest.max(diff);
    }
    (our_keys.into_iter().cloned().collect(), largest)
}

#[test]
fn canned_estimators_match_their_own_exports() {
    let Some(python) = common::tensorflow_python("estimator_exports::canned") else {
        return;
    };
    let mut rows = Vec::new();
    for fixture in fixtures() {
        let (raw, raw_diff) = compare_raw(&python, &fixture);
        let (parsing, parsing_diff) = compare_parsing(&python, &fixture);
        rows.push(format!(
            "| {fixture} | raw: {} | {raw_diff:e} | parsing: {} | {parsing_diff:e} | {LOADERS} |",
            raw.join(","),
            parsing.join(",")
        ));
    }
    eprintln!("| fixture | signatures | max abs diff | signatures | max abs diff | loaders |");
    for row in rows {
        eprintln!("{row}");
    }
}
