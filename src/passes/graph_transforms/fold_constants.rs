//! `fold_constants`: a node whose data inputs are all `Const` and whose op
//! servegraph evaluates ([`FOLDED_OPS`]) becomes a `Const` holding its
//! value, under its own name; the constants only it read go. Nodes of other
//! ops stay as they are and the report names their ops, as it names the
//! nodes an evaluation refused (a dtype or shape not handled).
//!
//! A folded node keeps its own control inputs and takes over those of the
//! constants it read, so a constant inside a `tf.cond` branch or a while
//! loop stays in its frame.

use std::collections::{BTreeMap, BTreeSet};

use super::super::registry::{BuildContext, PassArgs};
use super::super::{Pass, PassContext, PassError, PassReport, Removal};
use super::Endpoints;
pub use super::eval::FOLDED_OPS;
use super::eval::{Dense, evaluate};
use crate::ir::{AttrExt, Graph, NodeId};
use crate::model::Model;

pub struct FoldConstants {
    clear_output_shapes: bool,
    endpoints: Endpoints,
}

impl FoldConstants {
    pub(super) fn new(args: &PassArgs, cx: &BuildContext) -> Result<FoldConstants, PassError> {
        Ok(FoldConstants {
            clear_output_shapes: args.bool("clear_output_shapes", true)?,
            endpoints: Endpoints::of(cx),
        })
    }
}

/// The value of a `Const` node, if it is one servegraph evaluates.
pub(super) fn const_value(graph: &Graph, id: NodeId) -> Option<Dense> {
    let node = graph.node(id);
    if node.op != "Const" {
        return None;
    }
    Dense::from_proto(node.attr_tensor("value").ok()?).ok()
}

/// What happened to the candidates that did not fold.
#[derive(Default)]
struct Leftovers {
    /// Op → how many nodes with constant inputs it has that are not evaluated.
    ops: BTreeMap<String, usize>,
    /// Node → why evaluation refused it.
    refused: Vec<String>,
}

impl Pass for FoldConstants {
    fn name(&self) -> &'static str {
        "fold_constants"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let inputs: BTreeSet<String> = self
            .endpoints
            .inputs
            .iter()
            .map(|n| crate::ir::node_of(n).to_string())
            .collect();
        let mut leftovers = Leftovers::default();
        let mut touched: BTreeSet<NodeId> = BTreeSet::new();
        for id in model.graph.topological_order()? {
            if inputs.contains(model.graph.name(id)) || !has_constant_inputs(&model.graph, id) {
                continue;
            }
            let op = model.graph.op(id).to_string();
            if !FOLDED_OPS.contains(&op.as_str()) {
                *leftovers.ops.entry(op).or_default() += 1;
                continue;
            }
            match fold_node(&mut model.graph, id, self.clear_output_shapes) {
                Ok(read) => {
                    report.note(format!(
                        "{} ({op}) folded to a constant",
                        model.graph.name(id)
                    ));
                    touched.extend(read);
                }
                Err(why) => leftovers
                    .refused
                    .push(format!("{} ({op}): {why}", model.graph.name(id))),
            }
        }
        let protected = self.endpoints.protected(model);
        remove_unread_constants(&mut model.graph, touched, &protected, &mut report);
        for (op, count) in leftovers.ops {
            report.note(format!(
                "{count} {op} nodes with constant inputs left: servegraph does not evaluate {op}"
            ));
        }
        for refused in leftovers.refused {
            report.note(format!("not folded: {refused}"));
        }
        Ok(report)
    }
}

/// True when `id` has data inputs and every one is a `Const`.
fn has_constant_inputs(graph: &Graph, id: NodeId) -> bool {
    let inputs = graph.data_inputs(id);
    !inputs.is_empty() && inputs.iter().all(|t| graph.op(t.node) == "Const")
}

/// Replaces `id` by a `Const` of its value; returns the constants it read.
fn fold_node(
    graph: &mut Graph,
    id: NodeId,
    clear_output_shapes: bool,
) -> Result<Vec<NodeId>, String> {
    let inputs = graph.data_inputs(id);
    if inputs.iter().any(|t| t.port != 0) {
        return Err("reads a second output".into());
    }
    let values: Vec<Dense> = inputs
        .iter()
        .map(|t| {
            const_value(graph, t.node)
                .ok_or_else(|| format!("input {} is not a numeric constant", graph.name(t.node)))
        })
        .collect::<Result<_, _>>()?;
    let value = evaluate(graph.node(id), &values)?;
    let read: Vec<NodeId> = inputs.iter().map(|t| t.node).collect();
    for &source in &read {
        for control in graph.control_inputs(source) {
            graph.add_control_input(id, control);
        }
    }
    graph.truncate_data_inputs(id, 0);
    let node = graph.node_mut(id);
    node.op = "Const".into();
    let output_shapes = node.attrs.remove("_output_shapes");
    let class = node.attrs.remove("_class");
    node.attrs.clear();
    node.set_attr_type("dtype", value.dtype);
    node.set_attr_tensor("value", value.to_proto());
    if let (false, Some(shapes)) = (clear_output_shapes, output_shapes) {
        node.attrs.insert("_output_shapes".into(), shapes);
    }
    if let Some(class) = class {
        node.attrs.insert("_class".into(), class);
    }
    Ok(read)
}

/// Removes the constants in `candidates` nothing reads any more.
fn remove_unread_constants(
    graph: &mut Graph,
    candidates: BTreeSet<NodeId>,
    protected: &BTreeSet<String>,
    report: &mut PassReport,
) {
    for id in candidates {
        if !graph.contains(id)
            || protected.contains(graph.name(id))
            || !graph.consumers(id).is_empty()
        {
            continue;
        }
        if let Some(node) = graph.remove_node(id) {
            report.removed(Removal::Rule("folded-constant"), node.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::DataType;
    use crate::ir::constants::float_const;
    use crate::passes::testing::{model, node};

    #[test]
    fn constant_arithmetic_folds_and_the_rest_is_reported() {
        let mut m = model(vec![
            float_const("a", 3.0).into(),
            float_const("b", 4.0).into(),
            node("sum", "AddV2", &["a", "b"]),
            node("twice", "Mul", &["sum", "sum"]),
            node("x", "Placeholder", &[]),
            node("y", "Mul", &["x", "twice"]),
            node("rand", "RandomUniform", &["a"]),
        ]);
        let cx = BuildContext {
            outputs: vec!["y".into(), "rand".into()],
            ..BuildContext::default()
        };
        let report = FoldConstants::new(&PassArgs::default(), &cx)
            .unwrap()
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        let twice = m.graph.require("twice").unwrap();
        assert_eq!(m.graph.op(twice), "Const");
        let value = const_value(&m.graph, twice).unwrap();
        assert_eq!(
            (value.dtype, value.floats()),
            (DataType::DtFloat, vec![49.0])
        );
        assert_eq!(report.removed["folded-constant"], ["b", "sum"]);
        assert!(m.graph.find("a").is_some(), "still read by RandomUniform");
        assert!(
            report.notes.iter().any(|n| n.contains("RandomUniform")),
            "{:?}",
            report.notes
        );
    }

    #[test]
    fn a_folded_node_keeps_the_control_inputs_of_its_constants() {
        let mut a = crate::passes::testing::TestNode::from(float_const("a", 2.0));
        a.inputs.push("^pivot".into());
        let mut m = model(vec![
            node("pivot", "Identity", &[]),
            a,
            node("neg", "Neg", &["a"]),
            node("out", "Identity", &["neg"]),
        ]);
        FoldConstants::new(&PassArgs::default(), &BuildContext::default())
            .unwrap()
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        let out = m.graph.require("out").unwrap();
        assert_eq!(m.graph.op(out), "Const", "Identity of a constant folds too");
        let pivot = m.graph.require("pivot").unwrap();
        assert_eq!(m.graph.control_inputs(out), [pivot]);
    }
}
