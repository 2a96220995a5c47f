//! A library function's body as a [`Graph`] of its own, so the serving
//! passes can edit it like any graph, and written back as a `FunctionDef`.
//!
//! Each input arg becomes a `Placeholder` named `NAME (arg)` (a space is
//! never part of a TensorFlow node name, so it cannot collide with a body
//! node); body nodes keep their names, attr placeholders (`$T`) stay
//! placeholders. Writing back spells each data input the function way:
//! an arg by its name, a node output as `node:out_arg:index`.

use std::collections::{BTreeMap, HashMap};

use super::inline::{BodySource, PortOf, plan_body};
use super::{BodyInput, Graph, IrError, Node, NodeId, TensorRef, format_body_input};
use crate::format::proto::FunctionDef;

/// The body of one function as a graph.
#[derive(Debug, Clone)]
pub struct FunctionBody {
    pub graph: Graph,
    /// The placeholder standing for each input arg, in arg order.
    pub args: Vec<NodeId>,
    /// Each output, by output arg name.
    pub outputs: BTreeMap<String, TensorRef>,
    /// Each control output, by its `control_ret` key.
    pub control_outputs: BTreeMap<String, NodeId>,
}

/// The name of output arg `index` of a node: `(out_arg, index)` of `port`.
pub type ArgOf<'a> = dyn Fn(&Node, usize) -> Option<(String, usize)> + 'a;

impl FunctionBody {
    /// Builds the graph of `function`'s body; fails like inlining on
    /// references it cannot resolve.
    pub fn from_function(
        function: &FunctionDef,
        port_of: &PortOf<'_>,
    ) -> Result<FunctionBody, IrError> {
        let plan = plan_body(function, port_of)?;
        let signature = function.signature.clone().unwrap_or_default();
        let mut graph = Graph::new();
        let mut args = Vec::with_capacity(signature.input_arg.len());
        for arg in &signature.input_arg {
            args.push(graph.add_node(Node::new(arg_node_name(&arg.name), "Placeholder"))?);
        }
        let mut nodes = Vec::with_capacity(plan.nodes.len());
        for planned in &plan.nodes {
            nodes.push(graph.add_node(planned.node.clone())?);
        }
        let resolve = |source: BodySource| match source {
            BodySource::Arg(i) => args.get(i).map(|&id| TensorRef::new(id, 0)),
            BodySource::Node { node, port } => nodes.get(node).map(|&id| TensorRef::new(id, port)),
        };
        for (planned, &id) in plan.nodes.iter().zip(&nodes) {
            for &source in &planned.data {
                if let Some(tensor) = resolve(source) {
                    graph.push_data_input(id, tensor);
                }
            }
            for &position in &planned.control {
                if let Some(&producer) = nodes.get(position) {
                    graph.add_control_input(id, producer);
                }
            }
        }
        let outputs = signature
            .output_arg
            .iter()
            .zip(&plan.outputs)
            .filter_map(|(arg, &source)| Some((arg.name.clone(), resolve(source)?)))
            .collect();
        let control_outputs = function
            .control_ret
            .iter()
            .filter_map(|(key, node)| Some((key.clone(), graph.find(node)?)))
            .collect();
        Ok(FunctionBody {
            graph,
            args,
            outputs,
            control_outputs,
        })
    }

    /// `original` with this body: its nodes (args excepted) in graph order,
    /// inputs spelled the function way, and the outputs and control outputs.
    pub fn to_function(
        &self,
        original: &FunctionDef,
        arg_of: &ArgOf<'_>,
    ) -> Result<FunctionDef, IrError> {
        let arg_names: HashMap<NodeId, String> = original
            .signature
            .iter()
            .flat_map(|s| &s.input_arg)
            .zip(&self.args)
            .map(|(arg, &id)| (id, arg.name.clone()))
            .collect();
        let function = original.signature.as_ref().map_or("", |s| s.name.as_str());
        let spell = |tensor: TensorRef| self.spell(tensor, &arg_names, function, arg_of);
        let mut node_def = Vec::new();
        for id in self.graph.node_ids() {
            if arg_names.contains_key(&id) {
                continue;
            }
            let mut def = self.graph.node_def(id);
            let data = self.graph.data_inputs(id);
            let controls = self.graph.control_inputs(id);
            def.input = data.into_iter().map(spell).collect::<Result<_, _>>()?;
            def.input.extend(controls.into_iter().map(|c| {
                format_body_input(&BodyInput::Control {
                    node: self.graph.name(c),
                })
            }));
            node_def.push(def);
        }
        let mut ret = BTreeMap::new();
        for (name, &tensor) in &self.outputs {
            ret.insert(name.clone(), spell(tensor)?);
        }
        let control_ret = self
            .control_outputs
            .iter()
            .filter(|(_, id)| self.graph.contains(**id))
            .map(|(key, &id)| (key.clone(), self.graph.name(id).to_string()))
            .collect();
        Ok(FunctionDef {
            node_def,
            ret,
            control_ret,
            ..original.clone()
        })
    }

    /// How a body input names `tensor`: an input arg by its name, any other
    /// node's output as `node:out_arg:index`, the op's output arg found by
    /// `arg_of` (an op without that output is an error naming `function`).
    fn spell(
        &self,
        tensor: TensorRef,
        arg_names: &HashMap<NodeId, String>,
        function: &str,
        arg_of: &ArgOf<'_>,
    ) -> Result<String, IrError> {
        if let Some(name) = arg_names.get(&tensor.node) {
            return Ok(name.clone());
        }
        let node = self.graph.node(tensor.node);
        let (arg, index) = arg_of(node, tensor.port).ok_or_else(|| IrError::Inline {
            call: String::new(),
            function: function.into(),
            reason: format!(
                "op {} of {:?} has no output {}",
                node.op,
                node.name(),
                tensor.port
            ),
        })?;
        Ok(format_body_input(&BodyInput::Output {
            node: node.name(),
            arg: &arg,
            index,
        }))
    }

    /// Whether `id` stands for an input arg.
    pub fn is_arg(&self, id: NodeId) -> bool {
        self.args.contains(&id)
    }
}

/// The placeholder name of input arg `name`.
pub fn arg_node_name(name: &str) -> String {
    format!("{name} (arg)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::op_def::ArgDef;
    use crate::format::proto::{NodeDef, OpDef};

    fn def(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn port_of(node: &NodeDef, arg: &str, index: usize) -> Option<usize> {
        let op = crate::ops::tensorflow_op(&node.op)?;
        crate::typing::output_arg_port(op, &node.attr, arg, index)
    }

    fn arg_of(node: &Node, port: usize) -> Option<(String, usize)> {
        let op = crate::ops::tensorflow_op(&node.op)?;
        crate::typing::output_arg_at(op, &node.attrs, port).map(|(a, i)| (a.to_string(), i))
    }

    #[test]
    fn a_body_round_trips_and_edits_are_spelled_the_function_way() {
        let arg = |name: &str| ArgDef {
            name: name.into(),
            ..Default::default()
        };
        let function = FunctionDef {
            signature: Some(OpDef {
                name: "f".into(),
                input_arg: vec![arg("x")],
                output_arg: vec![arg("y")],
                ..Default::default()
            }),
            node_def: vec![
                def("neg", "Neg", &["x"]),
                def("relu", "Relu", &["neg:y:0", "^neg"]),
            ],
            ret: [("y".to_string(), "relu:activations:0".to_string())].into(),
            ..Default::default()
        };
        let body = FunctionBody::from_function(&function, &port_of).unwrap();
        assert_eq!(body.to_function(&function, &arg_of).unwrap(), function);

        // Bypass the Neg: relu reads the arg directly.
        let mut body = body;
        let relu = body.graph.find("relu").unwrap();
        let x = TensorRef::new(body.args[0], 0);
        body.graph.set_data_input(relu, 0, x).unwrap();
        let edited = body.to_function(&function, &arg_of).unwrap();
        assert_eq!(edited.node_def[1].input, ["x", "^neg"]);
    }
}
