//! The final check: no node of the training-only table survived in the
//! serving graph (naming any that did and the path by which a signature
//! output still needs it), nor in the library functions the graph still
//! calls (nor a dropout there).

use super::function_bodies::{library_function, read_body};
use super::{Pass, PassContext, PassError, PassReport};
use crate::ir::{NodeId, TensorRef};
use crate::model::Model;
use crate::ops::training::training_category;

/// Fails when a training-only node is left in the graph.
pub struct VerifyServingPass;

impl Pass for VerifyServingPass {
    fn name(&self) -> &'static str {
        "verify"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let graph = &model.graph;
        let outputs = model.output_nodes();
        for id in graph.node_ids() {
            let Some(category) = training_category(graph.op(id)) else {
                continue;
            };
            let found = outputs
                .iter()
                .find_map(|&out| graph.dependency_path(out, id));
            if let Some(error) = found
                .as_deref()
                .and_then(|path| input_component(model, &cx.inputs, path, id))
            {
                return Err(error);
            }
            // A table initializer may legitimately write; nothing in the table does.
            let path = found
                .map(|p| p.into_iter().map(|n| graph.name(n).to_string()).collect())
                .unwrap_or_else(|| {
                    vec![format!(
                        "{} (kept for restore or table init)",
                        graph.name(id)
                    )]
                });
            return Err(PassError::TrainingOpRemains {
                node: graph.name(id).into(),
                op: graph.op(id).into(),
                category: category.to_string(),
                path,
            });
        }
        check_called_functions(model)?;
        Ok(PassReport::default())
    }
}

/// When the `path` by which an output needs training-only node `training`
/// passes through the node of an `--input` tensor, reading another of its
/// outputs: the input named the wrong component (a dataset iterator's
/// labels instead of its features, say), and the error says so.
fn input_component(
    model: &Model,
    inputs: &[super::inputs::InputSpec],
    path: &[NodeId],
    training: NodeId,
) -> Option<PassError> {
    let graph = &model.graph;
    path.windows(2).find_map(|pair| {
        let (consumer, source) = (pair[0], pair[1]);
        let spec = inputs
            .iter()
            .find(|s| crate::ir::node_of(&s.tensor) == graph.name(source))?;
        let read = graph
            .data_inputs(consumer)
            .into_iter()
            .find(|t| t.node == source)?;
        let read = graph.tensor_name(read);
        (read != spec.tensor && format!("{}:0", spec.tensor) != read).then(|| {
            PassError::InputComponent {
                input: format!("{}={}", spec.key, spec.tensor),
                read,
                training: format!(
                    "{:?} ({}, {})",
                    graph.name(training),
                    graph.op(training),
                    training_category(graph.op(training))
                        .map(|c| c.to_string())
                        .unwrap_or_default()
                ),
                path: path.iter().map(|&n| graph.name(n).to_string()).collect(),
            }
        })
    })
}

/// Fails when a function the serving graph calls still holds a
/// training-only op or a dropout.
pub fn check_called_functions(model: &Model) -> Result<(), PassError> {
    for name in model.graph.called_functions() {
        let Some(function) = library_function(model, &name) else {
            continue;
        };
        let remains = |node: &str, op: &str, category: &str| PassError::TrainingOpInFunction {
            function: name.clone(),
            node: node.into(),
            op: op.into(),
            category: category.into(),
        };
        if let Some(node) = function
            .node_def
            .iter()
            .find(|n| training_category(&n.op).is_some())
        {
            let category = training_category(&node.op).map(|c| c.to_string());
            return Err(remains(&node.name, &node.op, &category.unwrap_or_default()));
        }
        if let Ok(body) = read_body(model, function) {
            let graph = &body.graph;
            let dropout = graph
                .node_ids()
                .into_iter()
                .find(|&id| super::dropout::match_dropout(graph, TensorRef::new(id, 0)).is_some());
            if let Some(id) = dropout {
                return Err(remains(graph.name(id), graph.op(id), "dropout"));
            }
        }
    }
    Ok(())
}
