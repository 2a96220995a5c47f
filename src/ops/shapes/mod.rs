//! Static shapes and dtypes: a fact per tensor (dtype, rank, each
//! dimension, and the values of small integer tensors that carry shapes),
//! with unknown as a first-class value, from per-op rules. An op without a
//! rule makes its outputs unknown (their dtypes still come from the op's
//! definition), never an error by itself; an op whose inputs cannot be what
//! its rule needs is a [`Conflict`] naming what was expected and found.
//!
//! The serving inputs' first dimension is [`Dim::Batch`], a symbol, so the
//! facts say which dimensions follow the batch.

mod array;
mod call;
mod control;
mod elementwise;
mod fact;
mod infer;
mod nn;
mod slicing;

pub use call::{Call, Conflict, Outcome};
pub use fact::{Dim, Fact, MAX_TRACKED_VALUES, Shape};
pub use infer::{Inference, NodeConflict, infer};

/// A rule: the facts of a node's outputs from its inputs' and attributes.
pub type Rule = fn(&Call) -> Outcome;

/// The rule for `op`, if there is one: each family's table in turn.
pub fn rule(op: &str) -> Option<Rule> {
    elementwise_rule(op)
        .or_else(|| array_rule(op))
        .or_else(|| nn_rule(op))
        .or_else(|| control_rule(op))
}

/// Unary, broadcasting and comparison ops, casts, bias adds and selects.
fn elementwise_rule(op: &str) -> Option<Rule> {
    if elementwise::SAME_AS_INPUT.contains(&op) {
        return Some(elementwise::same_as_input);
    }
    if elementwise::PREDICATES.contains(&op) {
        return Some(elementwise::predicate);
    }
    if elementwise::BROADCASTING.contains(&op) || elementwise::COMPARISONS.contains(&op) {
        return Some(elementwise::broadcasting);
    }
    Some(match op {
        "Cast" => elementwise::cast,
        "BiasAdd" | "BiasAddV1" => elementwise::bias_add,
        "Select" | "SelectV2" => elementwise::select,
        _ => return None,
    })
}

/// Ops that make, reshape, join, cut and index tensors.
fn array_rule(op: &str) -> Option<Rule> {
    Some(match op {
        "Const" | "HostConst" => array::constant,
        "Placeholder" => array::placeholder,
        "Shape" => array::shape_of,
        "Size" | "Rank" => array::size_or_rank,
        "Reshape" => array::reshape,
        "ExpandDims" => array::expand_dims,
        "Squeeze" => array::squeeze,
        "Transpose" => array::transpose,
        "ConcatV2" | "Concat" => array::concat,
        "Pack" => array::pack,
        "Fill" => array::fill,
        "Tile" => array::tile,
        "Slice" => array::slice,
        "StridedSlice" => slicing::strided_slice,
        "GatherV2" | "Gather" | "ResourceGather" => slicing::gather,
        "OneHot" => slicing::one_hot,
        "Range" => slicing::range,
        "Unpack" => slicing::unpack,
        _ => return None,
    })
}

/// Matrix products, convolutions, pooling, batch norm and reductions.
fn nn_rule(op: &str) -> Option<Rule> {
    Some(match op {
        "MatMul" => nn::matmul,
        "BatchMatMul" | "BatchMatMulV2" | "BatchMatMulV3" => nn::batch_matmul,
        "Conv2D" | "DepthwiseConv2dNative" | "MaxPool" | "AvgPool" => nn::conv_or_pool,
        "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => nn::fused_batch_norm,
        "Mean" | "Sum" | "Max" | "Min" | "Prod" | "All" | "Any" | "ArgMax" | "ArgMin" => {
            nn::reduction
        }
        _ => return None,
    })
}

/// Control flow, variables and input pipelines.
fn control_rule(op: &str) -> Option<Rule> {
    if control::PASS_THROUGH.contains(&op) {
        return Some(control::pass_through);
    }
    Some(match op {
        "Merge" | "RefMerge" => control::merge,
        "LoopCond" => control::loop_cond,
        "VariableV2" | "Variable" | "VarHandleOp" => control::variable,
        "ReadVariableOp" => control::read_variable,
        "Assign" => control::assign,
        "IteratorGetNext"
        | "IteratorGetNextSync"
        | "QueueDequeueV2"
        | "QueueDequeueManyV2"
        | "QueueDequeueUpToV2"
        | "QueueDequeue"
        | "QueueDequeueMany"
        | "If"
        | "StatelessIf"
        | "While"
        | "StatelessWhile"
        | "PartitionedCall"
        | "StatefulPartitionedCall" => control::told_by_attrs,
        _ => return None,
    })
}
