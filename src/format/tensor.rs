//! Typed tensor values, to and from `TensorProto` (graph constants) and the
//! raw little-endian bytes of checkpoints. float16 and bfloat16 go through
//! `half`. Decoding follows TensorFlow's rules: `tensor_content` wins when
//! present; otherwise the typed field, its last value repeated to fill the
//! shape. Element counts, content lengths and the materialised size (capped
//! by [`crate::format::limits`]) are checked before anything is allocated;
//! [`check_proto`] does those checks alone, without decoding.

use bytes::Bytes;
use half::{bf16, f16};

use crate::format::limits::{MAX_CONST_BYTES, MAX_ELEMENTS, STRING_ELEMENT_BYTES};
use crate::format::proto::{DataType, TensorProto, TensorShapeProto};

/// Elements of one dtype family.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F16(Vec<f16>),
    Bf16(Vec<bf16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
    /// (real, imaginary) pairs.
    Complex64(Vec<(f32, f32)>),
    Complex128(Vec<(f64, f64)>),
    Strings(Vec<Bytes>),
}

/// A dense tensor value.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DataType,
    pub shape: Vec<i64>,
    pub values: Values,
}

/// A tensor that cannot be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    #[error("dtype {0} has no typed representation here")]
    Unsupported(String),
    #[error("shape {0:?} is not a valid, fully known shape")]
    BadShape(Vec<i64>),
    #[error("{count} elements exceed the limit of {limit}")]
    TooLarge { count: u64, limit: u64 },
    #[error("{count} elements would take {bytes} bytes, over the limit of {limit}")]
    TooManyBytes { count: u64, bytes: u64, limit: u64 },
    #[error("{values} values for a shape of {count} elements")]
    TooManyValues { values: u64, count: u64 },
    #[error("{actual} bytes of content for {expected} expected")]
    ContentSize { expected: u64, actual: u64 },
    #[error("a bool element is the byte {0}, neither 0 nor 1")]
    BadBool(u8),
    #[error("malformed string content: {0}")]
    BadStrings(String),
}

/// Element count of a fully known shape.
pub fn element_count(shape: &[i64]) -> Result<u64, TensorError> {
    let count = shape
        .iter()
        .try_fold(1u64, |n, &d| {
            u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
        })
        .ok_or_else(|| TensorError::BadShape(shape.to_vec()))?;
    if count > MAX_ELEMENTS {
        return Err(TensorError::TooLarge {
            count,
            limit: MAX_ELEMENTS,
        });
    }
    Ok(count)
}

fn shape_of(proto: Option<&TensorShapeProto>) -> Result<Vec<i64>, TensorError> {
    let proto = proto.cloned().unwrap_or_default();
    let dims: Vec<i64> = proto.dim.iter().map(|d| d.size).collect();
    if proto.unknown_rank || dims.iter().any(|&d| d < 0) {
        return Err(TensorError::BadShape(dims));
    }
    Ok(dims)
}

/// Checks a `TensorProto` as TensorFlow would decode it, without decoding:
/// a fully known shape; a `tensor_content` of exactly `elements * dtype size`
/// bytes (for strings, `elements` lengths and their bytes); no more typed
/// values than elements (fewer are repeated to fill the shape, so a single
/// value may also stand for an empty shape, as TensorFlow's Python writes
/// broadcast scalars); and a materialised size under
/// [`MAX_CONST_BYTES`]. Returns the element count.
pub fn check_proto(proto: &TensorProto) -> Result<u64, TensorError> {
    let shape = shape_of(proto.tensor_shape.as_ref())?;
    let count = element_count(&shape)?;
    let Ok(dtype) = DataType::try_from(proto.dtype) else {
        return Ok(count);
    };
    let element_bytes = match crate::format::dtypes::element_size(dtype) {
        Some(size) => size as u64,
        None if dtype == DataType::DtString => STRING_ELEMENT_BYTES,
        // Resources and variants are carried, never decoded here.
        None => return Ok(count),
    };
    let bytes = count.saturating_mul(element_bytes);
    if bytes > MAX_CONST_BYTES {
        return Err(TensorError::TooManyBytes {
            count,
            bytes,
            limit: MAX_CONST_BYTES,
        });
    }
    if !proto.tensor_content.is_empty() {
        return check_content(dtype, &proto.tensor_content, count);
    }
    let values = typed_value_count(proto, dtype);
    if values > count && !(count == 0 && values == 1) {
        return Err(TensorError::TooManyValues { values, count });
    }
    Ok(count)
}

/// `tensor_content` must hold exactly the shape's elements.
fn check_content(dtype: DataType, content: &[u8], count: u64) -> Result<u64, TensorError> {
    if dtype == DataType::DtString {
        let count = usize::try_from(count).map_err(|_| TensorError::TooLarge {
            count,
            limit: MAX_ELEMENTS,
        })?;
        check_string_content(content, count)?;
        return Ok(count as u64);
    }
    let size = crate::format::dtypes::element_size(dtype).unwrap_or(1) as u64;
    let expected = count.saturating_mul(size);
    if content.len() as u64 != expected {
        return Err(TensorError::ContentSize {
            expected,
            actual: content.len() as u64,
        });
    }
    Ok(count)
}

/// How many values the typed field of `dtype` holds (complex numbers count
/// as one per pair).
fn typed_value_count(proto: &TensorProto, dtype: DataType) -> u64 {
    let len = match dtype {
        DataType::DtHalf => proto.half_val.len(),
        DataType::DtBfloat16 => proto.half_val.len().max(proto.int_val.len()),
        DataType::DtFloat => proto.float_val.len(),
        DataType::DtDouble => proto.double_val.len(),
        DataType::DtInt64 => proto.int64_val.len(),
        DataType::DtUint32 => proto.uint32_val.len(),
        DataType::DtUint64 => proto.uint64_val.len(),
        DataType::DtBool => proto.bool_val.len(),
        DataType::DtComplex64 => proto.scomplex_val.len() / 2,
        DataType::DtComplex128 => proto.dcomplex_val.len() / 2,
        DataType::DtString => proto.string_val.len(),
        _ => proto.int_val.len(),
    };
    len as u64
}

/// Repeats the last element to fill `count` (TensorFlow's rule for short typed fields).
fn filled<T: Clone + Default>(values: &[T], count: usize) -> Vec<T> {
    let mut out: Vec<T> = values.iter().take(count).cloned().collect();
    let last = values.last().cloned().unwrap_or_default();
    out.resize(count, last);
    out
}

/// [`filled`], each value converted: narrow ints and 16-bit floats travel
/// in wider proto fields.
fn filled_as<S: Copy + Default, T>(values: &[S], count: usize, convert: impl Fn(S) -> T) -> Vec<T> {
    filled(values, count).into_iter().map(convert).collect()
}

/// A string tensor's values: length-prefixed in `tensor_content`, or one
/// per `string_val`.
fn string_values(proto: &TensorProto, count: usize) -> Result<Vec<Bytes>, TensorError> {
    if proto.tensor_content.is_empty() {
        Ok(filled(&proto.string_val, count))
    } else {
        decode_string_content(&proto.tensor_content, count)
    }
}

/// The values of a numeric tensor held in its dtype's typed proto field.
fn typed_field_values(
    proto: &TensorProto,
    dtype: DataType,
    count: usize,
) -> Result<Values, TensorError> {
    use DataType as D;
    let ints = &proto.int_val;
    Ok(match dtype {
        D::DtHalf => Values::F16(filled_as(&proto.half_val, count, |v| {
            f16::from_bits(v as u16)
        })),
        D::DtBfloat16 => Values::Bf16(filled_as(bfloat16_bits(proto), count, |v| {
            bf16::from_bits(v as u16)
        })),
        D::DtFloat => Values::F32(filled(&proto.float_val, count)),
        D::DtDouble => Values::F64(filled(&proto.double_val, count)),
        D::DtInt8 | D::DtQint8 => Values::I8(filled_as(ints, count, |v| v as i8)),
        D::DtInt16 | D::DtQint16 => Values::I16(filled_as(ints, count, |v| v as i16)),
        D::DtInt32 | D::DtQint32 => Values::I32(filled(ints, count)),
        D::DtInt64 => Values::I64(filled(&proto.int64_val, count)),
        D::DtUint8 | D::DtQuint8 => Values::U8(filled_as(ints, count, |v| v as u8)),
        D::DtUint16 | D::DtQuint16 => Values::U16(filled_as(ints, count, |v| v as u16)),
        D::DtUint32 => Values::U32(filled(&proto.uint32_val, count)),
        D::DtUint64 => Values::U64(filled(&proto.uint64_val, count)),
        D::DtBool => Values::Bool(filled(&proto.bool_val, count)),
        D::DtComplex64 => Values::Complex64(filled(&pairs(proto.scomplex_val.clone()), count)),
        D::DtComplex128 => Values::Complex128(filled(&pairs(proto.dcomplex_val.clone()), count)),
        other => return Err(TensorError::Unsupported(other.as_str_name().into())),
    })
}

/// Where a bfloat16 tensor's bits are: `half_val`, or `int_val` in files
/// from very old TensorFlow.
fn bfloat16_bits(proto: &TensorProto) -> &[i32] {
    if proto.half_val.is_empty() {
        &proto.int_val
    } else {
        &proto.half_val
    }
}

/// Little-endian element bytes, `count * element_size` long, as values.
fn le_values(dtype: DataType, bytes: &[u8]) -> Result<Values, TensorError> {
    use DataType as D;
    Ok(match dtype {
        D::DtHalf => Values::F16(from_le(bytes, f16::from_le_bytes)),
        D::DtBfloat16 => Values::Bf16(from_le(bytes, bf16::from_le_bytes)),
        D::DtFloat => Values::F32(from_le(bytes, f32::from_le_bytes)),
        D::DtDouble => Values::F64(from_le(bytes, f64::from_le_bytes)),
        D::DtInt8 | D::DtQint8 => Values::I8(from_le(bytes, i8::from_le_bytes)),
        D::DtInt16 | D::DtQint16 => Values::I16(from_le(bytes, i16::from_le_bytes)),
        D::DtInt32 | D::DtQint32 => Values::I32(from_le(bytes, i32::from_le_bytes)),
        D::DtInt64 => Values::I64(from_le(bytes, i64::from_le_bytes)),
        D::DtUint8 | D::DtQuint8 => Values::U8(bytes.to_vec()),
        D::DtUint16 | D::DtQuint16 => Values::U16(from_le(bytes, u16::from_le_bytes)),
        D::DtUint32 => Values::U32(from_le(bytes, u32::from_le_bytes)),
        D::DtUint64 => Values::U64(from_le(bytes, u64::from_le_bytes)),
        D::DtBool => Values::Bool(bools(bytes)?),
        D::DtComplex64 => Values::Complex64(pairs(from_le(bytes, f32::from_le_bytes))),
        D::DtComplex128 => Values::Complex128(pairs(from_le(bytes, f64::from_le_bytes))),
        other => return Err(TensorError::Unsupported(other.as_str_name().into())),
    })
}

/// Bools are one byte each, and only 0 or 1: anything else is corrupt.
fn bools(bytes: &[u8]) -> Result<Vec<bool>, TensorError> {
    bytes
        .iter()
        .map(|&b| match b {
            0 | 1 => Ok(b == 1),
            _ => Err(TensorError::BadBool(b)),
        })
        .collect()
}

fn from_le<T, const N: usize>(bytes: &[u8], convert: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| convert(c.try_into().unwrap_or([0; N])))
        .collect()
}

fn pairs<T: Copy>(flat: Vec<T>) -> Vec<(T, T)> {
    flat.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

impl Tensor {
    /// Decodes raw little-endian element bytes (the checkpoint layout) of a
    /// fixed-size dtype.
    pub fn from_le_bytes(
        dtype: DataType,
        shape: &[i64],
        bytes: &[u8],
    ) -> Result<Tensor, TensorError> {
        let count = element_count(shape)?;
        let size = crate::format::dtypes::element_size(dtype)
            .ok_or_else(|| TensorError::Unsupported(dtype.as_str_name().into()))?;
        let expected = count * size as u64;
        if bytes.len() as u64 != expected {
            return Err(TensorError::ContentSize {
                expected,
                actual: bytes.len() as u64,
            });
        }
        Ok(Tensor {
            dtype,
            shape: shape.to_vec(),
            values: le_values(dtype, bytes)?,
        })
    }

    /// The raw little-endian bytes of a fixed-size tensor (`None` for strings).
    pub fn to_le_bytes(&self) -> Option<Vec<u8>> {
        fn join<T: Copy, const N: usize>(values: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
            values.iter().flat_map(|&v| f(v)).collect()
        }
        Some(match &self.values {
            Values::F16(v) => join(v, f16::to_le_bytes),
            Values::Bf16(v) => join(v, bf16::to_le_bytes),
            Values::F32(v) => join(v, f32::to_le_bytes),
            Values::F64(v) => join(v, f64::to_le_bytes),
            Values::I8(v) => join(v, i8::to_le_bytes),
            Values::I16(v) => join(v, i16::to_le_bytes),
            Values::I32(v) => join(v, i32::to_le_bytes),
            Values::I64(v) => join(v, i64::to_le_bytes),
            Values::U8(v) => v.clone(),
            Values::U16(v) => join(v, u16::to_le_bytes),
            Values::U32(v) => join(v, u32::to_le_bytes),
            Values::U64(v) => join(v, u64::to_le_bytes),
            Values::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
            Values::Complex64(v) => v
                .iter()
                .flat_map(|&(r, i)| [r.to_le_bytes(), i.to_le_bytes()].concat())
                .collect(),
            Values::Complex128(v) => v
                .iter()
                .flat_map(|&(r, i)| [r.to_le_bytes(), i.to_le_bytes()].concat())
                .collect(),
            Values::Strings(_) => return None,
        })
    }

    /// Decodes a `TensorProto` as TensorFlow does.
    pub fn from_proto(proto: &TensorProto) -> Result<Tensor, TensorError> {
        let dtype = DataType::try_from(proto.dtype)
            .map_err(|_| TensorError::Unsupported(format!("dtype({})", proto.dtype)))?;
        let shape = shape_of(proto.tensor_shape.as_ref())?;
        let count = check_proto(proto)? as usize;
        let values = if dtype == DataType::DtString {
            Values::Strings(string_values(proto, count)?)
        } else if !proto.tensor_content.is_empty() || count == 0 {
            return Tensor::from_le_bytes(dtype, &shape, &proto.tensor_content);
        } else {
            typed_field_values(proto, dtype, count)?
        };
        Ok(Tensor {
            dtype,
            shape,
            values,
        })
    }

    /// Encodes like TensorFlow: non-scalar numbers as `tensor_content`,
    /// scalars in their typed field, strings one per `string_val`.
    pub fn to_proto(&self) -> TensorProto {
        let mut proto = TensorProto {
            dtype: self.dtype as i32,
            tensor_shape: Some(crate::format::dtypes::shape_proto(&self.shape)),
            ..TensorProto::default()
        };
        if let Values::Strings(strings) = &self.values {
            proto.string_val = strings.clone();
            return proto;
        }
        if !self.shape.is_empty() {
            proto.tensor_content = Bytes::from(self.to_le_bytes().unwrap_or_default());
            return proto;
        }
        match &self.values {
            Values::F16(v) => proto.half_val = v.iter().map(|x| i32::from(x.to_bits())).collect(),
            Values::Bf16(v) => proto.half_val = v.iter().map(|x| i32::from(x.to_bits())).collect(),
            Values::F32(v) => proto.float_val = v.clone(),
            Values::F64(v) => proto.double_val = v.clone(),
            Values::I8(v) => proto.int_val = v.iter().map(|&x| i32::from(x)).collect(),
            Values::I16(v) => proto.int_val = v.iter().map(|&x| i32::from(x)).collect(),
            Values::I32(v) => proto.int_val = v.clone(),
            Values::I64(v) => proto.int64_val = v.clone(),
            Values::U8(v) => proto.int_val = v.iter().map(|&x| i32::from(x)).collect(),
            Values::U16(v) => proto.int_val = v.iter().map(|&x| i32::from(x)).collect(),
            Values::U32(v) => proto.uint32_val = v.clone(),
            Values::U64(v) => proto.uint64_val = v.clone(),
            Values::Bool(v) => proto.bool_val = v.clone(),
            Values::Complex64(v) => {
                proto.scomplex_val = v.iter().flat_map(|&(r, i)| [r, i]).collect()
            }
            Values::Complex128(v) => {
                proto.dcomplex_val = v.iter().flat_map(|&(r, i)| [r, i]).collect()
            }
            Values::Strings(_) => {}
        }
        proto
    }
}

/// String `tensor_content`: `count` varint lengths, then the bytes.
fn decode_string_content(content: &[u8], count: usize) -> Result<Vec<Bytes>, TensorError> {
    let mut start = check_string_content(content, count)?;
    let mut lengths = &content[..start];
    let mut out = Vec::with_capacity(count);
    while let Some((len, used)) = crate::format::varint::read_varint(lengths) {
        lengths = &lengths[used..];
        let end = start + len as usize;
        out.push(Bytes::copy_from_slice(&content[start..end]));
        start = end;
    }
    Ok(out)
}

/// Checks that `count` varint lengths and then exactly that many bytes make
/// up a string `tensor_content` (TensorFlow refuses any other length);
/// returns where the string bytes begin.
fn check_string_content(content: &[u8], count: usize) -> Result<usize, TensorError> {
    if count > content.len() {
        return Err(TensorError::BadStrings(format!(
            "{count} strings in {} bytes",
            content.len()
        )));
    }
    let mut at = 0;
    let mut total = 0u64;
    for _ in 0..count {
        let (len, used) = crate::format::varint::read_varint(&content[at..])
            .ok_or_else(|| TensorError::BadStrings("bad length".into()))?;
        at += used;
        total = total.saturating_add(len);
    }
    if (at as u64).saturating_add(total) != content.len() as u64 {
        return Err(TensorError::BadStrings(format!(
            "{count} strings of {total} bytes do not fill {} bytes of content",
            content.len()
        )));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
        Some(crate::format::dtypes::shape_proto(dims))
    }

    #[test]
    fn typed_fields_fill_with_their_last_value() {
        let proto = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[2, 2]),
            float_val: vec![1.0, 7.0],
            ..Default::default()
        };
        assert_eq!(
            Tensor::from_proto(&proto).unwrap().values,
            Values::F32(vec![1.0, 7.0, 7.0, 7.0])
        );
    }

    #[test]
    fn content_wins_and_must_have_the_right_size() {
        let proto = TensorProto {
            dtype: DataType::DtInt32 as i32,
            tensor_shape: shape(&[2]),
            tensor_content: Bytes::from_static(&[1, 0, 0, 0, 10, 0, 0, 0]),
            int_val: vec![99],
            ..Default::default()
        };
        assert_eq!(
            Tensor::from_proto(&proto).unwrap().values,
            Values::I32(vec![1, 10])
        );
        let short = TensorProto {
            tensor_content: Bytes::from_static(&[1, 0, 0]),
            ..proto
        };
        assert!(matches!(
            Tensor::from_proto(&short),
            Err(TensorError::ContentSize { .. })
        ));
    }

    #[test]
    fn halves_round_trip_through_protos_and_bytes() {
        for dtype in [DataType::DtHalf, DataType::DtBfloat16] {
            let values = match dtype {
                DataType::DtHalf => Values::F16(vec![f16::from_f32(0.5), f16::from_f32(-3.0)]),
                _ => Values::Bf16(vec![bf16::from_f32(0.5), bf16::from_f32(-3.0)]),
            };
            let tensor = Tensor {
                dtype,
                shape: vec![2],
                values,
            };
            assert_eq!(Tensor::from_proto(&tensor.to_proto()).unwrap(), tensor);
            let bytes = tensor.to_le_bytes().unwrap();
            assert_eq!(Tensor::from_le_bytes(dtype, &[2], &bytes).unwrap(), tensor);
            let scalar = Tensor {
                dtype,
                shape: vec![],
                values: match &tensor.values {
                    Values::F16(v) => Values::F16(vec![v[1]]),
                    Values::Bf16(v) => Values::Bf16(vec![v[1]]),
                    _ => unreachable!(),
                },
            };
            let proto = scalar.to_proto();
            assert!(proto.tensor_content.is_empty() && proto.half_val.len() == 1);
            assert_eq!(Tensor::from_proto(&proto).unwrap(), scalar);
        }
    }

    #[test]
    fn strings_from_values_and_content() {
        let proto = TensorProto {
            dtype: DataType::DtString as i32,
            tensor_shape: shape(&[2]),
            tensor_content: Bytes::from_static(&[1, 3, b'a', b'x', b'y', b'z']),
            ..Default::default()
        };
        assert_eq!(
            Tensor::from_proto(&proto).unwrap().values,
            Values::Strings(vec![Bytes::from("a"), Bytes::from("xyz")])
        );
        let bad = TensorProto {
            tensor_content: Bytes::from_static(&[1, 9, b'a']),
            ..proto
        };
        assert!(Tensor::from_proto(&bad).is_err());
    }

    #[test]
    fn every_fixed_size_dtype_round_trips_through_bytes() {
        for (dtype, bytes) in [
            (DataType::DtDouble, 8),
            (DataType::DtInt8, 1),
            (DataType::DtInt16, 2),
            (DataType::DtInt64, 8),
            (DataType::DtUint8, 1),
            (DataType::DtUint16, 2),
            (DataType::DtUint32, 4),
            (DataType::DtUint64, 8),
            (DataType::DtComplex64, 8),
            (DataType::DtComplex128, 16),
        ] {
            let raw: Vec<u8> = (0..3 * bytes).map(|i| (i * 37 % 256) as u8).collect();
            let tensor = Tensor::from_le_bytes(dtype, &[3], &raw).unwrap();
            assert_eq!(tensor.to_le_bytes().unwrap(), raw, "{dtype:?}");
            assert_eq!(
                Tensor::from_proto(&tensor.to_proto()).unwrap(),
                tensor,
                "{dtype:?}"
            );
        }
        assert!(matches!(
            Tensor::from_le_bytes(DataType::DtBool, &[1], &[2]),
            Err(TensorError::BadBool(2))
        ));
    }

    #[test]
    fn absurd_shapes_are_refused_before_allocating() {
        let proto = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[1 << 40, 1 << 40]),
            float_val: vec![1.0],
            ..Default::default()
        };
        assert!(matches!(
            Tensor::from_proto(&proto),
            Err(TensorError::BadShape(_))
        ));
        let proto = TensorProto {
            tensor_shape: shape(&[1 << 20, 1 << 20]),
            ..proto
        };
        assert!(matches!(
            Tensor::from_proto(&proto),
            Err(TensorError::TooLarge { .. })
        ));
        let proto = TensorProto {
            tensor_shape: shape(&[-1]),
            ..proto
        };
        assert!(matches!(
            Tensor::from_proto(&proto),
            Err(TensorError::BadShape(_))
        ));
    }

    #[test]
    fn a_shape_of_2_pow_40_elements_without_content_is_refused() {
        let proto = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[1 << 20, 1 << 20]),
            ..Default::default()
        };
        assert!(matches!(
            check_proto(&proto),
            Err(TensorError::TooLarge { count, .. }) if count == 1 << 40
        ));
        // Few enough elements, but 8 GiB once TensorFlow fills them in.
        let proto = TensorProto {
            tensor_shape: shape(&[1 << 31]),
            ..proto
        };
        let err = Tensor::from_proto(&proto).unwrap_err();
        assert!(
            matches!(err, TensorError::TooManyBytes { bytes, .. } if bytes == 1 << 33),
            "{err}"
        );
        // Strings are charged per element too, however short the value repeated.
        let proto = TensorProto {
            dtype: DataType::DtString as i32,
            tensor_shape: shape(&[1 << 27]),
            string_val: vec![Bytes::from_static(b"x")],
            ..Default::default()
        };
        assert!(matches!(
            check_proto(&proto),
            Err(TensorError::TooManyBytes { .. })
        ));
    }

    #[test]
    fn tensor_content_one_byte_off_is_refused() {
        for len in [7, 9] {
            let proto = TensorProto {
                dtype: DataType::DtInt32 as i32,
                tensor_shape: shape(&[2]),
                tensor_content: Bytes::from(vec![0; len]),
                ..Default::default()
            };
            assert_eq!(
                check_proto(&proto),
                Err(TensorError::ContentSize {
                    expected: 8,
                    actual: len as u64
                })
            );
        }
    }

    #[test]
    fn more_values_than_elements_are_refused_and_fewer_are_filled() {
        let proto = |dims: &[i64], values: Vec<f32>| TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(dims),
            float_val: values,
            ..Default::default()
        };
        assert_eq!(
            check_proto(&proto(&[2], vec![1.0, 2.0, 3.0])),
            Err(TensorError::TooManyValues {
                values: 3,
                count: 2
            })
        );
        assert_eq!(check_proto(&proto(&[3], vec![1.0])), Ok(3));
        assert_eq!(check_proto(&proto(&[3], vec![])), Ok(3));
        // A broadcast scalar over an empty shape, as TensorFlow's Python may write.
        assert_eq!(check_proto(&proto(&[0, 10], vec![0.0])), Ok(0));
        assert!(check_proto(&proto(&[0], vec![0.0, 1.0])).is_err());
    }

    #[test]
    fn string_content_must_end_with_its_last_string() {
        let proto = TensorProto {
            dtype: DataType::DtString as i32,
            tensor_shape: shape(&[2]),
            tensor_content: Bytes::from_static(&[1, 2, b'a', b'b', b'c', b'!']),
            ..Default::default()
        };
        assert!(matches!(
            check_proto(&proto),
            Err(TensorError::BadStrings(_))
        ));
    }
}
