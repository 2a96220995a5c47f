//! Shape inference over every fixture's serving graph (`testdata/fixtures`,
//! `testdata/batch_fixtures` and `testdata/slim_fixtures`): the served
//! outputs' inferred shapes, the batch put in for the batch symbol, agree
//! with the shapes TensorFlow computed for the fixture's test batch
//! (recorded in fixture.json by the training program's own inference), and
//! the inference finds no conflict in a graph TensorFlow runs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use servegraph::ir::TensorRef;
use servegraph::model::Model;
use servegraph::ops::OpSignatures;
use servegraph::ops::shapes::{Dim, Fact, Inference, Shape, infer, rule};
use servegraph::read::read_model;

use super::common;

/// Served outputs whose leading dimension is left unknown, on purpose:
/// `tensorarray_batch_loop`'s logits come from a `TensorArray` declared
/// without an element shape (stacked after a loop, `[?, 3]` for TensorFlow
/// too; its length is the baked batch); `rnn_zero_state`'s probabilities
/// are reshaped by a shape whose batch the export rewrote to `-1`, over
/// `batch × steps` rows, a product the dimension algebra does not divide
/// back (TensorFlow, on the training graph, saw the constant 8).
const PARTIAL_IN_TENSORFLOW: &[&str] = &[
    "tensorarray_batch_loop logits",
    "rnn_zero_state probabilities",
];

/// Every fixture directory of the three sets.
fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for set in ["fixtures", "batch_fixtures", "slim_fixtures"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(common::testdata(set))
            .expect("a fixture set")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("fixture.json").is_file())
            .collect();
        names.sort();
        dirs.extend(names);
    }
    dirs
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("fixture.json")).expect("fixture.json");
    serde_json::from_str(&text).expect("fixture.json is JSON")
}

/// The export options a fixture asks for: its inputs and outputs. The
/// batch fixtures that serve only their training batch are exported for
/// it (inference below still starts from a symbolic batch).
fn options(dir: &Path) -> servegraph::ExportOptions {
    let mut options = common::fixture_dir_options(dir);
    options.serving.fixed_batch = true;
    options
}

/// The fixture's serving model: the source read and the export's phases run.
fn serving_model(dir: &Path) -> (Model, servegraph::ExportOptions) {
    let options = options(dir);
    let mut model = read_model(dir, None, &options.source.tags).expect("readable fixture");
    let mut cx = options.pass_context();
    options
        .phases()
        .run(&mut model, &mut cx)
        .expect("the export's passes run");
    (model, options)
}

/// The signature inputs' facts, their first dimension the batch.
fn seeds(model: &Model, signature: &str) -> HashMap<TensorRef, Fact> {
    let graph = &model.graph;
    let mut seeds = HashMap::new();
    for spec in model.signatures[signature].inputs.values() {
        let tensor = graph.tensor(&spec.name).expect("input tensor");
        let shape = match spec.shape.as_deref() {
            Some(dims) => {
                let mut dims: Vec<Dim> = dims.iter().map(|&d| Dim::of(d)).collect();
                if let Some(first) = dims.first_mut() {
                    *first = Dim::Batch;
                }
                Shape::ranked(&dims)
            }
            None => Shape::Unknown,
        };
        seeds.insert(tensor, Fact::of(Some(spec.dtype), shape));
    }
    seeds
}

/// The inference over `dir`'s serving graph, the served outputs' shapes by
/// key, and the ops of the serving graph that have no rule.
fn inferred(dir: &Path) -> (BTreeMap<String, Shape>, Vec<String>) {
    let (model, options) = serving_model(dir);
    let signature_name = &options.serving.signature_name;
    let graph = &model.graph;
    let ops = OpSignatures::of(&model);
    let inference: Inference =
        infer(graph, &ops, &seeds(&model, signature_name)).expect("an acyclic serving graph");
    assert!(
        inference.conflicts.is_empty(),
        "{}: {:?}",
        name(dir),
        inference.conflicts
    );
    let outputs = model.signatures[signature_name]
        .outputs
        .iter()
        .map(|(key, spec)| {
            let tensor: TensorRef = graph.tensor(&spec.name).expect("output tensor");
            (key.clone(), inference.shape(tensor))
        })
        .collect();
    let mut unruled: Vec<String> = graph
        .node_ids()
        .into_iter()
        .map(|id| graph.op(id).to_string())
        .filter(|op| rule(op).is_none())
        .collect();
    unruled.sort();
    unruled.dedup();
    (outputs, unruled)
}

/// The batch TensorFlow ran the served outputs at, and their shapes then:
/// the test batch's for a fixture that serves any batch; the training
/// batch's case for a batch fixture (its graph, the batch baked in, runs
/// only at that batch, where it gives that case's outputs).
fn expected_shapes(json: &serde_json::Value) -> (i64, BTreeMap<String, Vec<i64>>) {
    let (batch, outputs) = match json["training_batch"].as_i64() {
        Some(training) if json.get("baked_batch_failure").is_some() => {
            let cases = json["batch_cases"].as_array().expect("batch cases");
            let case = cases
                .iter()
                .find(|c| c["batch"].as_i64() == Some(training))
                .expect("the training batch's case");
            (training, &case["expected"])
        }
        _ => {
            let batch = json["test_inputs"]
                .as_object()
                .and_then(|inputs| inputs.values().next())
                .and_then(|input| input["shape"][0].as_i64())
                .expect("a test batch");
            (batch, &json["expected_outputs"])
        }
    };
    let shapes = outputs
        .as_object()
        .expect("expected outputs")
        .iter()
        .map(|(key, output)| {
            let shape = output["shape"].as_array().expect("a shape");
            let dims = shape.iter().map(|d| d.as_i64().expect("a size")).collect();
            (key.clone(), dims)
        })
        .collect();
    (batch, shapes)
}

/// Whether `inferred` fits TensorFlow's `expected` (asserting it does not
/// contradict it) and is fully known.
fn check_output(fixture: &str, key: &str, inferred: &Shape, expected: &[i64], batch: i64) -> bool {
    let Some(dims) = inferred.dims() else {
        eprintln!("{fixture} {key}: rank unknown (TensorFlow: {expected:?})");
        return false;
    };
    let context = format!("{fixture} {key}: {inferred} vs {expected:?}");
    assert_eq!(dims.len(), expected.len(), "{context}");
    for (d, e) in dims.iter().zip(expected) {
        match d {
            Dim::Known(k) => assert_eq!(k, e, "{context}"),
            Dim::Batch => assert_eq!(batch, *e, "{context}"),
            Dim::Unknown => {}
        }
    }
    let known = dims.iter().all(|d| *d != Dim::Unknown);
    if !known {
        eprintln!("{fixture} {key}: {inferred} (TensorFlow: {expected:?})");
    }
    known
}

#[test]
fn served_outputs_have_the_shapes_tensorflow_computed() {
    let mut known = 0;
    let mut total = 0;
    let mut unruled: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for dir in fixture_dirs() {
        let fixture = name(&dir);
        let json = json(&dir);
        let (batch, expected_outputs) = expected_shapes(&json);
        let (outputs, ops) = inferred(&dir);
        // The TF-Slim nets' serving graphs use only ops with a shape rule.
        if dir.parent() == Some(common::testdata("slim_fixtures").as_path()) {
            assert!(
                ops.is_empty(),
                "{fixture}: ops without a shape rule: {ops:?}"
            );
        }
        for op in ops {
            unruled.entry(op).or_default().push(fixture.clone());
        }
        for (key, expected) in expected_outputs {
            total += 1;
            if check_output(&fixture, &key, &outputs[&key], &expected, batch) {
                known += 1;
            }
        }
    }
    for (op, fixtures) in &unruled {
        eprintln!("no shape rule: {op} ({})", fixtures.join(", "));
    }
    eprintln!("shape inference: {known} of {total} served outputs fully known");
    let partial = PARTIAL_IN_TENSORFLOW.len();
    assert!(
        known + partial >= total,
        "only {known} of {total} outputs fully inferred ({partial} allowed partial)"
    );
}
