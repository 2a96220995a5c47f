//! Stripping: [`DebugOpsPass`] takes debugging ops out of the serving path
//! (`CheckNumerics`, `Print` pass their input through; `PrintV2` only
//! logs). The final check is [`VerifyServingPass`](super::verify::VerifyServingPass).

use super::{Pass, PassContext, PassError, PassReport};
use crate::ir::TensorRef;
use crate::model::Model;
use crate::ops::training::TrainingCategory;

/// Bypasses and removes debugging ops.
pub struct DebugOpsPass;

impl Pass for DebugOpsPass {
    fn name(&self) -> &'static str {
        "debug-ops"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        for id in model.graph.node_ids() {
            let op = model.graph.op(id).to_string();
            if !matches!(
                op.as_str(),
                "CheckNumerics" | "CheckNumericsV2" | "Print" | "PrintV2"
            ) {
                continue;
            }
            if let Some(input) = model.graph.data_input(id, 0).filter(|_| op != "PrintV2") {
                let from = TensorRef::new(id, 0);
                let (from_name, to_name) = (
                    model.graph.tensor_name(from),
                    model.graph.tensor_name(input),
                );
                model.rewire(from, input);
                report.rewired(from_name, to_name, format!("{op} passes its input through"));
            }
            model.graph.rewire_control(id, None);
            if let Some(node) = model.graph.remove_node(id) {
                report.removed(TrainingCategory::Debug, node.name());
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{node, serving_model};
    use crate::passes::verify::VerifyServingPass;

    #[test]
    fn verify_names_the_training_op_and_the_path_to_it() {
        let mut model = serving_model(
            vec![
                node("x", "Placeholder", &[]),
                node("queue", "FIFOQueueV2", &[]),
                node("batch", "QueueDequeueManyV2", &["queue", "x"]),
                node("out", "Relu", &["batch"]),
            ],
            "out:0",
        );
        let err = VerifyServingPass
            .run(&mut model, &mut PassContext::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"queue\"")
                && err.contains("FIFOQueueV2")
                && err.contains("out <- batch <- queue"),
            "{err}"
        );
    }

    #[test]
    fn debug_ops_are_bypassed() {
        let mut model = serving_model(
            vec![
                node("x", "Placeholder", &[]),
                node("check", "CheckNumerics", &["x"]),
                node("log", "PrintV2", &["x"]),
                node("out", "Relu", &["check", "^log"]),
            ],
            "out:0",
        );
        let report = DebugOpsPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let g = &model.graph;
        let out = g.find("out").unwrap();
        let inputs: Vec<String> = g
            .data_inputs(out)
            .into_iter()
            .map(|t| g.tensor_name(t))
            .collect();
        assert_eq!(inputs, ["x:0"]);
        assert!(g.control_inputs(out).is_empty());
        assert_eq!(report.removed["debug"].len(), 2);
        VerifyServingPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
    }
}
