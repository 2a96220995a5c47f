//! Why each node a serving graph leaves out goes, derived from the training
//! step's structure and op semantics (never from names): an optimizer's
//! apply ops name their gradient inputs, the backward graph is what those
//! inputs read, and the forward values the gradients read are the loss's
//! computation. One algorithm for every graph representation that can say
//! who reads whom ([`StepGraph`]), so the prune pass and a narrowed read
//! give the same answer.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use foldhash::fast::FixedState;
use smallvec::SmallVec;

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

/// A map keyed by node handles (or op names): hashed with foldhash, as the
/// graphs here have a hundred thousand nodes and no key comes from outside
/// the file being read.
pub type NodeMap<K, V> = HashMap<K, V, FixedState>;
type NodeSet<K> = HashSet<K, FixedState>;

/// The training category of every removed node that has one; nodes without
/// one are simply unused. `consumers_first` lists the removed nodes with
/// each node's consumers before it (loop back edges aside). Linear in the
/// removed nodes and their edges.
pub fn removal_categories<G: StepGraph>(
    graph: &G,
    consumers_first: &[G::Node],
) -> NodeMap<G::Node, TrainingCategory> {
    let mut own = OwnCategories::default();
    let step = TrainingStep::find(graph, consumers_first, &mut own);
    let mut reasons: NodeMap<G::Node, TrainingCategory> = NodeMap::default();
    reasons.reserve(consumers_first.len());
    for &id in consumers_first {
        if let Some(reason) = step.category(graph, id, &reasons, &mut own) {
            reasons.insert(id, reason);
        }
    }
    // A gradient while loop reads its own results through back edges, which
    // the first sweep saw uncategorised: once more over the backward graph,
    // with every consumer categorised.
    for &id in consumers_first {
        if step.behind_gradients.contains(&id)
            && let Some(reason) = step.category(graph, id, &reasons, &mut own)
        {
            reasons.insert(id, reason);
        }
    }
    reasons
}

/// [`training_category`] of each op name met, worked out once per name: a
/// training graph has a hundred thousand nodes but a few hundred op types.
#[derive(Default)]
struct OwnCategories<'g> {
    known: NodeMap<&'g str, Option<TrainingCategory>>,
}

impl<'g> OwnCategories<'g> {
    fn of(&mut self, op: &'g str) -> Option<TrainingCategory> {
        *self
            .known
            .entry(op)
            .or_insert_with(|| training_category(op))
    }
}

/// The shape of the training step among the removed nodes.
struct TrainingStep<N> {
    /// What the apply ops read through their gradient inputs.
    gradient_inputs: NodeSet<N>,
    /// Removed nodes the gradient inputs depend on: the backward graph and
    /// the forward values it reads.
    behind_gradients: NodeSet<N>,
    /// Removed nodes that run after an apply op (the step's bookkeeping).
    after_apply: NodeSet<N>,
}

impl<N: Copy + Eq + Hash> TrainingStep<N> {
    fn find<'g, G: StepGraph<Node = N>>(
        graph: &'g G,
        removed: &[N],
        own: &mut OwnCategories<'g>,
    ) -> Self {
        let applies: Vec<N> = removed
            .iter()
            .copied()
            .filter(|&id| own.of(graph.op(id)) == Some(TrainingCategory::Optimizer))
            .collect();
        let gradient_inputs: NodeSet<N> = applies
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
    fn category<'g, G: StepGraph<Node = N>>(
        &self,
        graph: &'g G,
        id: N,
        reasons: &NodeMap<N, TrainingCategory>,
        own: &mut OwnCategories<'g>,
    ) -> Option<TrainingCategory> {
        let op = graph.op(id);
        if self.after_apply.contains(&id) && is_step_increment(op) {
            return Some(TrainingCategory::Optimizer);
        }
        if let Some(own) = own.of(op) {
            return Some(own);
        }
        if self.gradient_inputs.contains(&id) {
            return Some(TrainingCategory::Gradient);
        }
        let consumers: SmallVec<[Reader; 8]> = graph
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
) -> NodeSet<G::Node>
where
    G::Node: 'a,
{
    let mut seen: NodeSet<G::Node> = NodeSet::default();
    let mut stack: Vec<G::Node> = roots.into_iter().copied().collect();
    while let Some(id) = stack.pop() {
        if graph.is_removed(id) && seen.insert(id) {
            stack.extend(next(id));
        }
    }
    seen
}
