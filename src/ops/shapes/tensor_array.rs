//! TensorArrays (`TensorArrayV3` and the ops on its handle): the handle
//! carries the element shape, as TensorFlow's handle data does, when the
//! array is declared with one (fully known, or `identical_element_shapes`),
//! and the array's size as its value, so `TensorArraySizeV3` (and the
//! gather that stacks the array over its range) knows it.

use super::call::{Call, Outcome};
use super::fact::{Dim, Fact, Shape};
use crate::format::proto::DataType;

/// `TensorArrayV3`: the handle (a resource vector of 2) and the flow.
pub fn tensor_array(call: &Call) -> Outcome {
    let element = call.attr_shape("element_shape");
    let fully_known = element
        .dims()
        .is_some_and(|d| d.iter().all(|x| x.known().is_some()));
    let identical = call.attr_bool("identical_element_shapes").unwrap_or(false);
    let handle = Fact {
        handle_shape: (fully_known || identical).then(|| Box::new(element)),
        value: call.input(0).value.clone().filter(|v| v.len() == 1),
        ..Fact::of(Some(DataType::DtResource), Shape::vector(Dim::Known(2)))
    };
    let flow = Fact::of(Some(DataType::DtFloat), Shape::scalar());
    Ok(smallvec::smallvec![handle, flow])
}

/// The element shape a handle's array holds: the handle's when it knows
/// the rank, else the node's `element_shape` attribute.
fn element_shape(call: &Call) -> Shape {
    call.input(0)
        .handle_shape
        .as_deref()
        .filter(|shape| shape.rank().is_some())
        .cloned()
        .unwrap_or_else(|| call.attr_shape("element_shape"))
}

/// `TensorArrayReadV3`: one element (unknown unless the handle knows it).
pub fn read(call: &Call) -> Outcome {
    let shape = call
        .input(0)
        .handle_shape
        .as_deref()
        .cloned()
        .unwrap_or_default();
    call.one(Fact::of(call.attr_type("dtype"), shape))
}

/// `TensorArrayGatherV3`: the elements at the indices, stacked.
pub fn gather(call: &Call) -> Outcome {
    let count = call.input_shape(1).dim(0).unwrap_or(Dim::Unknown);
    let shape = match element_shape(call).dims() {
        Some(dims) => {
            let mut out = vec![count];
            out.extend_from_slice(dims);
            Shape::Ranked(out.into())
        }
        None => Shape::Unknown,
    };
    call.one(Fact::of(call.attr_type("dtype"), shape))
}

/// `TensorArrayConcatV3`: the elements joined along their first axis, and
/// each one's length.
pub fn concat(call: &Call) -> Outcome {
    let rest = call.attr_shape("element_shape_except0");
    let shape = match rest.dims() {
        Some(dims) => {
            let mut out = vec![Dim::Unknown];
            out.extend_from_slice(dims);
            Shape::Ranked(out.into())
        }
        None => Shape::Unknown,
    };
    Ok(smallvec::smallvec![
        Fact::of(call.attr_type("dtype"), shape),
        Fact::of(Some(DataType::DtInt64), Shape::vector(Dim::Unknown)),
    ])
}

/// `TensorArraySizeV3`: the size the handle carries.
pub fn size(call: &Call) -> Outcome {
    let value = call.input(0).value.clone().filter(|v| v.len() == 1);
    call.one(call.int_result(Some(DataType::DtInt32), Shape::scalar(), value))
}

/// Writes, scatters, splits (a flow scalar) and closing (no outputs).
pub fn scalar(call: &Call) -> Outcome {
    call.all(Fact::of(None, Shape::scalar()))
}
