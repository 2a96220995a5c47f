//! Ops that make, reshape, join and cut tensors: where shapes are carried
//! as values (`Shape`, `Reshape`'s shape, `Fill`'s dims), so the values of
//! small integer tensors are tracked through them.

use super::call::{Call, Conflict, Outcome};
use super::elementwise::unify_shapes;
use super::fact::{Dim, Fact, MAX_TRACKED_VALUES, Shape};
use crate::format::proto::DataType;
use crate::format::tensor::{Tensor, Values};

/// `Const`: the value's dtype and shape, and its elements when it is a
/// small integer tensor (of rank up to 2, for `Pad`'s paddings).
pub fn constant(call: &Call) -> Outcome {
    let Some(crate::format::proto::attr_value::Value::Tensor(proto)) =
        call.attrs.get("value").and_then(|a| a.value.as_ref())
    else {
        return call.one(Fact::of(call.attr_type("dtype"), Shape::Unknown));
    };
    let dtype = DataType::try_from(proto.dtype).ok();
    let shape = proto
        .tensor_shape
        .as_ref()
        .map_or_else(Shape::scalar, Shape::of_proto);
    // Only integers are tracked: other tensors are not decoded.
    let integer = matches!(
        dtype,
        Some(DataType::DtInt32 | DataType::DtQint32 | DataType::DtInt64)
    );
    let small = integer
        && shape.rank().is_some_and(|r| r <= 2)
        && shape
            .elements()
            .is_some_and(|n| n as usize <= MAX_TRACKED_VALUES);
    let value = small
        .then(|| Tensor::from_proto(proto).ok())
        .flatten()
        .and_then(|tensor| match tensor.values {
            Values::I32(v) => Some(v.into_iter().map(|x| Dim::Known(x.into())).collect()),
            Values::I64(v) => Some(v.into_iter().map(Dim::Known).collect()),
            _ => None,
        });
    call.one(Fact {
        dtype,
        shape,
        value,
        handle_shape: None,
    })
}

/// `Placeholder`: its `dtype` and `shape` attributes.
pub fn placeholder(call: &Call) -> Outcome {
    call.one(Fact::of(call.attr_type("dtype"), call.attr_shape("shape")))
}

/// `Shape`: a vector of the input's dimensions.
pub fn shape_of(call: &Call) -> Outcome {
    let dtype = Some(call.attr_type("out_type").unwrap_or(DataType::DtInt32));
    let input = call.input_shape(0);
    let fact = match input.dims() {
        Some(dims) => call.int_result(
            dtype,
            Shape::vector(Dim::Known(dims.len() as i64)),
            Some(dims.to_vec()),
        ),
        None => Fact::of(dtype, Shape::vector(Dim::Unknown)),
    };
    call.one(fact)
}

/// `Size` and `Rank`: scalars.
pub fn size_or_rank(call: &Call) -> Outcome {
    let input = call.input_shape(0);
    let value = match call.op {
        "Rank" => input.rank().map(|r| Dim::Known(r as i64)),
        _ => input.elements().map(Dim::Known),
    };
    let dtype = Some(call.attr_type("out_type").unwrap_or(DataType::DtInt32));
    call.one(call.int_result(dtype, Shape::scalar(), value.map(|v| vec![v])))
}

/// `Reshape`: the requested shape, its one `-1` worked out when the element
/// counts allow, and the counts checked when both are known.
pub fn reshape(call: &Call) -> Outcome {
    let (input, shape) = (call.input(0), call.input(1));
    let Some(requested) = shape.value.clone() else {
        let rank = shape.shape.dim(0).and_then(Dim::known);
        let dims = rank.map(|r| Shape::Ranked(smallvec::smallvec![Dim::Unknown; r as usize]));
        return call.one(Fact::of(input.dtype, dims.unwrap_or_default()));
    };
    let mut dims: Vec<Dim> = requested
        .iter()
        .map(|d| match d {
            Dim::Known(-1) => Dim::Unknown,
            other => *other,
        })
        .collect();
    let wildcard = requested.iter().position(|d| *d == Dim::Known(-1));
    let given = Shape::Ranked(dims.clone().into());
    if let Some(at) = wildcard {
        dims[at] = solve_wildcard(&input.shape, &dims, at)?;
    } else if let (Some(have), Some(want)) = (input.shape.elements(), given.elements())
        && have != want
    {
        return Err(Conflict::new(
            "Reshape keeps the element count",
            format!("{want} elements ({given})"),
            format!("{have} ({})", input.shape),
        ));
    }
    call.one(Fact::of(input.dtype, Shape::Ranked(dims.into())))
}

/// The size a `-1` stands for: the input's elements over the others', or
/// the batch when the input's and the others' differ by exactly it; a
/// count the others do not divide is a conflict, as in TensorFlow.
fn solve_wildcard(input: &Shape, dims: &[Dim], at: usize) -> Result<Dim, Conflict> {
    let others = dims
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .try_fold(1i64, |n, (_, d)| d.known().map(|k| n * k));
    let Some(input_dims) = input.dims() else {
        return Ok(Dim::Unknown);
    };
    if let (Some(total), Some(others)) = (input.elements(), others) {
        return match others {
            0 => Ok(Dim::Unknown),
            _ if total % others == 0 => Ok(Dim::Known(total / others)),
            _ => Err(Conflict::new(
                "Reshape keeps the element count",
                format!("a multiple of {others} elements ({})", Shape::ranked(dims)),
                format!("{total} ({input})"),
            )),
        };
    }
    // [batch, a, b] reshaped to [-1, a*b]: the wildcard is the batch.
    let batch_first = input_dims.first() == Some(&Dim::Batch);
    let rest = input_dims[1..]
        .iter()
        .try_fold(1i64, |n, d| d.known().map(|k| n * k));
    Ok(match (batch_first, rest, others) {
        (true, Some(rest), Some(others)) if rest == others => Dim::Batch,
        _ => Dim::Unknown,
    })
}

/// `ExpandDims`: a 1 inserted at the axis.
pub fn expand_dims(call: &Call) -> Outcome {
    let input = call.input(0);
    let axis = call.input(1).known_scalar().or_else(|| {
        call.input(1)
            .known_values()
            .and_then(|v| v.first().copied())
    });
    let shape = match (input.shape.dims(), axis) {
        (Some(dims), Some(axis)) => {
            let rank = dims.len() as i64 + 1;
            let at = if axis < 0 { axis + rank } else { axis };
            if !(0..rank).contains(&at) {
                return Err(Conflict::new(
                    "ExpandDims' axis",
                    format!("in [-{rank}, {rank})"),
                    axis,
                ));
            }
            let mut dims = dims.to_vec();
            dims.insert(at as usize, Dim::Known(1));
            Shape::Ranked(dims.into())
        }
        (Some(dims), None) => Shape::Ranked(smallvec::smallvec![Dim::Unknown; dims.len() + 1]),
        _ => Shape::Unknown,
    };
    let value = input
        .value
        .clone()
        .filter(|_| input.shape.rank() == Some(0));
    call.one(call.int_result(input.dtype, shape, value))
}

/// `Squeeze`: the size-1 dimensions named (or all that are known to be 1).
pub fn squeeze(call: &Call) -> Outcome {
    let input = call.input(0);
    let Some(dims) = input.shape.dims() else {
        return call.one(Fact::of(input.dtype, Shape::Unknown));
    };
    let rank = dims.len() as i64;
    let axes: Vec<i64> = call.attr_ints("squeeze_dims").unwrap_or_default().to_vec();
    let axes: Vec<usize> = axes
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a } as usize)
        .collect();
    let mut kept = Vec::new();
    for (i, d) in dims.iter().enumerate() {
        let named = axes.contains(&i);
        if named && d.known().is_some_and(|k| k != 1) {
            return Err(Conflict::new(
                "Squeeze",
                format!("size 1 at axis {i}"),
                &input.shape,
            ));
        }
        let squeezed = named || (axes.is_empty() && *d == Dim::Known(1));
        if axes.is_empty() && *d == Dim::Unknown {
            return call.one(Fact::of(input.dtype, Shape::Unknown));
        }
        if !squeezed {
            kept.push(*d);
        }
    }
    let value = input.value.clone().filter(|v| v.len() == 1);
    call.one(call.int_result(input.dtype, Shape::Ranked(kept.into()), value))
}

/// `Transpose`: the dimensions permuted.
pub fn transpose(call: &Call) -> Outcome {
    let input = call.input(0);
    let perm = call.input(1).known_values();
    let shape = match (input.shape.dims(), perm) {
        (Some(dims), Some(perm)) if perm.len() == dims.len() => {
            let picked: Option<Vec<Dim>> = perm
                .iter()
                .map(|&p| dims.get(p as usize).copied())
                .collect();
            picked.map_or(Shape::Unknown, |d| Shape::Ranked(d.into()))
        }
        (Some(dims), Some(perm)) => {
            return Err(Conflict::new(
                "Transpose's perm",
                format!("{} axes", dims.len()),
                perm.len(),
            ));
        }
        (Some(dims), None) => Shape::Ranked(smallvec::smallvec![Dim::Unknown; dims.len()]),
        _ => Shape::Unknown,
    };
    call.one(Fact::of(input.dtype, shape))
}

/// `ConcatV2` (axis last) and `Concat` (axis first): the inputs joined.
pub fn concat(call: &Call) -> Outcome {
    let n = call.inputs.len().saturating_sub(1);
    let (parts, axis) = if call.op == "Concat" {
        (&call.inputs[1.min(call.inputs.len())..], call.input(0))
    } else {
        (&call.inputs[..n], call.input(n))
    };
    let dtype = parts.iter().find_map(|f| f.dtype);
    let Some(axis) = axis.known_scalar() else {
        let rank = parts.iter().find_map(|f| f.shape.rank());
        let shape = rank.map_or(Shape::Unknown, |r| {
            Shape::Ranked(smallvec::smallvec![Dim::Unknown; r])
        });
        return call.one(Fact::of(dtype, shape));
    };
    let mut joined: Option<Vec<Dim>> = None;
    for part in parts {
        let Some(dims) = part.shape.dims() else {
            return call.one(Fact::of(dtype, Shape::Unknown));
        };
        joined = Some(match joined {
            None => dims.to_vec(),
            Some(sofar) => join_along(&sofar, dims, axis)?,
        });
    }
    let shape = joined.map_or(Shape::Unknown, |d| Shape::Ranked(d.into()));
    let value = concat_values(parts);
    call.one(call.int_result(dtype, shape, value))
}

fn join_along(sofar: &[Dim], next: &[Dim], axis: i64) -> Result<Vec<Dim>, Conflict> {
    if sofar.len() != next.len() {
        return Err(Conflict::new(
            "Concat's inputs",
            format!("rank {}", sofar.len()),
            format!("rank {}", next.len()),
        ));
    }
    let rank = sofar.len() as i64;
    let at = if axis < 0 { axis + rank } else { axis } as usize;
    let mut out = Vec::with_capacity(sofar.len());
    for (i, (&a, &b)) in sofar.iter().zip(next).enumerate() {
        out.push(if i == at {
            match (a, b) {
                (Dim::Known(x), Dim::Known(y)) => x.checked_add(y).map_or(Dim::Unknown, Dim::Known),
                _ => Dim::Unknown,
            }
        } else {
            a.unify(b)
                .ok_or_else(|| Conflict::new(format!("Concat's inputs at axis {i}"), a, b))?
        });
    }
    Ok(out)
}

fn concat_values(parts: &[&Fact]) -> Option<Vec<Dim>> {
    let mut values = Vec::new();
    for part in parts {
        if part.shape.rank() != Some(1) {
            return None;
        }
        values.extend(part.value.as_ref()?.iter().copied());
    }
    Some(values)
}

/// `Pack`: the inputs stacked along a new axis.
pub fn pack(call: &Call) -> Outcome {
    let axis = call.attr_int("axis").unwrap_or(0);
    let dtype = call.inputs.iter().find_map(|f| f.dtype);
    let mut common = Shape::Unknown;
    for part in call.inputs {
        common = unify_shapes(&common, &part.shape)
            .ok_or_else(|| Conflict::new("Pack's inputs", &common, &part.shape))?;
    }
    let shape = match common.dims() {
        Some(dims) => {
            let rank = dims.len() as i64 + 1;
            let at = if axis < 0 { axis + rank } else { axis } as usize;
            let mut dims = dims.to_vec();
            dims.insert(at.min(dims.len()), Dim::Known(call.inputs.len() as i64));
            Shape::Ranked(dims.into())
        }
        None => Shape::Unknown,
    };
    let scalars = common.rank() == Some(0);
    let value = scalars.then(|| {
        call.inputs
            .iter()
            .map(|f| {
                f.value
                    .as_ref()
                    .and_then(|v| v.first().copied())
                    .unwrap_or(Dim::Unknown)
            })
            .collect()
    });
    call.one(call.int_result(dtype, shape, value))
}

/// `Fill`: the dims' value as the shape.
pub fn fill(call: &Call) -> Outcome {
    let (dims, value) = (call.input(0), call.input(1));
    let shape = match &dims.value {
        Some(dims) => Shape::Ranked(dims.clone().into()),
        None => Shape::Unknown,
    };
    call.one(Fact::of(value.dtype, shape))
}

/// `Tile`: each dimension times its multiple.
pub fn tile(call: &Call) -> Outcome {
    let (input, multiples) = (call.input(0), call.input(1));
    let shape = match (input.shape.dims(), multiples.value.as_ref()) {
        (Some(dims), Some(m)) if m.len() == dims.len() => {
            Shape::Ranked(dims.iter().zip(m).map(|(d, k)| d.times(*k)).collect())
        }
        (Some(dims), Some(m)) => {
            return Err(Conflict::new(
                "Tile's multiples",
                format!("{} of them", dims.len()),
                m.len(),
            ));
        }
        (Some(dims), None) => Shape::Ranked(smallvec::smallvec![Dim::Unknown; dims.len()]),
        _ => Shape::Unknown,
    };
    call.one(Fact::of(input.dtype, shape))
}

/// `Slice`: the sizes, `-1` meaning the rest.
pub fn slice(call: &Call) -> Outcome {
    let (input, begin, size) = (call.input(0), call.input(1), call.input(2));
    let shape = match (input.shape.dims(), size.value.as_ref()) {
        (Some(dims), Some(size)) if size.len() == dims.len() => {
            let begins = begin.known_values();
            let out = dims
                .iter()
                .zip(size)
                .enumerate()
                .map(|(i, (d, s))| match s {
                    Dim::Known(-1) => match (d, begins.as_ref().map(|b| b[i])) {
                        (Dim::Known(n), Some(b)) => {
                            n.checked_sub(b).map_or(Dim::Unknown, Dim::Known)
                        }
                        (d, Some(0)) => *d,
                        _ => Dim::Unknown,
                    },
                    other => *other,
                });
            Shape::Ranked(out.collect())
        }
        (Some(dims), _) => Shape::Ranked(smallvec::smallvec![Dim::Unknown; dims.len()]),
        _ => Shape::Unknown,
    };
    let value = match (&input.value, begin.known_values(), size.known_values()) {
        (Some(v), Some(b), Some(s)) if b.len() == 1 && s.len() == 1 => {
            let start = b[0].max(0) as usize;
            let end = if s[0] < 0 {
                v.len()
            } else {
                start + s[0] as usize
            };
            v.get(start..end.min(v.len())).map(<[Dim]>::to_vec)
        }
        _ => None,
    };
    call.one(call.int_result(input.dtype, shape, value))
}
