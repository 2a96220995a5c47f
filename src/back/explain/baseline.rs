//! `--baseline KEY=VALUES`: the input values attributions are measured
//! against. AI Platform takes each baseline in the input's per-example shape
//! (the signature's shape without its batch dimension) or as one scalar it
//! broadcasts to that shape; so a baseline is one value, or exactly as many
//! as one example holds, nested to its shape. Values are parsed for the
//! input's dtype, so a typo fails the export instead of the deployment.

use std::str::FromStr;

use serde_json::{Number, Value};

use super::ExplainError;
use crate::ir::DataType;
use crate::model::TensorSpec;
use crate::typing::dtype_name;

/// One baseline for one signature input: `KEY=V` or `KEY=V1,V2,...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineSpec {
    /// The signature input key.
    pub key: String,
    /// The values as written, in row-major order; `KEY=` is one empty
    /// value (an empty string's baseline).
    pub values: Vec<String>,
}

impl FromStr for BaselineSpec {
    type Err = ExplainError;

    fn from_str(spec: &str) -> Result<BaselineSpec, ExplainError> {
        let bad = |reason| ExplainError::BadSpec {
            spec: spec.into(),
            reason,
        };
        let (key, values) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUES (a comma-separated list)"))?;
        if key.is_empty() {
            return Err(bad("the input key is empty"));
        }
        Ok(BaselineSpec {
            key: key.into(),
            values: values.split(',').map(str::to_string).collect(),
        })
    }
}

impl BaselineSpec {
    /// The baseline as the metadata writes it for `input`: a scalar when one
    /// value was given, else the values nested to the per-example shape.
    pub fn to_json(&self, input: &TensorSpec) -> Result<Value, ExplainError> {
        let dims = self.checked_dims(input)?;
        let values = self
            .values
            .iter()
            .map(|text| self.parse_value(input.dtype, text))
            .collect::<Result<Vec<_>, _>>()?;
        match (values.as_slice(), dims) {
            ([one], _) => Ok(one.clone()),
            (_, Some(dims)) => Ok(nest(&values, &dims)),
            (_, None) => Ok(Value::Array(values)),
        }
    }

    /// The per-example dimensions when the values fill them; `None` when
    /// one value is given for a shape not fully known.
    fn checked_dims(&self, input: &TensorSpec) -> Result<Option<Vec<usize>>, ExplainError> {
        let given = self.values.len();
        let shape = per_example_shape(input);
        let Some(dims) = shape.as_deref().and_then(known_dims) else {
            if given == 1 {
                return Ok(None);
            }
            return Err(ExplainError::UnknownCount {
                key: self.key.clone(),
                given,
                shape: shape_text(shape.as_deref()),
            });
        };
        let expected = dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .unwrap_or(usize::MAX);
        if given == 1 || given == expected {
            return Ok(Some(dims));
        }
        Err(ExplainError::Count {
            key: self.key.clone(),
            given,
            expected,
            shape: shape_text(shape.as_deref()),
        })
    }

    fn parse_value(&self, dtype: DataType, text: &str) -> Result<Value, ExplainError> {
        parse_value(dtype, text).map_err(|problem| match problem {
            Problem::Dtype => ExplainError::Dtype {
                key: self.key.clone(),
                dtype: dtype_name(dtype as i32),
            },
            Problem::Value(reason) => ExplainError::Value {
                key: self.key.clone(),
                value: text.into(),
                dtype: dtype_name(dtype as i32),
                reason,
            },
        })
    }
}

/// Why a value did not parse.
enum Problem {
    /// No value of this dtype can be written as a baseline.
    Dtype,
    Value(&'static str),
}

/// `text` as a JSON value of `dtype`, in range.
fn parse_value(dtype: DataType, text: &str) -> Result<Value, Problem> {
    use DataType::*;
    match dtype {
        DtFloat => float(text, f64::from(f32::MAX)),
        DtDouble => float(text, f64::MAX),
        DtHalf => float(text, 65504.0),
        DtBfloat16 => float(text, 3.3895313892515355e38),
        DtInt8 => int(text, i8::MIN.into(), i8::MAX.into()),
        DtInt16 => int(text, i16::MIN.into(), i16::MAX.into()),
        DtInt32 => int(text, i32::MIN.into(), i32::MAX.into()),
        DtInt64 => int(text, i64::MIN.into(), i64::MAX.into()),
        DtUint8 => int(text, 0, u8::MAX.into()),
        DtUint16 => int(text, 0, u16::MAX.into()),
        DtUint32 => int(text, 0, u32::MAX.into()),
        DtUint64 => int(text, 0, u64::MAX.into()),
        DtBool => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(Problem::Value("expected true or false")),
        },
        DtString => Ok(Value::String(text.into())),
        _ => Err(Problem::Dtype),
    }
}

fn float(text: &str, max: f64) -> Result<Value, Problem> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| Problem::Value("not a number"))?;
    if !value.is_finite() {
        return Err(Problem::Value("not a finite number"));
    }
    if value.abs() > max {
        return Err(Problem::Value("out of the dtype's range"));
    }
    Number::from_f64(value)
        .map(Value::Number)
        .ok_or(Problem::Value("not a finite number"))
}

fn int(text: &str, min: i128, max: i128) -> Result<Value, Problem> {
    let value: i128 = text
        .trim()
        .parse()
        .map_err(|_| Problem::Value("not an integer"))?;
    if value < min || value > max {
        return Err(Problem::Value("out of the dtype's range"));
    }
    if let Ok(signed) = i64::try_from(value) {
        return Ok(Value::from(signed));
    }
    u64::try_from(value)
        .map(Value::from)
        .map_err(|_| Problem::Value("out of the dtype's range"))
}

/// The shape of one example: the signature's shape without its batch
/// dimension; `None` for an unknown rank.
pub fn per_example_shape(input: &TensorSpec) -> Option<Vec<i64>> {
    let shape = input.shape.as_ref()?;
    Some(shape.get(1..).unwrap_or_default().to_vec())
}

/// The dimensions when every one is known.
fn known_dims(shape: &[i64]) -> Option<Vec<usize>> {
    shape.iter().map(|&d| usize::try_from(d).ok()).collect()
}

/// `[2, 3]`, `[-1]` or `unknown`.
fn shape_text(shape: Option<&[i64]>) -> String {
    shape.map_or("unknown".into(), |dims| format!("{dims:?}"))
}

/// Row-major `values` as lists nested to `dims` (their product is `values.len()`).
fn nest(values: &[Value], dims: &[usize]) -> Value {
    let Some((_, inner)) = dims.split_first() else {
        return values.first().cloned().unwrap_or(Value::Null);
    };
    let step = inner.iter().product::<usize>().max(1);
    Value::Array(values.chunks(step).map(|c| nest(c, inner)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(dtype: DataType, shape: Option<Vec<i64>>) -> TensorSpec {
        TensorSpec {
            name: "x:0".into(),
            dtype,
            shape,
        }
    }

    fn baseline(spec: &str, input: &TensorSpec) -> Result<Value, ExplainError> {
        spec.parse::<BaselineSpec>()?.to_json(input)
    }

    #[test]
    fn a_spec_is_a_key_and_comma_separated_values() {
        let spec: BaselineSpec = "age=1,2.5,-3".parse().unwrap();
        assert_eq!(spec.key, "age");
        assert_eq!(spec.values, ["1", "2.5", "-3"]);
        let empty: BaselineSpec = "text=".parse().unwrap();
        assert_eq!(empty.values, [""]);
        for bad in ["age", "=1"] {
            assert!(
                matches!(
                    bad.parse::<BaselineSpec>(),
                    Err(ExplainError::BadSpec { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn one_value_stays_a_scalar_the_service_broadcasts() {
        let features = input(DataType::DtFloat, Some(vec![-1, 2, 3]));
        assert_eq!(baseline("x=0.5", &features).unwrap(), json!(0.5));
        let unknown = input(DataType::DtFloat, Some(vec![-1, -1]));
        assert_eq!(baseline("x=0", &unknown).unwrap(), json!(0.0));
        let no_rank = input(DataType::DtFloat, None);
        assert_eq!(baseline("x=1", &no_rank).unwrap(), json!(1.0));
    }

    #[test]
    fn a_full_example_is_nested_to_its_shape() {
        let features = input(DataType::DtFloat, Some(vec![-1, 2, 3]));
        assert_eq!(
            baseline("x=1,2,3,4,5,6", &features).unwrap(),
            json!([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        );
        let ids = input(DataType::DtInt64, Some(vec![-1, 3]));
        assert_eq!(baseline("x=7,-8,9", &ids).unwrap(), json!([7, -8, 9]));
    }

    #[test]
    fn a_wrong_count_names_the_shape_and_the_counts() {
        let features = input(DataType::DtFloat, Some(vec![-1, 4]));
        let error = baseline("x=1,2,3", &features).unwrap_err();
        assert_eq!(
            error,
            ExplainError::Count {
                key: "x".into(),
                given: 3,
                expected: 4,
                shape: "[4]".into(),
            }
        );
        let unknown = input(DataType::DtFloat, Some(vec![-1, -1]));
        assert!(matches!(
            baseline("x=1,2", &unknown),
            Err(ExplainError::UnknownCount { given: 2, .. })
        ));
    }

    #[test]
    fn values_parse_for_the_inputs_dtype_and_range() {
        let scalar = |dtype| input(dtype, Some(vec![-1]));
        let value_error = |spec: &str, dtype| match baseline(spec, &scalar(dtype)) {
            Err(ExplainError::Value { reason, .. }) => reason,
            other => panic!("{spec}: {other:?}"),
        };
        assert_eq!(value_error("x=abc", DataType::DtFloat), "not a number");
        assert_eq!(value_error("x=", DataType::DtFloat), "not a number");
        assert_eq!(
            value_error("x=nan", DataType::DtFloat),
            "not a finite number"
        );
        assert_eq!(
            value_error("x=1e39", DataType::DtFloat),
            "out of the dtype's range"
        );
        assert_eq!(value_error("x=1.5", DataType::DtInt32), "not an integer");
        assert_eq!(
            value_error("x=256", DataType::DtUint8),
            "out of the dtype's range"
        );
        assert_eq!(
            value_error("x=-1", DataType::DtUint64),
            "out of the dtype's range"
        );
        assert_eq!(
            value_error("x=yes", DataType::DtBool),
            "expected true or false"
        );
        assert_eq!(
            baseline("x=18446744073709551615", &scalar(DataType::DtUint64)).unwrap(),
            json!(u64::MAX)
        );
        assert_eq!(
            baseline("x=true", &scalar(DataType::DtBool)).unwrap(),
            json!(true)
        );
        assert_eq!(
            baseline("x= a b ", &scalar(DataType::DtString)).unwrap(),
            json!(" a b ")
        );
        assert_eq!(
            baseline("x=", &scalar(DataType::DtString)).unwrap(),
            json!("")
        );
        assert!(matches!(
            baseline("x=1", &scalar(DataType::DtResource)),
            Err(ExplainError::Dtype { .. })
        ));
    }
}
