//! The serving graph checked the way TensorFlow's loaders check it, before
//! anything is written: shape inference from the signature's inputs (their
//! batch a symbol), and any node whose op cannot take its inputs' ranks,
//! sizes or dtypes is an error naming the node, the op, its inputs and what
//! was expected and found. `validate` runs the same check on any SavedModel.

use super::output_shapes::seeds;
use super::shape_memo::ShapeMemo;
use super::{Pass, PassContext, PassError, PassReport};
use crate::ir::Graph;
use crate::model::{Model, Signature};
use crate::ops::shapes::NodeConflict;

/// Refuses a serving graph a loader would refuse.
pub struct ShapeCheckPass {
    pub signature: String,
}

/// A node whose op cannot take its inputs, with the inputs named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "node {node:?} ({op}) cannot run on its inputs {inputs}: {conflict}; TensorFlow would refuse this graph"
)]
pub struct ShapeConflict {
    pub node: String,
    pub op: String,
    /// The node's data inputs, `tensor [shape]`, comma-separated.
    pub inputs: String,
    pub conflict: String,
}

impl Pass for ShapeCheckPass {
    fn name(&self) -> &'static str {
        "shape-check"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let Some(signature) = model.signatures.get(&self.signature) else {
            return Ok(PassReport::default());
        };
        match conflicts_in(model, signature, &mut cx.shapes)?
            .into_iter()
            .next()
        {
            Some(conflict) => Err(PassError::ShapeConflict(Box::new(conflict))),
            None => Ok(PassReport::default()),
        }
    }

    fn keeps_shapes(&self) -> bool {
        true
    }
}

/// Every node of `model`'s graph that cannot take its inputs when fed as
/// `signature` says.
pub fn conflicts(model: &Model, signature: &Signature) -> Result<Vec<ShapeConflict>, PassError> {
    conflicts_in(model, signature, &mut ShapeMemo::default())
}

/// [`conflicts`] with the inference remembered in (or added to) `memo`.
fn conflicts_in(
    model: &Model,
    signature: &Signature,
    memo: &mut ShapeMemo,
) -> Result<Vec<ShapeConflict>, PassError> {
    let graph = &model.graph;
    let inference = memo.infer(model, &seeds(graph, signature))?;
    let described = inference.conflicts.iter().map(|conflict| {
        let inputs = input_text(graph, conflict, inference.as_ref());
        ShapeConflict {
            node: conflict.node.clone(),
            op: conflict.op.clone(),
            inputs,
            conflict: conflict.conflict.to_string(),
        }
    });
    Ok(described.collect())
}

/// `tensor [shape], …` for the conflicting node's data inputs.
fn input_text(
    graph: &Graph,
    conflict: &NodeConflict,
    inference: &crate::ops::shapes::Inference,
) -> String {
    let Some(id) = graph.find(&conflict.node) else {
        return String::new();
    };
    let inputs = graph
        .data_inputs(id)
        .into_iter()
        .map(|t| format!("{} {}", graph.tensor_name(t), inference.shape(t)));
    inputs.collect::<Vec<_>>().join(", ")
}
