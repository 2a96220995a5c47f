//! One op application as a rule sees it: the op, the node's attributes and
//! what is known of each data input.

use smallvec::SmallVec;

use super::fact::{Dim, Fact, MAX_TRACKED_VALUES, Shape, UNKNOWN};
use crate::format::attr_map::AttrMap;
use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, DataType};

/// A rule's input: the op, its attributes and its data inputs' facts,
/// borrowed from where inference keeps them.
pub struct Call<'a> {
    pub op: &'a str,
    pub attrs: &'a AttrMap,
    pub inputs: &'a [&'a Fact],
    /// How many outputs the node has (from its op's definition).
    pub outputs: usize,
}

/// Why a node cannot run as its inputs are: the op's rule and what was
/// expected and found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: expected {expected}, found {found}")]
pub struct Conflict {
    pub what: String,
    pub expected: String,
    pub found: String,
}

impl Conflict {
    pub fn new(what: impl Into<String>, expected: impl ToString, found: impl ToString) -> Conflict {
        Conflict {
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// A fact per output of one node, held inline for a node of one output
/// (most nodes).
pub type Facts = SmallVec<[Fact; 1]>;

/// What a rule gives: a fact per output, or the conflict.
pub type Outcome = Result<Facts, Conflict>;

impl<'a> Call<'a> {
    /// Input `index`'s fact (unknown when the node has fewer inputs).
    pub fn input(&self, index: usize) -> &'a Fact {
        self.inputs.get(index).copied().unwrap_or(&UNKNOWN)
    }

    /// Input `index`'s shape (unknown rank when the node has fewer inputs).
    pub fn input_shape(&self, index: usize) -> &'a Shape {
        &self.input(index).shape
    }

    fn attr(&self, key: &str) -> Option<&Value> {
        self.attrs
            .get(key)
            .and_then(|a: &AttrValue| a.value.as_ref())
    }

    pub fn attr_type(&self, key: &str) -> Option<DataType> {
        match self.attr(key)? {
            Value::Type(t) => DataType::try_from(*t).ok(),
            _ => None,
        }
    }

    pub fn attr_int(&self, key: &str) -> Option<i64> {
        match self.attr(key)? {
            Value::I(i) => Some(*i),
            _ => None,
        }
    }

    pub fn attr_bool(&self, key: &str) -> Option<bool> {
        match self.attr(key)? {
            Value::B(b) => Some(*b),
            _ => None,
        }
    }

    pub fn attr_string(&self, key: &str) -> Option<&str> {
        match self.attr(key)? {
            Value::S(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }

    /// The name of the function a `func` attribute names.
    pub fn attr_func(&self, key: &str) -> Option<&str> {
        match self.attr(key)? {
            Value::Func(function) => Some(&function.name),
            _ => None,
        }
    }

    pub fn attr_ints(&self, key: &str) -> Option<&[i64]> {
        match self.attr(key)? {
            Value::List(list) => Some(&list.i),
            _ => None,
        }
    }

    /// A shape attribute (`shape`, `element_shape`…): unknown rank when
    /// absent or marked so.
    pub fn attr_shape(&self, key: &str) -> Shape {
        match self.attr(key) {
            Some(Value::Shape(shape)) => Shape::of_proto(shape),
            _ => Shape::Unknown,
        }
    }

    /// A list of shapes attribute (`output_shapes`, `shapes`).
    pub fn attr_shapes(&self, key: &str) -> Vec<Shape> {
        match self.attr(key) {
            Some(Value::List(list)) => list.shape.iter().map(Shape::of_proto).collect(),
            _ => Vec::new(),
        }
    }

    /// A list of types attribute (`Tout`, `output_types`, `component_types`).
    pub fn attr_types(&self, key: &str) -> Vec<Option<DataType>> {
        match self.attr(key) {
            Some(Value::List(list)) => list
                .r#type
                .iter()
                .map(|t| DataType::try_from(*t).ok())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `n` outputs of one fact.
    pub fn all(&self, fact: Fact) -> Outcome {
        Ok(smallvec::smallvec![fact; self.outputs.max(1)])
    }

    /// One output.
    pub fn one(&self, fact: Fact) -> Outcome {
        let mut facts: Facts = smallvec::smallvec![fact];
        facts.resize(self.outputs.max(1), Fact::unknown());
        Ok(facts)
    }

    /// The dtype of input `index`, or of attr `key` when the input's is unknown.
    pub fn dtype(&self, index: usize, key: &str) -> Option<DataType> {
        self.inputs
            .get(index)
            .and_then(|f| f.dtype)
            .or_else(|| self.attr_type(key))
    }

    /// An integer result with tracked value, when small enough to track.
    pub fn int_result(
        &self,
        dtype: Option<DataType>,
        shape: Shape,
        value: Option<Vec<Dim>>,
    ) -> Fact {
        let value = value.filter(|v| v.len() <= MAX_TRACKED_VALUES);
        Fact {
            dtype,
            shape,
            value,
            handle_shape: None,
        }
    }
}
