//! Reading only what an export needs from a binary graph: skim it
//! (`read::skim`), find the nodes serving needs (`read::needed`), decode
//! just those from their byte ranges. Most of a training graph is gradients
//! and optimizer, never decoded this way.
//!
//! Any doubt — a text file, a skim that gives up, a wanted name that is not
//! there, a node or graph that does not decode or build — and the whole file
//! is decoded the ordinary way, which reports whatever is wrong exactly as
//! a full read does.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use super::ReadError;
use super::meta::{self, decode_bytes, looks_text, read_bytes};
use super::needed::{Needed, Wanted, needed_nodes};
use super::skim::{SkimmedGraph, skim_graph, skim_meta_graph};
use super::wire_check::is_well_formed_skimmed_node_def;
use crate::format::proto::{GraphDef, MetaGraphDef, NodeDef};
use crate::ir::{Graph, UndecodedNames};
use crate::model::Model;
use crate::timings::{Stage, Timings};

/// The model of the `.meta` at `path`, its graph narrowed to what `wanted`
/// needs; the time spent decoding and building the IR goes to `timings`.
pub fn model_from_meta_file(
    path: &Path,
    wanted: &Wanted,
    base_dir: PathBuf,
    timings: &mut Timings,
) -> Result<Model, ReadError> {
    let bytes = Bytes::from(timings.time(Stage::Decode, || read_bytes(path))?);
    if wanted.narrows()
        && !looks_text(path)
        && let Some(model) = narrowed_meta_model(path, &bytes, wanted, &base_dir, timings)
    {
        return Ok(model);
    }
    let meta: MetaGraphDef = timings.time(Stage::Decode, || {
        decode_bytes(path, bytes, "tensorflow.MetaGraphDef", "MetaGraphDef")
    })?;
    timings.time(Stage::IrBuild, || {
        meta::model_from_meta_graph(path, meta, base_dir)
    })
}

/// The model of the GraphDef at `path`, narrowed to what `wanted` needs;
/// the time spent decoding and building the IR goes to `timings`.
pub fn model_from_graph_file(
    path: &Path,
    wanted: &Wanted,
    base_dir: PathBuf,
    timings: &mut Timings,
) -> Result<Model, ReadError> {
    let bytes = Bytes::from(timings.time(Stage::Decode, || read_bytes(path))?);
    if wanted.narrows()
        && !looks_text(path)
        && let Some(skim) = timings.time(Stage::Decode, || skim_graph(&bytes).ok())
    {
        let build = |graph| Some(super::model_of_graph(graph, base_dir.clone()));
        if let Some(model) = narrowed_model(&bytes, &skim, wanted, None, timings, build) {
            return Ok(model);
        }
    }
    let graph_def: GraphDef = timings.time(Stage::Decode, || {
        decode_bytes(path, bytes, "tensorflow.GraphDef", "GraphDef")
    })?;
    timings.time(Stage::IrBuild, || {
        super::model_from_graph_def(path, graph_def, base_dir)
    })
}

/// The model of a `.meta`'s bytes with its graph narrowed (see
/// [`narrowed_model`]); `None` when the skim gives up.
fn narrowed_meta_model(
    path: &Path,
    bytes: &Bytes,
    wanted: &Wanted,
    base_dir: &Path,
    timings: &mut Timings,
) -> Option<Model> {
    let (skim, meta) = timings.time(Stage::Decode, || {
        let skim = skim_meta_graph(bytes).ok()?;
        let meta = MetaGraphDef::decode(skim.rest.as_slice()).ok()?;
        Some((skim, meta))
    })?;
    let restore_op = meta.saver_def.as_ref().map(|s| s.restore_op_name.clone());
    let build =
        |graph| meta::model_from_meta_graph_with(path, graph, meta, base_dir.to_path_buf()).ok();
    narrowed_model(
        bytes,
        &skim.graph,
        wanted,
        restore_op.as_deref(),
        timings,
        build,
    )
}

/// The prune pass's word for a node that feeds nothing training-only.
const UNUSED: &str = "unused";

/// The model `build` makes of the graph of only the needed nodes, each
/// decoded from its slice of `bytes` (so large tensor contents are not
/// copied) and moved into the graph at once, and the names of the others.
/// While this thread decodes and builds, a second one works out why each
/// other node would be removed and checks it is a NodeDef prost would
/// accept.
fn narrowed_model(
    bytes: &Bytes,
    skim: &SkimmedGraph<'_>,
    wanted: &Wanted,
    restore_op: Option<&str>,
    timings: &mut Timings,
    build: impl FnOnce(Graph) -> Option<Model>,
) -> Option<Model> {
    let needed = timings.time(Stage::Decode, || needed_nodes(skim, wanted, restore_op))?;
    std::thread::scope(|scope| {
        let skipped = scope.spawn(|| checked_undecoded(bytes, skim, &needed));
        let model = timings
            .time(Stage::IrBuild, || {
                graph_of_needed(bytes, skim, &needed.decode)
            })
            .and_then(build);
        // A thread that panicked proves nothing: decode everything instead.
        let undecoded = timings.time(Stage::Decode, || skipped.join().ok().flatten());
        let mut model = model?;
        model.graph.set_undecoded(undecoded?);
        Some(model)
    })
}

/// The names of the nodes not decoded, each with its removal reason, once
/// each of them is checked to be a well-formed NodeDef.
fn checked_undecoded(
    bytes: &Bytes,
    skim: &SkimmedGraph<'_>,
    needed: &Needed<'_, '_>,
) -> Option<UndecodedNames> {
    let removal = needed.removal_reasons()?;
    let skipped = skim
        .nodes
        .iter()
        .zip(&needed.decode)
        .zip(removal)
        .filter(|((_, keep), _)| !**keep)
        .map(|((node, _), reason)| (node, reason));
    let mut names = Vec::with_capacity(needed.decode.iter().filter(|&&keep| !keep).count());
    for (node, reason) in skipped {
        if !bytes
            .get(node.bytes())
            .is_some_and(is_well_formed_skimmed_node_def)
        {
            return None;
        }
        let reason = reason.map_or(UNUSED, |category| category.as_str());
        names.push((skim.name_bytes(node), reason));
    }
    Some(UndecodedNames::new(bytes.clone(), names))
}

/// The graph of the GraphDef's other fields and the nodes marked in
/// `decode`; `None` when one of them does not decode or the graph does not
/// build (the full decode then says what is wrong).
fn graph_of_needed(bytes: &Bytes, skim: &SkimmedGraph<'_>, decode: &[bool]) -> Option<Graph> {
    let rest = GraphDef::decode(skim.rest.as_slice()).ok()?;
    let needed: Vec<usize> = (0..decode.len()).filter(|&at| decode[at]).collect();
    let mut undecodable = false;
    let nodes = needed.iter().map(|&at| {
        NodeDef::decode(bytes.slice(skim.nodes[at].bytes())).unwrap_or_else(|_| {
            // An unnamed node stops the build at once.
            undecodable = true;
            NodeDef::default()
        })
    });
    let graph = Graph::from_node_defs(rest, nodes).ok();
    graph.filter(|_| !undecodable)
}
