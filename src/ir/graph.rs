//! The graph itself: nodes, edges with ports, the name index and the edits
//! passes make.

use std::collections::{HashMap, HashSet};

use foldhash::fast::FixedState;
use petgraph::Direction;
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, NodeIndexable};

use super::IrError;
use super::undecoded::UndecodedNames;
use crate::format::attr_map::AttrMap;
use crate::format::proto::node_def::ExperimentalDebugInfo;
use crate::format::proto::{
    AttrValue, FullTypeDef, FunctionDefLibrary, GraphDebugInfo, VersionDef,
};

/// A handle to a node, valid until that node is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) NodeIndex);

impl NodeId {
    /// A dense index, below [`Graph::node_bound`]: for side tables kept in
    /// vectors rather than hash maps.
    pub fn index(self) -> usize {
        self.0.index()
    }
}

/// One output of a node: `node:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorRef {
    pub node: NodeId,
    pub port: usize,
}

impl TensorRef {
    pub fn new(node: NodeId, port: usize) -> TensorRef {
        TensorRef { node, port }
    }
}

/// An edge from producer to consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Edge {
    /// Output `src_port` of the producer feeds input slot `dst_slot` of the consumer.
    Data { src_port: usize, dst_slot: usize },
    /// The consumer runs after the producer; `order` keeps the NodeDef's order of `^` inputs.
    Control { order: u32 },
}

/// Everything a NodeDef holds except its inputs, which are edges.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    name: String,
    pub op: String,
    pub device: String,
    pub attrs: AttrMap,
    pub debug_info: Option<ExperimentalDebugInfo>,
    pub full_type: Option<FullTypeDef>,
    /// Position in the graph's node order (assigned when added).
    seq: u64,
}

impl Node {
    /// A node with no attrs; add it with [`Graph::add_node`].
    pub fn new(name: impl Into<String>, op: impl Into<String>) -> Node {
        Node {
            name: name.into(),
            op: op.into(),
            ..Node::default()
        }
    }

    /// Adds an attr, builder style.
    pub fn with_attr(mut self, key: &str, value: AttrValue) -> Node {
        self.attrs.insert(key.into(), value);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Every node and its edges as [`Graph::topological_order`] needs them,
/// in dense tables by node index.
struct Sweep {
    /// Every node, in graph order.
    ids: Vec<NodeIndex>,
    /// Each node's inputs (data and control).
    pending: Vec<usize>,
    next_iteration: Vec<bool>,
    /// Each node's consumers, one per out edge, as the graph lists them:
    /// `consumer_spans` says where a node's are (first, count).
    consumers: Vec<NodeIndex>,
    consumer_spans: Vec<(usize, usize)>,
}

/// A TensorFlow graph: nodes, edges and what travels with them.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    inner: StableDiGraph<Node, Edge>,
    /// Name → node, hashed with foldhash: names are looked up constantly.
    by_name: HashMap<String, NodeIndex, FixedState>,
    next_seq: u64,
    next_control_order: u32,
    pub library: Option<FunctionDefLibrary>,
    pub versions: Option<VersionDef>,
    /// The deprecated GraphDef.version field, kept for a lossless round trip.
    pub legacy_version: i32,
    pub debug_info: Option<GraphDebugInfo>,
    /// Source nodes the reader did not decode; their names stay taken.
    undecoded: std::sync::Arc<UndecodedNames>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.inner.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.node_count() == 0
    }

    /// One past the largest [`NodeId::index`] of a node in the graph.
    pub fn node_bound(&self) -> usize {
        self.inner.node_bound()
    }

    /// Source nodes a narrowed read skipped (see `read::read_source_for`):
    /// not in the graph, but their names are taken until the prune pass,
    /// which would have removed them, forgets them.
    pub fn undecoded(&self) -> &UndecodedNames {
        &self.undecoded
    }

    pub fn set_undecoded(&mut self, names: UndecodedNames) {
        self.undecoded = std::sync::Arc::new(names);
    }

    fn is_taken(&self, name: &str) -> bool {
        self.by_name.contains_key(name) || self.undecoded.contains(name)
    }

    /// Every node, in graph order (the NodeDef order, new nodes last).
    pub fn node_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeIndex> = self.inner.node_indices().collect();
        // Nodes added in order and never reordered are in order already.
        if !ids.is_sorted_by_key(|&i| self.inner[i].seq) {
            ids.sort_by_key(|&i| self.inner[i].seq);
        }
        ids.into_iter().map(NodeId).collect()
    }

    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied().map(NodeId)
    }

    /// The node named `name`, or an error naming it.
    pub fn require(&self, name: &str) -> Result<NodeId, IrError> {
        self.find(name)
            .ok_or_else(|| IrError::NoSuchNode { name: name.into() })
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.inner.contains_node(id.0)
    }

    /// The node behind `id`. Panics on a removed id: ids must not outlive their node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.inner[id.0]
    }

    /// Mutable access to everything but the name.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.inner[id.0]
    }

    pub fn name(&self, id: NodeId) -> &str {
        &self.inner[id.0].name
    }

    pub fn op(&self, id: NodeId) -> &str {
        &self.inner[id.0].op
    }

    /// Room for `additional` more nodes, so that adding a known number of
    /// them grows nothing (and overshoots nothing) on the way.
    pub(crate) fn reserve_nodes(&mut self, additional: usize) {
        self.inner.reserve_exact_nodes(additional);
        self.by_name.reserve(additional);
    }

    /// Adds a node; its name must be new.
    pub fn add_node(&mut self, mut node: Node) -> Result<NodeId, IrError> {
        if node.name.is_empty() {
            return Err(IrError::BadName { name: node.name });
        }
        if self.is_taken(&node.name) {
            return Err(IrError::DuplicateName { name: node.name });
        }
        node.seq = self.next_seq;
        self.next_seq += 1;
        let name = node.name.clone();
        let index = self.inner.add_node(node);
        self.by_name.insert(name, index);
        Ok(NodeId(index))
    }

    /// Removes a node, its edges too, without the name-index bookkeeping of
    /// [`Graph::remove_node`]: for taking a graph apart.
    pub(crate) fn take_node(&mut self, id: NodeId) -> Option<Node> {
        self.inner.remove_node(id.0)
    }

    /// Removes a node and every edge touching it.
    pub fn remove_node(&mut self, id: NodeId) -> Option<Node> {
        let node = self.inner.remove_node(id.0)?;
        self.by_name.remove(&node.name);
        Some(node)
    }

    /// Gives node `id` a new name, which must be free. Edges stay; what
    /// names the node elsewhere (signatures, `_class` attrs) is the caller's.
    pub fn rename_node(&mut self, id: NodeId, name: &str) -> Result<(), IrError> {
        if name.is_empty() {
            return Err(IrError::BadName { name: name.into() });
        }
        if self.is_taken(name) {
            return Err(IrError::DuplicateName { name: name.into() });
        }
        let old = std::mem::replace(&mut self.inner[id.0].name, name.to_string());
        self.by_name.remove(&old);
        self.by_name.insert(name.to_string(), id.0);
        Ok(())
    }

    /// Puts the nodes of `order` first, in that order, then the others as
    /// they were: the node order a GraphDef is written in.
    pub fn reorder(&mut self, order: &[NodeId]) {
        let rest: Vec<NodeId> = {
            let placed: HashSet<NodeId> = order.iter().copied().collect();
            self.node_ids()
                .into_iter()
                .filter(|id| !placed.contains(id))
                .collect()
        };
        for id in order.iter().chain(&rest) {
            self.inner[id.0].seq = self.next_seq;
            self.next_seq += 1;
        }
    }

    /// A name not used yet: `base`, else `base_1`, `base_2`, ... as TensorFlow uniquifies.
    pub fn unique_name(&self, base: &str) -> String {
        if !self.is_taken(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}_{i}"))
            .find(|candidate| !self.is_taken(candidate))
            .unwrap_or_else(|| base.to_string())
    }

    /// The data inputs of `id`, by slot.
    pub fn data_inputs(&self, id: NodeId) -> Vec<TensorRef> {
        let mut inputs = Vec::new();
        self.extend_data_inputs(id, &mut inputs);
        inputs
    }

    /// Appends the data inputs of `id`, by slot, to `out`: what
    /// [`Graph::data_inputs`] returns, into a buffer that can be reused.
    pub fn extend_data_inputs(&self, id: NodeId, out: &mut Vec<TensorRef>) {
        let start = out.len();
        // Edges come newest first, so nearly always in falling slot order.
        let (mut rising, mut falling) = (true, true);
        let mut last = None;
        for e in self.inner.edges_directed(id.0, Direction::Incoming) {
            if let Edge::Data { src_port, dst_slot } = *e.weight() {
                if let Some(last) = last {
                    rising &= last < dst_slot;
                    falling &= last > dst_slot;
                }
                last = Some(dst_slot);
                out.push(TensorRef::new(NodeId(e.source()), src_port));
            }
        }
        if falling {
            out[start..].reverse();
        } else if !rising {
            out.truncate(start);
            let mut inputs: Vec<(usize, TensorRef)> = self
                .inner
                .edges_directed(id.0, Direction::Incoming)
                .filter_map(|e| match *e.weight() {
                    Edge::Data { src_port, dst_slot } => {
                        Some((dst_slot, TensorRef::new(NodeId(e.source()), src_port)))
                    }
                    Edge::Control { .. } => None,
                })
                .collect();
            inputs.sort_by_key(|(slot, _)| *slot);
            out.extend(inputs.into_iter().map(|(_, t)| t));
        }
    }

    /// The tensor feeding input `slot` of `id`.
    pub fn data_input(&self, id: NodeId, slot: usize) -> Option<TensorRef> {
        self.inner
            .edges_directed(id.0, Direction::Incoming)
            .find_map(|e| match *e.weight() {
                Edge::Data { src_port, dst_slot } if dst_slot == slot => {
                    Some(TensorRef::new(NodeId(e.source()), src_port))
                }
                _ => None,
            })
    }

    /// The control inputs of `id`, in NodeDef order.
    pub fn control_inputs(&self, id: NodeId) -> Vec<NodeId> {
        let mut inputs: Vec<(u32, NodeId)> = self
            .inner
            .edges_directed(id.0, Direction::Incoming)
            .filter_map(|e| match *e.weight() {
                Edge::Control { order } => Some((order, NodeId(e.source()))),
                Edge::Data { .. } => None,
            })
            .collect();
        inputs.sort();
        inputs.into_iter().map(|(_, n)| n).collect()
    }

    /// Consumers of output `tensor`: (consumer, its input slot).
    pub fn data_consumers(&self, tensor: TensorRef) -> Vec<(NodeId, usize)> {
        let mut consumers: Vec<(NodeId, usize)> = self
            .inner
            .edges_directed(tensor.node.0, Direction::Outgoing)
            .filter_map(|e| match *e.weight() {
                Edge::Data { src_port, dst_slot } if src_port == tensor.port => {
                    Some((NodeId(e.target()), dst_slot))
                }
                _ => None,
            })
            .collect();
        consumers.sort_by_key(|(n, slot)| (self.inner[n.0].seq, *slot));
        consumers
    }

    /// Every node that reads any output of `id` or depends on it by control.
    pub fn consumers(&self, id: NodeId) -> Vec<NodeId> {
        let mut consumers: Vec<NodeId> = self
            .inner
            .neighbors_directed(id.0, Direction::Outgoing)
            .map(NodeId)
            .collect();
        consumers.sort_by_key(|n| self.inner[n.0].seq);
        consumers.dedup();
        consumers
    }

    /// Nodes with a control input from `id`.
    pub fn control_consumers(&self, id: NodeId) -> Vec<NodeId> {
        let mut consumers: Vec<NodeId> = self
            .inner
            .edges_directed(id.0, Direction::Outgoing)
            .filter(|e| matches!(e.weight(), Edge::Control { .. }))
            .map(|e| NodeId(e.target()))
            .collect();
        consumers.sort_by_key(|n| self.inner[n.0].seq);
        consumers.dedup();
        consumers
    }

    /// Every node `id` reads from, by data or control.
    pub fn producers(&self, id: NodeId) -> Vec<NodeId> {
        let mut producers: Vec<NodeId> = self
            .inner
            .neighbors_directed(id.0, Direction::Incoming)
            .map(NodeId)
            .collect();
        producers.sort_by_key(|n| self.inner[n.0].seq);
        producers.dedup();
        producers
    }

    fn data_edge_at(&self, id: NodeId, slot: usize) -> Option<EdgeIndex> {
        self.inner
            .edges_directed(id.0, Direction::Incoming)
            .find(|e| matches!(*e.weight(), Edge::Data { dst_slot, .. } if dst_slot == slot))
            .map(|e| e.id())
    }

    /// Feeds input `slot` of `id` from `source`, replacing what fed it. `slot`
    /// may be one past the last slot to append.
    pub fn set_data_input(
        &mut self,
        id: NodeId,
        slot: usize,
        source: TensorRef,
    ) -> Result<(), IrError> {
        if let Some(edge) = self.data_edge_at(id, slot) {
            self.inner.remove_edge(edge);
        } else if slot != self.data_inputs(id).len() {
            return Err(IrError::SlotGap {
                node: self.name(id).into(),
                slot,
            });
        }
        self.inner.add_edge(
            source.node.0,
            id.0,
            Edge::Data {
                src_port: source.port,
                dst_slot: slot,
            },
        );
        Ok(())
    }

    /// Appends a data input to `id`.
    pub fn push_data_input(&mut self, id: NodeId, source: TensorRef) {
        let slot = self.data_inputs(id).len();
        self.inner.add_edge(
            source.node.0,
            id.0,
            Edge::Data {
                src_port: source.port,
                dst_slot: slot,
            },
        );
    }

    /// Removes every data input from slot `from` on (for ops whose arity changes).
    pub fn truncate_data_inputs(&mut self, id: NodeId, from: usize) {
        let doomed: Vec<EdgeIndex> = self
            .inner
            .edges_directed(id.0, Direction::Incoming)
            .filter(|e| matches!(*e.weight(), Edge::Data { dst_slot, .. } if dst_slot >= from))
            .map(|e| e.id())
            .collect();
        for edge in doomed {
            self.inner.remove_edge(edge);
        }
    }

    /// Makes `id` run after `source` (no-op when it already does).
    pub fn add_control_input(&mut self, id: NodeId, source: NodeId) {
        if self.control_inputs(id).contains(&source) {
            return;
        }
        let order = self.next_control_order;
        self.next_control_order += 1;
        self.inner.add_edge(source.0, id.0, Edge::Control { order });
    }

    /// Drops the control dependency of `id` on `source`.
    pub fn remove_control_input(&mut self, id: NodeId, source: NodeId) {
        let doomed: Vec<EdgeIndex> = self
            .inner
            .edges_connecting(source.0, id.0)
            .filter(|e| matches!(e.weight(), Edge::Control { .. }))
            .map(|e| e.id())
            .collect();
        for edge in doomed {
            self.inner.remove_edge(edge);
        }
    }

    /// Points every data consumer of `from` at `to`; returns how many inputs moved.
    pub fn rewire(&mut self, from: TensorRef, to: TensorRef) -> usize {
        if from == to {
            return 0;
        }
        let consumers = self.data_consumers(from);
        for &(consumer, slot) in &consumers {
            if let Some(edge) = self.data_edge_at(consumer, slot) {
                self.inner.remove_edge(edge);
            }
            self.inner.add_edge(
                to.node.0,
                consumer.0,
                Edge::Data {
                    src_port: to.port,
                    dst_slot: slot,
                },
            );
        }
        consumers.len()
    }

    /// Moves every control consumer of `from` onto `to` (or drops them when `None`).
    pub fn rewire_control(&mut self, from: NodeId, to: Option<NodeId>) {
        for consumer in self.control_consumers(from) {
            self.remove_control_input(consumer, from);
            if let Some(to) = to.filter(|&to| to != consumer) {
                self.add_control_input(consumer, to);
            }
        }
    }

    /// `node:port` of a tensor, as signatures name tensors.
    pub fn tensor_name(&self, tensor: TensorRef) -> String {
        format!("{}:{}", self.name(tensor.node), tensor.port)
    }

    /// Parses `node`, `node:port`, resolving the node.
    pub fn tensor(&self, name: &str) -> Result<TensorRef, IrError> {
        let (node, port) = super::parse_tensor_name(name)?;
        Ok(TensorRef::new(self.require(node)?, port))
    }

    /// The nodes `roots` depend on, through data and control edges, roots included.
    pub fn reachable_backwards(&self, roots: impl IntoIterator<Item = NodeId>) -> HashSet<NodeId> {
        let mut seen: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<NodeId> = roots.into_iter().collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(
                    self.inner
                        .neighbors_directed(id.0, Direction::Incoming)
                        .map(NodeId),
                );
            }
        }
        seen
    }

    /// One path of nodes from `from` back to `to` (both included), if `from` depends on `to`.
    pub fn dependency_path(&self, from: NodeId, to: NodeId) -> Option<Vec<NodeId>> {
        let mut parent: HashMap<NodeId, NodeId> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        let mut seen: HashSet<NodeId> = HashSet::from([from]);
        while let Some(id) = queue.pop_front() {
            if id == to {
                let mut path = vec![to];
                let mut at = to;
                while let Some(&p) = parent.get(&at) {
                    path.push(p);
                    at = p;
                }
                path.reverse();
                return Some(path);
            }
            for p in self.producers(id) {
                if seen.insert(p) {
                    parent.insert(p, id);
                    queue.push_back(p);
                }
            }
        }
        None
    }

    /// Producers before consumers. Edges out of `NextIteration` nodes are the
    /// back edges of TF1 while loops and are ignored; any other cycle is an error.
    pub fn topological_order(&self) -> Result<Vec<NodeId>, IrError> {
        let Sweep {
            ids,
            mut pending,
            next_iteration,
            consumers,
            consumer_spans,
        } = self.sweep();
        let consumers = |id: NodeIndex| {
            let (first, count) = consumer_spans[id.index()];
            &consumers[first..first + count]
        };
        for &id in &ids {
            if next_iteration[id.index()] {
                for &target in consumers(id) {
                    pending[target.index()] -= 1;
                }
            }
        }
        let mut ready: Vec<NodeIndex> = Vec::with_capacity(ids.len());
        ready.extend(
            ids.iter()
                .rev()
                .copied()
                .filter(|id| pending[id.index()] == 0),
        );
        let mut order = Vec::with_capacity(ids.len());
        while let Some(id) = ready.pop() {
            order.push(NodeId(id));
            if next_iteration[id.index()] {
                continue;
            }
            for &target in consumers(id) {
                let count = &mut pending[target.index()];
                *count -= 1;
                if *count == 0 {
                    ready.push(target);
                }
            }
        }
        if order.len() != ids.len() {
            let placed: HashSet<NodeId> = order.iter().copied().collect();
            let stuck = ids.into_iter().map(NodeId).find(|id| !placed.contains(id));
            let node = stuck
                .map(|id| self.name(id).to_string())
                .unwrap_or_default();
            return Err(IrError::Cycle { node });
        }
        Ok(order)
    }

    /// What [`Graph::topological_order`] reads of every node, in one pass
    /// over the nodes (they are large: each is read once, in memory order).
    fn sweep(&self) -> Sweep {
        let bound = self.inner.node_bound();
        let mut sweep = Sweep {
            ids: Vec::with_capacity(self.inner.node_count()),
            pending: vec![0; bound],
            next_iteration: vec![false; bound],
            consumers: Vec::with_capacity(self.inner.edge_count()),
            consumer_spans: vec![(0, 0); bound],
        };
        let mut in_order = true;
        let mut last_seq = None;
        for id in self.inner.node_indices() {
            let node = &self.inner[id];
            in_order &= last_seq.is_none_or(|last| last < node.seq);
            last_seq = Some(node.seq);
            sweep.ids.push(id);
            sweep.next_iteration[id.index()] = node.op == "NextIteration";
            sweep.pending[id.index()] = self.inner.edges_directed(id, Direction::Incoming).count();
            let first = sweep.consumers.len();
            sweep.consumers.extend(
                self.inner
                    .edges_directed(id, Direction::Outgoing)
                    .map(|e| e.target()),
            );
            sweep.consumer_spans[id.index()] = (first, sweep.consumers.len() - first);
        }
        if !in_order {
            sweep.ids.sort_by_key(|&i| self.inner[i].seq);
        }
        sweep
    }

    /// Checks the invariants of the module documentation.
    pub fn validate(&self) -> Result<(), IrError> {
        // One buffer for every node's slots: the check runs after every
        // phase, over every node of a large graph.
        let mut slots: Vec<usize> = Vec::new();
        for id in self.node_ids() {
            slots.clear();
            slots.extend(
                self.inner
                    .edges_directed(id.0, Direction::Incoming)
                    .filter_map(|e| match *e.weight() {
                        Edge::Data { dst_slot, .. } => Some(dst_slot),
                        Edge::Control { .. } => None,
                    }),
            );
            slots.sort_unstable();
            for (expected, slot) in slots.iter().enumerate() {
                if *slot != expected {
                    return Err(IrError::SlotGap {
                        node: self.name(id).into(),
                        slot: expected,
                    });
                }
            }
            if self.by_name.get(self.name(id)) != Some(&id.0) {
                return Err(IrError::DuplicateName {
                    name: self.name(id).into(),
                });
            }
        }
        self.topological_order().map(|_| ())
    }

    pub(crate) fn add_raw_edge(&mut self, source: NodeId, target: NodeId, edge: Edge) {
        if let Edge::Control { order } = edge {
            self.next_control_order = self.next_control_order.max(order + 1);
        }
        self.inner.add_edge(source.0, target.0, edge);
    }
}
