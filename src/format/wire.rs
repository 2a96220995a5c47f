//! Protobuf's wire format, below any message type: fields read in place
//! (varints, wire types, values skipped or located by byte range, as a
//! narrowed read and a damaged-file check need them) and messages edited
//! field by field, keeping every field an edit does not touch byte for byte
//! (the TF2 object graph's nodes are rewritten this way rather than through a
//! decoded message, which would drop whatever fields our `.proto` files do
//! not declare).
//!
//! Varints follow prost's rule: at most ten bytes, the tenth at most 1. The
//! TensorBundle table's varints ([`super::varint`]) follow TensorFlow's
//! table code instead.

use std::ops::Range;

use prost::bytes::Buf;
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};

/// Wire types, as a field's tag spells them in its low three bits.
pub const VARINT: u64 = 0;
pub const FIXED64: u64 = 1;
pub const LENGTH_DELIMITED: u64 = 2;
pub const FIXED32: u64 = 5;

/// The varint at `*at`, moving past it; `None` when the bytes end inside it
/// or it breaks prost's rule (more than ten bytes, a tenth byte above 1).
pub fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *bytes.get(*at)?;
        *at += 1;
        if i == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Moves `*at` past one value of wire type `wire`; returns where the value
/// lies (for a length-delimited one, its payload). Groups are refused.
pub fn skip_value(bytes: &[u8], at: &mut usize, wire: u64) -> Option<Range<usize>> {
    let len = match wire {
        VARINT => {
            let start = *at;
            read_varint(bytes, at)?;
            return Some(start..*at);
        }
        FIXED64 => 8,
        FIXED32 => 4,
        LENGTH_DELIMITED => usize::try_from(read_varint(bytes, at)?).ok()?,
        _ => return None,
    };
    let start = *at;
    let end = start.checked_add(len).filter(|&end| end <= bytes.len())?;
    *at = end;
    Some(start..end)
}

/// One field of a message, in wire form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub number: u32,
    pub value: Value,
}

/// A field's value as the wire carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(Vec<u8>),
}

/// Why bytes are not a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(String);

/// The fields of `bytes`, in order.
pub fn parse(mut bytes: &[u8]) -> Result<Vec<Field>, WireError> {
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

/// The payloads of every length-delimited field `number` of a message, in
/// order, without copying or collecting them (a wire-level look before or
/// instead of a decode); an item is `None` (and the last) where
/// the bytes stop being a well-formed message.
pub struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    number: u64,
}

impl<'a> Fields<'a> {
    pub fn new(bytes: &'a [u8], number: u64) -> Self {
        Fields {
            bytes,
            at: 0,
            number,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.at < self.bytes.len() {
            let parsed = read_varint(self.bytes, &mut self.at).and_then(|key| {
                let range = skip_value(self.bytes, &mut self.at, key & 7)?;
                Some((key >> 3 == self.number && key & 7 == LENGTH_DELIMITED).then_some(range))
            });
            match parsed {
                None => {
                    self.at = self.bytes.len();
                    return Some(None);
                }
                Some(Some(range)) => return Some(Some(&self.bytes[range])),
                Some(None) => {}
            }
        }
        None
    }
}

/// `fields` serialized again.
pub fn encode(fields: &[Field]) -> Vec<u8> {
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
pub fn int32_of(value: u64) -> i32 {
    value as i64 as i32
}

/// The wire form of an int32 value.
pub fn int32_wire(value: i32) -> u64 {
    i64::from(value) as u64
}

/// The varints packed in a length-delimited repeated scalar field.
pub fn unpack_varints(mut bytes: &[u8]) -> Result<Vec<u64>, WireError> {
    let mut values = Vec::new();
    while bytes.has_remaining() {
        values.push(decode_varint(&mut bytes).map_err(|e| WireError(e.to_string()))?);
    }
    Ok(values)
}

/// `values` packed as a repeated scalar field's bytes.
pub fn pack_varints(values: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for &value in values {
        encode_varint(value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_follow_prosts_rule() {
        let mut at = 0;
        assert_eq!(read_varint(&[0xac, 0x02, 0xff], &mut at), Some(300));
        assert_eq!(at, 2);
        let mut longest = [0xff; 10];
        longest[9] = 0x01;
        assert_eq!(read_varint(&longest, &mut 0), Some(u64::MAX));
        longest[9] = 0x02;
        assert_eq!(read_varint(&longest, &mut 0), None, "a tenth byte above 1");
        assert_eq!(read_varint(&[0x80; 11], &mut 0), None, "eleven bytes");
        assert_eq!(read_varint(&[0x80, 0x80], &mut 0), None, "truncated");
    }

    #[test]
    fn values_are_skipped_by_wire_type_and_located() {
        let bytes = [0x96, 0x01, 3, b'a', b'b', b'c', 1, 2, 3, 4];
        let mut at = 0;
        assert_eq!(skip_value(&bytes, &mut at, VARINT), Some(0..2));
        assert_eq!(skip_value(&bytes, &mut at, LENGTH_DELIMITED), Some(3..6));
        assert_eq!(skip_value(&bytes, &mut at, FIXED32), Some(6..10));
        assert_eq!(skip_value(&bytes, &mut 6, FIXED64), None, "past the end");
        assert_eq!(skip_value(&bytes, &mut 0, 3), None, "a group");
        assert_eq!(skip_value(&[5, b'a'], &mut 0, LENGTH_DELIMITED), None);
    }
}
