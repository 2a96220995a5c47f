//! The tf.Example feature each serving input becomes: its kind, the dtype
//! tf.Example carries it in, its per-example shape and its default value.

use serde::{Serialize, Serializer};

use crate::format::tensor::{Tensor, Values};
use crate::ir::DataType;
use crate::model::method_rules::shape_text;
use crate::typing::dtype_name;

/// How a feature is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// `FixedLenFeature`: the same number of values in every example.
    Fixed,
    /// `VarLenFeature`: any number of values, parsed to a SparseTensor.
    VarLen,
}

impl FeatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Fixed => "fixed",
            FeatureKind::VarLen => "var_len",
        }
    }
}

/// One feature of the parsed examples, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feature {
    /// The feature's name in the tf.Example, the input's key.
    pub key: String,
    pub kind: FeatureKind,
    /// The dtype the graph reads.
    #[serde(serialize_with = "serialize_dtype")]
    pub dtype: DataType,
    /// The dtype tf.Example carries it in (float32, int64 or string); a
    /// `Cast` follows the parse when it differs from `dtype`.
    #[serde(serialize_with = "serialize_dtype")]
    pub carrier_dtype: DataType,
    /// Per example (no batch dimension); `None` for a var-len feature.
    pub shape: Option<Vec<i64>>,
    /// The value of an example that lacks the feature, as given; `None`:
    /// the feature is required (a var-len feature is simply empty).
    pub default: Option<String>,
    /// The parsed tensor the graph reads (`node:port`, after the `Cast`
    /// when there is one); a var-len feature's values. Empty until the
    /// parse is in the graph.
    pub tensor: String,
    /// A var-len feature's parsed indices and dense shape; `None` for a
    /// fixed-length one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse_tensors: Option<SparseTensorNames>,
}

/// The parsed indices and dense shape of a var-len feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SparseTensorNames {
    pub indices: String,
    pub dense_shape: String,
}

fn serialize_dtype<S: Serializer>(dtype: &DataType, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&dtype_name(*dtype as i32))
}

impl std::fmt::Display for Feature {
    /// `age: fixed float32 [1], default -1.5` or
    /// `ids: fixed int32 [3] (carried as int64, cast), required`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} {}",
            self.key,
            self.kind.as_str(),
            dtype_name(self.dtype as i32)
        )?;
        if let Some(shape) = &self.shape {
            write!(f, " {}", shape_text(shape))?;
        }
        if self.carrier_dtype != self.dtype {
            write!(
                f,
                " (carried as {}, cast)",
                dtype_name(self.carrier_dtype as i32)
            )?;
        }
        match (&self.default, self.kind) {
            (Some(default), _) => write!(f, ", default {default}"),
            (None, FeatureKind::Fixed) => write!(f, ", required"),
            (None, FeatureKind::VarLen) => Ok(()),
        }
    }
}

/// Why an input cannot become a tf.Example feature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExamplesError {
    #[error(
        "feature {key:?} is {dtype}, which tf.Example cannot carry (it holds float32, int64 and string lists, and other numbers are cast from those)"
    )]
    NoCarrier { key: String, dtype: String },
    #[error(
        "feature {key:?} has serving shape {shape}: a fixed-length feature needs every dimension but the batch known; the input's shape must be given"
    )]
    UnknownShape { key: String, shape: String },
    #[error("default {value:?} of feature {key:?} is not a {dtype}: {reason}")]
    BadDefault {
        key: String,
        value: String,
        dtype: String,
        reason: String,
    },
    #[error(
        "feature {key:?} takes {expected} values per example; its default gives {given} (give one value to repeat, or all {expected})"
    )]
    DefaultCount {
        key: String,
        given: usize,
        expected: u64,
    },
    #[error(
        "sparse feature {key:?} has rank {rank}; a var-len tf.Example feature parses to rank 2 ([batch, values])"
    )]
    SparseRank { key: String, rank: i64 },
    #[error("sparse input {key:?} has no signature input {missing:?}")]
    SparsePartMissing { key: String, missing: String },
    #[error("input {key:?} is not an input of signature {signature:?}")]
    NotAnInput { key: String, signature: String },
    #[error("there is no signature {signature:?} whose inputs could be parsed from tf.Examples")]
    NoSignature { signature: String },
}

/// The dtype tf.Example carries `dtype` in, if it can: float32, int64 and
/// string as they are, other floats as float32, other integers and bools
/// as int64.
pub fn carrier(dtype: DataType) -> Option<DataType> {
    use DataType::*;
    match dtype {
        DtFloat | DtDouble | DtHalf | DtBfloat16 => Some(DtFloat),
        DtInt64 | DtInt32 | DtInt16 | DtInt8 | DtUint8 | DtUint16 | DtUint32 | DtUint64
        | DtBool => Some(DtInt64),
        DtString => Some(DtString),
        _ => None,
    }
}

/// The default tensor of a fixed-length feature: its values parsed
/// against the feature's dtype, stored in the carrier dtype, one value
/// repeated or exactly one per element of `shape`.
pub fn default_tensor(
    feature: &Feature,
    shape: &[i64],
    text: &str,
) -> Result<Tensor, ExamplesError> {
    let count = crate::format::tensor::element_count(shape).unwrap_or(0);
    let items: Vec<&str> = text.split(',').collect();
    let repeat = match items.len() as u64 {
        1 => count as usize,
        n if n == count => 1,
        _ => {
            return Err(ExamplesError::DefaultCount {
                key: feature.key.clone(),
                given: items.len(),
                expected: count,
            });
        }
    };
    let values = parse_values(feature, &items, text)?;
    Ok(Tensor {
        dtype: feature.carrier_dtype,
        shape: shape.to_vec(),
        values: repeated(values, repeat),
    })
}

/// The values of a tensor of no elements (a required feature's default).
pub fn empty_tensor(dtype: DataType) -> Tensor {
    let values = match dtype {
        DataType::DtFloat => Values::F32(Vec::new()),
        DataType::DtInt64 => Values::I64(Vec::new()),
        _ => Values::Strings(Vec::new()),
    };
    Tensor {
        dtype,
        shape: vec![0],
        values,
    }
}

fn repeated(values: Values, times: usize) -> Values {
    fn rep<T: Clone>(v: Vec<T>, times: usize) -> Vec<T> {
        v.iter().cycle().take(v.len() * times).cloned().collect()
    }
    match values {
        Values::F32(v) => Values::F32(rep(v, times)),
        Values::I64(v) => Values::I64(rep(v, times)),
        Values::Strings(v) => Values::Strings(rep(v, times)),
        other => other,
    }
}

/// Each item parsed as the feature's dtype, held in its carrier's.
fn parse_values(feature: &Feature, items: &[&str], text: &str) -> Result<Values, ExamplesError> {
    let bad = |reason: String| ExamplesError::BadDefault {
        key: feature.key.clone(),
        value: text.into(),
        dtype: dtype_name(feature.dtype as i32),
        reason,
    };
    match feature.carrier_dtype {
        DataType::DtString => Ok(Values::Strings(
            items
                .iter()
                .map(|s| bytes::Bytes::copy_from_slice(s.as_bytes()))
                .collect(),
        )),
        DataType::DtFloat => items
            .iter()
            .map(|s| parse_float(feature.dtype, s.trim()))
            .collect::<Result<Vec<f32>, String>>()
            .map(Values::F32)
            .map_err(bad),
        _ => items
            .iter()
            .map(|s| parse_integer(feature.dtype, s.trim()))
            .collect::<Result<Vec<i64>, String>>()
            .map(Values::I64)
            .map_err(bad),
    }
}

fn parse_float(dtype: DataType, item: &str) -> Result<f32, String> {
    let value: f64 = item
        .parse()
        .map_err(|_| format!("{item:?} is not a number"))?;
    let finite_in_f32 = value.is_finite() && (value as f32).is_finite();
    if dtype != DataType::DtDouble && value.is_finite() && !finite_in_f32 {
        return Err(format!("{item} is out of range"));
    }
    Ok(value as f32)
}

fn parse_integer(dtype: DataType, item: &str) -> Result<i64, String> {
    if dtype == DataType::DtBool {
        return match item {
            "true" | "True" | "1" => Ok(1),
            "false" | "False" | "0" => Ok(0),
            _ => Err(format!("{item:?} is not true, false, 1 or 0")),
        };
    }
    let value: i128 = item
        .parse()
        .map_err(|_| format!("{item:?} is not an integer"))?;
    let (low, high) = integer_range(dtype);
    if value < low || value > high {
        return Err(format!("{item} is out of range"));
    }
    // tf.Example holds int64: a uint64 past i64::MAX wraps as the cast back does.
    Ok(value as i64)
}

fn integer_range(dtype: DataType) -> (i128, i128) {
    use DataType::*;
    match dtype {
        DtInt8 => (i8::MIN.into(), i8::MAX.into()),
        DtInt16 => (i16::MIN.into(), i16::MAX.into()),
        DtInt32 => (i32::MIN.into(), i32::MAX.into()),
        DtUint8 => (0, u8::MAX.into()),
        DtUint16 => (0, u16::MAX.into()),
        DtUint32 => (0, u32::MAX.into()),
        DtUint64 => (0, u64::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(dtype: DataType) -> Feature {
        Feature {
            key: "f".into(),
            kind: FeatureKind::Fixed,
            dtype,
            carrier_dtype: carrier(dtype).unwrap(),
            shape: Some(vec![2]),
            default: None,
            tensor: String::new(),
            sparse_tensors: None,
        }
    }

    #[test]
    fn carriers_are_float_int64_and_string_only() {
        assert_eq!(carrier(DataType::DtDouble), Some(DataType::DtFloat));
        assert_eq!(carrier(DataType::DtBool), Some(DataType::DtInt64));
        assert_eq!(carrier(DataType::DtInt32), Some(DataType::DtInt64));
        assert_eq!(carrier(DataType::DtComplex64), None);
        assert_eq!(carrier(DataType::DtResource), None);
    }

    #[test]
    fn a_default_is_one_value_repeated_or_one_per_element() {
        let f = feature(DataType::DtFloat);
        let t = default_tensor(&f, &[2], "-1.5").unwrap();
        assert_eq!(t.values, Values::F32(vec![-1.5, -1.5]));
        let t = default_tensor(&f, &[2], "1,2").unwrap();
        assert_eq!(t.values, Values::F32(vec![1.0, 2.0]));
        let err = default_tensor(&f, &[2], "1,2,3").unwrap_err();
        assert!(matches!(
            err,
            ExamplesError::DefaultCount {
                given: 3,
                expected: 2,
                ..
            }
        ));
        let t = default_tensor(&feature(DataType::DtString), &[2], "UNK").unwrap();
        assert_eq!(t.dtype, DataType::DtString);
        assert_eq!(t.shape, [2]);
    }

    #[test]
    fn a_default_is_parsed_against_the_inputs_dtype() {
        let t = default_tensor(&feature(DataType::DtBool), &[], "true").unwrap();
        assert_eq!(
            (t.dtype, t.values),
            (DataType::DtInt64, Values::I64(vec![1]))
        );
        let err = default_tensor(&feature(DataType::DtInt32), &[], "3000000000").unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        assert!(err.to_string().contains("\"f\""), "{err}");
        let err = default_tensor(&feature(DataType::DtInt64), &[], "1.5").unwrap_err();
        assert!(matches!(err, ExamplesError::BadDefault { dtype, .. } if dtype == "int64"));
        let err = default_tensor(&feature(DataType::DtFloat), &[], "abc").unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
    }

    #[test]
    fn features_print_on_one_line() {
        let mut f = feature(DataType::DtInt32);
        assert_eq!(
            f.to_string(),
            "f: fixed int32 [2] (carried as int64, cast), required"
        );
        f.default = Some("0".into());
        assert!(f.to_string().ends_with(", default 0"));
    }
}
