//! Small graph builders for the passes' unit tests. They build the IR
//! through its own API (nodes, typed attr setters, edges), so pass tests
//! never touch the file format's types.

use std::ops::{Deref, DerefMut};

use crate::ir::{DataType, Graph, InputName, Node, TensorRef, parse_input};
use crate::model::{Model, Signature, TensorSpec};

/// A node to be: the IR node and its inputs spelled as in a GraphDef
/// (`"x"`, `"x:1"`, `"^x"`), wired when the graph is built. Derefs to the
/// node, so the IR's typed attr setters apply to it.
#[derive(Clone)]
pub struct TestNode {
    node: Node,
    pub inputs: Vec<String>,
}

impl TestNode {
    /// Builder form of [`Node::set_attr_type`].
    pub fn with_type(mut self, key: &str, dtype: DataType) -> TestNode {
        self.node.set_attr_type(key, dtype);
        self
    }

    /// Builder form of [`Node::set_attr_bool`].
    pub fn with_bool(mut self, key: &str, value: bool) -> TestNode {
        self.node.set_attr_bool(key, value);
        self
    }
}

impl Deref for TestNode {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

impl DerefMut for TestNode {
    fn deref_mut(&mut self) -> &mut Node {
        &mut self.node
    }
}

/// A node built elsewhere (say by [`crate::ir::constants`]), with no inputs.
impl From<Node> for TestNode {
    fn from(node: Node) -> TestNode {
        TestNode {
            node,
            inputs: Vec::new(),
        }
    }
}

/// A node with inputs and no attrs.
pub fn node(name: &str, op: &str, inputs: &[&str]) -> TestNode {
    TestNode {
        node: Node::new(name, op),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
    }
}

/// A graph over these nodes, in their order: every node is added first,
/// then the inputs are wired by name (so a node may read a later one).
pub fn graph(nodes: Vec<TestNode>) -> Graph {
    let mut graph = Graph::new();
    let mut wiring = Vec::with_capacity(nodes.len());
    for TestNode { node, inputs } in nodes {
        let id = graph.add_node(node).expect("unique test node names");
        wiring.push((id, inputs));
    }
    for (id, inputs) in wiring {
        for input in &inputs {
            wire(&mut graph, id, input);
        }
    }
    graph
}

fn wire(graph: &mut Graph, id: crate::ir::NodeId, input: &str) {
    let consumer = graph.name(id).to_string();
    let parsed = parse_input(&consumer, input).expect("a well-formed test input");
    let source = |node: &str| {
        graph
            .find(node)
            .unwrap_or_else(|| panic!("{consumer} reads {input}: no such test node"))
    };
    match parsed {
        InputName::Data { node, port } => {
            let source = source(node);
            graph.push_data_input(id, TensorRef::new(source, port));
        }
        InputName::Control { node } => {
            let source = source(node);
            graph.add_control_input(id, source);
        }
    }
}

/// A model over these nodes.
pub fn model(nodes: Vec<TestNode>) -> Model {
    Model::from_graph(graph(nodes))
}

/// A model whose one signature serves `output`.
pub fn serving_model(nodes: Vec<TestNode>, output: &str) -> Model {
    let mut model = model(nodes);
    let spec = TensorSpec {
        name: output.into(),
        dtype: DataType::DtFloat,
        shape: None,
    };
    let outputs = [("y".to_string(), spec)].into();
    model.signatures.insert(
        "serving_default".into(),
        Signature {
            method_name: String::new(),
            inputs: Default::default(),
            outputs,
        },
    );
    model
}
