//! The files of a TF2 SavedModel besides `saved_model.pb` and `variables/`:
//!
//! - `fingerprint.pb` is dropped: its hashes describe the source's
//!   `saved_model.pb` and checkpoint, and every loader accepts its absence.
//! - `keras_metadata.pb` (Keras' `SavedMetadata`: per object its id, its
//!   path such as `root.layer_with_weights-0`, and a JSON description) is
//!   kept, ids renumbered, only while every path it names still leads to an
//!   object of the pruned object graph; a description of a dropped object
//!   would contradict the graph, so otherwise the file is dropped.
//! - `assets/` files are copied only when a kept `asset_file_def` names them.

use std::path::{Path, PathBuf};

use prost::Message;
use serde::Serialize;

use super::super::{LeanPlan, Tf2Error};
use crate::back::size::FileBytes;
use crate::format::proto::saved_object::ObjectReference;
use crate::format::proto::{MetaGraphDef, SavedMetadata, SavedObject, SavedObjectGraph};

pub const FINGERPRINT_FILE: &str = "fingerprint.pb";
pub const KERAS_METADATA_FILE: &str = "keras_metadata.pb";

/// A file of the source the export leaves out or keeps changed, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileDecision {
    /// Its path in the SavedModel directory.
    pub file: String,
    /// Its size in the source.
    pub bytes: u64,
    pub kept: bool,
    pub why: String,
}

/// What becomes of `keras_metadata.pb`: its new bytes when every path it
/// names is still in `objects` (ids renumbered by following the path), or
/// `None` and the first path that is gone.
pub fn remap_keras_metadata(
    file: &Path,
    bytes: &[u8],
    objects: &SavedObjectGraph,
) -> Result<Result<Vec<u8>, String>, Tf2Error> {
    let mut metadata = SavedMetadata::decode(bytes).map_err(|e| Tf2Error::Decode {
        path: file.to_path_buf(),
        message: "Keras SavedMetadata",
        reason: e.to_string(),
    })?;
    for node in &mut metadata.nodes {
        match follow_path(objects, &node.node_path) {
            Some(id) => node.node_id = id,
            None => return Ok(Err(node.node_path.clone())),
        }
    }
    Ok(Ok(metadata.encode_to_vec()))
}

/// The id of the object `path` (`root.a.b`) leads to, following child
/// names from the root.
fn follow_path(objects: &SavedObjectGraph, path: &str) -> Option<i32> {
    let mut parts = path.split('.');
    if parts.next()? != "root" {
        return None;
    }
    let mut id = 0i32;
    for name in parts {
        let children = children_of(objects, id)?;
        id = children.into_iter().find(|c| c.local_name == name)?.node_id;
    }
    children_of(objects, id)?;
    Some(id)
}

/// The named edges of object `id`, if it exists and decodes.
fn children_of(objects: &SavedObjectGraph, id: i32) -> Option<Vec<ObjectReference>> {
    let node = objects.nodes.get(usize::try_from(id).ok()?)?;
    Some(SavedObject::decode(node.as_ref()).ok()?.children)
}

/// Decides on `keras_metadata.pb` of `source` (if it has one), writing the
/// kept version into `staging`.
pub fn carry_keras_metadata(
    source: &Path,
    staging: &Path,
    objects: &SavedObjectGraph,
) -> Result<Option<FileDecision>, Tf2Error> {
    let path = source.join(KERAS_METADATA_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = read(&path)?;
    let decision = match remap_keras_metadata(&path, &bytes, objects)? {
        Ok(remapped) => {
            let out = staging.join(KERAS_METADATA_FILE);
            std::fs::write(&out, &remapped)
                .map_err(|source| crate::back::write::WriteError::Io { path: out, source })?;
            FileDecision {
                file: KERAS_METADATA_FILE.into(),
                bytes: bytes.len() as u64,
                kept: true,
                why: "every object it describes is kept; object ids renumbered".into(),
            }
        }
        Err(gone) => FileDecision {
            file: KERAS_METADATA_FILE.into(),
            bytes: bytes.len() as u64,
            kept: false,
            why: format!("it describes {gone}, which the export drops"),
        },
    };
    Ok(Some(decision))
}

/// `fingerprint.pb` of `source`, if it has one: always dropped.
pub fn dropped_fingerprint(source: &Path) -> Option<FileDecision> {
    let metadata = std::fs::metadata(source.join(FINGERPRINT_FILE)).ok()?;
    Some(FileDecision {
        file: FINGERPRINT_FILE.into(),
        bytes: metadata.len(),
        kept: false,
        why: "its hashes describe the source's files; loaders accept its absence".into(),
    })
}

/// A file of `assets/` a kept `asset_file_def` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAsset {
    pub filename: String,
    pub source: PathBuf,
    pub bytes: u64,
}

/// The assets the kept MetaGraphDef names, each checked to be a regular
/// file inside the source's `assets/`; no other file of `assets/` is copied.
pub fn kept_assets(source: &Path, meta: &MetaGraphDef) -> Result<Vec<KeptAsset>, Tf2Error> {
    let file = source.join("saved_model.pb");
    let assets = crate::front::read::saved_model_assets(source, &file, meta)?;
    let mut kept: Vec<KeptAsset> = Vec::new();
    for asset in assets {
        if kept.iter().any(|k| k.filename == asset.filename) {
            continue;
        }
        let bytes = std::fs::metadata(&asset.source)
            .map_err(|e| Tf2Error::Io {
                path: asset.source.clone(),
                source: e,
            })?
            .len();
        kept.push(KeptAsset {
            filename: asset.filename,
            source: asset.source,
            bytes,
        });
    }
    Ok(kept)
}

/// Copies `assets` into `root/assets/`.
pub fn copy_assets(
    source: &Path,
    assets: &[KeptAsset],
    root: &Path,
) -> Result<Vec<FileBytes>, Tf2Error> {
    if assets.is_empty() {
        return Ok(Vec::new());
    }
    let dir = root.join("assets");
    std::fs::create_dir_all(&dir).map_err(|e| crate::back::write::WriteError::Io {
        path: dir.clone(),
        source: e,
    })?;
    let mut copied = Vec::new();
    for asset in assets {
        let bytes = std::fs::copy(&asset.source, dir.join(&asset.filename)).map_err(|e| {
            crate::back::write::WriteError::Io {
                path: source.join("assets").join(&asset.filename),
                source: e,
            }
        })?;
        copied.push(FileBytes {
            path: asset.filename.clone(),
            bytes,
        });
    }
    Ok(copied)
}

/// The bytes `keras_metadata.pb` will take in the export (0 when dropped or absent).
pub fn planned_keras_metadata_bytes(source: &Path, plan: &LeanPlan) -> Result<u64, Tf2Error> {
    let path = source.join(KERAS_METADATA_FILE);
    if !path.is_file() {
        return Ok(0);
    }
    let objects = plan.meta_graph.object_graph_def.clone().unwrap_or_default();
    let remapped = remap_keras_metadata(&path, &read(&path)?, &objects)?;
    Ok(remapped.map_or(0, |bytes| bytes.len() as u64))
}

/// The size of a kept file as written under `root`.
pub fn written_size(root: &Path, decision: &FileDecision) -> u64 {
    std::fs::metadata(root.join(&decision.file)).map_or(0, |m| m.len())
}

fn read(path: &Path) -> Result<Vec<u8>, Tf2Error> {
    std::fs::read(path).map_err(|source| Tf2Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{SavedMetadataObject, VersionDef};

    fn object(children: &[(i32, &str)]) -> bytes::Bytes {
        let object = SavedObject {
            children: children
                .iter()
                .map(|(id, name)| ObjectReference {
                    node_id: *id,
                    local_name: name.to_string(),
                })
                .collect(),
            ..SavedObject::default()
        };
        object.encode_to_vec().into()
    }

    fn entry(id: i32, path: &str) -> SavedMetadataObject {
        SavedMetadataObject {
            node_id: id,
            node_path: path.into(),
            identifier: "_tf_keras_layer".into(),
            metadata: "{}".into(),
            version: Some(VersionDef {
                producer: 2,
                min_consumer: 1,
                ..VersionDef::default()
            }),
        }
    }

    /// root → layer-0 (1) → kernel (2); root → keras_api (3).
    fn pruned() -> SavedObjectGraph {
        SavedObjectGraph {
            nodes: vec![
                object(&[(1, "layer-0"), (3, "keras_api")]),
                object(&[(2, "kernel")]),
                object(&[]),
                object(&[]),
            ],
            ..SavedObjectGraph::default()
        }
    }

    #[test]
    fn ids_follow_the_paths_into_the_pruned_graph() {
        let metadata = SavedMetadata {
            nodes: vec![
                entry(0, "root"),
                entry(7, "root.layer-0"),
                entry(9, "root.layer-0.kernel"),
            ],
        };
        let bytes = metadata.encode_to_vec();
        let remapped = remap_keras_metadata(Path::new("k"), &bytes, &pruned()).unwrap();
        let remapped = SavedMetadata::decode(remapped.unwrap().as_slice()).unwrap();
        let ids: Vec<i32> = remapped.nodes.iter().map(|n| n.node_id).collect();
        assert_eq!(ids, [0, 1, 2]);
        assert_eq!(remapped.nodes[2].version, metadata.nodes[2].version);
    }

    #[test]
    fn a_path_the_pruned_graph_lacks_drops_the_file() {
        let metadata = SavedMetadata {
            nodes: vec![entry(0, "root"), entry(60, "root.keras_api.metrics.0")],
        };
        let remapped = remap_keras_metadata(Path::new("k"), &metadata.encode_to_vec(), &pruned());
        assert_eq!(
            remapped.unwrap(),
            Err("root.keras_api.metrics.0".to_string())
        );
        let err = remap_keras_metadata(Path::new("k.pb"), b"\x0a\xff", &pruned()).unwrap_err();
        assert!(err.to_string().contains("k.pb"), "{err}");
    }

    #[test]
    fn the_fixtures_keras_metadata_round_trips_unchanged() {
        for name in ["keras_adam_metric", "keras_bn_dropout", "keras_subclassed"] {
            let path = Path::new("testdata/tf2")
                .join(name)
                .join("saved_model")
                .join(KERAS_METADATA_FILE);
            let bytes = std::fs::read(&path).unwrap();
            let metadata = SavedMetadata::decode(bytes.as_slice()).unwrap();
            assert!(!metadata.nodes.is_empty(), "{name}");
            assert_eq!(metadata.encode_to_vec(), bytes, "{name}");
        }
    }
}
