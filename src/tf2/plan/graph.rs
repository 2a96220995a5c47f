//! The graph_def side: which nodes the kept signatures, the init op and the
//! kept objects need, and which graph node passes each captured object's
//! handle into a kept call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::format::proto::{
    CollectionDef, GraphDef, MetaGraphDef, NodeDef, TensorInfo, collection_def, tensor_info,
};
use crate::ir::{FunctionIndex, node_of};
use crate::tf2::Tf2Error;

/// The collection TF2 SavedModels list their init op in (a format name).
pub(super) const MAIN_OP_COLLECTION: &str = "saved_model_main_op";

/// The signature key of the init op (a format name).
pub(super) const INIT_OP_SIGNATURE: &str = "__saved_model_init_op";

/// Every tensor name a signature entry uses (sparse and composite parts too).
pub(super) fn tensor_names(info: &TensorInfo) -> Vec<&str> {
    match &info.encoding {
        Some(tensor_info::Encoding::Name(name)) => vec![name.as_str()],
        Some(tensor_info::Encoding::CooSparse(coo)) => vec![
            coo.values_tensor_name.as_str(),
            coo.indices_tensor_name.as_str(),
            coo.dense_shape_tensor_name.as_str(),
        ],
        Some(tensor_info::Encoding::CompositeTensor(composite)) => {
            composite.components.iter().flat_map(tensor_names).collect()
        }
        None => Vec::new(),
    }
}

/// The roots of the kept graph: the kept signatures' tensors (the init op
/// among them) and the main-op collection's nodes, each with who names it.
pub(super) fn roots(
    meta_graph: &MetaGraphDef,
    signatures: &BTreeSet<String>,
) -> Vec<(String, String)> {
    let mut roots = Vec::new();
    for (key, signature) in &meta_graph.signature_def {
        if !signatures.contains(key) {
            continue;
        }
        for (name, info) in signature.inputs.iter().chain(&signature.outputs) {
            for tensor in tensor_names(info) {
                roots.push((
                    node_of(tensor).to_string(),
                    format!("signature {key:?} tensor {name:?}"),
                ));
            }
        }
    }
    if let Some(collection) = meta_graph.collection_def.get(MAIN_OP_COLLECTION) {
        for name in node_list(collection) {
            roots.push((
                node_of(name).to_string(),
                format!("collection {MAIN_OP_COLLECTION:?}"),
            ));
        }
    }
    roots
}

fn node_list(collection: &CollectionDef) -> &[String] {
    match &collection.kind {
        Some(collection_def::Kind::NodeList(list)) => &list.value,
        _ => &[],
    }
}

/// The graph's nodes by name.
pub(super) fn index(graph: &GraphDef) -> BTreeMap<&str, &NodeDef> {
    graph.node.iter().map(|n| (n.name.as_str(), n)).collect()
}

/// Every node the roots need, through data and control inputs.
pub(super) fn needed_nodes(
    source: &Path,
    nodes: &BTreeMap<&str, &NodeDef>,
    roots: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeSet<String>, Tf2Error> {
    let mut kept = BTreeSet::new();
    let mut queue: Vec<(String, String)> = roots.into_iter().collect();
    while let Some((name, referrer)) = queue.pop() {
        if kept.contains(&name) {
            continue;
        }
        let Some(node) = nodes.get(name.as_str()) else {
            return Err(Tf2Error::MissingNode {
                path: source.to_path_buf(),
                referrer,
                node: name,
            });
        };
        for input in &node.input {
            queue.push((node_of(input).to_string(), format!("node {name:?}")));
        }
        kept.insert(name);
    }
    Ok(kept)
}

/// Which graph node each captured object's handle comes from: a kept call
/// node's last `bound_inputs.len()` inputs are the function's captures, in
/// `bound_inputs` order. The first call naming an object wins.
pub(super) fn captured_handles(
    source: &Path,
    kept_nodes: &BTreeSet<String>,
    nodes: &BTreeMap<&str, &NodeDef>,
    library: &FunctionIndex<'_>,
    bound_inputs: &BTreeMap<String, Vec<usize>>,
) -> Result<BTreeMap<usize, String>, Tf2Error> {
    let mut handles = BTreeMap::new();
    for name in kept_nodes {
        let Some(node) = nodes.get(name.as_str()) else {
            continue;
        };
        let data_inputs: Vec<&str> = node
            .input
            .iter()
            .filter(|i| !i.starts_with('^'))
            .map(String::as_str)
            .collect();
        for function in library.called_by_node(node) {
            let Some(captures) = bound_inputs.get(function).filter(|c| !c.is_empty()) else {
                continue;
            };
            let first = data_inputs
                .len()
                .checked_sub(captures.len())
                .ok_or_else(|| Tf2Error::CapturesMismatch {
                    path: source.to_path_buf(),
                    node: name.clone(),
                    function: function.to_string(),
                    inputs: data_inputs.len(),
                    captures: captures.len(),
                })?;
            for (object, input) in captures.iter().zip(data_inputs.iter().skip(first)) {
                handles
                    .entry(*object)
                    .or_insert_with(|| node_of(input).to_string());
            }
        }
    }
    Ok(handles)
}

/// The collections with node lists cut down to kept nodes (a list left
/// empty goes); other collections are kept as they are.
pub(super) fn pruned_collections(
    collections: &BTreeMap<String, CollectionDef>,
    kept: &BTreeSet<String>,
) -> BTreeMap<String, CollectionDef> {
    collections
        .iter()
        .filter_map(|(key, collection)| match &collection.kind {
            Some(collection_def::Kind::NodeList(list)) => {
                let value: Vec<String> = list
                    .value
                    .iter()
                    .filter(|v| kept.contains(node_of(v)))
                    .cloned()
                    .collect();
                (!value.is_empty()).then(|| {
                    (
                        key.clone(),
                        CollectionDef {
                            kind: Some(collection_def::Kind::NodeList(collection_def::NodeList {
                                value,
                            })),
                        },
                    )
                })
            }
            _ => Some((key.clone(), collection.clone())),
        })
        .collect()
}
