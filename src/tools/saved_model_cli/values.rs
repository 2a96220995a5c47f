//! The Python values of a concrete function's input signature (a
//! `StructuredValue`), and how Python's `str`, `repr` and `type().__name__`
//! print them — what saved_model_cli's `Concrete Functions` section shows.

use serde::Serialize;

use crate::format::proto::{
    NamedTupleValue, PairValue, StructuredTypeSpec, StructuredValue, TensorShapeProto,
    TensorSpecProto, structured_value::Kind, type_spec_proto::TypeSpecClass,
};
use crate::typing::dtype_name;

use super::python::{float_repr, str_repr};

/// A shape: `None` for an unknown rank, `None` dimensions unknown.
pub type Dims = Option<Vec<Option<i64>>>;

/// One value of a signature, as Python decodes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Value {
    None,
    Float {
        value: f64,
    },
    Int {
        value: i64,
    },
    Str {
        value: String,
    },
    Bool {
        value: bool,
    },
    Shape {
        dims: Dims,
    },
    Dtype {
        dtype: String,
    },
    TensorSpec {
        name: Option<String>,
        shape: Dims,
        dtype: String,
    },
    /// A composite tensor's spec (`SparseTensorSpec`, `RaggedTensorSpec`, ...) and its state.
    TypeSpec {
        class: String,
        state: Box<Value>,
    },
    List {
        items: Vec<Value>,
    },
    Tuple {
        items: Vec<Value>,
    },
    Dict {
        items: Vec<(String, Value)>,
    },
    NamedTuple {
        name: String,
        items: Vec<(String, Value)>,
    },
    /// A tensor or NumPy constant, which servegraph does not print.
    Tensor,
}

impl Value {
    /// Decodes a `StructuredValue`; an empty one is `None`, as in Python.
    pub fn decode(value: &StructuredValue) -> Value {
        let Some(kind) = &value.kind else {
            return Value::None;
        };
        match kind {
            Kind::NoneValue(_) => Value::None,
            Kind::Float64Value(value) => Value::Float { value: *value },
            Kind::Int64Value(value) => Value::Int { value: *value },
            Kind::StringValue(value) => Value::Str {
                value: value.clone(),
            },
            Kind::BoolValue(value) => Value::Bool { value: *value },
            Kind::TensorShapeValue(shape) => Value::Shape { dims: dims(shape) },
            Kind::TensorDtypeValue(dtype) => Value::Dtype {
                dtype: dtype_name(*dtype),
            },
            Kind::TensorSpecValue(spec) | Kind::BoundedTensorSpecValue(spec) => tensor_spec(spec),
            Kind::TypeSpecValue(spec) => type_spec(spec),
            Kind::ListValue(list) => Value::List {
                items: list.values.iter().map(Value::decode).collect(),
            },
            Kind::TupleValue(list) => Value::Tuple {
                items: list.values.iter().map(Value::decode).collect(),
            },
            Kind::DictValue(dict) => Value::Dict {
                items: pairs(&dict.fields),
            },
            Kind::NamedTupleValue(NamedTupleValue { name, values }) => Value::NamedTuple {
                name: name.clone(),
                items: pairs(values),
            },
            Kind::TensorValue(_) | Kind::NumpyValue(_) => Value::Tensor,
        }
    }

    /// `type(value).__name__`.
    pub fn type_name(&self) -> String {
        match self {
            Value::None => "NoneType".into(),
            Value::Float { .. } => "float".into(),
            Value::Int { .. } => "int".into(),
            Value::Str { .. } => "str".into(),
            Value::Bool { .. } => "bool".into(),
            Value::Shape { .. } => "TensorShape".into(),
            Value::Dtype { .. } => "DType".into(),
            Value::TensorSpec { .. } => "TensorSpec".into(),
            Value::TypeSpec { class, .. } => class.clone(),
            Value::List { .. } => "list".into(),
            Value::Tuple { .. } => "tuple".into(),
            Value::Dict { .. } => "dict".into(),
            Value::NamedTuple { name, .. } => name.clone(),
            Value::Tensor => "Tensor".into(),
        }
    }

    /// `str(value)`: like `repr` except for strings, shapes and dtypes.
    pub fn str(&self) -> String {
        match self {
            Value::Str { value } => value.clone(),
            Value::Shape { dims } => shape_str(dims),
            Value::Dtype { dtype } => format!("<dtype: {}>", str_repr(dtype)),
            other => other.repr(),
        }
    }

    /// `repr(value)`.
    pub fn repr(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Float { value } => float_repr(*value),
            Value::Int { value } => value.to_string(),
            Value::Str { value } => str_repr(value),
            Value::Bool { value } => if *value { "True" } else { "False" }.into(),
            Value::Shape { dims: None } => "TensorShape(None)".into(),
            Value::Shape { dims: Some(dims) } => format!("TensorShape([{}])", dim_list(dims)),
            Value::Dtype { dtype } => format!("tf.{dtype}"),
            Value::TensorSpec { name, shape, dtype } => {
                let name = name.as_deref().map_or("None".into(), str_repr);
                let shape = shape_str(shape);
                format!("TensorSpec(shape={shape}, dtype=tf.{dtype}, name={name})")
            }
            Value::TypeSpec { class, state } => format!("{class}{}", state.repr()),
            Value::List { items } => format!("[{}]", reprs(items)),
            Value::Tuple { items } if items.len() == 1 => format!("({},)", reprs(items)),
            Value::Tuple { items } => format!("({})", reprs(items)),
            Value::Dict { items } => {
                let items: Vec<String> = items
                    .iter()
                    .map(|(key, value)| format!("{}: {}", str_repr(key), value.repr()))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            Value::NamedTuple { name, items } => {
                let items: Vec<String> = items
                    .iter()
                    .map(|(key, value)| format!("{key}={}", value.repr()))
                    .collect();
                format!("{name}({})", items.join(", "))
            }
            Value::Tensor => "<tensor>".into(),
        }
    }

    /// The elements Python's `for value in element` yields, for the values
    /// saved_model_cli prints as a list; `None` for values it does not iterate.
    pub fn iterated(&self) -> Option<Vec<Value>> {
        match self {
            Value::List { items } | Value::Tuple { items } => Some(items.clone()),
            Value::NamedTuple { items, .. } => Some(items.iter().map(|(_, v)| v.clone()).collect()),
            Value::Shape { dims } => Some(
                dims.iter()
                    .flatten()
                    .map(|d| d.map_or(Value::None, |value| Value::Int { value }))
                    .collect(),
            ),
            _ => None,
        }
    }
}

fn reprs(items: &[Value]) -> String {
    let items: Vec<String> = items.iter().map(Value::repr).collect();
    items.join(", ")
}

fn pairs(pairs: &[PairValue]) -> Vec<(String, Value)> {
    let mut items: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let value = pair.value.as_ref().map_or(Value::None, Value::decode);
        // A key written twice keeps its first place and its last value, as a Python dict does.
        match items.iter_mut().find(|(key, _)| *key == pair.key) {
            Some(entry) => entry.1 = value,
            None => items.push((pair.key.clone(), value)),
        }
    }
    items
}

fn dims(shape: &TensorShapeProto) -> Dims {
    (!shape.unknown_rank).then(|| {
        shape
            .dim
            .iter()
            .map(|d| (d.size >= 0).then_some(d.size))
            .collect()
    })
}

fn tensor_spec(spec: &TensorSpecProto) -> Value {
    Value::TensorSpec {
        name: (!spec.name.is_empty()).then(|| spec.name.clone()),
        shape: spec.shape.as_ref().map_or(Some(Vec::new()), dims),
        dtype: dtype_name(spec.dtype),
    }
}

fn type_spec(spec: &StructuredTypeSpec) -> Value {
    Value::TypeSpec {
        class: type_spec_class_name(spec),
        state: Box::new(
            spec.type_state
                .as_deref()
                .map_or(Value::None, Value::decode),
        ),
    }
}

/// The Python class of a composite tensor's spec.
fn type_spec_class_name(spec: &StructuredTypeSpec) -> String {
    let known = match TypeSpecClass::try_from(spec.type_spec_class) {
        Ok(TypeSpecClass::SparseTensorSpec) => "SparseTensorSpec",
        Ok(TypeSpecClass::IndexedSlicesSpec) => "IndexedSlicesSpec",
        Ok(TypeSpecClass::RaggedTensorSpec) => "RaggedTensorSpec",
        Ok(TypeSpecClass::TensorArraySpec) => "TensorArraySpec",
        Ok(TypeSpecClass::DataDatasetSpec) => "DatasetSpec",
        Ok(TypeSpecClass::DataIteratorSpec) => "IteratorSpec",
        Ok(TypeSpecClass::OptionalSpec) => "OptionalSpec",
        Ok(TypeSpecClass::PerReplicaSpec) => "PerReplicaSpec",
        Ok(TypeSpecClass::VariableSpec) => "VariableSpec",
        Ok(TypeSpecClass::RowPartitionSpec) => "RowPartitionSpec",
        _ => "",
    };
    if !known.is_empty() {
        return known.into();
    }
    let registered = spec.type_spec_class_name.as_str();
    registered.rsplit('.').next().unwrap_or(registered).into()
}

/// `str(TensorShape)`: `(None, 4)`, `(3,)`, `()`, `<unknown>`.
pub fn shape_str(dims: &Dims) -> String {
    match dims {
        None => "<unknown>".into(),
        Some(dims) if dims.len() == 1 => format!("({},)", dim_list(dims)),
        Some(dims) => format!("({})", dim_list(dims)),
    }
}

fn dim_list(dims: &[Option<i64>]) -> String {
    let dims: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("None".into(), |d| d.to_string()))
        .collect();
    dims.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, dims: Dims) -> Value {
        Value::TensorSpec {
            name: (!name.is_empty()).then(|| name.into()),
            shape: dims,
            dtype: "float32".into(),
        }
    }

    #[test]
    fn tensor_specs_print_like_python() {
        assert_eq!(
            spec("x", Some(vec![None, Some(4)])).repr(),
            "TensorSpec(shape=(None, 4), dtype=tf.float32, name='x')"
        );
        assert_eq!(
            spec("", Some(vec![Some(1)])).repr(),
            "TensorSpec(shape=(1,), dtype=tf.float32, name=None)"
        );
        assert_eq!(
            spec("a", None).repr(),
            "TensorSpec(shape=<unknown>, dtype=tf.float32, name='a')"
        );
    }

    #[test]
    fn composite_specs_print_their_state() {
        let sparse = Value::TypeSpec {
            class: "SparseTensorSpec".into(),
            state: Box::new(Value::Tuple {
                items: vec![
                    Value::Shape {
                        dims: Some(vec![None, Some(3)]),
                    },
                    Value::Dtype {
                        dtype: "float32".into(),
                    },
                ],
            }),
        };
        assert_eq!(
            sparse.str(),
            "SparseTensorSpec(TensorShape([None, 3]), tf.float32)"
        );
    }

    #[test]
    fn containers_print_their_items_repr() {
        let items = vec![Value::Str { value: "a".into() }, Value::Int { value: 7 }];
        assert_eq!(
            Value::List {
                items: items.clone()
            }
            .str(),
            "['a', 7]"
        );
        assert_eq!(
            Value::Tuple {
                items: items[..1].to_vec()
            }
            .repr(),
            "('a',)"
        );
        let dict = Value::Dict {
            items: vec![("k".into(), Value::Float { value: 0.5 })],
        };
        assert_eq!(dict.str(), "{'k': 0.5}");
    }

    #[test]
    fn a_repeated_dict_key_keeps_its_place_and_last_value() {
        let pair = |key: &str, value: i64| PairValue {
            key: key.into(),
            value: Some(StructuredValue {
                kind: Some(Kind::Int64Value(value)),
            }),
        };
        let items = pairs(&[pair("z", 1), pair("a", 2), pair("z", 3)]);
        assert_eq!(
            items,
            [
                ("z".to_string(), Value::Int { value: 3 }),
                ("a".to_string(), Value::Int { value: 2 })
            ]
        );
    }
}
