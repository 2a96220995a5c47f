//! The command line as users meet it: `show` and `export`, their JSON, and
//! the errors bad input gets — named, non-zero, nothing written, inputs untouched.

use crate::common;

use common::{servegraph, stderr};

use std::path::{Path, PathBuf};
use std::process::Output;

use prost::Message;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn fixture(name: &str) -> String {
    common::testdata("fixtures")
        .join(name)
        .display()
        .to_string()
}

/// A copy of a fixture directory that a test may damage.
fn copy_fixture(name: &str, into: &Path) -> PathBuf {
    let target = into.join(name);
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(common::testdata("fixtures").join(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
    }
    target
}

fn tree_digest(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn show_a_checkpoint_as_text_and_json() {
    let text = servegraph(&["show", &fixture("mlp_queue")]);
    assert!(text.status.success(), "{}", stderr(&text));
    let out = stdout(&text);
    assert!(
        out.contains("checkpoint")
            && out.contains("hidden/kernel")
            && out.contains("QueueDequeueManyV2"),
        "{out}"
    );
    let json = servegraph(&["show", &fixture("mlp_queue"), "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(summary["kind"], "checkpoint");
    let names: Vec<&str> = summary["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"hidden/kernel/Adam"), "{names:?}");
    assert!(
        summary["meta_graphs"][0]["graph"]["ops"]["ApplyAdam"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn show_a_text_graph_and_an_exported_saved_model() {
    let dir = tempfile::tempdir().unwrap();
    let meta = std::fs::read(common::testdata("fixtures/tiny_mlp/model.ckpt-5.meta")).unwrap();
    let meta = servegraph::proto::MetaGraphDef::decode(meta.as_slice()).unwrap();
    let pbtxt = dir.path().join("graph.pbtxt");
    std::fs::write(
        &pbtxt,
        servegraph::text::to_text("tensorflow.GraphDef", meta.graph_def.as_ref().unwrap()).unwrap(),
    )
    .unwrap();
    let shown = servegraph(&["show", pbtxt.to_str().unwrap(), "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(summary["kind"], "graph");
    assert_eq!(
        summary["graph"]["nodes"],
        meta.graph_def.as_ref().unwrap().node.len()
    );

    let out = dir.path().join("model");
    let export = servegraph(&[
        "export",
        &fixture("tiny_mlp"),
        out.to_str().unwrap(),
        "--output",
        "logits=logits/BiasAdd:0",
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let shown = servegraph(&["show", out.to_str().unwrap()]);
    let text = stdout(&shown);
    assert!(
        text.contains("serving_default")
            && text.contains("tags [serve]")
            && text.contains("logits/BiasAdd:0"),
        "{text}"
    );
}

#[test]
fn export_reports_as_json_and_leaves_the_source_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let before = tree_digest(&common::testdata("fixtures/cnn_dataset_bn"));
    let out = dir.path().join("nested/model");
    let export = servegraph(&[
        "export",
        &fixture("cnn_dataset_bn"),
        out.to_str().unwrap(),
        "--input",
        "images=IteratorGetNext:0",
        "--output",
        "logits=logits/BiasAdd:0",
        "--json",
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let report: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    let passes: Vec<&str> = report["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pass"].as_str().unwrap())
        .collect();
    assert_eq!(passes[..3], ["inputs", "training-conds", "dropout"]);
    assert!(
        report["dropped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["reason"] == "optimizer slot")
    );
    assert_eq!(report["fits_mls1"], true);
    assert_eq!(
        before,
        tree_digest(&common::testdata("fixtures/cnn_dataset_bn")),
        "the source changed"
    );
}

#[test]
fn without_outputs_the_error_lists_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let export = servegraph(&["export", &fixture("mlp_queue"), out.to_str().unwrap()]);
    assert!(!export.status.success());
    assert!(
        stderr(&export).contains("logits/BiasAdd:0"),
        "{}",
        stderr(&export)
    );
    assert!(!out.exists());
}

#[test]
fn an_unknown_tensor_gets_suggestions_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let export = servegraph(&[
        "export",
        &fixture("tiny_mlp"),
        out.to_str().unwrap(),
        "--output",
        "logits=logits/BiasAd:0",
    ]);
    assert!(!export.status.success());
    let message = stderr(&export);
    assert!(
        message.contains("logits/BiasAd:0") && message.contains("did you mean logits/BiasAdd:0"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing may be left behind"
    );
}

#[test]
fn an_existing_output_is_refused_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("saved_model.pb"), "an older export").unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let args = [
        "export",
        &fixture("tiny_mlp"),
        out.to_str().unwrap(),
        "--output",
        "y=logits/BiasAdd:0",
    ];
    let refused = servegraph(&args);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--overwrite"),
        "{}",
        stderr(&refused)
    );
    assert!(out.join("keep.txt").exists());
    let replaced = servegraph(&[&args[..], &["--overwrite"]].concat());
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert!(!out.join("keep.txt").exists() && out.join("saved_model.pb").exists());
}

fn export_error(source: &Path, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let mut args = vec![
        "export",
        source.to_str().unwrap(),
        out.to_str().unwrap(),
        "--output",
        "logits=logits/BiasAdd:0",
    ];
    args.extend_from_slice(extra);
    let export = servegraph(&args);
    assert!(
        !export.status.success(),
        "export of {} should fail",
        source.display()
    );
    assert!(!out.exists(), "a failed export left {}", out.display());
    stderr(&export)
}

#[test]
fn truncated_meta_graph_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_fixture("tiny_mlp", dir.path());
    let meta = copy.join("model.ckpt-5.meta");
    let bytes = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, &bytes[..bytes.len() / 2]).unwrap();
    let message = export_error(&copy, &[]);
    assert!(message.contains("model.ckpt-5.meta"), "{message}");
}

#[test]
fn corrupt_index_missing_shard_and_bad_crc_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_fixture("tiny_mlp", dir.path());
    let index = copy.join("model.ckpt-5.index");
    let good = std::fs::read(&index).unwrap();
    let mut bad = good.clone();
    bad[3] ^= 0x10;
    std::fs::write(&index, &bad).unwrap();
    let message = export_error(&copy, &[]);
    assert!(
        message.contains("model.ckpt-5.index") && message.contains("checksum"),
        "{message}"
    );
    std::fs::write(&index, &good).unwrap();

    let data = copy.join("model.ckpt-5.data-00000-of-00001");
    let bytes = std::fs::read(&data).unwrap();
    let mut flipped = bytes.clone();
    // The last record is a kernel the export copies (the first, global_step, is dropped).
    *flipped.last_mut().unwrap() ^= 0x01;
    std::fs::write(&data, &flipped).unwrap();
    let message = export_error(&copy, &[]);
    assert!(
        message.contains("checksum") && message.contains("data-00000-of-00001"),
        "{message}"
    );

    std::fs::remove_file(&data).unwrap();
    let message = export_error(&copy, &[]);
    assert!(
        message.contains("missing") && message.contains("data-00000-of-00001"),
        "{message}"
    );
}

#[test]
fn a_graph_against_the_wrong_checkpoint_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let meta = std::fs::read(common::testdata("fixtures/tiny_mlp/model.ckpt-5.meta")).unwrap();
    let meta = servegraph::proto::MetaGraphDef::decode(meta.as_slice()).unwrap();
    let graph = dir.path().join("graph.pb");
    std::fs::write(&graph, meta.graph_def.unwrap().encode_to_vec()).unwrap();
    // mlp_queue has hidden/kernel too, but [6, 16] where tiny_mlp's is [4, 3].
    let other = common::testdata("fixtures/mlp_queue/model.ckpt-12");
    let message = export_error(
        &graph,
        &[
            "--input",
            "x=IteratorGetNext:0",
            "--checkpoint",
            other.to_str().unwrap(),
        ],
    );
    assert!(
        message.contains("hidden/kernel") && message.contains("shape"),
        "{message}"
    );
    // resource_int64 has none of tiny_mlp's variables.
    let other = common::testdata("fixtures/resource_int64/model.ckpt-8");
    let message = export_error(
        &graph,
        &[
            "--input",
            "x=IteratorGetNext:0",
            "--checkpoint",
            other.to_str().unwrap(),
        ],
    );
    assert!(
        message.contains("does not have") && message.contains("hidden/"),
        "{message}"
    );
    let message = export_error(&graph, &["--input", "x=IteratorGetNext:0"]);
    assert!(message.contains("no checkpoint"), "{message}");
}

#[test]
fn dangling_inputs_and_cycles_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let dangling = dir.path().join("dangling.pbtxt");
    std::fs::write(
        &dangling,
        "node { name: \"logits/BiasAdd\" op: \"Identity\" input: \"nowhere:0\" }",
    )
    .unwrap();
    let message = export_error(&dangling, &[]);
    assert!(
        message.contains("logits/BiasAdd") && message.contains("nowhere:0"),
        "{message}"
    );
    let cycle = dir.path().join("cycle.pbtxt");
    std::fs::write(
        &cycle,
        "node { name: \"x\" op: \"Placeholder\" attr { key: \"dtype\" value { type: DT_FLOAT } } }\n\
         node { name: \"a\" op: \"Add\" input: \"x\" input: \"logits/BiasAdd\" }\n\
         node { name: \"logits/BiasAdd\" op: \"Identity\" input: \"a\" attr { key: \"T\" value { type: DT_FLOAT } } }",
    )
    .unwrap();
    let message = export_error(&cycle, &[]);
    assert!(message.contains("cycle"), "{message}");
}

#[test]
fn an_empty_checkpoint_state_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_fixture("tiny_mlp", dir.path());
    std::fs::write(copy.join("checkpoint"), "model_checkpoint_path: \"\"\n").unwrap();
    let message = export_error(&copy, &[]);
    assert!(
        message.contains("checkpoint") && message.contains("empty"),
        "{message}"
    );
}

#[test]
fn an_output_that_needs_the_input_pipeline_is_refused_with_the_path() {
    let message = export_error(
        &common::testdata("fixtures/tiny_mlp"),
        &[
            "--input",
            "features=IteratorGetNext:0",
            "--output",
            "loss=Mean:0",
        ],
    );
    assert!(
        message.contains("training-only")
            && message.contains("Mean <- ")
            && message.contains("IteratorGetNext"),
        "{message}"
    );
}

#[test]
fn validate_accepts_an_export_and_names_what_breaks_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let export = servegraph(&[
        "export",
        &fixture("vocab_lookup"),
        out.to_str().unwrap(),
        "--input",
        "tokens=IteratorGetNext:0",
        "--output",
        "logits=logits/BiasAdd:0",
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let valid = servegraph(&["validate", out.to_str().unwrap(), "--json"]);
    assert!(valid.status.success(), "{}", stdout(&valid));
    let report: serde_json::Value = serde_json::from_slice(&valid.stdout).unwrap();
    assert_eq!(report["variables"], 3);

    std::fs::remove_file(out.join("assets/vocab.txt")).unwrap();
    let broken = servegraph(&["validate", out.to_str().unwrap()]);
    assert!(!broken.status.success());
    assert!(stdout(&broken).contains("vocab.txt"), "{}", stdout(&broken));
    std::fs::remove_file(out.join("variables/variables.index")).unwrap();
    let broken = servegraph(&["validate", out.to_str().unwrap()]);
    assert_eq!(broken.status.code(), Some(2), "{}", stderr(&broken));
    let said = format!("{}{}", stdout(&broken), stderr(&broken));
    assert!(said.contains("variables.index"), "{said}");
    let training = servegraph(&["validate", &fixture("tiny_mlp")]);
    assert!(
        !training.status.success(),
        "a training directory is not a SavedModel"
    );
}

#[test]
fn the_same_input_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let options = common::fixture_options("sharded_partitioned");
    let source = common::testdata("fixtures/sharded_partitioned");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    servegraph::export_serving_model(&source, &a, &options).unwrap();
    servegraph::export_serving_model(&source, &b, &options).unwrap();
    for file in [
        "saved_model.pb",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
    ] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file} differs"
        );
    }
}

#[test]
fn a_text_saved_model_is_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    servegraph::export_serving_model(
        common::testdata("fixtures/tiny_mlp"),
        &out,
        &common::fixture_options("tiny_mlp"),
    )
    .unwrap();
    let binary = out.join("saved_model.pb");
    let saved =
        servegraph::proto::SavedModel::decode(std::fs::read(&binary).unwrap().as_slice()).unwrap();
    std::fs::write(
        out.join("saved_model.pbtxt"),
        servegraph::text::to_text("tensorflow.SavedModel", &saved).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(&binary).unwrap();
    let valid = servegraph(&["validate", out.to_str().unwrap()]);
    assert!(
        valid.status.success(),
        "{}{}",
        stdout(&valid),
        stderr(&valid)
    );
    let shown = servegraph(&["show", out.to_str().unwrap(), "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        summary["meta_graphs"][0]["signatures"]["serving_default"]["outputs"]["logits"]["name"],
        "logits/BiasAdd:0"
    );
}

/// A table block: contents, compression byte, masked crc32c; returns its handle bytes.
fn table_block(out: &mut Vec<u8>, contents: &[u8], kind: u8) -> Vec<u8> {
    use servegraph::bundle::{crc, table::write_varint};
    let mut handle = Vec::new();
    write_varint(&mut handle, out.len() as u64);
    write_varint(&mut handle, contents.len() as u64);
    out.extend_from_slice(contents);
    out.push(kind);
    let sum = crc::extend(crc::crc32c(contents), &[kind]);
    out.extend_from_slice(&crc::mask(sum).to_le_bytes());
    handle
}

/// An index whose one data block is Snappy claiming 4 GiB (varint 0xffffffff).
fn index_claiming_4_gib() -> Vec<u8> {
    use servegraph::bundle::table::write_varint;
    let no_restarts = [0u8, 0, 0, 0, 1, 0, 0, 0];
    let mut out = Vec::new();
    let forged = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x0c, b'a', b'b', b'c', b'd'];
    let data = table_block(&mut out, &forged, 1);
    let mut index = Vec::new();
    for n in [0, 1, data.len()] {
        write_varint(&mut index, n as u64);
    }
    index.push(b'z');
    index.extend_from_slice(&data);
    index.extend_from_slice(&no_restarts);
    let meta = table_block(&mut out, &no_restarts, 0);
    let index = table_block(&mut out, &index, 0);
    let mut footer = [meta, index].concat();
    footer.resize(40, 0);
    footer.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
    out.extend_from_slice(&footer);
    out
}

#[test]
fn an_index_claiming_4_gib_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_fixture("tiny_mlp", dir.path());
    std::fs::write(copy.join("model.ckpt-5.index"), index_claiming_4_gib()).unwrap();
    let show = servegraph(&["show", copy.join("model.ckpt-5").to_str().unwrap()]);
    assert_eq!(show.status.code(), Some(1), "{}", stderr(&show));
    assert!(
        stderr(&show).contains("model.ckpt-5.index")
            && stderr(&show).contains("claims 4294967295 bytes"),
        "{}",
        stderr(&show)
    );
    let message = export_error(&copy, &[]);
    assert!(message.contains("model.ckpt-5.index"), "{message}");
}

#[test]
fn a_const_claiming_2_pow_40_elements_names_the_node_and_file() {
    use servegraph::proto::attr_value::Value;
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_fixture("tiny_mlp", dir.path());
    let meta_path = copy.join("model.ckpt-5.meta");
    let bytes = std::fs::read(&meta_path).unwrap();
    let mut meta = servegraph::proto::MetaGraphDef::decode(bytes.as_slice()).unwrap();
    let graph = meta.graph_def.as_mut().unwrap();
    let node = graph
        .node
        .iter_mut()
        .find(|n| n.op == "Const")
        .expect("the fixture has a Const");
    let name = node.name.clone();
    let Some(Value::Tensor(value)) = node.attr.get_mut("value").and_then(|a| a.value.as_mut())
    else {
        panic!("Const {name} has no tensor value");
    };
    value.tensor_shape = Some(servegraph::typing::shape_proto(&[1 << 20, 1 << 20]));
    value.tensor_content = Default::default();
    std::fs::write(&meta_path, meta.encode_to_vec()).unwrap();
    // Served, so the export decodes it (a node no output needs is only skimmed).
    let output = format!("huge={name}:0");
    let message = export_error(&copy, &["--output", &output]);
    assert!(
        message.contains("model.ckpt-5.meta") && message.contains(&format!("{name:?}")),
        "{message}"
    );
}

/// `servegraph show ... | head -1`: the reader closes the pipe before the
/// output is written; the command still ends cleanly, without a panic.
#[test]
fn a_reader_that_closes_the_pipe_early_is_not_an_error() {
    use std::process::{Command, Stdio};
    for args in [
        vec!["show", "--json"],
        vec!["show"],
        vec!["validate", "--json"],
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_servegraph"));
        command.args(&args).arg(fixture("rnn_while"));
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = stderr(&output);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(output.status.code(), Some(101), "{args:?}: {stderr}");
    }
}
