//! Sparse tensors, lookup tables, strings, partitions and example parsing:
//! the ops feature columns and Estimator heads put between a serving input
//! and the dense layers. Their outputs' dtypes are fixed by their op
//! definitions (filled in by the driver), so the rules give shapes.

use super::call::{Call, Facts, Outcome};
use super::fact::{Dim, Fact, Shape};
use crate::format::proto::DataType;

/// Ops whose output has their first input's shape in a dtype the op fixes
/// (hashing, bucketizing, string conversions).
pub const SAME_SHAPE: &[&str] = &[
    "AsString",
    "Bucketize",
    "StringToHashBucket",
    "StringToHashBucketFast",
    "StringToHashBucketStrong",
    "StringToNumber",
    "StringStrip",
    "StringLower",
    "StringUpper",
    "StringLength",
    "RegexReplace",
    "StaticRegexReplace",
    "RegexFullMatch",
    "EncodeBase64",
    "DecodeBase64",
    "LookupTableFind",
];

/// Lookup-table resources and the ops that only fill them (no outputs).
pub const TABLES: &[&str] = &[
    "HashTable",
    "HashTableV2",
    "MutableHashTable",
    "MutableHashTableV2",
    "MutableHashTableOfTensorsV2",
    "MutableDenseHashTableV2",
    "AnonymousHashTable",
    "AnonymousMutableHashTable",
    "LookupTableImportV2",
    "LookupTableInsertV2",
    "InitializeTableV2",
    "InitializeTableFromTextFileV2",
    "InitializeTable",
    "InitializeTableFromTextFile",
];

/// The input's shape, the dtype left to the op's definition.
pub fn same_shape(call: &Call) -> Outcome {
    call.one(Fact::of(None, call.input_shape(0).clone()))
}

/// A table handle or an initializer: scalars (an initializer has no outputs).
pub fn table(call: &Call) -> Outcome {
    call.all(Fact::of(None, Shape::scalar()))
}

/// `LookupTableFindV2`: the keys' shape.
pub fn lookup_find(call: &Call) -> Outcome {
    call.one(Fact::of(
        call.attr_type("Tout"),
        call.input_shape(1).clone(),
    ))
}

/// `LookupTableSizeV2`: an int64 scalar.
pub fn lookup_size(call: &Call) -> Outcome {
    call.one(Fact::of(Some(DataType::DtInt64), Shape::scalar()))
}

/// `Unique`: the unique values (a vector of unknown length) and, per
/// input element, its index.
pub fn unique(call: &Call) -> Outcome {
    let x = call.input(0);
    let idx = call.attr_type("out_idx").unwrap_or(DataType::DtInt32);
    let mut facts: Facts = smallvec::smallvec![
        Fact::of(x.dtype, Shape::vector(Dim::Unknown)),
        Fact::of(Some(idx), x.shape.clone()),
    ];
    facts.resize(call.outputs.max(2), Fact::unknown());
    Ok(facts)
}

/// `Where` (one input): the coordinates of the true elements, `[?, rank]`.
pub fn where_true(call: &Call) -> Outcome {
    let rank = call.input_shape(0).rank();
    let width = rank.map_or(Dim::Unknown, |r| Dim::Known(r as i64));
    let shape = Shape::Ranked(smallvec::smallvec![Dim::Unknown, width]);
    call.one(Fact::of(Some(DataType::DtInt64), shape))
}

/// The shape a shape-carrying input stands for: its values when tracked,
/// else its length's worth of unknown dimensions.
pub fn shape_from_value(fact: &Fact) -> Shape {
    if let Some(value) = &fact.value
        && fact.shape.rank() == Some(1)
    {
        let dims = value.iter().map(|d| match d {
            Dim::Known(k) if *k < 0 => Dim::Unknown,
            other => *other,
        });
        return Shape::Ranked(dims.collect());
    }
    match fact.shape.dim(0).and_then(Dim::known) {
        Some(n) if fact.shape.rank() == Some(1) => {
            Shape::Ranked(smallvec::smallvec![Dim::Unknown; n as usize])
        }
        _ => Shape::Unknown,
    }
}

/// `SparseToDense`: the `output_shape` input's value, the values' dtype.
pub fn sparse_to_dense(call: &Call) -> Outcome {
    let shape = shape_from_value(call.input(1));
    call.one(Fact::of(call.input(2).dtype, shape))
}

/// The length of a vector input, as a dimension.
fn length(fact: &Fact) -> Dim {
    match fact.shape.dims() {
        Some([n]) => *n,
        _ => Dim::Unknown,
    }
}

/// `SparseFillEmptyRows`: indices `[?, rank]`, values `[?]`, the empty-row
/// indicator `[dense_shape[0]]` and the reverse index map `[N]`.
pub fn sparse_fill_empty_rows(call: &Call) -> Outcome {
    let (indices, values, dense_shape) = (call.input(0), call.input(1), call.input(2));
    let rows = dense_shape
        .value
        .as_ref()
        .and_then(|v| v.first().copied())
        .filter(|d| d.known().is_none_or(|k| k >= 0))
        .unwrap_or(Dim::Unknown);
    let n = indices.shape.dim(0).unwrap_or(Dim::Unknown);
    Ok(smallvec::smallvec![
        Fact::of(
            Some(DataType::DtInt64),
            Shape::Ranked(smallvec::smallvec![Dim::Unknown, length(dense_shape)]),
        ),
        Fact::of(values.dtype, Shape::vector(Dim::Unknown)),
        Fact::of(Some(DataType::DtBool), Shape::vector(rows)),
        Fact::of(Some(DataType::DtInt64), Shape::vector(n)),
    ])
}

/// `SparseReshape`: the indices re-ranked to the new shape's length.
pub fn sparse_reshape(call: &Call) -> Outcome {
    let (indices, new_shape) = (call.input(0), call.input(2));
    let n = indices.shape.dim(0).unwrap_or(Dim::Unknown);
    let rank = length(new_shape);
    Ok(smallvec::smallvec![
        Fact::of(
            Some(DataType::DtInt64),
            Shape::Ranked(smallvec::smallvec![n, rank])
        ),
        Fact::of(Some(DataType::DtInt64), Shape::vector(rank)),
    ])
}

/// `SparseSegment{Sum,Mean,SqrtN}[WithNumSegments]`: the data's rows
/// regrouped, `[segments, data[1:]...]`.
pub fn sparse_segment(call: &Call) -> Outcome {
    let data = call.input(0);
    let segments = if call.op.ends_with("WithNumSegments") {
        call.input(3)
            .known_scalar()
            .map_or(Dim::Unknown, Dim::Known)
    } else {
        Dim::Unknown
    };
    let shape = match data.shape.dims() {
        Some([_, rest @ ..]) => {
            let mut dims = vec![segments];
            dims.extend_from_slice(rest);
            Shape::Ranked(dims.into())
        }
        _ => Shape::Unknown,
    };
    call.one(Fact::of(data.dtype, shape))
}

/// `SparseCross*`: indices `[?, 2]`, values `[?]`, dense shape `[2]`.
pub fn sparse_cross(_call: &Call) -> Outcome {
    Ok(smallvec::smallvec![
        Fact::of(
            Some(DataType::DtInt64),
            Shape::Ranked(smallvec::smallvec![Dim::Unknown, Dim::Known(2)]),
        ),
        Fact::of(None, Shape::vector(Dim::Unknown)),
        Fact::of(Some(DataType::DtInt64), Shape::vector(Dim::Known(2))),
    ])
}

/// `DynamicPartition`: each part `[?]` and the data's dimensions past the
/// partitions' rank.
pub fn dynamic_partition(call: &Call) -> Outcome {
    let (data, partitions) = (call.input(0), call.input(1));
    let shape = match (data.shape.dims(), partitions.shape.rank()) {
        (Some(dims), Some(r)) if r <= dims.len() => {
            let mut out = vec![Dim::Unknown];
            out.extend_from_slice(&dims[r..]);
            Shape::Ranked(out.into())
        }
        _ => Shape::Unknown,
    };
    call.all(Fact::of(data.dtype, shape))
}

/// `DynamicStitch` / `ParallelDynamicStitch` (`N` indices, then `N` data):
/// `[?]` and the first data's dimensions past its indices' rank.
pub fn dynamic_stitch(call: &Call) -> Outcome {
    let n = call.inputs.len() / 2;
    let (indices, data) = (call.input(0), call.input(n));
    let shape = match (data.shape.dims(), indices.shape.rank()) {
        (Some(dims), Some(r)) if r <= dims.len() => {
            let mut out = vec![Dim::Unknown];
            out.extend_from_slice(&dims[r..]);
            Shape::Ranked(out.into())
        }
        _ => Shape::Unknown,
    };
    call.one(Fact::of(data.dtype, shape))
}

/// `ParseExample` / `ParseExampleV2` / `ParseSingleExample`: sparse
/// components `[?, rank]`, `[?]`, `[rank]`; each dense output the
/// serialized input's dimensions then its `dense_shapes` entry.
pub fn parse_example(call: &Call) -> Outcome {
    let sparse = ["num_sparse", "Nsparse"]
        .iter()
        .find_map(|key| call.attr_int(key))
        .unwrap_or(0)
        .max(0) as usize;
    let single = call.op == "ParseSingleExample";
    let prefix: Option<Vec<Dim>> = if single {
        Some(Vec::new())
    } else {
        call.input_shape(0).dims().map(<[Dim]>::to_vec)
    };
    let rank = prefix
        .as_ref()
        .map_or(Dim::Unknown, |p| Dim::Known(p.len() as i64 + 1));
    let mut facts: Facts = smallvec::smallvec![Fact::unknown(); call.outputs.max(1)];
    let sparse_types = call.attr_types("sparse_types");
    for i in 0..sparse.min(facts.len()) {
        let int64 = Some(DataType::DtInt64);
        let parts = [
            (
                i,
                Fact::of(
                    int64,
                    Shape::Ranked(smallvec::smallvec![Dim::Unknown, rank]),
                ),
            ),
            (
                sparse + i,
                Fact::of(
                    sparse_types.get(i).copied().flatten(),
                    Shape::vector(Dim::Unknown),
                ),
            ),
            (2 * sparse + i, Fact::of(int64, Shape::vector(rank))),
        ];
        for (port, fact) in parts {
            if let Some(slot) = facts.get_mut(port) {
                *slot = fact;
            }
        }
    }
    let dense_types = call.attr_types("Tdense");
    for (i, dense) in call.attr_shapes("dense_shapes").iter().enumerate() {
        let shape = match (&prefix, dense.dims()) {
            (Some(prefix), Some(dims)) => Shape::Ranked([prefix.as_slice(), dims].concat().into()),
            _ => Shape::Unknown,
        };
        if let Some(slot) = facts.get_mut(3 * sparse + i) {
            *slot = Fact::of(dense_types.get(i).copied().flatten(), shape);
        }
    }
    Ok(facts)
}
