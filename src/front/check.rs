//! Is this model well-formed enough to export? Before the passes
//! ([`check_graph`]): every op is one TensorFlow (or the source's op list, or
//! the graph's function library) defines, and every node input names an
//! output its producer has. After them ([`check_model`]): every signature
//! tensor names an existing output, every variable is restored from a key
//! the checkpoint has, every asset's node and file exist, every table
//! initializer is a node of the graph. A SavedModel that breaks any of these
//! loads but cannot serve, so these are errors before anything is written.

use std::path::PathBuf;

use crate::format::bundle::{BundleError, BundleReader};
use crate::ir::{Graph, TensorRef};
use crate::model::Model;
use crate::op_kinds::is_variable_op;
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
    #[error("the serving graph reads variables but no checkpoint was given: {}", .variables.join(", "))]
    NoCheckpoint { variables: Vec<String> },
    #[error(
        "variable {variable:?} is restored from key {key:?}, which checkpoint {checkpoint} does not have"
    )]
    MissingCheckpointKey {
        variable: String,
        key: String,
        checkpoint: PathBuf,
    },
    #[error("asset {filename:?} is read through node {node:?}, which is not in the graph")]
    AssetNodeMissing { filename: String, node: String },
    #[error("asset {filename:?} (read by node {node:?}): {path} is not a file")]
    AssetFileMissing {
        filename: String,
        node: String,
        path: PathBuf,
    },
    #[error("table initializer {node:?} is not in the graph")]
    UnknownTableInitializer { node: String },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    ObjectGraph(#[from] crate::front::object_graph::ObjectGraphError),
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

/// Checks the model the pipeline made, before it is written (in release
/// builds too): what the SavedModel will name must resolve.
pub fn check_model(model: &Model) -> Result<(), CheckError> {
    check_signatures(model)?;
    check_table_initializers(model)?;
    check_assets(model)?;
    check_variables(model)
}

/// Every table initializer the init op will run is a node of the graph.
fn check_table_initializers(model: &Model) -> Result<(), CheckError> {
    match model
        .table_initializers
        .iter()
        .find(|node| model.graph.find(node).is_none())
    {
        Some(node) => Err(CheckError::UnknownTableInitializer { node: node.clone() }),
        None => Ok(()),
    }
}

/// Every asset is fed through a node of the graph, from a file that exists.
fn check_assets(model: &Model) -> Result<(), CheckError> {
    for asset in &model.assets {
        if model.graph.find(&asset.node).is_none() {
            return Err(CheckError::AssetNodeMissing {
                filename: asset.filename.clone(),
                node: asset.node.clone(),
            });
        }
        if !asset.source.is_file() {
            return Err(CheckError::AssetFileMissing {
                filename: asset.filename.clone(),
                node: asset.node.clone(),
                path: asset.source.clone(),
            });
        }
    }
    Ok(())
}

/// Every variable node is restored from a key the checkpoint holds: its
/// checkpoint slot, or by default its own name.
fn check_variables(model: &Model) -> Result<(), CheckError> {
    let graph = &model.graph;
    let variables: Vec<&str> = graph
        .node_ids()
        .into_iter()
        .filter(|&id| is_variable_op(graph.op(id)))
        .map(|id| graph.name(id))
        .collect();
    if variables.is_empty() {
        return Ok(());
    }
    let Some(checkpoint) = &model.checkpoint else {
        return Err(CheckError::NoCheckpoint {
            variables: variables.iter().map(|v| v.to_string()).collect(),
        });
    };
    let reader = BundleReader::open(checkpoint)?;
    for variable in variables {
        let key = model
            .checkpoint_slots
            .get(variable)
            .map_or(variable, |slot| slot.key.as_str());
        if !reader.contains(key) {
            if let Some(why) =
                crate::front::object_graph::explain_missing(model, &reader, variable)?
            {
                return Err(why.into());
            }
            return Err(CheckError::MissingCheckpointKey {
                variable: variable.into(),
                key: key.into(),
                checkpoint: checkpoint.clone(),
            });
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
    use crate::passes::testing::{TestNode, model, node};

    fn split(name: &str, num_split: i64) -> TestNode {
        let mut split = node(name, "Split", &["dim", "value"]);
        split.set_attr_int("num_split", num_split);
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
            crate::format::proto::OpDef {
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
            dtype: crate::format::proto::DataType::DtFloat,
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

    /// `w` (a variable) read by `y`, served by the signature.
    fn model_with_variable() -> Model {
        let mut model = model(vec![
            node("w", "VariableV2", &[]),
            node("y", "Identity", &["w"]),
        ]);
        let spec = TensorSpec {
            name: "y:0".into(),
            dtype: crate::format::proto::DataType::DtFloat,
            shape: None,
        };
        let signature = Signature {
            method_name: String::new(),
            inputs: Default::default(),
            outputs: [("y".to_string(), spec)].into(),
        };
        model.signatures.insert("serving".into(), signature);
        model
    }

    #[test]
    fn variables_must_resolve_in_the_checkpoint() {
        let mut model = model_with_variable();
        let err = check_model(&model).unwrap_err();
        assert!(
            matches!(&err, CheckError::NoCheckpoint { variables } if variables == &["w"]),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("model.ckpt");
        let mut writer = crate::format::bundle::BundleWriter::create(&prefix).unwrap();
        writer
            .add(
                "w",
                crate::format::proto::DataType::DtFloat,
                &[1],
                &[0, 0, 0, 0],
            )
            .unwrap();
        writer.finish().unwrap();
        model.checkpoint = Some(prefix);
        check_model(&model).unwrap();
        model.checkpoint_slots.insert(
            "w".into(),
            crate::model::CheckpointSlot {
                key: "layer/w".into(),
                slice_spec: String::new(),
            },
        );
        let err = check_model(&model).unwrap_err();
        assert!(
            matches!(&err, CheckError::MissingCheckpointKey { variable, key, .. }
                if variable == "w" && key == "layer/w"),
            "{err}"
        );
    }

    #[test]
    fn table_initializers_and_assets_must_resolve() {
        let mut model = graph_reading("split:1");
        model.table_initializers = vec!["init_table".into()];
        let err = check_model(&model).unwrap_err();
        assert!(
            matches!(&err, CheckError::UnknownTableInitializer { node } if node == "init_table"),
            "{err}"
        );
        model.table_initializers = vec!["out".into()];
        let dir = tempfile::tempdir().unwrap();
        let mut asset = crate::model::Asset {
            node: "gone".into(),
            source: dir.path().join("vocab.txt"),
            filename: "vocab.txt".into(),
            keep_lines: None,
        };
        model.assets = vec![asset.clone()];
        let err = check_model(&model).unwrap_err();
        assert!(
            matches!(&err, CheckError::AssetNodeMissing { node, .. } if node == "gone"),
            "{err}"
        );
        asset.node = "value".into();
        model.assets = vec![asset.clone()];
        let err = check_model(&model).unwrap_err();
        assert!(
            matches!(&err, CheckError::AssetFileMissing { filename, .. } if filename == "vocab.txt"),
            "{err}"
        );
        std::fs::write(&asset.source, "a\nb\n").unwrap();
        check_model(&model).unwrap();
    }
}
