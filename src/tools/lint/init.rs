//! The init op and the assets agree: the init op the loader runs after the
//! restore exists and runs every table initializer, each asset's tensor is
//! a node of the graph, and each asset's file is inside `assets/`.

use std::path::Path;

use super::{Findings, Rule};
use crate::back::write::meta_graph::INIT_OP_SIGNATURE;
use crate::export::error::messages;
use crate::format::proto::collection_def::Kind;
use crate::format::proto::tensor_info::Encoding;
use crate::format::proto::{AssetFileDef, MetaGraphDef};
use crate::ir::{Graph, NodeId, node_of};

/// The collections TF1 loaders read the init op from, when the
/// `__saved_model_init_op` signature is absent.
const INIT_OP_COLLECTIONS: [&str; 2] = ["saved_model_main_op", "legacy_init_op"];

/// The collection TF1 SavedModels list their asset tensors in.
const ASSET_PATHS_COLLECTION: &str = "asset_filepaths";

/// Each init op the MetaGraphDef names, with where it is named.
fn init_op_names(meta: &MetaGraphDef) -> Vec<(String, String)> {
    let signature = meta.signature_def.get(INIT_OP_SIGNATURE).into_iter();
    let from_signature = signature
        .flat_map(|def| def.outputs.values())
        .filter_map(|info| match &info.encoding {
            Some(Encoding::Name(name)) => {
                Some((name.clone(), format!("signature {INIT_OP_SIGNATURE:?}")))
            }
            _ => None,
        });
    let from_collections = INIT_OP_COLLECTIONS.iter().flat_map(|key| {
        node_list(meta, key)
            .into_iter()
            .map(move |name| (name, format!("collection {key:?}")))
    });
    from_signature.chain(from_collections).collect()
}

/// The names of a node-list collection (empty when absent or not a list).
fn node_list(meta: &MetaGraphDef, key: &str) -> Vec<String> {
    match meta.collection_def.get(key).and_then(|c| c.kind.as_ref()) {
        Some(Kind::NodeList(list)) => list.value.clone(),
        _ => Vec::new(),
    }
}

/// `init-op`: every init op the signature or collections name is a node of
/// the graph; the loader fails on one that is not.
pub fn init_ops(graph: &Graph, meta: &MetaGraphDef, findings: &mut Findings) -> Vec<NodeId> {
    let mut found = Vec::new();
    for (name, named_in) in init_op_names(meta) {
        match graph.find(node_of(&name)) {
            Some(id) => found.push(id),
            None => findings.error(
                Rule::InitOp,
                Some(node_of(&name)),
                format!("{named_in} names init op {name:?}, which is not in the graph"),
            ),
        }
    }
    found
}

/// The nodes the MetaGraphDef's init ops name that are in the graph (those
/// that are not are [`init_ops`]' findings).
pub fn init_op_nodes(graph: &Graph, meta: &MetaGraphDef) -> Vec<NodeId> {
    init_op_names(meta)
        .iter()
        .filter_map(|(name, _)| graph.find(node_of(name)))
        .collect()
}

/// `table-initializer`: a lookup table the init op does not initialize
/// fails every request with "Table not initialized".
pub fn table_initializers(graph: &Graph, init_ops: &[NodeId], findings: &mut Findings) {
    let run = graph.reachable_backwards(init_ops.iter().copied());
    for id in graph.node_ids() {
        let op = graph.op(id);
        let initializes = op.starts_with("InitializeTable") || op.starts_with("LookupTableImport");
        if initializes && !run.contains(&id) {
            let name = graph.name(id);
            findings.error(
                Rule::TableInitializer,
                Some(name),
                format!(
                    "table initializer {name:?} ({op}) is not run by the init op{}",
                    if init_ops.is_empty() {
                        " (there is none)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
}

/// `asset-tensor`: the tensor the loader feeds each asset's path to, and
/// each tensor of the `asset_filepaths` collection, is in the graph.
pub fn asset_tensors(
    graph: &Graph,
    assets: &[AssetFileDef],
    meta: &MetaGraphDef,
    findings: &mut Findings,
) {
    let declared = assets.iter().filter_map(|def| {
        let info = def.tensor_info.as_ref()?;
        match &info.encoding {
            Some(Encoding::Name(name)) => Some((name.clone(), format!("asset {:?}", def.filename))),
            _ => None,
        }
    });
    let collected = node_list(meta, ASSET_PATHS_COLLECTION)
        .into_iter()
        .map(|name| (name, format!("collection {ASSET_PATHS_COLLECTION:?}")));
    for (tensor, named_in) in declared.chain(collected) {
        if graph.tensor(&tensor).is_err() {
            findings.error(
                Rule::AssetTensor,
                Some(node_of(&tensor)),
                format!("{named_in} is fed through tensor {tensor:?}, which is not in the graph"),
            );
        }
    }
}

/// `asset-file`: the loader's own rule, per asset: a plain file name whose
/// file lies inside `assets/` (read from neither the graph nor elsewhere).
pub fn asset_files(dir: &Path, file: &Path, assets: &[AssetFileDef], findings: &mut Findings) {
    for def in assets {
        let one = MetaGraphDef {
            asset_file_def: vec![def.clone()],
            ..MetaGraphDef::default()
        };
        if let Err(e) = crate::front::read::saved_model_assets(dir, file, &one) {
            findings.error(
                Rule::AssetFile,
                None,
                format!("assets: {}", messages(&e).join(": ")),
            );
        }
    }
}
