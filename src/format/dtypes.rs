//! Dtypes and shapes as TensorFlow's protos spell them: element sizes, the
//! `_REF` variants, Python's dtype names, shape protos from dimensions and
//! back. Facts of the format, needed by tensors and checkpoints below any
//! graph.

use crate::format::proto::{DataType, TensorShapeProto};

/// Bytes per element of fixed-size dtypes; `None` for strings, variants, resources.
pub fn element_size(dtype: DataType) -> Option<usize> {
    use DataType::*;
    Some(match dtype {
        DtFloat | DtInt32 | DtQint32 | DtUint32 => 4,
        DtDouble | DtInt64 | DtUint64 | DtComplex64 => 8,
        DtComplex128 => 16,
        DtUint8 | DtInt8 | DtBool | DtQint8 | DtQuint8 => 1,
        DtInt16 | DtUint16 | DtQint16 | DtQuint16 | DtBfloat16 | DtHalf => 2,
        DtFloat8E5m2 | DtFloat8E4m3fn | DtFloat8E4m3fnuz | DtFloat8E4m3b11fnuz
        | DtFloat8E5m2fnuz | DtInt4 | DtUint4 | DtInt2 | DtUint2 | DtFloat4E2m1fn => 1,
        _ => return None,
    })
}

/// The `_REF` variant stripped: `DT_FLOAT_REF` → `DT_FLOAT`.
pub fn base_dtype(dtype: DataType) -> DataType {
    let value = dtype as i32;
    if value > 100 {
        DataType::try_from(value - 100).unwrap_or(dtype)
    } else {
        dtype
    }
}

/// A fully known shape proto.
pub fn shape_proto(dims: &[i64]) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims
            .iter()
            .map(|&size| crate::format::proto::tensor_shape_proto::Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    }
}

/// A shape proto; `None` is an unknown rank.
pub fn shape_proto_or_unknown(dims: Option<&[i64]>) -> TensorShapeProto {
    match dims {
        Some(dims) => shape_proto(dims),
        None => TensorShapeProto {
            dim: Vec::new(),
            unknown_rank: true,
        },
    }
}

/// The dimensions of a shape, `None` for an unknown rank.
pub fn dims(shape: &TensorShapeProto) -> Option<Vec<i64>> {
    (!shape.unknown_rank).then(|| shape.dim.iter().map(|d| d.size).collect())
}

/// `DT_FLOAT` → `float32`, like TensorFlow's Python names.
pub fn dtype_name(dtype: i32) -> String {
    let Ok(dtype) = DataType::try_from(dtype) else {
        return format!("dtype({dtype})");
    };
    let name = dtype
        .as_str_name()
        .trim_start_matches("DT_")
        .to_ascii_lowercase();
    match name.as_str() {
        "float" => "float32".into(),
        "double" => "float64".into(),
        "half" => "float16".into(),
        "float_ref" => "float32_ref".into(),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_have_their_python_names() {
        assert_eq!(dtype_name(DataType::DtFloat as i32), "float32");
        assert_eq!(dtype_name(DataType::DtInt64 as i32), "int64");
        assert_eq!(dtype_name(DataType::DtString as i32), "string");
        assert_eq!(dtype_name(999), "dtype(999)");
    }
}
