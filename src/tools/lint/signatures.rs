//! Signatures: each is valid for its method (TensorFlow Serving's rules for
//! predict, classify and regress, see [`crate::model::method_rules`]), each
//! tensor it names exists with the dtype and shape it states, and each
//! input and output can be batched. The init-op signature names an op, not
//! a tensor: the init rules check it.

use std::collections::BTreeMap;

use super::{Findings, Rule};
use crate::back::write::meta_graph::INIT_OP_SIGNATURE;
use crate::format::proto::tensor_info::{CooSparse, Encoding};
use crate::format::proto::{DataType, MetaGraphDef, OpDef, SignatureDef, TensorInfo};
use crate::ir::{Graph, TensorRef, node_of};
use crate::model::Signature;
use crate::model::method_rules::{check_method_rules, shape_text};
use crate::ops::OpSignatures;
use crate::typing::{dims, dtype_name, output_dtype, stated_output_shape};

/// The signatures that serve requests: all but the init op's.
fn served(meta: &MetaGraphDef) -> impl Iterator<Item = (&String, &SignatureDef)> {
    meta.signature_def
        .iter()
        .filter(|(key, _)| key.as_str() != INIT_OP_SIGNATURE)
}

/// Every (signature key, "input"/"output", key, info) of the served signatures.
fn tensor_infos(
    meta: &MetaGraphDef,
) -> impl Iterator<Item = (&String, &'static str, &String, &TensorInfo)> {
    served(meta).flat_map(|(key, def)| {
        let inputs = def.inputs.iter().map(move |(k, i)| (key, "input", k, i));
        let outputs = def.outputs.iter().map(move |(k, i)| (key, "output", k, i));
        inputs.chain(outputs)
    })
}

/// `signature-method`: predict needs inputs and outputs; classify and
/// regress take serialized tf.Examples and give the outputs their APIs
/// return, with TensorFlow's dtypes and shapes.
pub fn methods(meta: &MetaGraphDef, findings: &mut Findings) {
    for (key, def) in served(meta) {
        for problem in check_method_rules(key, &Signature::from_signature_def(def)) {
            findings.error(Rule::SignatureMethod, None, problem.to_string());
        }
    }
}

fn tensor_name(info: &TensorInfo) -> Option<&str> {
    match &info.encoding {
        Some(Encoding::Name(name)) => Some(name),
        _ => None,
    }
}

/// The shape a TensorInfo states; `None` for an unknown rank.
fn stated_shape(info: &TensorInfo) -> Option<Vec<i64>> {
    info.tensor_shape.as_ref().and_then(dims)
}

/// `signature-tensor`, `signature-dtype`, `signature-shape`: each dense
/// tensor a signature names is an output its node has, and where the graph
/// tells its dtype and shape, they agree with the signature's.
pub fn tensors(
    graph: &Graph,
    op_defs: &BTreeMap<String, OpDef>,
    meta: &MetaGraphDef,
    findings: &mut Findings,
) {
    let ops = OpSignatures::new(op_defs, graph);
    for (key, direction, name, info) in tensor_infos(meta) {
        let used_as = format!("signature {key:?} {direction} {name:?}");
        if let Some(Encoding::CooSparse(coo)) = &info.encoding {
            sparse_components_exist(graph, &ops, coo, &used_as, findings);
        }
        let Some(tensor_name) = tensor_name(info) else {
            continue;
        };
        match existing_tensor(graph, &ops, tensor_name) {
            Ok(tensor) => {
                let op_def = ops.get(graph.op(tensor.node));
                dtype_agrees(graph, op_def, tensor, info, &used_as, findings);
                shape_agrees(graph, tensor, info, &used_as, findings);
            }
            Err(problem) => findings.error(
                Rule::SignatureTensor,
                Some(node_of(tensor_name)),
                format!("{used_as} names tensor {tensor_name:?}, {problem}"),
            ),
        }
    }
}

/// `signature-tensor` for a sparse tensor: its values, indices and dense
/// shape tensors exist.
fn sparse_components_exist(
    graph: &Graph,
    ops: &OpSignatures,
    coo: &CooSparse,
    used_as: &str,
    findings: &mut Findings,
) {
    for (part, tensor_name) in [
        ("values", &coo.values_tensor_name),
        ("indices", &coo.indices_tensor_name),
        ("dense shape", &coo.dense_shape_tensor_name),
    ] {
        if let Err(problem) = existing_tensor(graph, ops, tensor_name) {
            findings.error(
                Rule::SignatureTensor,
                Some(node_of(tensor_name)),
                format!("{used_as} takes its {part} from tensor {tensor_name:?}, {problem}"),
            );
        }
    }
}

/// The tensor called `name`, or why there is none.
fn existing_tensor(graph: &Graph, ops: &OpSignatures, name: &str) -> Result<TensorRef, String> {
    let tensor = graph
        .tensor(name)
        .map_err(|_| "which is not in the graph".to_string())?;
    match ops.output_count(graph.node(tensor.node)) {
        Some(count) if tensor.port >= count => Err(format!(
            "but node {:?} ({}) has {count} output(s)",
            graph.name(tensor.node),
            graph.op(tensor.node)
        )),
        _ => Ok(tensor),
    }
}

/// The dtype the graph gives `tensor` is the signature's (when both are known).
fn dtype_agrees(
    graph: &Graph,
    op_def: Option<&OpDef>,
    tensor: TensorRef,
    info: &TensorInfo,
    used_as: &str,
    findings: &mut Findings,
) {
    let node = graph.node(tensor.node);
    let actual = output_dtype(&node.op, &node.attrs, tensor.port, op_def);
    let stated = DataType::try_from(info.dtype).unwrap_or(DataType::DtInvalid);
    if let Some(actual) = actual
        && stated != DataType::DtInvalid
        && actual != stated
    {
        findings.error(
            Rule::SignatureDtype,
            Some(node.name()),
            format!(
                "{used_as} states dtype {}, but tensor {:?} is {}",
                dtype_name(info.dtype),
                graph.tensor_name(tensor),
                dtype_name(actual as i32)
            ),
        );
    }
}

/// The shape the graph states for `tensor` is compatible with the signature's
/// (same rank, and each dimension known in both is equal).
fn shape_agrees(
    graph: &Graph,
    tensor: TensorRef,
    info: &TensorInfo,
    used_as: &str,
    findings: &mut Findings,
) {
    let node = graph.node(tensor.node);
    let actual = stated_output_shape(&node.op, &node.attrs, tensor.port);
    if let (Some(actual), Some(stated)) = (actual, stated_shape(info))
        && !compatible(&actual, &stated)
    {
        findings.error(
            Rule::SignatureShape,
            Some(node.name()),
            format!(
                "{used_as} states shape {}, but tensor {:?} has shape {}",
                shape_text(&stated),
                graph.tensor_name(tensor),
                shape_text(&actual)
            ),
        );
    }
}

/// Whether two shapes can describe the same tensor (-1 matches anything).
fn compatible(a: &[i64], b: &[i64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| *x < 0 || *y < 0 || x == y)
}

/// `batch-dimension`: TensorFlow Serving's batching and the REST API's
/// `instances` stack requests along dimension 0, so every input and
/// output needs a leading dimension of -1. A warning: the model serves
/// one request at a time, but batching fails.
pub fn batch_dimensions(meta: &MetaGraphDef, findings: &mut Findings) {
    for (key, direction, name, info) in tensor_infos(meta) {
        let why = match stated_shape(info).as_deref() {
            None => "has an unknown rank, so no leading batch dimension is known".to_string(),
            Some([]) => "is a scalar, with no dimension to batch along".to_string(),
            Some([first, ..]) if *first >= 0 => {
                format!(
                    "has a fixed leading dimension of {first}, so a batch of another size does not fit"
                )
            }
            Some(_) => continue,
        };
        let tensor = tensor_name(info);
        findings.warning(
            Rule::BatchDimension,
            tensor.map(node_of),
            format!(
                "signature {key:?} {direction} {name:?} ({}) {why}: batching requests along dimension 0 will fail; give it shape [-1, ...]",
                tensor.unwrap_or("a composite tensor")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn unknown_dimensions_match_anything_but_ranks_must_agree() {
        assert!(compatible(&[-1, 3], &[8, 3]));
        assert!(compatible(&[-1, -1], &[-1, 3]));
        assert!(!compatible(&[-1, 3], &[-1, 4]));
        assert!(!compatible(&[-1], &[-1, 1]));
    }
}
