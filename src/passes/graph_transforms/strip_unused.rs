//! `strip_unused_nodes`: keeps only what the outputs need, fed from the
//! inputs. Each input becomes a `Placeholder` (of `type=`, else of the dtype
//! the node already produces, else float; of `shape=` when given), which
//! cuts off whatever computed it before.

use std::collections::HashSet;

use super::super::registry::{BuildContext, PassArgs};
use super::super::{Pass, PassContext, PassError, PassReport, Removal};
use super::Endpoints;
use crate::ir::{DataType, Graph, Node, NodeId, TensorRef};
use crate::model::Model;
use crate::ops::OpSignatures;

pub struct StripUnused {
    dtype: Option<DataType>,
    shape: Option<Vec<i64>>,
    endpoints: Endpoints,
}

/// A GTT type name (`float`, `int32`, `DT_INT64`) as a dtype.
pub(crate) fn parse_dtype(name: &str) -> Option<DataType> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("DT_").unwrap_or(&upper);
    let canonical = match bare {
        "FLOAT32" => "FLOAT",
        "FLOAT64" => "DOUBLE",
        "FLOAT16" => "HALF",
        other => other,
    };
    DataType::from_str_name(&format!("DT_{canonical}"))
}

fn parse_shape(text: &str) -> Option<Vec<i64>> {
    text.split(',')
        .map(|d| d.trim().parse::<i64>().ok().filter(|&d| d >= -1))
        .collect()
}

impl StripUnused {
    pub(super) fn new(args: &PassArgs, cx: &BuildContext) -> Result<StripUnused, PassError> {
        let bad = |arg: &str, value: &str, expected| PassError::BadArgument {
            pass: "strip_unused_nodes".into(),
            arg: arg.into(),
            value: value.into(),
            expected,
        };
        let dtype = args
            .text("type")
            .map(|t| parse_dtype(t).ok_or_else(|| bad("type", t, "a dtype such as float or int32")))
            .transpose()?;
        let shape = args
            .text("shape")
            .map(|s| {
                parse_shape(s)
                    .ok_or_else(|| bad("shape", s, "dimensions as D0,D1,... (-1 unknown)"))
            })
            .transpose()?;
        Ok(StripUnused {
            dtype,
            shape,
            endpoints: Endpoints::of(cx),
        })
    }

    /// Makes input `name` a placeholder; returns its node.
    fn placeholder_for(
        &self,
        model: &mut Model,
        name: &str,
        report: &mut PassReport,
    ) -> Result<NodeId, PassError> {
        let tensor = model
            .graph
            .tensor(name)
            .map_err(|_| PassError::UnknownTensor {
                tensor: name.into(),
                suggestions: Vec::new(),
            })?;
        let dtype = self
            .dtype
            .or_else(|| produced_dtype(model, tensor))
            .unwrap_or(DataType::DtFloat);
        let graph = &mut model.graph;
        if graph.op(tensor.node) == "Placeholder" && tensor.port == 0 && self.dtype.is_none() {
            if self.shape.is_some() {
                graph
                    .node_mut(tensor.node)
                    .set_attr_shape("shape", self.shape.as_deref());
            }
            return Ok(tensor.node);
        }
        let placeholder = |name: &str| {
            let mut node = Node::new(name, "Placeholder").with_type("dtype", dtype);
            node.set_attr_shape("shape", self.shape.as_deref());
            node
        };
        if tensor.port == 0 && !other_ports_read(graph, tensor.node) {
            let node = placeholder(graph.name(tensor.node));
            return Ok(make_placeholder_in_place(graph, tensor.node, node, report));
        }
        let fresh = graph.unique_name(&format!("{}_{}", graph.name(tensor.node), tensor.port));
        let id = graph.add_node(placeholder(&fresh))?;
        let from = graph.tensor_name(tensor);
        model.rewire(tensor, TensorRef::new(id, 0));
        report.rewired(
            from,
            format!("{fresh}:0"),
            "the input is fed by a new placeholder",
        );
        Ok(id)
    }
}

/// True when something reads an output of `id` besides output 0.
fn other_ports_read(graph: &Graph, id: NodeId) -> bool {
    graph.consumers(id).into_iter().any(|c| {
        graph
            .data_inputs(c)
            .iter()
            .any(|t| t.node == id && t.port > 0)
    })
}

/// The nodes the outputs need, not looking past the inputs.
fn needed(graph: &Graph, roots: Vec<NodeId>, inputs: &[NodeId]) -> HashSet<NodeId> {
    let mut seen = HashSet::new();
    let mut stack = roots;
    while let Some(id) = stack.pop() {
        if seen.insert(id) && !inputs.contains(&id) {
            stack.extend(graph.producers(id));
        }
    }
    seen
}

/// The dtype `tensor` has in the graph, when the graph says.
fn produced_dtype(model: &Model, tensor: TensorRef) -> Option<DataType> {
    let node = model.graph.node(tensor.node);
    let ops = OpSignatures::of(model);
    let known = |d: &DataType| *d != DataType::DtInvalid;
    crate::typing::output_dtype(&node.op, &node.attrs, tensor.port, ops.get(&node.op))
        .filter(known)
        .or_else(|| crate::typing::output_dtype(&node.op, &node.attrs, tensor.port, None))
        .filter(known)
}

/// Turns node `id` into `placeholder`, keeping its name and dropping its inputs.
fn make_placeholder_in_place(
    graph: &mut Graph,
    id: NodeId,
    placeholder: Node,
    report: &mut PassReport,
) -> NodeId {
    graph.truncate_data_inputs(id, 0);
    for source in graph.control_inputs(id) {
        graph.remove_control_input(id, source);
    }
    let node = graph.node_mut(id);
    report.note(format!(
        "input {} ({}) is now a Placeholder",
        node.name(),
        node.op
    ));
    node.op = placeholder.op;
    node.attrs = placeholder.attrs;
    id
}

impl Pass for StripUnused {
    fn name(&self) -> &'static str {
        "strip_unused_nodes"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        if self.endpoints.outputs.is_empty() {
            return Err(PassError::Transform {
                pass: "strip_unused_nodes",
                reason: "no outputs were given".into(),
            });
        }
        let mut input_nodes = Vec::new();
        for input in &self.endpoints.inputs {
            input_nodes.push(
                model
                    .graph
                    .tensor(input)
                    .map_err(|_| PassError::UnknownTensor {
                        tensor: input.clone(),
                        suggestions: Vec::new(),
                    })?
                    .node,
            );
        }
        let mut roots = Vec::new();
        for output in &self.endpoints.outputs {
            roots.push(model.graph.tensor(output)?.node);
        }
        roots.extend(model.output_nodes());
        let keep = needed(&model.graph, roots, &input_nodes);
        for id in model.graph.node_ids() {
            if keep.contains(&id) {
                continue;
            }
            if let Some(node) = model.graph.remove_node(id) {
                report.removed(Removal::Unused, node.name());
            }
        }
        for input in &self.endpoints.inputs {
            self.placeholder_for(model, input, &mut report)?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::registry::Registry;
    use super::*;
    use crate::ir::AttrExt;
    use crate::passes::testing::{model, node};

    #[test]
    fn inputs_become_placeholders_and_the_rest_goes() {
        let mut m = model(vec![
            node("reader", "IteratorGetNext", &[]),
            node("x", "Identity", &["reader"]).with_type("T", DataType::DtInt32),
            node("y", "Neg", &["x"]),
            node("loss", "Mean", &["y"]),
        ]);
        let cx = BuildContext {
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            ..BuildContext::default()
        };
        let args = [("shape".to_string(), Some("-1,3".to_string()))];
        let report = Registry::standard()
            .build("strip_unused_nodes", &args, &cx)
            .unwrap()
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        let x = m.graph.node(m.graph.require("x").unwrap());
        assert_eq!(x.op, "Placeholder");
        assert_eq!(x.attr_type("dtype").unwrap(), DataType::DtInt32);
        assert_eq!(x.attr_dims("shape").unwrap(), Some(vec![-1, 3]));
        assert_eq!(report.removed["unused"], ["reader", "loss"]);
    }

    #[test]
    fn type_names_parse_as_the_tool_spells_them() {
        assert_eq!(parse_dtype("float"), Some(DataType::DtFloat));
        assert_eq!(parse_dtype("int64"), Some(DataType::DtInt64));
        assert_eq!(parse_dtype("DT_UINT8"), Some(DataType::DtUint8));
        assert_eq!(parse_dtype("floaty"), None);
    }
}
