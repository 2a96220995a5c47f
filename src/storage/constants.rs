//! Stores the graph's float32 (and int64) `Const`s in a smaller dtype. The
//! converted value moves to a new `Const` under a fresh name; the original
//! node becomes the `Cast` back (int8: `Cast` then `Mul` by a `Const` of
//! scales), so every consumer and signature still reads the original name
//! and dtype. Runs on any graph, so also after variables were frozen into
//! constants.

use super::StorageOptions;
use super::convert::{ErrorStats, F16_MAX, FloatSurvey, channels, to_f16, to_i32, to_int8};
use super::plan::{StoredForm, below_threshold, target_form};
use super::report::{ConvertedTensor, SkippedTensor, StorageReport, TensorKind};
use super::uses::float_math_only;
use crate::ir::{AttrExt, Graph, IrError, Node, NodeId, TensorRef};
use crate::proto::DataType;
use crate::tensor::{Tensor, Values};
use crate::typing::dtype_name;

/// A constant's new stored value and what reads it back.
struct Stored {
    value: Tensor,
    /// int8 only: the per-channel scales.
    scales: Option<Tensor>,
    error: ErrorStats,
}

/// Converts every eligible `Const` of `graph` as `options` say; lists the
/// float32 / int64 constants it leaves alone, with the reason.
pub fn convert_constants(
    graph: &mut Graph,
    options: &StorageOptions,
) -> Result<StorageReport, IrError> {
    let mut report = StorageReport::new(options);
    if !options.is_active() {
        return Ok(report);
    }
    for id in graph.node_ids() {
        if graph.op(id) != "Const" {
            continue;
        }
        let Ok(dtype) = graph.node(id).attr_type("dtype") else {
            continue;
        };
        let Ok(form) = target_form(dtype, options) else {
            continue;
        };
        let skip = |reason: String| SkippedTensor {
            name: graph.name(id).to_string(),
            kind: TensorKind::Constant,
            dtype: dtype_name(dtype as i32),
            reason,
        };
        match stored_value(graph, id, form, options) {
            Ok((tensor, stored)) => {
                let converted = describe(graph.name(id), &tensor, &stored, form);
                rewrite(graph, id, stored)?;
                report.convert(converted);
            }
            Err(reason) => report.skip(skip(reason)),
        }
    }
    Ok(report)
}

/// The constant's value and its converted form, or why it stays.
fn stored_value(
    graph: &Graph,
    id: NodeId,
    form: StoredForm,
    options: &StorageOptions,
) -> Result<(Tensor, Stored), String> {
    let proto = graph
        .node(id)
        .attr_tensor("value")
        .map_err(|e| e.to_string())?;
    let tensor = Tensor::from_proto(proto).map_err(|e| format!("its value: {e}"))?;
    let elements = tensor.shape.iter().map(|&d| d.max(0) as u64).product();
    if let Some(reason) = below_threshold(elements, options) {
        return Err(reason);
    }
    if form != StoredForm::Int32 {
        float_math_only(graph, TensorRef::new(id, 0)).map_err(|b| b.to_string())?;
    }
    let stored = match (&tensor.values, form) {
        (Values::F32(values), StoredForm::Half) => half(&tensor.shape, values)?,
        (Values::F32(values), StoredForm::Int8) => int8(&tensor.shape, values)?,
        (Values::I64(values), StoredForm::Int32) => int32(&tensor.shape, values)?,
        _ => return Err("its value does not match its dtype".into()),
    };
    Ok((tensor, stored))
}

fn half(shape: &[i64], values: &[f32]) -> Result<Stored, String> {
    let max = values.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max > F16_MAX {
        return Err(format!(
            "a value of magnitude {max} is beyond float16's largest, {F16_MAX}"
        ));
    }
    let mut error = ErrorStats::default();
    let halves = to_f16(values, &mut error);
    Ok(Stored {
        value: tensor(DataType::DtHalf, shape, Values::F16(halves)),
        scales: None,
        error,
    })
}

fn int8(shape: &[i64], values: &[f32]) -> Result<Stored, String> {
    let mut survey = FloatSurvey::new(channels(shape));
    survey.observe(values);
    if survey.non_finite() > 0 {
        return Err(format!(
            "{} values are NaN or infinite, which int8 cannot hold",
            survey.non_finite()
        ));
    }
    let scales = survey.scales();
    let mut error = ErrorStats::default();
    let q = to_int8(values, &scales, 0, &mut error);
    let scales_shape: Vec<i64> = match shape.len() {
        0 | 1 => Vec::new(),
        _ => vec![scales.len() as i64],
    };
    Ok(Stored {
        value: tensor(DataType::DtInt8, shape, Values::I8(q)),
        scales: Some(tensor(
            DataType::DtFloat,
            &scales_shape,
            Values::F32(scales),
        )),
        error,
    })
}

fn int32(shape: &[i64], values: &[i64]) -> Result<Stored, String> {
    let narrow = to_i32(values).ok_or_else(|| {
        let (min, max) = values
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        format!("values from {min} to {max} are out of int32 range")
    })?;
    Ok(Stored {
        value: tensor(DataType::DtInt32, shape, Values::I32(narrow)),
        scales: None,
        error: ErrorStats::default(),
    })
}

fn tensor(dtype: DataType, shape: &[i64], values: Values) -> Tensor {
    Tensor {
        dtype,
        shape: shape.to_vec(),
        values,
    }
}

fn describe(name: &str, before: &Tensor, stored: &Stored, form: StoredForm) -> ConvertedTensor {
    let elements: u64 = before.shape.iter().map(|&d| d.max(0) as u64).product();
    let (before_size, after_size) = match form {
        StoredForm::Half => (4, 2),
        StoredForm::Int8 => (4, 1),
        StoredForm::Int32 => (8, 4),
        StoredForm::AsIs => (4, 4),
    };
    let scale_bytes = stored.scales.as_ref().map_or(0, |s| match &s.values {
        Values::F32(v) => 4 * v.len() as u64,
        _ => 0,
    });
    ConvertedTensor {
        name: name.to_string(),
        kind: TensorKind::Constant,
        shape: before.shape.clone(),
        from: dtype_name(before.dtype as i32),
        to: dtype_name(stored.value.dtype as i32),
        bytes_before: elements * before_size,
        bytes_after: elements * after_size + scale_bytes,
        error: stored.error,
    }
}

/// Puts the stored value in a new `Const` and turns `id` into the read-back.
fn rewrite(graph: &mut Graph, id: NodeId, stored: Stored) -> Result<(), IrError> {
    let name = graph.name(id).to_string();
    let original = graph.node(id).attr_type("dtype")?;
    let value = add_const(graph, id, &format!("{name}/stored"), &stored.value)?;
    let cast = |node: Node| {
        node.with_type("SrcT", stored.value.dtype)
            .with_type("DstT", original)
    };
    let Some(scales) = &stored.scales else {
        turn_into(graph, id, cast(Node::new("", "Cast")), &[value]);
        return Ok(());
    };
    let scales = add_const(graph, id, &format!("{name}/scales"), scales)?;
    let device = graph.node(id).device.clone();
    let mut to_float = cast(Node::new(
        graph.unique_name(&format!("{name}/to_float")),
        "Cast",
    ));
    to_float.device = device;
    let to_float = graph.add_node(to_float)?;
    graph.push_data_input(to_float, TensorRef::new(value, 0));
    let mul = Node::new("", "Mul").with_type("T", DataType::DtFloat);
    turn_into(graph, id, mul, &[to_float, scales]);
    Ok(())
}

/// A new `Const` holding `value`, on the same device and behind the same
/// control inputs as `like` (which keep it in `like`'s loop frame).
fn add_const(
    graph: &mut Graph,
    like: NodeId,
    base: &str,
    value: &Tensor,
) -> Result<NodeId, IrError> {
    let mut node = Node::new(graph.unique_name(base), "Const").with_type("dtype", value.dtype);
    node.set_attr_tensor("value", value.to_proto());
    node.device = graph.node(like).device.clone();
    let id = graph.add_node(node)?;
    for control in graph.control_inputs(like) {
        graph.add_control_input(id, control);
    }
    Ok(id)
}

/// Gives `id` the op and attrs of `template` and `inputs` as its data inputs.
fn turn_into(graph: &mut Graph, id: NodeId, template: Node, inputs: &[NodeId]) {
    let node = graph.node_mut(id);
    node.op = template.op;
    node.attrs = template.attrs;
    for &input in inputs {
        graph.push_data_input(id, TensorRef::new(input, 0));
    }
}
