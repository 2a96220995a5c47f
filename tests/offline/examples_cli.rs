//! `--examples`, `--method` and `--class-names` from the command line: the
//! feature spec in the text and JSON reports, each bad input refused with
//! its culprit named and nothing written, and `validate` judging classify
//! signatures of any SavedModel.

use crate::common;

use std::path::Path;

use common::{export_fixture_cli, servegraph, stderr};
use prost::Message;
use servegraph::proto::SavedModel;
use servegraph::proto::tensor_info::Encoding;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_report_prints_the_feature_spec_and_json_gives_it_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let text = export_fixture_cli("sharded_partitioned", &out, &["--examples", "--verbose"]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(
        stdout(&text).contains(
            "tf.Example features (1):\n  ids: fixed int32 [3] (carried as int64, cast), required"
        ),
        "{}",
        stdout(&text)
    );
    let json = export_fixture_cli(
        "estimator_wide_deep",
        &out,
        &["--examples", "--json", "--overwrite"],
    );
    assert!(json.status.success(), "{}", stderr(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let features = report["examples"].as_array().expect("an examples field");
    let keys: Vec<&str> = features
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "age",
            "education",
            "hours_per_week",
            "native_country",
            "occupation",
            "tags"
        ]
    );
    assert_eq!(
        features[0],
        serde_json::json!({"key": "age", "kind": "fixed", "dtype": "float32",
            "carrier_dtype": "float32", "shape": [], "default": null,
            "tensor": "ParseExample/ParseExampleV2:3"})
    );
    assert_eq!(
        features[5],
        serde_json::json!({"key": "tags", "kind": "var_len", "dtype": "string",
            "carrier_dtype": "string", "shape": null, "default": null,
            "tensor": "ParseExample/ParseExampleV2:1",
            "sparse_tensors": {"indices": "ParseExample/ParseExampleV2:0",
                "dense_shape": "ParseExample/ParseExampleV2:2"}})
    );
    let signature = &report["signatures"]["serving_default"];
    assert_eq!(signature["inputs"]["examples"]["dtype"], "string");
    assert_eq!(signature["inputs"].as_object().unwrap().len(), 1);
}

/// Exports `fixture` with `extra` flags, expecting a refusal: returns the
/// error text, after checking nothing was written.
fn refused(fixture: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let output = export_fixture_cli(fixture, &out, extra);
    assert!(!output.status.success(), "{fixture} {extra:?} was exported");
    assert!(!out.exists(), "{fixture} {extra:?} left {}", out.display());
    stderr(&output)
}

fn assert_names(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

#[test]
fn classify_without_scores_or_with_a_class_id_tensor_is_refused() {
    let message = refused("tiny_mlp", &["--method", "classify"]);
    assert_names(&message, &["\"scores\"", "\"logits\""]);
    let message = refused(
        "resource_int64",
        &["--method", "classify", "--output", "classes=class_id:0"],
    );
    assert_names(
        &message,
        &[
            "class_id:0",
            "int64 [?]",
            "Expected Tensor shape: [batch_size num_classes]",
            "Tensors class and score should match in dim_size(1)",
            "--class-names",
        ],
    );
    // Estimator's own `classes` is the top class, [batch, 1]: not labels.
    let message = refused(
        "estimator_wide_deep",
        &[
            "--method",
            "classify",
            "--output",
            "scores=head/predictions/probabilities:0",
        ],
    );
    assert_names(&message, &["head/predictions/str_classes:0", "[batch, 2]"]);
}

#[test]
fn class_names_of_the_wrong_length_and_a_wide_regression_are_refused() {
    let message = refused(
        "resource_int64",
        &["--method", "classify", "--class-names", "a,b"],
    );
    assert_names(
        &message,
        &["2 class names", "scores:0", "3 columns", "--class-names"],
    );
    let message = refused(
        "tiny_mlp",
        &[
            "--method",
            "regress",
            "--output",
            "outputs=logits/BiasAdd:0",
        ],
    );
    assert_names(&message, &["logits/BiasAdd:0", "[?, 2]", "[batch, 1]"]);
    let message = refused("tiny_mlp", &["--method", "regress"]);
    assert_names(&message, &["\"outputs\"", "\"logits\""]);
}

#[test]
fn flag_combinations_that_make_no_sense_are_refused() {
    let message = refused("resource_int64", &["--class-names", "a,b,c"]);
    assert_names(
        &message,
        &[
            "class names",
            "the method is predict",
            "--class-names",
            "--method classify",
        ],
    );
    let message = refused(
        "resource_int64",
        &["--method", "classify", "--signature", "predict"],
    );
    assert_names(&message, &["\"predict\"", "--signature"]);
    let message = refused(
        "resource_int64",
        &[
            "--method",
            "classify",
            "--class-names",
            "a,b,c",
            "--output",
            "classes=class_id:0",
        ],
    );
    assert_names(&message, &["class_id:0", "--output classes"]);
    let message = refused("tiny_mlp", &["--method", "rank"]);
    assert_names(&message, &["predict, classify or regress"]);
    // A predict signature without class probabilities gains nothing from
    // Estimator's predict outputs.
    let message = refused("tiny_mlp", &["--examples", "--estimator-signatures"]);
    assert_names(
        &message,
        &[
            "\"probabilities\"",
            "\"logits\"",
            "--output probabilities=TENSOR",
            "--estimator-signatures",
        ],
    );
    let message = refused("tiny_mlp", &["--class-names", "a,b"]);
    assert_names(&message, &["--method classify", "--estimator-signatures"]);
}

#[test]
fn estimator_signatures_give_a_raw_predict_signature_every_class() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let flags = [
        "--signature",
        "predict",
        "--estimator-signatures",
        "--class-names",
        "low,mid,high",
        "-q",
    ];
    let exported = export_fixture_cli("estimator_dnn_multiclass", &out, &flags);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let saved = saved_model(&out);
    let signatures = &saved.meta_graphs[0].signature_def;
    let keys: Vec<&String> = signatures.keys().filter(|k| !k.starts_with("__")).collect();
    assert_eq!(keys, ["predict"]);
    let predict = &signatures["predict"];
    assert_eq!(predict.method_name, "tensorflow/serving/predict");
    let outputs: Vec<&String> = predict.outputs.keys().collect();
    assert_eq!(
        outputs,
        [
            "all_class_ids",
            "all_classes",
            "class_ids",
            "classes",
            "logits",
            "probabilities"
        ]
    );
    // The given `classes` (the head's predicted label) is kept.
    let json = common::fixture_json("estimator_dnn_multiclass");
    let given = json["outputs"]["classes"]["tensor"].as_str().unwrap();
    assert_eq!(
        predict.outputs["classes"].encoding,
        Some(Encoding::Name(given.into()))
    );
    // The names must count the probabilities' columns.
    let flags = ["--estimator-signatures", "--class-names", "low,high"];
    let message = refused("estimator_dnn_multiclass", &flags);
    assert_names(&message, &["2 class names", "3 columns", "--class-names"]);
}

#[test]
fn estimator_signatures_copy_classify_and_regress_as_estimator_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    // A binary classifier given its `logistic`: classification and regression.
    let flags = [
        "--method",
        "classify",
        "--class-names",
        "0,1",
        "--output",
        "scores=head/predictions/probabilities:0",
        "--output",
        "logistic=head/predictions/logistic:0",
        "--estimator-signatures",
        "-q",
    ];
    let source = common::testdata("fixtures/estimator_linear");
    let mut args = vec!["export", common::path_str(&source), common::path_str(&out)];
    args.extend(flags);
    let exported = servegraph(&args);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let saved = saved_model(&out);
    let signatures = &saved.meta_graphs[0].signature_def;
    let keys: Vec<&String> = signatures.keys().filter(|k| !k.starts_with("__")).collect();
    assert_eq!(
        keys,
        ["classification", "predict", "regression", "serving_default"]
    );
    assert_eq!(signatures["classification"], signatures["serving_default"]);
    let regression = &signatures["regression"];
    assert_eq!(regression.method_name, "tensorflow/serving/regress");
    assert_eq!(
        regression.outputs["outputs"],
        signatures["predict"].outputs["logistic"]
    );
    assert_eq!(
        regression.inputs["inputs"],
        signatures["serving_default"].inputs["inputs"]
    );
    // Without `logistic` there is no regression, as for Estimator's multi-class heads.
    let out = dir.path().join("multi");
    let flags = ["--method", "classify", "--estimator-signatures", "-q"];
    let exported = export_fixture_cli("resource_int64", &out, &flags);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let saved = saved_model(&out);
    let keys: Vec<&String> = saved.meta_graphs[0]
        .signature_def
        .keys()
        .filter(|k| !k.starts_with("__"))
        .collect();
    assert_eq!(keys, ["classification", "predict", "serving_default"]);
}

#[test]
fn a_default_needs_examples_and_a_feature_needs_a_known_shape() {
    let source = common::testdata("fixtures/tiny_mlp");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let export = |input: &str, extra: &[&str]| {
        let mut args = vec![
            "export",
            common::path_str(&source),
            common::path_str(&out),
            "--input",
            input,
            "--output",
            "logits=logits/BiasAdd:0",
        ];
        args.extend(extra);
        let output = servegraph(&args);
        assert!(!output.status.success(), "{input} {extra:?} was exported");
        assert!(!out.exists());
        stderr(&output)
    };
    let message = export("features=IteratorGetNext:0:default=0", &[]);
    assert_names(&message, &["\"features\"", "--examples"]);
    let message = export("features=IteratorGetNext:0:shape=-1,-1", &["--examples"]);
    assert_names(
        &message,
        &["\"features\"", "[?, ?]", "hint: give the input's shape"],
    );
    let message = export("features=IteratorGetNext:0:default=1,2", &["--examples"]);
    assert_names(&message, &["\"features\"", "4 values", "gives 2"]);
    let message = export("features=IteratorGetNext:0:default=x", &["--examples"]);
    assert_names(&message, &["\"features\"", "float32", "not a number"]);
}

/// The SavedModel in `dir`, decoded.
fn saved_model(dir: &Path) -> SavedModel {
    let bytes = std::fs::read(dir.join("saved_model.pb")).unwrap();
    SavedModel::decode(bytes.as_slice()).unwrap()
}

#[test]
fn validate_judges_classify_signatures_as_tensorflow_serving_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let flags = ["--method", "classify", "-q"];
    let exported = export_fixture_cli("resource_int64", &out, &flags);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let valid = servegraph(&["validate", common::path_str(&out)]);
    assert!(valid.status.success(), "{}", stdout(&valid));
    assert_names(&stdout(&valid), &["predict", "serving_default"]);

    // Point `classes` at the argmax, as an exporter that ignores the rule would.
    let mut saved = saved_model(&out);
    let meta = &mut saved.meta_graphs[0];
    let predict_class_id = meta.signature_def["predict"].outputs["class_id"].clone();
    let served = meta.signature_def.get_mut("serving_default").unwrap();
    served.outputs.insert("classes".into(), predict_class_id);
    std::fs::write(out.join("saved_model.pb"), saved.encode_to_vec()).unwrap();
    let broken = servegraph(&["validate", common::path_str(&out)]);
    assert!(!broken.status.success(), "{}", stdout(&broken));
    assert_names(
        &stdout(&broken),
        &[
            "\"serving_default\" output \"classes\" is int64, but tensorflow/serving/classify requires string",
            "Expected Tensor shape: [batch_size num_classes]",
        ],
    );
}
