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
use crate::format::proto::DataType;
use crate::format::tensor::{Tensor, Values};
use crate::ir::{AttrExt, Graph, IrError, Node, NodeId, TensorRef};
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
        max_abs_value: max_abs(&before.values),
        error: stored.error,
    }
}

fn max_abs(values: &Values) -> f64 {
    match values {
        Values::F32(v) => v.iter().fold(0f64, |m, x| m.max(f64::from(x.abs()))),
        Values::I64(v) => v.iter().fold(0f64, |m, x| m.max(x.unsigned_abs() as f64)),
        _ => 0.0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::WeightPrecision;

    fn add_const(graph: &mut Graph, name: &str, value: Tensor) -> NodeId {
        let mut node = Node::new(name, "Const").with_type("dtype", value.dtype);
        node.set_attr_tensor("value", value.to_proto());
        graph.add_node(node).unwrap()
    }

    fn consumer(graph: &mut Graph, name: &str, op: &str, input: NodeId) -> NodeId {
        let id = graph.add_node(Node::new(name, op)).unwrap();
        graph.push_data_input(id, TensorRef::new(input, 0));
        id
    }

    fn options(weights: WeightPrecision, narrow_int64: bool) -> StorageOptions {
        StorageOptions {
            weights,
            min_elements: 0,
            narrow_int64,
        }
    }

    #[test]
    fn an_int8_constant_keeps_its_name_as_the_dequantizing_mul() {
        let mut graph = Graph::new();
        let w = tensor(
            DataType::DtFloat,
            &[2, 2],
            Values::F32(vec![1.0, -4.0, 0.5, 2.0]),
        );
        let c = add_const(&mut graph, "w", w);
        let mm = consumer(&mut graph, "mm", "MatMul", c);
        let report = convert_constants(&mut graph, &options(WeightPrecision::Int8, false)).unwrap();
        assert_eq!(report.converted.len(), 1);
        assert_eq!(graph.op(c), "Mul");
        assert_eq!(graph.data_input(mm, 0), Some(TensorRef::new(c, 0)));
        let to_float = graph.data_input(c, 0).unwrap().node;
        assert_eq!(graph.op(to_float), "Cast");
        let stored = graph.data_input(to_float, 0).unwrap().node;
        assert_eq!(graph.name(stored), "w/stored");
        let value = Tensor::from_proto(graph.node(stored).attr_tensor("value").unwrap()).unwrap();
        assert_eq!(value.values, Values::I8(vec![127, -127, 64, 64]));
        let scales = graph.data_input(c, 1).unwrap().node;
        let scales = Tensor::from_proto(graph.node(scales).attr_tensor("value").unwrap()).unwrap();
        assert_eq!(scales.values, Values::F32(vec![1.0 / 127.0, 4.0 / 127.0]));
        assert_eq!((report.bytes_before, report.bytes_after), (16, 4 + 8));
    }

    /// What freezing leaves of a variable: a float32 `Const` under the
    /// variable's name, read through its `/read` identity.
    #[test]
    fn a_frozen_variable_is_stored_as_float16_behind_its_read() {
        let mut graph = Graph::new();
        let values: Vec<f32> = (0..6).map(|i| i as f32 / 3.0).collect();
        let frozen = tensor(DataType::DtFloat, &[3, 2], Values::F32(values.clone()));
        let kernel = add_const(&mut graph, "dense/kernel", frozen);
        let read = consumer(&mut graph, "dense/kernel/read", "Identity", kernel);
        consumer(&mut graph, "dense/MatMul", "MatMul", read);
        let report = convert_constants(&mut graph, &options(WeightPrecision::F16, false)).unwrap();
        assert_eq!(graph.op(kernel), "Cast");
        assert_eq!(
            graph.node(kernel).attr_type("DstT").unwrap(),
            DataType::DtFloat
        );
        let stored = graph.data_input(kernel, 0).unwrap().node;
        let value = Tensor::from_proto(graph.node(stored).attr_tensor("value").unwrap()).unwrap();
        let Values::F16(halves) = value.values else {
            panic!("stored as {:?}", value.dtype)
        };
        for (half, x) in halves.iter().zip(&values) {
            assert!((half.to_f32() - x).abs() <= x.abs() * 2f32.powi(-11));
        }
        let converted = &report.converted[0];
        assert_eq!((converted.bytes_before, converted.bytes_after), (24, 12));
        assert!(converted.error.max_abs_error > 0.0);
    }

    #[test]
    fn a_constant_feeding_a_comparison_or_out_of_range_stays() {
        let mut graph = Graph::new();
        let t = add_const(
            &mut graph,
            "threshold",
            tensor(DataType::DtFloat, &[], Values::F32(vec![0.5])),
        );
        consumer(&mut graph, "cmp", "Greater", t);
        let big = tensor(DataType::DtInt64, &[2], Values::I64(vec![3, 1 << 35]));
        let b = add_const(&mut graph, "big", big);
        let small = tensor(DataType::DtInt64, &[2], Values::I64(vec![3, -4]));
        let s = add_const(&mut graph, "small", small);
        let report = convert_constants(&mut graph, &options(WeightPrecision::F16, true)).unwrap();
        let names: Vec<&str> = report.converted.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["small"]);
        assert_eq!(
            (graph.op(t), graph.op(b), graph.op(s)),
            ("Const", "Const", "Cast")
        );
        let reasons: Vec<(&str, &str)> = report
            .skipped
            .iter()
            .map(|t| (t.name.as_str(), t.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2);
        assert!(
            reasons[0].0 == "threshold" && reasons[0].1.contains("cmp (Greater)"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].0 == "big" && reasons[1].1.contains("out of int32 range"),
            "{reasons:?}"
        );
    }
}
