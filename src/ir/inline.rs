//! Function inlining: a call's function body copied into the graph in place
//! of the call, the way TensorFlow lowers a call it inlines.
//!
//! In a `FunctionDef` body an input names either one of the function's
//! input args (`"x"`) or an output of another body node by its op's output
//! argument (`"node:out_arg:index"`), and `^node` is a control input. The
//! inliner turns those into ports with the ops' `OpDef`s (a [`PortOf`]
//! lookup), substitutes `$T`-style attr placeholders from the call's
//! instantiation attrs, and names each copied node `CALL/BODY_NODE`
//! (uniquified). Calls inside the body stay calls: only one level is inlined.
//!
//! It is done in two steps so that planning may borrow the graph (the op
//! lookup reads its library) while applying changes it: [`plan_inline`]
//! checks the whole body and resolves every reference, then
//! [`Graph::apply_inline`] adds the nodes. A body that names a missing node
//! or output fails in planning, before the graph is touched.

use std::collections::{BTreeMap, HashMap};

use super::{
    BodyInput, Graph, IrError, MalformedBodyInput, Node, NodeId, TensorRef, parse_body_input,
};
use crate::format::attr_map::AttrMap;
use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, FunctionDef, NodeDef, OpDef};

/// The port of element `index` of output argument `arg` of a body node, or
/// `None` when its op has no such output.
pub type PortOf<'a> = dyn Fn(&NodeDef, &str, usize) -> Option<usize> + 'a;

/// Where a tensor of the body comes from once inlined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySource {
    /// The function's input arg at this position (the call's matching input).
    Arg(usize),
    /// Output `port` of the body node at this position of the plan.
    Node { node: usize, port: usize },
}

/// One body node to add.
#[derive(Debug, Clone)]
pub(super) struct PlannedNode {
    /// The node, named as in the body; renamed when added.
    pub(super) node: Node,
    pub(super) data: Vec<BodySource>,
    pub(super) control: Vec<usize>,
}

/// A function body checked and resolved, ready to add at one call.
#[derive(Debug, Clone)]
pub struct InlinePlan {
    pub(super) function: String,
    pub(super) arg_count: usize,
    pub(super) nodes: Vec<PlannedNode>,
    /// The function's outputs, in output-arg order.
    pub(super) outputs: Vec<BodySource>,
    /// Body nodes that must run for the call to count as done (`control_ret`).
    pub(super) control_outputs: Vec<usize>,
}

/// What inlining added.
#[derive(Debug, Clone)]
pub struct Inlined {
    /// The added nodes, in body order (plus the control nodes, if any).
    pub nodes: Vec<NodeId>,
    /// The tensor each function output now is, in output order.
    pub outputs: Vec<TensorRef>,
    /// A node that runs once the inlined body has: what control consumers
    /// of the call should wait for (`None` when the call had none).
    pub done: Option<NodeId>,
}

impl InlinePlan {
    pub fn function(&self) -> &str {
        &self.function
    }

    /// How many outputs the function has.
    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }

    /// How many inputs the function takes.
    pub fn arg_count(&self) -> usize {
        self.arg_count
    }
}

/// Checks `function` and resolves every input and output of its body.
/// `instantiation` holds the values of the attr placeholders (`$T`);
/// `call` names the calling node for errors.
pub fn plan_inline(
    call: &str,
    function: &FunctionDef,
    instantiation: &BTreeMap<String, AttrValue>,
    port_of: &PortOf<'_>,
) -> Result<InlinePlan, IrError> {
    plan(call, function, Some(instantiation), port_of)
}

/// [`plan_inline`] for editing the body itself, not a call of it: attr
/// placeholders stay placeholders.
pub(super) fn plan_body(
    function: &FunctionDef,
    port_of: &PortOf<'_>,
) -> Result<InlinePlan, IrError> {
    plan("", function, None, port_of)
}

/// [`plan_inline`] and [`plan_body`]: a body edit has no call to name and
/// no instantiation.
fn plan(
    call: &str,
    function: &FunctionDef,
    instantiation: Option<&BTreeMap<String, AttrValue>>,
    port_of: &PortOf<'_>,
) -> Result<InlinePlan, IrError> {
    let signature = function.signature.clone().unwrap_or_default();
    let error = |reason: String| IrError::Inline {
        call: call.into(),
        function: signature.name.clone(),
        reason,
    };
    if let Some(arg) = signature
        .input_arg
        .iter()
        .find(|a| !a.number_attr.is_empty() || !a.type_list_attr.is_empty())
    {
        return Err(error(format!(
            "input arg {:?} is a list; only single-tensor args are inlined",
            arg.name
        )));
    }
    let args: HashMap<&str, usize> = signature
        .input_arg
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), i))
        .collect();
    let positions: HashMap<&str, usize> = function
        .node_def
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    if positions.len() != function.node_def.len() {
        return Err(error("two body nodes share a name".into()));
    }
    let resolver = Resolver {
        function,
        args: &args,
        positions: &positions,
        port_of,
    };
    Ok(InlinePlan {
        function: signature.name.clone(),
        arg_count: signature.input_arg.len(),
        nodes: resolver.plan_nodes(instantiation).map_err(&error)?,
        outputs: resolver.outputs(&signature).map_err(&error)?,
        control_outputs: resolver.control_outputs().map_err(&error)?,
    })
}

/// Resolves body references by name.
struct Resolver<'a> {
    function: &'a FunctionDef,
    args: &'a HashMap<&'a str, usize>,
    positions: &'a HashMap<&'a str, usize>,
    port_of: &'a PortOf<'a>,
}

impl Resolver<'_> {
    /// Every body node with its inputs resolved, in body order; an error
    /// names the first node that does not resolve.
    fn plan_nodes(
        &self,
        instantiation: Option<&BTreeMap<String, AttrValue>>,
    ) -> Result<Vec<PlannedNode>, String> {
        let mut nodes = Vec::with_capacity(self.function.node_def.len());
        for def in &self.function.node_def {
            nodes.push(
                self.plan_node(def, instantiation)
                    .map_err(|reason| format!("body node {:?}: {reason}", def.name))?,
            );
        }
        Ok(nodes)
    }

    /// Where each of `signature`'s output args comes from (its `ret`
    /// entry), in output-arg order.
    fn outputs(&self, signature: &OpDef) -> Result<Vec<BodySource>, String> {
        let mut outputs = Vec::with_capacity(signature.output_arg.len());
        for arg in &signature.output_arg {
            let value = self
                .function
                .ret
                .get(&arg.name)
                .ok_or_else(|| format!("output {:?} has no ret entry", arg.name))?;
            outputs.push(
                self.source(value)
                    .map_err(|reason| format!("output {:?}: {reason}", arg.name))?,
            );
        }
        Ok(outputs)
    }

    /// The body positions of the `control_ret` nodes.
    fn control_outputs(&self) -> Result<Vec<usize>, String> {
        let mut control_outputs = Vec::with_capacity(self.function.control_ret.len());
        for (name, node) in &self.function.control_ret {
            let &position = self
                .positions
                .get(node.as_str())
                .ok_or_else(|| format!("control output {name:?} names no body node"))?;
            control_outputs.push(position);
        }
        Ok(control_outputs)
    }

    fn plan_node(
        &self,
        def: &NodeDef,
        instantiation: Option<&BTreeMap<String, AttrValue>>,
    ) -> Result<PlannedNode, String> {
        let mut node = Node::new(def.name.clone(), def.op.clone());
        node.device = def.device.clone();
        node.attrs = def.attr.clone().into();
        node.debug_info = def.experimental_debug_info.clone();
        node.full_type = def.experimental_type.clone();
        if let Some(instantiation) = instantiation {
            substitute_placeholders(&mut node.attrs, instantiation)?;
        }
        let mut data = Vec::new();
        let mut control = Vec::new();
        for input in &def.input {
            if let Ok(BodyInput::Control { node: name }) = parse_body_input(input) {
                let &position = self
                    .positions
                    .get(name)
                    .ok_or_else(|| format!("control input {input:?} names no body node"))?;
                control.push(position);
            } else if control.is_empty() {
                data.push(self.source(input)?);
            } else {
                return Err(format!("data input {input:?} after a control input"));
            }
        }
        Ok(PlannedNode {
            node,
            data,
            control,
        })
    }

    /// `arg`, `node:out_arg:index` (or `node:out_arg`, index 0).
    fn source(&self, name: &str) -> Result<BodySource, String> {
        let (head, out_arg, index) = match parse_body_input(name) {
            Ok(BodyInput::Output { node, arg, index }) => (node, arg, index),
            Ok(BodyInput::Arg { .. } | BodyInput::Control { .. }) => {
                return self
                    .args
                    .get(name)
                    .map(|&i| BodySource::Arg(i))
                    .ok_or_else(|| format!("{name:?} names no input arg of the function"));
            }
            Err(MalformedBodyInput::TooManyParts) => {
                return Err(format!("{name:?} is not node:output:index"));
            }
            Err(MalformedBodyInput::BadIndex) => {
                return Err(format!("{name:?}: the index is not a number"));
            }
        };
        let &node = self
            .positions
            .get(head)
            .ok_or_else(|| format!("{name:?} names no body node"))?;
        let def = self
            .function
            .node_def
            .get(node)
            .ok_or_else(|| format!("{name:?} names no body node"))?;
        let port = (self.port_of)(def, out_arg, index).ok_or_else(|| {
            format!(
                "{name:?}: op {} has no output {out_arg:?} with index {index}",
                def.op
            )
        })?;
        Ok(BodySource::Node { node, port })
    }
}

/// Replaces every `placeholder` attr value (also inside the attrs of
/// functions named by attrs) by the instantiation's value of that name.
fn substitute_placeholders(
    attrs: &mut AttrMap,
    instantiation: &BTreeMap<String, AttrValue>,
) -> Result<(), String> {
    let mut stack: Vec<&mut AttrValue> = attrs.values_mut().collect();
    while let Some(value) = stack.pop() {
        if let Some(Value::Placeholder(name)) = &value.value {
            let substitute = instantiation
                .get(name.as_str())
                .cloned()
                .ok_or_else(|| format!("attr placeholder ${name} has no value at the call"))?;
            *value = substitute;
            continue;
        }
        match &mut value.value {
            Some(Value::Func(function)) => stack.extend(function.attr.values_mut()),
            Some(Value::List(list)) => {
                stack.extend(list.func.iter_mut().flat_map(|f| f.attr.values_mut()))
            }
            _ => {}
        }
    }
    Ok(())
}

impl Graph {
    /// Adds the body of `plan` beside node `call`, its args read from
    /// `args`. Nodes are named `CALL/BODY_NODE`, placed on the call's device
    /// when the body names none; the call's control inputs gate every body
    /// node that reads nothing else of the body. The call itself is left in
    /// place for the caller to rewire and remove.
    pub fn apply_inline(
        &mut self,
        call: NodeId,
        args: &[TensorRef],
        plan: InlinePlan,
    ) -> Result<Inlined, IrError> {
        if args.len() != plan.arg_count {
            return Err(IrError::Inline {
                call: self.name(call).into(),
                function: plan.function,
                reason: format!(
                    "the function takes {} inputs, the call gives {}",
                    plan.arg_count,
                    args.len()
                ),
            });
        }
        let prefix = self.name(call).to_string();
        let gate = self.input_gate(call, &prefix)?;
        let mut added = self.add_body_nodes(call, &prefix, &plan)?;
        self.wire_body(&prefix, args, &plan, &added, gate)?;
        let outputs: Vec<TensorRef> = plan
            .outputs
            .iter()
            .filter_map(|&source| resolve(source, args, &added))
            .collect();
        let done = self.done_gate(call, &prefix, &outputs, &plan, &added, gate)?;
        added.extend(gate);
        added.extend(done);
        Ok(Inlined {
            nodes: added,
            outputs,
            done,
        })
    }

    /// Adds the planned body nodes, unwired, named `prefix/BODY_NODE`
    /// (uniquified) and placed on the call's device unless they name their
    /// own; returns them in body order, which is how the plan refers to
    /// them.
    fn add_body_nodes(
        &mut self,
        call: NodeId,
        prefix: &str,
        plan: &InlinePlan,
    ) -> Result<Vec<NodeId>, IrError> {
        let device = self.node(call).device.clone();
        let mut added: Vec<NodeId> = Vec::with_capacity(plan.nodes.len() + 2);
        for planned in &plan.nodes {
            let name = self.unique_name(&format!("{prefix}/{}", planned.node.name()));
            let mut node = renamed(&planned.node, name);
            if node.device.is_empty() {
                node.device.clone_from(&device);
            }
            added.push(self.add_node(node)?);
        }
        Ok(added)
    }

    /// Gives each added body node its data and control inputs; a node that
    /// reads nothing else of the body waits for `gate`, so the call's control
    /// inputs still hold for the whole body.
    fn wire_body(
        &mut self,
        prefix: &str,
        args: &[TensorRef],
        plan: &InlinePlan,
        added: &[NodeId],
        gate: Option<NodeId>,
    ) -> Result<(), IrError> {
        for (planned, &id) in plan.nodes.iter().zip(added) {
            for &source in &planned.data {
                let tensor = resolve(source, args, added).ok_or_else(|| IrError::NoSuchNode {
                    name: format!("{prefix}: body source {source:?}"),
                })?;
                self.push_data_input(id, tensor);
            }
            for &position in &planned.control {
                if let Some(&producer) = added.get(position) {
                    self.add_control_input(id, producer);
                }
            }
            let reads_body = planned
                .data
                .iter()
                .any(|s| matches!(s, BodySource::Node { .. }))
                || !planned.control.is_empty();
            if let (Some(gate), false) = (gate, reads_body) {
                self.add_control_input(id, gate);
            }
        }
        Ok(())
    }

    /// A `NoOp` carrying the call's control inputs, when it has any.
    fn input_gate(&mut self, call: NodeId, prefix: &str) -> Result<Option<NodeId>, IrError> {
        let controls = self.control_inputs(call);
        if controls.is_empty() {
            return Ok(None);
        }
        let name = self.unique_name(&format!("{prefix}/input_control_node"));
        let gate = self.add_node(Node::new(name, "NoOp"))?;
        for control in controls {
            self.add_control_input(gate, control);
        }
        Ok(Some(gate))
    }

    /// A `NoOp` that runs after the body's outputs and control outputs, for
    /// the call's control consumers; `None` when the call has none.
    fn done_gate(
        &mut self,
        call: NodeId,
        prefix: &str,
        outputs: &[TensorRef],
        plan: &InlinePlan,
        added: &[NodeId],
        gate: Option<NodeId>,
    ) -> Result<Option<NodeId>, IrError> {
        if self.control_consumers(call).is_empty() {
            return Ok(None);
        }
        let name = self.unique_name(&format!("{prefix}/output_control_node"));
        let done = self.add_node(Node::new(name, "NoOp"))?;
        let control_outputs = plan
            .control_outputs
            .iter()
            .filter_map(|&i| added.get(i).copied());
        let producers: Vec<NodeId> = outputs
            .iter()
            .map(|t| t.node)
            .chain(control_outputs)
            .chain(gate)
            .collect();
        for producer in producers {
            self.add_control_input(done, producer);
        }
        Ok(Some(done))
    }
}

/// The tensor a body source is once inlined: the call's input for an arg,
/// else an output of an added body node.
fn resolve(source: BodySource, args: &[TensorRef], added: &[NodeId]) -> Option<TensorRef> {
    match source {
        BodySource::Arg(i) => args.get(i).copied(),
        BodySource::Node { node, port } => added.get(node).map(|&id| TensorRef::new(id, port)),
    }
}

/// A copy of `node` under another name (names are identity once added).
fn renamed(node: &Node, name: String) -> Node {
    let mut copy = Node::new(name, node.op.clone());
    copy.device.clone_from(&node.device);
    copy.attrs.clone_from(&node.attrs);
    copy.debug_info.clone_from(&node.debug_info);
    copy.full_type.clone_from(&node.full_type);
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::op_def::ArgDef;
    use crate::format::proto::{GraphDef, OpDef};
    use crate::ir::AttrExt;

    fn def(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn arg(name: &str) -> ArgDef {
        ArgDef {
            name: name.into(),
            ..Default::default()
        }
    }

    fn placeholder(name: &str) -> AttrValue {
        AttrValue {
            value: Some(Value::Placeholder(name.into())),
        }
    }

    fn type_attr(dtype: crate::format::proto::DataType) -> AttrValue {
        AttrValue {
            value: Some(Value::Type(dtype as i32)),
        }
    }

    /// Output args by op, as the registry or an op list gives them.
    fn port_of(node: &NodeDef, arg: &str, index: usize) -> Option<usize> {
        let op = crate::ops::tensorflow_op(&node.op)?;
        crate::typing::output_arg_port(op, &node.attr, arg, index)
    }

    /// `f(x, y) = (Relu(x) + Split(y)[1], x)` with `T` a placeholder, a
    /// `^` control between body nodes, a nested call kept as a call, and a
    /// control output.
    fn function() -> FunctionDef {
        let mut relu = def("relu", "Relu", &["x"]);
        relu.attr.insert("T".into(), placeholder("T"));
        let mut split = def("split", "Split", &["axis:output:0", "y", "^relu"]);
        split.attr.insert(
            "num_split".into(),
            AttrValue {
                value: Some(Value::I(2)),
            },
        );
        let add = def("add", "AddV2", &["relu:activations:0", "split:output:1"]);
        let nested = def("nested", "inner_fn", &["add:z:0"]);
        FunctionDef {
            signature: Some(OpDef {
                name: "f".into(),
                input_arg: vec![arg("x"), arg("y")],
                output_arg: vec![arg("sum"), arg("same")],
                ..Default::default()
            }),
            node_def: vec![def("axis", "Const", &[]), relu, split, add, nested],
            ret: [
                ("sum".to_string(), "add:z:0".to_string()),
                ("same".to_string(), "x".to_string()),
            ]
            .into(),
            control_ret: [("side".to_string(), "nested".to_string())].into(),
            ..Default::default()
        }
    }

    fn caller_graph() -> Graph {
        let nodes = vec![
            def("a", "Placeholder", &[]),
            def("b", "Placeholder", &[]),
            def("before", "NoOp", &[]),
            def("call", "f", &["a", "b", "^before"]),
            def("use", "Neg", &["call:0", "call:1"]),
            def("after", "NoOp", &["^call"]),
        ];
        Graph::from_graph_def(GraphDef {
            node: nodes,
            ..Default::default()
        })
        .unwrap()
    }

    fn inline_call(graph: &mut Graph) -> Inlined {
        let instantiation = [(
            "T".to_string(),
            type_attr(crate::format::proto::DataType::DtFloat),
        )]
        .into();
        let plan = plan_inline("call", &function(), &instantiation, &port_of).unwrap();
        let call = graph.find("call").unwrap();
        let args = graph.data_inputs(call);
        graph.apply_inline(call, &args, plan).unwrap()
    }

    fn inputs(graph: &Graph, name: &str) -> Vec<String> {
        graph.node_def(graph.find(name).unwrap()).input
    }

    #[test]
    fn maps_args_outputs_and_named_output_args_to_ports() {
        let mut graph = caller_graph();
        let inlined = inline_call(&mut graph);
        assert_eq!(
            inputs(&graph, "call/relu"),
            ["a", "^call/input_control_node"]
        );
        // Split's `output:1` is port 1; Relu's `activations:0` port 0.
        assert_eq!(inputs(&graph, "call/add"), ["call/relu", "call/split:1"]);
        assert_eq!(
            inputs(&graph, "call/split"),
            ["call/axis", "b", "^call/relu"]
        );
        let outputs: Vec<String> = inlined
            .outputs
            .iter()
            .map(|&t| graph.tensor_name(t))
            .collect();
        assert_eq!(outputs, ["call/add:0", "a:0"]);
    }

    #[test]
    fn substitutes_placeholders_and_keeps_nested_calls() {
        let mut graph = caller_graph();
        inline_call(&mut graph);
        let relu = graph.node(graph.find("call/relu").unwrap());
        assert_eq!(
            relu.attr_type("T").unwrap(),
            crate::format::proto::DataType::DtFloat
        );
        let nested = graph.find("call/nested").unwrap();
        assert_eq!(graph.op(nested), "inner_fn");
        assert_eq!(inputs(&graph, "call/nested"), ["call/add"]);
    }

    #[test]
    fn control_inputs_and_consumers_of_the_call_carry_over() {
        let mut graph = caller_graph();
        let inlined = inline_call(&mut graph);
        // The call's control input gates the body's entry nodes.
        assert_eq!(inputs(&graph, "call/input_control_node"), ["^before"]);
        assert_eq!(inputs(&graph, "call/axis"), ["^call/input_control_node"]);
        // The done gate waits for the outputs and the control output.
        let done = inlined.done.unwrap();
        let mut waits: Vec<&str> = graph
            .control_inputs(done)
            .into_iter()
            .map(|n| graph.name(n))
            .collect();
        waits.sort();
        assert_eq!(
            waits,
            ["a", "call/add", "call/input_control_node", "call/nested"]
        );
        graph.validate().unwrap();
    }

    #[test]
    fn a_missing_placeholder_value_or_output_is_an_error_naming_the_body_node() {
        let err = plan_inline("call", &function(), &BTreeMap::new(), &port_of).unwrap_err();
        assert!(
            err.to_string().contains("\"relu\"") && err.to_string().contains("$T"),
            "{err}"
        );

        let mut bad = function();
        bad.node_def[3].input[1] = "split:nope:0".into();
        let instantiation = [(
            "T".to_string(),
            type_attr(crate::format::proto::DataType::DtFloat),
        )]
        .into();
        let err = plan_inline("call", &bad, &instantiation, &port_of).unwrap_err();
        assert!(
            err.to_string().contains("\"add\"") && err.to_string().contains("nope"),
            "{err}"
        );
        bad.node_def[3].input[1] = "ghost:output:0".into();
        let err = plan_inline("call", &bad, &instantiation, &port_of).unwrap_err();
        assert!(err.to_string().contains("ghost"), "{err}");
    }

    #[test]
    fn argument_count_mismatch_is_refused_before_anything_is_added() {
        let mut graph = caller_graph();
        let instantiation = [(
            "T".to_string(),
            type_attr(crate::format::proto::DataType::DtFloat),
        )]
        .into();
        let plan = plan_inline("call", &function(), &instantiation, &port_of).unwrap();
        let call = graph.find("call").unwrap();
        let before = graph.len();
        let a = graph.data_input(call, 0).unwrap();
        assert!(graph.apply_inline(call, &[a], plan).is_err());
        assert_eq!(graph.len(), before);
    }
}
