//! Dropout becomes identity. Every form TensorFlow has generated is matched
//! by its structure, never by name scope:
//! - current `tf.nn.dropout` (rate): `SelectV2(GreaterEqual(R, rate), Mul(x, scale), 0)`;
//! - TF 1.13–2.x (rate): `Mul(Mul(x, scale), Cast(GreaterEqual(R, rate)))`, either `Mul` order;
//! - TF 1.x (keep_prob): `Mul(RealDiv(x, keep_prob), Floor(Add(keep_prob, R)))`, either order;
//!
//! where R is a random-uniform tensor: `RandomUniform` or a stateless variant,
//! possibly scaled into a range (`R*(max-min)+min`), any `noise_shape`.
//! The dropout's output is rewired to `x`; pruning then removes the rest. A
//! `RandomUniform` that feeds anything else is never touched.

use super::constants::through_identities;
use super::{Pass, PassContext, PassError, PassReport};
use crate::ir::{Graph, TensorRef};
use crate::model::Model;

/// Rewires every dropout to its input.
pub struct DropoutPass;

impl Pass for DropoutPass {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        for id in model.graph.node_ids() {
            if !model.graph.contains(id) {
                continue;
            }
            let output = TensorRef::new(id, 0);
            if let Some(x) = match_dropout(&model.graph, output) {
                let from = model.graph.tensor_name(output);
                let to = model.graph.tensor_name(x);
                model.rewire(output, x);
                report.rewired(from, to, "dropout is identity at inference");
            }
        }
        Ok(report)
    }
}

/// The input `x` when `output` is the result of a dropout of `x`.
pub fn match_dropout(graph: &Graph, output: TensorRef) -> Option<TensorRef> {
    let inputs = graph.data_inputs(output.node);
    match graph.op(output.node) {
        "SelectV2" | "Select" if inputs.len() == 3 => {
            let [mask, kept, zeros] = [inputs[0], inputs[1], inputs[2]];
            (is_keep_mask(graph, mask) && super::constants::is_zeros_const(graph, zeros))
                .then(|| scaled_input(graph, kept))?
        }
        "Mul" if inputs.len() == 2 => {
            let (a, b) = (inputs[0], inputs[1]);
            if is_float_mask(graph, b) {
                scaled_input(graph, a)
            } else if is_float_mask(graph, a) {
                scaled_input(graph, b)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `x * scale` (either order) or `x / keep_prob`: returns `x`.
fn scaled_input(graph: &Graph, tensor: TensorRef) -> Option<TensorRef> {
    let inputs = graph.data_inputs(tensor.node);
    if tensor.port != 0 || inputs.len() != 2 {
        return None;
    }
    match graph.op(tensor.node) {
        "RealDiv" | "Div" => Some(inputs[0]),
        "Mul" => {
            let is_scale = |t: TensorRef| graph.op(through_identities(graph, t).node) == "Const";
            if is_scale(inputs[1]) {
                Some(inputs[0])
            } else if is_scale(inputs[0]) {
                Some(inputs[1])
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A float 0/1 mask: `Cast(GreaterEqual(R, rate))` or `Floor(Add(keep_prob, R))`.
fn is_float_mask(graph: &Graph, tensor: TensorRef) -> bool {
    let tensor = through_identities(graph, tensor);
    let Some(input) = graph.data_input(tensor.node, 0) else {
        return false;
    };
    match graph.op(tensor.node) {
        "Cast" => is_keep_mask(graph, input),
        "Floor" => {
            let inner = graph.data_inputs(input.node);
            matches!(graph.op(input.node), "Add" | "AddV2")
                && inner.len() == 2
                && inner.iter().any(|t| is_random_uniform(graph, *t))
        }
        _ => false,
    }
}

/// `GreaterEqual(R, rate)`: true where the element is kept.
fn is_keep_mask(graph: &Graph, tensor: TensorRef) -> bool {
    let tensor = through_identities(graph, tensor);
    graph.op(tensor.node) == "GreaterEqual"
        && graph
            .data_input(tensor.node, 0)
            .is_some_and(|r| is_random_uniform(graph, r))
}

/// A uniform random tensor, possibly scaled into `[min, max)`.
fn is_random_uniform(graph: &Graph, tensor: TensorRef) -> bool {
    let tensor = through_identities(graph, tensor);
    let op = graph.op(tensor.node);
    if matches!(
        op,
        "RandomUniform" | "StatelessRandomUniform" | "StatelessRandomUniformV2"
    ) {
        return true;
    }
    let inputs = graph.data_inputs(tensor.node);
    matches!(op, "Add" | "AddV2" | "Mul")
        && inputs.len() == 2
        && inputs.iter().any(|t| is_random_uniform(graph, *t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Graph;
    use crate::passes::testing::node;
    use crate::proto::attr_value::Value;
    use crate::proto::{AttrValue, GraphDef, NodeDef, TensorProto};

    fn zeros(name: &str) -> NodeDef {
        let mut n = node(name, "Const", &[]);
        let value = TensorProto {
            dtype: 1,
            float_val: vec![0.0],
            ..Default::default()
        };
        n.attr.insert(
            "value".into(),
            AttrValue {
                value: Some(Value::Tensor(value)),
            },
        );
        n
    }

    fn run(nodes: Vec<NodeDef>) -> Model {
        let mut all = vec![
            node("x", "Placeholder", &[]),
            node("shape", "Shape", &["x"]),
        ];
        all.extend(nodes);
        let def = GraphDef {
            node: all,
            ..Default::default()
        };
        let mut model = Model::from_graph(Graph::from_graph_def(def).unwrap());
        DropoutPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        model
    }

    fn out_reads(model: &Model) -> String {
        let g = &model.graph;
        g.tensor_name(g.data_input(g.find("out").unwrap(), 0).unwrap())
    }

    #[test]
    fn current_select_form() {
        let model = run(vec![
            zeros("scale"),
            node("mul", "Mul", &["x", "scale"]),
            node("ru", "RandomUniform", &["shape"]),
            zeros("rate"),
            node("ge", "GreaterEqual", &["ru", "rate"]),
            zeros("zeros"),
            node("drop", "SelectV2", &["ge", "mul", "zeros"]),
            node("out", "Relu", &["drop"]),
        ]);
        assert_eq!(out_reads(&model), "x:0");
    }

    #[test]
    fn cast_mask_form_either_order_with_range_scaling() {
        let model = run(vec![
            zeros("scale"),
            node("mul", "Mul", &["scale", "x"]),
            node("ru", "StatelessRandomUniformV2", &["shape"]),
            zeros("range"),
            node("scaled", "Mul", &["ru", "range"]),
            node("shifted", "AddV2", &["scaled", "range"]),
            zeros("rate"),
            node("ge", "GreaterEqual", &["shifted", "rate"]),
            node("cast", "Cast", &["ge"]),
            node("drop", "Mul", &["cast", "mul"]),
            node("out", "Relu", &["drop"]),
        ]);
        assert_eq!(out_reads(&model), "x:0");
    }

    #[test]
    fn old_keep_prob_floor_form() {
        let model = run(vec![
            node("keep_prob", "Placeholder", &[]),
            node("div", "RealDiv", &["x", "keep_prob"]),
            node("ru", "RandomUniform", &["shape"]),
            node("add", "Add", &["keep_prob", "ru"]),
            node("floor", "Floor", &["add"]),
            node("drop", "Mul", &["div", "floor"]),
            node("out", "Relu", &["drop"]),
        ]);
        assert_eq!(out_reads(&model), "x:0");
    }

    #[test]
    fn random_noise_that_is_not_dropout_stays() {
        let model = run(vec![
            node("ru", "RandomUniform", &["shape"]),
            node("noisy", "Mul", &["x", "ru"]),
            node("out", "Relu", &["noisy"]),
        ]);
        assert_eq!(out_reads(&model), "noisy:0");
    }
}
