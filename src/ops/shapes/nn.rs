//! Matrix products, convolutions, pooling, batch norm and reductions.

use super::call::{Call, Conflict, Facts, Outcome};
use super::fact::{Dim, Fact, Shape};
use crate::format::proto::DataType;

/// `MatMul`: `[m, k] x [k, n]`, either side transposed.
pub fn matmul(call: &Call) -> Outcome {
    let (a, b) = (call.input(0), call.input(1));
    super::elementwise::same_dtypes(call.op, a.dtype, b.dtype)?;
    let dtype = a.dtype.or(b.dtype);
    let (Some(x), Some(y)) = (a.shape.dims(), b.shape.dims()) else {
        return call.one(Fact::of(
            dtype,
            Shape::Ranked(smallvec::smallvec![Dim::Unknown; 2]),
        ));
    };
    if x.len() != 2 || y.len() != 2 {
        let found = if x.len() != 2 { &a.shape } else { &b.shape };
        return Err(Conflict::new("MatMul's inputs", "rank 2", found));
    }
    let flip = |dims: &[Dim], key: &str| match call.attr_bool(key) {
        Some(true) => (dims[1], dims[0]),
        _ => (dims[0], dims[1]),
    };
    let ((m, k), (k2, n)) = (flip(x, "transpose_a"), flip(y, "transpose_b"));
    if k.unify(k2).is_none() {
        return Err(Conflict::new(
            "MatMul's inner dimensions",
            format!("equal sizes ({} x {})", a.shape, b.shape),
            format!("{k} and {k2}"),
        ));
    }
    call.one(Fact::of(dtype, Shape::Ranked(smallvec::smallvec![m, n])))
}

/// `BatchMatMul*`: the batch dimensions broadcast, then a matrix product.
pub fn batch_matmul(call: &Call) -> Outcome {
    let (a, b) = (call.input(0), call.input(1));
    if call.op != "BatchMatMulV3" {
        // V3 takes its two operands in types of their own (`Ta`, `Tb`).
        super::elementwise::same_dtypes(call.op, a.dtype, b.dtype)?;
    }
    let dtype = a.dtype.or(b.dtype);
    let (Some(x), Some(y)) = (a.shape.dims(), b.shape.dims()) else {
        return call.one(Fact::of(dtype, Shape::Unknown));
    };
    if x.len() < 2 || y.len() < 2 {
        return Err(Conflict::new(
            "BatchMatMul's inputs",
            "rank at least 2",
            format!("{} and {}", a.shape, b.shape),
        ));
    }
    let adj = |key: &str| call.attr_bool(key).unwrap_or(false);
    let (m, k) = pair(&x[x.len() - 2..], adj("adj_x"));
    let (k2, n) = pair(&y[y.len() - 2..], adj("adj_y"));
    if k.unify(k2).is_none() {
        return Err(Conflict::new("BatchMatMul's inner dimensions", k, k2));
    }
    let batch = super::elementwise::broadcast(
        &Shape::Ranked(x[..x.len() - 2].to_vec().into()),
        &Shape::Ranked(y[..y.len() - 2].to_vec().into()),
    )
    .map_err(|(p, q)| Conflict::new("BatchMatMul's batch dimensions", p, q))?;
    let mut dims = batch.dims().map(<[Dim]>::to_vec).unwrap_or_default();
    dims.extend([m, n]);
    call.one(Fact::of(dtype, Shape::Ranked(dims.into())))
}

fn pair(dims: &[Dim], swap: bool) -> (Dim, Dim) {
    if swap {
        (dims[1], dims[0])
    } else {
        (dims[0], dims[1])
    }
}

/// Spatial output size of a window: `SAME` rounds up, `VALID` drops the edge.
fn window(input: Dim, size: Dim, stride: i64, dilation: i64, padding: &str) -> Dim {
    let (Dim::Known(n), Dim::Known(k)) = (input, size) else {
        return Dim::Unknown;
    };
    if stride <= 0 {
        return Dim::Unknown;
    }
    // Checked: the sizes come from the graph, which may be hostile.
    let effective = k
        .checked_sub(1)
        .and_then(|k| k.checked_mul(dilation))
        .map(|e| e + 1);
    let size = match (padding, effective) {
        ("SAME", _) => n.checked_add(stride - 1).map(|n| n / stride),
        ("VALID", Some(effective)) if n >= effective => Some((n - effective) / stride + 1),
        _ => None,
    };
    size.map_or(Dim::Unknown, Dim::Known)
}

/// `Conv2D`, `DepthwiseConv2dNative`, `MaxPool`, `AvgPool` (NHWC or NCHW).
pub fn conv_or_pool(call: &Call) -> Outcome {
    let input = call.input(0);
    let dtype = input.dtype;
    let Some(dims) = input.shape.dims() else {
        return call.one(Fact::of(
            dtype,
            Shape::Ranked(smallvec::smallvec![Dim::Unknown; 4]),
        ));
    };
    if dims.len() != 4 {
        return Err(Conflict::new(
            format!("{}'s input", call.op),
            "rank 4",
            &input.shape,
        ));
    }
    let nchw = call.attr_string("data_format") == Some("NCHW");
    let (h, w, c) = if nchw { (2, 3, 1) } else { (1, 2, 3) };
    let strides = call.attr_ints("strides").unwrap_or(&[1, 1, 1, 1]).to_vec();
    let dilations = call
        .attr_ints("dilations")
        .unwrap_or(&[1, 1, 1, 1])
        .to_vec();
    let padding = call.attr_string("padding").unwrap_or("VALID").to_string();
    let pooling = call.op.ends_with("Pool");
    let (kh, kw, channels) = if pooling {
        let k = call.attr_ints("ksize").unwrap_or(&[1, 1, 1, 1]);
        // A window attribute shorter than the input's rank is a malformed
        // graph: its size is unknown here, never a panic.
        let size = |i: usize| k.get(i).map_or(Dim::Unknown, |&n| Dim::Known(n));
        (size(h), size(w), dims[c])
    } else {
        filter_dims(call, dims[c])?
    };
    let at = |v: &[i64], i: usize| v.get(i).copied().unwrap_or(1);
    let oh = window(dims[h], kh, at(&strides, h), at(&dilations, h), &padding);
    let ow = window(dims[w], kw, at(&strides, w), at(&dilations, w), &padding);
    let mut out = vec![dims[0], Dim::Unknown, Dim::Unknown, Dim::Unknown];
    out[h] = oh;
    out[w] = ow;
    out[c] = channels;
    call.one(Fact::of(dtype, Shape::Ranked(out.into())))
}

/// A convolution's filter `[kh, kw, in, out]` checked against the input's
/// channels; the output channels (times the multiplier for depthwise).
fn filter_dims(call: &Call, channels: Dim) -> Result<(Dim, Dim, Dim), Conflict> {
    let filter = call.input_shape(1);
    let Some(f) = filter.dims() else {
        return Ok((Dim::Unknown, Dim::Unknown, Dim::Unknown));
    };
    if f.len() != 4 {
        return Err(Conflict::new(
            format!("{}'s filter", call.op),
            "rank 4",
            filter,
        ));
    }
    if channels.unify(f[2]).is_none()
        && call.op == "Conv2D"
        && f[2]
            .known()
            .is_some_and(|k| channels.known().is_some_and(|c| c % k != 0))
    {
        return Err(Conflict::new(
            "Conv2D's filter",
            format!("{channels} input channels"),
            filter,
        ));
    }
    let out = if call.op == "DepthwiseConv2dNative" {
        channels.times(f[3])
    } else {
        f[3]
    };
    Ok((f[0], f[1], out))
}

/// `FusedBatchNorm*`: `y` has `x`'s shape; the statistics are vectors of its channels.
pub fn fused_batch_norm(call: &Call) -> Outcome {
    let x = call.input(0);
    if let Some(rank) = x.shape.rank()
        && rank != 4
        && rank != 5
    {
        return Err(Conflict::new(
            format!("{}'s x", call.op),
            "rank 4 or 5",
            &x.shape,
        ));
    }
    let nchw = call
        .attr_string("data_format")
        .is_some_and(|f| f.starts_with("NC"));
    let channels = x
        .shape
        .dim(if nchw { 1 } else { -1 })
        .unwrap_or(Dim::Unknown);
    let stats = Fact::of(Some(DataType::DtFloat), Shape::vector(channels));
    let mut outputs: Facts = smallvec::smallvec![Fact::of(x.dtype, x.shape.clone())];
    outputs.resize(call.outputs.max(1), stats);
    Ok(outputs)
}

/// Reductions over the axes of input 1, the reduced dimensions dropped or
/// kept as 1 (`keep_dims`); `ArgMax`/`ArgMin` drop one axis.
pub fn reduction(call: &Call) -> Outcome {
    let input = call.input(0);
    let arg = call.op.starts_with("Arg");
    let dtype = if arg {
        Some(call.attr_type("output_type").unwrap_or(DataType::DtInt64))
    } else if matches!(call.op, "All" | "Any") {
        Some(DataType::DtBool)
    } else {
        input.dtype
    };
    let keep = !arg && call.attr_bool("keep_dims").unwrap_or(false);
    let axes = call.input(1).known_values();
    let (Some(dims), Some(axes)) = (input.shape.dims(), axes) else {
        return call.one(Fact::of(dtype, Shape::Unknown));
    };
    let rank = dims.len() as i64;
    let mut reduced = vec![false; dims.len()];
    for axis in axes {
        let at = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&at) {
            return Err(Conflict::new(
                format!("{}'s axis", call.op),
                format!("in [-{rank}, {rank})"),
                axis,
            ));
        }
        reduced[at as usize] = true;
    }
    let out = dims
        .iter()
        .zip(&reduced)
        .filter_map(|(d, r)| match (r, keep) {
            (true, true) => Some(Dim::Known(1)),
            (true, false) => None,
            (false, _) => Some(*d),
        });
    call.one(Fact::of(dtype, Shape::Ranked(out.collect())))
}

/// `TopKV2` / `TopK`: values and indices, the last axis cut to `k`.
pub fn top_k(call: &Call) -> Outcome {
    let input = call.input(0);
    let k = match call.op {
        "TopK" => call.attr_int("k"),
        _ => call.input(1).known_scalar(),
    }
    .map_or(Dim::Unknown, Dim::Known);
    let shape = match input.shape.dims() {
        Some([lead @ .., last]) => {
            if let (Dim::Known(n), Dim::Known(k)) = (last, k)
                && *n < k
            {
                return Err(Conflict::new("TopK's k", format!("at most {n}"), k));
            }
            let mut dims = lead.to_vec();
            dims.push(k);
            Shape::Ranked(dims.into())
        }
        Some([]) => {
            return Err(Conflict::new(
                "TopK's input",
                "rank at least 1",
                &input.shape,
            ));
        }
        None => Shape::Unknown,
    };
    Ok(smallvec::smallvec![
        Fact::of(input.dtype, shape.clone()),
        Fact::of(Some(DataType::DtInt32), shape),
    ])
}

/// `Conv2DBackpropInput` (a transposed convolution): the `input_sizes`
/// input's value.
pub fn conv_backprop_input(call: &Call) -> Outcome {
    let shape = super::sparse::shape_from_value(call.input(0));
    call.one(Fact::of(call.input(2).dtype, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes a hostile graph states are unknown when they make no sense,
    /// never an overflow.
    #[test]
    fn a_window_of_absurd_sizes_is_unknown_not_an_overflow() {
        let huge = Dim::Known(i64::MAX);
        assert_eq!(window(huge, Dim::Known(3), 2, 1, "SAME"), Dim::Unknown);
        assert_eq!(
            window(Dim::Known(8), huge, 1, i64::MAX, "VALID"),
            Dim::Unknown
        );
        assert_eq!(
            window(Dim::Known(8), Dim::Known(3), 1, 1, "VALID"),
            Dim::Known(6)
        );
        assert_eq!(
            window(Dim::Known(8), Dim::Known(3), 2, 1, "SAME"),
            Dim::Known(4)
        );
    }
}
