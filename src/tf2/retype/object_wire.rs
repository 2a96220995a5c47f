//! The two facts retyping needs from the `SavedObjectGraph`, read and
//! patched at the protobuf wire level: servegraph keeps that graph's nodes
//! and concrete functions as opaque serialized messages, so a field-level
//! edit (through the crate's one wire editor, `tf2/wire.rs`) keeps every
//! other field as TensorFlow wrote it.
//!
//! Field numbers (TensorFlow's `saved_object_graph.proto`):
//! `SavedObject.variable` = 7, `SavedVariable.dtype` = 1,
//! `SavedConcreteFunction.bound_inputs` = 2 (repeated int32).

use std::collections::BTreeMap;

use crate::format::proto::{DataType, MetaGraphDef};

use super::super::Tf2Error;
use crate::format::wire::{self, Field, Value};

const SAVED_OBJECT_VARIABLE: u32 = 7;
const SAVED_VARIABLE_DTYPE: u32 = 1;
const CONCRETE_FUNCTION_BOUND_INPUTS: u32 = 2;

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
        let ids = bound_inputs_of(bytes)
            .map_err(|why| malformed(format!("concrete function {name}"), why))?;
        if !ids.is_empty() {
            bound.insert(name.clone(), ids);
        }
    }
    Ok(bound)
}

/// The `bound_inputs` of one serialized `SavedConcreteFunction`. A repeated
/// int32 may come packed (one length-delimited field) or one varint field
/// per id, or both mixed; a parser must accept every form.
fn bound_inputs_of(function: &[u8]) -> Result<Vec<i32>, String> {
    let mut ids = Vec::new();
    for field in wire::parse(function).map_err(|e| e.to_string())? {
        if field.number != CONCRETE_FUNCTION_BOUND_INPUTS {
            continue;
        }
        match field.value {
            Value::Varint(id) => ids.push(wire::int32_of(id)),
            Value::Bytes(packed) => {
                let packed =
                    wire::unpack_varints(&packed).map_err(|e| format!("bound_inputs: {e}"))?;
                ids.extend(packed.into_iter().map(wire::int32_of));
            }
            Value::Fixed64(_) | Value::Fixed32(_) => {
                return Err("bound_inputs is a fixed-width field, not an int32".into());
            }
        }
    }
    Ok(ids)
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
    let patched = with_variable_dtype(node, dtype).map_err(|why| malformed(what, why))?;
    *node = patched.into();
    Ok(())
}

/// `object`, a serialized `SavedObject`, with the dtype of its (first)
/// `variable` field set to `dtype`.
fn with_variable_dtype(object: &[u8], dtype: DataType) -> Result<Vec<u8>, String> {
    let mut fields = wire::parse(object).map_err(|e| e.to_string())?;
    let variable = fields
        .iter_mut()
        .filter(|field| field.number == SAVED_OBJECT_VARIABLE)
        .find_map(|field| match &mut field.value {
            Value::Bytes(variable) => Some(variable),
            _ => None,
        })
        .ok_or("is not a variable")?;
    *variable = with_varint_field(
        variable,
        SAVED_VARIABLE_DTYPE,
        wire::int32_wire(dtype as i32),
    )?;
    Ok(wire::encode(&fields))
}

/// `message` with its varint field `number` set to `value` (the first
/// occurrence replaced and later ones dropped; appended when absent).
fn with_varint_field(message: &[u8], number: u32, value: u64) -> Result<Vec<u8>, String> {
    let mut fields = Vec::new();
    let mut written = false;
    for field in wire::parse(message).map_err(|e| e.to_string())? {
        let is_target = field.number == number && matches!(field.value, Value::Varint(_));
        if !is_target {
            fields.push(field);
        } else if !written {
            fields.push(Field {
                number,
                value: Value::Varint(value),
            });
            written = true;
        }
    }
    if !written {
        fields.push(Field {
            number,
            value: Value::Varint(value),
        });
    }
    Ok(wire::encode(&fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::SavedObjectGraph;
    use crate::format::varint::write_varint;

    // Fixtures are written byte by byte, not through the editor under test.
    const WIRE_VARINT: u64 = 0;
    const WIRE_FIXED32: u64 = 5;
    const WIRE_LENGTH: u64 = 2;

    fn tagged(number: u32, wire_type: u64, out: &mut Vec<u8>) {
        write_varint(out, (u64::from(number) << 3) | wire_type);
    }

    fn length_field(number: u32, payload: &[u8], out: &mut Vec<u8>) {
        tagged(number, WIRE_LENGTH, out);
        write_varint(out, payload.len() as u64);
        out.extend_from_slice(payload);
    }

    fn varint_field(number: u32, value: u64, out: &mut Vec<u8>) {
        tagged(number, WIRE_VARINT, out);
        write_varint(out, value);
    }

    /// A SavedObject with a child reference and a SavedVariable of `dtype`
    /// named `w`.
    fn variable_object_of(dtype: DataType) -> Vec<u8> {
        let mut variable = Vec::new();
        varint_field(SAVED_VARIABLE_DTYPE, dtype as u64, &mut variable);
        length_field(6, b"w", &mut variable);
        let mut object = Vec::new();
        length_field(1, &[8, 3], &mut object);
        length_field(SAVED_OBJECT_VARIABLE, &variable, &mut object);
        object
    }

    fn variable_object() -> Vec<u8> {
        variable_object_of(DataType::DtFloat)
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

    fn node(graph: MetaGraphDef, id: usize) -> Vec<u8> {
        graph.object_graph_def.unwrap().nodes[id].to_vec()
    }

    #[test]
    fn variable_dtype_is_patched_and_other_bytes_kept() {
        let mut graph = meta_graph(vec![Vec::new(), variable_object()], vec![]);
        set_variable_dtype(&mut graph, 1, DataType::DtHalf).unwrap();
        assert_eq!(node(graph, 1), variable_object_of(DataType::DtHalf));
    }

    #[test]
    fn a_missing_dtype_is_added_and_repeated_ones_collapse() {
        let mut no_dtype = Vec::new();
        length_field(6, b"w", &mut no_dtype);
        let mut twice = Vec::new();
        varint_field(SAVED_VARIABLE_DTYPE, DataType::DtFloat as u64, &mut twice);
        length_field(6, b"w", &mut twice);
        varint_field(SAVED_VARIABLE_DTYPE, DataType::DtDouble as u64, &mut twice);
        let object = |variable: &[u8]| {
            let mut object = Vec::new();
            length_field(SAVED_OBJECT_VARIABLE, variable, &mut object);
            object
        };
        let mut graph = meta_graph(vec![object(&no_dtype), object(&twice)], vec![]);
        set_variable_dtype(&mut graph, 0, DataType::DtHalf).unwrap();
        set_variable_dtype(&mut graph, 1, DataType::DtHalf).unwrap();

        let mut added = no_dtype.clone();
        varint_field(SAVED_VARIABLE_DTYPE, DataType::DtHalf as u64, &mut added);
        let mut collapsed = Vec::new();
        varint_field(
            SAVED_VARIABLE_DTYPE,
            DataType::DtHalf as u64,
            &mut collapsed,
        );
        length_field(6, b"w", &mut collapsed);
        assert_eq!(node(graph.clone(), 0), object(&added));
        assert_eq!(node(graph, 1), object(&collapsed));
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
            varint_field(CONCRETE_FUNCTION_BOUND_INPUTS, id, &mut unpacked);
        }
        let mut mixed = unpacked.clone();
        mixed.extend_from_slice(&packed);
        let graph = meta_graph(
            vec![],
            vec![("f", packed), ("g", unpacked), ("h", vec![]), ("m", mixed)],
        );
        let bound = bound_inputs(&graph).unwrap();
        assert_eq!(bound["f"], vec![19, 20, 130]);
        assert_eq!(bound["g"], vec![4, 5]);
        assert_eq!(bound["m"], vec![4, 5, 19, 20, 130]);
        assert!(!bound.contains_key("h"));
    }

    #[test]
    fn truncated_bytes_are_a_typed_error() {
        let graph = meta_graph(vec![], vec![("f", vec![0x12, 0x05, 1])]);
        let err = bound_inputs(&graph).unwrap_err();
        assert!(err.to_string().contains("concrete function f"), "{err}");
    }

    #[test]
    fn fixed_width_bound_inputs_are_refused() {
        let mut function = Vec::new();
        tagged(CONCRETE_FUNCTION_BOUND_INPUTS, WIRE_FIXED32, &mut function);
        function.extend_from_slice(&7u32.to_le_bytes());
        let graph = meta_graph(vec![], vec![("f", function)]);
        let err = bound_inputs(&graph).unwrap_err();
        assert!(err.to_string().contains("concrete function f"), "{err}");
        assert!(err.to_string().contains("fixed-width"), "{err}");
    }
}
