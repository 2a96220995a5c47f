//! Shape inference over every fixture's serving graph: the served outputs'
//! inferred shapes, the batch put in for the batch symbol, agree with the
//! shapes TensorFlow computed for the fixture's test batch (recorded in
//! fixture.json by the training program's own inference), and the
//! inference finds no conflict in a graph TensorFlow runs.

use std::collections::HashMap;

use servegraph::ir::TensorRef;
use servegraph::ops::OpSignatures;
use servegraph::ops::shapes::{Dim, Fact, Shape, infer};
use servegraph::read::read_model;

use super::common;

/// The serving graph of `fixture` after the export's phases, with the
/// served outputs' inferred shapes by key.
fn inferred_outputs(fixture: &str) -> (HashMap<String, Shape>, usize, usize) {
    let options = common::fixture_options(fixture);
    let source = common::testdata("fixtures").join(fixture);
    let mut model = read_model(&source, None, &options.source.tags).expect("readable fixture");
    let mut cx = options.pass_context();
    options
        .phases()
        .run(&mut model, &mut cx)
        .expect("the export's passes run");
    let graph = &model.graph;
    let signature = &model.signatures[&options.serving.signature_name];
    let mut seeds = HashMap::new();
    for spec in signature.inputs.values() {
        let tensor = graph.tensor(&spec.name).expect("input tensor");
        let mut dims: Vec<Dim> = spec
            .shape
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|&d| Dim::of(d))
            .collect();
        if let Some(first) = dims.first_mut() {
            *first = Dim::Batch;
        }
        let shape = if spec.shape.is_some() {
            Shape::Ranked(dims)
        } else {
            Shape::Unknown
        };
        seeds.insert(tensor, Fact::of(Some(spec.dtype), shape));
    }
    let ops = OpSignatures::of(&model);
    let inference = infer(graph, &ops, &seeds).expect("an acyclic serving graph");
    assert!(
        inference.conflicts.is_empty(),
        "{fixture}: {:?}",
        inference.conflicts
    );
    let outputs = signature
        .outputs
        .iter()
        .map(|(key, spec)| {
            let tensor: TensorRef = graph.tensor(&spec.name).expect("output tensor");
            (key.clone(), inference.shape(tensor))
        })
        .collect();
    (outputs, graph.len(), seeds.len())
}

#[test]
fn served_outputs_have_the_shapes_tensorflow_computed() {
    let mut known = 0;
    let mut total = 0;
    for fixture in common::fixture_names() {
        let json = common::fixture_json(&fixture);
        let batch = json["test_inputs"]
            .as_object()
            .and_then(|inputs| inputs.values().next())
            .and_then(|input| input["shape"][0].as_i64())
            .expect("a test batch");
        let (outputs, _, _) = inferred_outputs(&fixture);
        for (key, expected) in json["expected_outputs"]
            .as_object()
            .expect("expected outputs")
        {
            let expected: Vec<i64> = expected["shape"]
                .as_array()
                .expect("a shape")
                .iter()
                .map(|d| d.as_i64().expect("a size"))
                .collect();
            let inferred = &outputs[key];
            total += 1;
            let Some(dims) = inferred.dims() else {
                eprintln!("{fixture} {key}: rank unknown (TensorFlow: {expected:?})");
                continue;
            };
            assert_eq!(
                dims.len(),
                expected.len(),
                "{fixture} {key}: {inferred} vs {expected:?}"
            );
            for (d, e) in dims.iter().zip(&expected) {
                match d {
                    Dim::Known(k) => {
                        assert_eq!(k, e, "{fixture} {key}: {inferred} vs {expected:?}")
                    }
                    Dim::Batch => {
                        assert_eq!(batch, *e, "{fixture} {key}: {inferred} vs {expected:?}")
                    }
                    Dim::Unknown => {}
                }
            }
            if dims.iter().all(|d| *d != Dim::Unknown) {
                known += 1;
            } else {
                eprintln!("{fixture} {key}: {inferred} (TensorFlow: {expected:?})");
            }
        }
    }
    eprintln!("shape inference: {known} of {total} served outputs fully known");
    assert!(
        known * 2 >= total,
        "only {known} of {total} outputs fully inferred"
    );
}
