//! Graphs and signatures that would export into a model that cannot serve are
//! refused before anything is written: the CLI exits 1, names the culprit
//! (node, tensor, key or op) and leaves no output directory.

use crate::common;

use common::servegraph;

use std::path::{Path, PathBuf};

use prost::Message;
use servegraph::proto::{GraphDef, MetaGraphDef, NodeDef};

fn tiny_mlp() -> PathBuf {
    common::testdata("fixtures/tiny_mlp")
}

/// Exports `source` serving tiny_mlp's logits plus `extra` arguments; the
/// export must fail with exit code 1 and leave nothing behind. Returns stderr.
fn refused(source: &Path, extra: &[&str]) -> String {
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
    let message = String::from_utf8_lossy(&export.stderr).into_owned();
    assert_eq!(export.status.code(), Some(1), "{message}");
    assert!(!out.exists(), "a refused export left {}", out.display());
    message
}

/// A copy of tiny_mlp whose training graph `edit` changed.
fn edited_tiny_mlp(into: &Path, edit: impl FnOnce(&mut GraphDef)) -> PathBuf {
    let copy = into.join("tiny_mlp");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(tiny_mlp()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let meta_path = copy.join("model.ckpt-5.meta");
    let mut meta = MetaGraphDef::decode(std::fs::read(&meta_path).unwrap().as_slice()).unwrap();
    edit(meta.graph_def.as_mut().unwrap());
    std::fs::write(&meta_path, meta.encode_to_vec()).unwrap();
    copy
}

fn node_named<'a>(graph: &'a mut GraphDef, name: &str) -> &'a mut NodeDef {
    graph.node.iter_mut().find(|n| n.name == name).unwrap()
}

#[test]
fn a_signature_tensor_past_its_ops_outputs_is_refused() {
    // IteratorGetNext yields (features, labels); Relu and BiasAdd one tensor each.
    let message = refused(&tiny_mlp(), &["--input", "x=IteratorGetNext:3"]);
    assert!(
        message.contains("input \"x\"")
            && message.contains("\"IteratorGetNext:3\"")
            && message.contains("has 2 outputs"),
        "{message}"
    );
    let message = refused(&tiny_mlp(), &["--input", "x=Relu:3"]);
    assert!(
        message.contains("\"Relu:3\"") && message.contains("(Relu) has 1 output"),
        "{message}"
    );
    let message = refused(&tiny_mlp(), &["--output", "k=logits/BiasAdd:5"]);
    assert!(
        message.contains("output \"k\"")
            && message.contains("\"logits/BiasAdd:5\"")
            && message.contains("has 1 output"),
        "{message}"
    );
}

#[test]
fn a_signature_key_given_twice_is_refused() {
    let message = refused(
        &tiny_mlp(),
        &[
            "--input",
            "x=IteratorGetNext:0",
            "--input",
            "x=IteratorGetNext:1",
        ],
    );
    assert!(
        message.contains("input key \"x\" is given twice") && message.contains("IteratorGetNext:1"),
        "{message}"
    );
    let message = refused(&tiny_mlp(), &["--output", "logits=Relu:0"]);
    assert!(
        message.contains("output key \"logits\" is given twice"),
        "{message}"
    );
}

#[test]
fn a_node_input_past_its_producers_outputs_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let source = edited_tiny_mlp(dir.path(), |graph| {
        node_named(graph, "logits/MatMul").input[0] = "dropout/SelectV2:7".into();
    });
    let message = refused(&source, &[]);
    assert!(
        message.contains("node \"logits/MatMul\" reads \"dropout/SelectV2:7\"")
            && message.contains("(SelectV2) has 1 output"),
        "{message}"
    );
}

#[test]
fn an_op_nobody_defines_is_refused_unless_custom_ops_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let source = edited_tiny_mlp(dir.path(), |graph| {
        node_named(graph, "Relu").op = "MyCustomRelu".into();
    });
    let message = refused(&source, &[]);
    assert!(
        message.contains("node \"Relu\" uses op \"MyCustomRelu\"")
            && message.contains("hint: pass --allow-custom-ops"),
        "{message}"
    );

    let out = dir.path().join("model");
    let export = servegraph(&[
        "export",
        source.to_str().unwrap(),
        out.to_str().unwrap(),
        "--output",
        "logits=logits/BiasAdd:0",
        "--allow-custom-ops",
    ]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let saved = servegraph::proto::SavedModel::decode(
        std::fs::read(out.join("saved_model.pb"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let graph = saved.meta_graphs[0].graph_def.as_ref().unwrap();
    assert!(
        graph.node.iter().any(|n| n.op == "MyCustomRelu"),
        "the custom op is served as it was"
    );
}

#[test]
fn two_nodes_with_one_name_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let source = edited_tiny_mlp(dir.path(), |graph| {
        let mut twin = node_named(graph, "dropout/Const").clone();
        twin.name = "Relu".into();
        graph.node.push(twin);
    });
    let message = refused(&source, &[]);
    assert!(
        message.contains("model.ckpt-5.meta") && message.contains("two nodes are named \"Relu\""),
        "{message}"
    );
}

#[test]
fn a_training_flag_that_does_not_exist_is_named() {
    let message = refused(&tiny_mlp(), &["--training-flag", "is_trainnig"]);
    assert!(
        message.contains("training flag \"is_trainnig\" is not in the graph"),
        "{message}"
    );
}

/// A GraphDef whose output reads a float placeholder `x` and a bool
/// placeholder `mode`, a training flag only the user can name.
fn graph_with_an_unusual_flag(dir: &Path) -> PathBuf {
    let path = dir.join("graph.pbtxt");
    std::fs::write(
        &path,
        r#"node { name: "mode" op: "Placeholder" attr { key: "dtype" value { type: DT_BOOL } } }
node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
node { name: "logits/BiasAdd" op: "Select" input: "mode" input: "x" input: "x"
       attr { key: "T" value { type: DT_FLOAT } } }
"#,
    )
    .unwrap();
    path
}

fn served_inputs(out: &Path) -> Vec<String> {
    let saved = servegraph::proto::SavedModel::decode(
        std::fs::read(out.join("saved_model.pb"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let signature = &saved.meta_graphs[0].signature_def["serving_default"];
    signature.inputs.keys().cloned().collect()
}

#[test]
fn a_named_training_flag_is_never_chosen_as_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let graph = graph_with_an_unusual_flag(dir.path());
    let export = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "export",
            graph.to_str().unwrap(),
            out.to_str().unwrap(),
            "--output",
            "y=logits/BiasAdd:0",
        ];
        args.extend_from_slice(extra);
        let run = servegraph(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    };
    let unnamed = dir.path().join("unnamed");
    export(&unnamed, &[]);
    assert_eq!(served_inputs(&unnamed), ["mode", "x"]);
    let named = dir.path().join("named");
    export(&named, &["--training-flag", "mode"]);
    assert_eq!(served_inputs(&named), ["x"]);

    let message = refused(&graph, &["--training-flag", "mode", "--input", "m=mode"]);
    assert!(
        message.contains("\"mode\" is named as a training flag and cannot also be input \"m\""),
        "{message}"
    );
}

/// A variable whose shape its MatMul cannot take: the serving graph is
/// checked the way TensorFlow's loaders check it, and the export is refused
/// naming the node, the op, its inputs and the sizes that clash.
#[test]
fn an_op_that_cannot_take_its_inputs_shapes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let meta = edited_tiny_mlp(dir.path(), |graph| {
        let kernel = node_named(graph, "hidden/kernel");
        kernel.attr.insert(
            "shape".into(),
            servegraph::proto::AttrValue {
                value: Some(servegraph::proto::attr_value::Value::Shape(
                    servegraph::typing::shape_proto(&[7, 3]),
                )),
            },
        );
    });
    let message = refused(&meta, &[]);
    assert!(
        message.contains("node \"hidden/MatMul\" (MatMul)"),
        "{message}"
    );
    assert!(message.contains("found 4 and 7"), "{message}");
    assert!(
        message.contains("TensorFlow would refuse this graph"),
        "{message}"
    );
}

/// Two inputs an op takes of one type, in two types: refused before
/// anything is written, naming the node and both types.
#[test]
fn a_dtype_conflict_at_a_node_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let meta = edited_tiny_mlp(dir.path(), |graph| {
        let double = servegraph::proto::AttrValue {
            value: Some(servegraph::proto::attr_value::Value::Type(
                servegraph::proto::DataType::DtDouble as i32,
            )),
        };
        node_named(graph, "hidden/kernel")
            .attr
            .insert("dtype".into(), double.clone());
        node_named(graph, "hidden/kernel/read")
            .attr
            .insert("T".into(), double);
    });
    let message = refused(&meta, &[]);
    assert!(
        message.contains("node \"hidden/MatMul\" (MatMul)"),
        "{message}"
    );
    assert!(message.contains("inputs are of one type"), "{message}");
    assert!(message.contains("float64"), "{message}");
}
