//! The facts of every tensor of a graph, in passes over its nodes in
//! topological order, each node's rule applied to its inputs' facts.
//!
//! A loop's back edge (a `NextIteration` into a `Merge`) is not known when
//! its `Merge` is first met: the first pass leaves it out, as TensorFlow's
//! own first pass has it, and a further pass assumes what the one before
//! found on it, until the back edges agree with what is assumed of them.
//! Loops whose variables keep their shapes (nearly all) take two passes;
//! when a few more do not settle, the back edges are taken as unknown, so
//! a fact is never claimed that an iteration could break. Calls of library
//! functions (`PartitionedCall`, `If`, `While`, a function as an op) have
//! their bodies inferred with the call's input facts, once per function
//! and input facts.

use std::collections::HashMap;

mod functions;

use super::call::{Call, Conflict, Facts};
use super::fact::{Dim, Fact, MAX_TRACKED_VALUES, Shape, UNKNOWN};
use crate::format::proto::DataType;
use crate::ir::{Graph, IrError, NodeId, TensorRef};
use crate::ops::OpSignatures;
use crate::typing::output_dtype;
use functions::{Library, OpEntry};

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
    /// Each node's outputs' facts, by node index.
    facts: Vec<Facts>,
    pub conflicts: Vec<NodeConflict>,
}

impl Inference {
    /// What is known of `tensor` (unknown when nothing is).
    pub fn fact(&self, tensor: TensorRef) -> Fact {
        self.get(tensor).cloned().unwrap_or_default()
    }

    fn get(&self, tensor: TensorRef) -> Option<&Fact> {
        self.facts.get(tensor.node.0.index())?.get(tensor.port)
    }

    /// The shape of `tensor`.
    pub fn shape(&self, tensor: TensorRef) -> Shape {
        self.get(tensor).map_or(Shape::Unknown, |f| f.shape.clone())
    }
}

/// Passes over a graph with loops before its back edges are taken as
/// unknown.
const MAX_PASSES: usize = 4;

/// Infers every tensor of `graph`, starting from `seeds` (the serving
/// inputs, their first dimension the batch), which replace what a rule
/// would say of those tensors; the bodies of the functions its library
/// defines are inferred where they are called.
pub fn infer(
    graph: &Graph,
    ops: &OpSignatures<'_>,
    seeds: &HashMap<TensorRef, Fact>,
) -> Result<Inference, IrError> {
    let library = Library::new(graph.library.as_ref(), ops);
    infer_within(graph, &library, seeds)
}

/// [`infer`] with a function library of its own (a function body's graph
/// has none: its calls name its caller's).
pub(super) fn infer_within(
    graph: &Graph,
    library: &Library<'_>,
    seeds: &HashMap<TensorRef, Fact>,
) -> Result<Inference, IrError> {
    let order = graph.topological_order()?;
    let bound = order.iter().map(|id| id.0.index() + 1).max().unwrap_or(0);
    let mut position = vec![usize::MAX; bound];
    for (i, id) in order.iter().enumerate() {
        position[id.0.index()] = i;
    }
    let mut seeded = vec![false; bound];
    for tensor in seeds.keys() {
        if let Some(slot) = seeded.get_mut(tensor.node.0.index()) {
            *slot = true;
        }
    }
    let mut assumed: HashMap<TensorRef, Fact> = HashMap::new();
    let mut pass = 0;
    loop {
        let mut run = Pass {
            graph,
            library,
            seeds,
            position: &position,
            seeded: &seeded,
            assumed: &assumed,
            back_edges: Vec::new(),
            inference: Inference {
                facts: vec![Facts::new(); bound],
                conflicts: Vec::new(),
            },
        };
        let mut tensors = Vec::new();
        for &id in &order {
            run.node(id, &mut tensors);
        }
        let found: HashMap<TensorRef, Fact> = run
            .back_edges
            .iter()
            .map(|&t| (t, run.inference.fact(t)))
            .collect();
        if found == assumed || pass == MAX_PASSES {
            return Ok(run.inference);
        }
        assumed = if pass + 1 == MAX_PASSES {
            found
                .into_iter()
                .map(|(t, f)| (t, Fact::of(f.dtype, Shape::Unknown)))
                .collect()
        } else {
            found
        };
        pass += 1;
    }
}

/// One pass in topological order.
struct Pass<'a, 'l> {
    graph: &'a Graph,
    library: &'a Library<'l>,
    seeds: &'a HashMap<TensorRef, Fact>,
    /// Each node's place in the order, by node index.
    position: &'a [usize],
    /// Whether a node has a seeded output, by node index.
    seeded: &'a [bool],
    /// What is assumed of each back edge (absent: left out).
    assumed: &'a HashMap<TensorRef, Fact>,
    /// The back edges met in this pass.
    back_edges: Vec<TensorRef>,
    inference: Inference,
}

/// Inputs whose facts are lent to a rule from the stack; a node with more
/// gathers them in a vector.
const INLINE_INPUTS: usize = 8;

impl Pass<'_, '_> {
    /// Infers node `id`; `tensors` is a buffer for its inputs.
    fn node(&mut self, id: NodeId, tensors: &mut Vec<TensorRef>) {
        let here = self.position[id.0.index()];
        tensors.clear();
        self.graph.extend_data_inputs(id, tensors);
        let is_back = |tensor: &TensorRef| {
            self.position
                .get(tensor.node.0.index())
                .is_some_and(|&p| p >= here)
        };
        self.back_edges
            .extend(tensors.iter().copied().filter(|t| is_back(t)));
        let fact_of = |tensor: TensorRef| match is_back(&tensor) {
            true => self.assumed.get(&tensor).unwrap_or(&UNKNOWN),
            false => self.inference.get(tensor).unwrap_or(&UNKNOWN),
        };
        let mut inline = [&UNKNOWN; INLINE_INPUTS];
        let spilled: Vec<&Fact>;
        let inputs: &[&Fact] = if tensors.len() <= INLINE_INPUTS {
            for (slot, &tensor) in inline.iter_mut().zip(tensors.iter()) {
                *slot = fact_of(tensor);
            }
            &inline[..tensors.len()]
        } else {
            spilled = tensors.iter().map(|&t| fact_of(t)).collect();
            &spilled
        };
        let node = self.graph.node(id);
        let entry = self.library.op(&node.op);
        let outputs = entry
            .def
            .and_then(|def| crate::typing::output_count(def, &node.attrs).ok())
            .unwrap_or(1);
        let op = OpInfo { entry, outputs };
        let seeds = self.seeded[id.0.index()].then_some(self.seeds);
        let facts = match infer_node(self.graph, self.library, id, inputs, &op, seeds) {
            Ok(facts) => facts,
            Err(conflict) => {
                self.inference.conflicts.push(NodeConflict {
                    node: self.graph.name(id).to_string(),
                    op: self.graph.op(id).to_string(),
                    conflict,
                });
                smallvec::smallvec![Fact::unknown(); outputs]
            }
        };
        self.inference.facts[id.0.index()] = facts;
    }
}

/// What a node's op is to inference (its rule, its definition, whether it
/// calls a function) and how many outputs the node has.
struct OpInfo<'a> {
    entry: OpEntry<'a>,
    outputs: usize,
}

/// The facts of `id`'s outputs: seeded, else its rule's or its called
/// function's (dtypes they leave open filled in from the op's definition).
fn infer_node(
    graph: &Graph,
    library: &Library<'_>,
    id: NodeId,
    inputs: &[&Fact],
    op: &OpInfo<'_>,
    seeds: Option<&HashMap<TensorRef, Fact>>,
) -> Result<Facts, Conflict> {
    let node = graph.node(id);
    let call = Call {
        op: &node.op,
        attrs: &node.attrs,
        inputs,
        outputs: op.outputs,
    };
    let mut facts = match op.entry.rule {
        Some(rule) => rule(&call)?,
        None => smallvec::smallvec![Fact::unknown(); op.outputs.max(1)],
    };
    if op.entry.calls
        && let Some(called) = functions::called(library, &call)
    {
        facts = functions::prefer_known(called, facts);
    }
    for (port, fact) in facts.iter_mut().enumerate() {
        if let Some(seed) = seeds.and_then(|seeds| seeds.get(&TensorRef::new(id, port))) {
            *fact = seed.clone();
        }
        if fact.dtype.is_none() {
            fact.dtype = output_dtype(&node.op, &node.attrs, port, op.entry.def);
        }
        // An attribute read as type 0 says nothing of the type.
        fact.dtype = fact
            .dtype
            .filter(|d| *d != crate::format::proto::DataType::DtInvalid);
        track_elements(fact);
    }
    Ok(facts)
}

/// A small integer vector whose elements no rule told: each element
/// unknown, so a shape built from it (`Concat`, `Slice`, `Pack`) keeps the
/// elements that are known.
fn track_elements(fact: &mut Fact) {
    let integer = matches!(fact.dtype, Some(DataType::DtInt32 | DataType::DtInt64));
    if let (true, None, Some([Dim::Known(n)])) = (integer, &fact.value, fact.shape.dims())
        && (*n as usize) <= MAX_TRACKED_VALUES
    {
        fact.value = Some(vec![Dim::Unknown; *n as usize]);
    }
}
