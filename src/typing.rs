//! The dtype and static shape of a node's outputs, without TensorFlow's op
//! registry: from the op's `OpDef` when the training MetaGraphDef carried one
//! (its `stripped_op_list` lists every op the graph uses), else from the
//! attributes common ops use to state their output types.

use crate::format::attr_map::AttrLookup;
use crate::format::limits::MAX_OUTPUTS_PER_NODE;
use crate::format::proto::attr_value::Value;
use crate::format::proto::op_def::ArgDef;
use crate::format::proto::{AttrValue, DataType, OpDef};

/// Dtype and shape facts of the protos themselves live in the format layer;
/// here for the callers that look for them beside the op typing.
pub use crate::format::dtypes::{
    base_dtype, dims, dtype_name, element_size, shape_proto, shape_proto_or_unknown,
};

/// Attributes of a node, in whichever map holds them: the IR's
/// [`AttrMap`](crate::format::attr_map::AttrMap) or a function body
/// NodeDef's `BTreeMap`.
pub type Attrs = dyn AttrLookup;

/// The base (non-reference) dtype of output `port` of a node.
pub fn output_dtype(
    op: &str,
    attrs: &Attrs,
    port: usize,
    op_def: Option<&OpDef>,
) -> Option<DataType> {
    let dtype = match op_def {
        Some(def) => dtype_from_op_def(def, attrs, port),
        None => None,
    }
    .or_else(|| dtype_from_attrs(op, attrs, port))?;
    Some(base_dtype(dtype))
}

/// Why a node's number of outputs cannot be told from its OpDef.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputCountError {
    #[error("output {arg:?} is sized by attr {attr:?}, which is missing or not {expected}")]
    Unresolved {
        arg: String,
        attr: String,
        expected: &'static str,
    },
    #[error("the outputs number {count}, over the cap of {limit}")]
    TooMany { count: u64, limit: usize },
}

/// How many outputs a node with `attrs` has according to its OpDef:
/// one per plain output arg, `number_attr` for a repeated one, the length
/// of `type_list_attr` for a list. Capped at [`MAX_OUTPUTS_PER_NODE`]
/// so no count claimed by a file is ever allocated as stated.
pub fn output_count(def: &OpDef, attrs: &Attrs) -> Result<usize, OutputCountError> {
    let mut total = 0u64;
    for arg in &def.output_arg {
        total = total.saturating_add(arg_output_count(def, arg, attrs)?);
        if total > MAX_OUTPUTS_PER_NODE as u64 {
            return Err(OutputCountError::TooMany {
                count: total,
                limit: MAX_OUTPUTS_PER_NODE,
            });
        }
    }
    Ok(total as usize)
}

/// The port of element `index` of output argument `arg_name` (the
/// `node:arg_name:index` spelling of function bodies): the sizes of the
/// arguments before it, plus `index`. `None` when no output argument has
/// that name or the index is past its end.
pub fn output_arg_port(def: &OpDef, attrs: &Attrs, arg_name: &str, index: usize) -> Option<usize> {
    let mut first = 0u64;
    for arg in &def.output_arg {
        let count = arg_output_count(def, arg, attrs).ok()?;
        if arg.name == arg_name {
            let index = u64::try_from(index).ok().filter(|&i| i < count)?;
            let port = first.checked_add(index)?;
            return usize::try_from(port)
                .ok()
                .filter(|&p| p < MAX_OUTPUTS_PER_NODE);
        }
        first = first.saturating_add(count);
    }
    None
}

/// The output argument and index of `port`: the inverse of
/// [`output_arg_port`], for writing `node:arg:index` back.
pub fn output_arg_at<'d>(def: &'d OpDef, attrs: &Attrs, port: usize) -> Option<(&'d str, usize)> {
    let mut first = 0u64;
    for arg in &def.output_arg {
        let count = arg_output_count(def, arg, attrs).ok()?;
        let index = (port as u64).checked_sub(first).filter(|&i| i < count);
        if let Some(index) = index {
            return Some((arg.name.as_str(), usize::try_from(index).ok()?));
        }
        first = first.saturating_add(count);
    }
    None
}

/// Outputs of one output arg.
fn arg_output_count(def: &OpDef, arg: &ArgDef, attrs: &Attrs) -> Result<u64, OutputCountError> {
    let unresolved = |attr: &str, expected| OutputCountError::Unresolved {
        arg: arg.name.clone(),
        attr: attr.into(),
        expected,
    };
    if !arg.type_list_attr.is_empty() {
        return match attr_or_default(def, attrs, &arg.type_list_attr).and_then(|a| a.value.as_ref())
        {
            Some(Value::List(list)) => Ok(list.r#type.len() as u64),
            _ => Err(unresolved(&arg.type_list_attr, "a list of types")),
        };
    }
    if arg.number_attr.is_empty() {
        return Ok(1);
    }
    match attr_or_default(def, attrs, &arg.number_attr).and_then(|a| a.value.as_ref()) {
        Some(Value::I(n)) => u64::try_from(*n).map_err(|_| unresolved(&arg.number_attr, "a count")),
        _ => Err(unresolved(&arg.number_attr, "an int")),
    }
}

/// The dtype of output `port`, found by counting through the output args
/// (nothing is allocated per output, whatever count an attr claims).
fn dtype_from_op_def(def: &OpDef, attrs: &Attrs, port: usize) -> Option<DataType> {
    if let Err(OutputCountError::TooMany { .. }) = output_count(def, attrs) {
        return None;
    }
    let mut first = 0u64;
    for arg in &def.output_arg {
        let count = arg_output_count(def, arg, attrs).ok()?;
        let index = (port as u64).checked_sub(first).filter(|&i| i < count);
        if let Some(index) = index {
            let dtype = if !arg.type_list_attr.is_empty() {
                *list_types(attr_or_default(def, attrs, &arg.type_list_attr)?)
                    .get(usize::try_from(index).ok()?)?
            } else if !arg.type_attr.is_empty() {
                match attr_or_default(def, attrs, &arg.type_attr)?
                    .value
                    .as_ref()?
                {
                    Value::Type(t) => *t,
                    _ => return None,
                }
            } else {
                arg.r#type
            };
            return DataType::try_from(dtype).ok();
        }
        first += count;
    }
    None
}

/// A node's attr, or the op's default for it: graphs saved with
/// `strip_default_attrs` leave out attrs whose value is the default.
fn attr_or_default<'a>(def: &'a OpDef, attrs: &'a Attrs, name: &str) -> Option<&'a AttrValue> {
    attrs.lookup(name).or_else(|| {
        def.attr
            .iter()
            .find(|attr| attr.name == name)
            .and_then(|attr| attr.default_value.as_ref())
    })
}

fn list_types(value: &AttrValue) -> &[i32] {
    match &value.value {
        Some(Value::List(list)) => &list.r#type,
        _ => &[],
    }
}

/// Attribute conventions of ops whose OpDef we may not have.
fn dtype_from_attrs(op: &str, attrs: &Attrs, port: usize) -> Option<DataType> {
    let from_list = |key: &str| {
        attrs
            .lookup(key)
            .map(list_types)
            .and_then(|types| types.get(port).copied())
    };
    let single = |key: &str| match attrs.lookup(key)?.value.as_ref()? {
        Value::Type(t) => Some(*t),
        _ => None,
    };
    let value = match op {
        "ArgMax" | "ArgMin" => single("output_type").or(Some(DataType::DtInt64 as i32)),
        "Shape" | "Size" | "Rank" => single("out_type").or(Some(DataType::DtInt32 as i32)),
        "Equal" | "NotEqual" | "Less" | "LessEqual" | "Greater" | "GreaterEqual" | "LogicalAnd"
        | "LogicalOr" | "LogicalNot" | "IsFinite" | "IsNan" | "IsInf" => {
            Some(DataType::DtBool as i32)
        }
        "ReaderReadV2" | "ReaderRead" | "ReadFile" | "StringJoin" | "AsString" => {
            Some(DataType::DtString as i32)
        }
        "VarHandleOp" => Some(DataType::DtResource as i32),
        "Merge" if port == 1 => Some(DataType::DtInt32 as i32),
        _ => [
            "output_types",
            "component_types",
            "Toutput_types",
            "Tout",
            "OUT_TYPE",
        ]
        .iter()
        .find_map(|key| from_list(key))
        .or_else(|| {
            [
                "DstT",
                "out_type",
                "output_type",
                "dtype",
                "T",
                "Tout",
                "Tparams",
            ]
            .iter()
            .find_map(|key| single(key))
        }),
    }?;
    DataType::try_from(value).ok()
}

/// The static shape of output `port` when the node states it: `_output_shapes`,
/// `output_shapes` (iterators), or `shape` (placeholders, variables).
/// `None` when unknown; `Some(None)`-free: an unknown-rank shape is `None` too.
pub fn stated_output_shape(op: &str, attrs: &Attrs, port: usize) -> Option<Vec<i64>> {
    let listed = |key: &str| match attrs.lookup(key)?.value.as_ref()? {
        Value::List(list) => list.shape.get(port).and_then(dims),
        _ => None,
    };
    let single = |key: &str| match attrs.lookup(key)?.value.as_ref()? {
        Value::Shape(shape) => dims(shape),
        _ => None,
    };
    listed("_output_shapes")
        .or_else(|| listed("output_shapes"))
        .or_else(|| {
            let states_shape = matches!(op, "Placeholder" | "PlaceholderWithDefault")
                || crate::op_kinds::is_variable_op(op);
            single("shape").filter(|_| states_shape && port == 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::attr_map::AttrMap;
    use crate::format::proto::attr_value::ListValue;

    fn type_attr(t: DataType) -> AttrValue {
        AttrValue {
            value: Some(Value::Type(t as i32)),
        }
    }

    #[test]
    fn resolves_list_outputs_through_the_op_def() {
        let def = OpDef {
            name: "IteratorGetNext".into(),
            output_arg: vec![ArgDef {
                name: "components".into(),
                type_list_attr: "output_types".into(),
                ..ArgDef::default()
            }],
            ..OpDef::default()
        };
        let attrs: AttrMap = [(
            "output_types".to_string(),
            AttrValue {
                value: Some(Value::List(Box::new(ListValue {
                    r#type: vec![DataType::DtFloat as i32, DataType::DtInt64 as i32],
                    ..ListValue::default()
                }))),
            },
        )]
        .into();
        assert_eq!(
            output_dtype("IteratorGetNext", &attrs, 1, Some(&def)),
            Some(DataType::DtInt64)
        );
        assert_eq!(output_dtype("IteratorGetNext", &attrs, 2, Some(&def)), None);
    }

    #[test]
    fn strips_reference_types() {
        let def = OpDef {
            output_arg: vec![ArgDef {
                type_attr: "dtype".into(),
                is_ref: true,
                ..ArgDef::default()
            }],
            ..OpDef::default()
        };
        let attrs: AttrMap = [("dtype".to_string(), type_attr(DataType::DtFloatRef))].into();
        assert_eq!(
            output_dtype("VariableV2", &attrs, 0, Some(&def)),
            Some(DataType::DtFloat)
        );
    }

    #[test]
    fn falls_back_to_attribute_conventions() {
        let attrs: AttrMap = [("T".to_string(), type_attr(DataType::DtHalf))].into();
        assert_eq!(
            output_dtype("Relu", &attrs, 0, None),
            Some(DataType::DtHalf)
        );
        assert_eq!(
            output_dtype("ArgMax", &AttrMap::new(), 0, None),
            Some(DataType::DtInt64)
        );
        assert_eq!(
            output_dtype("Merge", &attrs, 1, None),
            Some(DataType::DtInt32)
        );
    }

    fn repeated_output(count: i64) -> (OpDef, AttrMap) {
        let def = OpDef {
            name: "Split".into(),
            output_arg: vec![ArgDef {
                name: "output".into(),
                type_attr: "T".into(),
                number_attr: "num_split".into(),
                ..ArgDef::default()
            }],
            ..OpDef::default()
        };
        let attrs: AttrMap = [
            ("T".to_string(), type_attr(DataType::DtFloat)),
            (
                "num_split".to_string(),
                AttrValue {
                    value: Some(Value::I(count)),
                },
            ),
        ]
        .into();
        (def, attrs)
    }

    #[test]
    fn an_output_count_of_2_pow_40_is_refused_without_allocating() {
        let (def, attrs) = repeated_output(1 << 40);
        assert_eq!(
            output_count(&def, &attrs),
            Err(OutputCountError::TooMany {
                count: 1 << 40,
                limit: MAX_OUTPUTS_PER_NODE
            })
        );
        assert_eq!(dtype_from_op_def(&def, &attrs, 5), None);
        let (def, attrs) = repeated_output(3);
        assert_eq!(output_count(&def, &attrs), Ok(3));
        assert_eq!(
            output_dtype("Split", &attrs, 2, Some(&def)),
            Some(DataType::DtFloat)
        );
        let (def, attrs) = repeated_output(-1);
        assert!(matches!(
            output_count(&def, &attrs),
            Err(OutputCountError::Unresolved { .. })
        ));
    }

    #[test]
    fn output_counts_add_plain_repeated_and_list_args() {
        let (mut def, mut attrs) = repeated_output(2);
        def.output_arg.push(ArgDef {
            name: "list".into(),
            type_list_attr: "Tout".into(),
            ..ArgDef::default()
        });
        def.output_arg.push(ArgDef {
            name: "flag".into(),
            r#type: DataType::DtBool as i32,
            ..ArgDef::default()
        });
        attrs.insert(
            "Tout".into(),
            AttrValue {
                value: Some(Value::List(Box::new(ListValue {
                    r#type: vec![DataType::DtInt32 as i32, DataType::DtString as i32],
                    ..ListValue::default()
                }))),
            },
        );
        assert_eq!(output_count(&def, &attrs), Ok(5));
        let dtypes: Vec<_> = (0..6)
            .map(|port| dtype_from_op_def(&def, &attrs, port).map(base_dtype))
            .collect();
        assert_eq!(
            dtypes,
            [
                Some(DataType::DtFloat),
                Some(DataType::DtFloat),
                Some(DataType::DtInt32),
                Some(DataType::DtString),
                Some(DataType::DtBool),
                None
            ]
        );
        // Function bodies name these ports `node:arg:index`.
        let port = |arg: &str, index| output_arg_port(&def, &attrs, arg, index);
        assert_eq!(port("output", 1), Some(1));
        assert_eq!(port("list", 0), Some(2));
        assert_eq!(port("flag", 0), Some(4));
        assert_eq!(port("output", 2), None);
        assert_eq!(port("nothing", 0), None);
        assert_eq!(output_arg_at(&def, &attrs, 3), Some(("list", 1)));
        assert_eq!(output_arg_at(&def, &attrs, 5), None);
    }
}
