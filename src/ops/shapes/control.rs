//! Control flow (TF1 frames and functional ops), variables and input
//! pipelines: ops whose outputs are told by attributes or pass a tensor on.

use super::call::{Call, Facts, Outcome};
use super::elementwise::unify_shapes;
use super::fact::{Dim, Dims, Fact, Shape};
use crate::format::proto::DataType;

/// Ops that pass their first input on, through a frame or a branch.
pub fn passes_through(op: &str) -> bool {
    crate::op_kinds::is_frame_op(op) || matches!(op, "Switch" | "RefSwitch" | "RefIdentity")
}

pub fn pass_through(call: &Call) -> Outcome {
    call.all(call.input(0).clone())
}

/// `Merge`: one of its inputs (whichever arrives), and the index of it.
/// A loop's back edge is not known when the merge is first met, so the
/// inputs that are known are joined; sizes that differ become unknown.
pub fn merge(call: &Call) -> Outcome {
    let known: Vec<&Fact> = call
        .inputs
        .iter()
        .copied()
        .filter(|f| f.dtype.is_some())
        .collect();
    let dtype = known.iter().find_map(|f| f.dtype);
    let mut shape: Option<Shape> = None;
    for fact in &known {
        shape = Some(match shape {
            None => fact.shape.clone(),
            Some(s) => loosen(&s, &fact.shape),
        });
    }
    let index = Fact::of(Some(DataType::DtInt32), Shape::scalar());
    Ok(smallvec::smallvec![
        Fact::of(dtype, shape.unwrap_or_default()),
        index
    ])
}

/// The shape both `a` and `b` fit: equal dimensions kept, others unknown.
pub fn loosen(a: &Shape, b: &Shape) -> Shape {
    match (a.dims(), b.dims()) {
        (Some(x), Some(y)) if x.len() == y.len() => Shape::Ranked(
            x.iter()
                .zip(y)
                .map(|(p, q)| if p == q { *p } else { Dim::Unknown })
                .collect(),
        ),
        _ => Shape::Unknown,
    }
}

/// `LoopCond`: a boolean scalar.
pub fn loop_cond(call: &Call) -> Outcome {
    call.one(Fact::of(Some(DataType::DtBool), Shape::scalar()))
}

/// The ops [`told_by_attrs`] infers: the only ones whose inference reads
/// a node's `_output_shapes`.
pub const TOLD_BY_ATTRS: &[&str] = &[
    "IteratorGetNext",
    "IteratorGetNextSync",
    "QueueDequeueV2",
    "QueueDequeueManyV2",
    "QueueDequeueUpToV2",
    "QueueDequeue",
    "QueueDequeueMany",
    "If",
    "StatelessIf",
    "While",
    "StatelessWhile",
    "PartitionedCall",
    "StatefulPartitionedCall",
];

/// Ops that state their outputs in attributes: `output_types` /
/// `output_shapes` (iterators), `Tout` / `output_shapes` (functional
/// calls), `component_types` (queues).
pub fn told_by_attrs(call: &Call) -> Outcome {
    let types = ["output_types", "Tout", "component_types", "T"]
        .iter()
        .map(|key| call.attr_types(key))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let shapes = ["output_shapes", "_output_shapes", "shapes"]
        .iter()
        .map(|key| call.attr_shapes(key))
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let mut facts: Facts = (0..call.outputs.max(1))
        .map(|i| {
            let dtype = types.get(i).copied().flatten();
            let shape = shapes.get(i).cloned().unwrap_or_default();
            Fact::of(dtype, shape)
        })
        .collect();
    if call.op.starts_with("QueueDequeueMany") || call.op.starts_with("QueueDequeueUpTo") {
        // Batched components: a leading batch the queue's shapes do not say.
        for fact in &mut facts {
            if let Some(dims) = fact
                .shape
                .dims()
                .filter(|d| !d.is_empty() || shapes.is_empty())
            {
                let mut batched = Dims::from_slice(&[Dim::Unknown]);
                batched.extend_from_slice(dims);
                fact.shape = Shape::Ranked(batched);
            } else {
                fact.shape = Shape::Unknown;
            }
        }
    }
    Ok(facts)
}

/// `VariableV2` / `Variable`: its `dtype` and `shape`; resource handles are scalars.
pub fn variable(call: &Call) -> Outcome {
    let fact = match call.op {
        "VarHandleOp" => Fact {
            handle_shape: Some(Box::new(call.attr_shape("shape"))),
            ..Fact::of(Some(DataType::DtResource), Shape::scalar())
        },
        _ => Fact::of(call.attr_type("dtype"), call.attr_shape("shape")),
    };
    call.one(fact)
}

/// `ReadVariableOp`: the value of the variable the handle refers to.
pub fn read_variable(call: &Call) -> Outcome {
    let shape = call
        .input(0)
        .handle_shape
        .as_deref()
        .cloned()
        .unwrap_or_default();
    call.one(Fact::of(call.attr_type("dtype"), shape))
}

/// `Assign`: its value input's shape (the ref's when both are known).
pub fn assign(call: &Call) -> Outcome {
    let (target, value) = (call.input(0), call.input(1));
    let shape = unify_shapes(&target.shape, &value.shape).unwrap_or_else(|| value.shape.clone());
    call.one(Fact::of(target.dtype.or(value.dtype), shape))
}
