//! Which tensors may change value slightly: those only float arithmetic
//! reads. A weight's readers are followed through ops that pass values on
//! unchanged (reads, identities, control-flow frames, gathers, reshapes);
//! the walk accepts an arithmetic op at a float input and stops at anything
//! else — a `Cast` to an integer, an index or shape input, a comparison — which
//! then blocks the conversion and is named in the report.

use std::collections::HashSet;

use serde::Serialize;

use crate::format::proto::DataType;
use crate::ir::{AttrExt, Graph, Node, NodeId, TensorRef};

/// The reader that keeps a tensor from being converted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub node: String,
    pub op: String,
    /// The input slot the value reaches.
    pub input: usize,
    pub why: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "feeds {} ({}) input {}: {}",
            self.node, self.op, self.input, self.why
        )
    }
}

/// What a reader does with the value at one input.
enum Role {
    /// Passes it on unchanged through these outputs.
    Forward(Vec<usize>),
    /// Does float arithmetic with it, or reads only its shape.
    Accept,
    Block(&'static str),
}

/// Ops that compute with float inputs; a weight that reaches one only
/// shifts its result by the conversion's error.
const FLOAT_MATH: &[&str] = &[
    "Abs",
    "Add",
    "AddN",
    "AddV2",
    "AvgPool",
    "BatchMatMul",
    "BatchMatMulV2",
    "BatchMatMulV3",
    "BiasAdd",
    "BiasAddV1",
    "BlockLSTM",
    "BlockLSTMV2",
    "Conv2D",
    "Conv2DBackpropInput",
    "Conv3D",
    "Conv3DBackpropInputV2",
    "Cumsum",
    "DepthwiseConv2dNative",
    "Div",
    "DivNoNan",
    "Einsum",
    "Elu",
    "Erf",
    "Exp",
    "FusedBatchNorm",
    "FusedBatchNormV2",
    "FusedBatchNormV3",
    "GRUBlockCell",
    "L2Loss",
    "LSTMBlockCell",
    "LeakyRelu",
    "Log",
    "Log1p",
    "LogSoftmax",
    "MatMul",
    "Max",
    "Maximum",
    "Mean",
    "Min",
    "Minimum",
    "Mul",
    "MulNoNan",
    "Neg",
    "Pow",
    "Prod",
    "RealDiv",
    "Reciprocal",
    "Relu",
    "Relu6",
    "Rsqrt",
    "Selu",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Square",
    "SquaredDifference",
    "Sub",
    "Sum",
    "Tanh",
    "_FusedConv2D",
    "_FusedMatMul",
];

/// Ops that read only the shape of their input, which conversion keeps.
const SHAPE_ONLY: &[&str] = &["Shape", "ShapeN", "Size", "Rank", "VariableShape"];

/// Ops whose output 0 is (part of) the value at input 0, unchanged.
const FORWARD_FIRST: &[&str] = &[
    "ExpandDims",
    "Gather",
    "GatherNd",
    "GatherV2",
    "Identity",
    "Pad",
    "PadV2",
    "ReadVariableOp",
    "RefIdentity",
    "Reshape",
    "ResourceGather",
    "ResourceGatherNd",
    "Reverse",
    "ReverseV2",
    "Slice",
    "Snapshot",
    "Squeeze",
    "StopGradient",
    "StridedSlice",
    "Tile",
    "Transpose",
    "PlaceholderWithDefault",
];

/// Ops that pass every data input on (`Merge` output 0 is whichever arrives).
const FORWARD_ANY: &[&str] = &["ConcatV2", "Concat", "Merge", "RefMerge", "Pack"];

/// Every reader of `start` (followed through value-forwarding ops) does float
/// math with it; otherwise the first reader that does not.
pub fn float_math_only(graph: &Graph, start: TensorRef) -> Result<(), Blocker> {
    let mut queue = vec![start];
    let mut seen = HashSet::from([start]);
    while let Some(tensor) = queue.pop() {
        for (consumer, slot) in graph.data_consumers(tensor) {
            match role(graph.node(consumer), slot) {
                Role::Accept => {}
                Role::Forward(ports) => queue.extend(
                    ports
                        .into_iter()
                        .map(|port| TensorRef::new(consumer, port))
                        .filter(|t| seen.insert(*t)),
                ),
                Role::Block(why) => return Err(blocker(graph, consumer, slot, why)),
            }
        }
    }
    Ok(())
}

fn blocker(graph: &Graph, node: NodeId, input: usize, why: &str) -> Blocker {
    Blocker {
        node: graph.name(node).to_string(),
        op: graph.op(node).to_string(),
        input,
        why: why.to_string(),
    }
}

/// What `node` does with the value reaching input `slot`.
fn role(node: &Node, slot: usize) -> Role {
    let op = node.op.as_str();
    if SHAPE_ONLY.contains(&op) {
        return Role::Accept;
    }
    if let Some(role) = control_flow_role(op, slot) {
        return role;
    }
    if FLOAT_MATH.contains(&op) {
        return Role::Accept;
    }
    if FORWARD_ANY.contains(&op) {
        return Role::Forward(vec![0]);
    }
    if FORWARD_FIRST.contains(&op) || crate::op_kinds::is_frame_op(op) {
        return match slot {
            0 => Role::Forward(vec![0]),
            _ => Role::Block("an index, shape or axis input"),
        };
    }
    match op {
        "IdentityN" => Role::Forward(vec![slot]),
        "DynamicStitch" | "ParallelDynamicStitch" => stitch_role(node, slot),
        "DynamicPartition" => partition_role(node, slot),
        "Cast" => cast_role(node),
        "Select" | "SelectV2" => select_role(slot),
        "Fill" if slot == 1 => Role::Forward(vec![0]),
        _ if is_comparison(op) => Role::Block("a comparison: its result is discrete"),
        _ => Role::Block("not float arithmetic"),
    }
}

/// `Switch` forwards its data input to both branches; its predicate is not data.
fn control_flow_role(op: &str, slot: usize) -> Option<Role> {
    match (op, slot) {
        ("Switch" | "RefSwitch", 0) => Some(Role::Forward(vec![0, 1])),
        ("Switch" | "RefSwitch", _) => Some(Role::Block("a branch predicate")),
        _ => None,
    }
}

/// A cast keeps the value's meaning only to another float type.
fn cast_role(node: &Node) -> Role {
    let float = [
        DataType::DtFloat,
        DataType::DtHalf,
        DataType::DtDouble,
        DataType::DtBfloat16,
    ];
    match node.attr_type("DstT") {
        Ok(dst) if float.contains(&crate::typing::base_dtype(dst)) => Role::Forward(vec![0]),
        _ => Role::Block("a cast to a non-float type"),
    }
}

/// `DynamicStitch` reads N index tensors, then N data tensors it merges.
fn stitch_role(node: &Node, slot: usize) -> Role {
    match node.attr_int("N") {
        Ok(n) if slot as i64 >= n => Role::Forward(vec![0]),
        Ok(_) => Role::Block("an index input"),
        Err(_) => Role::Block("a stitch without its N attr"),
    }
}

/// `DynamicPartition` splits its data (input 0) over `num_partitions` outputs.
fn partition_role(node: &Node, slot: usize) -> Role {
    match (slot, node.attr_int("num_partitions")) {
        (0, Ok(n)) => Role::Forward((0..usize::try_from(n).unwrap_or(0)).collect()),
        (0, Err(_)) => Role::Block("a partition without its num_partitions attr"),
        _ => Role::Block("a partition index input"),
    }
}

fn select_role(slot: usize) -> Role {
    match slot {
        0 => Role::Block("a select condition"),
        _ => Role::Forward(vec![0]),
    }
}

fn is_comparison(op: &str) -> bool {
    matches!(
        op,
        "Equal"
            | "NotEqual"
            | "Less"
            | "LessEqual"
            | "Greater"
            | "GreaterEqual"
            | "ApproximateEqual"
            | "IsNan"
            | "IsInf"
            | "IsFinite"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Node;

    /// A float variable `w` read by `w/read`, which feeds `consumer` at slot 0.
    fn graph_with(consumer: Node, slot: usize) -> (Graph, TensorRef) {
        let mut graph = Graph::new();
        let w = graph
            .add_node(Node::new("w", "VariableV2").with_type("dtype", DataType::DtFloat))
            .unwrap();
        let read = graph
            .add_node(Node::new("w/read", "Identity").with_type("T", DataType::DtFloat))
            .unwrap();
        graph.push_data_input(read, TensorRef::new(w, 0));
        let other = graph.add_node(Node::new("x", "Placeholder")).unwrap();
        let c = graph.add_node(consumer).unwrap();
        for s in 0..=slot {
            let source = if s == slot { read } else { other };
            graph.push_data_input(c, TensorRef::new(source, 0));
        }
        (graph, TensorRef::new(w, 0))
    }

    #[test]
    fn matmul_and_shape_readers_accept_the_conversion() {
        let (graph, w) = graph_with(Node::new("mm", "MatMul"), 1);
        assert_eq!(float_math_only(&graph, w), Ok(()));
        let (graph, w) = graph_with(Node::new("s", "Shape"), 0);
        assert_eq!(float_math_only(&graph, w), Ok(()));
    }

    #[test]
    fn a_cast_to_int_or_an_index_input_blocks_it_and_is_named() {
        let cast = Node::new("to_index", "Cast").with_type("DstT", DataType::DtInt32);
        let (graph, w) = graph_with(cast, 0);
        let blocker = float_math_only(&graph, w).unwrap_err();
        assert_eq!(
            (blocker.node.as_str(), blocker.op.as_str()),
            ("to_index", "Cast")
        );
        let (graph, w) = graph_with(Node::new("g", "GatherV2"), 1);
        let blocker = float_math_only(&graph, w).unwrap_err();
        assert_eq!((blocker.node.as_str(), blocker.input), ("g", 1));
        assert!(blocker.to_string().contains("index"), "{blocker}");
    }

    #[test]
    fn a_frozen_value_reaches_its_readers_through_a_placeholder_with_default() {
        let (mut graph, w) = graph_with(Node::new("w/frozen", "PlaceholderWithDefault"), 0);
        let feed = graph.find("w/frozen").unwrap();
        let mm = graph.add_node(Node::new("mm", "MatMul")).unwrap();
        graph.push_data_input(mm, TensorRef::new(feed, 0));
        assert_eq!(float_math_only(&graph, w), Ok(()));
    }

    #[test]
    fn a_gather_of_params_is_followed_to_its_readers() {
        let (mut graph, w) = graph_with(Node::new("g", "GatherV2"), 0);
        let g = graph.find("g").unwrap();
        let less = graph.add_node(Node::new("cmp", "Less")).unwrap();
        graph.push_data_input(less, TensorRef::new(g, 0));
        let blocker = float_math_only(&graph, w).unwrap_err();
        assert_eq!(blocker.node, "cmp");
        assert!(blocker.why.contains("comparison"));
    }
}
