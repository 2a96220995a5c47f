//! `servegraph export --max-vocab N` from the command line: the trimmed
//! asset, the report's vocabulary section in text and JSON, a table whose
//! size the served graph reads (refused, the asset copied whole), and a
//! maximum of zero (rejected before anything runs).

use crate::common;

use std::path::{Path, PathBuf};

use common::{path_str, servegraph, stderr};
use prost::Message;
use servegraph::proto::{AttrValue, DataType, MetaGraphDef, NodeDef, attr_value::Value};

const VOCAB_OOV_ARGS: [&str; 4] = [
    "--input",
    "tokens=IteratorGetNext:0",
    "--output",
    "logits=logits/BiasAdd:0",
];

fn vocab_oov() -> PathBuf {
    common::testdata("fixtures/vocab_oov")
}

/// Exports `source` with the fixture's signature and `extra`; must succeed.
fn export(source: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["export", path_str(source), path_str(out)];
    args.extend_from_slice(&VOCAB_OOV_ARGS);
    args.extend_from_slice(extra);
    let output = servegraph(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

#[test]
fn max_vocab_writes_the_first_lines_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let report = json(&export(&vocab_oov(), &out, &["--max-vocab", "5", "--json"]));
    let vocab = &report["vocab"];
    assert_eq!(vocab["max_entries"], 5);
    assert_eq!(vocab["refused"], serde_json::json!([]));
    let asset = &vocab["assets"][0];
    assert_eq!(asset["filename"], "words.txt");
    assert_eq!(
        (
            asset["entries_before"].as_u64(),
            asset["entries_after"].as_u64()
        ),
        (Some(16), Some(5))
    );
    let source = std::fs::read_to_string(vocab_oov().join("words.txt")).unwrap();
    let written = std::fs::read_to_string(out.join("assets/words.txt")).unwrap();
    assert_eq!(written, "the\na\nof\ncat\ndog\n");
    assert_eq!(asset["bytes_after"].as_u64(), Some(written.len() as u64));
    assert_eq!(
        asset["bytes_dropped"].as_u64(),
        Some((source.len() - written.len()) as u64)
    );
    assert_eq!(asset["frozen_sizes"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        report["written"]["assets_bytes"].as_u64(),
        Some(written.len() as u64)
    );
    // The size computed before writing (what --max-size checks) counts the trimmed asset.
    assert_eq!(
        report["projected_size"]["assets_bytes"].as_u64(),
        Some(written.len() as u64)
    );

    let text_out = dir.path().join("text");
    let text = export(&vocab_oov(), &text_out, &["--max-vocab", "5", "--verbose"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("vocabularies (at most 5 entries):"), "{text}");
    assert!(
        text.contains("words.txt: 16 -> 5 entries, 66 B -> 17 B (49 B dropped"),
        "{text}"
    );
    assert!(
        text.contains("out-of-vocabulary offset keeps the original size"),
        "{text}"
    );
}

#[test]
fn without_max_vocab_assets_are_whole_and_the_report_has_no_section() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let report = json(&export(&vocab_oov(), &out, &["--json"]));
    assert_eq!(report["vocab"], serde_json::Value::Null);
    assert_eq!(
        std::fs::read(out.join("assets/words.txt")).unwrap(),
        std::fs::read(vocab_oov().join("words.txt")).unwrap()
    );
}

/// A copy of vocab_oov whose graph also casts the table's size to float as
/// node `vocab_depth` (a use trimming would change).
fn with_size_read(into: &Path) -> PathBuf {
    let copy = into.join("vocab_oov");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(vocab_oov()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let meta_path = copy.join("model.ckpt-10.meta");
    let mut meta = MetaGraphDef::decode(std::fs::read(&meta_path).unwrap().as_slice()).unwrap();
    let graph = meta.graph_def.as_mut().unwrap();
    let size = graph
        .node
        .iter()
        .find(|n| n.op == "LookupTableSizeV2")
        .expect("the OOV lookup reads the table size")
        .name
        .clone();
    let dtype = |t: DataType| AttrValue {
        value: Some(Value::Type(t as i32)),
    };
    graph.node.push(NodeDef {
        name: "vocab_depth".into(),
        op: "Cast".into(),
        input: vec![size],
        attr: [
            ("SrcT".to_string(), dtype(DataType::DtInt64)),
            ("DstT".to_string(), dtype(DataType::DtFloat)),
        ]
        .into(),
        ..NodeDef::default()
    });
    std::fs::write(&meta_path, meta.encode_to_vec()).unwrap();
    copy
}

#[test]
fn a_table_whose_size_is_served_is_refused_and_its_asset_copied_whole() {
    let dir = tempfile::tempdir().unwrap();
    let source = with_size_read(dir.path());
    let out = dir.path().join("model");
    let extra = [
        "--output",
        "depth=vocab_depth:0",
        "--max-vocab",
        "5",
        "--verbose",
    ];
    let text = export(&source, &out, &extra);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("words.txt: kept whole, not trimmed: table hash_table, used by"),
        "{text}"
    );
    assert!(
        text.contains("(LookupTableSizeV2): it reads the table's size"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(out.join("assets/words.txt")).unwrap(),
        std::fs::read(source.join("words.txt")).unwrap()
    );
    let json_out = dir.path().join("json");
    let report = json(&export(
        &source,
        &json_out,
        &[&extra[..], &["--json"]].concat(),
    ));
    let refused = &report["vocab"]["refused"][0];
    assert_eq!(refused["filename"], "words.txt");
    assert_eq!(refused["table"], "hash_table");
    assert_eq!(refused["use_op"], "LookupTableSizeV2");
    assert_eq!(report["vocab"]["assets"], serde_json::json!([]));
}

#[test]
fn a_maximum_of_zero_is_rejected_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let source = vocab_oov();
    let mut args = vec!["export", path_str(&source), path_str(&out)];
    args.extend_from_slice(&VOCAB_OOV_ARGS);
    args.extend_from_slice(&["--max-vocab", "0"]);
    let output = servegraph(&args);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--max-vocab"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
}

/// A variant shares the trimmed asset, so its graph is trimmed the same way:
/// in every MetaGraphDef the bucket offset is a constant holding the
/// original 16 entries.
#[test]
fn every_variant_freezes_the_bucket_offset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    export(
        &vocab_oov(),
        &out,
        &["--max-vocab", "5", "--variant", "gpu"],
    );
    let bytes = std::fs::read(out.join("saved_model.pb")).unwrap();
    let saved = servegraph::proto::SavedModel::decode(bytes.as_slice()).unwrap();
    assert_eq!(saved.meta_graphs.len(), 2);
    for meta in &saved.meta_graphs {
        let graph = meta.graph_def.as_ref().unwrap();
        assert!(graph.node.iter().all(|n| n.op != "LookupTableSizeV2"));
        let offset = graph
            .node
            .iter()
            .find(|n| n.name.ends_with("LookupTableSizeV2"))
            .expect("the offset node keeps its name");
        assert_eq!(offset.op, "Const");
        assert!(offset.input.is_empty(), "{:?}", offset.input);
        let Some(Value::Tensor(value)) = offset.attr["value"].value.as_ref() else {
            panic!("a tensor value");
        };
        assert_eq!(value.int64_val, [16]);
    }
}
