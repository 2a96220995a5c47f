//! Why each node a serving graph leaves out goes, derived from the training
//! step's structure and op semantics (never from names): an optimizer's
//! apply ops name their gradient inputs, the backward graph is what those
//! inputs read, and the forward values the gradients read are the loss's
//! computation. One algorithm for every graph representation that can say
//! who reads whom ([`StepGraph`]), so the prune pass and a narrowed read
//! give the same answer.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use super::training::{
    TrainingCategory, gradient_inputs, is_step_increment, reads_only_shape, training_category,
};

/// A graph seen by the categorisation: ops and edges (data and control) of
/// the nodes being removed. Edges to kept nodes may be reported; they are
/// ignored.
pub trait StepGraph {
    /// A node's handle.
    type Node: Copy + Eq + Hash;
    /// The node's op type.
    fn op(&self, node: Self::Node) -> &str;
    /// Every node it reads, by data or control.
    fn producers(&self, node: Self::Node) -> Vec<Self::Node>;
    /// Every node that reads it, by data or control.
    fn consumers(&self, node: Self::Node) -> Vec<Self::Node>;
    /// The producer of its data input `slot`.
    fn data_input(&self, node: Self::Node, slot: usize) -> Option<Self::Node>;
    /// Whether the node is being removed.
    fn is_removed(&self, node: Self::Node) -> bool;
}

/// The training category of every removed node that has one; nodes without
/// one are simply unused. `consumers_first` lists the removed nodes with
/// each node's consumers before it (loop back edges aside). Linear in the
/// removed nodes and their edges.
pub fn removal_categories<G: StepGraph>(
    graph: &G,
    consumers_first: &[G::Node],
) -> HashMap<G::Node, TrainingCategory> {
    let step = TrainingStep::find(graph, consumers_first);
    let mut reasons: HashMap<G::Node, TrainingCategory> = HashMap::new();
    for &id in consumers_first {
        if let Some(reason) = step.category(graph, id, &reasons) {
            reasons.insert(id, reason);
        }
    }
    // A gradient while loop reads its own results through back edges, which
    // the first sweep saw uncategorised: once more over the backward graph,
    // with every consumer categorised.
    for &id in consumers_first {
        if step.behind_gradients.contains(&id)
            && let Some(reason) = step.category(graph, id, &reasons)
        {
            reasons.insert(id, reason);
        }
    }
    reasons
}

/// The shape of the training step among the removed nodes.
struct TrainingStep<N> {
    /// What the apply ops read through their gradient inputs.
    gradient_inputs: HashSet<N>,
    /// Removed nodes the gradient inputs depend on: the backward graph and
    /// the forward values it reads.
    behind_gradients: HashSet<N>,
    /// Removed nodes that run after an apply op (the step's bookkeeping).
    after_apply: HashSet<N>,
}

impl<N: Copy + Eq + Hash> TrainingStep<N> {
    fn find<G: StepGraph<Node = N>>(graph: &G, removed: &[N]) -> Self {
        let applies: Vec<N> = removed
            .iter()
            .copied()
            .filter(|&id| training_category(graph.op(id)) == Some(TrainingCategory::Optimizer))
            .collect();
        let gradient_inputs: HashSet<N> = applies
            .iter()
            .flat_map(|&apply| {
                let slots = gradient_inputs(graph.op(apply));
                slots
                    .iter()
                    .filter_map(move |&s| graph.data_input(apply, s))
            })
            .filter(|&id| graph.is_removed(id))
            .collect();
        let behind_gradients = walk(graph, &gradient_inputs, |id| graph.producers(id));
        let after_apply = walk(graph, &applies, |id| graph.consumers(id));
        TrainingStep {
            gradient_inputs,
            behind_gradients,
            after_apply,
        }
    }

    /// A node's category: a global-step increment after the apply ops is
    /// optimizer work; otherwise its own op's category; otherwise what its
    /// consumers make of it.
    fn category<G: StepGraph<Node = N>>(
        &self,
        graph: &G,
        id: N,
        reasons: &HashMap<N, TrainingCategory>,
    ) -> Option<TrainingCategory> {
        let op = graph.op(id);
        if self.after_apply.contains(&id) && is_step_increment(op) {
            return Some(TrainingCategory::Optimizer);
        }
        if let Some(own) = training_category(op) {
            return Some(own);
        }
        if self.gradient_inputs.contains(&id) {
            return Some(TrainingCategory::Gradient);
        }
        let consumers: Vec<Reader> = graph
            .consumers(id)
            .into_iter()
            .filter_map(|c| {
                reasons.get(&c).map(|&category| Reader {
                    category,
                    value: !reads_only_shape(graph.op(c)),
                })
            })
            .collect();
        if self.behind_gradients.contains(&id) {
            Some(backward_or_forward(&consumers))
        } else {
            by_consumers(&consumers)
        }
    }
}

/// A categorised consumer: its category and whether it reads values (not
/// just the shape).
#[derive(Clone, Copy)]
struct Reader {
    category: TrainingCategory,
    value: bool,
}

/// A node the gradients depend on is gradient work when only gradient (or
/// optimizer) work reads it and some gradient reads its values (or nothing
/// categorised reads it); otherwise it
/// is forward computation the gradients differentiate or read (`Loss`), or,
/// when only the optimizer reads it, a hyper-parameter (`Optimizer`).
fn backward_or_forward(consumers: &[Reader]) -> TrainingCategory {
    use TrainingCategory::{Gradient, Loss, Optimizer};
    let only_training_step = consumers
        .iter()
        .all(|r| matches!(r.category, Gradient | Optimizer));
    let values_read_by_gradient = consumers.iter().any(|r| r.category == Gradient && r.value);
    // Nothing categorised reading it: the gradient machinery's own
    // bookkeeping (a stack push, a loop counter read over a back edge).
    if only_training_step && (values_read_by_gradient || consumers.is_empty()) {
        Gradient
    } else if !consumers.is_empty() && consumers.iter().all(|r| r.category == Optimizer) {
        Optimizer
    } else {
        Loss
    }
}

/// Outside the backward graph a node takes its consumers' category when they
/// agree; when they differ, the first in report order other than `Summary`
/// (a summary only claims what feeds nothing but summaries).
fn by_consumers(consumers: &[Reader]) -> Option<TrainingCategory> {
    let first = consumers.first()?.category;
    if consumers.iter().all(|r| r.category == first) {
        return Some(first);
    }
    consumers
        .iter()
        .map(|r| r.category)
        .filter(|&c| c != TrainingCategory::Summary)
        .min()
}

/// Removed nodes reachable from `roots` by `next`, roots included.
fn walk<'a, G: StepGraph>(
    graph: &G,
    roots: impl IntoIterator<Item = &'a G::Node>,
    next: impl Fn(G::Node) -> Vec<G::Node>,
) -> HashSet<G::Node>
where
    G::Node: 'a,
{
    let mut seen: HashSet<G::Node> = HashSet::new();
    let mut stack: Vec<G::Node> = roots.into_iter().copied().collect();
    while let Some(id) = stack.pop() {
        if graph.is_removed(id) && seen.insert(id) {
            stack.extend(next(id));
        }
    }
    seen
}
