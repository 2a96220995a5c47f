//! Constants in the graph, shared by passes, the reader and the writer:
//! reading scalar constants, building `Const` nodes, and finding what a
//! tensor really is behind `Identity` chains.

use bytes::Bytes;

use super::{AttrExt, Graph, Node, NodeId, TensorRef};
use crate::format::limits::MAX_IDENTITY_HOPS;
use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, DataType, TensorProto, TensorShapeProto};

/// Ops that forward input 0 unchanged to output 0.
pub const FORWARDING_OPS: &[&str] = &["Identity", "Snapshot", "StopGradient", "PreventGradient"];

/// Follows `Identity`-like ops back to the tensor that is really read.
pub fn through_identities(graph: &Graph, mut tensor: TensorRef) -> TensorRef {
    let mut hops = 0;
    while tensor.port == 0
        && FORWARDING_OPS.contains(&graph.op(tensor.node))
        && hops < MAX_IDENTITY_HOPS
    {
        match graph.data_input(tensor.node, 0) {
            Some(input) => tensor = input,
            None => break,
        }
        hops += 1;
    }
    tensor
}

/// The value of a scalar (or one-element) tensor proto, as f64.
pub fn scalar_f64(tensor: &TensorProto) -> Option<f64> {
    let dtype = DataType::try_from(tensor.dtype).ok()?;
    let content = &tensor.tensor_content;
    let from_content = |size: usize| (content.len() >= size).then(|| &content[..size]);
    match dtype {
        DataType::DtFloat => tensor.float_val.first().map(|v| f64::from(*v)).or_else(|| {
            from_content(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        }),
        DataType::DtDouble => tensor.double_val.first().copied().or_else(|| {
            from_content(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        }),
        DataType::DtHalf => tensor
            .half_val
            .first()
            .map(|v| f64::from(half::f16::from_bits(*v as u16)))
            .or_else(|| from_content(2).map(|b| f64::from(half::f16::from_le_bytes([b[0], b[1]])))),
        DataType::DtInt32 => tensor.int_val.first().map(|v| f64::from(*v)),
        DataType::DtInt64 => tensor.int64_val.first().map(|v| *v as f64),
        _ => None,
    }
}

/// The value of a bool scalar constant tensor proto.
pub fn scalar_bool(tensor: &TensorProto) -> Option<bool> {
    if tensor.dtype != DataType::DtBool as i32 {
        return None;
    }
    tensor
        .bool_val
        .first()
        .copied()
        .or_else(|| tensor.tensor_content.first().map(|b| *b != 0))
}

/// The scalar value of `tensor` when it is (an identity of) a numeric `Const`.
pub fn const_f64(graph: &Graph, tensor: TensorRef) -> Option<f64> {
    let tensor = through_identities(graph, tensor);
    let node = graph.node(tensor.node);
    (node.op == "Const").then(|| node.attr_tensor("value").ok().and_then(scalar_f64))?
}

/// True when `tensor` is a `Const` of all zeros (any shape, `tensor_content` or typed).
pub fn is_zeros_const(graph: &Graph, tensor: TensorRef) -> bool {
    let node = graph.node(through_identities(graph, tensor).node);
    if node.op != "Const" {
        return false;
    }
    let Ok(value) = node.attr_tensor("value") else {
        return false;
    };
    value.tensor_content.iter().all(|b| *b == 0)
        && value.float_val.iter().all(|v| *v == 0.0)
        && value.double_val.iter().all(|v| *v == 0.0)
        && value.half_val.iter().all(|v| *v == 0)
        && value.int_val.iter().all(|v| *v == 0)
        && value.int64_val.iter().all(|v| *v == 0)
}

/// A scalar shape.
pub fn scalar_shape() -> TensorShapeProto {
    TensorShapeProto::default()
}

/// A scalar `Const` node of `dtype`; `value` holds the typed field.
fn scalar_const(name: &str, dtype: DataType, value: TensorProto) -> Node {
    let tensor = TensorProto {
        dtype: dtype as i32,
        tensor_shape: Some(scalar_shape()),
        ..value
    };
    Node::new(name, "Const")
        .with_type("dtype", dtype)
        .with_attr(
            "value",
            AttrValue {
                value: Some(Value::Tensor(tensor.into())),
            },
        )
}

/// A `Const` node holding the bool scalar `value`.
pub fn bool_const(name: &str, value: bool) -> Node {
    let value = TensorProto {
        bool_val: vec![value],
        ..TensorProto::default()
    };
    scalar_const(name, DataType::DtBool, value)
}

/// A `Const` node holding the int32 scalar `value`.
pub fn int32_const(name: &str, value: i32) -> Node {
    let value = TensorProto {
        int_val: vec![value],
        ..TensorProto::default()
    };
    scalar_const(name, DataType::DtInt32, value)
}

/// A `Const` node holding the float scalar `value`.
pub fn float_const(name: &str, value: f32) -> Node {
    let value = TensorProto {
        float_val: vec![value],
        ..TensorProto::default()
    };
    scalar_const(name, DataType::DtFloat, value)
}

/// A `Const` node holding a string scalar.
pub fn string_const(name: &str, value: &[u8]) -> Node {
    let value = TensorProto {
        string_val: vec![Bytes::copy_from_slice(value)],
        ..TensorProto::default()
    };
    scalar_const(name, DataType::DtString, value)
}

/// The string scalar held by a `Const` node.
pub fn const_string(graph: &Graph, id: NodeId) -> Option<Bytes> {
    let node = graph.node(id);
    if node.op != "Const" {
        return None;
    }
    let tensor = node.attr_tensor("value").ok()?;
    (tensor.dtype == DataType::DtString as i32).then(|| tensor.string_val.first().cloned())?
}

/// Turns node `id` into a bool `Const` in place (keeping its name, device and
/// consumers), dropping its data inputs.
pub fn make_bool_const(graph: &mut Graph, id: NodeId, value: bool) {
    graph.truncate_data_inputs(id, 0);
    let replacement = bool_const("", value);
    let node = graph.node_mut(id);
    node.op = replacement.op;
    node.attrs = replacement.attrs;
}
