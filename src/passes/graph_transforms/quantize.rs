//! `quantize_weights`: each float32 constant with at least `minimum_size`
//! elements is stored as 8-bit `quint8` codes plus its minimum and maximum,
//! and a `Dequantize` (mode `MIN_COMBINED`) under the constant's name turns
//! them back into floats when the graph runs: about a quarter of the bytes,
//! each value off by at most (max - min) / 510.

use super::super::registry::PassArgs;
use super::super::{Pass, PassContext, PassError, PassReport};
use super::eval::{Dense, Numbers};
use super::fold_constants::const_value;
use crate::format::tensor::{Tensor, Values};
use crate::ir::constants::float_const;
use crate::ir::{DataType, Graph, Node, NodeId, TensorRef};
use crate::model::Model;

pub struct QuantizeWeights {
    minimum_size: usize,
}

impl QuantizeWeights {
    pub(super) fn new(args: &PassArgs) -> Result<QuantizeWeights, PassError> {
        Ok(QuantizeWeights {
            minimum_size: args.int("minimum_size")?.unwrap_or(1024).max(0) as usize,
        })
    }
}

/// The range the codes span: the values' own, widened when it is empty.
fn range_of(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min < max {
        return (min, max);
    }
    if min.abs() < 1e-6 {
        (min, min + 1.0)
    } else if min > 0.0 {
        (0.0, min)
    } else {
        (min, 0.0)
    }
}

/// The 8-bit code of each value: `round((x - min) / (max - min) * 255)`.
pub(super) fn quantize(values: &[f64], min: f64, max: f64) -> Vec<u8> {
    let step = (max - min) / 255.0;
    values
        .iter()
        .map(|x| ((x - min) / step).round().clamp(0.0, 255.0) as u8)
        .collect()
}

impl Pass for QuantizeWeights {
    fn name(&self) -> &'static str {
        "quantize_weights"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let (mut count, mut saved) = (0usize, 0usize);
        for id in model.graph.node_ids() {
            let Some(value) = const_value(&model.graph, id) else {
                continue;
            };
            if value.dtype != DataType::DtFloat || value.element_count() < self.minimum_size.max(1)
            {
                continue;
            }
            quantize_node(&mut model.graph, id, &value, &mut report)?;
            count += 1;
            saved += value.element_count() * 3;
        }
        report.note(format!(
            "{count} constants quantized to 8 bits, about {saved} bytes smaller"
        ));
        Ok(report)
    }
}

/// Turns `Const` `id` into a `Dequantize` of three new constants.
fn quantize_node(
    graph: &mut Graph,
    id: NodeId,
    value: &Dense,
    report: &mut PassReport,
) -> Result<(), PassError> {
    let Numbers::Float(values) = &value.numbers else {
        return Ok(());
    };
    let (min, max) = range_of(values);
    let codes = Tensor {
        dtype: DataType::DtQuint8,
        shape: value.shape.clone(),
        values: Values::U8(quantize(values, min, max)),
    };
    let name = graph.name(id).to_string();
    let mut quantized = Node::new(
        graph.unique_name(&format!("{name}/quantized_const")),
        "Const",
    );
    quantized.set_attr_type("dtype", DataType::DtQuint8);
    quantized.set_attr_tensor("value", codes.to_proto());
    let min_node = float_const(
        &graph.unique_name(&format!("{name}/quantized_min")),
        min as f32,
    );
    let max_node = float_const(
        &graph.unique_name(&format!("{name}/quantized_max")),
        max as f32,
    );
    let device = graph.node(id).device.clone();
    let mut inputs = Vec::new();
    for mut node in [quantized, min_node, max_node] {
        node.device = device.clone();
        let added = graph.add_node(node)?;
        report.added.push(graph.name(added).to_string());
        inputs.push(TensorRef::new(added, 0));
    }
    for control in graph.control_inputs(id) {
        for input in &inputs {
            graph.add_control_input(input.node, control);
        }
    }
    let node = graph.node_mut(id);
    node.op = "Dequantize".into();
    node.attrs.retain(|key, _| key == "_class");
    node.set_attr_type("T", DataType::DtQuint8);
    node.set_attr_string("mode", b"MIN_COMBINED");
    for input in inputs {
        graph.push_data_input(id, input);
    }
    report.note(format!("{name} quantized over [{min}, {max}]"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AttrExt;
    use crate::passes::testing::{TestNode, model, node};

    #[test]
    fn large_float_constants_become_a_dequantize_of_their_codes() {
        let values: Vec<f64> = (0..8).map(|i| f64::from(i) - 2.0).collect();
        let dense = Dense::new(DataType::DtFloat, vec![8], Numbers::Float(values.clone()));
        let mut w = Node::new("w", "Const");
        w.set_attr_type("dtype", DataType::DtFloat);
        w.set_attr_tensor("value", dense.to_proto());
        let mut m = model(vec![
            TestNode::from(w),
            node("out", "Neg", &["w"]),
            TestNode::from(float_const("small", 1.0)),
        ]);
        let args = PassArgs::new(
            "quantize_weights",
            &[("minimum_size".into(), Some("4".into()))],
        );
        let report = QuantizeWeights::new(&args)
            .unwrap()
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        let w = m.graph.require("w").unwrap();
        assert_eq!(m.graph.op(w), "Dequantize");
        assert_eq!(
            m.graph.node(w).attr_string("mode").unwrap(),
            b"MIN_COMBINED"
        );
        assert_eq!(m.graph.op(m.graph.require("small").unwrap()), "Const");
        assert_eq!(report.added.len(), 3);
        let codes = quantize(&values, -2.0, 5.0);
        assert_eq!((codes[0], codes[7]), (0, 255));
        let step = 7.0 / 255.0;
        for (code, x) in codes.iter().zip(&values) {
            assert!((f64::from(*code) * step - 2.0 - x).abs() <= step / 2.0 + 1e-9);
        }
    }

    #[test]
    fn an_empty_range_is_widened() {
        assert_eq!(range_of(&[0.0, 0.0]), (0.0, 1.0));
        assert_eq!(range_of(&[3.0]), (0.0, 3.0));
        assert_eq!(range_of(&[-3.0]), (-3.0, 0.0));
    }
}
