//! Freezing synthetic graphs against a checkpoint written here.

use super::*;
use crate::format::bundle::BundleWriter;
use crate::format::bundle::slices::Extent1;
use crate::ir::{AttrExt, DataType, Graph, TensorRef};
use crate::passes::testing::{self, TestNode, node};

fn floats(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `w` 2x2 and `b` 2 whole; `e` 3x2 stored as rows 0..2 and 2..3.
fn checkpoint(dir: &Path) -> std::path::PathBuf {
    let prefix = dir.join("model.ckpt-1");
    let mut writer = BundleWriter::create(&prefix).unwrap();
    let f = DataType::DtFloat;
    writer
        .add("w", f, &[2, 2], &floats(&[1.0, 2.0, 3.0, 4.0]))
        .unwrap();
    writer.add("b", f, &[2], &floats(&[0.5, -0.5])).unwrap();
    let rows = |start, length| {
        let all = Extent1 {
            start: 0,
            length: None,
        };
        [
            Extent1 {
                start,
                length: Some(length),
            },
            all,
        ]
    };
    let full = [3, 2];
    writer
        .add_slice("e", f, &full, &rows(0, 2), &floats(&[1.0, 2.0, 3.0, 4.0]))
        .unwrap();
    writer
        .add_slice("e", f, &full, &rows(2, 1), &floats(&[5.0, 6.0]))
        .unwrap();
    writer.finish().unwrap();
    prefix
}

fn variable(name: &str, op: &str, shape: &[i64]) -> TestNode {
    let mut variable = node(name, op, &[]).with_type("dtype", DataType::DtFloat);
    variable.set_attr_shape("shape", Some(shape));
    variable.set_attr_string("container", b"");
    variable
}

fn model_with(nodes: Vec<TestNode>, dir: &Path) -> Model {
    let mut model = testing::serving_model(nodes, "y:0");
    model.checkpoint = Some(checkpoint(dir));
    model
}

fn op_of(graph: &Graph, name: &str) -> String {
    graph.op(graph.require(name).unwrap()).to_string()
}

fn type_of(graph: &Graph, name: &str, key: &str) -> DataType {
    graph
        .node(graph.require(name).unwrap())
        .attr_type(key)
        .unwrap()
}

fn content(graph: &Graph, name: &str) -> Vec<u8> {
    let node = graph.node(graph.require(name).unwrap());
    node.attr_tensor("value").unwrap().tensor_content.to_vec()
}

fn no_variables_left(model: &Model) {
    let graph = &model.graph;
    for id in graph.node_ids() {
        assert!(
            !is_variable_op(graph.op(id)),
            "{} is still a variable",
            graph.name(id)
        );
    }
    assert!(model.checkpoint_slots.is_empty() && model.trainable.is_empty());
}

#[test]
fn a_ref_variable_becomes_a_const_and_its_ref_readers_read_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = model_with(
        vec![
            node("x", "Placeholder", &[]).with_type("dtype", DataType::DtFloat),
            variable("w", "VariableV2", &[2, 2]),
            node("w/read", "Identity", &["w"]).with_type("T", DataType::DtFloat),
            node("pred", "Placeholder", &[]).with_type("dtype", DataType::DtBool),
            node("w/switch", "RefSwitch", &["w", "pred"]).with_type("T", DataType::DtFloatRef),
            node("w/ref", "Identity", &["w/switch:1"]).with_type("T", DataType::DtFloatRef),
            node("m", "MatMul", &["x", "w/read"]).with_type("T", DataType::DtFloat),
            node("y", "Add", &["m", "w/ref"]).with_type("T", DataType::DtFloat),
        ],
        dir.path(),
    );
    model.trainable.insert("w".into());
    let (report, pass) = freeze_variables(&mut model, &FreezeLimits::default(), 1).unwrap();
    let graph = &model.graph;
    assert_eq!(op_of(graph, "w"), "Const");
    assert_eq!(type_of(graph, "w", "dtype"), DataType::DtFloat);
    assert_eq!(content(graph, "w"), floats(&[1.0, 2.0, 3.0, 4.0]));
    assert!(
        graph
            .node(graph.require("w").unwrap())
            .attr_shape("shape")
            .is_err()
    );
    assert_eq!(op_of(graph, "w/switch"), "Switch");
    assert_eq!(type_of(graph, "w/switch", "T"), DataType::DtFloat);
    assert_eq!(type_of(graph, "w/ref", "T"), DataType::DtFloat);
    // Every reader reads the constant through one unfoldable placeholder.
    let (w, frozen) = (
        graph.require("w").unwrap(),
        graph.require("w/frozen").unwrap(),
    );
    assert_eq!(op_of(graph, "w/frozen"), "PlaceholderWithDefault");
    assert_eq!(type_of(graph, "w/frozen", "dtype"), DataType::DtFloat);
    assert_eq!(graph.data_consumers(TensorRef::new(w, 0)), [(frozen, 0)]);
    let readers = graph.data_consumers(TensorRef::new(frozen, 0));
    let names: Vec<&str> = readers.iter().map(|(id, _)| graph.name(*id)).collect();
    assert_eq!(names, ["w/read", "w/switch"]);
    assert!(pass.added.contains(&"w/frozen".to_string()));
    assert_eq!(
        (pass.rewired[0].from.as_str(), pass.rewired[0].to.as_str()),
        ("w:0", "w/frozen:0")
    );
    no_variables_left(&model);
    assert_eq!((report.variables.len(), report.bytes), (1, 16));
    assert_eq!(report.variables[0].key, "w");
    assert!(
        pass.notes[0].contains("froze 1 variables"),
        "{:?}",
        pass.notes
    );
}

#[test]
fn a_resource_handle_entering_a_while_frame_carries_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut enter = node("loop/Enter", "Enter", &["w"]).with_type("T", DataType::DtResource);
    enter.set_attr_string("frame_name", b"loop/while_context");
    enter.set_attr_bool("is_constant", true);
    let mut gather = node("lookup", "ResourceGather", &["w", "ids"])
        .with_type("dtype", DataType::DtFloat)
        .with_type("Tindices", DataType::DtInt64);
    gather.set_attr_int("batch_dims", 0);
    gather.set_attr_bool("validate_indices", true);
    let mut model = model_with(
        vec![
            node("ids", "Placeholder", &[]).with_type("dtype", DataType::DtInt64),
            variable("w", "VarHandleOp", &[2, 2]),
            enter,
            node("loop/read", "ReadVariableOp", &["loop/Enter", "^ids"])
                .with_type("dtype", DataType::DtFloat),
            node("shape", "VariableShape", &["w"]).with_type("out_type", DataType::DtInt32),
            gather,
            node("y", "Identity", &["loop/read"]).with_type("T", DataType::DtFloat),
        ],
        dir.path(),
    );
    freeze_variables(&mut model, &FreezeLimits::default(), 1).unwrap();
    let graph = &model.graph;
    assert_eq!(op_of(graph, "w"), "Const");
    assert_eq!(content(graph, "w"), floats(&[1.0, 2.0, 3.0, 4.0]));
    assert_eq!(op_of(graph, "loop/Enter"), "Enter");
    assert_eq!(type_of(graph, "loop/Enter", "T"), DataType::DtFloat);
    let read = graph.require("loop/read").unwrap();
    assert_eq!(op_of(graph, "loop/read"), "Identity");
    assert_eq!(type_of(graph, "loop/read", "T"), DataType::DtFloat);
    assert!(graph.node(read).attr_type("dtype").is_err());
    assert_eq!(graph.control_inputs(read).len(), 1, "control inputs stay");
    assert_eq!(op_of(graph, "shape"), "Shape");
    assert_eq!(type_of(graph, "shape", "T"), DataType::DtFloat);
    assert_eq!(op_of(graph, "lookup"), "Gather");
    assert_eq!(type_of(graph, "lookup", "Tparams"), DataType::DtFloat);
    assert_eq!(type_of(graph, "lookup", "Tindices"), DataType::DtInt64);
    no_variables_left(&model);
    graph.validate().unwrap();
}

#[test]
fn a_gather_with_batch_dims_gets_an_axis_in_the_indices_frame() {
    let dir = tempfile::tempdir().unwrap();
    let mut gather = node("y", "ResourceGather", &["w", "ids"])
        .with_type("dtype", DataType::DtFloat)
        .with_type("Tindices", DataType::DtInt32);
    gather.set_attr_int("batch_dims", 1);
    let mut model = model_with(
        vec![
            node("ids", "Placeholder", &[]).with_type("dtype", DataType::DtInt32),
            variable("w", "VarHandleOp", &[2, 2]),
            gather,
        ],
        dir.path(),
    );
    let (_, pass) = freeze_variables(&mut model, &FreezeLimits::default(), 1).unwrap();
    let graph = &model.graph;
    assert_eq!(op_of(graph, "y"), "GatherV2");
    assert_eq!(pass.added, ["y/axis", "w/frozen"]);
    let axis = graph.require("y/axis").unwrap();
    let y = graph.require("y").unwrap();
    assert_eq!(graph.data_input(y, 2).map(|t| t.node), Some(axis));
    assert_eq!(graph.control_inputs(axis), [graph.require("ids").unwrap()]);
}

#[test]
fn each_piece_of_a_partitioned_variable_becomes_its_own_const() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = model_with(
        vec![
            variable("e/part_0", "VariableV2", &[2, 2]),
            variable("e/part_1", "VariableV2", &[1, 2]),
            node("e/part_0/read", "Identity", &["e/part_0"]),
            node("e/part_1/read", "Identity", &["e/part_1"]),
            node("y", "ConcatV2", &["e/part_0/read", "e/part_1/read"]),
        ],
        dir.path(),
    );
    for (node, spec) in [("e/part_0", "3 2 0,2:0,2"), ("e/part_1", "3 2 2,1:0,2")] {
        let slot = CheckpointSlot {
            key: "e".into(),
            slice_spec: spec.into(),
        };
        model.checkpoint_slots.insert(node.into(), slot);
    }
    let (report, _) = freeze_variables(&mut model, &FreezeLimits::default(), 1).unwrap();
    let graph = &model.graph;
    assert_eq!(content(graph, "e/part_0"), floats(&[1.0, 2.0, 3.0, 4.0]));
    assert_eq!(content(graph, "e/part_1"), floats(&[5.0, 6.0]));
    let keys: Vec<&str> = report.variables.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(keys, ["e", "e"]);
    assert_eq!(report.bytes, 24);
    no_variables_left(&model);
}

#[test]
fn over_the_size_limit_nothing_is_read_or_changed() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = model_with(
        vec![
            variable("w", "VariableV2", &[2, 2]),
            node("y", "Identity", &["w"]).with_type("T", DataType::DtFloat),
        ],
        dir.path(),
    );
    // Remove the data shard: a refusal must come from the index alone.
    let prefix = model.checkpoint.clone().unwrap();
    std::fs::remove_file(crate::format::bundle::data_path(&prefix, 0, 1)).unwrap();
    let limits = FreezeLimits {
        saved_model_bytes: 40,
        ..FreezeLimits::default()
    };
    let err = freeze_variables(&mut model, &limits, 1).unwrap_err();
    assert!(matches!(err, FreezeError::GraphTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("w (16 bytes)"), "{err}");
    assert_eq!(op_of(&model.graph, "w"), "VariableV2");
    let limits = FreezeLimits {
        constant_bytes: 15,
        ..FreezeLimits::default()
    };
    let err = freeze_variables(&mut model, &limits, 1).unwrap_err();
    assert!(matches!(&err, FreezeError::ConstantTooLarge { variable, .. } if variable == "w"));
}

#[test]
fn a_variable_something_writes_is_refused_naming_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = model_with(
        vec![
            variable("w", "VarHandleOp", &[2, 2]),
            node("v", "Placeholder", &[]).with_type("dtype", DataType::DtFloat),
            node("assign", "AssignVariableOp", &["w", "v"]),
            node("y", "ReadVariableOp", &["w", "^assign"]).with_type("dtype", DataType::DtFloat),
        ],
        dir.path(),
    );
    let err = freeze_variables(&mut model, &FreezeLimits::default(), 1).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"assign\"") && text.contains("AssignVariableOp"),
        "{text}"
    );
    assert_eq!(op_of(&model.graph, "w"), "VarHandleOp");
    assert_eq!(op_of(&model.graph, "y"), "ReadVariableOp");
}

#[test]
fn a_graph_dtype_the_checkpoint_does_not_hold_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = model_with(
        vec![
            variable("w", "VariableV2", &[4]),
            node("y", "Identity", &["w"]).with_type("T", DataType::DtFloat),
        ],
        dir.path(),
    );
    let err = freeze_variables(&mut model, &FreezeLimits::default(), 1).unwrap_err();
    assert!(matches!(err, FreezeError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("[2, 2]"), "{err}");
}

#[test]
fn without_a_checkpoint_the_variables_are_named() {
    let mut model = testing::serving_model(vec![variable("w", "VariableV2", &[2])], "w:0");
    let err = freeze_variables(&mut model, &FreezeLimits::default(), 1).unwrap_err();
    assert!(matches!(&err, FreezeError::NoCheckpoint { variables } if variables == &["w"]));
}

#[test]
fn a_reference_op_freezing_cannot_rewrite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = model_with(
        vec![
            variable("w", "VariableV2", &[2, 2]),
            node("i", "Placeholder", &[]).with_type("dtype", DataType::DtInt32),
            node("y", "RefSelect", &["i", "w"]).with_type("T", DataType::DtFloat),
        ],
        dir.path(),
    );
    let err = freeze_variables(&mut model, &FreezeLimits::default(), 1).unwrap_err();
    assert!(
        matches!(&err, FreezeError::NotAValue { op, .. } if op == "RefSelect"),
        "{err}"
    );
    assert_eq!(op_of(&model.graph, "w"), "VariableV2");
}
