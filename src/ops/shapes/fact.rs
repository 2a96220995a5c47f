//! What is known about one tensor: its dtype, its shape (rank and each
//! dimension) and, for the small integer tensors that carry shapes, its
//! values. Unknown is a first-class value at every level, so an op without
//! a rule only makes its outputs unknown.

use std::fmt;

use smallvec::SmallVec;

use crate::format::proto::{DataType, TensorShapeProto};

/// One dimension, or one element of a shape-carrying tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    Known(i64),
    /// The serving batch: the first dimension of every serving input, the
    /// same (unknown) size for all of them in one request.
    Batch,
    Unknown,
}

impl Dim {
    /// The dimension a `-1` or unknown proto dimension stands for.
    pub fn of(size: i64) -> Dim {
        if size < 0 {
            Dim::Unknown
        } else {
            Dim::Known(size)
        }
    }

    pub fn known(self) -> Option<i64> {
        match self {
            Dim::Known(size) => Some(size),
            _ => None,
        }
    }

    /// The one dimension two dimensions that must be equal can be, or
    /// `None` when they are two different known sizes. A known size met
    /// with the batch stays the batch: the graph then serves only that
    /// batch, which the batch check reports, not the shape check.
    pub fn unify(self, other: Dim) -> Option<Dim> {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) if a != b => None,
            (Dim::Known(_), Dim::Known(_)) => Some(self),
            (Dim::Batch, _) | (_, Dim::Batch) => Some(Dim::Batch),
            (Dim::Unknown, d) | (d, Dim::Unknown) => Some(d),
        }
    }

    /// The product of two dimensions (unknown unless both are known).
    pub fn times(self, other: Dim) -> Dim {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) => a.checked_mul(b).map_or(Dim::Unknown, Dim::Known),
            (Dim::Known(1), d) | (d, Dim::Known(1)) => d,
            _ => Dim::Unknown,
        }
    }

    /// As a `TensorShapeProto` dimension: the batch and unknowns are `-1`.
    pub fn proto_size(self) -> i64 {
        self.known().unwrap_or(-1)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(size) => write!(f, "{size}"),
            Dim::Batch => f.write_str("batch"),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// A shape's dimensions, held inline up to rank 4 (nearly every tensor a
/// graph holds): inference makes one shape per tensor, and a heap
/// allocation for each made allocation most of its time.
pub type Dims = SmallVec<[Dim; 4]>;

/// A tensor's shape: unknown rank, or each dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Shape {
    #[default]
    Unknown,
    Ranked(Dims),
}

impl Shape {
    pub fn scalar() -> Shape {
        Shape::Ranked(Dims::new())
    }

    pub fn vector(length: Dim) -> Shape {
        Shape::Ranked(smallvec::smallvec![length])
    }

    /// A shape of the given dimensions.
    pub fn ranked(dims: &[Dim]) -> Shape {
        Shape::Ranked(Dims::from_slice(dims))
    }

    /// A proto-style shape: `None` for unknown rank, `-1` for unknown sizes.
    pub fn of(dims: Option<&[i64]>) -> Shape {
        match dims {
            Some(dims) => Shape::Ranked(dims.iter().map(|&d| Dim::of(d)).collect()),
            None => Shape::Unknown,
        }
    }

    /// A `TensorShapeProto`, as [`Shape::of`] its sizes.
    pub fn of_proto(shape: &TensorShapeProto) -> Shape {
        match shape.unknown_rank {
            true => Shape::Unknown,
            false => Shape::Ranked(shape.dim.iter().map(|d| Dim::of(d.size)).collect()),
        }
    }

    pub fn dims(&self) -> Option<&[Dim]> {
        match self {
            Shape::Ranked(dims) => Some(dims),
            Shape::Unknown => None,
        }
    }

    pub fn rank(&self) -> Option<usize> {
        self.dims().map(<[Dim]>::len)
    }

    /// Dimension `axis` (negative counts from the end), when the rank is known.
    pub fn dim(&self, axis: i64) -> Option<Dim> {
        let dims = self.dims()?;
        let index = if axis < 0 {
            dims.len().checked_sub(axis.unsigned_abs() as usize)?
        } else {
            axis as usize
        };
        dims.get(index).copied()
    }

    /// The element count, when every dimension is known.
    pub fn elements(&self) -> Option<i64> {
        let dims = self.dims()?;
        dims.iter()
            .try_fold(1i64, |n, d| d.known().and_then(|k| n.checked_mul(k)))
    }

    /// As proto sizes: `None` for unknown rank, `-1` for the batch and unknowns.
    pub fn proto_dims(&self) -> Option<Vec<i64>> {
        Some(self.dims()?.iter().map(|d| d.proto_size()).collect())
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Unknown => f.write_str("<unknown rank>"),
            Shape::Ranked(dims) => {
                let dims: Vec<String> = dims.iter().map(Dim::to_string).collect();
                write!(f, "[{}]", dims.join(", "))
            }
        }
    }
}

/// What is known about one tensor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Fact {
    pub dtype: Option<DataType>,
    pub shape: Shape,
    /// The elements of a small integer tensor (a shape, an axis, a size:
    /// rank 0 or 1; a constant of rank 2 such as paddings, row-major),
    /// each known, the batch or unknown; `None` when not tracked.
    pub value: Option<Vec<Dim>>,
    /// For a resource handle: the shape of the variable it refers to
    /// (boxed: few tensors are handles, and every fact carries the field).
    pub handle_shape: Option<Box<Shape>>,
}

/// Nothing known (what [`Fact::unknown`] makes), to lend where a fact is
/// missing.
pub static UNKNOWN: Fact = Fact {
    dtype: None,
    shape: Shape::Unknown,
    value: None,
    handle_shape: None,
};

impl Fact {
    pub fn unknown() -> Fact {
        Fact::default()
    }

    pub fn of(dtype: Option<DataType>, shape: Shape) -> Fact {
        Fact {
            dtype,
            shape,
            ..Fact::default()
        }
    }

    /// An integer vector (a shape, say) with the given elements.
    pub fn int_vector(dtype: DataType, value: Vec<Dim>) -> Fact {
        Fact {
            dtype: Some(dtype),
            shape: Shape::vector(Dim::Known(value.len() as i64)),
            value: Some(value),
            handle_shape: None,
        }
    }

    /// The value as plain integers, when every element is known.
    pub fn known_values(&self) -> Option<Vec<i64>> {
        self.value.as_ref()?.iter().map(|d| d.known()).collect()
    }

    /// The value as a scalar integer, when it is one and known.
    pub fn known_scalar(&self) -> Option<i64> {
        match self.value.as_deref() {
            Some([Dim::Known(v)]) if self.shape.rank() == Some(0) => Some(*v),
            _ => None,
        }
    }
}

/// Largest integer tensor whose values are tracked (a shape or a list of
/// axes; anything longer is data, not a shape).
pub const MAX_TRACKED_VALUES: usize = 64;
