//! The retyping on hand-built graphs: where handles flow, what is rewired,
//! and what is refused.

use std::collections::BTreeSet;

use super::resource_flow::trace;
use super::retype_weights;
use crate::format::proto::{
    AttrValue, DataType, FunctionDef, FunctionDefLibrary, GraphDef, MetaGraphDef, NameAttrList,
    NodeDef, OpDef, SavedObjectGraph, attr_value, op_def::ArgDef,
    resource_handle_proto::DtypeAndShape,
};
use crate::format::varint::write_varint;
use crate::tf2::{KeptVariable, Tf2Error};

fn type_attr(dtype: DataType) -> AttrValue {
    AttrValue {
        value: Some(attr_value::Value::Type(dtype as i32)),
    }
}

fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
    NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|i| i.to_string()).collect(),
        ..Default::default()
    }
}

fn with_dtype(mut n: NodeDef, dtype: DataType) -> NodeDef {
    n.attr.insert("dtype".into(), type_attr(dtype));
    n
}

fn call(name: &str, callee: &str, inputs: &[&str]) -> NodeDef {
    let mut n = node(name, "StatefulPartitionedCall", inputs);
    let func = NameAttrList {
        name: callee.into(),
        ..Default::default()
    };
    n.attr.insert(
        "f".into(),
        AttrValue {
            value: Some(attr_value::Value::Func(func)),
        },
    );
    n
}

fn resource_arg(name: &str) -> ArgDef {
    ArgDef {
        name: name.into(),
        r#type: DataType::DtResource as i32,
        handle_data: vec![DtypeAndShape {
            dtype: DataType::DtFloat as i32,
            shape: None,
        }],
        ..Default::default()
    }
}

fn float_arg(name: &str) -> ArgDef {
    ArgDef {
        name: name.into(),
        r#type: DataType::DtFloat as i32,
        ..Default::default()
    }
}

fn function(
    name: &str,
    args: Vec<ArgDef>,
    nodes: Vec<NodeDef>,
    ret: &[(&str, &str)],
) -> FunctionDef {
    FunctionDef {
        signature: Some(OpDef {
            name: name.into(),
            input_arg: args,
            ..Default::default()
        }),
        node_def: nodes,
        ret: ret
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn read(name: &str, handle: &str) -> NodeDef {
    with_dtype(node(name, "ReadVariableOp", &[handle]), DataType::DtFloat)
}

/// A SavedObject holding a float32 SavedVariable (field 7, dtype field 1).
fn saved_variable_object() -> Vec<u8> {
    let variable = [8u8, DataType::DtFloat as u8];
    let mut object = Vec::new();
    write_varint(&mut object, (7 << 3) | 2);
    write_varint(&mut object, variable.len() as u64);
    object.extend_from_slice(&variable);
    object
}

/// A concrete function whose bound_inputs (field 2, packed) are `ids`.
fn concrete_function(ids: &[u8]) -> Vec<u8> {
    let mut bytes = vec![(2 << 3) | 2, ids.len() as u8];
    bytes.extend_from_slice(ids);
    bytes
}

/// Variables `w` (4x3, object 1) and `b` (3, object 2); the signature call
/// passes both to `outer`, which passes `w` through an `Identity` to
/// `inner`; `restore` assigns `w`; `bound` receives `w` only through the
/// object graph's bound_inputs.
fn model() -> MetaGraphDef {
    let graph = GraphDef {
        node: vec![
            with_dtype(node("w", "VarHandleOp", &[]), DataType::DtFloat),
            with_dtype(node("b", "VarHandleOp", &[]), DataType::DtFloat),
            read("w/Read", "w"),
            node("x", "Placeholder", &[]),
            call("call", "outer", &["x", "w", "b:0"]),
            call("restore_call", "restore", &["x", "w"]),
        ],
        library: Some(FunctionDefLibrary {
            function: model_functions(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut meta_graph = MetaGraphDef {
        graph_def: Some(graph),
        object_graph_def: Some(SavedObjectGraph {
            nodes: vec![
                Vec::new().into(),
                saved_variable_object().into(),
                saved_variable_object().into(),
            ],
            concrete_functions: [("bound".to_string(), concrete_function(&[1]).into())].into(),
        }),
        ..Default::default()
    };
    let output = crate::format::proto::TensorInfo {
        encoding: Some(crate::format::proto::tensor_info::Encoding::Name(
            "w/Read:0".into(),
        )),
        ..Default::default()
    };
    meta_graph.signature_def.insert(
        "read_weight".into(),
        crate::format::proto::SignatureDef {
            outputs: [("w".to_string(), output)].into(),
            ..Default::default()
        },
    );
    meta_graph
}

/// The library of [`model`]: `outer`, `inner`, `restore` and `bound`, kept
/// apart so the graph that calls them reads on one screen.
fn model_functions() -> Vec<FunctionDef> {
    let outer = function(
        "outer",
        vec![float_arg("x"), resource_arg("w_arg"), resource_arg("b_arg")],
        vec![
            node("wi", "Identity", &["w_arg"]),
            call("inner_call", "inner", &["x", "wi:output:0"]),
            read("rb", "b_arg"),
            node("add", "AddV2", &["inner_call:output:0", "rb:value:0"]),
        ],
        &[("out", "add:z:0")],
    );
    let inner = function(
        "inner",
        vec![float_arg("x"), resource_arg("h")],
        vec![
            read("r", "h"),
            node("mm", "MatMul", &["x", "r:value:0", "^r"]),
            node("copy_on_read", "DisableCopyOnRead", &["h"]),
        ],
        &[("out", "mm:product:0"), ("raw", "r:value:0")],
    );
    let restore = function(
        "restore",
        vec![float_arg("value"), resource_arg("h")],
        vec![with_dtype(
            node("assign", "AssignVariableOp", &["h", "value"]),
            DataType::DtFloat,
        )],
        &[],
    );
    let bound = function(
        "bound",
        vec![float_arg("x"), resource_arg("captured")],
        vec![read("rc", "captured")],
        &[("out", "rc:value:0")],
    );
    vec![outer, inner, restore, bound]
}

fn variables() -> Vec<KeptVariable> {
    let variable = |node: &str, object_id, shape: Vec<i64>| KeptVariable {
        node: node.into(),
        object_id,
        object_path: node.into(),
        key: format!("{node}/.ATTRIBUTES/VARIABLE_VALUE"),
        dtype: DataType::DtFloat,
        shape,
    };
    vec![variable("w", 1, vec![4, 3]), variable("b", 2, vec![3])]
}

fn function_named<'a>(meta_graph: &'a MetaGraphDef, name: &str) -> &'a FunctionDef {
    let library = meta_graph
        .graph_def
        .as_ref()
        .unwrap()
        .library
        .as_ref()
        .unwrap();
    library
        .function
        .iter()
        .find(|f| f.signature.as_ref().unwrap().name == name)
        .unwrap()
}

fn node_named<'a>(nodes: &'a [NodeDef], name: &str) -> &'a NodeDef {
    nodes.iter().find(|n| n.name == name).unwrap()
}

fn dtype_of(n: &NodeDef, attr: &str) -> i32 {
    match n.attr[attr].value {
        Some(attr_value::Value::Type(t)) => t,
        _ => panic!("{} has no type attr {attr}", n.name),
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn handles_flow_through_calls_identities_and_bound_inputs() {
    let flow = trace(&model(), &variables()).unwrap();
    assert_eq!(flow.args[&("outer".to_string(), 1)], set(&["w"]));
    assert_eq!(flow.args[&("outer".to_string(), 2)], set(&["b"]));
    assert_eq!(flow.args[&("inner".to_string(), 1)], set(&["w"]));
    assert_eq!(flow.args[&("restore".to_string(), 1)], set(&["w"]));
    assert_eq!(flow.args[&("bound".to_string(), 1)], set(&["w"]));
    assert!(!flow.args.contains_key(&("outer".to_string(), 0)));
    assert_eq!(flow.tensors["outer"]["wi:output:0"], set(&["w"]));
}

#[test]
fn large_weights_become_half_and_every_read_is_cast_back() {
    let mut meta_graph = model();
    let mut vars = variables();
    let report = retype_weights(&mut meta_graph, &mut vars, 4).unwrap();
    assert_eq!(report.retyped.len(), 1);
    assert_eq!(report.retyped[0].node, "w");
    assert_eq!(report.kept_float32, 1);
    assert_eq!(report.bytes_saved, 24);
    // Reads in graph, inner and bound; the assignment in restore.
    assert_eq!(report.casts_added, 4);
    assert_eq!(vars[0].dtype, DataType::DtHalf);
    assert_eq!(vars[1].dtype, DataType::DtFloat);

    let graph = meta_graph.graph_def.as_ref().unwrap();
    let half = DataType::DtHalf as i32;
    let float = DataType::DtFloat as i32;
    assert_eq!(dtype_of(node_named(&graph.node, "w"), "dtype"), half);
    assert_eq!(dtype_of(node_named(&graph.node, "b"), "dtype"), float);
    assert_eq!(dtype_of(node_named(&graph.node, "w/Read"), "dtype"), half);
    let graph_cast = node_named(&graph.node, "w/Read/to_float32");
    assert_eq!(graph_cast.input, vec!["w/Read:0"]);
    assert_eq!(
        meta_graph.signature_def["read_weight"].outputs["w"].encoding,
        Some(crate::format::proto::tensor_info::Encoding::Name(
            "w/Read/to_float32:0".into()
        ))
    );

    assert_functions_retyped(&meta_graph);
}

/// The functions of [`model`] after `w` (only) went half: reads of it cast
/// back to float, its assignment casts to half, `b`'s uses untouched, and
/// the object graph's variable of `w` says half.
fn assert_functions_retyped(meta_graph: &MetaGraphDef) {
    let half = DataType::DtHalf as i32;
    let float = DataType::DtFloat as i32;
    let inner = function_named(meta_graph, "inner");
    let h = &inner.signature.as_ref().unwrap().input_arg[1];
    assert_eq!(h.handle_data[0].dtype, half);
    assert_eq!(dtype_of(node_named(&inner.node_def, "r"), "dtype"), half);
    let cast = node_named(&inner.node_def, "r/to_float32");
    assert_eq!(cast.input, vec!["r:value:0"]);
    assert_eq!(dtype_of(cast, "SrcT"), half);
    assert_eq!(dtype_of(cast, "DstT"), float);
    let mm = node_named(&inner.node_def, "mm");
    assert_eq!(mm.input, vec!["x", "r/to_float32:y:0", "^r"]);
    assert_eq!(inner.ret["raw"], "r/to_float32:y:0");

    let outer = function_named(meta_graph, "outer");
    let args = &outer.signature.as_ref().unwrap().input_arg;
    assert_eq!(args[1].handle_data[0].dtype, half);
    assert_eq!(args[2].handle_data[0].dtype, float);
    assert_eq!(dtype_of(node_named(&outer.node_def, "rb"), "dtype"), float);
    assert_eq!(
        outer.node_def.len(),
        4,
        "nothing added where only b is read"
    );

    let restore = function_named(meta_graph, "restore");
    let assign = node_named(&restore.node_def, "assign");
    assert_eq!(dtype_of(assign, "dtype"), half);
    assert_eq!(assign.input, vec!["h", "assign/value_to_float16:y:0"]);
    let to_half = node_named(&restore.node_def, "assign/value_to_float16");
    assert_eq!(
        (dtype_of(to_half, "SrcT"), dtype_of(to_half, "DstT")),
        (float, half)
    );
    assert_eq!(to_half.input, vec!["value"]);

    let bound = function_named(meta_graph, "bound");
    assert_eq!(bound.ret["out"], "rc/to_float32:y:0");

    let objects = &meta_graph.object_graph_def.as_ref().unwrap().nodes;
    assert_eq!(
        objects[1].as_ref(),
        [7 << 3 | 2, 2, 8, DataType::DtHalf as u8]
    );
    assert_eq!(objects[2].as_ref(), saved_variable_object().as_slice());
}

#[test]
fn nothing_large_enough_changes_nothing() {
    let mut meta_graph = model();
    let mut vars = variables();
    let report = retype_weights(&mut meta_graph, &mut vars, 100).unwrap();
    assert!(report.retyped.is_empty());
    assert_eq!(report.kept_float32, 2);
    assert_eq!(meta_graph, model());
}

#[test]
fn an_argument_shared_by_half_and_float_variables_is_refused() {
    let mut meta_graph = model();
    let graph = meta_graph.graph_def.as_mut().unwrap();
    graph
        .node
        .push(call("call_with_b", "outer", &["x", "b", "b"]));
    let before = meta_graph.clone();
    let err = retype_weights(&mut meta_graph, &mut variables(), 4).unwrap_err();
    match &err {
        Tf2Error::MixedVariableArgument {
            function,
            arg,
            retyped,
            kept,
        } => {
            // `inner` (reached through `outer`) is the first mixed argument in name order.
            assert_eq!((function.as_str(), arg.as_str()), ("inner", "h"));
            assert_eq!(
                (retyped.clone(), kept.clone()),
                (vec!["w".to_string()], vec!["b".to_string()])
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(meta_graph, before, "an error leaves the graph as it was");
    // With every variable retyped, the shared argument is fine.
    retype_weights(&mut meta_graph, &mut variables(), 1).unwrap();
}

fn refusal(extra: NodeDef) -> (String, String, String, String) {
    let mut meta_graph = model();
    let library = meta_graph
        .graph_def
        .as_mut()
        .unwrap()
        .library
        .as_mut()
        .unwrap();
    let inner = library
        .function
        .iter_mut()
        .find(|f| f.signature.as_ref().unwrap().name == "inner")
        .unwrap();
    inner.node_def.push(extra);
    let before = meta_graph.clone();
    let err = retype_weights(&mut meta_graph, &mut variables(), 4).unwrap_err();
    assert_eq!(meta_graph, before, "an error leaves the graph as it was");
    let message = err.to_string();
    match err {
        Tf2Error::UnsupportedResourceUse {
            function, node, op, ..
        } => (function, node, op, message),
        other => panic!("{other}"),
    }
}

#[test]
fn an_unknown_op_on_a_retyped_handle_is_refused_by_name() {
    let apply = node("apply", "ResourceApplyGradientDescent", &["h", "x", "x"]);
    let (function, node, op, message) = refusal(apply);
    assert_eq!((function.as_str(), node.as_str()), ("inner", "apply"));
    assert_eq!(op, "ResourceApplyGradientDescent");
    assert!(message.contains("not known"), "{message}");
}

#[test]
fn control_flow_on_a_retyped_handle_is_refused() {
    let (_, node, op, message) = refusal(node("branch", "If", &["x", "h"]));
    assert_eq!((node.as_str(), op.as_str()), ("branch", "If"));
    assert!(message.contains("control flow"), "{message}");
}

#[test]
fn returning_a_retyped_handle_is_refused() {
    let mut meta_graph = model();
    let library = meta_graph
        .graph_def
        .as_mut()
        .unwrap()
        .library
        .as_mut()
        .unwrap();
    let outer = library
        .function
        .iter_mut()
        .find(|f| f.signature.as_ref().unwrap().name == "outer")
        .unwrap();
    outer.ret.insert("handle".into(), "wi:output:0".into());
    let err = retype_weights(&mut meta_graph, &mut variables(), 4).unwrap_err();
    assert!(
        matches!(&err, Tf2Error::UnsupportedResourceUse { op, .. } if op == "return"),
        "{err}"
    );
}

#[test]
fn a_read_of_another_dtype_is_refused() {
    let mut meta_graph = model();
    let graph = meta_graph.graph_def.as_mut().unwrap();
    graph.node.push(with_dtype(
        node("odd", "ReadVariableOp", &["w"]),
        DataType::DtInt32,
    ));
    let err = retype_weights(&mut meta_graph, &mut variables(), 4).unwrap_err();
    assert!(err.to_string().contains("\"odd\""), "{err}");
}
