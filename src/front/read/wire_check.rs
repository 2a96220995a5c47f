//! Checks, without building anything, that bytes are a message of a given
//! type as prost's decode would accept it: framing, wire types of known
//! fields, UTF-8 strings, well-formed varints, packed arrays, nesting depth.
//! A narrowed read runs it over the nodes it does not decode, so a damaged
//! file is refused whichever node the damage is in. The check may refuse
//! more than prost (the caller then decodes in full, and prost judges); it
//! must not accept less.

use std::collections::HashMap;
use std::sync::OnceLock;

use prost_reflect::{Kind, MessageDescriptor};

use crate::format::wire::{FIXED32, FIXED64, LENGTH_DELIMITED, VARINT, read_varint, skip_value};

/// How deep messages may nest; prost's own limit is 100.
const MAX_DEPTH: usize = 90;

/// What a known field holds, as far as the check cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    String,
    Bytes,
    /// A nested message: its index in [`Schema::messages`].
    Message(usize),
    /// A scalar of this wire type; `packable` when repeated.
    Scalar {
        wire: u64,
        packable: bool,
    },
}

/// The fields of a message and of every message it holds, by field number,
/// taken once from the descriptors so that the check looks nothing up by name.
#[derive(Debug, Default)]
struct Schema {
    messages: Vec<Vec<Option<FieldKind>>>,
}

impl Schema {
    /// The schema rooted at `root` (index 0).
    fn of(root: &MessageDescriptor) -> Schema {
        let mut schema = Schema::default();
        let mut index: HashMap<String, usize> = HashMap::new();
        schema.add(root, &mut index);
        schema
    }

    fn add(&mut self, message: &MessageDescriptor, index: &mut HashMap<String, usize>) -> usize {
        if let Some(&i) = index.get(message.full_name()) {
            return i;
        }
        let i = self.messages.len();
        index.insert(message.full_name().to_string(), i);
        self.messages.push(Vec::new());
        for field in message.fields() {
            let kind = match field.kind() {
                Kind::String => FieldKind::String,
                Kind::Bytes => FieldKind::Bytes,
                Kind::Message(inner) => FieldKind::Message(self.add(&inner, index)),
                kind => FieldKind::Scalar {
                    wire: scalar_wire_type(&kind),
                    packable: field.is_list(),
                },
            };
            let number = field.number() as usize;
            if let Some(fields) = self.messages.get_mut(i) {
                if fields.len() <= number {
                    fields.resize(number + 1, None);
                }
                if let Some(slot) = fields.get_mut(number) {
                    *slot = Some(kind);
                }
            }
        }
        i
    }
}

/// The NodeDef schema, built on first use.
fn node_def_schema() -> Option<&'static Schema> {
    static SCHEMA: OnceLock<Option<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let node_def = crate::format::text::pool().get_message_by_name("tensorflow.NodeDef")?;
            Some(Schema::of(&node_def))
        })
        .as_ref()
}

/// NodeDef's `name`, `op` and `input`: strings the skim reads, and checks
/// are UTF-8, in every node.
const SKIMMED_NODE_DEF_FIELDS: &[u32] = &[1, 2, 3];

/// Whether `bytes` is a well-formed `tensorflow.NodeDef`: the whole check,
/// which the tests hold the skimmed one to.
#[cfg(test)]
fn is_well_formed_node_def(bytes: &[u8]) -> bool {
    node_def_schema().is_some_and(|schema| check(schema, 0, bytes, 0, &[]).is_some())
}

/// [`is_well_formed_node_def`] for a NodeDef the skim has read: its name,
/// op and inputs, already found to be UTF-8 strings, are not read again.
pub fn is_well_formed_skimmed_node_def(bytes: &[u8]) -> bool {
    node_def_schema()
        .is_some_and(|schema| check(schema, 0, bytes, 0, SKIMMED_NODE_DEF_FIELDS).is_some())
}

/// Checks `bytes` as message `message` of `schema`; the top-level
/// length-delimited fields numbered in `checked` are taken as already checked.
fn check(
    schema: &Schema,
    message: usize,
    bytes: &[u8],
    depth: usize,
    checked: &[u32],
) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let fields = schema.messages.get(message)?;
    let mut at = 0;
    while at < bytes.len() {
        let tag = read_varint(bytes, &mut at)?;
        let (number, wire) = (u32::try_from(tag >> 3).ok()?, tag & 7);
        if number == 0 {
            return None;
        }
        let payload = skip_value(bytes, &mut at, wire)?;
        if wire == LENGTH_DELIMITED && checked.contains(&number) {
            continue;
        }
        let Some(&Some(kind)) = fields.get(number as usize) else {
            continue;
        };
        let payload = bytes.get(payload)?;
        match (kind, wire) {
            (FieldKind::String, LENGTH_DELIMITED) => {
                std::str::from_utf8(payload).ok()?;
            }
            (FieldKind::Bytes, LENGTH_DELIMITED) => {}
            (FieldKind::Message(inner), LENGTH_DELIMITED) => {
                check(schema, inner, payload, depth + 1, &[])?
            }
            (FieldKind::Scalar { wire: scalar, .. }, wire) if wire == scalar => {}
            (
                FieldKind::Scalar {
                    wire,
                    packable: true,
                },
                LENGTH_DELIMITED,
            ) => packed(payload, wire)?,
            _ => return None,
        }
    }
    Some(())
}

/// The wire type of one value of a field of `kind`.
fn scalar_wire_type(kind: &Kind) -> u64 {
    match kind {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => FIXED64,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => FIXED32,
        Kind::String | Kind::Bytes | Kind::Message(_) => LENGTH_DELIMITED,
        _ => VARINT,
    }
}

/// A packed array of values of wire type `wire`.
fn packed(payload: &[u8], wire: u64) -> Option<()> {
    match wire {
        FIXED64 => payload.len().is_multiple_of(8).then_some(()),
        FIXED32 => payload.len().is_multiple_of(4).then_some(()),
        _ => {
            let mut at = 0;
            while at < payload.len() {
                read_varint(payload, &mut at)?;
            }
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::attr_value::{ListValue, Value};
    use crate::format::proto::{AttrValue, NodeDef, TensorProto};
    use prost::Message;

    fn sample() -> Vec<u8> {
        let mut node = NodeDef {
            name: "n".into(),
            op: "Const".into(),
            ..NodeDef::default()
        };
        let tensor = TensorProto {
            float_val: vec![1.0, 2.0],
            int64_val: vec![3, 300],
            ..TensorProto::default()
        };
        node.attr.insert(
            "value".into(),
            AttrValue {
                value: Some(Value::Tensor(tensor.into())),
            },
        );
        let list = ListValue {
            s: vec![b"loc:@x".to_vec().into()],
            ..ListValue::default()
        };
        node.attr.insert(
            "_class".into(),
            AttrValue {
                value: Some(Value::List(list.into())),
            },
        );
        node.encode_to_vec()
    }

    #[test]
    fn accepts_what_prost_accepts_and_refuses_what_it_refuses() {
        let bytes = sample();
        assert!(is_well_formed_node_def(&bytes));
        let mut refused = 0;
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                let prost_refuses = NodeDef::decode(flipped.as_slice()).is_err();
                if prost_refuses {
                    refused += 1;
                    assert!(
                        !is_well_formed_node_def(&flipped),
                        "prost refuses the flip of bit {bit} at {at}; so must the check"
                    );
                }
            }
        }
        assert!(refused > 10, "the flips exercise the check");
    }

    #[test]
    fn after_the_skim_judges_as_the_whole_check_does() {
        let mut node = NodeDef::decode(sample().as_slice()).unwrap();
        node.input = vec!["a".into(), "^b".into()];
        node.device = "/cpu:0".into();
        let bytes = node.encode_to_vec();
        assert!(is_well_formed_skimmed_node_def(&bytes));
        let mut skimmed = 0;
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                let graph = crate::format::proto::GraphDef::default().encode_to_vec();
                let mut framed = graph;
                prost::encoding::bytes::encode(1, &flipped, &mut framed);
                if crate::front::read::skim::skim_graph(&framed).is_err() {
                    continue;
                }
                skimmed += 1;
                assert_eq!(
                    is_well_formed_skimmed_node_def(&flipped),
                    is_well_formed_node_def(&flipped),
                    "the flip of bit {bit} at {at}"
                );
            }
        }
        assert!(skimmed > 10, "the flips exercise the check");
    }
}
