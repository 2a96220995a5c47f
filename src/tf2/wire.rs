//! Edits serialized protobuf messages field by field, keeping every field
//! it does not touch byte for byte. The object graph's nodes are kept as
//! bytes so that a SavedModel read and written again loses nothing; its id
//! references (and, when retyping, a variable's dtype) are rewritten
//! through these fields rather than through a decoded message, which would
//! drop whatever fields our `.proto` files do not declare.

use prost::bytes::Buf;
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};

/// One field of a message, in wire form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub(crate) number: u32,
    pub(crate) value: Value,
}

/// A field's value as the wire carries it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(Vec<u8>),
}

/// Why bytes are not a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct WireError(String);

/// The fields of `bytes`, in order.
pub(crate) fn parse(mut bytes: &[u8]) -> Result<Vec<Field>, WireError> {
    let mut fields = Vec::new();
    while bytes.has_remaining() {
        let (number, wire_type) = decode_key(&mut bytes).map_err(|e| WireError(e.to_string()))?;
        let value = match wire_type {
            WireType::Varint => {
                Value::Varint(decode_varint(&mut bytes).map_err(|e| WireError(e.to_string()))?)
            }
            WireType::SixtyFourBit => {
                if bytes.remaining() < 8 {
                    return Err(WireError(format!("field {number}: truncated fixed64")));
                }
                Value::Fixed64(bytes.get_u64_le())
            }
            WireType::ThirtyTwoBit => {
                if bytes.remaining() < 4 {
                    return Err(WireError(format!("field {number}: truncated fixed32")));
                }
                Value::Fixed32(bytes.get_u32_le())
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut bytes).map_err(|e| WireError(e.to_string()))?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&len| len <= bytes.remaining())
                    .ok_or_else(|| WireError(format!("field {number}: length past the end")))?;
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                Value::Bytes(value.to_vec())
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err(WireError(format!(
                    "field {number}: groups are not supported"
                )));
            }
        };
        fields.push(Field { number, value });
    }
    Ok(fields)
}

/// `fields` serialized again.
pub(crate) fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        match &field.value {
            Value::Varint(v) => {
                encode_key(field.number, WireType::Varint, &mut out);
                encode_varint(*v, &mut out);
            }
            Value::Fixed64(v) => {
                encode_key(field.number, WireType::SixtyFourBit, &mut out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Fixed32(v) => {
                encode_key(field.number, WireType::ThirtyTwoBit, &mut out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Bytes(bytes) => {
                encode_key(field.number, WireType::LengthDelimited, &mut out);
                encode_varint(bytes.len() as u64, &mut out);
                out.extend_from_slice(bytes);
            }
        }
    }
    out
}

/// An int32 field's value as the wire carries it (negatives sign-extended).
pub(crate) fn int32_of(value: u64) -> i32 {
    value as i64 as i32
}

/// The wire form of an int32 value.
pub(crate) fn int32_wire(value: i32) -> u64 {
    i64::from(value) as u64
}

/// The varints packed in a length-delimited repeated scalar field.
pub(crate) fn unpack_varints(mut bytes: &[u8]) -> Result<Vec<u64>, WireError> {
    let mut values = Vec::new();
    while bytes.has_remaining() {
        values.push(decode_varint(&mut bytes).map_err(|e| WireError(e.to_string()))?);
    }
    Ok(values)
}

/// `values` packed as a repeated scalar field's bytes.
pub(crate) fn pack_varints(values: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for &value in values {
        encode_varint(value, &mut out);
    }
    out
}
