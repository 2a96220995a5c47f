//! `remove_nodes(op=...)`: bypasses nodes of the given ops, their consumers
//! reading their first input instead. Unlike the Graph Transform Tool it
//! keeps the nodes that carry control flow, so `tf.cond` and while loops
//! still run: a node is kept when something depends on it by control (a
//! cond branch's `switch_t`/`switch_f` Identity), when it has control
//! inputs of its own, when it reads from or feeds a control-flow op
//! (`Switch`, `Merge`, `Enter`, `Exit`, `NextIteration`, `LoopCond`), or
//! when it is an input or output of the run.

use std::collections::BTreeSet;

use super::super::registry::{BuildContext, PassArgs};
use super::super::{Pass, PassContext, PassError, PassReport, Removal};
use super::Endpoints;
use crate::ir::{Graph, NodeId, TensorRef};
use crate::model::Model;
use crate::op_kinds::is_control_flow_op;

pub struct RemoveNodes {
    ops: BTreeSet<String>,
    max_inputs: usize,
    endpoints: Endpoints,
}

impl RemoveNodes {
    pub(super) fn new(args: &PassArgs, cx: &BuildContext) -> Result<RemoveNodes, PassError> {
        Ok(RemoveNodes {
            ops: args.all("op").into_iter().map(String::from).collect(),
            max_inputs: args.int("max_inputs")?.unwrap_or(1).max(0) as usize,
            endpoints: Endpoints::of(cx),
        })
    }
}

/// Why a node of a listed op stays, if it does.
fn keeps_control_flow(graph: &Graph, id: NodeId) -> Option<&'static str> {
    let is_flow = |id: NodeId| is_control_flow_op(graph.op(id));
    if !graph.control_consumers(id).is_empty() {
        return Some("other nodes depend on it by control");
    }
    if !graph.control_inputs(id).is_empty() {
        return Some("it has control inputs");
    }
    if graph.producers(id).into_iter().any(is_flow) {
        return Some("it reads a control-flow op");
    }
    if graph.consumers(id).into_iter().any(is_flow) {
        return Some("it feeds a control-flow op");
    }
    None
}

impl Pass for RemoveNodes {
    fn name(&self) -> &'static str {
        "remove_nodes"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        // Bypassing a node of a cycle would rewire a reader to the node
        // itself and, once it is removed, leave that reader an input short.
        // While loops' cycles pass through `NextIteration`, whose readers
        // and feeders are kept below.
        model.graph.topological_order()?;
        let mut report = PassReport::default();
        let protected = self.endpoints.protected(model);
        let mut kept: BTreeSet<(String, &'static str)> = BTreeSet::new();
        for id in model.graph.node_ids() {
            if !self.ops.contains(model.graph.op(id)) || protected.contains(model.graph.name(id)) {
                continue;
            }
            let inputs = model.graph.data_inputs(id);
            let Some(&first) = inputs.first() else {
                continue;
            };
            if inputs.len() > self.max_inputs {
                continue;
            }
            if let Some(why) = keeps_control_flow(&model.graph, id) {
                kept.insert((model.graph.op(id).to_string(), why));
                continue;
            }
            bypass(model, id, first, &mut report);
        }
        for (op, why) in kept {
            report.note(format!("some {op} nodes kept: {why}"));
        }
        Ok(report)
    }
}

/// Points the readers of every output of `id` at `input` and removes it.
fn bypass(model: &mut Model, id: NodeId, input: TensorRef, report: &mut PassReport) {
    let name = model.graph.name(id).to_string();
    let from = model.graph.tensor_name(TensorRef::new(id, 0));
    let to = model.graph.tensor_name(input);
    model.rewire(TensorRef::new(id, 0), input);
    report.rewired(
        from,
        to,
        format!("{} {name} removed by remove_nodes", model.graph.op(id)),
    );
    model.graph.remove_node(id);
    report.removed(Removal::Rule("removed-op"), name);
}

#[cfg(test)]
mod tests {
    use super::super::super::registry::Registry;
    use super::*;
    use crate::passes::testing::{model, node};

    fn remove(op: &str, model: &mut Model, outputs: &[&str]) -> PassReport {
        let cx = BuildContext {
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            ..BuildContext::default()
        };
        Registry::standard()
            .build("remove_nodes", &[("op".into(), Some(op.into()))], &cx)
            .unwrap()
            .run(model, &mut PassContext::new())
            .unwrap()
    }

    #[test]
    fn identities_are_bypassed_but_outputs_stay() {
        let mut m = model(vec![
            node("x", "Placeholder", &[]),
            node("id", "Identity", &["x"]),
            node("y", "Neg", &["id"]),
            node("out", "Identity", &["y"]),
        ]);
        let report = remove("Identity", &mut m, &["out"]);
        assert_eq!(report.removed["removed-op"], ["id"]);
        let y = m.graph.require("y").unwrap();
        assert_eq!(m.graph.name(m.graph.data_inputs(y)[0].node), "x");
        assert!(m.graph.find("out").is_some());
    }

    #[test]
    fn a_cycle_outside_while_loops_is_refused_not_bypassed() {
        for identities in [
            vec![node("a", "Identity", &["b"]), node("b", "Identity", &["a"])],
            vec![node("a", "Identity", &["a"])],
        ] {
            let mut nodes = vec![node("x", "Placeholder", &[])];
            nodes.extend(identities);
            nodes.push(node("sum", "AddV2", &["x", "a"]));
            let mut m = model(nodes);
            let err = Registry::standard()
                .build(
                    "remove_nodes",
                    &[("op".into(), Some("Identity".into()))],
                    &BuildContext::default(),
                )
                .unwrap()
                .run(&mut m, &mut PassContext::new())
                .unwrap_err();
            assert!(err.to_string().contains("cycle"), "{err}");
            let sum = m.graph.require("sum").unwrap();
            assert_eq!(m.graph.data_inputs(sum).len(), 2);
        }
    }

    #[test]
    fn identities_carrying_cond_control_flow_stay() {
        let mut m = model(vec![
            node("pred", "Placeholder", &[]),
            node("x", "Placeholder", &[]),
            node("sw", "Switch", &["x", "pred"]),
            node("switch_t", "Identity", &["sw:1"]),
            node("c", "Const", &["^switch_t"]),
            node("t", "Identity", &["sw:1"]),
            node("f", "Identity", &["sw"]),
            node("plain", "Identity", &["c"]),
            node("m", "Merge", &["f", "plain"]),
        ]);
        let report = remove("Identity", &mut m, &["m"]);
        for kept in ["switch_t", "t", "f"] {
            assert!(m.graph.find(kept).is_some(), "{kept} removed: {report:?}");
        }
        // `plain` feeds the Merge, so it stays too.
        assert!(m.graph.find("plain").is_some());
        assert!(report.removed.is_empty(), "{report:?}");
    }
}
