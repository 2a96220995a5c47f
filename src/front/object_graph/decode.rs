//! Reads the serialized `TrackableObjectGraph` out of a bundle and checks
//! it: one DT_STRING scalar of bounded size, every node reference in range.

use std::path::Path;

use prost::Message;

use super::{
    Attribute, Child, OBJECT_GRAPH_KEY, ObjectGraph, ObjectGraphError, RegisteredSaver,
    SlotVariable, TrackableObject,
};
use crate::format::bundle::BundleReader;
use crate::format::bundle::reader::TensorData;
use crate::format::limits::MAX_PROTO_BYTES;
use crate::format::proto::DataType;
use crate::format::proto::TrackableObjectGraph;
use crate::format::proto::trackable_object_graph::TrackableObject as ProtoObject;

impl ObjectGraph {
    /// The bundle's object graph; `None` for a name-based checkpoint (no
    /// [`OBJECT_GRAPH_KEY`]).
    pub fn read(reader: &BundleReader) -> Result<Option<ObjectGraph>, ObjectGraphError> {
        if !reader.contains(OBJECT_GRAPH_KEY) {
            return Ok(None);
        }
        let bytes = serialized_graph(reader)?;
        ObjectGraph::decode(&bytes, reader.index_path()).map(Some)
    }

    /// Decodes and checks serialized bytes; `path` names where they came
    /// from in errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<ObjectGraph, ObjectGraphError> {
        let proto = TrackableObjectGraph::decode(bytes).map_err(|e| ObjectGraphError::Decode {
            path: path.to_path_buf(),
            key: OBJECT_GRAPH_KEY.into(),
            detail: e.to_string(),
        })?;
        ObjectGraph::from_proto(proto, path)
    }

    /// Checks every reference of `proto` and converts it.
    pub fn from_proto(
        proto: TrackableObjectGraph,
        path: &Path,
    ) -> Result<ObjectGraph, ObjectGraphError> {
        if proto.nodes.is_empty() {
            return Err(ObjectGraphError::NoRoot {
                path: path.to_path_buf(),
                key: OBJECT_GRAPH_KEY.into(),
            });
        }
        let count = proto.nodes.len();
        let check = Checker { path, count };
        let objects = proto
            .nodes
            .into_iter()
            .enumerate()
            .map(|(index, node)| check.object(index, node))
            .collect::<Result<_, _>>()?;
        Ok(ObjectGraph { objects })
    }

    /// The graph as the proto TensorFlow stores.
    pub fn to_proto(&self) -> TrackableObjectGraph {
        TrackableObjectGraph {
            nodes: self.objects.iter().map(object_proto).collect(),
        }
    }
}

/// The one string the object graph key holds, its size checked before it is read.
fn serialized_graph(reader: &BundleReader) -> Result<Vec<u8>, ObjectGraphError> {
    let entry = reader.entry(OBJECT_GRAPH_KEY.as_bytes())?;
    let (dtype, shape) = reader.dtype_and_shape(OBJECT_GRAPH_KEY)?;
    let scalar = shape.is_empty() || shape == [1];
    if dtype != DataType::DtString || !scalar || !entry.slices.is_empty() {
        return Err(ObjectGraphError::NotAString {
            path: reader.index_path().to_path_buf(),
            key: OBJECT_GRAPH_KEY.into(),
            dtype: crate::typing::dtype_name(dtype as i32),
            shape,
        });
    }
    if entry.size > MAX_PROTO_BYTES as i64 {
        return Err(ObjectGraphError::TooLarge {
            path: reader.index_path().to_path_buf(),
            key: OBJECT_GRAPH_KEY.into(),
            bytes: entry.size.unsigned_abs(),
        });
    }
    match reader.read_tensor(OBJECT_GRAPH_KEY)? {
        TensorData::Strings(strings) => Ok(strings.into_iter().next().unwrap_or_default()),
        TensorData::Raw(_) => Err(ObjectGraphError::NotAString {
            path: reader.index_path().to_path_buf(),
            key: OBJECT_GRAPH_KEY.into(),
            dtype: crate::typing::dtype_name(dtype as i32),
            shape: Vec::new(),
        }),
    }
}

/// Converts objects, refusing a reference past the last object.
struct Checker<'a> {
    path: &'a Path,
    count: usize,
}

impl Checker<'_> {
    fn id(
        &self,
        object: usize,
        field: &'static str,
        target: i32,
    ) -> Result<usize, ObjectGraphError> {
        usize::try_from(target)
            .ok()
            .filter(|&id| id < self.count)
            .ok_or_else(|| ObjectGraphError::BadReference {
                path: self.path.to_path_buf(),
                key: OBJECT_GRAPH_KEY.into(),
                object,
                field,
                target: i64::from(target),
                count: self.count,
            })
    }

    fn object(&self, index: usize, node: ProtoObject) -> Result<TrackableObject, ObjectGraphError> {
        let children = node
            .children
            .into_iter()
            .map(|c| {
                Ok(Child {
                    object: self.id(index, "child", c.node_id)?,
                    local_name: c.local_name,
                })
            })
            .collect::<Result<_, ObjectGraphError>>()?;
        let slot_variables = node
            .slot_variables
            .into_iter()
            .map(|s| {
                Ok(SlotVariable {
                    original: self.id(
                        index,
                        "slot's original variable",
                        s.original_variable_node_id,
                    )?,
                    slot_name: s.slot_name,
                    slot: self.id(index, "slot variable", s.slot_variable_node_id)?,
                })
            })
            .collect::<Result<_, ObjectGraphError>>()?;
        Ok(TrackableObject {
            children,
            attributes: node.attributes.into_iter().map(attribute).collect(),
            slot_variables,
            registered_saver: node.registered_saver.map(|r| RegisteredSaver {
                name: r.name,
                object_name: r.object_name,
            }),
            has_checkpoint_values: node.has_checkpoint_values.map(|flag| flag.value),
        })
    }
}

fn attribute(
    tensor: crate::format::proto::trackable_object_graph::trackable_object::SerializedTensor,
) -> Attribute {
    Attribute {
        name: tensor.name,
        full_name: tensor.full_name,
        checkpoint_key: tensor.checkpoint_key,
    }
}

fn object_proto(object: &TrackableObject) -> ProtoObject {
    use crate::format::proto::trackable_object_graph::trackable_object::{
        ObjectReference, SerializedTensor, SlotVariableReference,
    };
    let id = |id: usize| i32::try_from(id).unwrap_or(i32::MAX);
    ProtoObject {
        children: object
            .children
            .iter()
            .map(|c| ObjectReference {
                node_id: id(c.object),
                local_name: c.local_name.clone(),
            })
            .collect(),
        attributes: object
            .attributes
            .iter()
            .map(|a| SerializedTensor {
                name: a.name.clone(),
                full_name: a.full_name.clone(),
                checkpoint_key: a.checkpoint_key.clone(),
            })
            .collect(),
        slot_variables: object
            .slot_variables
            .iter()
            .map(|s| SlotVariableReference {
                original_variable_node_id: id(s.original),
                slot_name: s.slot_name.clone(),
                slot_variable_node_id: id(s.slot),
            })
            .collect(),
        registered_saver: object.registered_saver.as_ref().map(|r| {
            crate::format::proto::RegisteredSaver {
                name: r.name.clone(),
                object_name: r.object_name.clone(),
            }
        }),
        has_checkpoint_values: object
            .has_checkpoint_values
            .map(|value| crate::format::proto::CheckpointValuesFlag { value }),
    }
}
