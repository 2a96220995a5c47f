//! One JSON value of the predict API's request body → a [`Tensor`] of the
//! signature input's dtype. Nested lists give the shape (they must be
//! regular); leaves convert as TensorFlow Serving's JSON mapping does:
//! numbers to float inputs, integers (in range) to integer inputs, `true` /
//! `false` to bool inputs, strings or `{"b64": "..."}` to string inputs.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use half::{bf16, f16};

use super::tree::Json;

use super::error::ValueError;
use crate::format::proto::DataType;
use crate::format::tensor::{Tensor, Values};
use crate::typing::dtype_name;

/// Standard base64, padded or not (clients differ; TensorFlow Serving takes both).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How many more values the whole file may hold; shared by every conversion.
#[derive(Debug)]
pub struct Budget {
    left: u64,
    limit: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget { left: limit, limit }
    }

    fn spend(&mut self, count: u64) -> Result<(), ValueError> {
        self.left = self
            .left
            .checked_sub(count)
            .ok_or(ValueError::TooManyValues { limit: self.limit })?;
        Ok(())
    }
}

/// The tensor `value` spells for an input of `dtype`.
pub fn to_tensor(value: &Json, dtype: DataType, budget: &mut Budget) -> Result<Tensor, ValueError> {
    let shape = shape_of(value);
    // Checked before the lists are walked (a ragged value may claim more).
    let count = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    budget.spend(count.unwrap_or(u64::MAX))?;
    let mut values = empty_values(dtype)?;
    let mut element = Vec::with_capacity(shape.len());
    collect(value, &shape, &mut element, &mut values)?;
    Ok(Tensor {
        dtype,
        shape: shape.iter().map(|&d| d as i64).collect(),
        values,
    })
}

/// The shape the first entries at each depth describe; [`collect`] checks
/// that every other entry agrees.
fn shape_of(value: &Json) -> Vec<u64> {
    let mut shape = Vec::new();
    let mut current = value;
    loop {
        match current {
            Json::Array(entries) => {
                shape.push(entries.len() as u64);
                match entries.first() {
                    Some(first) => current = first,
                    None => break,
                }
            }
            Json::Numbers(numbers) => {
                shape.push(numbers.len() as u64);
                break;
            }
            _ => break,
        }
    }
    shape
}

/// Appends the leaves of `value` (at index path `element`) to `values`,
/// checking that its nesting is `shape`.
fn collect(
    value: &Json,
    shape: &[u64],
    element: &mut Vec<usize>,
    values: &mut Values,
) -> Result<(), ValueError> {
    let Some((&length, inner)) = shape.split_first() else {
        if value.is_list() {
            return Err(ValueError::TooDeep {
                element: index_path(element),
            });
        }
        return push_leaf(values, value, element);
    };
    match value.list_len() {
        Some(found) if found as u64 != length => {
            return Err(ValueError::Ragged {
                element: index_path(element),
                expected: length as usize,
                found,
            });
        }
        Some(_) => {}
        None => return Err(not_a_list(values, value, element)),
    }
    match value {
        Json::Numbers(numbers) => numbers
            .iter()
            .enumerate()
            .try_for_each(|(index, entry)| collect_entry(index, &entry, inner, element, values)),
        Json::Array(entries) => entries
            .iter()
            .enumerate()
            .try_for_each(|(index, entry)| collect_entry(index, entry, inner, element, values)),
        _ => Ok(()),
    }
}

/// [`collect`] for the entry at `index` of the list at `element`.
fn collect_entry(
    index: usize,
    entry: &Json,
    shape: &[u64],
    element: &mut Vec<usize>,
    values: &mut Values,
) -> Result<(), ValueError> {
    element.push(index);
    collect(entry, shape, element, values)?;
    element.pop();
    Ok(())
}

/// A leaf where its siblings are lists.
fn not_a_list(values: &Values, leaf: &Json, element: &[usize]) -> ValueError {
    ValueError::Element {
        element: index_path(element),
        expected: format!("list of {}", kind_name(values)),
        found: describe(leaf),
    }
}

/// `[2][0]`, or `(the value itself)` at the top.
fn index_path(element: &[usize]) -> String {
    if element.is_empty() {
        return "(the value itself)".into();
    }
    element.iter().map(|i| format!("[{i}]")).collect()
}

/// No values yet, in the family of `dtype`.
fn empty_values(dtype: DataType) -> Result<Values, ValueError> {
    Ok(match dtype {
        DataType::DtHalf => Values::F16(Vec::new()),
        DataType::DtBfloat16 => Values::Bf16(Vec::new()),
        DataType::DtFloat => Values::F32(Vec::new()),
        DataType::DtDouble => Values::F64(Vec::new()),
        DataType::DtInt8 => Values::I8(Vec::new()),
        DataType::DtInt16 => Values::I16(Vec::new()),
        DataType::DtInt32 => Values::I32(Vec::new()),
        DataType::DtInt64 => Values::I64(Vec::new()),
        DataType::DtUint8 => Values::U8(Vec::new()),
        DataType::DtUint16 => Values::U16(Vec::new()),
        DataType::DtUint32 => Values::U32(Vec::new()),
        DataType::DtUint64 => Values::U64(Vec::new()),
        DataType::DtBool => Values::Bool(Vec::new()),
        DataType::DtString => Values::Strings(Vec::new()),
        other => return Err(ValueError::UnsupportedDtype(dtype_name(other as i32))),
    })
}

/// The dtype's name as errors say it.
fn kind_name(values: &Values) -> String {
    let dtype = match values {
        Values::F16(_) => DataType::DtHalf,
        Values::Bf16(_) => DataType::DtBfloat16,
        Values::F32(_) => DataType::DtFloat,
        Values::F64(_) => DataType::DtDouble,
        Values::I8(_) => DataType::DtInt8,
        Values::I16(_) => DataType::DtInt16,
        Values::I32(_) => DataType::DtInt32,
        Values::I64(_) => DataType::DtInt64,
        Values::U8(_) => DataType::DtUint8,
        Values::U16(_) => DataType::DtUint16,
        Values::U32(_) => DataType::DtUint32,
        Values::U64(_) => DataType::DtUint64,
        Values::Bool(_) => DataType::DtBool,
        Values::Complex64(_) => DataType::DtComplex64,
        Values::Complex128(_) => DataType::DtComplex128,
        Values::Strings(_) => DataType::DtString,
    };
    dtype_name(dtype as i32)
}

/// Converts one leaf into `values`' dtype, or says what it is instead.
fn push_leaf(values: &mut Values, leaf: &Json, element: &[usize]) -> Result<(), ValueError> {
    let converted = match values {
        Values::F16(v) => float_within(leaf, f16::MAX.into()).map(|x| v.push(f16::from_f64(x))),
        Values::Bf16(v) => float_within(leaf, bf16::MAX.into()).map(|x| v.push(bf16::from_f64(x))),
        Values::F32(v) => float_within(leaf, f32::MAX.into()).map(|x| v.push(x as f32)),
        Values::F64(v) => float_within(leaf, f64::MAX).map(|x| v.push(x)),
        Values::I8(v) => integer(leaf).map(|x| v.push(x)),
        Values::I16(v) => integer(leaf).map(|x| v.push(x)),
        Values::I32(v) => integer(leaf).map(|x| v.push(x)),
        Values::I64(v) => integer(leaf).map(|x| v.push(x)),
        Values::U8(v) => integer(leaf).map(|x| v.push(x)),
        Values::U16(v) => integer(leaf).map(|x| v.push(x)),
        Values::U32(v) => integer(leaf).map(|x| v.push(x)),
        Values::U64(v) => integer(leaf).map(|x| v.push(x)),
        Values::Bool(v) => leaf.as_bool().map(|x| v.push(x)),
        Values::Strings(v) => return string(leaf, element).map(|x| v.push(x)),
        Values::Complex64(_) | Values::Complex128(_) => None,
    };
    converted.ok_or_else(|| ValueError::Element {
        element: index_path(element),
        expected: kind_name(values),
        found: describe(leaf),
    })
}

/// A JSON number as a float, if its magnitude is at most `max` (the
/// dtype's largest finite value: a number past it would become infinity).
fn float_within(leaf: &Json, max: f64) -> Option<f64> {
    leaf.as_number()?.as_f64().filter(|x| x.abs() <= max)
}

/// A JSON integer that fits `T` (a number with a fraction or exponent is not one).
fn integer<T: TryFrom<i64> + TryFrom<u64>>(leaf: &Json) -> Option<T> {
    let number = leaf.as_number()?;
    if let Some(x) = number.as_i64() {
        return T::try_from(x).ok();
    }
    T::try_from(number.as_u64()?).ok()
}

/// A JSON string's UTF-8 bytes, or the bytes of `{"b64": "..."}`.
fn string(leaf: &Json, element: &[usize]) -> Result<Bytes, ValueError> {
    if let Some(text) = leaf.as_str() {
        return Ok(Bytes::copy_from_slice(text.as_bytes()));
    }
    let Some(encoded) = b64_text(leaf) else {
        return Err(ValueError::Element {
            element: index_path(element),
            expected: "string (or {\"b64\": ...})".into(),
            found: describe(leaf),
        });
    };
    BASE64
        .decode(encoded)
        .map(Bytes::from)
        .map_err(|e| ValueError::Base64 {
            element: index_path(element),
            reason: e.to_string(),
        })
}

/// The text of a `{"b64": "..."}` object, the predict API's spelling of bytes.
pub fn b64_text(value: &Json) -> Option<&str> {
    match value.as_object() {
        Some(object) if object.len() == 1 => object.get("b64")?.as_str(),
        _ => None,
    }
}

/// What a JSON value is, for an error: `the string "cat"`, `the number
/// 1.5`, `an object with keys "a", "b"`. Long strings are cut.
fn describe(value: &Json) -> String {
    const SHOWN: usize = 40;
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the bool {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(s) if s.chars().count() > SHOWN => {
            let start: String = s.chars().take(SHOWN).collect();
            format!("the string {:?}...", start)
        }
        Json::String(s) => format!("the string {s:?}"),
        Json::Array(_) | Json::Numbers(_) => {
            format!("a list of {} entries", value.list_len().unwrap_or_default())
        }
        Json::Object(fields) => {
            let keys: Vec<String> = fields.keys().take(5).map(|k| format!("{k:?}")).collect();
            format!("an object with keys {}", keys.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn tree(value: &Value) -> Json {
        Json::parse(value.to_string().as_bytes()).unwrap()
    }

    fn convert(value: Value, dtype: DataType) -> Result<Tensor, ValueError> {
        to_tensor(&tree(&value), dtype, &mut Budget::new(1000))
    }

    #[test]
    fn nested_lists_give_the_shape_and_numbers_convert_to_floats() {
        let tensor = convert(json!([[1, 2.5], [-3, 4e-1]]), DataType::DtFloat).unwrap();
        assert_eq!(tensor.shape, [2, 2]);
        assert_eq!(tensor.values, Values::F32(vec![1.0, 2.5, -3.0, 0.4]));
        let scalar = convert(json!(7), DataType::DtDouble).unwrap();
        assert_eq!(scalar.shape, Vec::<i64>::new());
        assert_eq!(scalar.values, Values::F64(vec![7.0]));
        let half = convert(json!([0.5]), DataType::DtHalf).unwrap();
        assert_eq!(half.values, Values::F16(vec![f16::from_f32(0.5)]));
    }

    #[test]
    fn integers_must_be_whole_and_in_range() {
        let ok = convert(json!([-128, 127]), DataType::DtInt8).unwrap();
        assert_eq!(ok.values, Values::I8(vec![-128, 127]));
        let big = convert(json!([u64::MAX]), DataType::DtUint64).unwrap();
        assert_eq!(big.values, Values::U64(vec![u64::MAX]));
        for (value, dtype) in [
            (json!([128]), DataType::DtInt8),
            (json!([-1]), DataType::DtUint8),
            (json!([1.5]), DataType::DtInt64),
            (json!([1.0]), DataType::DtInt32),
            (json!([true]), DataType::DtInt32),
        ] {
            let err = convert(value.clone(), dtype).unwrap_err();
            assert!(
                matches!(&err, ValueError::Element { element, .. } if element == "[0]"),
                "{value} as {dtype:?}: {err:?}"
            );
        }
        let err = convert(json!([1e39]), DataType::DtFloat).unwrap_err();
        assert!(err.to_string().contains("float32"), "{err}");
        assert!(convert(json!([65504]), DataType::DtHalf).is_ok());
        let err = convert(json!([65520]), DataType::DtHalf).unwrap_err();
        assert!(err.to_string().contains("float16"), "{err}");
    }

    #[test]
    fn strings_are_text_or_base64_bytes() {
        let value = json!([["cat", {"b64": "AP8="}], ["", {"b64": "AP8"}]]);
        let tensor = convert(value, DataType::DtString).unwrap();
        let expected: Vec<Bytes> = vec![
            Bytes::from_static(b"cat"),
            Bytes::from_static(&[0, 255]),
            Bytes::new(),
            Bytes::from_static(&[0, 255]),
        ];
        assert_eq!(tensor.values, Values::Strings(expected));
        let err = convert(json!([{"b64": "!!"}]), DataType::DtString).unwrap_err();
        assert!(matches!(err, ValueError::Base64 { .. }), "{err:?}");
        let err = convert(json!([3]), DataType::DtString).unwrap_err();
        assert!(err.to_string().contains("the number 3"), "{err}");
        let err = convert(json!(["x"]), DataType::DtFloat).unwrap_err();
        assert_eq!(
            err.to_string(),
            "element [0] is the string \"x\", but a float32 value was expected"
        );
    }

    #[test]
    fn bools_are_json_bools() {
        let tensor = convert(json!([true, false]), DataType::DtBool).unwrap();
        assert_eq!(tensor.values, Values::Bool(vec![true, false]));
        assert!(convert(json!([1]), DataType::DtBool).is_err());
    }

    #[test]
    fn irregular_nesting_names_the_element() {
        let err = convert(json!([[1, 2], [3]]), DataType::DtFloat).unwrap_err();
        assert_eq!(
            err,
            ValueError::Ragged {
                element: "[1]".into(),
                expected: 2,
                found: 1
            }
        );
        let err = convert(json!([[1, 2], [3, [4]]]), DataType::DtFloat).unwrap_err();
        assert_eq!(
            err,
            ValueError::TooDeep {
                element: "[1][1]".into()
            }
        );
        let err = convert(json!([[1, 2], 3]), DataType::DtFloat).unwrap_err();
        assert!(
            err.to_string().contains("element [1] is the number 3"),
            "{err}"
        );
    }

    #[test]
    fn the_budget_counts_values_across_conversions() {
        let mut budget = Budget::new(5);
        assert!(to_tensor(&tree(&json!([1, 2, 3])), DataType::DtFloat, &mut budget).is_ok());
        let err = to_tensor(&tree(&json!([1, 2, 3])), DataType::DtFloat, &mut budget).unwrap_err();
        assert_eq!(err, ValueError::TooManyValues { limit: 5 });
    }

    #[test]
    fn dtypes_without_a_json_spelling_are_refused() {
        let err = convert(json!([1]), DataType::DtComplex64).unwrap_err();
        assert_eq!(err, ValueError::UnsupportedDtype("complex64".into()));
    }
}
