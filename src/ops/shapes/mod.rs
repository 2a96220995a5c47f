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
mod pieces;
mod slicing;
mod sparse;
mod tensor_array;

pub use call::{Call, Conflict, Facts, Outcome};
pub use fact::{Dim, Dims, Fact, MAX_TRACKED_VALUES, Shape};
pub use infer::{Inference, NodeConflict, infer};

/// A rule: the facts of a node's outputs from its inputs' and attributes.
pub type Rule = fn(&Call) -> Outcome;

/// The rule for `op`, if there is one: each family's table in turn.
pub fn rule(op: &str) -> Option<Rule> {
    elementwise_rule(op)
        .or_else(|| array_rule(op))
        .or_else(|| nn_rule(op))
        .or_else(|| control_rule(op))
        .or_else(|| sparse_rule(op))
}

/// Whether inferring a node of `op` may read its `_output_shapes`: only
/// the ops that state their outputs in attributes fall back on it, so
/// dropping the attr from any other node leaves every inference as it was.
pub fn reads_output_shapes(op: &str) -> bool {
    control::TOLD_BY_ATTRS.contains(&op)
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
        "AddN" => elementwise::add_n,
        "IdentityN" => elementwise::identity_n,
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
        "Split" => pieces::split,
        "SplitV" => pieces::split_v,
        "Pad" | "PadV2" | "MirrorPad" => pieces::pad,
        "BroadcastTo" => pieces::broadcast_to,
        "GatherNd" => pieces::gather_nd,
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
        "TopKV2" | "TopK" => nn::top_k,
        "Conv2DBackpropInput" => nn::conv_backprop_input,
        _ => return None,
    })
}

/// Control flow, variables and input pipelines.
fn control_rule(op: &str) -> Option<Rule> {
    if control::passes_through(op) {
        return Some(control::pass_through);
    }
    Some(match op {
        "Merge" | "RefMerge" => control::merge,
        "LoopCond" => control::loop_cond,
        "VariableV2" | "Variable" | "VarHandleOp" => control::variable,
        "ReadVariableOp" => control::read_variable,
        "Assign" => control::assign,
        "TensorArrayV3" => tensor_array::tensor_array,
        "TensorArrayReadV3" => tensor_array::read,
        "TensorArrayGatherV3" => tensor_array::gather,
        "TensorArrayConcatV3" => tensor_array::concat,
        "TensorArrayWriteV3"
        | "TensorArrayScatterV3"
        | "TensorArraySplitV3"
        | "TensorArrayCloseV3" => tensor_array::scalar,
        "TensorArraySizeV3" => tensor_array::size,
        op if control::TOLD_BY_ATTRS.contains(&op) => control::told_by_attrs,
        _ => return None,
    })
}

/// Sparse tensors, lookup tables, strings, partitions and parsing.
fn sparse_rule(op: &str) -> Option<Rule> {
    if sparse::SAME_SHAPE.contains(&op) {
        return Some(sparse::same_shape);
    }
    if sparse::TABLES.contains(&op) {
        return Some(sparse::table);
    }
    Some(match op {
        "LookupTableFindV2" => sparse::lookup_find,
        "LookupTableSizeV2" => sparse::lookup_size,
        "Unique" => sparse::unique,
        "Where" => sparse::where_true,
        "SparseToDense" => sparse::sparse_to_dense,
        "SparseFillEmptyRows" => sparse::sparse_fill_empty_rows,
        "SparseReshape" => sparse::sparse_reshape,
        "SparseSegmentSum"
        | "SparseSegmentMean"
        | "SparseSegmentSqrtN"
        | "SparseSegmentSumWithNumSegments"
        | "SparseSegmentMeanWithNumSegments"
        | "SparseSegmentSqrtNWithNumSegments" => sparse::sparse_segment,
        "SparseCross" | "SparseCrossV2" | "SparseCrossHashed" => sparse::sparse_cross,
        "DynamicPartition" => sparse::dynamic_partition,
        "DynamicStitch" | "ParallelDynamicStitch" => sparse::dynamic_stitch,
        "ParseExample" | "ParseExampleV2" | "ParseSingleExample" => sparse::parse_example,
        _ => return None,
    })
}
