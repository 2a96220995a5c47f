//! `saved_model.pb` written from the message straight into its file, so a
//! frozen model's constants are not copied into one buffer of the whole
//! file first (which doubled the memory an export with `--freeze` needs).
//!
//! Protobuf lays a message out as its fields in tag order, each nested
//! message behind its length; prost encodes in that order, and
//! `encoded_len` gives every length without encoding. So the SavedModel,
//! each MetaGraphDef and each GraphDef are written as the fields before
//! the big one, the big one's key and length, the big one piece by piece,
//! then the fields after it: every node is encoded into one small reused
//! buffer, and a node holding a large constant is split once more so that
//! the constant's `tensor_content` goes to the file from its own bytes.
//! The bytes are those `encode_to_vec` gives (a test holds them to it).

use std::io::{self, Write};

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, GraphDef, MetaGraphDef, NodeDef, SavedModel, TensorProto};

/// A `tensor_content` at least this long is written from its own bytes
/// rather than through the node's buffer.
pub const STREAMED_CONTENT_BYTES: usize = 1 << 16;

/// Writes `message` as `encode_to_vec` would, to `out`, with no buffer
/// larger than one node (less its large constants); returns the bytes
/// written.
pub fn write_saved_model(message: &SavedModel, out: &mut impl Write) -> io::Result<u64> {
    let mut sink = Sink {
        out,
        buffer: Vec::new(),
        written: 0,
    };
    sink.message(&SavedModel {
        saved_model_schema_version: message.saved_model_schema_version,
        meta_graphs: Vec::new(),
    })?;
    for meta_graph in &message.meta_graphs {
        sink.header(2, meta_graph.encoded_len())?;
        sink.meta_graph(meta_graph)?;
    }
    Ok(sink.written)
}

/// The file being written and the buffer each small piece is encoded in.
struct Sink<'a, W: Write> {
    out: &'a mut W,
    buffer: Vec<u8>,
    written: u64,
}

impl<W: Write> Sink<'_, W> {
    fn bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// A whole (small) message's fields, without a key or length.
    fn message(&mut self, message: &impl Message) -> io::Result<()> {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        message.encode_raw(&mut buffer);
        let written = self.bytes(&buffer);
        self.buffer = buffer;
        written
    }

    /// The key and length that open a length-delimited field `tag` of `len` bytes.
    fn header(&mut self, tag: u32, len: usize) -> io::Result<()> {
        let mut head = Vec::with_capacity(16);
        encode_key(tag, WireType::LengthDelimited, &mut head);
        encode_varint(len as u64, &mut head);
        self.bytes(&head)
    }

    /// A MetaGraphDef: `meta_info_def` (1), the graph (2), the rest (3 to 7).
    fn meta_graph(&mut self, meta_graph: &MetaGraphDef) -> io::Result<()> {
        self.message(&MetaGraphDef {
            meta_info_def: meta_graph.meta_info_def.clone(),
            ..MetaGraphDef::default()
        })?;
        if let Some(graph) = &meta_graph.graph_def {
            self.header(2, graph.encoded_len())?;
            self.graph(graph)?;
        }
        self.message(&MetaGraphDef {
            meta_info_def: None,
            graph_def: None,
            saver_def: meta_graph.saver_def.clone(),
            collection_def: meta_graph.collection_def.clone(),
            signature_def: meta_graph.signature_def.clone(),
            asset_file_def: meta_graph.asset_file_def.clone(),
            object_graph_def: meta_graph.object_graph_def.clone(),
        })
    }

    /// A GraphDef: its nodes (1) one by one, then the rest (2 to 5).
    // The deprecated `version` is written as the graph has it.
    #[allow(deprecated)]
    fn graph(&mut self, graph: &GraphDef) -> io::Result<()> {
        for node in &graph.node {
            self.header(1, node.encoded_len())?;
            if has_large_constant(node) {
                self.node_in_pieces(node)?;
            } else {
                self.message(node)?;
            }
        }
        self.message(&GraphDef {
            node: Vec::new(),
            versions: graph.versions.clone(),
            version: graph.version,
            library: graph.library.clone(),
            debug_info: graph.debug_info.clone(),
        })
    }

    /// A node whose attrs (5) hold a large constant: the fields before
    /// them, each attr as a map entry, the fields after them.
    fn node_in_pieces(&mut self, node: &NodeDef) -> io::Result<()> {
        self.message(&NodeDef {
            name: node.name.clone(),
            op: node.op.clone(),
            input: node.input.clone(),
            device: node.device.clone(),
            ..NodeDef::default()
        })?;
        for (key, value) in &node.attr {
            match large_tensor(value) {
                Some(tensor) => self.tensor_attr(key, value, tensor)?,
                None => self.message(&NodeDef {
                    attr: [(key.clone(), value.clone())].into(),
                    ..NodeDef::default()
                })?,
            }
        }
        self.message(&NodeDef {
            experimental_debug_info: node.experimental_debug_info.clone(),
            experimental_type: node.experimental_type.clone(),
            ..NodeDef::default()
        })
    }

    /// One attr map entry (5): its key (1), then its AttrValue (2), whose
    /// only field is the tensor (8).
    fn tensor_attr(
        &mut self,
        key: &str,
        value: &AttrValue,
        tensor: &TensorProto,
    ) -> io::Result<()> {
        let key_len = prost::encoding::string::encoded_len(1, &key.to_string());
        let value_len = value.encoded_len();
        self.header(
            5,
            key_len + 1 + encoded_len_varint(value_len as u64) + value_len,
        )?;
        let mut head = Vec::with_capacity(key_len);
        prost::encoding::string::encode(1, &key.to_string(), &mut head);
        self.bytes(&head)?;
        self.header(2, value_len)?;
        self.header(8, tensor.encoded_len())?;
        self.tensor(tensor)
    }

    /// A TensorProto: dtype, shape and version (1 to 3), the content (4)
    /// from its own bytes, then the rest (5 to 18).
    fn tensor(&mut self, tensor: &TensorProto) -> io::Result<()> {
        self.message(&TensorProto {
            dtype: tensor.dtype,
            tensor_shape: tensor.tensor_shape.clone(),
            version_number: tensor.version_number,
            ..TensorProto::default()
        })?;
        self.header(4, tensor.tensor_content.len())?;
        self.bytes(&tensor.tensor_content)?;
        self.message(&TensorProto {
            dtype: 0,
            tensor_shape: None,
            version_number: 0,
            tensor_content: prost::bytes::Bytes::new(),
            ..tensor.clone()
        })
    }
}

/// The tensor of an attr whose content is large enough to stream.
fn large_tensor(value: &AttrValue) -> Option<&TensorProto> {
    match &value.value {
        Some(Value::Tensor(tensor)) if tensor.tensor_content.len() >= STREAMED_CONTENT_BYTES => {
            Some(tensor)
        }
        _ => None,
    }
}

fn has_large_constant(node: &NodeDef) -> bool {
    node.attr
        .values()
        .any(|value| large_tensor(value).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{TensorShapeProto, tensor_shape_proto::Dim};

    fn constant(name: &str, content: Vec<u8>, halves: Vec<i32>) -> NodeDef {
        let tensor = TensorProto {
            dtype: 1,
            tensor_shape: Some(TensorShapeProto {
                dim: vec![Dim {
                    size: content.len() as i64 / 4,
                    name: String::new(),
                }],
                unknown_rank: false,
            }),
            tensor_content: content.into(),
            half_val: halves,
            ..TensorProto::default()
        };
        let mut node = NodeDef {
            name: name.into(),
            op: "Const".into(),
            input: vec!["^init".into()],
            device: "/cpu:0".into(),
            ..NodeDef::default()
        };
        let dtype = AttrValue {
            value: Some(Value::Type(1)),
        };
        node.attr.insert("dtype".into(), dtype);
        node.attr.insert(
            "value".into(),
            AttrValue {
                value: Some(Value::Tensor(Box::new(tensor))),
            },
        );
        node.attr.insert(
            "zz_after".into(),
            AttrValue {
                value: Some(Value::S("x".into())),
            },
        );
        node
    }

    #[test]
    #[allow(deprecated)]
    fn the_streamed_file_is_the_encoded_message_byte_for_byte() {
        let big: Vec<u8> = (0..STREAMED_CONTENT_BYTES + 3).map(|i| i as u8).collect();
        let graph = GraphDef {
            node: vec![
                constant("small", vec![1, 2, 3, 4], vec![]),
                constant("big", big.clone(), vec![7]),
                constant("big_too", big, vec![]),
            ],
            version: 3,
            ..GraphDef::default()
        };
        assert!(has_large_constant(&graph.node[1]));
        let meta_graph = MetaGraphDef {
            graph_def: Some(graph),
            saver_def: Some(Default::default()),
            ..MetaGraphDef::default()
        };
        let message = SavedModel {
            saved_model_schema_version: 1,
            meta_graphs: vec![meta_graph.clone(), MetaGraphDef::default(), meta_graph],
        };
        let mut out = Vec::new();
        let written = write_saved_model(&message, &mut out).unwrap();
        assert_eq!(out, message.encode_to_vec());
        assert_eq!(written, out.len() as u64);
    }
}
