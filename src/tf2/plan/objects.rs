//! The SavedObjectGraph: its nodes decoded for planning (kinds, edges, id
//! references), which of them the lean export keeps, and the kept nodes
//! renumbered with every id reference remapped in their serialized bytes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use prost::Message;
use prost::bytes::Bytes;

use crate::format::proto::{SavedConcreteFunction, SavedObject, SavedObjectGraph, saved_object};
use crate::format::wire::{self, Field, Value};
use crate::tf2::Tf2Error;

/// The child of the root under which `tf.saved_model.save` puts the
/// signatures map (a name fixed by the format).
pub(super) const SIGNATURES_CHILD: &str = "signatures";

/// What a node is, as far as planning cares.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    UserObject {
        identifier: String,
    },
    Asset {
        index: i32,
    },
    Function {
        concrete_functions: Vec<String>,
    },
    Variable {
        integer_scalar: bool,
        /// The dtype and shape the object records (`None` without a dtype).
        saved: Option<SavedType>,
    },
    BareConcreteFunction {
        function: String,
    },
    Constant {
        operation: String,
    },
    Resource,
    CapturedTensor {
        function: String,
    },
    Other,
}

impl Kind {
    /// The name of the kind in the SavedObject message.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Kind::UserObject { .. } => "user_object",
            Kind::Asset { .. } => "asset",
            Kind::Function { .. } => "function",
            Kind::Variable { .. } => "variable",
            Kind::BareConcreteFunction { .. } => "bare_concrete_function",
            Kind::Constant { .. } => "constant",
            Kind::Resource => "resource",
            Kind::CapturedTensor { .. } => "captured_tensor",
            Kind::Other => "other",
        }
    }

    /// Functions the node names (a polymorphic function's traces, a bare
    /// concrete function, a captured tensor's function).
    pub(super) fn functions(&self) -> Vec<&str> {
        match self {
            Kind::Function { concrete_functions } => {
                concrete_functions.iter().map(String::as_str).collect()
            }
            Kind::BareConcreteFunction { function } | Kind::CapturedTensor { function } => {
                vec![function.as_str()]
            }
            _ => Vec::new(),
        }
    }
}

/// A saved variable object's dtype and shape (`None`: unknown rank).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SavedType {
    pub dtype: i32,
    pub shape: Option<Vec<i64>>,
}

/// One node of the object graph, its references checked.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub kind: Kind,
    pub children: Vec<(usize, String)>,
    pub dependencies: Vec<usize>,
    /// (original variable, slot variable).
    pub slot_variables: Vec<(usize, usize, String)>,
    /// Ids of the functions saving and restoring its saveables.
    pub saveable_functions: Vec<usize>,
}

/// The object graph decoded for planning.
#[derive(Debug, Clone)]
pub(super) struct SavedGraph {
    pub nodes: Vec<Node>,
    /// Each concrete function with an entry, and the ids it captures.
    pub bound_inputs: BTreeMap<String, Vec<usize>>,
}

impl SavedGraph {
    /// Decodes `graph`, refusing a node that does not decode or an id past
    /// the last node.
    pub(super) fn decode(source: &Path, graph: &SavedObjectGraph) -> Result<Self, Tf2Error> {
        let count = graph.nodes.len();
        let check = Checker { source, count };
        let nodes = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(id, bytes)| check.node(id, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let mut bound_inputs = BTreeMap::new();
        for (name, bytes) in &graph.concrete_functions {
            let function = SavedConcreteFunction::decode(bytes.as_ref())
                .map_err(|e| check.unreadable(format!("concrete function {name:?}"), e))?;
            let referrer = format!("concrete function {name:?}");
            let ids = function
                .bound_inputs
                .iter()
                .map(|&id| check.id(&referrer, "bound input", id))
                .collect::<Result<_, _>>()?;
            bound_inputs.insert(name.clone(), ids);
        }
        Ok(SavedGraph {
            nodes,
            bound_inputs,
        })
    }

    /// Each node's children, as (child, name) edges.
    pub(super) fn children(&self, id: usize) -> &[(usize, String)] {
        self.nodes.get(id).map_or(&[], |n| n.children.as_slice())
    }

    pub(super) fn kind(&self, id: usize) -> Option<&Kind> {
        self.nodes.get(id).map(|n| &n.kind)
    }

    /// Ids reachable from the root through children, not crossing an edge
    /// `cross` refuses.
    pub(super) fn reachable(&self, cross: impl Fn(usize, &str) -> bool) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        if let Some(root) = seen.first_mut() {
            *root = true;
        }
        let mut queue = VecDeque::from([0]);
        while let Some(id) = queue.pop_front() {
            for (child, name) in self.children(id) {
                if !cross(*child, name) {
                    continue;
                }
                if let Some(flag) = seen.get_mut(*child).filter(|f| !**f) {
                    *flag = true;
                    queue.push_back(*child);
                }
            }
        }
        seen
    }

    /// The checkpoint-style object graph of this graph (children and slot
    /// variables), to reuse its paths and roles.
    pub(super) fn as_object_graph(&self) -> crate::front::object_graph::ObjectGraph {
        use crate::front::object_graph::{Child, ObjectGraph, SlotVariable, TrackableObject};
        ObjectGraph {
            objects: self
                .nodes
                .iter()
                .map(|node| TrackableObject {
                    children: node
                        .children
                        .iter()
                        .map(|(object, name)| Child {
                            object: *object,
                            local_name: name.clone(),
                        })
                        .collect(),
                    slot_variables: node
                        .slot_variables
                        .iter()
                        .map(|(original, slot, name)| SlotVariable {
                            original: *original,
                            slot_name: name.clone(),
                            slot: *slot,
                        })
                        .collect(),
                    ..TrackableObject::default()
                })
                .collect(),
        }
    }
}

struct Checker<'a> {
    source: &'a Path,
    count: usize,
}

impl Checker<'_> {
    fn unreadable(&self, part: String, error: prost::DecodeError) -> Tf2Error {
        Tf2Error::ObjectGraph {
            path: self.source.to_path_buf(),
            part,
            detail: error.to_string(),
        }
    }

    fn id(&self, referrer: &str, field: &'static str, target: i32) -> Result<usize, Tf2Error> {
        usize::try_from(target)
            .ok()
            .filter(|&id| id < self.count)
            .ok_or_else(|| Tf2Error::BadObjectReference {
                path: self.source.to_path_buf(),
                referrer: referrer.to_string(),
                field,
                target: i64::from(target),
                count: self.count,
            })
    }

    fn node(&self, id: usize, bytes: &Bytes) -> Result<Node, Tf2Error> {
        let object = SavedObject::decode(bytes.as_ref())
            .map_err(|e| self.unreadable(format!("node {id}"), e))?;
        let referrer = format!("node {id}");
        let children = object
            .children
            .iter()
            .map(|c| {
                Ok((
                    self.id(&referrer, "child", c.node_id)?,
                    c.local_name.clone(),
                ))
            })
            .collect::<Result<_, Tf2Error>>()?;
        let dependencies = object
            .dependencies
            .iter()
            .map(|c| self.id(&referrer, "dependency", c.node_id))
            .collect::<Result<_, _>>()?;
        let slot_variables = object
            .slot_variables
            .iter()
            .map(|s| {
                Ok((
                    self.id(
                        &referrer,
                        "slot's original variable",
                        s.original_variable_node_id,
                    )?,
                    self.id(&referrer, "slot variable", s.slot_variable_node_id)?,
                    s.slot_name.clone(),
                ))
            })
            .collect::<Result<_, Tf2Error>>()?;
        let mut saveable_functions = Vec::new();
        for saveable in object.saveable_objects.values() {
            saveable_functions.push(self.id(&referrer, "save function", saveable.save_function)?);
            saveable_functions.push(self.id(
                &referrer,
                "restore function",
                saveable.restore_function,
            )?);
        }
        Ok(Node {
            kind: kind_of(object.kind),
            children,
            dependencies,
            slot_variables,
            saveable_functions,
        })
    }
}

fn kind_of(kind: Option<saved_object::Kind>) -> Kind {
    use saved_object::Kind as K;
    match kind {
        Some(K::UserObject(user)) => Kind::UserObject {
            identifier: user.identifier,
        },
        Some(K::Asset(asset)) => Kind::Asset {
            index: asset.asset_file_def_index,
        },
        Some(K::Function(function)) => Kind::Function {
            concrete_functions: function.concrete_functions,
        },
        Some(K::Variable(variable)) => Kind::Variable {
            integer_scalar: is_integer(variable.dtype)
                && variable
                    .shape
                    .as_ref()
                    .is_some_and(|s| s.dim.is_empty() && !s.unknown_rank),
            saved: (variable.dtype != 0).then(|| SavedType {
                dtype: variable.dtype,
                shape: variable
                    .shape
                    .filter(|s| !s.unknown_rank)
                    .map(|s| s.dim.iter().map(|d| d.size).collect()),
            }),
        },
        Some(K::BareConcreteFunction(bare)) => Kind::BareConcreteFunction {
            function: bare.concrete_function_name,
        },
        Some(K::Constant(constant)) => Kind::Constant {
            operation: constant.operation,
        },
        Some(K::Resource(_)) => Kind::Resource,
        Some(K::CapturedTensor(captured)) => Kind::CapturedTensor {
            function: captured.concrete_function,
        },
        None => Kind::Other,
    }
}

fn is_integer(dtype: i32) -> bool {
    use crate::format::proto::DataType as D;
    [D::DtInt64, D::DtInt32, D::DtUint64, D::DtUint32]
        .iter()
        .any(|d| *d as i32 == dtype)
}

/// What the object graph keeps, given the functions kept so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Kept {
    pub nodes: Vec<bool>,
    /// Functions kept nodes need beyond those given (a resource's
    /// create/initialize functions, saveable functions, captured tensors).
    pub functions: BTreeSet<String>,
    /// Asset file def indices kept asset objects name.
    pub assets: BTreeSet<i32>,
    /// Graph nodes kept constant objects name.
    pub graph_nodes: BTreeSet<String>,
}

/// The nodes kept: the root, the signatures map and its kept entries,
/// function nodes with a kept trace, bare concrete functions whose
/// function is kept, what kept concrete functions capture, what kept
/// captured objects need (dependencies, saveable functions, function
/// children), and every object on a path from the root to a kept node
/// (`enter` refuses objects never kept for that, e.g. an optimizer).
pub(super) fn kept_nodes(
    graph: &SavedGraph,
    signatures: &BTreeSet<String>,
    functions: &BTreeSet<String>,
    enter: impl Fn(usize) -> bool,
) -> Kept {
    let mut kept = Kept {
        nodes: vec![false; graph.nodes.len()],
        ..Kept::default()
    };
    let mut queue = seed_nodes(graph, signatures, functions);
    while let Some(id) = queue.pop() {
        let Some(flag) = kept.nodes.get_mut(id) else {
            continue;
        };
        if *flag {
            continue;
        }
        *flag = true;
        if let Some(node) = graph.nodes.get(id) {
            keep_needs(graph, node, &mut kept, &mut queue);
        }
    }
    keep_ancestors(graph, &mut kept.nodes, enter);
    kept
}

/// The nodes kept whatever else is: the root, the signatures map (when any
/// signature is kept), function nodes and bare concrete functions naming a
/// kept function (but not the entries of dropped signatures), and what kept
/// functions are bound to. The walk in [`kept_nodes`] starts from these.
fn seed_nodes(
    graph: &SavedGraph,
    signatures: &BTreeSet<String>,
    functions: &BTreeSet<String>,
) -> Vec<usize> {
    let signature_map = graph
        .children(0)
        .iter()
        .find(|(_, name)| name == SIGNATURES_CHILD)
        .map(|(id, _)| *id);
    let dropped_signatures: BTreeSet<usize> = signature_map
        .map(|map| {
            graph
                .children(map)
                .iter()
                .filter(|(_, name)| !signatures.contains(name))
                .map(|(id, _)| *id)
                .collect()
        })
        .unwrap_or_default();
    let mut queue: Vec<usize> = vec![0];
    if let Some(map) = signature_map.filter(|_| !signatures.is_empty()) {
        queue.push(map);
    }
    for (id, node) in graph.nodes.iter().enumerate() {
        let names_kept = match &node.kind {
            Kind::Function { concrete_functions } => {
                concrete_functions.iter().any(|f| functions.contains(f))
            }
            Kind::BareConcreteFunction { function } => functions.contains(function),
            _ => false,
        };
        if names_kept && !dropped_signatures.contains(&id) {
            queue.push(id);
        }
    }
    for (name, ids) in &graph.bound_inputs {
        if functions.contains(name) {
            queue.extend(ids);
        }
    }
    queue
}

/// What a kept node needs kept with it, for `tf.saved_model.load` to
/// rebuild it: its dependencies and saveable functions go on `queue`; a
/// resource's, asset's or constant's function children (their create and
/// initialize functions) go on `queue` with their concrete functions in
/// `kept`; the asset, graph node or function the node names, and the
/// functions of its saveable functions, go in `kept`.
fn keep_needs(graph: &SavedGraph, node: &Node, kept: &mut Kept, queue: &mut Vec<usize>) {
    queue.extend(&node.dependencies);
    queue.extend(&node.saveable_functions);
    match &node.kind {
        Kind::Resource | Kind::Asset { .. } | Kind::Constant { .. } => {
            for (child, _) in &node.children {
                if let Some(Kind::Function { concrete_functions }) = graph.kind(*child) {
                    kept.functions.extend(concrete_functions.iter().cloned());
                    queue.push(*child);
                }
            }
        }
        _ => {}
    }
    match &node.kind {
        Kind::Asset { index } => {
            kept.assets.insert(*index);
        }
        Kind::Constant { operation } => {
            kept.graph_nodes.insert(operation.clone());
        }
        Kind::CapturedTensor { function } => {
            kept.functions.insert(function.clone());
        }
        _ => {}
    }
    for &function in &node.saveable_functions {
        if let Some(kind) = graph.kind(function) {
            kept.functions
                .extend(kind.functions().into_iter().map(String::from));
        }
    }
}

/// Marks every object reachable from the root that has a kept node below
/// it (entering only user objects `enter` accepts).
fn keep_ancestors(graph: &SavedGraph, kept: &mut [bool], enter: impl Fn(usize) -> bool) {
    let reachable = graph.reachable(|_, _| true);
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len()];
    for (id, node) in graph.nodes.iter().enumerate() {
        for (child, _) in &node.children {
            if let Some(list) = parents.get_mut(*child) {
                list.push(id);
            }
        }
    }
    let mut queue: Vec<usize> = (0..kept.len()).filter(|&id| kept[id]).collect();
    while let Some(id) = queue.pop() {
        for &parent in parents.get(id).map_or(&[][..], Vec::as_slice) {
            let eligible = matches!(
                graph.kind(parent),
                Some(Kind::UserObject { .. } | Kind::Other)
            ) && reachable.get(parent).copied().unwrap_or(false)
                && enter(parent);
            if let Some(flag) = kept.get_mut(parent).filter(|f| eligible && !**f) {
                *flag = true;
                queue.push(parent);
            }
        }
    }
}

/// Old id → new id for the kept nodes, in their old order.
pub(super) fn renumbering(kept: &[bool]) -> Vec<Option<i32>> {
    let mut next = 0i32;
    kept.iter()
        .map(|&k| {
            k.then(|| {
                let id = next;
                next += 1;
                id
            })
        })
        .collect()
}

/// The object graph cut down to the kept nodes and functions, every id
/// rewritten through `ids` and every asset index through `assets`; edges
/// to dropped nodes and traces of dropped functions are removed. Fields
/// planning does not read are carried over byte for byte.
pub(super) fn pruned_graph(
    source: &Path,
    graph: &SavedObjectGraph,
    ids: &[Option<i32>],
    functions: &BTreeSet<String>,
    assets: &BTreeMap<i32, i32>,
) -> Result<SavedObjectGraph, Tf2Error> {
    let remap = Remap {
        source,
        ids,
        functions,
        assets,
    };
    let mut nodes = Vec::new();
    for (id, bytes) in graph.nodes.iter().enumerate() {
        if ids.get(id).copied().flatten().is_some() {
            nodes.push(Bytes::from(remap.node(id, bytes)?));
        }
    }
    let mut concrete_functions = BTreeMap::new();
    for (name, bytes) in &graph.concrete_functions {
        if functions.contains(name) {
            let rewritten = remap.concrete_function(name, bytes)?;
            concrete_functions.insert(name.clone(), Bytes::from(rewritten));
        }
    }
    Ok(SavedObjectGraph {
        nodes,
        concrete_functions,
    })
}

struct Remap<'a> {
    source: &'a Path,
    ids: &'a [Option<i32>],
    functions: &'a BTreeSet<String>,
    assets: &'a BTreeMap<i32, i32>,
}

/// Field numbers of SavedObject and the messages inside it.
mod fields {
    pub const CHILDREN: u32 = 1;
    pub const SLOT_VARIABLES: u32 = 3;
    pub const ASSET: u32 = 5;
    pub const FUNCTION: u32 = 6;
    pub const SAVEABLE_OBJECTS: u32 = 11;
    pub const DEPENDENCIES: u32 = 15;
    pub const REFERENCE_NODE_ID: u32 = 1;
    pub const SLOT_ORIGINAL: u32 = 1;
    pub const SLOT_VARIABLE: u32 = 3;
    pub const FUNCTION_CONCRETE: u32 = 1;
    pub const ASSET_INDEX: u32 = 1;
    pub const MAP_VALUE: u32 = 2;
    pub const SAVE_FUNCTION: u32 = 2;
    pub const RESTORE_FUNCTION: u32 = 3;
    pub const BOUND_INPUTS: u32 = 2;
}

impl Remap<'_> {
    fn malformed(&self, part: String, error: wire::WireError) -> Tf2Error {
        Tf2Error::ObjectGraph {
            path: self.source.to_path_buf(),
            part,
            detail: error.to_string(),
        }
    }

    /// The new id of `old`, or `None` when it is dropped.
    fn id(&self, old: u64) -> Option<u64> {
        let old = usize::try_from(wire::int32_of(old)).ok()?;
        self.ids.get(old).copied().flatten().map(wire::int32_wire)
    }

    fn node(&self, id: usize, bytes: &[u8]) -> Result<Vec<u8>, Tf2Error> {
        let part = || format!("node {id}");
        let fields = wire::parse(bytes).map_err(|e| self.malformed(part(), e))?;
        let mut out = Vec::with_capacity(fields.len());
        for field in fields {
            let rewritten = match (field.number, &field.value) {
                (fields::CHILDREN | fields::DEPENDENCIES, Value::Bytes(inner)) => {
                    self.references(inner, &[fields::REFERENCE_NODE_ID])
                }
                (fields::SLOT_VARIABLES, Value::Bytes(inner)) => {
                    self.references(inner, &[fields::SLOT_ORIGINAL, fields::SLOT_VARIABLE])
                }
                (fields::FUNCTION, Value::Bytes(inner)) => self.function(inner).map(Some),
                (fields::ASSET, Value::Bytes(inner)) => self.asset(inner).map(Some),
                (fields::SAVEABLE_OBJECTS, Value::Bytes(inner)) => self.saveable(inner),
                _ => Ok(Some(field.value.clone())),
            }
            .map_err(|e| self.malformed(part(), e))?;
            if let Some(value) = rewritten {
                out.push(Field {
                    number: field.number,
                    value,
                });
            }
        }
        Ok(wire::encode(&out))
    }

    /// A message whose `id_fields` are node ids, remapped; `None` when one
    /// names a dropped node (the reference goes with it).
    fn references(
        &self,
        bytes: &[u8],
        id_fields: &[u32],
    ) -> Result<Option<Value>, wire::WireError> {
        let mut fields = wire::parse(bytes)?;
        for field in &mut fields {
            if let (true, Value::Varint(old)) = (id_fields.contains(&field.number), &field.value) {
                match self.id(*old) {
                    Some(new) => field.value = Value::Varint(new),
                    None => return Ok(None),
                }
            }
        }
        // An id left at its default (0, the root) is not on the wire.
        Ok(Some(Value::Bytes(wire::encode(&fields))))
    }

    /// A polymorphic function keeping only its kept traces.
    fn function(&self, bytes: &[u8]) -> Result<Value, wire::WireError> {
        let fields: Vec<Field> = wire::parse(bytes)?
            .into_iter()
            .filter(|f| match (&f.number, &f.value) {
                (&fields::FUNCTION_CONCRETE, Value::Bytes(name)) => {
                    std::str::from_utf8(name).is_ok_and(|name| self.functions.contains(name))
                }
                _ => true,
            })
            .collect();
        Ok(Value::Bytes(wire::encode(&fields)))
    }

    fn asset(&self, bytes: &[u8]) -> Result<Value, wire::WireError> {
        let mut fields = wire::parse(bytes)?;
        for field in &mut fields {
            if let (fields::ASSET_INDEX, Value::Varint(old)) = (field.number, &field.value) {
                let new = self
                    .assets
                    .get(&wire::int32_of(*old))
                    .copied()
                    .unwrap_or(wire::int32_of(*old));
                field.value = Value::Varint(wire::int32_wire(new));
            }
        }
        Ok(Value::Bytes(wire::encode(&fields)))
    }

    /// A `saveable_objects` map entry with its function ids remapped.
    fn saveable(&self, bytes: &[u8]) -> Result<Option<Value>, wire::WireError> {
        let mut fields = wire::parse(bytes)?;
        for field in &mut fields {
            if let (fields::MAP_VALUE, Value::Bytes(inner)) = (field.number, &field.value) {
                match self.references(inner, &[fields::SAVE_FUNCTION, fields::RESTORE_FUNCTION])? {
                    Some(value) => field.value = value,
                    None => return Ok(None),
                }
            }
        }
        Ok(Some(Value::Bytes(wire::encode(&fields))))
    }

    /// A SavedConcreteFunction with its bound inputs remapped (packed or not).
    fn concrete_function(&self, name: &str, bytes: &[u8]) -> Result<Vec<u8>, Tf2Error> {
        let part = || format!("concrete function {name:?}");
        let mut fields = wire::parse(bytes).map_err(|e| self.malformed(part(), e))?;
        for field in &mut fields {
            if field.number != fields::BOUND_INPUTS {
                continue;
            }
            let value = match &field.value {
                Value::Varint(old) => Value::Varint(self.bound(name, *old)?),
                Value::Bytes(packed) => {
                    let olds =
                        wire::unpack_varints(packed).map_err(|e| self.malformed(part(), e))?;
                    let news = olds
                        .iter()
                        .map(|&old| self.bound(name, old))
                        .collect::<Result<Vec<_>, _>>()?;
                    Value::Bytes(wire::pack_varints(&news))
                }
                other => other.clone(),
            };
            field.value = value;
        }
        Ok(wire::encode(&fields))
    }

    /// A kept function's capture is always kept; a dropped one is a planning bug
    /// reported as a bad reference rather than written.
    fn bound(&self, name: &str, old: u64) -> Result<u64, Tf2Error> {
        self.id(old).ok_or_else(|| Tf2Error::BadObjectReference {
            path: self.source.to_path_buf(),
            referrer: format!("concrete function {name:?}"),
            field: "bound input (dropped)",
            target: i64::from(wire::int32_of(old)),
            count: self.ids.len(),
        })
    }
}
