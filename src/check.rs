//! Is this graph well-formed enough to export? Every op is one TensorFlow (or
//! the source's op list, or the graph's function library) defines, every node
//! input names an output its producer has, and every signature tensor names an
//! existing output. A SavedModel that breaks any of these loads but cannot
//! serve, so these are errors before anything is written.

use crate::ir::{Graph, TensorRef};
use crate::model::Model;
use crate::ops::OpSignatures;

/// Whether ops nobody defines are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CustomOps {
    /// An op that is neither TensorFlow's nor in the source's op list is an error.
    #[default]
    Refuse,
    /// Accept such ops: a custom op library will be loaded at serving time.
    Allow,
}

/// A graph or signature that would export into a model that cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(
        "node {node:?} uses op {op:?}, which is neither a TensorFlow op nor in the source's op list"
    )]
    UnknownOp { node: String, op: String },
    #[error("node {node:?} reads {input:?}, but node {producer:?} ({op}) has {}", count_outputs(*.outputs))]
    InputPastOutputs {
        node: String,
        input: String,
        producer: String,
        op: String,
        outputs: usize,
    },
    #[error("{used_as}: tensor {tensor:?} does not exist: node {node:?} ({op}) has {}", count_outputs(*.outputs))]
    NoSuchOutput {
        used_as: String,
        tensor: String,
        node: String,
        op: String,
        outputs: usize,
    },
    #[error("{used_as}: tensor {tensor:?} names no node of the graph")]
    UnknownTensor { used_as: String, tensor: String },
}

fn count_outputs(count: usize) -> String {
    match count {
        0 => "no outputs".into(),
        1 => "1 output".into(),
        n => format!("{n} outputs"),
    }
}

/// Checks ops and node inputs of the graph as read, before any pass runs.
pub fn check_graph(model: &Model, custom_ops: CustomOps) -> Result<(), CheckError> {
    let ops = OpSignatures::of(model);
    let graph = &model.graph;
    for id in graph.node_ids() {
        let node = graph.node(id);
        if custom_ops == CustomOps::Refuse && ops.get(&node.op).is_none() {
            return Err(CheckError::UnknownOp {
                node: node.name().into(),
                op: node.op.clone(),
            });
        }
        for input in graph.data_inputs(id) {
            check_output(graph, &ops, input).map_err(|outputs| CheckError::InputPastOutputs {
                node: node.name().into(),
                input: graph.tensor_name(input),
                producer: graph.name(input.node).into(),
                op: graph.op(input.node).into(),
                outputs,
            })?;
        }
    }
    Ok(())
}

/// Checks that every tensor the model's signatures name exists.
pub fn check_signatures(model: &Model) -> Result<(), CheckError> {
    let ops = OpSignatures::of(model);
    for (key, signature) in &model.signatures {
        let tensors = [("input", &signature.inputs), ("output", &signature.outputs)];
        for (direction, specs) in tensors {
            for (name, spec) in specs {
                let used_as = format!("signature {key:?} {direction} {name:?}");
                check_tensor(&model.graph, &ops, &spec.name, &used_as)?;
            }
        }
    }
    Ok(())
}

/// Resolves the tensor called `name` and checks its producer has that output;
/// `used_as` says where the name came from, for the error.
pub fn check_tensor(
    graph: &Graph,
    ops: &OpSignatures<'_>,
    name: &str,
    used_as: &str,
) -> Result<TensorRef, CheckError> {
    let tensor = graph.tensor(name).map_err(|_| CheckError::UnknownTensor {
        used_as: used_as.into(),
        tensor: name.into(),
    })?;
    check_output_exists(graph, ops, tensor, used_as)?;
    Ok(tensor)
}

/// Checks that `tensor`'s producer has that output; `used_as` says where the
/// tensor was named, for the error.
pub fn check_output_exists(
    graph: &Graph,
    ops: &OpSignatures<'_>,
    tensor: TensorRef,
    used_as: &str,
) -> Result<(), CheckError> {
    check_output(graph, ops, tensor).map_err(|outputs| CheckError::NoSuchOutput {
        used_as: used_as.into(),
        tensor: graph.tensor_name(tensor),
        node: graph.name(tensor.node).into(),
        op: graph.op(tensor.node).into(),
        outputs,
    })
}

/// `Err(count)` when `tensor`'s port is not below its producer's output count.
/// An op whose count cannot be known (a custom op, a missing count attr)
/// passes: only TensorFlow could tell.
fn check_output(graph: &Graph, ops: &OpSignatures<'_>, tensor: TensorRef) -> Result<(), usize> {
    match ops.output_count(graph.node(tensor.node)) {
        Some(count) if tensor.port >= count => Err(count),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Signature, TensorSpec};
    use crate::passes::testing::{model, node};
    use crate::proto::AttrValue;
    use crate::proto::attr_value::Value;

    fn split(name: &str, num_split: i64) -> crate::proto::NodeDef {
        let mut split = node(name, "Split", &["dim", "value"]);
        split.attr.insert(
            "num_split".into(),
            AttrValue {
                value: Some(Value::I(num_split)),
            },
        );
        split
    }

    fn graph_reading(input: &str) -> Model {
        model(vec![
            node("dim", "Const", &[]),
            node("value", "Const", &[]),
            split("split", 2),
            node("out", "Identity", &[input]),
        ])
    }

    #[test]
    fn a_port_past_the_op_outputs_is_refused() {
        assert!(check_graph(&graph_reading("split:1"), CustomOps::Refuse).is_ok());
        let err = check_graph(&graph_reading("split:3"), CustomOps::Refuse).unwrap_err();
        assert!(
            matches!(&err, CheckError::InputPastOutputs { node, input, producer, op, outputs: 2 }
                if node == "out" && input == "split:3" && producer == "split" && op == "Split"),
            "{err}"
        );
        let err = check_graph(&graph_reading("value:1"), CustomOps::Refuse).unwrap_err();
        assert!(err.to_string().contains("has 1 output"), "{err}");
    }

    #[test]
    fn an_op_nobody_defines_is_refused_unless_allowed() {
        let mut custom = model(vec![
            node("x", "Const", &[]),
            node("y", "MyCustomOp", &["x"]),
            node("z", "Identity", &["y:4"]),
        ]);
        let err = check_graph(&custom, CustomOps::Refuse).unwrap_err();
        assert!(
            matches!(&err, CheckError::UnknownOp { node, op } if node == "y" && op == "MyCustomOp"),
            "{err}"
        );
        assert!(
            !err.to_string().contains("--"),
            "the library names no flag: {err}"
        );
        // Allowed, its outputs cannot be counted, so any port passes.
        check_graph(&custom, CustomOps::Allow).unwrap();
        // The source's own op list defines it: known, and counted.
        custom.op_defs.insert(
            "MyCustomOp".into(),
            crate::proto::OpDef {
                name: "MyCustomOp".into(),
                output_arg: vec![Default::default()],
                ..Default::default()
            },
        );
        let err = check_graph(&custom, CustomOps::Refuse).unwrap_err();
        assert!(
            matches!(err, CheckError::InputPastOutputs { outputs: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn signature_tensors_must_exist() {
        let mut model = graph_reading("split:1");
        let spec = |name: &str| TensorSpec {
            name: name.into(),
            dtype: crate::proto::DataType::DtFloat,
            shape: None,
        };
        let mut signature = Signature {
            method_name: String::new(),
            inputs: [("x".to_string(), spec("value:0"))].into(),
            outputs: [("y".to_string(), spec("split:1"))].into(),
        };
        model.signatures.insert("serving".into(), signature.clone());
        check_signatures(&model).unwrap();

        signature.outputs.insert("z".into(), spec("split:2"));
        model.signatures.insert("serving".into(), signature.clone());
        let err = check_signatures(&model).unwrap_err();
        assert!(
            matches!(&err, CheckError::NoSuchOutput { used_as, tensor, outputs: 2, .. }
                if used_as.contains("\"z\"") && tensor == "split:2"),
            "{err}"
        );

        signature.outputs.insert("z".into(), spec("gone:0"));
        model.signatures.insert("serving".into(), signature);
        let err = check_signatures(&model).unwrap_err();
        assert!(
            matches!(&err, CheckError::UnknownTensor { tensor, .. } if tensor == "gone:0"),
            "{err}"
        );
    }
}
