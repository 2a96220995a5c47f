//! A small NodeDef builder and the attr values the savers and the storage
//! conversions set, so the code that builds a subgraph reads like TF's node
//! listing.

use bytes::Bytes;

use crate::format::proto::attr_value::{ListValue, Value};
use crate::format::proto::{AttrValue, DataType, NodeDef, TensorProto};

/// Where every checkpoint read (and a function's write) is placed, as TF places them.
const CPU: &str = "/device:CPU:0";

/// A NodeDef under construction: op, name and inputs first, attrs after.
pub(crate) struct NodeBuilder(NodeDef);

pub(crate) fn node<I, S>(op: &str, name: &str, inputs: I) -> NodeBuilder
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    NodeBuilder(NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.into_iter().map(Into::into).collect(),
        ..NodeDef::default()
    })
}

impl NodeBuilder {
    pub(crate) fn attr(mut self, key: &str, value: AttrValue) -> Self {
        self.0.attr.insert(key.into(), value);
        self
    }

    pub(crate) fn build(self) -> NodeDef {
        self.0
    }
}

/// `node` placed on the CPU.
pub(crate) fn on_cpu(mut node: NodeDef) -> NodeDef {
    node.device = CPU.to_string();
    node
}

pub(crate) fn type_attr(dtype: DataType) -> AttrValue {
    AttrValue {
        value: Some(Value::Type(dtype as i32)),
    }
}

pub(crate) fn bool_attr(value: bool) -> AttrValue {
    AttrValue {
        value: Some(Value::B(value)),
    }
}

pub(crate) fn type_list_attr(dtypes: &[DataType]) -> AttrValue {
    AttrValue {
        value: Some(Value::List(Box::new(ListValue {
            r#type: dtypes.iter().map(|d| *d as i32).collect(),
            ..ListValue::default()
        }))),
    }
}

pub(crate) fn shape_attr(dims: &[i64]) -> AttrValue {
    AttrValue {
        value: Some(Value::Shape(crate::typing::shape_proto(dims))),
    }
}

/// A `Const` of dtype string holding `values` with shape `dims` (scalar when empty).
pub(crate) fn const_string_node(name: &str, values: &[&[u8]], dims: &[i64]) -> NodeDef {
    let tensor = TensorProto {
        dtype: DataType::DtString as i32,
        tensor_shape: Some(crate::typing::shape_proto(dims)),
        string_val: values.iter().map(|v| Bytes::copy_from_slice(v)).collect(),
        ..TensorProto::default()
    };
    node("Const", name, std::iter::empty::<String>())
        .attr("dtype", type_attr(DataType::DtString))
        .attr(
            "value",
            AttrValue {
                value: Some(Value::Tensor(tensor.into())),
            },
        )
        .build()
}
