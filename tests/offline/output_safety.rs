//! What `export` may touch: never a source (whatever OUT_DIR points at),
//! only an empty directory or a SavedModel when replacing, only files inside
//! a SavedModel source's own `assets/`; and a killed export leaves the old
//! output intact and nothing that blocks the next one.

use crate::common;

use common::{path_str, servegraph, stderr};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prost::Message;
use servegraph::proto::{SavedModel, tensor_info};

/// A copy of a fixture's training directory that a test may point OUT_DIR at.
fn training_dir(name: &str, into: &Path) -> PathBuf {
    let target = into.join("run");
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(common::testdata("fixtures").join(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
    }
    target
}

/// Every file and symlink under `dir` with its bytes (or link target), by relative path.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                into.insert(relative, target.into_os_string().into_encoded_bytes());
            } else if kind.is_dir() {
                into.insert(relative, b"<dir>".to_vec());
                walk(root, &path, into);
            } else {
                into.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const TINY_OUTPUT: &str = "logits=logits/BiasAdd:0";

/// Runs an export that must be refused; checks that the message says `expect`,
/// that everything under `root` (sources, parent directory) is byte-identical
/// afterwards and that nothing new appeared.
fn assert_refused(root: &Path, args: &[&str], expect: &[&str]) {
    let before = tree(root);
    let output = servegraph(args);
    let message = stderr(&output);
    assert!(!output.status.success(), "{args:?} was not refused");
    for words in expect {
        assert!(message.contains(words), "{words:?} not in: {message}");
    }
    assert_eq!(before, tree(root), "{args:?} changed files under the root");
}

#[test]
fn out_dir_equal_to_the_training_dir_is_refused_with_and_without_overwrite() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let base = [
        "export",
        path_str(&run),
        path_str(&run),
        "--output",
        TINY_OUTPUT,
    ];
    assert_refused(root.path(), &base, &["is", "which the export reads"]);
    let overwrite = [&base[..], &["--overwrite"]].concat();
    assert_refused(root.path(), &overwrite, &["which the export reads"]);
    // The checkpoint prefix and the .meta as SOURCE name the same directory.
    let prefix = run.join("model.ckpt-5");
    let meta = run.join("model.ckpt-5.meta");
    for source in [&prefix, &meta] {
        let args = [
            "export",
            path_str(source),
            path_str(&run),
            "--output",
            TINY_OUTPUT,
            "--overwrite",
        ];
        assert_refused(root.path(), &args, &["which the export reads"]);
    }
}

#[test]
fn out_dir_inside_the_training_dir_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let out = run.join("serving/1");
    let args = [
        "export",
        path_str(&run),
        path_str(&out),
        "--output",
        TINY_OUTPUT,
    ];
    assert_refused(root.path(), &args, &["lies inside"]);
    // Spelled through `..` it is still inside.
    let dotted = root.path().join("elsewhere/../run/serving");
    let args = [
        "export",
        path_str(&run),
        path_str(&dotted),
        "--output",
        TINY_OUTPUT,
    ];
    assert_refused(root.path(), &args, &["lies inside"]);
}

#[test]
fn out_dir_containing_the_source_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let parent = root.path().join("experiments");
    std::fs::create_dir(&parent).unwrap();
    let run = training_dir("tiny_mlp", &parent);
    let args = [
        "export",
        path_str(&run),
        path_str(&parent),
        "--output",
        TINY_OUTPUT,
        "--overwrite",
    ];
    assert_refused(root.path(), &args, &["contains"]);
}

#[cfg(unix)]
#[test]
fn out_dir_that_is_a_symlink_is_refused_not_followed() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let link = root.path().join("model");
    std::os::unix::fs::symlink(&run, &link).unwrap();
    let args = [
        "export",
        path_str(&run),
        path_str(&link),
        "--output",
        TINY_OUTPUT,
        "--overwrite",
    ];
    assert_refused(root.path(), &args, &["symlink"]);
    // A symlink to somewhere harmless is refused too: it is not followed.
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.path().join("other")).unwrap();
    let other = root.path().join("other");
    let args = [&args[..2], &[path_str(&other)], &args[3..]].concat();
    assert_refused(root.path(), &args, &["symlink"]);
}

#[test]
fn out_dir_equal_to_the_checkpoint_dir_of_a_graph_def_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let meta = std::fs::read(run.join("model.ckpt-5.meta")).unwrap();
    let meta = servegraph::proto::MetaGraphDef::decode(meta.as_slice()).unwrap();
    let graph = root.path().join("graph.pb");
    std::fs::write(&graph, meta.graph_def.unwrap().encode_to_vec()).unwrap();
    let prefix = run.join("model.ckpt-5");
    let args = [
        "export",
        path_str(&graph),
        path_str(&run),
        "--checkpoint",
        path_str(&prefix),
        "--output",
        TINY_OUTPUT,
        "--overwrite",
    ];
    assert_refused(root.path(), &args, &["which the export reads"]);
}

#[test]
fn a_regular_file_is_never_replaced() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let file = root.path().join("model");
    std::fs::write(&file, "my notes").unwrap();
    let args = [
        "export",
        path_str(&run),
        path_str(&file),
        "--output",
        TINY_OUTPUT,
        "--overwrite",
    ];
    assert_refused(root.path(), &args, &["not a directory"]);
}

#[test]
fn a_directory_without_a_saved_model_is_not_replaced_and_its_entries_are_named() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let out = root.path().join("model");
    std::fs::create_dir(&out).unwrap();
    for name in ["a.txt", "b.txt", "c", "d", "e", "f", "g"] {
        std::fs::write(out.join(name), name).unwrap();
    }
    let args = [
        "export",
        path_str(&run),
        path_str(&out),
        "--output",
        TINY_OUTPUT,
        "--overwrite",
    ];
    assert_refused(
        root.path(),
        &args,
        &["holds no SavedModel", "a.txt, b.txt, c, d, e and 2 more"],
    );
}

#[test]
fn an_existing_output_names_the_flag_and_an_old_saved_model_is_replaced() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let out = root.path().join("model");
    let args = [
        "export",
        path_str(&run),
        path_str(&out),
        "--output",
        TINY_OUTPUT,
    ];
    let first = servegraph(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    std::fs::write(out.join("stale.txt"), "from the old export").unwrap();
    assert_refused(root.path(), &args, &["already exists", "pass --overwrite"]);
    let replaced = servegraph(&[&args[..], &["--overwrite"]].concat());
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert!(!out.join("stale.txt").exists());
    assert!(out.join("saved_model.pb").is_file());
    assert_eq!(names_in(root.path()), ["model", "run"]);
}

#[test]
fn an_empty_directory_is_filled() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let out = root.path().join("model");
    std::fs::create_dir(&out).unwrap();
    let args = [
        "export",
        path_str(&run),
        path_str(&out),
        "--output",
        TINY_OUTPUT,
        "--overwrite",
    ];
    let export = servegraph(&args);
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(out.join("saved_model.pb").is_file());
}

// --- SavedModel sources and their assets -------------------------------------

const VOCAB_INPUT: &str = "tokens=IteratorGetNext:0";
const VOCAB_OUTPUT: &str = "logits=logits/BiasAdd:0";

/// `root/source`: the vocab_lookup fixture exported as a SavedModel, whose
/// `assets/vocab.txt` a table reads.
fn saved_model_with_asset(root: &Path) -> PathBuf {
    let source = root.join("source");
    let export = servegraph(&[
        "export",
        path_str(&common::testdata("fixtures/vocab_lookup")),
        path_str(&source),
        "--input",
        VOCAB_INPUT,
        "--output",
        VOCAB_OUTPUT,
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(source.join("assets/vocab.txt").is_file());
    source
}

/// Rewrites the SavedModel's only asset: its declared file name, and the
/// path its string constant holds (what a training machine left there).
fn set_asset(saved_model_dir: &Path, filename: &str, constant: &str) {
    let file = saved_model_dir.join("saved_model.pb");
    let mut saved = SavedModel::decode(std::fs::read(&file).unwrap().as_slice()).unwrap();
    let meta = &mut saved.meta_graphs[0];
    assert_eq!(meta.asset_file_def.len(), 1, "one asset expected");
    let asset = &mut meta.asset_file_def[0];
    asset.filename = filename.into();
    let Some(tensor_info::Encoding::Name(tensor)) =
        asset.tensor_info.as_ref().and_then(|t| t.encoding.clone())
    else {
        panic!("asset tensor by name expected");
    };
    let node_name = tensor.split(':').next().unwrap().to_string();
    let graph = meta.graph_def.as_mut().unwrap();
    let node = graph.node.iter_mut().find(|n| n.name == node_name).unwrap();
    let value = node.attr.get_mut("value").unwrap();
    let Some(servegraph::proto::attr_value::Value::Tensor(t)) = value.value.as_mut() else {
        panic!("the asset tensor is a constant");
    };
    t.string_val = vec![constant.as_bytes().to_vec().into()];
    std::fs::write(&file, saved.encode_to_vec()).unwrap();
}

fn export_saved_model(source: &Path, out: &Path) -> Output {
    servegraph(&[
        "export",
        path_str(source),
        path_str(out),
        "--output",
        VOCAB_OUTPUT,
    ])
}

#[test]
fn a_saved_model_asset_is_read_from_its_assets_dir_whatever_the_constant_says() {
    let root = tempfile::tempdir().unwrap();
    let source = saved_model_with_asset(root.path());
    // TensorFlow's own SavedModels keep the training machine's path in the constant.
    set_asset(&source, "vocab.txt", "/no/such/training/machine/vocab.txt");
    let out = root.path().join("out");
    let export = export_saved_model(&source, &out);
    assert!(export.status.success(), "{}", stderr(&export));
    assert_eq!(
        std::fs::read(out.join("assets/vocab.txt")).unwrap(),
        std::fs::read(source.join("assets/vocab.txt")).unwrap()
    );
}

#[test]
fn a_saved_model_asset_named_outside_its_assets_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let source = saved_model_with_asset(root.path());
    let secret = root.path().join("secret.txt");
    std::fs::write(&secret, "not part of the model").unwrap();
    let out = root.path().join("out");
    for name in ["../../secret.txt", path_str(&secret)] {
        set_asset(&source, name, name);
        assert_refused(
            root.path(),
            &[
                "export",
                path_str(&source),
                path_str(&out),
                "--output",
                VOCAB_OUTPUT,
            ],
            &[&format!("asset {name:?}")],
        );
    }
}

#[cfg(unix)]
#[test]
fn a_saved_model_asset_symlinked_outside_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let source = saved_model_with_asset(root.path());
    let secret = root.path().join("secret.txt");
    std::fs::write(&secret, "not part of the model").unwrap();
    std::fs::remove_file(source.join("assets/vocab.txt")).unwrap();
    std::os::unix::fs::symlink(&secret, source.join("assets/vocab.txt")).unwrap();
    let out = root.path().join("out");
    assert_refused(
        root.path(),
        &[
            "export",
            path_str(&source),
            path_str(&out),
            "--output",
            VOCAB_OUTPUT,
        ],
        &["asset \"vocab.txt\"", "outside"],
    );
}

#[test]
fn a_missing_saved_model_asset_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let source = saved_model_with_asset(root.path());
    std::fs::remove_file(source.join("assets/vocab.txt")).unwrap();
    let out = root.path().join("out");
    assert_refused(
        root.path(),
        &[
            "export",
            path_str(&source),
            path_str(&out),
            "--output",
            VOCAB_OUTPUT,
        ],
        &["asset \"vocab.txt\" is missing"],
    );
}

#[test]
fn validate_reports_assets_named_outside_or_missing_without_reading_them() {
    let root = tempfile::tempdir().unwrap();
    let source = saved_model_with_asset(root.path());
    let validate = || servegraph(&["validate", path_str(&source)]);
    assert_eq!(validate().status.code(), Some(0), "{}", stderr(&validate()));
    for (name, expect) in [
        ("../../secret.txt", "path separator"),
        ("vocab_gone.txt", "missing"),
    ] {
        set_asset(&source, name, name);
        let output = validate();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            stderr(&output)
        );
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(text.contains(&format!("asset {name:?}")), "{text}");
        assert!(text.contains(expect), "{text}");
    }
}

// --- Interrupted exports -----------------------------------------------------

/// The PID of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servegraph"))
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[cfg(target_os = "linux")]
#[test]
fn staging_left_by_a_dead_process_is_swept_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let run = training_dir("tiny_mlp", root.path());
    let pid = dead_pid();
    let stale = root.path().join(format!(".model.servegraph-tmp-{pid}-0"));
    std::fs::create_dir_all(stale.join("variables")).unwrap();
    std::fs::write(stale.join("variables/variables.index"), "half").unwrap();
    let unrelated = [
        format!(".model.servegraph-tmp-{pid}-0.mine"),
        format!(".other.servegraph-tmp-{pid}-0"),
        ".model.backup".to_string(),
    ];
    for name in &unrelated {
        std::fs::create_dir(root.path().join(name)).unwrap();
    }
    let out = root.path().join("model");
    let export = servegraph(&[
        "export",
        path_str(&run),
        path_str(&out),
        "--output",
        TINY_OUTPUT,
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let mut expected: Vec<String> = unrelated.to_vec();
    expected.extend(["model".to_string(), "run".to_string()]);
    expected.sort();
    assert_eq!(names_in(root.path()), expected);
}

/// A GraphDef whose serving output reads `count` float variables of
/// `floats` elements each, and their checkpoint, written with the crate's
/// own bundle writer. Returns the graph file and the checkpoint prefix.
fn big_checkpoint(dir: &Path, count: usize, floats: usize) -> (PathBuf, PathBuf) {
    use servegraph::proto::attr_value::Value;
    use servegraph::proto::{AttrValue, DataType, GraphDef, NodeDef};
    let attr = |value| AttrValue { value: Some(value) };
    let float = || attr(Value::Type(DataType::DtFloat as i32));
    let node = |name: &str, op: &str, inputs: &[&str], attrs: &[(&str, AttrValue)]| NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        attr: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..NodeDef::default()
    };
    let shape = attr(Value::Shape(servegraph::typing::shape_proto(&[
        floats as i64
    ])));
    let mut graph = GraphDef::default();
    graph
        .node
        .push(node("x", "Placeholder", &[], &[("dtype", float())]));
    let prefix = dir.join("big.ckpt");
    let mut writer = servegraph::bundle::BundleWriter::create(&prefix).unwrap();
    let mut bytes = vec![0u8; floats * 4];
    let mut previous = "x".to_string();
    for i in 0..count {
        let var = format!("layer{i:02}/kernel");
        let read = format!("{var}/read");
        let add = format!("add{i:02}");
        graph.node.push(node(
            &var,
            "VariableV2",
            &[],
            &[("dtype", float()), ("shape", shape.clone())],
        ));
        graph
            .node
            .push(node(&read, "Identity", &[&var], &[("T", float())]));
        graph
            .node
            .push(node(&add, "AddV2", &[&previous, &read], &[("T", float())]));
        previous = add;
        bytes
            .iter_mut()
            .step_by(4093)
            .for_each(|b| *b = b.wrapping_add(i as u8 + 1));
        writer
            .add(&var, DataType::DtFloat, &[floats as i64], &bytes)
            .unwrap();
    }
    writer.finish().unwrap();
    graph
        .node
        .push(node("y", "Identity", &[&previous], &[("T", float())]));
    let graph_file = dir.join("big.pb");
    std::fs::write(&graph_file, graph.encode_to_vec()).unwrap();
    (graph_file, prefix)
}

/// The variables data file being written in a staging sibling of `out`, and its size.
fn staging_data_size(parent: &Path, out_name: &str) -> Option<u64> {
    let prefix = format!(".{out_name}.servegraph-tmp-");
    for entry in std::fs::read_dir(parent).ok()? {
        let entry = entry.ok()?;
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        for file in std::fs::read_dir(entry.path().join("variables")).ok()? {
            let file = file.ok()?;
            if file.file_name().to_string_lossy().contains(".data-") {
                return file.metadata().ok().map(|m| m.len());
            }
        }
    }
    None
}

/// Starts the export and SIGKILLs it once the staged variables file has
/// grown past a few MB but is not complete. Returns the size it had.
fn export_killed_mid_copy(args: &[&str], parent: &Path, out_name: &str, total: u64) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servegraph"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let size = loop {
        if let Some(size) = staging_data_size(parent, out_name)
            && size > 4 << 20
        {
            break size;
        }
        let exited = child.try_wait().unwrap();
        assert!(
            exited.is_none(),
            "the export finished ({exited:?}) before the copy could be seen growing: \
             the kill could not be landed mid-copy"
        );
        assert!(started.elapsed().as_secs() < 300, "the copy never started");
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        size < total,
        "the copy was complete ({size} of {total} bytes) when the kill was sent"
    );
    size
}

fn hidden_entries(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn a_sigkilled_export_leaves_no_output_or_the_old_one_and_the_next_export_succeeds() {
    let root = tempfile::tempdir().unwrap();
    let source_dir = root.path().join("source");
    std::fs::create_dir(&source_dir).unwrap();
    // 30 tensors of 10 MiB: 300 MiB of variables, generated 10 MiB at a time.
    let (count, floats) = (30, 10 << 18);
    let total = (count * floats * 4) as u64;
    let (graph, prefix) = big_checkpoint(&source_dir, count, floats);
    let sources_before = tree(&source_dir);
    let out_parent = root.path().join("exports");
    std::fs::create_dir(&out_parent).unwrap();
    let out = out_parent.join("model");
    let args = [
        "export",
        path_str(&graph),
        path_str(&out),
        "--checkpoint",
        path_str(&prefix),
        "--input",
        "x=x:0",
        "--output",
        "y=y:0",
    ];

    // No previous output: none afterwards.
    let copied = export_killed_mid_copy(&args, &out_parent, "model", total);
    eprintln!("first kill landed after {copied} of {total} bytes");
    assert!(!out.exists(), "a killed export published its output");

    // A previous SavedModel, replaced with --overwrite: intact, byte for byte.
    let tiny = training_dir("tiny_mlp", root.path());
    let old = servegraph(&[
        "export",
        path_str(&tiny),
        path_str(&out),
        "--output",
        TINY_OUTPUT,
    ]);
    assert!(old.status.success(), "{}", stderr(&old));
    let old_model = tree(&out);
    let overwrite = [&args[..], &["--overwrite"]].concat();
    let copied = export_killed_mid_copy(&overwrite, &out_parent, "model", total);
    eprintln!("second kill landed after {copied} of {total} bytes");
    assert_eq!(old_model, tree(&out), "the previous SavedModel changed");
    assert!(
        !hidden_entries(&out_parent).is_empty(),
        "the killed exports should have left their staging directories"
    );

    // The next export succeeds, sweeps what the killed ones left, and the sources never changed.
    let next = servegraph(&overwrite);
    assert!(next.status.success(), "{}", stderr(&next));
    assert_eq!(names_in(&out_parent), ["model"], "stray entries left");
    let data = std::fs::read_dir(out.join("variables"))
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.file_name().to_string_lossy().contains(".data-"))
        .unwrap();
    assert_eq!(data.metadata().unwrap().len(), total);
    assert_eq!(sources_before, tree(&source_dir), "the source changed");
}
