//! Variables of a graph → keys of an object-based checkpoint, through the
//! `full_name` each variable attribute records (the variable's name in the
//! graph that saved it).

use std::collections::{BTreeMap, BTreeSet};

use super::{ObjectGraph, ObjectGraphError, Role, VARIABLE_VALUE};
use crate::format::bundle::BundleReader;
use crate::ir::{AttrExt, Graph, NodeId};
use crate::model::{CheckpointSlot, Model};
use crate::op_kinds::{is_resource_variable_op, is_variable_op};

/// What the object graph says about one full name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup<'a> {
    /// Exactly one variable has the name: its key.
    Found(&'a str),
    /// No variable has it.
    Missing,
    /// Several variables with different keys have it.
    Ambiguous(Vec<&'a str>),
}

impl ObjectGraph {
    /// Full name → the distinct keys of the variables recorded under it.
    pub fn variable_keys(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let attributes = self.objects.iter().flat_map(|o| &o.attributes);
        for attribute in attributes.filter(|a| a.name == VARIABLE_VALUE && !a.full_name.is_empty())
        {
            keys.entry(attribute.full_name.as_str())
                .or_default()
                .insert(attribute.checkpoint_key.as_str());
        }
        keys
    }

    /// The key of the variable called `full_name`.
    pub fn key_for_full_name(&self, full_name: &str) -> KeyLookup<'_> {
        lookup(&self.variable_keys(), full_name)
    }

    /// Every variable by its checkpoint key: the object's path, its full
    /// name and its role.
    pub fn variables_by_key(&self) -> BTreeMap<String, VariableObject> {
        let paths = self.object_paths();
        let roles = self.roles();
        let objects = self.objects.iter().zip(paths.into_iter().zip(roles));
        let mut found = BTreeMap::new();
        for (object, (path, role)) in objects {
            for attribute in object
                .attributes
                .iter()
                .filter(|a| a.name == VARIABLE_VALUE)
            {
                let variable = VariableObject {
                    path: path.clone(),
                    full_name: attribute.full_name.clone(),
                    role: role.clone(),
                };
                found.insert(attribute.checkpoint_key.clone(), variable);
            }
        }
        found
    }
}

impl ObjectGraph {
    /// Why serving never reads a key, for the keys the structure says are
    /// training state: the object graph itself, optimizer slots, the
    /// optimizer's own state.
    pub fn training_only_keys(&self) -> BTreeMap<String, &'static str> {
        let mut reasons = BTreeMap::from([(
            super::OBJECT_GRAPH_KEY.to_string(),
            "object graph of the checkpoint",
        )]);
        for (key, variable) in self.variables_by_key() {
            let reason = match variable.role {
                Role::Slot { .. } => "optimizer slot",
                Role::Optimizer | Role::OptimizerState => "optimizer state",
                Role::Model | Role::Unreachable => continue,
            };
            reasons.insert(key, reason);
        }
        reasons
    }
}

/// A variable of the object graph, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableObject {
    /// The owning object's path (see [`ObjectGraph::object_paths`]).
    pub path: Option<String>,
    /// The variable's name in the graph that saved it.
    pub full_name: String,
    pub role: Role,
}

fn lookup<'a>(keys: &BTreeMap<&'a str, BTreeSet<&'a str>>, full_name: &str) -> KeyLookup<'a> {
    match keys.get(full_name) {
        None => KeyLookup::Missing,
        Some(found) if found.len() == 1 => found
            .first()
            .map_or(KeyLookup::Missing, |key| KeyLookup::Found(key)),
        Some(found) => KeyLookup::Ambiguous(found.iter().copied().collect()),
    }
}

/// The name a variable node was saved under: a resource variable's
/// `shared_name` (its node name when empty), else the node name.
pub fn variable_full_name(graph: &Graph, id: NodeId) -> String {
    let name = graph.name(id);
    if !is_resource_variable_op(graph.op(id)) {
        return name.to_string();
    }
    match graph.node(id).attr_string("shared_name") {
        Ok(shared) if !shared.is_empty() => String::from_utf8_lossy(shared).into_owned(),
        _ => name.to_string(),
    }
}

/// The name to look a variable up by: the whole tensor's for a piece of a
/// partitioned variable, else its full name.
fn lookup_name(model: &Model, id: NodeId) -> String {
    match model.checkpoint_slots.get(model.graph.name(id)) {
        Some(slot) if !slot.slice_spec.is_empty() => slot.key.clone(),
        _ => variable_full_name(&model.graph, id),
    }
}

/// Variable node → the key it is restored from now.
fn current_key(model: &Model, id: NodeId) -> String {
    let name = model.graph.name(id);
    model
        .checkpoint_slots
        .get(name)
        .map_or_else(|| name.to_string(), |slot| slot.key.clone())
}

/// Points every variable whose key the model's checkpoint lacks at the key
/// the checkpoint's object graph records for its full name; returns how many
/// were mapped. A name-based checkpoint, or one every key is found in, is
/// left alone. A variable the object graph lacks or names twice keeps its
/// key: whether serving needs it is known only after pruning, so
/// [`explain_missing`] reports it then. An index that cannot be opened is
/// left for the checks after the passes to report.
pub fn map_variables(model: &mut Model) -> Result<usize, ObjectGraphError> {
    let Some(prefix) = model.checkpoint.clone() else {
        return Ok(0);
    };
    let Ok(reader) = BundleReader::open(&prefix) else {
        return Ok(0);
    };
    let graph = &model.graph;
    let missing: Vec<(String, String)> = graph
        .node_ids()
        .into_iter()
        .filter(|&id| is_variable_op(graph.op(id)))
        .filter(|&id| !reader.contains(&current_key(model, id)))
        .map(|id| (graph.name(id).to_string(), lookup_name(model, id)))
        .collect();
    if missing.is_empty() {
        return Ok(0);
    }
    let Some(objects) = ObjectGraph::read(&reader)? else {
        return Ok(0);
    };
    let keys = objects.variable_keys();
    let mut mapped = 0;
    for (node, full_name) in missing {
        let KeyLookup::Found(key) = lookup(&keys, &full_name) else {
            continue;
        };
        let slot = model
            .checkpoint_slots
            .entry(node)
            .or_insert_with(|| CheckpointSlot {
                key: String::new(),
                slice_spec: String::new(),
            });
        slot.key = key.to_string();
        mapped += 1;
    }
    Ok(mapped)
}

/// Why variable node `variable` of `model` has no key in the object-based
/// checkpoint `reader` opened: the object graph lacks its full name or has
/// it twice. `None` for a name-based checkpoint or a variable the object
/// graph does map (its key is missing for another reason).
pub fn explain_missing(
    model: &Model,
    reader: &BundleReader,
    variable: &str,
) -> Result<Option<ObjectGraphError>, ObjectGraphError> {
    let Some(id) = model.graph.find(variable) else {
        return Ok(None);
    };
    let Some(objects) = ObjectGraph::read(reader)? else {
        return Ok(None);
    };
    let full_name = lookup_name(model, id);
    let checkpoint = reader.prefix().to_path_buf();
    Ok(match objects.key_for_full_name(&full_name) {
        KeyLookup::Found(_) => None,
        KeyLookup::Missing => Some(ObjectGraphError::NotInObjectGraph {
            variable: variable.into(),
            full_name,
            checkpoint,
        }),
        KeyLookup::Ambiguous(keys) => Some(ObjectGraphError::Ambiguous {
            variable: variable.into(),
            full_name,
            checkpoint,
            keys: keys.into_iter().map(str::to_string).collect(),
        }),
    })
}
