//! The saver of a lean TF2 SavedModel, generated fresh from the kept
//! resource variables: a restore function (`RestoreV2` of the object-path
//! keys, one `AssignVariableOp` per variable handle), a save function
//! (`SaveV2` of the same keys and the checkpoint's object graph), the graph
//! nodes that call them and the `SaverDef` pointing at those nodes.
//!
//! `tf.saved_model.load` restores through the object graph and never runs
//! them; the TF1 loader and the C API's `LoadSavedModel` (what TensorFlow
//! Serving runs) run `restore_op_name` feeding the variables' path to
//! `filename_tensor_name`. The source's own save/restore functions hold the
//! dropped variables' keys and handles, so they cannot be reused.

use std::collections::HashSet;

use bytes::Bytes;

use super::checkpoint::{Body, Checkpoint, Saved, saver_def};
use super::names::free_name;
use super::nodes::{const_string_node, node, on_cpu, shape_attr, type_attr, type_list_attr};
use crate::format::proto::attr_value::Value;
use crate::format::proto::op_def::ArgDef;
use crate::format::proto::{
    AttrValue, DataType, FunctionDef, NameAttrList, NodeDef, OpDef, SaverDef,
};
use crate::front::object_graph::OBJECT_GRAPH_KEY;

/// A resource variable the functions save and restore through its handle.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedHandle {
    /// Its `VarHandleOp` node in the graph.
    pub node: String,
    /// Its key in the checkpoint.
    pub key: String,
    /// Its dtype in the graph and in the checkpoint.
    pub dtype: DataType,
}

/// What the writer adds to the pruned MetaGraphDef.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSaver {
    /// `saver_filename` and the two call nodes, appended to `graph_def`.
    pub nodes: Vec<NodeDef>,
    /// The save and restore functions, appended to the library.
    pub functions: Vec<FunctionDef>,
    pub saver_def: SaverDef,
}

/// The names already taken in the graph and its library, so the saver's
/// own never collide with them.
#[derive(Debug, Clone, Default)]
pub struct TakenNames {
    pub nodes: HashSet<String>,
    pub functions: HashSet<String>,
}

/// The saver for `variables`, whose save half writes `object_graph` (the
/// serialized `TrackableObjectGraph`) under [`OBJECT_GRAPH_KEY`] beside them.
pub fn build_function_saver(
    variables: &[SavedHandle],
    object_graph: &[u8],
    taken: &TakenNames,
) -> FunctionSaver {
    let sorted = sorted_by_key(variables);
    let save_name = free_name("__inference__lean_save", &taken.functions);
    let restore_name = free_name("__inference__lean_restore", &taken.functions);
    let filename = free_name("saver_filename", &taken.nodes);
    let mut node_names = taken.nodes.clone();
    node_names.insert(filename.clone());
    let save_call = free_name("StatefulPartitionedCall_save", &node_names);
    node_names.insert(save_call.clone());
    let restore_call = free_name("StatefulPartitionedCall_restore", &node_names);
    let nodes = vec![
        filename_placeholder(&filename),
        call_node(&save_call, &save_name, &filename, &sorted),
        call_node(&restore_call, &restore_name, &filename, &sorted),
    ];
    FunctionSaver {
        nodes,
        functions: vec![
            save_function(&save_name, &sorted, object_graph),
            restore_function(&restore_name, &sorted),
        ],
        saver_def: saver_def(&filename, &save_call, &restore_call),
    }
}

/// The variables in key order: the order both functions take their handles
/// and list their keys.
fn sorted_by_key(variables: &[SavedHandle]) -> Vec<&SavedHandle> {
    let mut sorted: Vec<&SavedHandle> = variables.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    sorted
}

fn filename_placeholder(name: &str) -> NodeDef {
    node("Placeholder", name, std::iter::empty::<String>())
        .attr("dtype", type_attr(DataType::DtString))
        .attr("shape", shape_attr(&[]))
        .build()
}

/// A `StatefulPartitionedCall` of `function` with the filename and every
/// variable handle; its one output is the prefix the function returns.
fn call_node(name: &str, function: &str, filename: &str, variables: &[&SavedHandle]) -> NodeDef {
    let inputs =
        std::iter::once(filename.to_string()).chain(variables.iter().map(|v| v.node.clone()));
    let mut tin = vec![DataType::DtString];
    tin.extend(variables.iter().map(|_| DataType::DtResource));
    node("StatefulPartitionedCall", name, inputs)
        .attr("Tin", type_list_attr(&tin))
        .attr("Tout", type_list_attr(&[DataType::DtString]))
        .attr("f", func_attr(function))
        .attr("config", string_attr(""))
        .attr("config_proto", string_attr(""))
        .attr("executor_type", string_attr(""))
        .build()
}

fn func_attr(name: &str) -> AttrValue {
    AttrValue {
        value: Some(Value::Func(NameAttrList {
            name: name.to_string(),
            ..NameAttrList::default()
        })),
    }
}

fn string_attr(value: &str) -> AttrValue {
    AttrValue {
        value: Some(Value::S(Bytes::copy_from_slice(value.as_bytes()))),
    }
}

/// The function's name for the handle of the `i`th variable.
fn handle_arg(i: usize) -> String {
    format!("variable_{i}")
}

const PREFIX_ARG: &str = "file_prefix";
const OUTPUT: &str = "prefix";

/// `(file_prefix: string, variable_0..n: resource) -> (prefix: string)`.
fn signature(name: &str, variables: &[&SavedHandle], control_outputs: Vec<String>) -> OpDef {
    let arg = |name: String, dtype: DataType| ArgDef {
        name,
        r#type: dtype as i32,
        ..ArgDef::default()
    };
    let handles = (0..variables.len()).map(|i| arg(handle_arg(i), DataType::DtResource));
    OpDef {
        name: name.to_string(),
        input_arg: std::iter::once(arg(PREFIX_ARG.into(), DataType::DtString))
            .chain(handles)
            .collect(),
        output_arg: vec![arg(OUTPUT.into(), DataType::DtString)],
        control_output: control_outputs,
        is_stateful: true,
        ..OpDef::default()
    }
}

/// A function returning `file_prefix` once `after` have run.
fn function(
    name: &str,
    variables: &[&SavedHandle],
    mut nodes: Vec<NodeDef>,
    after: Vec<String>,
) -> FunctionDef {
    let mut result = node("Identity", "Identity", [PREFIX_ARG.to_string()])
        .attr("T", type_attr(DataType::DtString))
        .build();
    result.input.extend(after.iter().map(|n| format!("^{n}")));
    nodes.push(result);
    FunctionDef {
        signature: Some(signature(name, variables, after.clone())),
        node_def: nodes,
        ret: [(OUTPUT.to_string(), "Identity:output:0".to_string())].into(),
        control_ret: after.iter().map(|n| (n.clone(), n.clone())).collect(),
        ..FunctionDef::default()
    }
}

/// Each variable as the checkpoint holds it: whole, in its own dtype.
fn saved(variables: &[&SavedHandle]) -> Vec<Saved> {
    let saved = |v: &&SavedHandle| Saved {
        key: v.key.clone(),
        spec: String::new(),
        dtype: v.dtype,
    };
    variables.iter().map(saved).collect()
}

/// Reads every variable and writes them with the object graph to
/// `file_prefix` in one `SaveV2`.
fn save_function(name: &str, variables: &[&SavedHandle], object_graph: &[u8]) -> FunctionDef {
    let mut tensors = saved(variables);
    tensors.push(Saved {
        key: OBJECT_GRAPH_KEY.to_string(),
        spec: String::new(),
        dtype: DataType::DtString,
    });
    let mut nodes = Vec::new();
    let mut inputs = Vec::new();
    for (i, variable) in variables.iter().enumerate() {
        let read = format!("Read_{i}");
        nodes.push(
            node("ReadVariableOp", &read, [handle_arg(i)])
                .attr("dtype", type_attr(variable.dtype))
                .build(),
        );
        inputs.push(format!("{read}:value:0"));
    }
    inputs.push("object_graph:output:0".into());
    let save = Checkpoint::new(&tensors).save(&Body::Function, PREFIX_ARG, inputs);
    let object_graph = const_string_node("object_graph", &[object_graph], &[]);
    let before_reads = save.constants.into_iter().chain([object_graph]);
    let nodes = before_reads
        .map(on_cpu)
        .chain(nodes)
        .chain([on_cpu(save.op)])
        .collect();
    function(name, variables, nodes, vec!["SaveV2".into()])
}

/// Reads every variable's key from `file_prefix` in one `RestoreV2` and
/// assigns each value to its handle.
fn restore_function(name: &str, variables: &[&SavedHandle]) -> FunctionDef {
    if variables.is_empty() {
        return function(name, variables, Vec::new(), Vec::new());
    }
    let body = Body::Function;
    let checkpoint = Checkpoint::new(&saved(variables));
    let mut nodes = checkpoint.restore(&body, PREFIX_ARG);
    let mut assigns = Vec::new();
    for (i, variable) in variables.iter().enumerate() {
        let assign = format!("AssignVariableOp_{i}");
        nodes.push(
            node(
                "AssignVariableOp",
                &assign,
                [handle_arg(i), checkpoint.restored(&body, i)],
            )
            .attr("dtype", type_attr(variable.dtype))
            .build(),
        );
        assigns.push(assign);
    }
    function(name, variables, nodes, assigns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::saver_def::CheckpointFormatVersion;

    fn variable(node: &str, key: &str, dtype: DataType) -> SavedHandle {
        SavedHandle {
            node: node.into(),
            key: key.into(),
            dtype,
        }
    }

    fn string_values(node: &NodeDef) -> Vec<String> {
        let Some(Value::Tensor(tensor)) = node.attr["value"].value.as_ref() else {
            panic!("{} holds no tensor", node.name);
        };
        let strings = tensor.string_val.iter();
        strings
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    fn named<'a>(function: &'a FunctionDef, name: &str) -> &'a NodeDef {
        let found = function.node_def.iter().find(|n| n.name == name);
        found.unwrap_or_else(|| panic!("no node {name}"))
    }

    #[test]
    fn restore_assigns_each_key_to_the_handle_passed_in_key_order() {
        let variables = [
            variable("w", "b/.ATTRIBUTES/VARIABLE_VALUE", DataType::DtFloat),
            variable("step", "a/.ATTRIBUTES/VARIABLE_VALUE", DataType::DtInt64),
        ];
        let saver = build_function_saver(&variables, b"graph", &TakenNames::default());
        let restore = &saver.functions[1];
        let keys = string_values(named(restore, "RestoreV2/tensor_names"));
        assert_eq!(
            keys,
            [
                "a/.ATTRIBUTES/VARIABLE_VALUE",
                "b/.ATTRIBUTES/VARIABLE_VALUE"
            ]
        );
        let second = named(restore, "AssignVariableOp_1");
        assert_eq!(second.input, ["variable_1", "RestoreV2:tensors:1"]);
        assert_eq!(second.attr["dtype"], type_attr(DataType::DtFloat));
        let call = saver
            .nodes
            .iter()
            .find(|n| n.name == saver.saver_def.restore_op_name);
        assert_eq!(call.unwrap().input, ["saver_filename", "step", "w"]);
        let signature = restore.signature.as_ref().unwrap();
        assert_eq!(signature.input_arg.len(), 3);
        assert_eq!(
            signature.control_output,
            ["AssignVariableOp_0", "AssignVariableOp_1"]
        );
    }

    #[test]
    fn save_writes_the_object_graph_beside_the_variables() {
        let variables = [variable(
            "w",
            "w/.ATTRIBUTES/VARIABLE_VALUE",
            DataType::DtHalf,
        )];
        let saver = build_function_saver(&variables, b"graph bytes", &TakenNames::default());
        let save = &saver.functions[0];
        let keys = string_values(named(save, "SaveV2/tensor_names"));
        assert_eq!(keys, ["w/.ATTRIBUTES/VARIABLE_VALUE", OBJECT_GRAPH_KEY]);
        assert_eq!(string_values(named(save, "object_graph")), ["graph bytes"]);
        let save_op = named(save, "SaveV2");
        assert_eq!(
            save_op.input[3..],
            ["Read_0:value:0", "object_graph:output:0"]
        );
        let dtypes = type_list_attr(&[DataType::DtHalf, DataType::DtString]);
        assert_eq!(save_op.attr["dtypes"], dtypes);
        assert_eq!(
            saver.saver_def.save_tensor_name,
            "StatefulPartitionedCall_save:0"
        );
        assert_eq!(saver.saver_def.version, CheckpointFormatVersion::V2 as i32);
    }

    #[test]
    fn names_taken_by_the_graph_or_library_are_avoided() {
        let taken = TakenNames {
            nodes: ["saver_filename".to_string()].into(),
            functions: ["__inference__lean_restore".to_string()].into(),
        };
        let saver = build_function_saver(&[], b"", &taken);
        assert_eq!(saver.saver_def.filename_tensor_name, "saver_filename_1:0");
        let names: Vec<&str> = saver
            .functions
            .iter()
            .map(|f| f.signature.as_ref().unwrap().name.as_str())
            .collect();
        assert_eq!(
            names,
            ["__inference__lean_save", "__inference__lean_restore_1"]
        );
    }
}
