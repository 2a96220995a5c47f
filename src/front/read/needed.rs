//! Which nodes of a skimmed graph an export must decode: everything the
//! serving outputs depend on, plus what the passes and the writer look at
//! beyond that. Each rule below names who needs it; a pass that starts
//! looking at other nodes must add its rule here (the fixtures test that the
//! narrowed read and the full read make the same serving graph).
//!
//! The set is closed backwards over data and control inputs, so the decoded
//! nodes form a graph of their own. When the skim is not the plain, valid
//! graph this reasoning assumes — a duplicate or empty name, an input naming
//! no node, a wanted tensor that is not there — there is no answer, and the
//! caller decodes everything, which reports what is wrong as before.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::skim::{PARALLEL_FROM, SkimmedGraph, SkimmedInputs};
use crate::ir::constants::FORWARDING_OPS;
use crate::ir::{InputName, parse_input};
use crate::ops::training::TrainingCategory;
use crate::ops::training_step::{Neighbours, StepGraph, removal_categories};

/// What a read must keep for the caller: tensors (`node` or `node:port`)
/// and nodes it will look up. No tensors means the caller's outputs are not
/// known yet, and the whole graph is decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Signature outputs and inputs.
    pub tensors: Vec<String>,
    /// Nodes looked up by name (training flags).
    pub nodes: Vec<String>,
}

impl Wanted {
    /// Whether anything is left out: only when the wanted tensors are known.
    pub fn narrows(&self) -> bool {
        !self.tensors.is_empty()
    }
}

/// One input of a skimmed node, resolved: the producer's index and port.
#[derive(Debug, Clone, Copy)]
struct Input {
    producer: u32,
    /// [`CONTROL`] for a control input.
    port: u32,
}

/// The port of a control input.
const CONTROL: u32 = u32::MAX;

impl Input {
    fn is_data(&self) -> bool {
        self.port != CONTROL
    }
}

/// The inputs of the skimmed nodes in `range`, resolved by name: the
/// inputs in order, and where each node's begin. `None` on a malformed or
/// dangling input, or a data input after a control input.
fn resolve_inputs(
    skim: &SkimmedGraph<'_>,
    skimmed_inputs: &SkimmedInputs<'_>,
    by_name: &HashMap<&str, u32, FixedState>,
    range: std::ops::Range<usize>,
) -> Option<(Vec<Input>, Vec<usize>)> {
    let nodes = skim.nodes.get(range)?;
    let mut inputs = Vec::new();
    let mut starts = Vec::with_capacity(nodes.len());
    for node in nodes {
        starts.push(inputs.len());
        let mut seen_control = false;
        for input in skimmed_inputs.of(node) {
            let (producer, port) = match parse_input(node.name, input).ok()? {
                InputName::Data { node, port } if !seen_control => {
                    (node, u32::try_from(port).ok().filter(|&p| p != CONTROL)?)
                }
                InputName::Data { .. } => return None,
                InputName::Control { node } => {
                    seen_control = true;
                    (node, CONTROL)
                }
            };
            let producer = *by_name.get(producer)?;
            inputs.push(Input { producer, port });
        }
    }
    Some((inputs, starts))
}

/// [`resolve_inputs`] of a large graph in two halves, one on another
/// thread: hashing every input's name is most of a large graph's skim work.
fn resolve_in_halves(
    skim: &SkimmedGraph<'_>,
    skimmed_inputs: &SkimmedInputs<'_>,
    by_name: &HashMap<&str, u32, FixedState>,
) -> Option<(Vec<Input>, Vec<usize>)> {
    let count = skim.nodes.len();
    let half = count / 2;
    let (first, second) = std::thread::scope(|scope| {
        let second =
            scope.spawn(move || resolve_inputs(skim, skimmed_inputs, by_name, half..count));
        let first = resolve_inputs(skim, skimmed_inputs, by_name, 0..half);
        // A thread that panicked proves nothing: decode everything.
        (first, second.join().ok().flatten())
    });
    let (mut inputs, mut starts) = first?;
    let (second_inputs, second_starts) = second?;
    let offset = inputs.len();
    starts.extend(second_starts.into_iter().map(|start| start + offset));
    inputs.extend(second_inputs);
    Some((inputs, starts))
}

/// The skimmed graph with inputs resolved to node indices.
struct Resolved<'s, 'a> {
    skim: &'s SkimmedGraph<'a>,
    by_name: HashMap<&'a str, u32, FixedState>,
    inputs: Vec<Input>,
    /// Node i's inputs are `inputs[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
}

/// What a narrowed read does with each skimmed node, by skim index. The
/// removal reasons are worked out apart ([`Needed::removal_reasons`]) so
/// that a caller can do it beside the decode, on another thread.
pub struct Needed<'s, 'a> {
    /// Whether to decode it.
    pub decode: Vec<bool>,
    graph: Resolved<'s, 'a>,
}

impl Needed<'_, '_> {
    /// The inputs of skimmed node `node` as resolved: each producer's skim
    /// index and output port, `None` for a control input.
    pub fn inputs_of(&self, node: usize) -> impl Iterator<Item = (usize, Option<usize>)> + '_ {
        let inputs = u32::try_from(node).map_or(&[][..], |node| self.graph.inputs_of(node));
        inputs.iter().map(|input| {
            (
                input.producer as usize,
                input.is_data().then_some(input.port as usize),
            )
        })
    }

    /// For each node left undecoded, why the prune pass would remove it:
    /// its training category, else the first among what it feeds, else
    /// none. `None` on a cycle among them, which the full read reports.
    pub fn removal_reasons(&self) -> Option<Vec<Option<TrainingCategory>>> {
        self.graph.removal_reasons(&self.decode)
    }
}

/// Which nodes to decode, by skim index; `None` when the skim must not be
/// trusted and everything is to be decoded. `restore_op` is the training
/// saver's restore op, whose assignments say which checkpoint key each
/// variable is restored from (a graph without it just has no saver slots).
/// `inputs` are the skim's input strings (taken out of it with
/// [`SkimmedGraph::take_inputs`]): they are freed once resolved.
pub fn needed_nodes<'s, 'a>(
    skim: &'s SkimmedGraph<'a>,
    inputs: SkimmedInputs<'a>,
    wanted: &Wanted,
    restore_op: Option<&str>,
) -> Option<Needed<'s, 'a>> {
    if !wanted.narrows() {
        return None;
    }
    let graph = Resolved::new(skim, inputs)?;
    let mut roots = Vec::new();
    for tensor in &wanted.tensors {
        roots.push(graph.tensor_node(tensor)?);
    }
    for node in &wanted.nodes {
        roots.push(graph.node(node)?);
    }
    roots.extend(restore_op.and_then(|op| graph.node(op)));
    roots.extend(graph.placeholders());
    let updates = graph.moving_average_updates();
    roots.extend(graph.reads_of(&graph.updated_variables(&updates)));
    roots.extend(updates);
    let mut needed = vec![false; skim.nodes.len()];
    loop {
        graph.close_backwards(&mut needed, roots.drain(..));
        roots.extend(graph.table_initializers(&needed));
        if roots.is_empty() {
            // Names are not looked up any more: the index of every name
            // goes before the needed nodes are decoded.
            let mut graph = graph;
            graph.by_name = HashMap::default();
            return Some(Needed {
                decode: needed,
                graph,
            });
        }
    }
}

impl<'s, 'a> Resolved<'s, 'a> {
    /// Resolves every input by name; `None` on a duplicate or empty name, a
    /// malformed or dangling input, or a data input after a control input.
    fn new(skim: &'s SkimmedGraph<'a>, skimmed: SkimmedInputs<'a>) -> Option<Resolved<'s, 'a>> {
        let count = skim.nodes.len();
        let mut by_name = HashMap::with_capacity_and_hasher(count, FixedState::default());
        for (i, node) in skim.nodes.iter().enumerate() {
            let index = u32::try_from(i).ok()?;
            if node.name.is_empty() || by_name.insert(node.name, index).is_some() {
                return None;
            }
        }
        let (inputs, mut starts) = if count < PARALLEL_FROM {
            resolve_inputs(skim, &skimmed, &by_name, 0..count)?
        } else {
            resolve_in_halves(skim, &skimmed, &by_name)?
        };
        drop(skimmed);
        starts.push(inputs.len());
        Some(Resolved {
            skim,
            by_name,
            inputs,
            starts,
        })
    }

    fn node(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The node of a tensor name, parsed as `Graph::tensor` parses it.
    fn tensor_node(&self, tensor: &str) -> Option<u32> {
        let (node, _) = crate::ir::parse_tensor_name(tensor).ok()?;
        self.node(node)
    }

    fn op(&self, node: u32) -> &'a str {
        self.skim.nodes.get(node as usize).map_or("", |n| n.op)
    }

    fn inputs_of(&self, node: u32) -> &[Input] {
        let i = node as usize;
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&start), Some(&end)) => self.inputs.get(start..end).unwrap_or_default(),
            _ => &[],
        }
    }

    fn data_input(&self, node: u32, slot: usize) -> Option<Input> {
        self.inputs_of(node)
            .get(slot)
            .copied()
            .filter(Input::is_data)
    }

    /// Follows forwarding ops (`Identity`, ...) back, as the passes'
    /// `through_identities` does, at most as far.
    fn through_identities(&self, mut input: Input) -> Input {
        for _ in 0..crate::format::limits::MAX_IDENTITY_HOPS {
            if input.port != 0 || !FORWARDING_OPS.contains(&self.op(input.producer)) {
                break;
            }
            match self.data_input(input.producer, 0) {
                Some(next) => input = next,
                None => break,
            }
        }
        input
    }

    fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.skim.nodes.len()).filter_map(|i| u32::try_from(i).ok())
    }

    /// Marks `roots` and everything they read, by data or control.
    fn close_backwards(&self, needed: &mut [bool], roots: impl Iterator<Item = u32>) {
        let mut stack: Vec<u32> = roots.collect();
        while let Some(node) = stack.pop() {
            match needed.get_mut(node as usize) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            stack.extend(self.inputs_of(node).iter().map(|i| i.producer));
        }
    }

    /// Every placeholder: the training-conds pass recognises boolean flags
    /// among them by name and dtype.
    fn placeholders(&self) -> Vec<u32> {
        self.indices()
            .filter(|&n| matches!(self.op(n), "Placeholder" | "PlaceholderWithDefault"))
            .collect()
    }

    /// The batch-norm and moving-averages passes find moving averages from
    /// their update ops, which no serving output reads: `AssignSub(var,
    /// Mul(...))`, `Assign(var, FusedBatchNorm:1|2)` and the zero-debiased
    /// `Assign(var, RealDiv(...))`, with their `VariableOp` forms.
    fn moving_average_updates(&self) -> Vec<u32> {
        self.indices()
            .filter(|&n| {
                let Some(value) = self.data_input(n, 1) else {
                    return false;
                };
                let value = self.through_identities(value);
                match self.op(n) {
                    "AssignSub" | "AssignSubVariableOp" => self.op(value.producer) == "Mul",
                    "Assign" | "AssignVariableOp" => {
                        (self.op(value.producer).starts_with("FusedBatchNorm")
                            && matches!(value.port, 1 | 2))
                            || self.op(value.producer) == "RealDiv"
                    }
                    _ => false,
                }
            })
            .collect()
    }

    /// The variables `updates` assign to, behind identities and reads as
    /// the batch-norm pass's `variable_of` finds them.
    fn updated_variables(&self, updates: &[u32]) -> Vec<u32> {
        let mut variables = Vec::new();
        for &update in updates {
            let mut target = self.data_input(update, 0);
            for _ in 0..crate::format::limits::MAX_MATCH_DEPTH {
                let Some(behind) = target.map(|t| self.through_identities(t)) else {
                    break;
                };
                match self.op(behind.producer) {
                    "VariableV2" | "Variable" | "VarHandleOp" => {
                        variables.push(behind.producer);
                        break;
                    }
                    "ReadVariableOp" => target = self.data_input(behind.producer, 0),
                    _ => break,
                }
            }
        }
        variables.sort_unstable();
        variables.dedup();
        variables
    }

    /// Existing reads of `variables`: the batch-norm pass reuses one for a
    /// moving average rather than adding its own.
    fn reads_of(&self, variables: &[u32]) -> Vec<u32> {
        self.indices()
            .filter(|&n| {
                let op = self.op(n);
                (op == "ReadVariableOp" || FORWARDING_OPS.contains(&op))
                    && self
                        .data_input(n, 0)
                        .is_some_and(|v| variables.binary_search(&v.producer).is_ok())
            })
            .collect()
    }

    /// The prune pass's reasons for the nodes not `needed`, computed by the
    /// same categorisation ([`removal_categories`]) over those nodes alone
    /// (all their consumers are among them), consumers first with edges out
    /// of `NextIteration` ignored. `None` on a cycle, which the full read
    /// reports.
    fn removal_reasons(&self, needed: &[bool]) -> Option<Vec<Option<TrainingCategory>>> {
        let view = SkippedView::new(self, needed)?;
        let order = view.consumers_first()?;
        Some(removal_categories(&view, &order))
    }

    /// Initializers of needed lookup tables: the prune pass keeps them for
    /// the init op.
    fn table_initializers(&self, needed: &[bool]) -> Vec<u32> {
        let is_needed = |n: u32| needed.get(n as usize).copied().unwrap_or(false);
        self.indices()
            .filter(|&n| !is_needed(n))
            .filter(|&n| {
                let op = self.op(n);
                (op.starts_with("InitializeTable") || op.starts_with("LookupTableImport"))
                    && self.data_input(n, 0).is_some_and(|t| is_needed(t.producer))
            })
            .collect()
    }
}

/// The nodes a narrowed read skips, with who reads whom among them.
struct SkippedView<'r, 's, 'a> {
    graph: &'r Resolved<'s, 'a>,
    needed: &'r [bool],
    /// Node i's skipped consumers (by data or control), deduplicated, in
    /// graph order: `consumers[consumer_starts[i]..consumer_starts[i + 1]]`
    /// (one flat list rather than a vector per node: a hundred thousand
    /// small allocations fewer).
    consumers: Vec<u32>,
    consumer_starts: Vec<usize>,
}

impl<'r, 's, 'a> SkippedView<'r, 's, 'a> {
    fn new(graph: &'r Resolved<'s, 'a>, needed: &'r [bool]) -> Option<Self> {
        let mut view = SkippedView {
            graph,
            needed,
            consumers: Vec::new(),
            consumer_starts: Vec::new(),
        };
        let count = graph.skim.nodes.len();
        let is_removed = |n: u32| !needed.get(n as usize).copied().unwrap_or(true);
        // Each (producer, consumer) edge among skipped nodes, once per
        // consumer however often it reads the producer, in graph order.
        let for_each_edge = |visit: &mut dyn FnMut(u32, u32) -> Option<()>| {
            let mut last_consumer = vec![u32::MAX; count];
            for node in graph.indices().filter(|&n| is_removed(n)) {
                for input in graph
                    .inputs_of(node)
                    .iter()
                    .filter(|i| is_removed(i.producer))
                {
                    let last = last_consumer.get_mut(input.producer as usize)?;
                    if *last != node {
                        *last = node;
                        visit(input.producer, node)?;
                    }
                }
            }
            Some(())
        };
        let mut starts = vec![0usize; count + 1];
        for_each_edge(&mut |producer, _| {
            *starts.get_mut(producer as usize + 1)? += 1;
            Some(())
        })?;
        for i in 1..starts.len() {
            let before = starts.get(i - 1).copied()?;
            *starts.get_mut(i)? += before;
        }
        let mut consumers = vec![0u32; starts.last().copied()?];
        let mut next = starts.clone();
        for_each_edge(&mut |producer, node| {
            let at = next.get_mut(producer as usize)?;
            *consumers.get_mut(*at)? = node;
            *at += 1;
            Some(())
        })?;
        view.consumers = consumers;
        view.consumer_starts = starts;
        Some(view)
    }

    fn consumers_of(&self, node: u32) -> &[u32] {
        let i = node as usize;
        match (self.consumer_starts.get(i), self.consumer_starts.get(i + 1)) {
            (Some(&start), Some(&end)) => self.consumers.get(start..end).unwrap_or_default(),
            _ => &[],
        }
    }

    /// The skipped nodes, each after all its consumers; edges out of
    /// `NextIteration` (loop back edges) do not count. `None` on a cycle.
    fn consumers_first(&self) -> Option<Vec<u32>> {
        let graph = self.graph;
        let counted = |n: u32| graph.op(n) != "NextIteration";
        let mut consumers_left = vec![0usize; graph.skim.nodes.len()];
        for node in graph.indices().filter(|&n| self.is_removed(n)) {
            let left = consumers_left.get_mut(node as usize)?;
            *left = if counted(node) {
                self.consumers_of(node).len()
            } else {
                0
            };
        }
        let mut ready: Vec<u32> = graph
            .indices()
            .filter(|&n| self.is_removed(n) && consumers_left.get(n as usize) == Some(&0))
            .collect();
        let mut order = Vec::new();
        while let Some(node) = ready.pop() {
            order.push(node);
            let mut producers = self.producers(node);
            producers.dedup();
            for producer in producers.into_iter().filter(|&p| counted(p)) {
                let left = consumers_left.get_mut(producer as usize)?;
                *left -= 1;
                if *left == 0 {
                    ready.push(producer);
                }
            }
        }
        let skipped = graph.indices().filter(|&n| self.is_removed(n)).count();
        (order.len() == skipped).then_some(order)
    }
}

impl StepGraph for SkippedView<'_, '_, '_> {
    type Node = u32;
    fn op(&self, node: u32) -> &str {
        self.graph.op(node)
    }
    fn producers(&self, node: u32) -> Neighbours<u32> {
        let inputs = self.graph.inputs_of(node).iter();
        let mut producers: Neighbours<u32> = inputs
            .map(|input| input.producer)
            .filter(|&p| self.is_removed(p))
            .collect();
        producers.sort_unstable();
        producers.dedup();
        producers
    }
    fn consumers(&self, node: u32) -> Neighbours<u32> {
        Neighbours::from_slice(self.consumers_of(node))
    }
    fn data_input(&self, node: u32, slot: usize) -> Option<u32> {
        self.graph
            .data_input(node, slot)
            .map(|input| input.producer)
    }
    fn is_removed(&self, node: u32) -> bool {
        !self.needed.get(node as usize).copied().unwrap_or(true)
    }
    fn index(&self, node: u32) -> usize {
        node as usize
    }
    fn node_bound(&self) -> usize {
        self.graph.skim.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{GraphDef, NodeDef};
    use prost::Message;

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..NodeDef::default()
        }
    }

    fn needed(nodes: Vec<NodeDef>, wanted: &Wanted) -> Option<Vec<String>> {
        let bytes = GraphDef {
            node: nodes,
            ..GraphDef::default()
        }
        .encode_to_vec();
        let mut skim = super::super::skim::skim_graph(&bytes).unwrap();
        let inputs = skim.take_inputs();
        let needed = needed_nodes(&skim, inputs, wanted, None)?.decode;
        Some(
            skim.nodes
                .iter()
                .zip(needed)
                .filter(|(_, n)| *n)
                .map(|(node, _)| node.name.to_string())
                .collect(),
        )
    }

    fn outputs(tensors: &[&str]) -> Wanted {
        Wanted {
            tensors: tensors.iter().map(|s| s.to_string()).collect(),
            ..Wanted::default()
        }
    }

    #[test]
    fn keeps_what_outputs_read_and_what_the_passes_look_at() {
        let nodes = vec![
            node("x", "Placeholder", &[]),
            node("w", "VariableV2", &[]),
            node("w/read", "Identity", &["w"]),
            node("mean", "VariableV2", &[]),
            node("mean/read", "Identity", &["mean"]),
            node("mean/snapshot", "Identity", &["mean"]),
            node("y", "MatMul", &["x", "w/read"]),
            node("v", "VariableV2", &[]),
            node("v/read", "Identity", &["v"]),
            node("z", "Mul", &["y", "v"]),
            node("flag/default", "Const", &[]),
            node("flag", "PlaceholderWithDefault", &["flag/default"]),
            node("stat", "Mean", &["y"]),
            node("delta", "Sub", &["mean/read", "stat"]),
            node("decay", "Const", &[]),
            node("scaled", "Mul", &["delta", "decay"]),
            node("update", "AssignSub", &["mean", "scaled"]),
            node("table", "HashTableV2", &["^y"]),
            node("init", "InitializeTableV2", &["table", "x"]),
            node("loss", "L2Loss", &["y"]),
            node("grad", "Mul", &["loss", "^w/read"]),
            node("sgd", "ApplyGradientDescent", &["w", "grad"]),
        ];
        let kept = needed(nodes, &outputs(&["z:0", "table"])).unwrap();
        assert_eq!(
            kept,
            [
                "x",
                "w",
                "w/read",
                "mean",
                "mean/read",
                "mean/snapshot",
                "y",
                "v",
                "z",
                "flag/default",
                "flag",
                "stat",
                "delta",
                "decay",
                "scaled",
                "update",
                "table",
                "init"
            ]
        );
    }

    #[test]
    fn decodes_everything_when_the_skim_cannot_be_trusted() {
        let plain = || vec![node("a", "Const", &[]), node("b", "Identity", &["a"])];
        assert!(needed(plain(), &outputs(&["b"])).is_some());
        assert!(needed(plain(), &Wanted::default()).is_none());
        assert!(needed(plain(), &outputs(&["nowhere:0"])).is_none());
        assert!(needed(plain(), &outputs(&["b:x"])).is_none());
        let mut dangling = plain();
        dangling[1].input = vec!["c".into()];
        assert!(needed(dangling, &outputs(&["b"])).is_none());
        let mut duplicate = plain();
        duplicate.push(node("a", "Const", &[]));
        assert!(needed(duplicate, &outputs(&["b"])).is_none());
        let mut control_first = plain();
        control_first[1].input = vec!["^a".into(), "a".into()];
        assert!(needed(control_first, &outputs(&["b"])).is_none());
    }

    #[test]
    fn skipped_nodes_get_the_reason_the_prune_pass_gives() {
        let nodes = vec![
            node("x", "Placeholder", &[]),
            node("y", "Relu", &["x"]),
            node("shape", "Const", &[]),
            node("grad", "ReluGrad", &["shape", "y"]),
            node("summary", "ScalarSummary", &["y"]),
            node("stray", "Const", &[]),
        ];
        let bytes = GraphDef {
            node: nodes,
            ..GraphDef::default()
        }
        .encode_to_vec();
        let mut skim = super::super::skim::skim_graph(&bytes).unwrap();
        let inputs = skim.take_inputs();
        let narrowed = needed_nodes(&skim, inputs, &outputs(&["y"]), None).unwrap();
        let reasons: Vec<Option<&str>> = narrowed
            .removal_reasons()
            .unwrap()
            .iter()
            .map(|r| r.map(TrainingCategory::as_str))
            .collect();
        assert_eq!(narrowed.decode, [true, true, false, false, false, false]);
        assert_eq!(
            reasons,
            [
                None,
                None,
                Some("gradient"),
                Some("gradient"),
                Some("summary"),
                None
            ]
        );

        let cycle = vec![
            node("x", "Placeholder", &[]),
            node("a", "Identity", &["b"]),
            node("b", "Identity", &["a"]),
        ];
        let bytes = GraphDef {
            node: cycle,
            ..GraphDef::default()
        }
        .encode_to_vec();
        let mut skim = super::super::skim::skim_graph(&bytes).unwrap();
        let inputs = skim.take_inputs();
        let narrowed = needed_nodes(&skim, inputs, &outputs(&["x"]), None).unwrap();
        assert!(narrowed.removal_reasons().is_none());
    }

    #[test]
    fn a_large_graph_resolves_alike_on_two_threads() {
        // A chain long enough to be resolved in halves: the output reads
        // the last node, which reads every one before it.
        let count = PARALLEL_FROM + 7;
        let names: Vec<String> = (0..count).map(|i| format!("n{i}")).collect();
        let chain = |names: &[String]| -> Vec<NodeDef> {
            let mut nodes = vec![node(&names[0], "Placeholder", &[])];
            for pair in names.windows(2) {
                nodes.push(node(&pair[1], "Identity", &[pair[0].as_str()]));
            }
            nodes.push(node("stray", "Const", &[]));
            nodes
        };
        let last = names.last().unwrap();
        let kept = needed(chain(&names), &outputs(&[last])).unwrap();
        assert_eq!(kept, names);

        // A dangling input in the second half still means "decode it all".
        let mut dangling = chain(&names);
        dangling[count - 2].input = vec!["nowhere".into()];
        assert!(needed(dangling, &outputs(&[last])).is_none());
    }
}
