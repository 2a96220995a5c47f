//! The one way a serving input enters the graph: a `Placeholder` put
//! where the training graph read the tensor, used by the dense inputs pass
//! and by the sparse one for each of a sparse tensor's three parts.

use super::{PassError, PassReport};
use crate::format::proto::DataType;
use crate::ir::{Node, TensorRef};
use crate::model::Model;

/// Puts a `Placeholder` named `key` (or a free variant) where `tensor` was read.
pub(crate) fn replace_with_placeholder(
    model: &mut Model,
    tensor: TensorRef,
    key: &str,
    dtype: DataType,
    shape: Option<&[i64]>,
    report: &mut PassReport,
) -> Result<String, PassError> {
    let existing = model.graph.node(tensor.node);
    if existing.op == "Placeholder" && existing.name() == key {
        model
            .graph
            .node_mut(tensor.node)
            .set_attr_shape("shape", shape);
        return Ok(key.to_string());
    }
    let name = model.graph.unique_name(key);
    if name != key {
        report.note(format!(
            "a node named {key:?} exists; the input placeholder is {name:?}"
        ));
    }
    let placeholder = Node::new(name.clone(), "Placeholder")
        .with_type("dtype", dtype)
        .with_shape("shape", shape);
    let id = model.graph.add_node(placeholder)?;
    let from = model.graph.tensor_name(tensor);
    model.graph.rewire(tensor, TensorRef::new(id, 0));
    report.added.push(name.clone());
    report.rewired(from, format!("{name}:0"), "serving input");
    Ok(name)
}
