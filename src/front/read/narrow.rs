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
use crate::ir::UndecodedNames;
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
    if wanted.narrows() && !looks_text(path) {
        let narrowed = timings.time(Stage::Decode, || narrowed_meta_def(&bytes, wanted));
        if let Some((meta, undecoded)) = narrowed
            && let Some(model) = timings.time(Stage::IrBuild, || {
                meta::model_from_meta_graph(path, meta, base_dir.clone()).ok()
            })
        {
            return Ok(with_undecoded(model, undecoded));
        }
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
    if wanted.narrows() && !looks_text(path) {
        let narrowed = timings.time(Stage::Decode, || {
            let skim = skim_graph(&bytes).ok()?;
            narrowed_graph_def(&bytes, &skim, wanted, None)
        });
        if let Some((graph_def, undecoded)) = narrowed
            && let Some(model) = timings.time(Stage::IrBuild, || {
                super::model_from_graph_def(path, graph_def, base_dir.clone()).ok()
            })
        {
            return Ok(with_undecoded(model, undecoded));
        }
    }
    let graph_def: GraphDef = timings.time(Stage::Decode, || {
        decode_bytes(path, bytes, "tensorflow.GraphDef", "GraphDef")
    })?;
    timings.time(Stage::IrBuild, || {
        super::model_from_graph_def(path, graph_def, base_dir)
    })
}

fn with_undecoded(mut model: Model, undecoded: UndecodedNames) -> Model {
    model.graph.set_undecoded(undecoded);
    model
}

/// The MetaGraphDef with its graph narrowed, and the names left out.
fn narrowed_meta_def(bytes: &Bytes, wanted: &Wanted) -> Option<(MetaGraphDef, UndecodedNames)> {
    let skim = skim_meta_graph(bytes).ok()?;
    let mut meta = MetaGraphDef::decode(skim.rest.as_slice()).ok()?;
    let restore_op = meta.saver_def.as_ref().map(|s| s.restore_op_name.as_str());
    let (graph_def, undecoded) = narrowed_graph_def(bytes, &skim.graph, wanted, restore_op)?;
    meta.graph_def = Some(graph_def);
    Some((meta, undecoded))
}

/// The prune pass's word for a node that feeds nothing training-only.
const UNUSED: &str = "unused";

/// The GraphDef with only the needed nodes, decoded from slices of `bytes`
/// (so large tensor contents are not copied), and the names of the others.
/// While this thread decodes, a second one works out why each other node
/// would be removed and checks it is a NodeDef prost would accept.
fn narrowed_graph_def(
    bytes: &Bytes,
    skim: &SkimmedGraph<'_>,
    wanted: &Wanted,
    restore_op: Option<&str>,
) -> Option<(GraphDef, UndecodedNames)> {
    let needed = needed_nodes(skim, wanted, restore_op)?;
    let (undecoded, graph_def) = std::thread::scope(|scope| {
        let skipped = scope.spawn(|| checked_undecoded(bytes, skim, &needed));
        let graph_def = decode_needed(bytes, skim, &needed.decode);
        // A thread that panicked proves nothing: decode everything instead.
        (skipped.join().ok().flatten(), graph_def)
    });
    Some((graph_def?, undecoded?))
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
    let mut names = Vec::new();
    for (node, reason) in skipped {
        if !bytes
            .get(node.bytes.clone())
            .is_some_and(is_well_formed_skimmed_node_def)
        {
            return None;
        }
        let reason = reason.map_or(UNUSED, |category| category.as_str());
        names.push((node.name_bytes.clone(), reason));
    }
    Some(UndecodedNames::new(bytes.clone(), names))
}

/// The GraphDef's other fields and the nodes marked in `decode`.
fn decode_needed(bytes: &Bytes, skim: &SkimmedGraph<'_>, decode: &[bool]) -> Option<GraphDef> {
    let mut graph_def = GraphDef::decode(skim.rest.as_slice()).ok()?;
    graph_def
        .node
        .reserve(decode.iter().filter(|&&keep| keep).count());
    for (node, _) in skim.nodes.iter().zip(decode).filter(|(_, keep)| **keep) {
        graph_def
            .node
            .push(NodeDef::decode(bytes.slice(node.bytes.clone())).ok()?);
    }
    Some(graph_def)
}
