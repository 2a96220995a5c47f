//! Small graph builders for the passes' unit tests.

use crate::ir::Graph;
use crate::model::{Model, Signature, TensorSpec};
use crate::proto::{DataType, GraphDef, NodeDef};

/// A NodeDef with inputs and no attrs.
pub fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
    NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        ..NodeDef::default()
    }
}

/// A model over these nodes.
pub fn model(nodes: Vec<NodeDef>) -> Model {
    Model::from_graph(
        Graph::from_graph_def(GraphDef {
            node: nodes,
            ..GraphDef::default()
        })
        .expect("a valid test graph"),
    )
}

/// A model whose one signature serves `output`.
pub fn serving_model(nodes: Vec<NodeDef>, output: &str) -> Model {
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
