//! `export --freeze` through the CLI, and its refusals: a model over the
//! size limits (made small here, so no gigabyte files are written) leaves
//! nothing behind.

use crate::common;

use std::path::Path;

use prost::Message;
use servegraph::passes::PassError;
use servegraph::passes::freeze::{FreezeError, FreezeLimits};
use servegraph::proto::SavedModel;
use servegraph::{Error, ExportOptions, WriteError, export_serving_model};

fn cli_export(fixture: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    common::export_fixture_cli(fixture, out, extra)
}

fn saved_model(out: &Path) -> SavedModel {
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    SavedModel::decode(bytes.as_slice()).unwrap()
}

fn freezing(fixture: &str, limits: FreezeLimits) -> ExportOptions {
    {
        let mut custom = common::fixture_options(fixture);
        custom.storage.freeze = Some(limits);
        custom
    }
}

#[test]
fn the_flag_freezes_every_variable_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frozen");
    let output = cli_export("tiny_mlp", &out, &["--freeze", "--verbose"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("variables frozen into saved_model.pb: 4 (92 B)"),
        "{text}"
    );
    assert!(text.contains("hidden/kernel float32 [4, 3] 48 B"), "{text}");
    assert!(!text.contains("hidden/kernel 48 B (not read"), "{text}");
    assert!(!out.join("variables").exists());
    let saved = saved_model(&out);
    let meta = &saved.meta_graphs[0];
    assert!(meta.saver_def.is_none());
    assert!(!meta.collection_def.contains_key("variables"));
    let graph = meta.graph_def.as_ref().unwrap();
    let kernel = graph
        .node
        .iter()
        .find(|n| n.name == "hidden/kernel")
        .unwrap();
    assert_eq!(kernel.op, "Const");

    let json_out = dir.path().join("frozen-json");
    let output = cli_export("tiny_mlp", &json_out, &["--freeze", "--json"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["frozen"]["bytes"], 92);
    assert_eq!(report["frozen"]["variables"].as_array().unwrap().len(), 4);
    assert_eq!(report["kept"].as_array().unwrap().len(), 0);
    let dropped: Vec<&str> = report["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    assert_eq!(dropped, ["global_step"]);
}

#[test]
fn without_the_flag_nothing_is_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plain");
    let output = cli_export("tiny_mlp", &out, &["--json"]);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["frozen"].is_null());
    assert!(out.join("variables").is_dir());
}

#[test]
fn a_model_over_the_saved_model_limit_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frozen");
    // sharded_partitioned holds 1,672 bytes of variables; 1,000 cannot fit.
    let limits = FreezeLimits {
        saved_model_bytes: 1000,
        ..FreezeLimits::default()
    };
    let err = export_serving_model(
        common::testdata("fixtures/sharded_partitioned"),
        &out,
        &freezing("sharded_partitioned", limits),
    )
    .unwrap_err();
    let Error::Pass(PassError::Freeze(freeze)) = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(**freeze, FreezeError::GraphTooLarge { limit: 1000, .. }),
        "{err}"
    );
    let text = err.to_string();
    eprintln!("refused: {text}");
    assert!(
        text.contains("embedding/part_0 (544 bytes)") && text.contains("--weights"),
        "{text}"
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn one_constant_over_the_protobuf_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frozen");
    let limits = FreezeLimits {
        constant_bytes: 500,
        ..FreezeLimits::default()
    };
    let err = export_serving_model(
        common::testdata("fixtures/sharded_partitioned"),
        &out,
        &freezing("sharded_partitioned", limits),
    )
    .unwrap_err();
    let text = err.to_string();
    eprintln!("refused: {text}");
    assert!(
        text.contains("embedding/part_0") && text.contains("544 bytes"),
        "{text}"
    );
    assert!(!out.exists());
}

/// The estimate from the index leaves out the MetaGraphDef's other parts;
/// the writer's exact check catches a file the estimate let through.
#[test]
fn the_exact_size_is_confirmed_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::testdata("fixtures/tiny_mlp");
    let first = dir.path().join("first");
    let report = export_serving_model(
        &source,
        &first,
        &freezing("tiny_mlp", FreezeLimits::default()),
    )
    .unwrap();
    let exact = report.written.saved_model_bytes;
    assert_eq!(
        exact,
        std::fs::metadata(first.join("saved_model.pb"))
            .unwrap()
            .len()
    );
    let limits = FreezeLimits {
        saved_model_bytes: exact - 1,
        ..FreezeLimits::default()
    };
    let out = dir.path().join("second");
    let err = export_serving_model(&source, &out, &freezing("tiny_mlp", limits)).unwrap_err();
    assert!(
        matches!(&err, Error::Write(WriteError::SavedModelTooLarge { bytes, .. }) if *bytes == exact),
        "{err}"
    );
    assert!(!out.exists());
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the first export is there");
}

/// A value that fails its checksum is an error naming the variable, found
/// while reading values, and nothing is written.
#[test]
fn a_corrupt_value_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    for entry in std::fs::read_dir(common::testdata("fixtures/tiny_mlp")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, run.join(path.file_name().unwrap())).unwrap();
    }
    let prefix = run.join("model.ckpt-5");
    let reader = servegraph::bundle::BundleReader::open(&prefix).unwrap();
    let range = reader.byte_range(b"hidden/kernel").unwrap();
    let mut data = std::fs::read(&range.shard).unwrap();
    data[range.offset as usize] ^= 0x40;
    std::fs::write(&range.shard, data).unwrap();

    let out = dir.path().join("frozen");
    let options = freezing("tiny_mlp", FreezeLimits::default());
    let err = export_serving_model(&run, &out, &options).unwrap_err();
    assert!(matches!(&err, Error::Pass(PassError::Freeze(_))), "{err}");
    let messages = servegraph::error::messages(&err).join("\n");
    assert!(
        messages.contains("\"hidden/kernel\"") && messages.contains("checksum"),
        "{messages}"
    );
    assert!(!out.exists());
}
