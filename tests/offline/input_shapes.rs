//! `--input KEY=TENSOR:shape=…` checked against the training tensor: one
//! rank short is one example's shape and gets the batch dimension in
//! front (said in the report); another rank or a clashing size is an error
//! naming the input, the given shape and the training shape, exit 1, with
//! nothing written.

use crate::common;

use common::{path_str, servegraph, stderr};

/// `cnn_dataset_bn` reads `[batch, 8, 8, 1]` images.
fn export_images(shape: &str, out: &std::path::Path) -> std::process::Output {
    let source = common::testdata("fixtures/cnn_dataset_bn");
    let input = format!("images=IteratorGetNext:0:shape={shape}");
    servegraph(&[
        "export",
        path_str(&source),
        path_str(out),
        "--input",
        &input,
        "--output",
        "logits=logits/BiasAdd:0",
        "--json",
    ])
}

#[test]
fn one_examples_shape_gets_the_batch_dimension_in_front() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let output = export_images("8,8,1", &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let input = &report["signatures"]["serving_default"]["inputs"]["images"];
    assert_eq!(input["shape"], serde_json::json!([-1, 8, 8, 1]));
    let notes = report["passes"][0]["notes"].to_string();
    assert!(notes.contains("batch dimension is put in front"), "{notes}");
}

#[test]
fn a_shape_that_does_not_fit_the_training_tensor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (shape, why) in [
        ("8,8", "rank 2 where the graph needs rank 4 (or 3"),
        ("-1,8,9,1", "dimension 2 is 9 where the graph has 8"),
        ("8,8,3", "dimension 3 is 3 where the graph has 1"),
    ] {
        let out = dir.path().join(shape);
        let output = export_images(shape, &out);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{shape}: {message}");
        assert!(message.contains("input \"images\""), "{message}");
        assert!(message.contains(why), "{shape}: {message}");
        assert!(!out.exists(), "{shape}: nothing is written");
    }
}
