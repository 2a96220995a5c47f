//! The facts of every tensor of a graph, in one pass over its nodes in
//! topological order (linear in the graph's size): each node's rule applied
//! to its inputs' facts. A loop's back edge is unknown when its `Merge` is
//! met, as TensorFlow's own first pass has it.

use std::collections::HashMap;

use super::call::{Call, Conflict};
use super::fact::{Fact, Shape};
use super::rule;
use crate::ir::{Graph, IrError, NodeId, TensorRef};
use crate::ops::OpSignatures;
use crate::typing::output_dtype;

/// A node whose inputs its op cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConflict {
    pub node: String,
    pub op: String,
    pub conflict: Conflict,
}

/// What inference found: a fact per output of every node, and the nodes
/// whose rule refused their inputs (their outputs are then unknown).
#[derive(Debug, Default)]
pub struct Inference {
    facts: HashMap<TensorRef, Fact>,
    pub conflicts: Vec<NodeConflict>,
}

impl Inference {
    /// What is known of `tensor` (unknown when nothing is).
    pub fn fact(&self, tensor: TensorRef) -> Fact {
        self.facts.get(&tensor).cloned().unwrap_or_default()
    }

    /// The shape of `tensor`.
    pub fn shape(&self, tensor: TensorRef) -> Shape {
        self.facts
            .get(&tensor)
            .map_or(Shape::Unknown, |f| f.shape.clone())
    }
}

/// Infers every tensor of `graph`, starting from `seeds` (the serving
/// inputs, their first dimension the batch), which replace what a rule
/// would say of those tensors.
pub fn infer(
    graph: &Graph,
    ops: &OpSignatures<'_>,
    seeds: &HashMap<TensorRef, Fact>,
) -> Result<Inference, IrError> {
    let mut inference = Inference::default();
    for id in graph.topological_order()? {
        let outputs = infer_node(graph, ops, id, &inference, seeds);
        match outputs {
            Ok(facts) => store(&mut inference, id, facts),
            Err(conflict) => {
                inference.conflicts.push(NodeConflict {
                    node: graph.name(id).to_string(),
                    op: graph.op(id).to_string(),
                    conflict,
                });
            }
        }
    }
    Ok(inference)
}

fn store(inference: &mut Inference, id: NodeId, facts: Vec<Fact>) {
    for (port, fact) in facts.into_iter().enumerate() {
        inference.facts.insert(TensorRef::new(id, port), fact);
    }
}

/// The facts of `id`'s outputs: seeded, else its rule's (dtypes the rule
/// leaves open filled in from the op's definition).
fn infer_node(
    graph: &Graph,
    ops: &OpSignatures<'_>,
    id: NodeId,
    inference: &Inference,
    seeds: &HashMap<TensorRef, Fact>,
) -> Result<Vec<Fact>, Conflict> {
    let node = graph.node(id);
    let outputs = ops.output_count(node).unwrap_or(1);
    let inputs: Vec<Fact> = graph
        .data_inputs(id)
        .into_iter()
        .map(|tensor| inference.fact(tensor))
        .collect();
    let call = Call {
        op: &node.op,
        attrs: &node.attrs,
        inputs: &inputs,
        outputs,
    };
    let mut facts = match rule(&node.op) {
        Some(rule) => rule(&call)?,
        None => vec![Fact::unknown(); outputs.max(1)],
    };
    let op_def = ops.get(&node.op);
    for (port, fact) in facts.iter_mut().enumerate() {
        if let Some(seed) = seeds.get(&TensorRef::new(id, port)) {
            *fact = seed.clone();
        }
        if fact.dtype.is_none() {
            fact.dtype = output_dtype(&node.op, &node.attrs, port, op_def);
        }
    }
    Ok(facts)
}
