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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use prost::Message;

use super::ReadError;
use super::meta::{self, decode_bytes, looks_text, read_bytes};
use super::needed::{Needed, Wanted, needed_nodes};
use super::skim::{SkimmedGraph, skim_graph, skim_meta_graph};
use super::wire_check::is_well_formed_skimmed_node_def;
use crate::format::proto::{GraphDef, MetaGraphDef, NodeDef};
use crate::ir::{Graph, PendingNames, ResolvedInput};
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
        if let Some(model) = narrowed_model(&bytes, skim, wanted, None, timings, build) {
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
        skim.graph,
        wanted,
        restore_op.as_deref(),
        timings,
        build,
    )
}

/// The prune pass's word for a node that feeds nothing training-only.
const UNUSED: &str = "unused";

/// The needed nodes are decoded as copies when their bytes are under this
/// share (1/4) of the file, so that the file's buffer can be freed; above
/// it, their large contents are slices of it instead (copying them would
/// add up to their size again while the file is still held).
const COPY_BELOW_SHARE: usize = 4;

/// The model `build` makes of the graph of only the needed nodes, each
/// decoded and moved into the graph at once, and the names of the others.
/// While this thread decodes and builds, a second one works out why each
/// other node would be removed; both then check the others are NodeDefs
/// prost would accept.
///
/// Nothing the model keeps refers to `bytes` once it returns, unless the
/// needed nodes are a large share of them: then their tensor contents are
/// slices of `bytes` rather than copies (a frozen graph's constants are
/// most of its file). So for a training graph, whose needed nodes are a
/// small part of it, the file's buffer is freed when the caller drops it.
fn narrowed_model(
    bytes: &Bytes,
    mut skim: SkimmedGraph<'_>,
    wanted: &Wanted,
    restore_op: Option<&str>,
    timings: &mut Timings,
    build: impl FnOnce(Graph) -> Option<Model>,
) -> Option<Model> {
    let inputs = skim.take_inputs();
    let needed = timings.time(Stage::Decode, || {
        needed_nodes(&skim, inputs, wanted, restore_op)
    })?;
    let checks = WireChecks::new(bytes, &skim, &needed.decode);
    let (model, undecoded) = std::thread::scope(|scope| {
        let skipped = scope.spawn(|| {
            let names = undecoded_names(&skim, &needed);
            checks.help();
            names
        });
        let model = timings
            .time(Stage::IrBuild, || graph_of_needed(bytes, &skim, &needed))
            .and_then(build);
        timings.time(Stage::Decode, || checks.help());
        // A thread that panicked proves nothing: decode everything instead.
        let undecoded = timings.time(Stage::Decode, || skipped.join().ok().flatten());
        (model, undecoded)
    });
    if !checks.all_well_formed() {
        return None;
    }
    // The skim goes first, so that the names' copy adds nothing to the
    // read's peak.
    drop(needed);
    drop(skim);
    let (mut model, undecoded) = (model?, undecoded?);
    let undecoded = timings.time(Stage::IrBuild, || undecoded.into_names());
    model.graph.set_undecoded(undecoded);
    Some(model)
}

/// The names of the nodes not decoded, each with its removal reason, still
/// borrowed from the file; the caller checks those nodes well formed apart
/// ([`WireChecks`]).
fn undecoded_names<'a>(
    skim: &SkimmedGraph<'a>,
    needed: &Needed<'_, 'a>,
) -> Option<PendingNames<'a>> {
    let removal = needed.removal_reasons()?;
    let skipped = skim
        .nodes
        .iter()
        .zip(&needed.decode)
        .zip(removal)
        .filter(|((_, keep), _)| !**keep)
        .map(|((node, _), reason)| {
            (
                node.name,
                reason.map_or(UNUSED, |category| category.as_str()),
            )
        });
    Some(PendingNames::new(skipped))
}

/// How many skipped nodes a thread checks at a time.
const CHECK_CHUNK: usize = 2048;

/// The check that every skipped node is a NodeDef prost would accept,
/// shared out in chunks to whichever thread is free: the one that works
/// out removal reasons and the one that decodes and builds the graph each
/// take chunks when their own work is done, so neither waits idle on the
/// other.
struct WireChecks<'b, 's, 'a> {
    bytes: &'b [u8],
    skim: &'s SkimmedGraph<'a>,
    skipped: Vec<u32>,
    next: AtomicUsize,
    failed: AtomicBool,
}

impl<'b, 's, 'a> WireChecks<'b, 's, 'a> {
    fn new(bytes: &'b [u8], skim: &'s SkimmedGraph<'a>, decode: &[bool]) -> Self {
        let skipped = (0..decode.len())
            .filter(|&at| !decode[at])
            .filter_map(|at| u32::try_from(at).ok())
            .collect();
        WireChecks {
            bytes,
            skim,
            skipped,
            next: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// Checks chunks until none is left or one fails.
    fn help(&self) {
        while !self.failed.load(Ordering::Relaxed) {
            let start = self.next.fetch_add(CHECK_CHUNK, Ordering::Relaxed);
            let Some(chunk) = self.skipped.get(start..) else {
                return;
            };
            let well_formed = chunk.iter().take(CHECK_CHUNK).all(|&at| {
                self.skim.nodes.get(at as usize).is_some_and(|node| {
                    self.bytes
                        .get(node.bytes())
                        .is_some_and(is_well_formed_skimmed_node_def)
                })
            });
            if !well_formed {
                self.failed.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Whether every chunk was checked and found well formed; call once
    /// every thread that helped is done.
    fn all_well_formed(&self) -> bool {
        self.help();
        !self.failed.load(Ordering::Relaxed)
    }
}

/// The graph of the GraphDef's other fields and the nodes `needed` marks
/// to decode, their inputs as `needed` resolved them; `None` when one of
/// them does not decode or the graph does not build (the full decode then
/// says what is wrong).
fn graph_of_needed(bytes: &Bytes, skim: &SkimmedGraph<'_>, needed: &Needed) -> Option<Graph> {
    let rest = GraphDef::decode(skim.rest.as_slice()).ok()?;
    let decode = &needed.decode;
    let kept: Vec<usize> = (0..decode.len()).filter(|&at| decode[at]).collect();
    let mut position_of = vec![u32::MAX; decode.len()];
    for (position, &at) in kept.iter().enumerate() {
        *position_of.get_mut(at)? = u32::try_from(position).ok()?;
    }
    let kept_bytes: usize = kept.iter().map(|&at| skim.nodes[at].bytes().len()).sum();
    let copy = kept_bytes < bytes.len() / COPY_BELOW_SHARE;
    let mut undecodable = false;
    let nodes = kept.iter().map(|&at| {
        let range = skim.nodes[at].bytes();
        let decoded = if copy {
            NodeDef::decode(bytes.get(range).unwrap_or_default())
        } else {
            NodeDef::decode(bytes.slice(range))
        };
        let mut node = decoded.unwrap_or_else(|_| {
            // An unnamed node stops the build at once.
            undecodable = true;
            NodeDef::default()
        });
        // The edges come from the resolved inputs.
        node.input = Vec::new();
        node
    });
    let inputs_of = |position: usize| {
        let node = kept.get(position).copied().unwrap_or(usize::MAX);
        needed
            .inputs_of(node)
            .map(|(producer, port)| ResolvedInput {
                // A producer not kept (impossible: the set is closed over
                // inputs) is out of range, which the build refuses.
                producer: position_of
                    .get(producer)
                    .map_or(usize::MAX, |&p| p as usize),
                port,
            })
    };
    let graph = Graph::from_resolved_node_defs(rest, nodes, inputs_of).ok();
    graph.filter(|_| !undecodable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::AttrValue;
    use crate::format::proto::attr_value::Value;

    /// A graph whose output reads one constant, beside `skipped` nodes it
    /// does not need; every node has a string attr (a `Bytes` field).
    fn graph_bytes(skipped: usize, content: usize) -> Bytes {
        let node = |name: String, op: &str, input: Vec<String>| {
            let mut node = NodeDef {
                name,
                op: op.into(),
                input,
                ..NodeDef::default()
            };
            let s = Value::S(vec![b'x'; content].into());
            node.attr.insert("s".into(), AttrValue { value: Some(s) });
            node
        };
        let mut nodes = vec![
            node("c".into(), "Const", vec![]),
            node("y".into(), "Identity", vec!["c".into()]),
        ];
        nodes.extend((0..skipped).map(|i| node(format!("g{i}"), "Identity", vec!["y".into()])));
        let graph = GraphDef {
            node: nodes,
            ..GraphDef::default()
        };
        Bytes::from(graph.encode_to_vec())
    }

    fn narrowed(bytes: &Bytes) -> Model {
        let wanted = Wanted {
            tensors: vec!["y:0".into()],
            ..Wanted::default()
        };
        let skim = skim_graph(bytes).unwrap();
        let build = |graph| Some(crate::model::Model::from_graph(graph));
        narrowed_model(bytes, skim, &wanted, None, &mut Timings::default(), build).unwrap()
    }

    #[test]
    fn a_small_share_of_needed_nodes_keeps_nothing_of_the_file() {
        let bytes = graph_bytes(40, 8);
        let model = narrowed(&bytes);
        assert_eq!(model.graph.len(), 2);
        assert_eq!(model.graph.undecoded().len(), 40);
        assert!(model.graph.undecoded().contains("g39"));
        assert!(bytes.is_unique(), "the model still refers to the file");
    }

    #[test]
    fn a_large_share_of_needed_nodes_is_sliced_not_copied() {
        let bytes = graph_bytes(1, 1000);
        let model = narrowed(&bytes);
        assert_eq!(model.graph.len(), 2);
        assert!(!bytes.is_unique(), "the constants were copied");
    }
}
