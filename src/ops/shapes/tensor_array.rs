//! TensorArrays (the TF1 `TensorArrayV3` family a `dynamic_rnn` or a
//! `tf.TensorArray` in a while loop leaves): the handle carries the array's
//! size as its value, so `TensorArraySizeV3` and the gather that stacks the
//! array know how many elements it holds.

use super::call::{Call, Outcome};
use super::fact::{Dim, Fact, Shape};
use crate::format::proto::DataType;

/// `TensorArrayV3`: the handle (carrying the size) and the flow.
pub fn tensor_array(call: &Call) -> Outcome {
    let size = call.input(0).value.filter(|v| v.len() == 1);
    let handle = Fact {
        value: size,
        ..Fact::of(Some(DataType::DtResource), Shape::vector(Dim::Known(2)))
    };
    let flow = Fact::of(Some(DataType::DtFloat), Shape::scalar());
    Ok(vec![handle, flow])
}

/// `TensorArraySizeV3`: the size the handle carries.
pub fn size(call: &Call) -> Outcome {
    let value = call.input(0).value.filter(|v| v.len() == 1);
    call.one(call.int_result(Some(DataType::DtInt32), Shape::scalar(), value))
}

/// `TensorArrayGatherV3`: one element per index, each of the element shape.
pub fn gather(call: &Call) -> Outcome {
    let indices = call.input_shape(1);
    let element = call.attr_shape("element_shape");
    let shape = match (indices.dim(0), element.dims()) {
        (Some(n), Some(dims)) if indices.rank() == Some(1) => {
            let mut out = vec![n];
            out.extend_from_slice(dims);
            Shape::Ranked(out)
        }
        _ => Shape::Unknown,
    };
    call.one(Fact::of(call.attr_type("dtype"), shape))
}

/// Writes and scatters give the next flow.
pub fn flow(call: &Call) -> Outcome {
    call.one(Fact::of(Some(DataType::DtFloat), Shape::scalar()))
}
