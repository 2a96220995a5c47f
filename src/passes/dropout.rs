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
//!
//! The search for R is breadth-first, visits each node at most once per
//! match attempt (results are memoised for the attempt) and looks back at
//! most [`MAX_MATCH_DEPTH`] ops; deeper is a non-match. So a hostile chain
//! such as `AddV2(x, x)` repeated 100,000 times costs linear time and no stack.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{Pass, PassContext, PassError, PassReport};
use crate::format::limits::MAX_MATCH_DEPTH;
use crate::ir::constants::{FORWARDING_OPS, through_identities};
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
    Matcher::new(graph).dropout_input(output)
}

/// One match attempt: the graph and what is already known about it.
struct Matcher<'g> {
    graph: &'g Graph,
    /// Whether a tensor is a (scaled) random-uniform tensor, per tensor asked.
    uniform: HashMap<TensorRef, bool>,
}

impl<'g> Matcher<'g> {
    fn new(graph: &'g Graph) -> Matcher<'g> {
        Matcher {
            graph,
            uniform: HashMap::new(),
        }
    }

    fn dropout_input(&mut self, output: TensorRef) -> Option<TensorRef> {
        let graph = self.graph;
        let inputs = graph.data_inputs(output.node);
        match graph.op(output.node) {
            "SelectV2" | "Select" if inputs.len() == 3 => {
                let [mask, kept, zeros] = [inputs[0], inputs[1], inputs[2]];
                (self.is_keep_mask(mask) && crate::ir::constants::is_zeros_const(graph, zeros))
                    .then(|| scaled_input(graph, kept))?
            }
            "Mul" if inputs.len() == 2 => {
                let (a, b) = (inputs[0], inputs[1]);
                if self.is_float_mask(b) {
                    scaled_input(graph, a)
                } else if self.is_float_mask(a) {
                    scaled_input(graph, b)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// A float 0/1 mask: `Cast(GreaterEqual(R, rate))` or `Floor(Add(keep_prob, R))`.
    fn is_float_mask(&mut self, tensor: TensorRef) -> bool {
        let graph = self.graph;
        let tensor = through_identities(graph, tensor);
        let Some(input) = graph.data_input(tensor.node, 0) else {
            return false;
        };
        match graph.op(tensor.node) {
            "Cast" => self.is_keep_mask(input),
            "Floor" => {
                let inner = graph.data_inputs(input.node);
                matches!(graph.op(input.node), "Add" | "AddV2")
                    && inner.len() == 2
                    && inner.iter().any(|t| self.is_random_uniform(*t))
            }
            _ => false,
        }
    }

    /// `GreaterEqual(R, rate)`: true where the element is kept.
    fn is_keep_mask(&mut self, tensor: TensorRef) -> bool {
        let graph = self.graph;
        let tensor = through_identities(graph, tensor);
        graph.op(tensor.node) == "GreaterEqual"
            && graph
                .data_input(tensor.node, 0)
                .is_some_and(|r| self.is_random_uniform(r))
    }

    /// A uniform random tensor, possibly scaled into `[min, max)`.
    fn is_random_uniform(&mut self, tensor: TensorRef) -> bool {
        if let Some(&known) = self.uniform.get(&tensor) {
            return known;
        }
        let found = reaches_random_uniform(self.graph, tensor);
        self.uniform.insert(tensor, found);
        found
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

fn is_random_uniform_op(op: &str) -> bool {
    matches!(
        op,
        "RandomUniform" | "StatelessRandomUniform" | "StatelessRandomUniformV2"
    )
}

/// Whether `tensor` is a random-uniform op's output reached through
/// identities and two-input `Add`/`AddV2`/`Mul` (range scaling): a
/// breadth-first search that visits each node once and stops
/// [`MAX_MATCH_DEPTH`] ops back.
fn reaches_random_uniform(graph: &Graph, tensor: TensorRef) -> bool {
    let mut visited = HashSet::from([tensor.node]);
    let mut queue = VecDeque::from([(tensor, 0usize)]);
    while let Some((tensor, depth)) = queue.pop_front() {
        let op = graph.op(tensor.node);
        if is_random_uniform_op(op) {
            return true;
        }
        if depth >= MAX_MATCH_DEPTH {
            continue;
        }
        let inputs = graph.data_inputs(tensor.node);
        let next: &[TensorRef] = match op {
            op if FORWARDING_OPS.contains(&op) && tensor.port == 0 => {
                &inputs[..inputs.len().min(1)]
            }
            "Add" | "AddV2" | "Mul" if inputs.len() == 2 => &inputs,
            _ => &[],
        };
        for &input in next {
            if visited.insert(input.node) {
                queue.push_back((input, depth + 1));
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{self, TestNode, node};

    fn zeros(name: &str) -> TestNode {
        crate::ir::constants::float_const(name, 0.0).into()
    }

    fn run(nodes: Vec<TestNode>) -> Model {
        let mut all = vec![
            node("x", "Placeholder", &[]),
            node("shape", "Shape", &["x"]),
        ];
        all.extend(nodes);
        let mut model = testing::model(all);
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

    /// A dropout whose random tensor is `AddV2(a, a)` nested `levels` deep
    /// over a `RandomUniform`.
    fn doubling_chain(levels: usize) -> Vec<TestNode> {
        let mut nodes = vec![
            zeros("scale"),
            node("mul", "Mul", &["x", "scale"]),
            node("ru", "RandomUniform", &["shape"]),
            node("a0", "AddV2", &["ru", "ru"]),
        ];
        for i in 1..levels {
            let previous = format!("a{}", i - 1);
            nodes.push(node(&format!("a{i}"), "AddV2", &[&previous, &previous]));
        }
        let top = format!("a{}", levels - 1);
        nodes.extend([
            zeros("rate"),
            node("ge", "GreaterEqual", &[&top, "rate"]),
            node("cast", "Cast", &["ge"]),
            node("drop", "Mul", &["cast", "mul"]),
            node("out", "Relu", &["drop"]),
        ]);
        nodes
    }

    #[test]
    fn a_shallow_doubling_chain_is_still_a_random_tensor() {
        assert_eq!(out_reads(&run(doubling_chain(10))), "x:0");
    }

    #[test]
    fn a_chain_of_100_000_doublings_is_a_fast_non_match() {
        let mut model = testing::model(
            [
                vec![
                    node("x", "Placeholder", &[]),
                    node("shape", "Shape", &["x"]),
                ],
                doubling_chain(100_000),
            ]
            .concat(),
        );
        // A 256 KiB stack: recursion 100,000 deep could not fit in it.
        let started = std::time::Instant::now();
        let report = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn_scoped(scope, || {
                    DropoutPass
                        .run(&mut model, &mut PassContext::new())
                        .unwrap()
                })
                .unwrap()
                .join()
                .unwrap()
        });
        let elapsed = started.elapsed();
        eprintln!("dropout pass over a 100,000-node AddV2(x, x) chain: {elapsed:?}");
        assert!(report.is_unchanged(), "the cap makes it a non-match");
        assert_eq!(out_reads(&model), "drop:0");
        assert!(elapsed.as_secs() < 10, "{elapsed:?}");
    }
}
