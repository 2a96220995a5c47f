//! A NodeDef made of borrowed parts, encoded exactly as the owned
//! [`NodeDef`] would be: the writer encodes a graph's nodes one by one from
//! the IR without first copying every node's attrs into a GraphDef (for a
//! large graph that copy is as big as the graph itself).
//!
//! Protobuf lays a message out as its fields in tag order; prost skips an
//! empty string and an absent message and writes a map as one entry per
//! key. The functions below do the same for each field, and a test holds
//! the bytes to prost's.

use std::collections::BTreeMap;

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::format::attr_map::AttrMap;
use crate::format::proto::{AttrValue, FullTypeDef, NodeDef, node_def::ExperimentalDebugInfo};

/// NodeDef's field numbers, from TensorFlow's `node_def.proto`.
const NAME: u32 = 1;
const OP: u32 = 2;
const INPUT: u32 = 3;
const DEVICE: u32 = 4;
const ATTR: u32 = 5;
const DEBUG_INFO: u32 = 6;
const FULL_TYPE: u32 = 7;

/// A NodeDef's fields, borrowed (inputs are built by the caller: the IR
/// keeps them as edges).
#[derive(Debug, Clone, Copy)]
pub struct NodeDefRef<'a> {
    pub name: &'a str,
    pub op: &'a str,
    pub input: &'a [String],
    pub device: &'a str,
    pub attr: AttrsRef<'a>,
    pub debug_info: Option<&'a ExperimentalDebugInfo>,
    pub full_type: Option<&'a FullTypeDef>,
}

impl NodeDefRef<'_> {
    /// What `NodeDef::encoded_len` gives for the owned node.
    pub fn encoded_len(&self) -> usize {
        let strings = [(NAME, self.name), (OP, self.op)]
            .into_iter()
            .chain(self.input.iter().map(|i| (INPUT, i.as_str())))
            .chain([(DEVICE, self.device)]);
        let strings: usize = strings
            .map(|(tag, text)| string_len(tag, text, tag == INPUT))
            .sum();
        strings
            + self
                .attr
                .entries()
                .map(|(key, value)| {
                    let len = map_entry_len(key, value);
                    key_len(ATTR) + encoded_len_varint(len as u64) + len
                })
                .sum::<usize>()
            + self.debug_info.map_or(0, |m| message_len(DEBUG_INFO, m))
            + self.full_type.map_or(0, |m| message_len(FULL_TYPE, m))
    }

    /// Appends what `NodeDef::encode_raw` appends for the owned node.
    pub fn encode_raw(&self, buf: &mut Vec<u8>) {
        put_string(NAME, self.name, false, buf);
        put_string(OP, self.op, false, buf);
        for input in self.input {
            put_string(INPUT, input, true, buf);
        }
        put_string(DEVICE, self.device, false, buf);
        for (key, value) in self.attr.entries() {
            encode_key(ATTR, WireType::LengthDelimited, buf);
            encode_varint(map_entry_len(key, value) as u64, buf);
            put_string(MAP_KEY, key, false, buf);
            if *value != AttrValue::default() {
                prost::encoding::message::encode(MAP_VALUE, value, buf);
            }
        }
        if let Some(info) = self.debug_info {
            prost::encoding::message::encode(DEBUG_INFO, info, buf);
        }
        if let Some(full_type) = self.full_type {
            prost::encoding::message::encode(FULL_TYPE, full_type, buf);
        }
    }

    /// The owned NodeDef (its attrs copied; tensor contents are shared).
    pub fn to_owned(&self) -> NodeDef {
        NodeDef {
            name: self.name.to_string(),
            op: self.op.to_string(),
            input: self.input.to_vec(),
            device: self.device.to_string(),
            attr: self.attr.to_btree_map(),
            experimental_debug_info: self.debug_info.cloned(),
            experimental_type: self.full_type.cloned(),
        }
    }
}

impl<'a> From<&'a NodeDef> for NodeDefRef<'a> {
    fn from(node: &'a NodeDef) -> Self {
        NodeDefRef {
            name: &node.name,
            op: &node.op,
            input: &node.input,
            device: &node.device,
            attr: AttrsRef::Tree(&node.attr),
            debug_info: node.experimental_debug_info.as_ref(),
            full_type: node.experimental_type.as_ref(),
        }
    }
}

/// A NodeDef's attrs, borrowed from whichever map holds them: a NodeDef's
/// own or the IR's. Both iterate in name order, the order prost writes.
#[derive(Debug, Clone, Copy)]
pub enum AttrsRef<'a> {
    Tree(&'a BTreeMap<String, AttrValue>),
    Sorted(&'a AttrMap),
}

impl<'a> AttrsRef<'a> {
    /// The entries in name order.
    pub fn entries(self) -> impl Iterator<Item = (&'a String, &'a AttrValue)> {
        let (tree, sorted) = match self {
            AttrsRef::Tree(map) => (Some(map.iter()), None),
            AttrsRef::Sorted(map) => (None, Some(map.iter())),
        };
        tree.into_iter()
            .flatten()
            .chain(sorted.into_iter().flatten())
    }

    /// The attrs as a NodeDef holds them.
    pub fn to_btree_map(self) -> BTreeMap<String, AttrValue> {
        self.entries()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A map entry's field numbers: every protobuf map entry is a message
/// with the key as field 1 and the value as field 2.
const MAP_KEY: u32 = 1;
const MAP_VALUE: u32 = 2;

/// The bytes of one map entry's message, without its own key and length:
/// like prost, an empty key or a default value is left out.
fn map_entry_len(key: &str, value: &AttrValue) -> usize {
    let value_len = if *value == AttrValue::default() {
        0
    } else {
        message_len(MAP_VALUE, value)
    };
    string_len(MAP_KEY, key, false) + value_len
}

/// A string field's bytes: none for an empty singular string (proto3), a
/// key and length for each element of a repeated one, empty or not.
fn string_len(tag: u32, text: &str, repeated: bool) -> usize {
    if text.is_empty() && !repeated {
        return 0;
    }
    key_len(tag) + encoded_len_varint(text.len() as u64) + text.len()
}

fn put_string(tag: u32, text: &str, repeated: bool, buf: &mut Vec<u8>) {
    if text.is_empty() && !repeated {
        return;
    }
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(text.len() as u64, buf);
    buf.extend_from_slice(text.as_bytes());
}

fn message_len(tag: u32, message: &impl Message) -> usize {
    let len = message.encoded_len();
    key_len(tag) + encoded_len_varint(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::attr_value::Value;

    fn encoded(node: &NodeDefRef<'_>) -> Vec<u8> {
        let mut buf = Vec::new();
        node.encode_raw(&mut buf);
        assert_eq!(buf.len(), node.encoded_len());
        buf
    }

    #[test]
    fn bytes_are_prosts_for_every_field_set_or_empty() {
        let empty = NodeDef::default();
        assert_eq!(encoded(&NodeDefRef::from(&empty)), empty.encode_to_vec());

        let attr = |value| AttrValue { value: Some(value) };
        let full = NodeDef {
            name: "scope/node".into(),
            op: "Const".into(),
            input: vec!["a:1".into(), String::new(), "^b".into()],
            device: "/cpu:0".into(),
            attr: [
                ("dtype".to_string(), attr(Value::Type(1))),
                (String::new(), AttrValue::default()),
                ("s".to_string(), attr(Value::S(vec![0; 200].into()))),
            ]
            .into(),
            experimental_debug_info: Some(ExperimentalDebugInfo {
                original_node_names: vec!["x".into()],
                ..Default::default()
            }),
            experimental_type: Some(FullTypeDef::default()),
        };
        let bytes = encoded(&NodeDefRef::from(&full));
        assert_eq!(bytes, full.encode_to_vec());
        assert_eq!(NodeDefRef::from(&full).to_owned(), full);
    }
}
