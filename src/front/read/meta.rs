//! Decoding GraphDefs, MetaGraphDefs and SavedModels (binary or text), and
//! turning a MetaGraphDef into a [`Model`]: which checkpoint key and slice
//! each variable is restored from, which variables are trainable, the OpDefs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use super::ReadError;
use crate::format::bundle::slices::{self, Extent1};
use crate::format::limits::MAX_PROTO_BYTES;
use crate::format::proto::collection_def::Kind;
use crate::format::proto::meta_graph_def::MetaInfoDef;
use crate::format::proto::{
    CollectionDef, GraphDef, MetaGraphDef, SaveSliceInfoDef, SavedModel, VariableDef,
};
use crate::ir::constants::through_identities;
use crate::ir::{AttrExt, Graph, NodeId};
use crate::model::{CheckpointSlot, Model};
use crate::op_kinds::is_variable_op;

pub(super) fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    let len = std::fs::metadata(path)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len > MAX_PROTO_BYTES {
        return Err(ReadError::Decode {
            path: path.to_path_buf(),
            what: "protobuf",
            detail: format!("{len} bytes exceeds 2 GiB"),
        });
    }
    std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether `path` is named like a text-format file.
pub(super) fn looks_text(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".pbtxt") || name.ends_with(".txt")
}

/// Binary unless the bytes are text that parses as `full_name`.
fn decode<M: Message + Default>(
    path: &Path,
    full_name: &str,
    what: &'static str,
) -> Result<M, ReadError> {
    decode_bytes(path, Bytes::from(read_bytes(path)?), full_name, what)
}

/// [`decode`] of bytes already read from `path`. Bytes fields (tensor
/// contents) become slices of `bytes`, not copies.
pub(super) fn decode_bytes<M: Message + Default>(
    path: &Path,
    bytes: Bytes,
    full_name: &str,
    what: &'static str,
) -> Result<M, ReadError> {
    if looks_text(path) {
        let text = String::from_utf8(Vec::from(bytes)).map_err(|e| ReadError::Decode {
            path: path.to_path_buf(),
            what,
            detail: e.to_string(),
        })?;
        return crate::format::text::parse_text(full_name, &text).map_err(|source| {
            ReadError::Text {
                path: path.to_path_buf(),
                source,
            }
        });
    }
    match M::decode(bytes.clone()) {
        Ok(message) => Ok(message),
        Err(binary) => {
            let text = std::str::from_utf8(&bytes).ok();
            text.and_then(|t| crate::format::text::parse_text(full_name, t).ok())
                .ok_or_else(|| ReadError::Decode {
                    path: path.to_path_buf(),
                    what,
                    detail: binary.to_string(),
                })
        }
    }
}

pub fn read_graph_def(path: impl AsRef<Path>) -> Result<GraphDef, ReadError> {
    let path = path.as_ref();
    decode(path, "tensorflow.GraphDef", "GraphDef")
}

pub fn read_meta_graph(path: impl AsRef<Path>) -> Result<MetaGraphDef, ReadError> {
    let path = path.as_ref();
    decode(path, "tensorflow.MetaGraphDef", "MetaGraphDef")
}

pub(super) fn read_saved_model_file(dir: &Path) -> Result<SavedModel, ReadError> {
    let binary = dir.join("saved_model.pb");
    let text = dir.join("saved_model.pbtxt");
    if binary.is_file() {
        let bytes = read_bytes(&binary)?;
        if let Some(index) = super::nameless::first_nameless_node(&bytes) {
            return Err(ReadError::Decode {
                path: binary,
                what: "SavedModel",
                detail: format!("graph node {index} has no name; TensorFlow refuses to load it"),
            });
        }
        decode_bytes(
            &binary,
            Bytes::from(bytes),
            "tensorflow.SavedModel",
            "SavedModel",
        )
    } else if text.is_file() {
        decode(&text, "tensorflow.SavedModel", "SavedModel")
    } else if dir.exists() {
        Err(ReadError::NotASavedModel {
            path: dir.to_path_buf(),
        })
    } else {
        Err(ReadError::DoesNotExist {
            path: dir.to_path_buf(),
        })
    }
}

/// The MetaGraphDef whose tag set equals `tags` (`serve` when `tags` is
/// empty), and the variables prefix if present.
pub fn read_saved_model(
    dir: impl AsRef<Path>,
    tags: &[String],
) -> Result<(MetaGraphDef, Option<PathBuf>), ReadError> {
    let dir = dir.as_ref();
    let saved = read_saved_model_file(dir)?;
    let wanted: std::collections::BTreeSet<&str> = if tags.is_empty() {
        ["serve"].into()
    } else {
        tags.iter().map(String::as_str).collect()
    };
    let available: Vec<String> = saved
        .meta_graphs
        .iter()
        .map(|m| {
            format!(
                "[{}]",
                m.meta_info_def
                    .as_ref()
                    .map(|i| i.tags.join(", "))
                    .unwrap_or_default()
            )
        })
        .collect();
    let chosen = saved.meta_graphs.into_iter().find(|m| {
        let have: std::collections::BTreeSet<&str> = m
            .meta_info_def
            .as_ref()
            .map(|i| i.tags.iter().map(String::as_str).collect())
            .unwrap_or_default();
        have == wanted
    });
    let meta = chosen.ok_or_else(|| ReadError::NoMetaGraph {
        path: dir.join("saved_model.pb"),
        tags: wanted.into_iter().collect::<Vec<_>>().join(", "),
        available: available.join(" "),
    })?;
    let prefix = dir.join("variables").join("variables");
    let variables = crate::format::bundle::index_path(&prefix)
        .is_file()
        .then_some(prefix);
    Ok((meta, variables))
}

/// Refuses a SavedModel whose `variables/` holds data shards but not their
/// index, naming the missing file (without one, TensorFlow restores nothing
/// and the export would only say, later, that no checkpoint was given). A
/// SavedModel without variables has neither.
pub(super) fn refuse_shards_without_index(dir: &Path) -> Result<(), ReadError> {
    let index = crate::format::bundle::index_path(dir.join("variables").join("variables"));
    if index.is_file() {
        return Ok(());
    }
    let is_shard = |name: &std::ffi::OsStr| name.to_string_lossy().starts_with("variables.data-");
    let has_shards = std::fs::read_dir(dir.join("variables")).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| is_shard(&entry.file_name()))
    });
    if has_shards {
        return Err(ReadError::NotFound {
            path: index,
            what: "index of the variables' data shards beside it",
        });
    }
    Ok(())
}

/// Builds a model from a MetaGraphDef read from `path`.
pub fn model_from_meta_graph(
    path: &Path,
    mut meta: MetaGraphDef,
    base_dir: PathBuf,
) -> Result<Model, ReadError> {
    let graph_def = meta.graph_def.take().unwrap_or_default();
    let graph = Graph::from_graph_def(graph_def).map_err(|source| ReadError::Graph {
        path: path.to_path_buf(),
        source,
    })?;
    model_from_meta_graph_with(path, graph, meta, base_dir)
}

/// The model of a MetaGraphDef whose graph is already built as `graph`
/// (its `graph_def` field, if any, is ignored).
pub fn model_from_meta_graph_with(
    path: &Path,
    graph: Graph,
    meta: MetaGraphDef,
    base_dir: PathBuf,
) -> Result<Model, ReadError> {
    let MetaGraphDef {
        meta_info_def,
        graph_def: _,
        saver_def,
        collection_def,
        signature_def: _,
        // Assets resolve against a SavedModel's own assets/: read by `read::assets`.
        asset_file_def: _,
        object_graph_def: _,
    } = meta;
    let mut model = Model::from_graph(graph);
    model.base_dir = base_dir;
    take_meta_info(&mut model, meta_info_def.unwrap_or_default());
    model.saver_def = saver_def;
    for (key, collection) in collection_def {
        take_variable_defs(&mut model, path, &key, &collection)?;
        model.collections.insert(key, collection);
    }
    model.checkpoint_slots = checkpoint_slots(&model);
    Ok(model)
}

/// The op list and the TensorFlow version that wrote the graph.
fn take_meta_info(model: &mut Model, info: MetaInfoDef) {
    model.op_defs = info
        .stripped_op_list
        .map(|list| {
            list.op
                .into_iter()
                .map(|op| (op.name.clone(), op))
                .collect()
        })
        .unwrap_or_default();
    model.tensorflow_version = info.tensorflow_version;
    model.tensorflow_git_version = info.tensorflow_git_version;
}

/// The VariableDefs of a variables collection (`key`), by variable node;
/// other collections are left alone.
fn take_variable_defs(
    model: &mut Model,
    path: &Path,
    key: &str,
    collection: &CollectionDef,
) -> Result<(), ReadError> {
    let is_variables = matches!(
        key,
        "variables" | "trainable_variables" | "local_variables" | "model_variables"
    );
    let Some(Kind::BytesList(list)) = collection.kind.as_ref().filter(|_| is_variables) else {
        return Ok(());
    };
    for bytes in &list.value {
        let def = VariableDef::decode(bytes.clone()).map_err(|e| ReadError::Decode {
            path: path.to_path_buf(),
            what: "VariableDef in the variables collection",
            detail: e.to_string(),
        })?;
        let node = crate::ir::node_of(&def.variable_name).to_string();
        if key == "trainable_variables" || def.trainable {
            model.trainable.insert(node.clone());
        }
        model.variable_defs.entry(node).or_insert(def);
    }
    Ok(())
}

/// Where each variable is in the checkpoint: its own name, a partitioned
/// piece's slice of the full tensor, or whatever the training saver restores
/// it from.
fn checkpoint_slots(model: &Model) -> BTreeMap<String, CheckpointSlot> {
    let mut slots = default_slots(&model.graph);
    for (node, def) in &model.variable_defs {
        if let (Some(info), Some(slot)) = (&def.save_slice_info_def, slots.get_mut(node)) {
            *slot = sliced_slot(info);
        }
    }
    if let Some(saver) = &model.saver_def {
        slots.extend(saver_slots(&model.graph, &saver.restore_op_name));
    }
    slots
}

/// The slot of one piece of a partitioned variable.
fn sliced_slot(info: &SaveSliceInfoDef) -> CheckpointSlot {
    let extents: Vec<Extent1> = info
        .var_offset
        .iter()
        .zip(&info.var_shape)
        .map(|(&start, &length)| Extent1 {
            start,
            length: Some(length),
        })
        .collect();
    CheckpointSlot {
        key: info.full_name.clone(),
        slice_spec: slices::format_spec(&info.full_shape, &extents),
    }
}

/// Every variable restored from the key that is its own name.
pub fn default_slots(graph: &Graph) -> BTreeMap<String, CheckpointSlot> {
    graph
        .node_ids()
        .into_iter()
        .filter(|&id| is_variable_op(graph.op(id)))
        .map(|id| {
            (
                graph.name(id).to_string(),
                CheckpointSlot {
                    key: graph.name(id).to_string(),
                    slice_spec: String::new(),
                },
            )
        })
        .collect()
}

/// Variable → slot as the training saver restores it: follows the restore
/// op's control inputs (through sharded `restore_shard` NoOps) to each
/// assignment, and the assigned value back to `RestoreV2:i`.
fn saver_slots(graph: &Graph, restore_op: &str) -> BTreeMap<String, CheckpointSlot> {
    let mut slots = BTreeMap::new();
    let Some(root) = graph.find(restore_op) else {
        return slots;
    };
    let mut stack = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        match graph.op(id) {
            "NoOp" => stack.extend(graph.control_inputs(id)),
            "Assign" | "AssignVariableOp" => {
                if let Some((variable, slot)) = assignment_slot(graph, id) {
                    slots.insert(variable, slot);
                }
            }
            _ => {}
        }
    }
    slots
}

fn assignment_slot(graph: &Graph, assign: NodeId) -> Option<(String, CheckpointSlot)> {
    let variable = through_identities(graph, graph.data_input(assign, 0)?);
    let value = through_identities(graph, graph.data_input(assign, 1)?);
    if graph.op(value.node) != "RestoreV2" || !is_variable_op(graph.op(variable.node)) {
        return None;
    }
    let strings = |slot: usize| -> Option<Vec<String>> {
        let names = through_identities(graph, graph.data_input(value.node, slot)?);
        let tensor = graph.node(names.node).attr_tensor("value").ok()?;
        Some(
            tensor
                .string_val
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        )
    };
    let key = strings(1)?.get(value.port)?.clone();
    let slice_spec = strings(2)?.get(value.port).cloned().unwrap_or_default();
    Some((
        graph.name(variable.node).to_string(),
        CheckpointSlot { key, slice_spec },
    ))
}
