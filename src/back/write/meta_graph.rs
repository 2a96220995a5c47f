//! Assembles the serving MetaGraphDef around a finished GraphDef: tags,
//! signatures, the saver, variable collections, assets and the init op, laid
//! out as the three SavedModel loaders expect (a TF1-style model: no object
//! graph, so TF2 takes its `load_v1_in_v2` path).

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message;

use crate::format::proto::collection_def::{BytesList, Kind, NodeList};
use crate::format::proto::meta_graph_def::MetaInfoDef;
use crate::format::proto::{
    AssetFileDef, CollectionDef, DataType, GraphDef, MetaGraphDef, OpList, SaverDef, SignatureDef,
    TensorInfo, TensorShapeProto, VariableDef, tensor_info,
};
use crate::model::Signature;

/// The signature key (and output key) that names the init op.
pub const INIT_OP_SIGNATURE: &str = "__saved_model_init_op";

/// An asset: the string tensor fed with the file's path at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetSpec {
    /// `node:port` of a scalar string tensor.
    pub tensor: String,
    /// The file name inside `assets/`.
    pub filename: String,
}

/// Everything that goes into one serving MetaGraphDef besides the graph.
#[derive(Debug, Clone, Default)]
pub struct MetaGraphParts {
    pub tags: Vec<String>,
    pub signatures: BTreeMap<String, Signature>,
    pub saver_def: Option<SaverDef>,
    /// VariableDefs for the `variables` collection, with their trainable flag inside.
    pub variables: Vec<VariableDef>,
    pub assets: Vec<AssetSpec>,
    /// The op that initializes tables after restore, if any.
    pub init_op: Option<String>,
    /// Table initializer ops, for the `table_initializer` collection.
    pub table_initializers: Vec<String>,
    pub stripped_op_list: Option<OpList>,
    pub tensorflow_version: String,
    pub tensorflow_git_version: String,
}

/// Builds the MetaGraphDef.
pub fn build_meta_graph(graph_def: GraphDef, parts: &MetaGraphParts) -> MetaGraphDef {
    let mut signature_def: BTreeMap<String, SignatureDef> = parts
        .signatures
        .iter()
        .map(|(k, v)| (k.clone(), v.to_signature_def()))
        .collect();
    if let Some(init_op) = &parts.init_op {
        signature_def.insert(INIT_OP_SIGNATURE.into(), init_op_signature(init_op));
    }
    MetaGraphDef {
        meta_info_def: Some(meta_info_def(parts)),
        graph_def: Some(graph_def),
        saver_def: parts.saver_def.clone(),
        collection_def: collections(parts),
        signature_def,
        asset_file_def: parts.assets.iter().map(asset_file_def).collect(),
        object_graph_def: None,
    }
}

fn meta_info_def(parts: &MetaGraphParts) -> MetaInfoDef {
    MetaInfoDef {
        meta_graph_version: format!("servegraph {}", env!("CARGO_PKG_VERSION")),
        tags: parts.tags.clone(),
        stripped_op_list: parts.stripped_op_list.clone(),
        tensorflow_version: parts.tensorflow_version.clone(),
        tensorflow_git_version: parts.tensorflow_git_version.clone(),
        stripped_default_attrs: false,
        ..MetaInfoDef::default()
    }
}

/// The collections TF1 loaders and tools read: main op, variables,
/// trainable variables, asset paths and table initializers, each only when
/// it has members.
fn collections(parts: &MetaGraphParts) -> BTreeMap<String, CollectionDef> {
    let mut collection_def = BTreeMap::new();
    if let Some(init_op) = &parts.init_op {
        // Older loaders look for the collection instead of the signature.
        collection_def.insert("saved_model_main_op".into(), node_list([init_op.clone()]));
    }
    if !parts.variables.is_empty() {
        collection_def.insert(
            "variables".into(),
            variable_collection(parts.variables.iter()),
        );
        let trainable = parts.variables.iter().filter(|v| v.trainable);
        if parts.variables.iter().any(|v| v.trainable) {
            collection_def.insert("trainable_variables".into(), variable_collection(trainable));
        }
    }
    if !parts.assets.is_empty() {
        let tensors = parts.assets.iter().map(|a| a.tensor.clone());
        collection_def.insert("asset_filepaths".into(), node_list(tensors));
    }
    if !parts.table_initializers.is_empty() {
        collection_def.insert(
            "table_initializer".into(),
            node_list(parts.table_initializers.iter().cloned()),
        );
    }
    collection_def
}

/// An asset as the loader finds it: the string tensor fed its path, and the file name.
fn asset_file_def(asset: &AssetSpec) -> AssetFileDef {
    AssetFileDef {
        tensor_info: Some(TensorInfo {
            encoding: Some(tensor_info::Encoding::Name(asset.tensor.clone())),
            dtype: DataType::DtString as i32,
            tensor_shape: Some(TensorShapeProto::default()),
        }),
        filename: asset.filename.clone(),
    }
}

/// The init-op signature exactly as TensorFlow writes it: one output naming
/// the op (no port), unknown rank, no dtype, no method.
fn init_op_signature(op: &str) -> SignatureDef {
    let info = TensorInfo {
        encoding: Some(tensor_info::Encoding::Name(op.into())),
        dtype: DataType::DtInvalid as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: vec![],
            unknown_rank: true,
        }),
    };
    SignatureDef {
        outputs: [(INIT_OP_SIGNATURE.to_string(), info)].into(),
        ..SignatureDef::default()
    }
}

fn node_list(values: impl IntoIterator<Item = String>) -> CollectionDef {
    CollectionDef {
        kind: Some(Kind::NodeList(NodeList {
            value: values.into_iter().collect(),
        })),
    }
}

fn variable_collection<'a>(variables: impl Iterator<Item = &'a VariableDef>) -> CollectionDef {
    let value = variables.map(|v| Bytes::from(v.encode_to_vec())).collect();
    CollectionDef {
        kind: Some(Kind::BytesList(BytesList { value })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DEFAULT_SIGNATURE, PREDICT_METHOD, SERVE_TAG, TensorSpec};

    fn parts() -> MetaGraphParts {
        let spec = |name: &str, dtype| TensorSpec {
            name: name.into(),
            dtype,
            shape: Some(vec![-1, 3]),
        };
        MetaGraphParts {
            tags: vec![SERVE_TAG.into()],
            signatures: [(
                DEFAULT_SIGNATURE.to_string(),
                Signature {
                    method_name: PREDICT_METHOD.into(),
                    inputs: [("x".to_string(), spec("x:0", DataType::DtFloat))].into(),
                    outputs: [("y".to_string(), spec("y:0", DataType::DtInt64))].into(),
                },
            )]
            .into(),
            init_op: Some("init_all_tables".into()),
            variables: vec![VariableDef {
                variable_name: "w:0".into(),
                trainable: true,
                ..Default::default()
            }],
            assets: vec![AssetSpec {
                tensor: "vocab/Const:0".into(),
                filename: "vocab.txt".into(),
            }],
            ..MetaGraphParts::default()
        }
    }

    #[test]
    fn has_no_object_graph_and_the_init_op_signature() {
        let meta = build_meta_graph(GraphDef::default(), &parts());
        assert!(meta.object_graph_def.is_none());
        assert_eq!(meta.meta_info_def.as_ref().unwrap().tags, ["serve"]);
        let init = &meta.signature_def[INIT_OP_SIGNATURE].outputs[INIT_OP_SIGNATURE];
        assert_eq!(
            init.encoding,
            Some(tensor_info::Encoding::Name("init_all_tables".into()))
        );
        assert!(init.tensor_shape.as_ref().unwrap().unknown_rank);
        let serving = &meta.signature_def[DEFAULT_SIGNATURE];
        assert_eq!(serving.method_name, PREDICT_METHOD);
        assert_eq!(serving.outputs["y"].dtype, DataType::DtInt64 as i32);
        assert_eq!(meta.asset_file_def[0].filename, "vocab.txt");
    }

    #[test]
    fn variable_collections_hold_encoded_variable_defs() {
        let meta = build_meta_graph(GraphDef::default(), &parts());
        let Some(Kind::BytesList(list)) = &meta.collection_def["variables"].kind else {
            panic!("variables is not a bytes_list");
        };
        let decoded = VariableDef::decode(list.value[0].clone()).unwrap();
        assert_eq!(decoded.variable_name, "w:0");
        assert!(meta.collection_def.contains_key("trainable_variables"));
    }
}
