//! Why an object or checkpoint key is left out, judged by structure.
//!
//! - The optimizer is found as `object_graph` finds it (it holds slot
//!   variables, or has a Keras optimizer's children); its slots are
//!   `optimizer slot`, a scalar integer variable that is its direct child is
//!   its `training step counter`, and everything only it reaches is
//!   `optimizer state`.
//! - A `metric` is an object reachable from the root only through an edge
//!   named `metrics` — the list Keras models and layers keep their metric
//!   objects under (`keras_api/metrics/0/total`). The model's own weights
//!   are reachable around it (through `layer_with_weights-N`, `variables`).
//! - Anything else is not read by a kept signature.

use std::collections::VecDeque;

use crate::front::object_graph::{ObjectGraph, Role};

/// The edge name Keras keeps metric objects under.
const METRICS_EDGE: &str = "metrics";

pub(super) const OPTIMIZER: &str = "optimizer";
pub(super) const OPTIMIZER_SLOT: &str = "optimizer slot";
pub(super) const OPTIMIZER_STATE: &str = "optimizer state";
pub(super) const STEP_COUNTER: &str = "training step counter";
pub(super) const METRIC: &str = "metric";
pub(super) const NOT_READ: &str = "not read by a kept signature";
pub(super) const NOT_REACHED: &str = "not reached by a kept signature";
pub(super) const NOT_CALLED: &str = "function not called by a kept signature";
pub(super) const SIGNATURE_NOT_KEPT: &str = "signature not kept";

/// Each object's training role, if it has one: `optimizer`,
/// `optimizer slot`, `training step counter`, `optimizer state`, `metric`.
/// `integer_scalar` says whether an object is a scalar integer variable.
pub(super) fn training_roles(
    graph: &ObjectGraph,
    integer_scalar: impl Fn(usize) -> bool,
) -> Vec<Option<&'static str>> {
    let roles = graph.roles();
    let optimizers = graph.optimizers();
    let is_counter = |id: usize| {
        integer_scalar(id)
            && optimizers.iter().any(|&o| {
                graph
                    .objects
                    .get(o)
                    .is_some_and(|opt| opt.children.iter().any(|c| c.object == id))
            })
    };
    let outside_metrics = reachable(graph, |name| name != METRICS_EDGE);
    let everywhere = reachable(graph, |_| true);
    roles
        .iter()
        .enumerate()
        .map(|(id, role)| match role {
            Role::Slot { .. } => Some(OPTIMIZER_SLOT),
            Role::Optimizer => Some(OPTIMIZER),
            Role::OptimizerState if is_counter(id) => Some(STEP_COUNTER),
            Role::OptimizerState => Some(OPTIMIZER_STATE),
            Role::Model | Role::Unreachable => {
                let metric = everywhere.get(id).copied().unwrap_or(false)
                    && !outside_metrics.get(id).copied().unwrap_or(false);
                metric.then_some(METRIC)
            }
        })
        .collect()
}

/// Objects reachable from the root through edges `cross` accepts.
fn reachable(graph: &ObjectGraph, cross: impl Fn(&str) -> bool) -> Vec<bool> {
    let mut seen = vec![false; graph.objects.len()];
    if let Some(root) = seen.first_mut() {
        *root = true;
    }
    let mut queue = VecDeque::from([0usize]);
    while let Some(id) = queue.pop_front() {
        let Some(object) = graph.objects.get(id) else {
            continue;
        };
        for child in &object.children {
            if !cross(&child.local_name) {
                continue;
            }
            if let Some(flag) = seen.get_mut(child.object).filter(|f| !**f) {
                *flag = true;
                queue.push_back(child.object);
            }
        }
    }
    seen
}
