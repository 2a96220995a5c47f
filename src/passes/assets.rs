//! The files a serving graph reads at initialization, to ship in `assets/`:
//! those a SavedModel source declares, and the vocabularies that text-file
//! table initializers read, found through the string constants naming them.

use std::path::{Component, Path, PathBuf};

use crate::ir::constants::{const_string, through_identities};
use crate::ir::{Graph, NodeId};
use crate::model::{Asset, Model};

/// The assets the source declares whose nodes are kept, then the vocabulary
/// files of `initializers` that read one, each under a file name of its own.
pub(super) fn find_assets(model: &Model, initializers: &[NodeId]) -> Vec<Asset> {
    let graph = &model.graph;
    let mut assets: Vec<Asset> = model
        .declared_assets
        .iter()
        .filter(|a| graph.find(&a.node).is_some())
        .cloned()
        .collect();
    for &id in initializers {
        let Some((node, path)) = vocabulary_file(graph, id) else {
            continue;
        };
        if assets.iter().any(|a| a.node == node) {
            continue;
        }
        let filename = unused_filename(&assets, &base_name(&path));
        let source = if path.is_absolute() {
            path
        } else {
            model.base_dir.join(path)
        };
        assets.push(Asset {
            node,
            source,
            filename,
            keep_lines: None,
        });
    }
    assets
}

/// The string constant a text-file table initializer reads its path from,
/// and that path as the graph states it.
fn vocabulary_file(graph: &Graph, initializer: NodeId) -> Option<(String, PathBuf)> {
    if !graph
        .op(initializer)
        .starts_with("InitializeTableFromTextFile")
    {
        return None;
    }
    let filename = through_identities(graph, graph.data_input(initializer, 1)?);
    let path = const_string(graph, filename.node)?;
    let path = PathBuf::from(String::from_utf8_lossy(&path).into_owned());
    Some((graph.name(filename.node).to_string(), path))
}

/// The last plain component of `path`: the name the file keeps in `assets/`.
fn base_name(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .next_back()
        .unwrap_or_else(|| "asset".into())
}

/// `base`, or `1_base`, `2_base`, ... when another asset has that name.
fn unused_filename(assets: &[Asset], base: &str) -> String {
    let mut filename = base.to_string();
    let mut n = 1;
    while assets.iter().any(|a| a.filename == filename) {
        filename = format!("{n}_{base}");
        n += 1;
    }
    filename
}
