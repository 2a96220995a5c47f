//! The two facts retyping needs from the `SavedObjectGraph`, read and
//! patched at the protobuf wire level: servegraph keeps that graph's nodes
//! and concrete functions as opaque serialized messages, so a field-level
//! edit keeps every other byte as TensorFlow wrote it.
//!
//! Field numbers (TensorFlow's `saved_object_graph.proto`):
//! `SavedObject.variable` = 7, `SavedVariable.dtype` = 1,
//! `SavedConcreteFunction.bound_inputs` = 2 (repeated int32).

use std::collections::BTreeMap;

use crate::proto::{DataType, MetaGraphDef};
use crate::varint::{read_varint, write_varint};

use super::super::Tf2Error;

const SAVED_OBJECT_VARIABLE: u64 = 7;
const SAVED_VARIABLE_DTYPE: u64 = 1;
const CONCRETE_FUNCTION_BOUND_INPUTS: u64 = 2;

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LENGTH: u64 = 2;
const WIRE_FIXED32: u64 = 5;

/// One field of a message: its number, wire type, where the whole field
/// (tag included) lies, and where its payload lies.
#[derive(Debug, Clone, Copy)]
struct Field {
    number: u64,
    wire_type: u64,
    start: usize,
    payload: (usize, usize),
}

/// The top-level fields of `bytes`, or a description of where it is malformed.
fn fields(bytes: &[u8]) -> Result<Vec<Field>, String> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let rest = bytes.get(at..).unwrap_or_default();
        let (tag, used) = read_varint(rest).ok_or(format!("truncated tag at byte {at}"))?;
        at += used;
        let (number, wire_type) = (tag >> 3, tag & 7);
        let payload_start = at;
        let rest = bytes.get(at..).unwrap_or_default();
        let payload_len = match wire_type {
            WIRE_VARINT => {
                read_varint(rest)
                    .ok_or(format!("truncated varint at byte {at}"))?
                    .1
            }
            WIRE_FIXED64 => 8,
            WIRE_FIXED32 => 4,
            WIRE_LENGTH => {
                let (len, used) =
                    read_varint(rest).ok_or(format!("truncated length at byte {at}"))?;
                let len = usize::try_from(len).map_err(|_| format!("length {len} too large"))?;
                at += used;
                len
            }
            other => return Err(format!("wire type {other} at byte {start}")),
        };
        let payload = (at, at.saturating_add(payload_len));
        if payload.1 > bytes.len() {
            return Err(format!("field {number} at byte {start} runs past the end"));
        }
        at = payload.1;
        let payload = if wire_type == WIRE_VARINT {
            (payload_start, at)
        } else {
            payload
        };
        found.push(Field {
            number,
            wire_type,
            start,
            payload,
        });
    }
    Ok(found)
}

fn slice(bytes: &[u8], range: (usize, usize)) -> &[u8] {
    bytes.get(range.0..range.1).unwrap_or_default()
}

fn malformed(what: String, why: String) -> Tf2Error {
    Tf2Error::MalformedObjectGraph { what, why }
}

/// `{concrete function name: bound_inputs}` of the object graph: the
/// object ids whose handles `tf.saved_model.load` passes as the function's
/// last input arguments.
pub fn bound_inputs(meta_graph: &MetaGraphDef) -> Result<BTreeMap<String, Vec<i32>>, Tf2Error> {
    let mut bound = BTreeMap::new();
    let Some(graph) = meta_graph.object_graph_def.as_ref() else {
        return Ok(bound);
    };
    for (name, bytes) in &graph.concrete_functions {
        let what = format!("concrete function {name}");
        let mut ids = Vec::new();
        for field in fields(bytes).map_err(|why| malformed(what.clone(), why))? {
            if field.number != CONCRETE_FUNCTION_BOUND_INPUTS {
                continue;
            }
            let payload = slice(bytes, field.payload);
            match field.wire_type {
                WIRE_VARINT => ids.push(varint_i32(payload, &what)?),
                WIRE_LENGTH => {
                    let mut at = 0;
                    while at < payload.len() {
                        let rest = payload.get(at..).unwrap_or_default();
                        let (_, used) = read_varint(rest).ok_or_else(|| {
                            malformed(what.clone(), "truncated bound_inputs".into())
                        })?;
                        ids.push(varint_i32(rest.get(..used).unwrap_or_default(), &what)?);
                        at += used;
                    }
                }
                other => {
                    return Err(malformed(
                        what,
                        format!("bound_inputs has wire type {other}"),
                    ));
                }
            }
        }
        if !ids.is_empty() {
            bound.insert(name.clone(), ids);
        }
    }
    Ok(bound)
}

fn varint_i32(payload: &[u8], what: &str) -> Result<i32, Tf2Error> {
    let (value, _) = read_varint(payload)
        .ok_or_else(|| malformed(what.to_string(), "truncated varint".into()))?;
    // int32 fields are sign-extended to 64 bits on the wire.
    Ok(value as i64 as i32)
}

/// Sets the `SavedVariable.dtype` of object `object_id` to `dtype`; an
/// error when that object is not a variable.
pub fn set_variable_dtype(
    meta_graph: &mut MetaGraphDef,
    object_id: i32,
    dtype: DataType,
) -> Result<(), Tf2Error> {
    let what = format!("object {object_id}");
    let node = usize::try_from(object_id)
        .ok()
        .and_then(|id| meta_graph.object_graph_def.as_mut()?.nodes.get_mut(id))
        .ok_or_else(|| malformed(what.clone(), "no such node in the object graph".into()))?;
    let fields_of_node = fields(node).map_err(|why| malformed(what.clone(), why))?;
    let variable = fields_of_node
        .iter()
        .find(|f| f.number == SAVED_OBJECT_VARIABLE && f.wire_type == WIRE_LENGTH)
        .ok_or_else(|| malformed(what.clone(), "is not a variable".into()))?;
    let inner = slice(node, variable.payload);
    let patched_inner = with_varint_field(inner, SAVED_VARIABLE_DTYPE, dtype as u64)
        .map_err(|why| malformed(what.clone(), why))?;
    let mut patched = node.get(..variable.start).unwrap_or_default().to_vec();
    write_varint(&mut patched, (SAVED_OBJECT_VARIABLE << 3) | WIRE_LENGTH);
    write_varint(&mut patched, patched_inner.len() as u64);
    patched.extend_from_slice(&patched_inner);
    patched.extend_from_slice(node.get(variable.payload.1..).unwrap_or_default());
    *node = patched.into();
    Ok(())
}

/// `message` with its varint field `number` set to `value` (every
/// occurrence replaced; appended when absent).
fn with_varint_field(message: &[u8], number: u64, value: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(message.len() + 2);
    let mut written = false;
    for field in fields(message)? {
        let whole = slice(message, (field.start, field.payload.1));
        if field.number == number && field.wire_type == WIRE_VARINT {
            if !written {
                write_varint(&mut out, number << 3);
                write_varint(&mut out, value);
                written = true;
            }
        } else {
            out.extend_from_slice(whole);
        }
    }
    if !written {
        write_varint(&mut out, number << 3);
        write_varint(&mut out, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SavedObjectGraph;

    fn tagged(number: u64, wire_type: u64, out: &mut Vec<u8>) {
        write_varint(out, (number << 3) | wire_type);
    }

    fn length_field(number: u64, payload: &[u8], out: &mut Vec<u8>) {
        tagged(number, WIRE_LENGTH, out);
        write_varint(out, payload.len() as u64);
        out.extend_from_slice(payload);
    }

    /// A SavedObject with a child reference and a SavedVariable of DT_FLOAT
    /// named `w`.
    fn variable_object() -> Vec<u8> {
        let mut variable = Vec::new();
        tagged(SAVED_VARIABLE_DTYPE, WIRE_VARINT, &mut variable);
        write_varint(&mut variable, DataType::DtFloat as u64);
        length_field(6, b"w", &mut variable);
        let mut object = Vec::new();
        length_field(1, &[8, 3], &mut object);
        length_field(SAVED_OBJECT_VARIABLE, &variable, &mut object);
        object
    }

    fn meta_graph(nodes: Vec<Vec<u8>>, functions: Vec<(&str, Vec<u8>)>) -> MetaGraphDef {
        MetaGraphDef {
            object_graph_def: Some(SavedObjectGraph {
                nodes: nodes.into_iter().map(Into::into).collect(),
                concrete_functions: functions
                    .into_iter()
                    .map(|(n, b)| (n.to_string(), b.into()))
                    .collect(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn variable_dtype_is_patched_and_other_bytes_kept() {
        let mut graph = meta_graph(vec![Vec::new(), variable_object()], vec![]);
        set_variable_dtype(&mut graph, 1, DataType::DtHalf).unwrap();
        let node = &graph.object_graph_def.unwrap().nodes[1];
        let fields_of_node = fields(node).unwrap();
        assert_eq!(slice(node, fields_of_node[0].payload), &[8, 3]);
        let inner = slice(node, fields_of_node[1].payload);
        let inner_fields = fields(inner).unwrap();
        let dtype = read_varint(slice(inner, inner_fields[0].payload))
            .unwrap()
            .0;
        assert_eq!(dtype, DataType::DtHalf as u64);
        assert_eq!(slice(inner, inner_fields[1].payload), b"w");
    }

    #[test]
    fn a_non_variable_object_is_refused() {
        let mut graph = meta_graph(vec![Vec::new()], vec![]);
        let err = set_variable_dtype(&mut graph, 0, DataType::DtHalf).unwrap_err();
        assert!(err.to_string().contains("object 0"), "{err}");
        let err = set_variable_dtype(&mut graph, 5, DataType::DtHalf).unwrap_err();
        assert!(err.to_string().contains("no such node"), "{err}");
    }

    #[test]
    fn bound_inputs_read_packed_and_unpacked() {
        let mut packed = Vec::new();
        length_field(
            CONCRETE_FUNCTION_BOUND_INPUTS,
            &[19, 20, 130, 1],
            &mut packed,
        );
        let mut unpacked = Vec::new();
        for id in [4u64, 5] {
            tagged(CONCRETE_FUNCTION_BOUND_INPUTS, WIRE_VARINT, &mut unpacked);
            write_varint(&mut unpacked, id);
        }
        let graph = meta_graph(vec![], vec![("f", packed), ("g", unpacked), ("h", vec![])]);
        let bound = bound_inputs(&graph).unwrap();
        assert_eq!(bound["f"], vec![19, 20, 130]);
        assert_eq!(bound["g"], vec![4, 5]);
        assert!(!bound.contains_key("h"));
    }

    #[test]
    fn truncated_bytes_are_a_typed_error() {
        let graph = meta_graph(vec![], vec![("f", vec![0x12, 0x05, 1])]);
        let err = bound_inputs(&graph).unwrap_err();
        assert!(err.to_string().contains("concrete function f"), "{err}");
    }
}
