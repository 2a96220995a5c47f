//! `--warmup`: every fixture's test inputs become a predict request body,
//! exported as TensorFlow Serving warm-up records, then read back by
//! TensorFlow (`tf.data.TFRecordDataset` checks the record CRCs), parsed by
//! TensorFlow Serving's own `PredictionLog` (tensorflow-serving-api) and run
//! through the export's signature: each record must predict what the
//! training program predicted for the same examples. Bad warm-up files fail
//! with the instance and key named and leave no output.

use crate::common;

use std::ffi::OsStr;
use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use common::{path_str, servegraph, stderr};

/// The examples of a fixture's `test_inputs` as nested lists, one per
/// instance: `{"dtype", "shape": [n, ...], "values": [flat]}` split along
/// the first dimension.
fn instances_of(spec: &Value) -> Vec<Value> {
    let shape: Vec<usize> = spec["shape"]
        .as_array()
        .expect("a shape")
        .iter()
        .map(|d| d.as_u64().expect("a dimension") as usize)
        .collect();
    let values = spec["values"].as_array().expect("values");
    let (&count, inner) = shape.split_first().expect("a batch dimension");
    let per_instance = inner.iter().product::<usize>();
    assert_eq!(
        values.len(),
        count * per_instance,
        "test_inputs are complete"
    );
    values
        .chunks(per_instance)
        .map(|chunk| nest(chunk, inner))
        .collect()
}

/// Flat `values` as lists nested to `shape`.
fn nest(values: &[Value], shape: &[usize]) -> Value {
    let Some((_, inner)) = shape.split_first() else {
        return values[0].clone();
    };
    let step = inner.iter().product::<usize>();
    Value::Array(values.chunks(step).map(|c| nest(c, inner)).collect())
}

/// String leaves, every other one as `{"b64": ...}`, so both spellings of
/// bytes reach TensorFlow.
fn alternate_b64(value: &mut Value, counter: &mut usize) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| alternate_b64(v, counter)),
        Value::String(text) => {
            if *counter % 2 == 1 {
                let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                *value = json!({ "b64": encoded });
            }
            *counter += 1;
        }
        _ => {}
    }
}

/// `{"instances": [{key: value}, ...]}` holding every example of the fixture.
fn warmup_body(fixture: &str) -> (Value, usize) {
    let json = common::fixture_json(fixture);
    let inputs = json["test_inputs"].as_object().expect("test_inputs");
    let columns: Vec<(String, Vec<Value>)> = inputs
        .iter()
        .map(|(key, spec)| (key.clone(), instances_of(spec)))
        .collect();
    let count = columns.first().map_or(0, |(_, v)| v.len());
    let mut counter = 0;
    let instances: Vec<Value> = (0..count)
        .map(|i| {
            let mut instance = serde_json::Map::new();
            for (key, values) in &columns {
                let mut value = values[i].clone();
                alternate_b64(&mut value, &mut counter);
                instance.insert(key.clone(), value);
            }
            Value::Object(instance)
        })
        .collect();
    (json!({ "instances": instances }), count)
}

/// A fixture with a sparse input (`KEY_indices` holds one row per value,
/// not per example) cannot be split into instances; its test inputs go as
/// one columnar request, `{"inputs": {key: value}}`, and make one record.
fn has_sparse_input(fixture: &str) -> bool {
    let json = common::fixture_json(fixture);
    json["inputs"]
        .as_object()
        .expect("inputs")
        .values()
        .any(|spec| spec["sparse"] == true)
}

/// `{"inputs": {key: nested values}}` holding every example of the
/// fixture, and the batch size (the examples of its first key).
fn columnar_body(fixture: &str) -> (Value, usize) {
    let json = common::fixture_json(fixture);
    let inputs = json["test_inputs"].as_object().expect("test_inputs");
    let mut counter = 0;
    let mut columns = serde_json::Map::new();
    for (key, spec) in inputs {
        let mut value = Value::Array(instances_of(spec));
        alternate_b64(&mut value, &mut counter);
        columns.insert(key.clone(), value);
    }
    let (_, first) = inputs.iter().next().expect("an input");
    let count = first["shape"][0].as_u64().expect("a batch dimension") as usize;
    (json!({ "inputs": columns }), count)
}

/// Replays the export's warm-up file with TensorFlow; the records' report.
fn replay(python: &Path, export: &Path, fixture: &str) -> Value {
    let json = common::fixture_json(fixture);
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs.json");
    let expected = dir.path().join("expected.json");
    std::fs::write(&inputs, json["test_inputs"].to_string()).unwrap();
    std::fs::write(&expected, json["expected_outputs"].to_string()).unwrap();
    let stdout = common::run_python(
        python,
        "tests/interop/check_warmup.py",
        &[
            export.as_os_str(),
            OsStr::new("--inputs"),
            inputs.as_os_str(),
            OsStr::new("--expected"),
            expected.as_os_str(),
            OsStr::new("--tolerance"),
            OsStr::new("1e-4"),
        ],
    );
    serde_json::from_str(&stdout).expect("the replay prints JSON")
}

/// Record 0 holds every example in order, then one record per example.
fn assert_record_layout(fixture: &str, replayed: &Value, count: usize) {
    let records = replayed["records"].as_array().expect("records");
    assert_eq!(records.len(), count + 1, "{fixture}: {replayed}");
    let rows: Vec<Value> = records.iter().map(|r| r["rows"].clone()).collect();
    let mut expected = vec![json!((0..count).collect::<Vec<_>>())];
    expected.extend((0..count).map(|i| json!([i])));
    assert_eq!(rows, expected, "{fixture}");
    for record in records {
        assert_eq!(record["kind"], "predict_log", "{fixture}: {record}");
        assert_eq!(
            record["signature"], "serving_default",
            "{fixture}: {record}"
        );
    }
}

#[test]
fn every_fixtures_warmup_records_replay_in_tensorflow() {
    let Some(python) = common::tensorflow_python("warmup_interop::replay") else {
        return;
    };
    for fixture in common::fixture_names() {
        let dir = tempfile::tempdir().unwrap();
        let columnar = has_sparse_input(&fixture);
        let (body, count) = if columnar {
            columnar_body(&fixture)
        } else {
            warmup_body(&fixture)
        };
        let warmup = dir.path().join("warmup.json");
        std::fs::write(&warmup, body.to_string()).unwrap();
        let out = dir.path().join("model");
        let options = {
            let mut custom = common::fixture_options(&fixture);
            custom.output.warmup = Some(warmup.clone());
            custom
        };
        let source = common::testdata("fixtures").join(&fixture);
        let report = servegraph::export_serving_model(&source, &out, &options)
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let written = out.join("assets.extra/tf_serving_warmup_requests");
        let bytes = std::fs::metadata(&written).unwrap().len();
        let warmup_report = report.graph.warmup.expect("a warm-up report");
        assert_eq!(warmup_report.bytes, bytes, "{fixture}");
        assert_eq!(report.written.assets_extra_bytes, bytes, "{fixture}");
        let replayed = replay(&python, &out, &fixture);
        if columnar {
            assert_eq!(warmup_report.records, 1, "{fixture}");
            assert_eq!(warmup_report.instances, None, "{fixture}");
            let records = replayed["records"].as_array().expect("records");
            assert_eq!(records.len(), 1, "{fixture}: {replayed}");
            assert_eq!(records[0]["rows"], json!((0..count).collect::<Vec<_>>()));
            assert_eq!(records[0]["kind"], "predict_log", "{fixture}");
        } else {
            assert_eq!(warmup_report.records, count + 1, "{fixture}");
            assert_eq!(warmup_report.instances, Some(count), "{fixture}");
            assert_record_layout(&fixture, &replayed, count);
        }
        println!(
            "{fixture}: {} records, {bytes} bytes, all predicted as in training",
            count + 1
        );
    }
}

/// A file of `body` for tiny_mlp (one float32 input `features`, shape [-1, 4]).
fn export_tiny_mlp(dir: &Path, body: &str, extra: &[&str]) -> std::process::Output {
    let warmup = dir.join("warmup.json");
    std::fs::write(&warmup, body).unwrap();
    let source = common::testdata("fixtures/tiny_mlp");
    let out = dir.join("model");
    let mut args = vec![
        "export",
        path_str(&source),
        path_str(&out),
        "--input",
        "features=IteratorGetNext:0",
        "--output",
        "logits=logits/BiasAdd:0",
        "--warmup",
        path_str(&warmup),
    ];
    args.extend(extra);
    servegraph(&args)
}

#[test]
fn the_report_says_how_many_records_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"instances": [[1, 2, 3, 4], {"features": [0.5, 0, -1, 2]}]}"#;
    let output = export_tiny_mlp(dir.path(), body, &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let file = dir
        .path()
        .join("model/assets.extra/tf_serving_warmup_requests");
    let bytes = std::fs::metadata(&file).unwrap().len();
    assert_eq!(report["warmup"]["records"], 3);
    assert_eq!(report["warmup"]["instances"], 2);
    assert_eq!(report["warmup"]["bytes"], bytes);
    let parts = [
        "saved_model_bytes",
        "variables_bytes",
        "assets_bytes",
        "assets_extra_bytes",
    ];
    let sum: u64 = parts
        .iter()
        .map(|k| report["written"][k].as_u64().unwrap())
        .sum();
    assert_eq!(
        report["total_bytes"], sum,
        "the total counts the warm-up file"
    );

    let text_dir = tempfile::tempdir().unwrap();
    let output = export_tiny_mlp(text_dir.path(), body, &[]);
    let text = String::from_utf8_lossy(&output.stdout);
    let columns_dir = tempfile::tempdir().unwrap();
    let columns = r#"{"inputs": {"features": [[1, 2, 3, 4], [5, 6, 7, 8]]}}"#;
    let output = export_tiny_mlp(columns_dir.path(), columns, &[]);
    let columns_text = String::from_utf8_lossy(&output.stdout);
    assert!(
        columns_text.contains("warm-up: 1 record from the \"inputs\" of "),
        "{columns_text}"
    );
    assert!(
        text.contains("warm-up: 3 records from 2 instances of "),
        "{text}"
    );
    assert!(
        text.contains("assets.extra/tf_serving_warmup_requests"),
        "{text}"
    );
}

/// The export fails, says `expected` (and names the file) and leaves the
/// directory as it was: no model, no staging sibling.
fn assert_refused(body: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let output = export_tiny_mlp(dir.path(), body, &[]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{body}: {message}");
    assert!(message.contains("warm-up file"), "{message}");
    assert!(message.contains("warmup.json"), "{message}");
    for part in expected {
        assert!(message.contains(part), "{body}: {part:?} not in {message}");
    }
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["warmup.json"], "{body}: a failed export left files");
}

#[test]
fn an_unknown_key_names_the_instance_and_the_key() {
    assert_refused(
        r#"{"instances": [{"features": [1, 2, 3, 4]}, {"feature": [1, 2, 3, 4]}]}"#,
        &["instance 1", "\"feature\"", "its inputs: features"],
    );
}

#[test]
fn a_missing_key_names_the_instance_and_the_key() {
    assert_refused(
        r#"{"instances": [{}]}"#,
        &["instance 0 lacks input \"features\""],
    );
}

#[test]
fn a_wrong_shape_says_what_the_signature_expects() {
    assert_refused(
        r#"{"instances": [[1, 2, 3, 4], [1, 2, 3]]}"#,
        &[
            "instance 1",
            "\"features\"",
            "shape [3]",
            "[4] per instance",
        ],
    );
    assert_refused(
        r#"{"instances": [[[1, 2, 3, 4]]]}"#,
        &["instance 0", "shape [1, 4]"],
    );
}

#[test]
fn a_wrong_dtype_names_the_element() {
    assert_refused(
        r#"{"instances": [[1, 2, 3, 4], [1, 2, true, 4]]}"#,
        &[
            "instance 1",
            "\"features\"",
            "element [2] is the bool true",
            "float32",
        ],
    );
}

#[test]
fn malformed_json_says_where() {
    assert_refused(
        r#"{"instances": [[1, 2, 3, 4],]}"#,
        &["not valid JSON", "line 1 column"],
    );
    assert_refused(r#"[[1, 2, 3, 4]]"#, &["\"instances\""]);
}

#[test]
fn a_warmup_file_inside_the_output_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    std::fs::create_dir(&out).unwrap();
    let warmup = out.join("warmup.json");
    std::fs::write(&warmup, r#"{"instances": [[1, 2, 3, 4]]}"#).unwrap();
    let source = common::testdata("fixtures/tiny_mlp");
    let output = servegraph(&[
        "export",
        path_str(&source),
        path_str(&out),
        "--output",
        "logits=logits/BiasAdd:0",
        "--warmup",
        path_str(&warmup),
        "--overwrite",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("which the export reads"),
        "{}",
        stderr(&output)
    );
    assert!(warmup.is_file(), "the warm-up file is still there");
}

#[test]
fn assets_extra_names_stay_inside_assets_extra() {
    use servegraph::write::saved_model::{MetaGraphVariant, WriteOptions, write_variants};
    let model = servegraph::Model::default();
    let variants = [MetaGraphVariant {
        model: &model,
        tags: vec!["serve".into()],
    }];
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, out: &Path| {
        let options = WriteOptions {
            assets_extra: [(name.to_string(), bytes::Bytes::from_static(b"data"))].into(),
            ..WriteOptions::default()
        };
        write_variants(&variants, out, options.clone())
    };
    let out = dir.path().join("model");
    let err = write("../escape", &out).unwrap_err();
    assert!(err.to_string().contains("\"../escape\""), "{err}");
    assert!(!out.exists() && !dir.path().join("escape").exists());
    let report = write("notes.txt", &out).unwrap();
    assert_eq!(report.assets_extra_bytes, 4);
    assert_eq!(
        std::fs::read(out.join("assets.extra/notes.txt")).unwrap(),
        b"data"
    );
}

#[test]
fn more_instances_than_tensorflow_serving_replays_are_refused() {
    // 999 instances are 1000 records, TensorFlow Serving's most; one more is not.
    let instance = "[1, 2, 3, 4]";
    let body = |n: usize| format!(r#"{{"instances": [{}]}}"#, vec![instance; n].join(","));
    let dir = tempfile::tempdir().unwrap();
    let output = export_tiny_mlp(dir.path(), &body(999), &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["warmup"]["records"], 1000);
    assert_refused(&body(1000), &["1000 instances, over the limit of 999"]);
}

/// Bytes of every file under `dir`.
fn disk_total(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                total += entry.metadata().unwrap().len();
            }
        }
    }
    total
}

#[test]
fn the_size_budget_counts_the_warmup_file() {
    let body = r#"{"instances": [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]}"#;
    let dir = tempfile::tempdir().unwrap();
    let output = export_tiny_mlp(dir.path(), body, &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let on_disk = disk_total(&dir.path().join("model"));
    assert_eq!(report["projected_size"]["total_bytes"], on_disk);
    // The older `total_bytes` leaves out the variables index, as it always did.
    let index = report["projected_size"]["variables_index_bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(report["total_bytes"], on_disk - index);
    assert_eq!(report["size"]["total_bytes"], on_disk);
    let warmup_bytes = report["warmup"]["bytes"].as_u64().unwrap();

    // A budget the model meets only without its warm-up file refuses the export.
    let just_short = (on_disk - 1).to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = export_tiny_mlp(dir.path(), body, &["--max-size", &just_short]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(warmup_bytes > 1, "without the warm-up file it would fit");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the warm-up JSON remains");
    let exact = on_disk.to_string();
    let output = export_tiny_mlp(dir.path(), body, &["--max-size", &exact]);
    assert!(output.status.success(), "{}", stderr(&output));
}
