//! Training artifacts → [`Model`]: a GraphDef (`.pb` / `.pbtxt`), a
//! checkpoint (prefix, `.meta`, `.index`, or a directory with a `checkpoint`
//! state file) or a SavedModel directory.

mod assets;
pub use assets::{asset_file_defs, saved_model_assets};
mod error;
mod keras_files;
mod locate;
mod meta;
mod nameless;
mod narrow;
mod needed;
mod skim;
mod wire_check;

pub use error::ReadError;
pub use keras_files::KerasFile;
pub use locate::{Source, checkpoint_prefix, locate, locate_with_checkpoint};
pub use meta::{default_slots, read_graph_def, read_meta_graph, read_saved_model};
pub use needed::Wanted;

use std::path::{Path, PathBuf};

use crate::format::proto::{GraphDef, MetaGraphDef};
use crate::ir::Graph;
use crate::model::Model;
use crate::timings::{Stage, Timings};

/// Reads any supported source into a model. `checkpoint` supplies variables
/// for a bare GraphDef (or overrides the source's own checkpoint).
pub fn read_model(
    path: impl AsRef<Path>,
    checkpoint: Option<&Path>,
    tags: &[String],
) -> Result<Model, ReadError> {
    let path = path.as_ref();
    read_source(&locate(path)?, checkpoint, tags)
}

/// Reads a source [`locate`] found; see [`read_model`].
pub fn read_source(
    source: &Source,
    checkpoint: Option<&Path>,
    tags: &[String],
) -> Result<Model, ReadError> {
    let everything = Wanted::default();
    read_source_for(source, checkpoint, tags, &everything, &mut Timings::new())
}

/// [`read_model`] narrowed to what serving `wanted` needs: of a binary
/// GraphDef or `.meta`, only the nodes the wanted tensors depend on and those
/// the passes and the writer look at are decoded (`Graph::undecoded` names
/// the rest, which the prune pass would remove). Run the prune pass on the
/// result. Without wanted tensors, or for other sources, it is `read_model`.
pub fn read_model_for(
    path: impl AsRef<Path>,
    checkpoint: Option<&Path>,
    tags: &[String],
    wanted: &Wanted,
) -> Result<Model, ReadError> {
    let path = path.as_ref();
    read_source_for(
        &locate(path)?,
        checkpoint,
        tags,
        wanted,
        &mut Timings::new(),
    )
}

/// Reads a source [`locate`] found, narrowed to `wanted` (see
/// [`read_model_for`]), adding the time spent decoding the graph file and
/// building the IR to `timings`.
pub fn read_source_for(
    source: &Source,
    checkpoint: Option<&Path>,
    tags: &[String],
    wanted: &Wanted,
    timings: &mut Timings,
) -> Result<Model, ReadError> {
    let mut model = match source {
        Source::GraphDef { path } => {
            narrow::model_from_graph_file(path, wanted, dir_of(path), timings)?
        }
        Source::Checkpoint { prefix, meta } => {
            let mut model = narrow::model_from_meta_file(meta, wanted, dir_of(prefix), timings)?;
            model.checkpoint = Some(prefix.clone());
            model
        }
        Source::SavedModel { dir } => read_saved_model_source(dir, tags, timings)?,
    };
    if let Some(given) = checkpoint {
        let prefix = checkpoint_prefix(given)?;
        if !crate::format::bundle::index_path(&prefix).exists() {
            return Err(ReadError::NotFound {
                path: crate::format::bundle::index_path(&prefix),
                what: "checkpoint index",
            });
        }
        model.checkpoint = Some(prefix);
    }
    crate::front::object_graph::map_variables(&mut model)?;
    Ok(model)
}

/// A SavedModel source: its variables, and assets read only from its `assets/`.
fn read_saved_model_source(
    dir: &Path,
    tags: &[String],
    timings: &mut Timings,
) -> Result<Model, ReadError> {
    let (meta_graph, variables) = timings.time(Stage::Decode, || read_saved_model(dir, tags))?;
    meta::refuse_shards_without_index(dir)?;
    timings.time(Stage::IrBuild, || {
        let file = dir.join("saved_model.pb");
        let declared_assets = assets::saved_model_assets(dir, &file, &meta_graph)?;
        let asset_root = assets::assets_root(dir);
        let mut model = meta::model_from_meta_graph(&file, meta_graph, asset_root.clone())?;
        model.checkpoint = variables;
        model.declared_assets = declared_assets;
        model.asset_root = Some(asset_root);
        Ok(model)
    })
}

pub(super) fn model_from_graph_def(
    path: &Path,
    graph_def: GraphDef,
    base_dir: PathBuf,
) -> Result<Model, ReadError> {
    let graph = Graph::from_graph_def(graph_def).map_err(|source| ReadError::Graph {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(model_of_graph(graph, base_dir))
}

/// The model of a bare graph (no MetaGraphDef around it).
pub(super) fn model_of_graph(graph: Graph, base_dir: PathBuf) -> Model {
    let mut model = Model::from_graph(graph);
    model.base_dir = base_dir;
    model.checkpoint_slots = meta::default_slots(&model.graph);
    model
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The MetaGraphDef a model came from is not kept whole; this is for `show`.
pub fn read_any_meta(
    path: impl AsRef<Path>,
    tags: &[String],
) -> Result<(Source, Vec<MetaGraphDef>, Option<GraphDef>), ReadError> {
    let path = path.as_ref();
    let source = locate(path)?;
    Ok(match &source {
        Source::GraphDef { path } => {
            let graph = read_graph_def(path)?;
            (source, Vec::new(), Some(graph))
        }
        Source::Checkpoint { meta, .. } => {
            let meta = read_meta_graph(meta)?;
            (source, vec![meta], None)
        }
        Source::SavedModel { dir } => {
            let saved = meta::read_saved_model_file(dir)?;
            let metas = if tags.is_empty() {
                saved.meta_graphs
            } else {
                vec![read_saved_model(dir, tags)?.0]
            };
            (source, metas, None)
        }
    })
}
