//! Why each node a serving graph leaves out goes, derived from the training
//! step's structure and op semantics (never from names): an optimizer's
//! apply ops name their gradient inputs, the backward graph is what those
//! inputs read, and the forward values the gradients read are the loss's
//! computation. One algorithm for every graph representation that can say
//! who reads whom ([`StepGraph`]), so the prune pass and a narrowed read
//! give the same answer.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::FixedState;
use smallvec::SmallVec;

use crate::op_kinds::is_control_flow_op;

use super::training::{
    TrainingCategory, gradient_inputs as gradient_inputs_of, is_step_increment, reads_only_shape,
    training_category,
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
    fn producers(&self, node: Self::Node) -> Neighbours<Self::Node>;
    /// Every node that reads it, by data or control.
    fn consumers(&self, node: Self::Node) -> Neighbours<Self::Node>;
    /// The producer of its data input `slot`.
    fn data_input(&self, node: Self::Node, slot: usize) -> Option<Self::Node>;
    /// Whether the node is being removed.
    fn is_removed(&self, node: Self::Node) -> bool;
    /// The node's dense index, below [`StepGraph::node_bound`]: the
    /// categorisation keeps its sets and maps in vectors indexed by it (a
    /// hundred thousand hash-set inserts cost more than the whole walk).
    fn index(&self, node: Self::Node) -> usize;
    /// One past the largest [`StepGraph::index`].
    fn node_bound(&self) -> usize;
}

/// A node's producers or consumers: inline up to eight, as nearly every
/// node of a training graph has, so the walks over a hundred thousand
/// nodes allocate nothing per step.
pub type Neighbours<N> = SmallVec<[N; 8]>;

/// A map keyed by node handles (or op names): hashed with foldhash, as the
/// graphs here have a hundred thousand nodes and no key comes from outside
/// the file being read.
pub type NodeMap<K, V> = HashMap<K, V, FixedState>;

/// Each removed node's category, by [`StepGraph::index`]: `None` for a
/// node without one (simply unused) and for nodes not removed.
pub type Categories = Vec<Option<TrainingCategory>>;

/// The training category of every removed node that has one (see
/// [`Categories`]). `consumers_first` lists the removed nodes with each
/// node's consumers before it (loop back edges aside). Linear in the removed
/// nodes and their edges.
pub fn removal_categories<G: StepGraph>(graph: &G, consumers_first: &[G::Node]) -> Categories {
    let own = OwnCategories::new(graph);
    let step = TrainingStep::find(graph, consumers_first, &own);
    let mut reasons: Categories = vec![None; graph.node_bound()];
    for &id in consumers_first {
        let reason = step.category(graph, id, &reasons, &own);
        if let (Some(reason), Some(slot)) = (reason, reasons.get_mut(graph.index(id))) {
            *slot = Some(reason);
        }
    }
    // A gradient while loop reads its own results through back edges, which
    // the first sweep saw uncategorised: once more over the backward graph,
    // with every consumer categorised.
    for &id in consumers_first {
        if step.behind_gradients.contains(graph, id)
            && let Some(reason) = step.category(graph, id, &reasons, &own)
            && let Some(slot) = reasons.get_mut(graph.index(id))
        {
            *slot = Some(reason);
        }
    }
    reasons
}

/// What the categorisation asks of each node's op — its
/// [`training_category`] and whether it [`reads_only_shape`] — worked out
/// once per node (a byte in a vector, so later questions do not chase the
/// op's name) and once per op name: a training graph has a hundred thousand
/// nodes but a few hundred op types.
struct OwnCategories<'g> {
    /// By node index: 0 not yet known; else [`SHAPE_ONLY`] if the op reads
    /// only shapes, with, below it, 1 + the category's place in
    /// [`TrainingCategory::ALL`] or [`NO_CATEGORY`].
    by_node: Vec<Cell<u8>>,
    by_op: std::cell::RefCell<NodeMap<&'g str, u8>>,
}

/// [`OwnCategories::by_node`]'s mark for an op that may serve.
const NO_CATEGORY: u8 = 0x7F;
/// [`OwnCategories::by_node`]'s flag for an op that reads only shapes.
const SHAPE_ONLY: u8 = 0x80;

impl<'g> OwnCategories<'g> {
    fn new<G: StepGraph>(graph: &G) -> Self {
        OwnCategories {
            by_node: vec![Cell::new(0); graph.node_bound()],
            by_op: Default::default(),
        }
    }

    fn of<G: StepGraph>(&self, graph: &'g G, node: G::Node) -> Option<TrainingCategory> {
        match self.mark(graph, node) & !SHAPE_ONLY {
            0 | NO_CATEGORY => None,
            place => TrainingCategory::ALL.get(usize::from(place - 1)).copied(),
        }
    }

    fn reads_only_shape<G: StepGraph>(&self, graph: &'g G, node: G::Node) -> bool {
        self.mark(graph, node) & SHAPE_ONLY != 0
    }

    fn mark<G: StepGraph>(&self, graph: &'g G, node: G::Node) -> u8 {
        let cell = self.by_node.get(graph.index(node));
        if let Some(known) = cell.map(Cell::get).filter(|&mark| mark != 0) {
            return known;
        }
        let op = graph.op(node);
        let mark = *self.by_op.borrow_mut().entry(op).or_insert_with(|| {
            let category = training_category(op)
                .and_then(|c| TrainingCategory::ALL.iter().position(|&a| a == c))
                .and_then(|place| u8::try_from(place + 1).ok())
                .unwrap_or(NO_CATEGORY);
            category | if reads_only_shape(op) { SHAPE_ONLY } else { 0 }
        });
        if let Some(cell) = cell {
            cell.set(mark);
        }
        mark
    }
}

/// A set of nodes: a mark per [`StepGraph::index`], and the members in the
/// order they were added.
struct NodeSet<N> {
    marks: Vec<bool>,
    members: Vec<N>,
}

impl<N: Copy> NodeSet<N> {
    fn new<G: StepGraph<Node = N>>(graph: &G) -> Self {
        NodeSet {
            marks: vec![false; graph.node_bound()],
            members: Vec::new(),
        }
    }

    /// Adds `node`; whether it was new.
    fn insert<G: StepGraph<Node = N>>(&mut self, graph: &G, node: N) -> bool {
        match self.marks.get_mut(graph.index(node)) {
            Some(mark) if !*mark => {
                *mark = true;
                self.members.push(node);
                true
            }
            _ => false,
        }
    }

    fn contains<G: StepGraph<Node = N>>(&self, graph: &G, node: N) -> bool {
        self.marks.get(graph.index(node)).copied().unwrap_or(false)
    }

    fn iter(&self) -> impl Iterator<Item = N> + '_ {
        self.members.iter().copied()
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
    /// The losses the gradients were seeded from that no gradient reads
    /// (see [`losses`]).
    losses: NodeSet<N>,
}

impl<N: Copy + Eq + Hash> TrainingStep<N> {
    fn find<'g, G: StepGraph<Node = N>>(
        graph: &'g G,
        removed: &[N],
        own: &OwnCategories<'g>,
    ) -> Self {
        let applies: Vec<N> = removed
            .iter()
            .copied()
            .filter(|&id| own.of(graph, id) == Some(TrainingCategory::Optimizer))
            .collect();
        let mut gradient_inputs = NodeSet::new(graph);
        for &apply in &applies {
            for &slot in gradient_inputs_of(graph.op(apply)) {
                if let Some(input) = graph.data_input(apply, slot)
                    && graph.is_removed(input)
                {
                    gradient_inputs.insert(graph, input);
                }
            }
        }
        let behind_gradients = walk(graph, gradient_inputs.iter(), |id| graph.producers(id));
        let after_apply = walk(graph, applies.iter().copied(), |id| graph.consumers(id));
        let losses = losses(graph, &behind_gradients, &after_apply, own);
        TrainingStep {
            gradient_inputs,
            behind_gradients,
            after_apply,
            losses,
        }
    }

    /// A node's category: a global-step increment after the apply ops is
    /// optimizer work; otherwise its own op's category; otherwise what its
    /// consumers make of it.
    fn category<'g, G: StepGraph<Node = N>>(
        &self,
        graph: &'g G,
        id: N,
        reasons: &Categories,
        own: &OwnCategories<'g>,
    ) -> Option<TrainingCategory> {
        if self.after_apply.contains(graph, id) && is_step_increment(graph.op(id)) {
            return Some(TrainingCategory::Optimizer);
        }
        if let Some(own) = own.of(graph, id) {
            return Some(own);
        }
        if self.gradient_inputs.contains(graph, id) {
            return Some(TrainingCategory::Gradient);
        }
        if self.losses.contains(graph, id) {
            return Some(TrainingCategory::Loss);
        }
        let consumers: SmallVec<[Reader; 8]> = graph
            .consumers(id)
            .into_iter()
            .filter_map(|c| {
                let category = reasons.get(graph.index(c)).copied().flatten()?;
                Some(Reader {
                    category,
                    value: !own.reads_only_shape(graph, c),
                })
            })
            .collect();
        if self.behind_gradients.contains(graph, id) {
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

/// Whether `op` makes a gradient seed: the ones the backward graph starts
/// from, `Fill(Shape(loss), 1)` (its shape folded to a constant when the
/// loss's shape is known) or `OnesLike(loss)`.
fn is_seed_op(op: &str) -> bool {
    matches!(op, "Fill" | "OnesLike")
}

/// The losses no gradient reads: when the loss's shape is known, the seed
/// is `Fill(Const, 1)` and nothing ties the loss to the gradients (with
/// `Shape(loss)` or `OnesLike(loss)` the loss is behind the gradients and
/// categorised there). Found by structure: the backward graph is what its
/// seeds feed; the forward values it reads are the rest of what the
/// gradients depend on; a loss is computed from those values (through data
/// edges, outside the gradients, control flow and the ops of other
/// categories), and nothing but summaries reads it (a loss only fetched is
/// read by nothing: then it must be computed from a loss op, as a value a
/// pass bypassed is read by nothing too). Empty without a seed among the
/// gradients' dependencies.
fn losses<'g, G: StepGraph>(
    graph: &'g G,
    behind_gradients: &NodeSet<G::Node>,
    after_apply: &NodeSet<G::Node>,
    own: &OwnCategories<'g>,
) -> NodeSet<G::Node> {
    let seeds: Vec<G::Node> = behind_gradients
        .iter()
        .filter(|&id| is_seed_op(graph.op(id)))
        .collect();
    if seeds.is_empty() {
        return NodeSet::new(graph);
    }
    let backward = walk(graph, seeds.iter().copied(), |id| graph.consumers(id));
    let forward: Vec<G::Node> = behind_gradients
        .iter()
        .filter(|&id| !backward.contains(graph, id))
        .collect();
    // Control flow moves values (a loop's counters, an unused exit); it
    // computes no loss.
    let outside = |id: G::Node| {
        !behind_gradients.contains(graph, id)
            && !backward.contains(graph, id)
            && !after_apply.contains(graph, id)
            && own.of(graph, id).is_none()
            && !is_control_flow_op(graph.op(id))
    };
    // Through data edges only: a control edge passes no value.
    let reads = |consumer: G::Node, producer: G::Node| {
        let inputs = (0..).map_while(|slot| graph.data_input(consumer, slot));
        inputs.into_iter().any(|input| input == producer)
    };
    let computed_from = |roots: &[G::Node]| {
        walk(graph, roots.iter().copied(), |id| {
            let consumers = graph.consumers(id).into_iter();
            consumers.filter(|&c| outside(c) && reads(c, id)).collect()
        })
    };
    let computed = computed_from(&forward);
    // A value nothing reads may be one a pass bypassed (a dropout's masked
    // output): only one computed from a loss op (a cross entropy) is a loss.
    let loss_ops: Vec<G::Node> = forward
        .iter()
        .copied()
        .filter(|&id| own.of(graph, id) == Some(TrainingCategory::Loss))
        .collect();
    let from_loss_ops = computed_from(&loss_ops);
    let is_loss = |id: G::Node| {
        let summary = |c: &G::Node| own.of(graph, *c) == Some(TrainingCategory::Summary);
        let consumers = graph.consumers(id);
        let read = !consumers.is_empty() || from_loss_ops.contains(graph, id);
        outside(id) && !own.reads_only_shape(graph, id) && read && consumers.iter().all(summary)
    };
    let mut losses = NodeSet::new(graph);
    for id in computed.iter().filter(|&id| is_loss(id)) {
        losses.insert(graph, id);
    }
    losses
}

/// Removed nodes reachable from `roots` by `next`, roots included.
fn walk<G: StepGraph>(
    graph: &G,
    roots: impl IntoIterator<Item = G::Node>,
    next: impl Fn(G::Node) -> Neighbours<G::Node>,
) -> NodeSet<G::Node> {
    let mut seen = NodeSet::new(graph);
    let mut stack: Vec<G::Node> = roots.into_iter().collect();
    while let Some(id) = stack.pop() {
        if graph.is_removed(id) && seen.insert(graph, id) {
            stack.extend(next(id));
        }
    }
    seen
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A graph of ops and data inputs (by index); every node but those in
    /// `kept` is being removed.
    struct Small {
        ops: Vec<&'static str>,
        inputs: Vec<Vec<usize>>,
        kept: Vec<usize>,
    }

    impl StepGraph for Small {
        type Node = usize;
        fn op(&self, node: usize) -> &str {
            self.ops[node]
        }
        fn producers(&self, node: usize) -> Neighbours<usize> {
            Neighbours::from_slice(&self.inputs[node])
        }
        fn consumers(&self, node: usize) -> Neighbours<usize> {
            let readers = self.inputs.iter().enumerate();
            readers
                .filter(|(_, inputs)| inputs.contains(&node))
                .map(|(id, _)| id)
                .collect()
        }
        fn data_input(&self, node: usize, slot: usize) -> Option<usize> {
            self.inputs[node].get(slot).copied()
        }
        fn is_removed(&self, node: usize) -> bool {
            !self.kept.contains(&node)
        }
        fn index(&self, node: usize) -> usize {
            node
        }
        fn node_bound(&self) -> usize {
            self.ops.len()
        }
    }

    // The nodes of `step`, by index.
    const LOGITS: usize = 0;
    const WEIGHTS: usize = 1;
    const XENT: usize = 2;
    const AXES: usize = 3;
    const MEAN: usize = 4;
    const SUMMARY: usize = 5;
    const DIMS: usize = 6;
    const ONE: usize = 7;
    const SEED: usize = 8;
    const MEAN_GRAD: usize = 9;
    const XENT_GRAD: usize = 10;
    const WEIGHTS_GRAD: usize = 11;
    const APPLY: usize = 12;

    /// A training step: `mean(xent(logits))` read by a scalar summary, the
    /// gradients seeded with `seed` (a `Fill` of constants, the loss's shape
    /// folded), a gradient-descent update of the weights.
    fn step(seed: &'static str, summarised: bool) -> Small {
        let mut ops = vec![
            "MatMul",
            "VariableV2",
            "SparseSoftmaxCrossEntropyWithLogits",
            "Const",
            "Mean",
            "ScalarSummary",
            "Const",
            "Const",
            seed,
            "Tile",
            "Mul",
            "MatMul",
            "ApplyGradientDescent",
        ];
        let mut inputs = vec![
            vec![WEIGHTS],
            vec![],
            vec![LOGITS],
            vec![],
            vec![XENT, AXES],
            vec![MEAN],
            vec![],
            vec![],
            vec![DIMS, ONE],
            vec![SEED],
            vec![MEAN_GRAD, XENT],
            vec![XENT_GRAD],
            vec![WEIGHTS, ONE, WEIGHTS_GRAD],
        ];
        if !summarised {
            ops[SUMMARY] = "NoOp";
            inputs[SUMMARY] = vec![];
        }
        Small {
            ops,
            inputs,
            kept: vec![LOGITS, WEIGHTS],
        }
    }

    fn categories(graph: &Small) -> Categories {
        let mut removed: Vec<usize> = (0..graph.ops.len())
            .filter(|&id| graph.is_removed(id))
            .collect();
        removed.reverse();
        removal_categories(graph, &removed)
    }

    #[test]
    fn the_loss_a_summary_reads_is_loss_not_summary() {
        let found = categories(&step("Fill", true));
        assert_eq!(found[MEAN], Some(TrainingCategory::Loss));
        assert_eq!(found[AXES], Some(TrainingCategory::Loss));
        assert_eq!(found[XENT], Some(TrainingCategory::Loss));
        assert_eq!(found[SUMMARY], Some(TrainingCategory::Summary));
        assert_eq!(found[SEED], Some(TrainingCategory::Gradient));
    }

    #[test]
    fn a_loss_nothing_reads_is_loss_too() {
        let found = categories(&step("OnesLike", false));
        assert_eq!(found[MEAN], Some(TrainingCategory::Loss));
    }

    #[test]
    fn a_value_a_pass_bypassed_is_no_loss() {
        // A dropout mask the gradients read, and the masked value the
        // dropout pass bypassed: read by nothing, not from a loss op.
        let mut graph = step("Fill", false);
        let (mask, masked) = (graph.ops.len(), graph.ops.len() + 1);
        graph.ops.extend(["GreaterEqual", "SelectV2"]);
        graph.inputs.extend([vec![], vec![mask]]);
        graph.inputs[WEIGHTS_GRAD].push(mask);
        let found = categories(&graph);
        assert_ne!(found[masked], Some(TrainingCategory::Loss));
        assert_eq!(found[MEAN], Some(TrainingCategory::Loss));
    }

    #[test]
    fn without_a_seed_what_feeds_only_a_summary_is_summary() {
        // The backward graph starts from something else than a seed (a
        // gradient handed in): nothing says which value is the loss.
        let found = categories(&step("Identity", true));
        assert_eq!(found[MEAN], Some(TrainingCategory::Summary));
    }

    #[test]
    fn what_the_gradients_compute_for_a_summary_is_no_loss() {
        // A gradient norm for a summary: computed from the backward graph.
        let mut graph = step("Fill", true);
        let norm = graph.ops.len();
        graph.ops.extend(["Square", "ScalarSummary"]);
        graph.inputs.extend([vec![WEIGHTS_GRAD], vec![norm]]);
        let found = categories(&graph);
        assert_eq!(found[norm], Some(TrainingCategory::Summary));
        assert_eq!(found[APPLY], Some(TrainingCategory::Optimizer));
        assert_eq!(found[MEAN], Some(TrainingCategory::Loss));
    }
}
