//! `--explanation-metadata`: every fixture's export carries an
//! `explanation_metadata.json` in the documented shape whose tensor names
//! exist in the exported graph (read back with the crate's own reader) with
//! the dtypes the signature states; `--baseline` values land nested to the
//! input's per-example shape; a bad baseline or output choice fails with
//! the key named and leaves no output, not even over an existing export.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use common::{export_fixture_cli, path_str, servegraph, stderr};
use prost::Message;
use servegraph::Model;
use servegraph::explain::EXPLANATION_METADATA_FILE;
use servegraph::inspect::SignatureSummary;
use servegraph::proto::SavedModel;

/// The fixture's floating-point outputs, by key.
fn float_outputs(fixture: &str) -> Vec<String> {
    let json = common::fixture_json(fixture);
    let outputs = json["outputs"].as_object().expect("outputs");
    let floats = outputs.iter().filter(|(_, o)| o["dtype"] == "float32");
    floats.map(|(key, _)| key.clone()).collect()
}

/// `--explanation-metadata`, choosing the fixture's first float output when
/// it has several.
fn explanation_flags(fixture: &str) -> Vec<String> {
    let mut flags = vec!["--explanation-metadata".to_string()];
    let floats = float_outputs(fixture);
    if floats.len() > 1 {
        flags.extend(["--explain-output".to_string(), floats[0].clone()]);
    }
    flags
}

fn export_with(fixture: &str, out: &Path, flags: &[String]) -> Value {
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.push("--json");
    let output = export_fixture_cli(fixture, out, &args);
    assert!(output.status.success(), "{fixture}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

fn read_metadata(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join(EXPLANATION_METADATA_FILE)).unwrap();
    serde_json::from_str(&text).expect("explanation_metadata.json is JSON")
}

fn keys(object: &Value) -> BTreeSet<&str> {
    let map = object.as_object().expect("an object");
    map.keys().map(String::as_str).collect()
}

/// The dtype (Python name) of tensor `name` in the exported graph; panics
/// when the graph has no such node.
fn graph_dtype(model: &Model, name: &str) -> String {
    let tensor = model
        .graph
        .tensor(name)
        .unwrap_or_else(|e| panic!("{name} is not in the exported graph: {e}"));
    let node = model.graph.node(tensor.node);
    let op_def = model.op_defs.get(&node.op);
    let dtype = servegraph::typing::output_dtype(&node.op, &node.attrs, tensor.port, op_def)
        .unwrap_or_else(|| panic!("{name}: no dtype"));
    servegraph::typing::dtype_name(dtype as i32)
}

/// The `serving_default` signature as written in `saved_model.pb`.
fn served_signature(out: &Path) -> SignatureSummary {
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    let saved = SavedModel::decode(bytes.as_slice()).unwrap();
    let meta = saved.meta_graphs.first().expect("a MetaGraphDef");
    SignatureSummary::of(&meta.signature_def["serving_default"])
}

/// Checks every key and type the documentation gives the file, and that
/// each tensor named is the served signature's and exists in the graph
/// with the signature's dtype. Returns the explained output's key.
fn assert_documented_shape(fixture: &str, out: &Path, metadata: &Value) -> String {
    let model = servegraph::read::read_model(out, None, &[]).unwrap();
    let signature = served_signature(out);
    assert_eq!(
        keys(metadata),
        BTreeSet::from(["inputs", "outputs", "framework"]),
        "{fixture}"
    );
    assert_eq!(metadata["framework"], "tensorflow", "{fixture}");
    let inputs = &metadata["inputs"];
    let signature_inputs: BTreeSet<&str> = signature.inputs.keys().map(String::as_str).collect();
    assert_eq!(keys(inputs), signature_inputs, "{fixture}");
    for (key, input) in inputs.as_object().unwrap() {
        let allowed = BTreeSet::from(["input_tensor_name", "input_baselines", "modality"]);
        assert!(keys(input).is_subset(&allowed), "{fixture} {key}: {input}");
        let name = input["input_tensor_name"].as_str().expect("a string");
        let spec = &signature.inputs[key];
        assert_eq!(name, spec.name, "{fixture} {key}");
        let dtype = graph_dtype(&model, name);
        assert_eq!(dtype, spec.dtype, "{fixture} {key}");
        let modality = input["modality"].as_str().expect("a modality");
        let expected = match dtype.as_str() {
            "float32" | "float64" | "float16" | "bfloat16" => "numeric",
            "string" if spec.shape.as_ref().is_some_and(|s| s.len() > 1) => "text",
            _ => "categorical",
        };
        assert_eq!(modality, expected, "{fixture} {key} ({dtype})");
        if let Some(baselines) = input.get("input_baselines") {
            assert!(baselines.as_array().is_some_and(|b| !b.is_empty()));
        }
    }
    let outputs = metadata["outputs"].as_object().expect("outputs");
    assert_eq!(
        outputs.len(),
        1,
        "{fixture}: the services explain one output"
    );
    let (key, output) = outputs.iter().next().unwrap();
    assert_eq!(keys(output), BTreeSet::from(["output_tensor_name"]));
    let name = output["output_tensor_name"].as_str().expect("a string");
    assert_eq!(name, signature.outputs[key].name, "{fixture} {key}");
    assert_eq!(graph_dtype(&model, name), "float32", "{fixture} {key}");
    key.clone()
}

#[test]
fn every_fixtures_metadata_has_the_documented_shape_and_names_graph_tensors() {
    for fixture in common::fixture_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let report = export_with(&fixture, &out, &explanation_flags(&fixture));
        let metadata = read_metadata(&out);
        let explained = assert_documented_shape(&fixture, &out, &metadata);
        assert_eq!(explained, float_outputs(&fixture)[0], "{fixture}");
        let bytes = std::fs::metadata(out.join(EXPLANATION_METADATA_FILE))
            .unwrap()
            .len();
        let explanation = &report["explanation"];
        assert_eq!(explanation["file"], EXPLANATION_METADATA_FILE);
        assert_eq!(explanation["bytes"], bytes, "{fixture}");
        assert_eq!(explanation["output"], explained.as_str(), "{fixture}");
        assert_eq!(report["written"]["root_files_bytes"], bytes, "{fixture}");
        println!("{fixture}: explains {explained}, {bytes} bytes");
    }
}

#[test]
fn without_the_flag_no_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let report = export_with("tiny_mlp", &out, &[]);
    assert!(!out.join(EXPLANATION_METADATA_FILE).exists());
    assert_eq!(report["explanation"], Value::Null);
    assert_eq!(report["written"]["root_files_bytes"], 0);
}

#[test]
fn baselines_are_nested_to_the_per_example_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let pixels: Vec<String> = (0..64).map(|i| format!("{}", i as f64 / 64.0)).collect();
    let flags = [
        "--explanation-metadata".to_string(),
        "--baseline".to_string(),
        format!("images={}", pixels.join(",")),
        "--baseline".to_string(),
        "images=0.5".to_string(),
    ];
    export_with("cnn_dataset_bn", &out, &flags);
    let metadata = read_metadata(&out);
    assert_documented_shape("cnn_dataset_bn", &out, &metadata);
    let baselines = metadata["inputs"]["images"]["input_baselines"]
        .as_array()
        .unwrap();
    assert_eq!(baselines.len(), 2);
    let rows = baselines[0].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    for (r, row) in rows.iter().enumerate() {
        let columns = row.as_array().unwrap();
        assert_eq!(columns.len(), 8);
        for (c, channels) in columns.iter().enumerate() {
            let expected = (r * 8 + c) as f64 / 64.0;
            assert_eq!(channels, &json!([expected]), "[{r}][{c}]");
        }
    }
    assert_eq!(baselines[1], json!(0.5));
}

#[test]
fn string_and_integer_baselines_keep_their_json_types() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tokens");
    let flags = ["--explanation-metadata", "--baseline", "tokens=,the,"].map(String::from);
    export_with("vocab_lookup", &out, &flags);
    let tokens = &read_metadata(&out)["inputs"]["tokens"];
    assert_eq!(tokens["input_baselines"], json!([["", "the", ""]]));
    assert_eq!(tokens["modality"], "text");
    let out = dir.path().join("ids");
    let flags = ["--explanation-metadata", "--baseline", "ids=0,1,2"].map(String::from);
    export_with("sharded_partitioned", &out, &flags);
    let ids = &read_metadata(&out)["inputs"]["ids"];
    assert_eq!(ids["input_baselines"], json!([[0, 1, 2]]));
    assert_eq!(ids["modality"], "categorical");
}

#[test]
fn the_text_report_says_what_was_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let flags = [
        "--xai-metadata",
        "--xai-baseline",
        "ids=0,0,0,0",
        "--verbose",
    ];
    let output = export_fixture_cli("int64_offsets", &out, &flags);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let bytes = std::fs::metadata(out.join(EXPLANATION_METADATA_FILE))
        .unwrap()
        .len();
    let line = format!(
        "explanation metadata: explanation_metadata.json ({bytes} B) explains output logits \
         by 1 input: ids (categorical, 1 baseline)"
    );
    assert!(text.contains(&line), "{text}");
}

/// `export` of `fixture` with `flags` fails naming `expected`, and leaves
/// no output directory.
fn assert_refused(fixture: &str, flags: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let output = export_fixture_cli(fixture, &out, flags);
    assert!(!output.status.success(), "{fixture} {flags:?} succeeded");
    let message = stderr(&output);
    for part in expected {
        assert!(
            message.contains(part),
            "{flags:?}: {part:?} not in {message}"
        );
    }
    assert!(!out.exists(), "{flags:?} left {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "{flags:?} left {leftovers:?}");
}

#[test]
fn bad_baselines_name_the_key_and_leave_nothing() {
    let flags = |baseline: &'static str| ["--explanation-metadata", "--baseline", baseline];
    assert_refused(
        "tiny_mlp",
        &flags("feature=0"),
        &["\"feature\"", "no such input", "its inputs are features"],
    );
    assert_refused(
        "tiny_mlp",
        &flags("features=1,2,3"),
        &[
            "\"features\"",
            "3 values",
            "4 per example",
            "[4]",
            "1 to broadcast",
        ],
    );
    assert_refused(
        "tiny_mlp",
        &flags("features=1,2,x,4"),
        &["\"features\"", "\"x\"", "float32", "not a number"],
    );
    assert_refused(
        "int64_offsets",
        &flags("ids=0.5"),
        &["\"ids\"", "\"0.5\"", "int64", "not an integer"],
    );
    assert_refused("tiny_mlp", &flags("features"), &["KEY=VALUES"]);
    assert_refused(
        "tiny_mlp",
        &["--baseline", "features=0"],
        &["--xai-metadata"],
    );
}

#[test]
fn the_explained_output_must_be_one_float_output() {
    assert_refused(
        "mlp_queue",
        &["--explanation-metadata"],
        &[
            "2 floating-point outputs",
            "logits, probabilities",
            "--xai-output",
        ],
    );
    assert_refused(
        "resource_int64",
        &["--explanation-metadata", "--explain-output", "class_id"],
        &["\"class_id\"", "int64", "numeric"],
    );
    assert_refused(
        "tiny_mlp",
        &["--explanation-metadata", "--explain-output", "probs"],
        &["\"probs\"", "no such output", "its outputs are logits"],
    );
}

#[test]
fn a_refused_explanation_leaves_an_existing_export_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    export_with("tiny_mlp", &out, &[]);
    let before = std::fs::read(out.join("saved_model.pb")).unwrap();
    let flags = [
        "--overwrite",
        "--explanation-metadata",
        "--baseline",
        "features=1,2",
    ];
    let output = export_fixture_cli("tiny_mlp", &out, &flags);
    assert!(!output.status.success());
    assert_eq!(std::fs::read(out.join("saved_model.pb")).unwrap(), before);
    assert!(!out.join(EXPLANATION_METADATA_FILE).exists());
    let entries: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, BTreeSet::from(["model".to_string()]));
}

#[test]
fn validate_size_and_overwrite_accept_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    export_with("tiny_mlp", &out, &explanation_flags("tiny_mlp"));
    let validated = servegraph(&["validate", path_str(&out), "--json"]);
    assert!(validated.status.success(), "{}", stderr(&validated));
    let validation: Value = serde_json::from_slice(&validated.stdout).unwrap();
    assert_eq!(validation["problems"], json!([]), "{validation}");
    let sized = servegraph(&["size", path_str(&out), "--json"]);
    assert!(sized.status.success(), "{}", stderr(&sized));
    let bytes = std::fs::metadata(out.join(EXPLANATION_METADATA_FILE))
        .unwrap()
        .len();
    let size: Value = serde_json::from_slice(&sized.stdout).unwrap();
    assert_eq!(size["other_bytes"], bytes, "{size}");
    let again = export_with(
        "tiny_mlp",
        &out,
        &[
            "--overwrite".to_string(),
            "--explanation-metadata".to_string(),
        ],
    );
    assert_eq!(again["explanation"]["output"], "logits");
}

#[test]
fn the_projected_size_counts_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let report = export_with("tiny_mlp", &out, &explanation_flags("tiny_mlp"));
    let bytes = report["explanation"]["bytes"].as_u64().unwrap();
    let without = export_with("tiny_mlp", &dir.path().join("plain"), &[]);
    let projected = |r: &Value| r["projected_size"]["total_bytes"].as_u64();
    assert_eq!(
        projected(&report)
            .zip(projected(&without))
            .map(|(a, b)| a - b),
        Some(bytes),
        "{}",
        report["projected_size"]
    );
    let measured = report["total_bytes"].as_u64().unwrap();
    let measured_without = without["total_bytes"].as_u64().unwrap();
    assert_eq!(measured - measured_without, bytes);
}

#[test]
fn frozen_and_narrowed_exports_name_their_own_tensors() {
    for flags in [
        ["--freeze", "--weights", "f16"],
        ["--weights", "int8", "--narrow-int64"],
    ] {
        for fixture in ["tiny_mlp", "int64_offsets"] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("model");
            let mut all = explanation_flags(fixture);
            all.extend(flags.map(String::from));
            export_with(fixture, &out, &all);
            assert_documented_shape(fixture, &out, &read_metadata(&out));
        }
    }
}

#[test]
fn with_examples_the_inputs_are_the_parsed_features() {
    let fixture = "estimator_wide_deep";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let mut flags = explanation_flags(fixture);
    flags.push("--examples".into());
    let report = export_with(fixture, &out, &flags);
    let metadata = read_metadata(&out);
    let model = servegraph::read::read_model(&out, None, &[]).unwrap();
    let features = report["examples"].as_array().expect("the feature spec");
    let inputs = metadata["inputs"].as_object().expect("inputs");
    let feature_keys: BTreeSet<&str> = features
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys(&metadata["inputs"]),
        feature_keys,
        "one input per feature"
    );
    assert!(
        !inputs.contains_key("examples"),
        "a serialized proto has no attribution"
    );
    let mut var_len = 0;
    for feature in features {
        let key = feature["key"].as_str().unwrap();
        let input = &inputs[key];
        let name = input["input_tensor_name"].as_str().unwrap();
        assert_eq!(name, feature["tensor"], "{key}");
        assert_eq!(graph_dtype(&model, name), feature["dtype"], "{key}");
        let tensor = model.graph.tensor(name).unwrap();
        let parse = match model.graph.op(tensor.node) {
            "Cast" => model.graph.data_input(tensor.node, 0).unwrap().node,
            _ => tensor.node,
        };
        assert_eq!(model.graph.op(parse), "ParseExampleV2", "{key}: {name}");
        if feature["kind"] == "var_len" {
            var_len += 1;
            for field in ["indices_tensor_name", "dense_shape_tensor_name"] {
                let part = input[field]
                    .as_str()
                    .unwrap_or_else(|| panic!("{key}: {field}"));
                assert_eq!(graph_dtype(&model, part), "int64", "{key} {field}");
            }
        } else {
            assert!(input.get("indices_tensor_name").is_none(), "{key}");
        }
    }
    assert!(
        var_len > 0,
        "the fixture has a sparse feature: {features:?}"
    );
}
