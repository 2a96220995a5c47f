//! Freezing: every variable becomes a constant holding its checkpoint value,
//! so the SavedModel needs no `variables/` and no saver.
//!
//! Sizes are checked from the checkpoint's index before any value is read
//! (`budget.rs`); values are then read one variable at a time, straight into
//! their constants as stored float32 (or other) bytes, and read through a
//! placeholder TensorFlow does not fold, so predictions stay bit-identical
//! and a later pass can still convert the constants.

mod budget;
mod error;
mod rewrite;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use prost::Message;
use serde::Serialize;

pub use budget::WEIGHTS_MIN_ELEMENTS;
pub use error::FreezeError;
pub use rewrite::Access;

use super::{Pass, PassContext, PassError, PassReport};
use crate::format::bundle::{BundleReader, Piece, locate_piece, read_piece};
use crate::format::limits::{MAX_CONST_BYTES, MAX_SERVING_PROTO_BYTES};
use crate::ir::{AttrExt, DataType, Node, NodeId, TensorProto, TensorRef};
use crate::model::{CheckpointSlot, Model};
use crate::op_kinds::{is_resource_variable_op, is_variable_op};
use crate::typing::{base_dtype, dtype_name};
use budget::Planned;
use rewrite::Plan;

/// Sizes a frozen export must stay under. `Default`: TensorFlow Serving's
/// 1 GiB for `saved_model.pb`, protobuf's 2 GiB for one constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreezeLimits {
    /// Largest `saved_model.pb`, in bytes.
    pub saved_model_bytes: u64,
    /// Largest single constant, in bytes.
    pub constant_bytes: u64,
}

impl Default for FreezeLimits {
    fn default() -> FreezeLimits {
        FreezeLimits {
            saved_model_bytes: MAX_SERVING_PROTO_BYTES,
            constant_bytes: MAX_CONST_BYTES,
        }
    }
}

/// What freezing did: the variables now constants, and the bytes their
/// values moved from `variables/` into `saved_model.pb` (per MetaGraphDef).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FreezeReport {
    pub variables: Vec<FrozenVariable>,
    pub bytes: u64,
}

/// One variable turned into a constant.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FrozenVariable {
    pub node: String,
    /// The checkpoint key its value came from.
    pub key: String,
    pub dtype: String,
    pub shape: Vec<i64>,
    pub bytes: u64,
}

/// Freezes every variable of the model, for `meta_graphs` MetaGraphDefs
/// (each holding its own copy of the constants) within `limits`.
pub fn freeze_variables(
    model: &mut Model,
    limits: &FreezeLimits,
    meta_graphs: usize,
) -> Result<(FreezeReport, PassReport), FreezeError> {
    let variables = variables_of(model)?;
    if variables.is_empty() {
        return Ok((FreezeReport::default(), PassReport::default()));
    }
    let (checkpoint, reader) = open_checkpoint(model, &variables)?;
    let pieces = located(&reader, &checkpoint, &variables)?;
    let plans = planned(model, &variables)?;
    check_sizes(model, &variables, &pieces, meta_graphs, limits)?;
    let mut pass = PassReport::default();
    let mut report = FreezeReport::default();
    for ((variable, piece), plan) in variables.iter().zip(&pieces).zip(&plans) {
        let value = read_value(&reader, &checkpoint, variable, piece)?;
        pass.added
            .extend(rewrite::apply(&mut model.graph, plan, value)?);
        let reader = read_unfolded(model, variable)?;
        let why = "a frozen variable is read through a PlaceholderWithDefault holding its value";
        pass.rewired(format!("{}:0", variable.node), format!("{reader}:0"), why);
        pass.added.push(reader);
        forget_variable(model, &variable.node);
        model.frozen_keys.insert(variable.slot.key.clone());
        report.bytes += piece.bytes;
        report.variables.push(frozen(variable, piece));
    }
    pass.notes.push(format!(
        "froze {} variables into constants ({} bytes now in the graph)",
        report.variables.len(),
        report.bytes
    ));
    Ok((report, pass))
}

/// The model's checkpoint, open; the variables need one.
fn open_checkpoint(
    model: &Model,
    variables: &[Variable],
) -> Result<(PathBuf, BundleReader), FreezeError> {
    let Some(checkpoint) = model.checkpoint.clone() else {
        let variables = variables.iter().map(|v| v.node.clone()).collect();
        return Err(FreezeError::NoCheckpoint { variables });
    };
    match model.open_checkpoint(&checkpoint) {
        Ok(reader) => Ok((checkpoint, reader)),
        Err(source) => Err(FreezeError::Checkpoint {
            checkpoint,
            source: Box::new(source),
        }),
    }
}

/// The size limits, checked from the index: `meta_graphs` copies of the
/// graph as it is (its variables still nodes without values) and of the
/// constants to be.
fn check_sizes(
    model: &Model,
    variables: &[Variable],
    pieces: &[Piece],
    meta_graphs: usize,
    limits: &FreezeLimits,
) -> Result<(), FreezeError> {
    // Cloning is cheap: constant contents are shared `Bytes`.
    let graph_bytes = model.graph.clone().into_graph_def().encoded_len() as u64;
    let sizes: Vec<Planned> = variables.iter().zip(pieces).map(planned_size).collect();
    budget::check(&sizes, graph_bytes, meta_graphs as u64, limits)
}

/// One variable's value, read from the checkpoint.
fn read_value(
    reader: &BundleReader,
    checkpoint: &Path,
    variable: &Variable,
    piece: &Piece,
) -> Result<TensorProto, FreezeError> {
    read_piece(reader, &variable.slot.key, piece).map_err(|source| FreezeError::Value {
        variable: variable.node.clone(),
        checkpoint: checkpoint.to_path_buf(),
        source: Box::new(source),
    })
}

/// The pass form of [`freeze_variables`]: the constants' budget counts
/// `cx.meta_graphs` copies (one when unset), and the freeze report is left
/// in `cx.frozen`.
#[derive(Debug, Clone, Default)]
pub struct FreezePass {
    pub limits: FreezeLimits,
}

impl Pass for FreezePass {
    fn name(&self) -> &'static str {
        "freeze"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let (frozen, report) = freeze_variables(model, &self.limits, cx.meta_graphs.max(1))?;
        cx.frozen = Some(frozen);
        Ok(report)
    }
}

/// A variable of the graph and where its value is.
struct Variable {
    id: NodeId,
    node: String,
    access: Access,
    dtype: DataType,
    shape: Vec<i64>,
    slot: CheckpointSlot,
}

fn variables_of(model: &Model) -> Result<Vec<Variable>, FreezeError> {
    let graph = &model.graph;
    let mut variables = Vec::new();
    for id in graph.node_ids() {
        let node = graph.node(id);
        if !is_variable_op(&node.op) {
            continue;
        }
        let shape = node
            .attr_shape("shape")?
            .dim
            .iter()
            .map(|d| d.size)
            .collect();
        let slot = model.checkpoint_slots.get(node.name()).cloned();
        variables.push(Variable {
            id,
            node: node.name().into(),
            access: if is_resource_variable_op(&node.op) {
                Access::Resource
            } else {
                Access::Ref
            },
            dtype: base_dtype(node.attr_type("dtype")?),
            shape,
            slot: slot.unwrap_or_else(|| CheckpointSlot {
                key: node.name().into(),
                slice_spec: String::new(),
            }),
        });
    }
    Ok(variables)
}

/// Each variable's value in the index, checked against the graph's dtype and shape.
fn located(
    reader: &BundleReader,
    checkpoint: &Path,
    variables: &[Variable],
) -> Result<Vec<Piece>, FreezeError> {
    variables
        .iter()
        .map(|v| {
            let piece =
                locate_piece(reader, &v.slot.key, &v.slot.slice_spec).map_err(|source| {
                    FreezeError::Value {
                        variable: v.node.clone(),
                        checkpoint: checkpoint.to_path_buf(),
                        source: Box::new(source),
                    }
                })?;
            check_piece(v, &piece, checkpoint)?;
            Ok(piece)
        })
        .collect()
}

fn check_piece(v: &Variable, piece: &Piece, checkpoint: &Path) -> Result<(), FreezeError> {
    let (graph, stored) = if piece.dtype != v.dtype {
        (dtype_name(v.dtype as i32), dtype_name(piece.dtype as i32))
    } else if piece.shape != v.shape {
        (
            format!("shape {:?}", v.shape),
            format!("shape {:?}", piece.shape),
        )
    } else {
        return Ok(());
    };
    Err(FreezeError::Mismatch {
        variable: v.node.clone(),
        key: v.slot.key.clone(),
        graph,
        stored,
        checkpoint: checkpoint.to_path_buf(),
    })
}

/// Every variable's plan, or the first node that needs a variable itself.
fn planned(model: &Model, variables: &[Variable]) -> Result<Vec<Plan>, FreezeError> {
    let writers: HashSet<&str> = model
        .op_defs
        .values()
        .filter(|def| def.input_arg.iter().any(|arg| arg.is_ref))
        .map(|def| def.name.as_str())
        .collect();
    variables
        .iter()
        .map(|v| {
            rewrite::plan(&model.graph, v.id, v.access, v.dtype, &writers).map_err(|b| {
                FreezeError::NotAValue {
                    variable: v.node.clone(),
                    node: b.node,
                    op: b.op,
                    use_: b.use_,
                }
            })
        })
        .collect()
}

fn planned_size((variable, piece): (&Variable, &Piece)) -> Planned {
    Planned {
        variable: variable.node.clone(),
        dtype: piece.dtype,
        shape: piece.shape.clone(),
        bytes: piece.bytes,
    }
}

fn frozen(variable: &Variable, piece: &Piece) -> FrozenVariable {
    FrozenVariable {
        node: variable.node.clone(),
        key: variable.slot.key.clone(),
        dtype: dtype_name(piece.dtype as i32),
        shape: piece.shape.clone(),
        bytes: piece.bytes,
    }
}

/// Readers of the new constant read it through a `PlaceholderWithDefault`
/// holding it: TensorFlow's graph optimizers fold constant subexpressions
/// when a model loads, computing them in another order than the unfrozen
/// graph (a batch norm's scale, say) and so rounding differently; they
/// never fold a placeholder, so predictions stay bit-identical. Returns the
/// placeholder's name.
fn read_unfolded(model: &mut Model, variable: &Variable) -> Result<String, FreezeError> {
    let name = model
        .graph
        .unique_name(&format!("{}/frozen", variable.node));
    let mut node = Node::new(name.clone(), "PlaceholderWithDefault")
        .with_type("dtype", variable.dtype)
        .with_shape("shape", Some(&variable.shape));
    node.device = model.graph.node(variable.id).device.clone();
    let reader = model.graph.add_node(node)?;
    let value = TensorRef::new(variable.id, 0);
    model.rewire(value, TensorRef::new(reader, 0));
    model.graph.push_data_input(reader, value);
    Ok(name)
}

/// A frozen variable is no longer restored, trained or listed as one.
fn forget_variable(model: &mut Model, node: &str) {
    model.checkpoint_slots.remove(node);
    model.variable_defs.remove(node);
    model.trainable.remove(node);
}

#[cfg(test)]
mod tests;
