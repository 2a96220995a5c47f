//! Typed attr accessors that never panic: a missing or mistyped attr is an
//! error naming the node, its op and the attr. Typed setters beside them, so
//! passes change attrs without building attr protos.

use super::{IrError, Node};
use crate::format::proto::attr_value::{ListValue, Value};
use crate::format::proto::{AttrValue, DataType, TensorProto, TensorShapeProto};

/// Every attr value of `attrs` and, nested inside them, of the functions
/// they name (`func` and `list(func)` values carry attrs of their own), each
/// with the top-level key it was reached from. Walked with an explicit
/// stack, so however deeply a file nests them costs no call stack.
pub fn nested_attrs<'a>(
    attrs: impl IntoIterator<Item = (&'a String, &'a AttrValue)>,
) -> NestedAttrs<'a> {
    NestedAttrs {
        stack: attrs.into_iter().map(|(k, v)| (k.as_str(), v)).collect(),
    }
}

/// The iterator of [`nested_attrs`].
pub struct NestedAttrs<'a> {
    stack: Vec<(&'a str, &'a AttrValue)>,
}

impl<'a> Iterator for NestedAttrs<'a> {
    type Item = (&'a str, &'a AttrValue);

    fn next(&mut self) -> Option<Self::Item> {
        let (key, value) = self.stack.pop()?;
        let nested = match &value.value {
            Some(Value::Func(f)) => std::slice::from_ref(f),
            Some(Value::List(list)) => list.func.as_slice(),
            _ => &[],
        };
        for function in nested {
            self.stack.extend(function.attr.values().map(|v| (key, v)));
        }
        Some((key, value))
    }
}

/// Every tensor held in `attrs` (nested function attrs included) checked as
/// TensorFlow would decode it: shape, content length, value count and
/// materialised size. The error names `node` and the attr.
pub fn check_tensor_attrs<'a>(
    node: &str,
    attrs: impl IntoIterator<Item = (&'a String, &'a AttrValue)>,
) -> Result<(), IrError> {
    for (key, value) in nested_attrs(attrs) {
        let tensors = match &value.value {
            Some(Value::Tensor(t)) => std::slice::from_ref(&**t),
            Some(Value::List(list)) => list.tensor.as_slice(),
            _ => &[],
        };
        for tensor in tensors {
            crate::format::tensor::check_proto(tensor).map_err(|source| IrError::BadTensor {
                node: node.into(),
                attr: key.into(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Typed reads of a node's attrs.
pub trait AttrExt {
    fn attr_value(&self, key: &str) -> Result<&Value, IrError>;
    fn attr_type(&self, key: &str) -> Result<DataType, IrError>;
    fn attr_shape(&self, key: &str) -> Result<&TensorShapeProto, IrError>;
    fn attr_tensor(&self, key: &str) -> Result<&TensorProto, IrError>;
    fn attr_bool(&self, key: &str) -> Result<bool, IrError>;
    fn attr_int(&self, key: &str) -> Result<i64, IrError>;
    fn attr_float(&self, key: &str) -> Result<f32, IrError>;
    fn attr_string(&self, key: &str) -> Result<&[u8], IrError>;
    fn attr_list_type(&self, key: &str) -> Result<Vec<DataType>, IrError>;
    fn attr_list_int(&self, key: &str) -> Result<&[i64], IrError>;
    fn attr_list_string(&self, key: &str) -> Result<Vec<&[u8]>, IrError>;
    /// The dims of each shape in a `list(shape)` attr, `None` for unknown rank.
    fn attr_list_dims(&self, key: &str) -> Result<Vec<Option<Vec<i64>>>, IrError>;
    /// The dims of a `shape` attr, `None` for unknown rank.
    fn attr_dims(&self, key: &str) -> Result<Option<Vec<i64>>, IrError>;
}

impl Node {
    fn attr_error(&self, key: &str, expected: &'static str) -> IrError {
        IrError::AttrType {
            node: self.name().into(),
            op: self.op.clone(),
            attr: key.into(),
            expected,
        }
    }
}

impl AttrExt for Node {
    fn attr_value(&self, key: &str) -> Result<&Value, IrError> {
        self.attrs
            .get(key)
            .and_then(|a| a.value.as_ref())
            .ok_or_else(|| IrError::MissingAttr {
                node: self.name().into(),
                op: self.op.clone(),
                attr: key.into(),
            })
    }

    fn attr_type(&self, key: &str) -> Result<DataType, IrError> {
        match self.attr_value(key)? {
            Value::Type(t) => {
                DataType::try_from(*t).map_err(|_| self.attr_error(key, "a known dtype"))
            }
            _ => Err(self.attr_error(key, "a dtype")),
        }
    }

    fn attr_shape(&self, key: &str) -> Result<&TensorShapeProto, IrError> {
        match self.attr_value(key)? {
            Value::Shape(s) => Ok(s),
            _ => Err(self.attr_error(key, "a shape")),
        }
    }

    fn attr_tensor(&self, key: &str) -> Result<&TensorProto, IrError> {
        match self.attr_value(key)? {
            Value::Tensor(t) => Ok(t),
            _ => Err(self.attr_error(key, "a tensor")),
        }
    }

    fn attr_bool(&self, key: &str) -> Result<bool, IrError> {
        match self.attr_value(key)? {
            Value::B(b) => Ok(*b),
            _ => Err(self.attr_error(key, "a bool")),
        }
    }

    fn attr_int(&self, key: &str) -> Result<i64, IrError> {
        match self.attr_value(key)? {
            Value::I(i) => Ok(*i),
            _ => Err(self.attr_error(key, "an int")),
        }
    }

    fn attr_float(&self, key: &str) -> Result<f32, IrError> {
        match self.attr_value(key)? {
            Value::F(f) => Ok(*f),
            _ => Err(self.attr_error(key, "a float")),
        }
    }

    fn attr_string(&self, key: &str) -> Result<&[u8], IrError> {
        match self.attr_value(key)? {
            Value::S(s) => Ok(s),
            _ => Err(self.attr_error(key, "a string")),
        }
    }

    fn attr_list_type(&self, key: &str) -> Result<Vec<DataType>, IrError> {
        match self.attr_value(key)? {
            Value::List(list) => list
                .r#type
                .iter()
                .map(|t| {
                    DataType::try_from(*t)
                        .map_err(|_| self.attr_error(key, "a list of known dtypes"))
                })
                .collect(),
            _ => Err(self.attr_error(key, "a list of dtypes")),
        }
    }

    fn attr_list_int(&self, key: &str) -> Result<&[i64], IrError> {
        match self.attr_value(key)? {
            Value::List(list) => Ok(&list.i),
            _ => Err(self.attr_error(key, "a list of ints")),
        }
    }

    fn attr_list_string(&self, key: &str) -> Result<Vec<&[u8]>, IrError> {
        match self.attr_value(key)? {
            Value::List(list) => Ok(list.s.iter().map(|s| s.as_ref()).collect()),
            _ => Err(self.attr_error(key, "a list of strings")),
        }
    }

    fn attr_list_dims(&self, key: &str) -> Result<Vec<Option<Vec<i64>>>, IrError> {
        match self.attr_value(key)? {
            Value::List(list) => Ok(list.shape.iter().map(crate::typing::dims).collect()),
            _ => Err(self.attr_error(key, "a list of shapes")),
        }
    }

    fn attr_dims(&self, key: &str) -> Result<Option<Vec<i64>>, IrError> {
        self.attr_shape(key).map(crate::typing::dims)
    }
}

/// Typed writes of a node's attrs: passes set values, the IR builds the protos.
impl Node {
    fn set_attr_value(&mut self, key: &str, value: Value) {
        self.attrs
            .insert(key.into(), AttrValue { value: Some(value) });
    }

    pub fn set_attr_type(&mut self, key: &str, dtype: DataType) {
        self.set_attr_value(key, Value::Type(dtype as i32));
    }

    /// `None` is a shape of unknown rank; `-1` an unknown dimension.
    pub fn set_attr_shape(&mut self, key: &str, dims: Option<&[i64]>) {
        let shape = crate::typing::shape_proto_or_unknown(dims);
        self.set_attr_value(key, Value::Shape(shape));
    }

    /// Every dtype in a `type` or `list(type)` attr, mapped by `map`
    /// (unknown enum values are left as they are).
    pub fn map_attr_types(&mut self, map: impl Fn(DataType) -> DataType) {
        let map = |t: &mut i32| {
            if let Ok(dtype) = DataType::try_from(*t) {
                *t = map(dtype) as i32;
            }
        };
        for attr in self.attrs.values_mut() {
            match &mut attr.value {
                Some(Value::Type(t)) => map(t),
                Some(Value::List(list)) => list.r#type.iter_mut().for_each(map),
                _ => {}
            }
        }
    }

    /// Whether any dtype in a `type` or `list(type)` attr satisfies `test`.
    pub fn any_attr_type(&self, test: impl Fn(DataType) -> bool) -> bool {
        let test = |t: &i32| DataType::try_from(*t).is_ok_and(&test);
        self.attrs.values().any(|attr| match &attr.value {
            Some(Value::Type(t)) => test(t),
            Some(Value::List(list)) => list.r#type.iter().any(test),
            _ => false,
        })
    }

    pub fn set_attr_tensor(&mut self, key: &str, tensor: TensorProto) {
        self.set_attr_value(key, Value::Tensor(tensor.into()));
    }

    pub fn set_attr_bool(&mut self, key: &str, value: bool) {
        self.set_attr_value(key, Value::B(value));
    }

    pub fn set_attr_int(&mut self, key: &str, value: i64) {
        self.set_attr_value(key, Value::I(value));
    }

    pub fn set_attr_float(&mut self, key: &str, value: f32) {
        self.set_attr_value(key, Value::F(value));
    }

    pub fn set_attr_string(&mut self, key: &str, value: &[u8]) {
        self.set_attr_value(key, Value::S(value.to_vec().into()));
    }

    /// A `list(string)` attr; an empty list removes the attr.
    pub fn set_attr_list_string(&mut self, key: &str, values: Vec<Vec<u8>>) {
        if values.is_empty() {
            self.attrs.remove(key);
            return;
        }
        let list = ListValue {
            s: values.into_iter().map(Into::into).collect(),
            ..ListValue::default()
        };
        self.set_attr_value(key, Value::List(Box::new(list)));
    }

    pub fn set_attr_list_type(&mut self, key: &str, dtypes: &[DataType]) {
        let list = ListValue {
            r#type: dtypes.iter().map(|&t| t as i32).collect(),
            ..ListValue::default()
        };
        self.set_attr_value(key, Value::List(Box::new(list)));
    }

    /// A `list(shape)` attr; `None` entries have unknown rank.
    pub fn set_attr_list_shape(&mut self, key: &str, shapes: &[Option<&[i64]>]) {
        let list = ListValue {
            shape: shapes
                .iter()
                .map(|dims| crate::typing::shape_proto_or_unknown(*dims))
                .collect(),
            ..ListValue::default()
        };
        self.set_attr_value(key, Value::List(Box::new(list)));
    }

    /// Builder form of [`Node::set_attr_type`].
    pub fn with_type(mut self, key: &str, dtype: DataType) -> Node {
        self.set_attr_type(key, dtype);
        self
    }

    /// Builder form of [`Node::set_attr_shape`].
    pub fn with_shape(mut self, key: &str, dims: Option<&[i64]>) -> Node {
        self.set_attr_shape(key, dims);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::AttrValue;

    #[test]
    fn errors_name_node_op_and_attr() {
        let node = Node::new("dense/MatMul", "MatMul").with_attr(
            "transpose_a",
            AttrValue {
                value: Some(Value::B(false)),
            },
        );
        assert!(!node.attr_bool("transpose_a").unwrap());
        let missing = node.attr_type("T").unwrap_err().to_string();
        assert!(
            missing.contains("dense/MatMul")
                && missing.contains("MatMul")
                && missing.contains("\"T\""),
            "{missing}"
        );
        let mistyped = node.attr_int("transpose_a").unwrap_err().to_string();
        assert!(
            mistyped.contains("transpose_a") && mistyped.contains("an int"),
            "{mistyped}"
        );
    }
}
