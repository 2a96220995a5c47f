//! Planning the lean export: from a TF2 MetaGraphDef and its checkpoint's
//! object graph to a [`LeanPlan`] — pure, no I/O.
//!
//! The kept signatures (and the init op) name graph nodes; those nodes and
//! what they read are kept, and the functions they call, closed over every
//! call inside the library (`functions.rs`). The object graph keeps what
//! those functions capture and what `tf.saved_model.load` needs to rebuild
//! it (`objects.rs`); the checkpoint's object graph keeps the objects on a
//! path to a kept value (`checkpoint.rs`). What is left out is reported with
//! a reason found by structure (`reasons.rs`).

mod checkpoint;
mod functions;
mod graph;
mod load_checks;
mod objects;
mod reasons;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use objects::{Kind, SavedGraph};

use super::{
    DroppedKey, DroppedObject, DroppedParts, KeptVariable, LeanPlan, SignatureChoice, Tf2Error,
};
use crate::format::proto::{
    AttrValue, DataType, GraphDef, MetaGraphDef, NodeDef, SavedObjectGraph, TrackableObjectGraph,
    attr_value,
};
use crate::front::object_graph::{ObjectGraph, VARIABLE_VALUE};
use crate::ir::{FunctionIndex, node_of};

/// The op of a resource variable's handle.
const VAR_HANDLE_OP: &str = "VarHandleOp";

/// Plans the lean re-export of `meta_graph` (read from `source`, named in
/// errors) whose `variables/` checkpoint has `checkpoint_graph` as its
/// object graph, keeping the signatures `choice` names.
pub fn plan_lean(
    source: &Path,
    meta_graph: &MetaGraphDef,
    checkpoint_graph: &TrackableObjectGraph,
    choice: &SignatureChoice,
) -> Result<LeanPlan, Tf2Error> {
    let signatures = chosen_signatures(source, meta_graph, choice)?;
    let no_objects = SavedObjectGraph::default();
    let object_graph = meta_graph.object_graph_def.as_ref().unwrap_or(&no_objects);
    let saved = SavedGraph::decode(source, object_graph)?;
    let checkpoint = ObjectGraph::from_proto(checkpoint_graph.clone(), source)?;
    let no_graph = GraphDef::default();
    let graph_def = meta_graph.graph_def.as_ref().unwrap_or(&no_graph);
    load_checks::check(source, meta_graph, graph_def, &saved)?;

    let (paths, saved_roles) = paths_and_roles(&saved);
    let kept = keep(
        source,
        meta_graph,
        graph_def,
        &saved,
        &signatures,
        &saved_roles,
    )?;
    let pairs = checkpoint::pair_by_names(&saved, &checkpoint);
    let inputs = Inputs {
        source,
        graph_def,
        saved,
        checkpoint,
        paths,
        pairs,
    };

    let ids = objects::renumbering(&kept.objects.nodes);
    let variables = kept_variables(&inputs, &kept, &ids)?;
    let checkpoint_kept =
        checkpoint::kept_objects(&inputs.checkpoint, &inputs.pairs, &kept.objects.nodes);
    let dropped = dropped_parts(
        &inputs,
        meta_graph,
        &signatures,
        &kept,
        &saved_roles,
        &checkpoint_kept,
    );
    let meta_graph = pruned_meta_graph(source, meta_graph, graph_def, &signatures, &kept, &ids)?;
    let kept_object_paths = (inputs.paths.iter().zip(&kept.objects.nodes))
        .filter(|(_, kept)| **kept)
        .map(|(path, _)| path.clone())
        .collect();
    Ok(LeanPlan {
        meta_graph,
        checkpoint_graph: checkpoint::pruned(&inputs.checkpoint, &checkpoint_kept).to_proto(),
        variables,
        dropped,
        object_ids: ids,
        kept_object_paths,
    })
}

/// What the plan leaves out, for the report: the signatures not chosen, the
/// objects, functions and checkpoint keys not kept, each with its reason.
fn dropped_parts(
    inputs: &Inputs<'_>,
    meta_graph: &MetaGraphDef,
    signatures: &BTreeSet<String>,
    kept: &KeptParts,
    saved_roles: &[Option<&'static str>],
    checkpoint_kept: &[bool],
) -> DroppedParts {
    DroppedParts {
        signatures: meta_graph
            .signature_def
            .keys()
            .filter(|k| !signatures.contains(*k))
            .cloned()
            .collect(),
        objects: dropped_objects(inputs, &kept.objects.nodes, saved_roles),
        functions: functions::dropped_functions(inputs.graph_def.library.as_ref(), &kept.functions),
        keys: dropped_keys(inputs, checkpoint_kept),
    }
}

/// Each saved object's shortest path (`<node N>` when nothing names it) and
/// its training role, found by structure: the paths name objects in the
/// report, the roles say why one was dropped and which are never entered.
fn paths_and_roles(saved: &SavedGraph) -> (Vec<String>, Vec<Option<&'static str>>) {
    let saved_view = saved.as_object_graph();
    let paths = saved_view
        .object_paths()
        .into_iter()
        .enumerate()
        .map(|(id, path)| path.unwrap_or_else(|| format!("<node {id}>")))
        .collect();
    let integer_scalar = |id: usize| {
        matches!(
            saved.kind(id),
            Some(Kind::Variable {
                integer_scalar: true,
                ..
            })
        )
    };
    let roles = reasons::training_roles(&saved_view, integer_scalar);
    (paths, roles)
}

/// The signature keys kept: those chosen, plus the init op when present.
fn chosen_signatures(
    source: &Path,
    meta_graph: &MetaGraphDef,
    choice: &SignatureChoice,
) -> Result<BTreeSet<String>, Tf2Error> {
    let available = &meta_graph.signature_def;
    let mut kept: BTreeSet<String> = match choice {
        SignatureChoice::All => available.keys().cloned().collect(),
        SignatureChoice::Only(names) => {
            for name in names {
                if !available.contains_key(name) {
                    return Err(Tf2Error::UnknownSignature {
                        path: source.to_path_buf(),
                        name: name.clone(),
                        available: available
                            .keys()
                            .filter(|k| *k != graph::INIT_OP_SIGNATURE)
                            .cloned()
                            .collect(),
                    });
                }
            }
            names.iter().cloned().collect()
        }
    };
    if available.contains_key(graph::INIT_OP_SIGNATURE) {
        kept.insert(graph::INIT_OP_SIGNATURE.to_string());
    }
    Ok(kept)
}

/// What is kept of the graph, the library and the object graph.
struct KeptParts {
    graph_nodes: BTreeSet<String>,
    functions: BTreeSet<String>,
    objects: objects::Kept,
    /// Old asset_file_def index → new.
    assets: BTreeMap<i32, i32>,
    captured: BTreeMap<usize, String>,
}

/// Graph nodes, functions and objects kept, grown together until stable:
/// kept objects may need functions (a resource's initializer) or graph
/// nodes (an asset's filename, a constant) the signatures alone do not.
fn keep(
    source: &Path,
    meta_graph: &MetaGraphDef,
    graph_def: &GraphDef,
    saved: &SavedGraph,
    signatures: &BTreeSet<String>,
    saved_roles: &[Option<&'static str>],
) -> Result<KeptParts, Tf2Error> {
    let nodes = graph::index(graph_def);
    let library = FunctionIndex::new(graph_def.library.as_ref());
    let base_roots = graph::roots(meta_graph, signatures);
    let enter = |id: usize| enters(saved_roles, id);
    let mut extra_roots: BTreeSet<String> = BTreeSet::new();
    let mut extra_functions: BTreeSet<String> = BTreeSet::new();
    loop {
        let roots = base_roots.iter().cloned().chain(
            extra_roots
                .iter()
                .map(|n| (n.clone(), "the object graph".to_string())),
        );
        let graph_nodes = graph::needed_nodes(source, &nodes, roots)?;
        let seeds = function_seeds(&graph_nodes, &nodes, &library, &extra_functions);
        let functions = functions::closure(&library, source, seeds)?;
        let kept = objects::kept_nodes(saved, signatures, &functions, enter);
        let mut wanted_roots = kept.graph_nodes.clone();
        wanted_roots.extend(asset_nodes(meta_graph, &kept.assets));
        let grown = !wanted_roots.is_subset(&extra_roots) || !kept.functions.is_subset(&functions);
        if grown {
            extra_roots.extend(wanted_roots);
            extra_functions.extend(kept.functions.iter().cloned());
            continue;
        }
        let captured =
            graph::captured_handles(source, &graph_nodes, &nodes, &library, &saved.bound_inputs)?;
        let assets = kept_assets(meta_graph, &graph_nodes);
        return Ok(KeptParts {
            graph_nodes,
            functions,
            objects: kept,
            assets,
            captured,
        });
    }
}

/// Whether the object graph's ancestors walk may enter object `id`: not
/// optimizer state or the step counter, which serving never reads.
fn enters(saved_roles: &[Option<&'static str>], id: usize) -> bool {
    !matches!(
        saved_roles.get(id).copied().flatten(),
        Some(
            reasons::OPTIMIZER
                | reasons::OPTIMIZER_SLOT
                | reasons::OPTIMIZER_STATE
                | reasons::STEP_COUNTER
        )
    )
}

/// The functions the closure starts from, each with who names it: those the
/// kept graph nodes call, then those kept objects need.
fn function_seeds(
    graph_nodes: &BTreeSet<String>,
    nodes: &BTreeMap<&str, &NodeDef>,
    library: &FunctionIndex<'_>,
    extra_functions: &BTreeSet<String>,
) -> Vec<(String, String)> {
    let mut seeds: Vec<(String, String)> = Vec::new();
    for name in graph_nodes {
        if let Some(node) = nodes.get(name.as_str()) {
            for callee in library.called_by_node(node) {
                seeds.push((callee.to_string(), format!("node {name:?}")));
            }
        }
    }
    seeds.extend(
        extra_functions
            .iter()
            .map(|f| (f.clone(), "the object graph".to_string())),
    );
    seeds
}

/// The graph nodes the kept asset objects' tensors name (the asset's
/// filename), which the graph must keep for the asset to load.
fn asset_nodes(meta_graph: &MetaGraphDef, assets: &BTreeSet<i32>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for index in assets {
        let asset = usize::try_from(*index)
            .ok()
            .and_then(|i| meta_graph.asset_file_def.get(i));
        if let Some(info) = asset.and_then(|a| a.tensor_info.as_ref()) {
            names.extend(
                graph::tensor_names(info)
                    .into_iter()
                    .map(|t| node_of(t).to_string()),
            );
        }
    }
    names
}

/// The asset_file_defs whose tensor is kept: old index → new.
fn kept_assets(meta_graph: &MetaGraphDef, graph_nodes: &BTreeSet<String>) -> BTreeMap<i32, i32> {
    let mut next = 0;
    let mut assets = BTreeMap::new();
    for (index, asset) in meta_graph.asset_file_def.iter().enumerate() {
        let kept = asset.tensor_info.as_ref().is_some_and(|info| {
            graph::tensor_names(info)
                .iter()
                .all(|t| graph_nodes.contains(node_of(t)))
        });
        if let (true, Ok(index)) = (kept, i32::try_from(index)) {
            assets.insert(index, next);
            next += 1;
        }
    }
    assets
}

/// The decoded inputs the steps after keeping read.
struct Inputs<'a> {
    source: &'a Path,
    graph_def: &'a GraphDef,
    saved: SavedGraph,
    checkpoint: ObjectGraph,
    /// Each saved object's shortest path in the source (`<node N>` when
    /// nothing names it).
    paths: Vec<String>,
    /// Saved object id → the checkpoint object it restores from.
    pairs: Vec<Option<usize>>,
}

/// Every kept variable object: its handle node, checkpoint key, dtype and
/// shape, in the order of the pruned object graph.
fn kept_variables(
    inputs: &Inputs<'_>,
    kept: &KeptParts,
    ids: &[Option<i32>],
) -> Result<Vec<KeptVariable>, Tf2Error> {
    let Inputs {
        source,
        graph_def,
        saved,
        paths,
        ..
    } = inputs;
    let nodes = graph::index(graph_def);
    let mut variables = Vec::new();
    for (id, node) in saved.nodes.iter().enumerate() {
        let Some(object_id) = ids.get(id).copied().flatten() else {
            continue;
        };
        if !matches!(node.kind, Kind::Variable { .. }) {
            continue;
        }
        let object_path = paths.get(id).cloned().unwrap_or_default();
        let handle = kept
            .captured
            .get(&id)
            .and_then(|name| nodes.get(name.as_str()))
            .ok_or_else(|| Tf2Error::NoVariableHandle {
                path: source.to_path_buf(),
                object_path: object_path.clone(),
            })?;
        if handle.op != VAR_HANDLE_OP {
            return Err(Tf2Error::NotAVariableHandle {
                path: source.to_path_buf(),
                object_path,
                node: handle.name.clone(),
                op: handle.op.clone(),
            });
        }
        let key = checkpoint_key(inputs, id, &object_path)?;
        let (dtype, shape) = handle_type(source, handle)?;
        if let Kind::Variable {
            saved: Some(saved), ..
        } = &node.kind
        {
            saved_variable_agrees(source, &object_path, saved, (dtype, &shape))?;
        }
        variables.push(KeptVariable {
            node: handle.name.clone(),
            object_id,
            object_path,
            key,
            dtype,
            shape,
        });
    }
    Ok(variables)
}

/// The checkpoint key of saved variable object `id`'s value: the
/// `VARIABLE_VALUE` attribute of the checkpoint object it restores from.
fn checkpoint_key(inputs: &Inputs<'_>, id: usize, object_path: &str) -> Result<String, Tf2Error> {
    inputs
        .pairs
        .get(id)
        .copied()
        .flatten()
        .and_then(|c| inputs.checkpoint.objects.get(c))
        .and_then(|o| o.attributes.iter().find(|a| a.name == VARIABLE_VALUE))
        .map(|a| a.checkpoint_key.clone())
        .ok_or_else(|| Tf2Error::NoCheckpointKey {
            path: inputs.source.to_path_buf(),
            object_path: object_path.to_string(),
        })
}

/// The saved variable object's dtype and shape (dimensions of -1 and an
/// unknown rank admit any) are its handle's.
fn saved_variable_agrees(
    source: &Path,
    object_path: &str,
    saved: &objects::SavedType,
    (dtype, shape): (DataType, &[i64]),
) -> Result<(), Tf2Error> {
    let shape_agrees = saved.shape.as_ref().is_none_or(|dims| {
        dims.len() == shape.len() && dims.iter().zip(shape).all(|(&s, &h)| s < 0 || s == h)
    });
    if saved.dtype == dtype as i32 && shape_agrees {
        return Ok(());
    }
    let name = |d: i32| crate::typing::dtype_name(d);
    Err(Tf2Error::SavedVariableMismatch {
        path: source.to_path_buf(),
        object_path: object_path.to_string(),
        saved: match &saved.shape {
            Some(dims) => format!("{} {dims:?}", name(saved.dtype)),
            None => format!("{} of unknown rank", name(saved.dtype)),
        },
        handle: format!("{} {shape:?}", name(dtype as i32)),
    })
}

/// A `VarHandleOp`'s dtype and fully known shape.
fn handle_type(source: &Path, handle: &NodeDef) -> Result<(DataType, Vec<i64>), Tf2Error> {
    let problem = |problem: &str| Tf2Error::VariableHandle {
        path: source.to_path_buf(),
        node: handle.name.clone(),
        problem: problem.to_string(),
    };
    let attr = |name: &str| {
        handle
            .attr
            .get(name)
            .and_then(|a: &AttrValue| a.value.as_ref())
    };
    let dtype = match attr("dtype") {
        Some(attr_value::Value::Type(t)) => {
            DataType::try_from(*t).map_err(|_| problem(&format!("an unknown dtype {t}")))?
        }
        _ => return Err(problem("no dtype attr")),
    };
    let shape = match attr("shape") {
        Some(attr_value::Value::Shape(shape)) if !shape.unknown_rank => {
            shape.dim.iter().map(|d| d.size).collect::<Vec<_>>()
        }
        _ => return Err(problem("no shape attr of known rank")),
    };
    if shape.iter().any(|&d| d < 0) {
        return Err(problem(&format!("shape {shape:?}, not fully known")));
    }
    Ok((dtype, shape))
}

/// The object-graph nodes not kept, each with its path, kind and reason.
fn dropped_objects(
    inputs: &Inputs<'_>,
    kept: &[bool],
    roles: &[Option<&'static str>],
) -> Vec<DroppedObject> {
    let saved = &inputs.saved;
    let signature_entries: BTreeSet<usize> = saved
        .children(0)
        .iter()
        .filter(|(_, name)| name == objects::SIGNATURES_CHILD)
        .flat_map(|(map, _)| saved.children(*map).iter().map(|(id, _)| *id))
        .collect();
    saved
        .nodes
        .iter()
        .enumerate()
        .filter(|(id, _)| kept.get(*id) != Some(&true))
        .map(|(id, node)| {
            let reason = roles.get(id).copied().flatten().unwrap_or_else(|| {
                if signature_entries.contains(&id) {
                    reasons::SIGNATURE_NOT_KEPT
                } else if matches!(
                    node.kind,
                    Kind::Function { .. } | Kind::BareConcreteFunction { .. }
                ) {
                    reasons::NOT_CALLED
                } else {
                    reasons::NOT_REACHED
                }
            });
            DroppedObject {
                path: inputs.paths.get(id).cloned().unwrap_or_default(),
                kind: node.kind.name().to_string(),
                reason: reason.to_string(),
            }
        })
        .collect()
}

/// The checkpoint keys of the objects not kept, each with why.
fn dropped_keys(inputs: &Inputs<'_>, kept: &[bool]) -> Vec<DroppedKey> {
    let Inputs {
        checkpoint,
        pairs,
        saved,
        ..
    } = inputs;
    let mut saved_of = vec![None; checkpoint.objects.len()];
    for (saved_id, pair) in pairs.iter().enumerate() {
        if let Some(slot) = pair.and_then(|c| saved_of.get_mut(c)) {
            *slot = Some(saved_id);
        }
    }
    let integer_scalar = |id: usize| {
        saved_of.get(id).copied().flatten().is_some_and(|s| {
            matches!(
                saved.kind(s),
                Some(Kind::Variable {
                    integer_scalar: true,
                    ..
                })
            )
        })
    };
    let roles = reasons::training_roles(checkpoint, integer_scalar);
    let mut keys = Vec::new();
    for (id, object) in checkpoint.objects.iter().enumerate() {
        if kept.get(id) == Some(&true) {
            continue;
        }
        let reason = match roles.get(id).copied().flatten() {
            Some(reasons::OPTIMIZER) => reasons::OPTIMIZER_STATE,
            Some(role) => role,
            None => reasons::NOT_READ,
        };
        for attribute in &object.attributes {
            keys.push(DroppedKey {
                key: attribute.checkpoint_key.clone(),
                reason: reason.to_string(),
            });
        }
    }
    keys
}

/// The graph and library cut down to what `kept` keeps.
fn pruned_graph_def(graph_def: &GraphDef, kept: &KeptParts) -> GraphDef {
    let library = graph_def
        .library
        .as_ref()
        .map(|l| functions::pruned_library(l, &kept.functions));
    #[allow(deprecated)] // `version` is carried over as it stands, not used.
    GraphDef {
        node: graph_def
            .node
            .iter()
            .filter(|n| kept.graph_nodes.contains(&n.name))
            .cloned()
            .collect(),
        library,
        // Field by field: cloning the whole source graph for these would
        // copy every node, kept or not.
        versions: graph_def.versions.clone(),
        version: graph_def.version,
        debug_info: graph_def.debug_info.clone(),
    }
}

/// The MetaGraphDef cut down to what `kept` keeps, renumbered by `ids`,
/// with no saver.
fn pruned_meta_graph(
    source: &Path,
    meta_graph: &MetaGraphDef,
    graph_def: &GraphDef,
    signatures: &BTreeSet<String>,
    kept: &KeptParts,
    ids: &[Option<i32>],
) -> Result<MetaGraphDef, Tf2Error> {
    let graph_def = pruned_graph_def(graph_def, kept);
    let object_graph_def = match &meta_graph.object_graph_def {
        Some(graph) => Some(objects::pruned_graph(
            source,
            graph,
            ids,
            &kept.functions,
            &kept.assets,
        )?),
        None => None,
    };
    let meta_info_def = meta_graph.meta_info_def.clone().map(|mut info| {
        info.function_aliases
            .retain(|_, function| kept.functions.contains(function));
        info
    });
    Ok(MetaGraphDef {
        meta_info_def,
        graph_def: Some(graph_def),
        saver_def: None,
        collection_def: graph::pruned_collections(&meta_graph.collection_def, &kept.graph_nodes),
        signature_def: meta_graph
            .signature_def
            .iter()
            .filter(|(key, _)| signatures.contains(*key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        asset_file_def: meta_graph
            .asset_file_def
            .iter()
            .enumerate()
            .filter(|(index, _)| i32::try_from(*index).is_ok_and(|i| kept.assets.contains_key(&i)))
            .map(|(_, asset)| asset.clone())
            .collect(),
        object_graph_def,
    })
}

#[cfg(test)]
mod tests;
