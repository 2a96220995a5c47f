//! The assets a SavedModel source declares, read only from inside its own
//! `assets/` directory. A loader feeds each asset tensor the path
//! `assets/<filename>`; the path the graph's constant holds is the training
//! machine's and is never read. A file name that is not one plain component,
//! a symlink leading out of `assets/`, or a missing file is an error naming
//! the asset.

use std::path::{Path, PathBuf};

use prost::Message;

use super::ReadError;
use crate::format::proto::collection_def::Kind;
use crate::format::proto::{AssetFileDef, MetaGraphDef, tensor_info};
use crate::model::{Asset, asset_name_problem};

/// The collection TensorFlow 1 SavedModels list their assets in, before
/// MetaGraphDef had `asset_file_def`.
const ASSETS_COLLECTION: &str = "saved_model_assets";
const ASSET_FILE_DEF_TYPE: &str = "tensorflow.AssetFileDef";

/// Every AssetFileDef of `meta`: the `asset_file_def` field and the old
/// `saved_model_assets` collection, each asset tensor once.
pub fn asset_file_defs(file: &Path, meta: &MetaGraphDef) -> Result<Vec<AssetFileDef>, ReadError> {
    let mut defs = meta.asset_file_def.clone();
    let collected = meta
        .collection_def
        .get(ASSETS_COLLECTION)
        .and_then(|c| match &c.kind {
            Some(Kind::AnyList(list)) => Some(&list.value),
            _ => None,
        });
    for any in collected.into_iter().flatten() {
        if !any.type_url.ends_with(ASSET_FILE_DEF_TYPE) {
            continue;
        }
        let def = AssetFileDef::decode(any.value.as_slice()).map_err(|e| ReadError::Decode {
            path: file.to_path_buf(),
            what: "AssetFileDef in the saved_model_assets collection",
            detail: e.to_string(),
        })?;
        if !defs.iter().any(|d| tensor_node(d) == tensor_node(&def)) {
            defs.push(def);
        }
    }
    Ok(defs)
}

/// The node of an asset's tensor (`"vocab:0"` → `"vocab"`).
fn tensor_node(def: &AssetFileDef) -> Option<&str> {
    let info = def.tensor_info.as_ref()?;
    match info.encoding.as_ref()? {
        tensor_info::Encoding::Name(name) => Some(crate::ir::node_of(name)),
        _ => None,
    }
}

/// The declared assets of the SavedModel in `dir`, each checked to be a
/// regular file inside `dir/assets`.
pub fn saved_model_assets(
    dir: impl AsRef<Path>,
    file: &Path,
    meta: &MetaGraphDef,
) -> Result<Vec<Asset>, ReadError> {
    let dir = dir.as_ref();
    let defs = asset_file_defs(file, meta)?;
    if defs.is_empty() {
        return Ok(Vec::new());
    }
    let root = assets_root(dir);
    defs.iter()
        .map(|def| checked_asset(&root, file, def))
        .collect()
}

/// `dir/assets`, symlinks resolved as far as it exists.
pub fn assets_root(dir: &Path) -> PathBuf {
    let assets = dir.join("assets");
    assets
        .canonicalize()
        .or_else(|_| dir.canonicalize().map(|d| d.join("assets")))
        .unwrap_or(assets)
}

fn checked_asset(root: &Path, file: &Path, def: &AssetFileDef) -> Result<Asset, ReadError> {
    let name = &def.filename;
    let unsafe_asset = |reason: &'static str| ReadError::UnsafeAsset {
        path: file.to_path_buf(),
        asset: name.clone(),
        reason,
    };
    if let Some(reason) = asset_name_problem(name) {
        return Err(unsafe_asset(reason));
    }
    let node = tensor_node(def)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| unsafe_asset("its AssetFileDef names no tensor"))?;
    let path = root.join(name);
    let resolved = path
        .canonicalize()
        .map_err(|source| ReadError::MissingAsset {
            path: path.clone(),
            asset: name.clone(),
            source,
        })?;
    if !resolved.starts_with(root) {
        return Err(ReadError::AssetOutside {
            asset: name.clone(),
            path: resolved,
            root: root.to_path_buf(),
        });
    }
    if !resolved.is_file() {
        return Err(unsafe_asset("it is not a regular file"));
    }
    Ok(Asset {
        node: node.to_string(),
        source: resolved,
        filename: name.clone(),
        keep_lines: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{CollectionDef, TensorInfo, collection_def};

    fn def(tensor: &str, filename: &str) -> AssetFileDef {
        AssetFileDef {
            tensor_info: Some(TensorInfo {
                encoding: Some(tensor_info::Encoding::Name(tensor.into())),
                ..TensorInfo::default()
            }),
            filename: filename.into(),
        }
    }

    fn saved_model_dir(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        for name in files {
            std::fs::write(dir.path().join("assets").join(name), name).unwrap();
        }
        dir
    }

    fn assets_of(dir: &Path, defs: Vec<AssetFileDef>) -> Result<Vec<Asset>, ReadError> {
        let meta = MetaGraphDef {
            asset_file_def: defs,
            ..MetaGraphDef::default()
        };
        saved_model_assets(dir, &dir.join("saved_model.pb"), &meta)
    }

    #[test]
    fn field_and_old_collection_are_both_read() {
        let dir = saved_model_dir(&["vocab.txt", "labels.txt"]);
        let any = prost_types::Any {
            type_url: "type.googleapis.com/tensorflow.AssetFileDef".into(),
            value: def("labels_path:0", "labels.txt").encode_to_vec(),
        };
        let meta = MetaGraphDef {
            asset_file_def: vec![def("vocab_path:0", "vocab.txt")],
            collection_def: [(
                ASSETS_COLLECTION.to_string(),
                CollectionDef {
                    kind: Some(Kind::AnyList(collection_def::AnyList { value: vec![any] })),
                },
            )]
            .into(),
            ..MetaGraphDef::default()
        };
        let assets =
            saved_model_assets(dir.path(), &dir.path().join("saved_model.pb"), &meta).unwrap();
        let names: Vec<(&str, &str)> = assets
            .iter()
            .map(|a| (a.node.as_str(), a.filename.as_str()))
            .collect();
        assert_eq!(
            names,
            [("vocab_path", "vocab.txt"), ("labels_path", "labels.txt")]
        );
        let root = dir.path().join("assets").canonicalize().unwrap();
        assert!(assets.iter().all(|a| a.source.starts_with(&root)));
    }

    #[test]
    fn names_that_leave_assets_are_refused() {
        let dir = saved_model_dir(&["vocab.txt"]);
        for name in [
            "../saved_model.pb",
            "/etc/hostname",
            "sub/vocab.txt",
            "..",
            "",
        ] {
            let err = assets_of(dir.path(), vec![def("v:0", name)]).unwrap_err();
            assert!(
                matches!(err, ReadError::UnsafeAsset { .. }),
                "{name}: {err}"
            );
            assert!(err.to_string().contains(&format!("{name:?}")), "{err}");
        }
    }

    #[test]
    fn a_missing_asset_is_an_error_naming_it() {
        let dir = saved_model_dir(&[]);
        let err = assets_of(dir.path(), vec![def("v:0", "vocab.txt")]).unwrap_err();
        assert!(matches!(err, ReadError::MissingAsset { .. }), "{err}");
        assert!(err.to_string().contains("\"vocab.txt\""), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_assets_is_refused() {
        let dir = saved_model_dir(&[]);
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("assets/vocab.txt")).unwrap();
        let err = assets_of(dir.path(), vec![def("v:0", "vocab.txt")]).unwrap_err();
        assert!(matches!(err, ReadError::AssetOutside { .. }), "{err}");
    }
}
