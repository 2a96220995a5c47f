//! Ops that pick parts of a tensor by index: strided slices (the usual way
//! a shape's batch element is read), gathers, one-hots, ranges, unpacking.

use super::call::{Call, Conflict, Outcome};
use super::fact::{Dim, Fact, MAX_TRACKED_VALUES, Shape};
use crate::format::proto::DataType;

/// `StridedSlice` without ellipsis or new axes (else unknown): each
/// dimension's extent from known begin, end and stride, masks applied,
/// shrunk axes dropped; the value sliced for 1-D integer tensors.
pub fn strided_slice(call: &Call) -> Outcome {
    let input = call.input(0);
    let mask = |key: &str| call.attr_int(key).unwrap_or(0);
    let masks = Masks {
        begin: mask("begin_mask"),
        end: mask("end_mask"),
        shrink: mask("shrink_axis_mask"),
    };
    let plain = mask("ellipsis_mask") == 0 && mask("new_axis_mask") == 0;
    let (begin, end, strides) = (
        call.input(1).value.as_deref(),
        call.input(2).value.as_deref(),
        call.input(3).value.as_deref(),
    );
    let (Some(dims), true, Some(begin), Some(end), Some(strides)) =
        (input.shape.dims(), plain, begin, end, strides)
    else {
        return call.one(Fact::of(input.dtype, Shape::Unknown));
    };
    if begin.len() != end.len() || begin.len() != strides.len() || begin.len() > dims.len() {
        return Err(Conflict::new(
            "StridedSlice's begin, end and strides",
            format!("up to {} of each", dims.len()),
            format!("{}, {}, {}", begin.len(), end.len(), strides.len()),
        ));
    }
    let bounds = Bounds {
        begin,
        end,
        strides,
    };
    let (out, value) = slice_axes(dims, input.value.clone(), &bounds, &masks);
    let value = value.filter(|_| dims.len() <= 1);
    call.one(call.int_result(input.dtype, Shape::Ranked(out.into()), value))
}

/// A strided slice's masks, one bit per axis.
struct Masks {
    begin: i64,
    end: i64,
    shrink: i64,
}

/// A strided slice's known begin, end and strides.
struct Bounds<'a> {
    begin: &'a [Dim],
    end: &'a [Dim],
    strides: &'a [Dim],
}

/// The sliced dimensions, and the first axis's values sliced alike.
fn slice_axes(
    dims: &[Dim],
    mut value: Option<Vec<Dim>>,
    bounds: &Bounds,
    masks: &Masks,
) -> (Vec<Dim>, Option<Vec<Dim>>) {
    let mut out = Vec::new();
    for (i, &d) in dims.iter().enumerate() {
        if i >= bounds.begin.len() {
            out.push(d);
            continue;
        }
        let bit = 1 << i;
        if masks.shrink & bit != 0 {
            if i == 0 {
                let at = bounds.begin[i].known();
                value = value.and_then(|v| at.and_then(|at| pick(&v, at)).map(|e| vec![e]));
            }
            continue;
        }
        let known = |d: Dim, masked: bool| {
            if masked {
                Some(None)
            } else {
                d.known().map(Some)
            }
        };
        let (Some(begin), Some(end), Some(stride)) = (
            known(bounds.begin[i], masks.begin & bit != 0),
            known(bounds.end[i], masks.end & bit != 0),
            bounds.strides[i].known(),
        ) else {
            value = None;
            out.push(Dim::Unknown);
            continue;
        };
        let range = Extent { begin, end, stride };
        if i == 0 {
            value = value.and_then(|v| {
                range
                    .indices(v.len() as i64)
                    .map(|ix| ix.iter().map(|&j| v[j]).collect())
            });
        }
        out.push(match d {
            Dim::Known(n) => range
                .indices(n)
                .map_or(Dim::Unknown, |ix| Dim::Known(ix.len() as i64)),
            _ if range.begin.is_none() && range.end.is_none() && range.stride == 1 => d,
            _ => Dim::Unknown,
        });
    }
    (out, value)
}

/// Element `index` (negative from the end) of `values`.
fn pick(values: &[Dim], index: i64) -> Option<Dim> {
    let at = if index < 0 {
        values.len() as i64 + index
    } else {
        index
    };
    values.get(usize::try_from(at).ok()?).copied()
}

/// One axis of a strided slice; `None` bounds are the masked ones.
struct Extent {
    begin: Option<i64>,
    end: Option<i64>,
    stride: i64,
}

impl Extent {
    /// The indices taken from an axis of `n` elements, as Python slices clamp them.
    fn indices(&self, n: i64) -> Option<Vec<usize>> {
        if self.stride == 0 || n > 1 << 20 {
            return None;
        }
        let clamp = |x: i64, low: i64, high: i64| x.clamp(low, high);
        let norm = |x: i64| if x < 0 { x + n } else { x };
        let (start, stop) = if self.stride > 0 {
            (
                self.begin.map_or(0, |b| clamp(norm(b), 0, n)),
                self.end.map_or(n, |e| clamp(norm(e), 0, n)),
            )
        } else {
            (
                self.begin.map_or(n - 1, |b| clamp(norm(b), -1, n - 1)),
                self.end.map_or(-1, |e| clamp(norm(e), -1, n - 1)),
            )
        };
        let mut out = Vec::new();
        let mut i = start;
        while (self.stride > 0 && i < stop) || (self.stride < 0 && i > stop) {
            out.push(i as usize);
            let Some(next) = i.checked_add(self.stride) else {
                break;
            };
            i = next;
        }
        Some(out)
    }
}

/// `GatherV2`: params' dimensions with the axis replaced by the indices'.
pub fn gather(call: &Call) -> Outcome {
    let (mut params, indices) = (call.input(0), call.input(1));
    let handle_params;
    if call.op == "ResourceGather" {
        // Input 0 is the variable's handle, not its value.
        handle_params = Fact::of(
            None,
            params.handle_shape.as_deref().cloned().unwrap_or_default(),
        );
        params = &handle_params;
    }
    let axis = if call.op == "GatherV2" {
        call.input(2).known_scalar()
    } else {
        Some(0)
    };
    let dtype = if call.op == "ResourceGather" {
        call.attr_type("dtype")
    } else {
        params.dtype
    };
    let (Some(p), Some(ix), Some(axis)) = (params.shape.dims(), indices.shape.dims(), axis) else {
        return call.one(Fact::of(dtype, Shape::Unknown));
    };
    let rank = p.len() as i64;
    let at = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&at) {
        return Err(Conflict::new(
            "GatherV2's axis",
            format!("in [-{rank}, {rank})"),
            axis,
        ));
    }
    let at = at as usize;
    let mut dims = p[..at].to_vec();
    dims.extend_from_slice(ix);
    dims.extend_from_slice(&p[at + 1..]);
    let value = match (&params.value, indices.known_values()) {
        (Some(v), Some(ix)) if p.len() == 1 => ix.iter().map(|&i| pick(v, i)).collect(),
        _ => None,
    };
    call.one(call.int_result(dtype, Shape::Ranked(dims.into()), value))
}

/// `OneHot`: a depth-sized axis added.
pub fn one_hot(call: &Call) -> Outcome {
    let indices = call.input(0);
    let depth = call
        .input(1)
        .known_scalar()
        .map_or(Dim::Unknown, Dim::Known);
    let axis = call.attr_int("axis").unwrap_or(-1);
    let dtype = call.input(2).dtype.or_else(|| call.attr_type("T"));
    let shape = match indices.shape.dims() {
        Some(dims) => {
            let mut dims = dims.to_vec();
            let at = if axis < 0 {
                dims.len()
            } else {
                (axis as usize).min(dims.len())
            };
            dims.insert(at, depth);
            Shape::Ranked(dims.into())
        }
        None => Shape::Unknown,
    };
    call.one(Fact::of(dtype, shape))
}

/// `Range`: a vector of `ceil((limit - start) / delta)` elements.
pub fn range(call: &Call) -> Outcome {
    let (start, limit, delta) = (call.input(0), call.input(1), call.input(2));
    let dtype = start.dtype.or_else(|| call.attr_type("Tidx"));
    let length = match (
        start.known_scalar(),
        limit.known_scalar(),
        delta.known_scalar(),
    ) {
        (Some(s), Some(l), Some(d)) if d != 0 => {
            Dim::Known(((l as f64 - s as f64) / d as f64).ceil().max(0.0) as i64)
        }
        _ => Dim::Unknown,
    };
    let value = match (start.known_scalar(), delta.known_scalar(), length) {
        (Some(s), Some(d), Dim::Known(n)) if n as usize <= MAX_TRACKED_VALUES => {
            let at = |i: i64| i.checked_mul(d).and_then(|x| x.checked_add(s));
            Some(
                (0..n)
                    .map(|i| at(i).map_or(Dim::Unknown, Dim::Known))
                    .collect(),
            )
        }
        _ => None,
    };
    call.one(call.int_result(dtype, Shape::vector(length), value))
}

/// `Unpack`: `num` tensors of the input's shape without the axis.
pub fn unpack(call: &Call) -> Outcome {
    let input = call.input(0);
    let axis = call.attr_int("axis").unwrap_or(0);
    let shape = match input.shape.dims() {
        Some(dims) if !dims.is_empty() => {
            let rank = dims.len() as i64;
            let at = if axis < 0 { axis + rank } else { axis } as usize;
            let mut dims = dims.to_vec();
            if at < dims.len() {
                dims.remove(at);
            }
            Shape::Ranked(dims.into())
        }
        _ => Shape::Unknown,
    };
    let values = input
        .value
        .clone()
        .filter(|_| input.shape.rank() == Some(1));
    let facts = (0..call.outputs.max(1))
        .map(|i| {
            let value = values.as_ref().and_then(|v| v.get(i)).map(|e| vec![*e]);
            call.int_result(
                input
                    .dtype
                    .or(Some(DataType::DtInvalid))
                    .filter(|d| *d != DataType::DtInvalid),
                shape.clone(),
                value,
            )
        })
        .collect();
    Ok(facts)
}
