//! Ops that cut a tensor in pieces or grow it: splits, pads, broadcasts
//! and gathers by coordinates.

use super::call::{Call, Conflict, Outcome};
use super::elementwise::broadcast;
use super::fact::{Dim, Fact, Shape};
use super::sparse::shape_from_value;

/// An axis given as a scalar input, made non-negative for `rank`.
fn axis_of(fact: &Fact, rank: usize) -> Option<usize> {
    let axis = fact.known_scalar()?;
    let at = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(at).ok().filter(|&a| a < rank)
}

/// `Split` (axis, value): `num_split` equal pieces along the axis.
pub fn split(call: &Call) -> Outcome {
    let value = call.input(1);
    let pieces = call.attr_int("num_split").unwrap_or(1).max(1);
    let Some(dims) = value.shape.dims() else {
        return call.all(Fact::of(value.dtype, Shape::Unknown));
    };
    let Some(at) = axis_of(call.input(0), dims.len()) else {
        return call.all(Fact::of(
            value.dtype,
            Shape::Ranked(smallvec::smallvec![Dim::Unknown; dims.len()]),
        ));
    };
    let mut out = dims.to_vec();
    out[at] = match dims[at] {
        Dim::Known(n) if n % pieces == 0 => Dim::Known(n / pieces),
        Dim::Known(n) => {
            return Err(Conflict::new(
                format!("Split's axis {at}"),
                format!("a multiple of {pieces}"),
                n,
            ));
        }
        _ => Dim::Unknown,
    };
    call.all(Fact::of(value.dtype, Shape::Ranked(out.into())))
}

/// `SplitV` (value, size_splits, axis): pieces of the given sizes, one
/// `-1` the rest.
pub fn split_v(call: &Call) -> Outcome {
    let value = call.input(0);
    let Some(dims) = value.shape.dims() else {
        return call.all(Fact::of(value.dtype, Shape::Unknown));
    };
    let (Some(at), Some(sizes)) = (
        axis_of(call.input(2), dims.len()),
        call.input(1).known_values(),
    ) else {
        return call.all(Fact::of(
            value.dtype,
            Shape::Ranked(smallvec::smallvec![Dim::Unknown; dims.len()]),
        ));
    };
    let given: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
    let rest = match dims[at] {
        Dim::Known(n) if n >= given => Dim::Known(n - given),
        _ => Dim::Unknown,
    };
    let facts = (0..call.outputs.max(1))
        .map(|i| {
            let mut out = dims.to_vec();
            out[at] = match sizes.get(i) {
                Some(&s) if s >= 0 => Dim::Known(s),
                Some(_) => rest,
                None => Dim::Unknown,
            };
            Fact::of(value.dtype, Shape::Ranked(out.into()))
        })
        .collect();
    Ok(facts)
}

/// `Pad` / `PadV2` / `MirrorPad`: each dimension grown by its paddings
/// (a `[rank, 2]` constant).
pub fn pad(call: &Call) -> Outcome {
    let (input, paddings) = (call.input(0), call.input(1));
    let rank = input.shape.rank().or_else(|| {
        paddings
            .shape
            .dim(0)
            .and_then(Dim::known)
            .map(|r| r as usize)
    });
    let Some(rank) = rank else {
        return call.one(Fact::of(input.dtype, Shape::Unknown));
    };
    let pads = paddings.known_values().filter(|p| p.len() == 2 * rank);
    let dims: Vec<Dim> = (0..rank)
        .map(|i| {
            let d = input.shape.dims().map_or(Dim::Unknown, |dims| dims[i]);
            match (d, &pads) {
                (Dim::Known(n), Some(p)) => Dim::Known(n + p[2 * i] + p[2 * i + 1]),
                (d, Some(p)) if p[2 * i] == 0 && p[2 * i + 1] == 0 => d,
                _ => Dim::Unknown,
            }
        })
        .collect();
    call.one(Fact::of(input.dtype, Shape::Ranked(dims.into())))
}

/// `BroadcastTo`: the shape input's value, the input checked against it.
pub fn broadcast_to(call: &Call) -> Outcome {
    let input = call.input(0);
    let target = shape_from_value(call.input(1));
    let shape = match broadcast(&input.shape, &target) {
        Ok(Shape::Ranked(joined)) if target.rank() == Some(joined.len()) => {
            // The target's known sizes stand; where it is unknown the
            // input's size may tell.
            let dims = target.dims().unwrap_or_default();
            let out = dims
                .iter()
                .zip(&joined)
                .map(|(t, j)| if t.known().is_some() { *t } else { *j });
            Shape::Ranked(out.collect())
        }
        _ => target,
    };
    call.one(Fact::of(input.dtype, shape))
}

/// `GatherNd`: the indices' leading dimensions, then the params' past the
/// index depth.
pub fn gather_nd(call: &Call) -> Outcome {
    let (params, indices) = (call.input(0), call.input(1));
    let shape = match (params.shape.dims(), indices.shape.dims()) {
        (Some(p), Some([lead @ .., Dim::Known(depth)])) if (*depth as usize) <= p.len() => {
            let mut out = lead.to_vec();
            out.extend_from_slice(&p[*depth as usize..]);
            Shape::Ranked(out.into())
        }
        _ => Shape::Unknown,
    };
    call.one(Fact::of(params.dtype, shape))
}
