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

use crate::format::node_def_ref::NodeDefRef;
use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, GraphDef, MetaGraphDef, NodeDef, SavedModel, TensorProto};
use crate::ir::Graph;

/// A `tensor_content` at least this long is written from its own bytes
/// rather than through the node's buffer.
pub const STREAMED_CONTENT_BYTES: usize = 1 << 16;

/// The nodes of a graph to write, kept apart from its MetaGraphDef: the
/// model's own graph, borrowed (its NodeDefs are encoded one by one, never
/// all copied) and followed by `extra` (the saver's nodes); NodeDefs made
/// for the export; or a GraphDef's own nodes, borrowed.
#[derive(Debug)]
pub enum GraphNodes<'a> {
    Borrowed {
        graph: &'a Graph,
        extra: Vec<NodeDef>,
    },
    Owned(Vec<NodeDef>),
    Defs(&'a [NodeDef]),
}

impl GraphNodes<'_> {
    /// Calls `visit` with each node in order; returns the first error.
    fn try_for_each<E>(
        &self,
        mut visit: impl FnMut(NodeDefRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let extra = match self {
            GraphNodes::Borrowed { graph, extra } => {
                for id in graph.node_ids() {
                    let input = graph.node_inputs(id);
                    visit(graph.node_def_ref(id, &input))?;
                }
                extra
            }
            GraphNodes::Owned(nodes) => nodes.as_slice(),
            GraphNodes::Defs(nodes) => nodes,
        };
        extra
            .iter()
            .try_for_each(|node| visit(NodeDefRef::from(node)))
    }

    /// Each node's encoded length, in order.
    fn node_lens(&self) -> Vec<usize> {
        let mut lens = Vec::new();
        let Ok(()) = self.try_for_each(|node| {
            lens.push(node.encoded_len());
            Ok::<(), std::convert::Infallible>(())
        });
        lens
    }
}

/// A MetaGraphDef to write: `message`'s `graph_def` holds every field of
/// the graph but its nodes, which are `nodes`. Lengths are worked out once,
/// when it is made.
#[derive(Debug)]
pub struct PlannedMetaGraph<'a> {
    message: MetaGraphDef,
    nodes: GraphNodes<'a>,
    /// Each node's encoded length, in order: kept for the writer, as
    /// working one out costs nearly as much as encoding the node.
    node_lens: Vec<usize>,
    /// The graph's bytes with its nodes, when there is a graph.
    graph_len: Option<usize>,
    /// The MetaGraphDef's bytes with its nodes in the graph.
    len: usize,
}

impl<'a> PlannedMetaGraph<'a> {
    pub fn new(message: MetaGraphDef, nodes: GraphNodes<'a>) -> Self {
        let node_lens = nodes.node_lens();
        let nodes_len = node_lens.iter().map(|&len| field_len(1, len)).sum();
        let shell_len = message.graph_def.as_ref().map(|g| g.encoded_len());
        let graph_len = match shell_len {
            Some(shell) => Some(shell + nodes_len),
            None => (nodes_len > 0).then_some(nodes_len),
        };
        let rest = message.encoded_len() - shell_len.map_or(0, |len| field_len(2, len));
        let len = rest + graph_len.map_or(0, |len| field_len(2, len));
        PlannedMetaGraph {
            message,
            nodes,
            node_lens,
            graph_len,
            len,
        }
    }
}

/// A SavedModel to write: its meta graphs, each with its nodes apart.
#[derive(Debug)]
pub struct PlannedSavedModel<'a> {
    /// `saved_model_schema_version`: 1, the only version there is.
    pub schema_version: i64,
    pub meta_graphs: Vec<PlannedMetaGraph<'a>>,
}

impl Default for PlannedSavedModel<'_> {
    fn default() -> Self {
        PlannedSavedModel {
            schema_version: SCHEMA_VERSION,
            meta_graphs: Vec::new(),
        }
    }
}

impl PlannedSavedModel<'_> {
    /// What `saved_model.pb` will hold, in bytes.
    pub fn encoded_len(&self) -> usize {
        let version = SavedModel {
            saved_model_schema_version: self.schema_version,
            meta_graphs: Vec::new(),
        };
        version.encoded_len()
            + self
                .meta_graphs
                .iter()
                .map(|m| field_len(2, m.len))
                .sum::<usize>()
    }
}

/// The SavedModel format's version, the only one there is.
const SCHEMA_VERSION: i64 = 1;

/// A length-delimited field's bytes: its key, its length, `len` bytes.
fn field_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + encoded_len_varint(len as u64) + len
}

/// Writes `message` as `encode_to_vec` would, to `out`, with no buffer
/// larger than one node (less its large constants); returns the bytes
/// written.
pub fn write_saved_model(message: &SavedModel, out: &mut impl Write) -> io::Result<u64> {
    let meta_graphs = message.meta_graphs.iter().map(|meta_graph| {
        let graph = meta_graph.graph_def.as_ref();
        let shell = graph.map(graph_def_without_nodes);
        let nodes = GraphNodes::Defs(graph.map_or(&[], |g| g.node.as_slice()));
        let message = MetaGraphDef {
            meta_info_def: meta_graph.meta_info_def.clone(),
            graph_def: shell,
            saver_def: meta_graph.saver_def.clone(),
            collection_def: meta_graph.collection_def.clone(),
            signature_def: meta_graph.signature_def.clone(),
            asset_file_def: meta_graph.asset_file_def.clone(),
            object_graph_def: meta_graph.object_graph_def.clone(),
        };
        PlannedMetaGraph::new(message, nodes)
    });
    let planned = PlannedSavedModel {
        schema_version: message.saved_model_schema_version,
        meta_graphs: meta_graphs.collect(),
    };
    write_planned_saved_model(&planned, out)
}

/// A GraphDef's fields but its nodes.
#[allow(deprecated)]
fn graph_def_without_nodes(graph: &GraphDef) -> GraphDef {
    GraphDef {
        node: Vec::new(),
        versions: graph.versions.clone(),
        version: graph.version,
        library: graph.library.clone(),
        debug_info: graph.debug_info.clone(),
    }
}

/// Writes the SavedModel `planned` describes as `encode_to_vec` would
/// encode it whole, to `out`, with no buffer larger than one node (less its
/// large constants); returns the bytes written.
pub fn write_planned_saved_model(
    planned: &PlannedSavedModel<'_>,
    out: &mut impl Write,
) -> io::Result<u64> {
    let mut sink = Sink {
        out,
        buffer: Vec::new(),
        written: 0,
    };
    sink.message(&SavedModel {
        saved_model_schema_version: planned.schema_version,
        meta_graphs: Vec::new(),
    })?;
    for meta_graph in &planned.meta_graphs {
        sink.header(2, meta_graph.len)?;
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
        self.encoded(|buffer| message.encode_raw(buffer))
    }

    /// What `encode` puts in the reused buffer, written out.
    fn encoded(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        encode(&mut buffer);
        let written = self.bytes(&buffer);
        self.buffer = buffer;
        written
    }

    /// The key and length that open a length-delimited field `tag` of `len` bytes.
    /// Made on the stack: there is one per node.
    fn header(&mut self, tag: u32, len: usize) -> io::Result<()> {
        // A key takes at most 5 bytes, a length at most 10.
        let mut head = [0u8; 16];
        let mut free = &mut head[..];
        encode_key(tag, WireType::LengthDelimited, &mut free);
        encode_varint(len as u64, &mut free);
        let used = 16 - free.len();
        self.bytes(&head[..used])
    }

    /// A MetaGraphDef: `meta_info_def` (1), the graph (2), the rest (3 to 7).
    fn meta_graph(&mut self, planned: &PlannedMetaGraph<'_>) -> io::Result<()> {
        let meta_graph = &planned.message;
        self.message(&MetaGraphDef {
            meta_info_def: meta_graph.meta_info_def.clone(),
            ..MetaGraphDef::default()
        })?;
        if let Some(len) = planned.graph_len {
            self.header(2, len)?;
            let mut lens = planned.node_lens.iter().copied();
            planned.nodes.try_for_each(|node| {
                // Nodes come in the order they were measured in.
                let len = lens.next().unwrap_or_else(|| node.encoded_len());
                self.node(node, len)
            })?;
            if let Some(graph) = &meta_graph.graph_def {
                self.message(graph)?;
            }
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

    /// One GraphDef `node` field (1): in one piece, or in pieces around its
    /// large constants.
    fn node(&mut self, node: NodeDefRef<'_>, len: usize) -> io::Result<()> {
        self.header(1, len)?;
        if node
            .attr
            .entries()
            .any(|(_, value)| large_tensor(value).is_some())
        {
            return self.node_in_pieces(&node.to_owned());
        }
        self.encoded(|buffer| node.encode_raw(buffer))
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

    /// `message` planned with each graph's nodes apart, as NodeDefs.
    fn planned(message: &SavedModel) -> PlannedSavedModel<'static> {
        let meta_graphs = message.meta_graphs.iter().map(|meta_graph| {
            let mut meta_graph = meta_graph.clone();
            let nodes = meta_graph
                .graph_def
                .as_mut()
                .map(|graph| std::mem::take(&mut graph.node))
                .unwrap_or_default();
            PlannedMetaGraph::new(meta_graph, GraphNodes::Owned(nodes))
        });
        PlannedSavedModel {
            meta_graphs: meta_graphs.collect(),
            ..PlannedSavedModel::default()
        }
    }

    fn written(planned: &PlannedSavedModel<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        let written = write_planned_saved_model(planned, &mut out).unwrap();
        assert_eq!(written, out.len() as u64);
        assert_eq!(planned.encoded_len(), out.len());
        out
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
        assert!(large_tensor(&graph.node[1].attr["value"]).is_some());
        let meta_graph = MetaGraphDef {
            graph_def: Some(graph),
            saver_def: Some(Default::default()),
            ..MetaGraphDef::default()
        };
        let message = SavedModel {
            saved_model_schema_version: 1,
            meta_graphs: vec![meta_graph.clone(), MetaGraphDef::default(), meta_graph],
        };
        assert_eq!(written(&planned(&message)), message.encode_to_vec());
        let mut out = Vec::new();
        let written = write_saved_model(&message, &mut out).unwrap();
        assert_eq!(out, message.encode_to_vec());
        assert_eq!(written, out.len() as u64);
    }

    #[test]
    #[allow(deprecated)]
    fn a_borrowed_graph_is_written_as_its_graph_def() {
        let big: Vec<u8> = (0..STREAMED_CONTENT_BYTES + 4).map(|i| i as u8).collect();
        let init = NodeDef {
            name: "init".into(),
            op: "NoOp".into(),
            ..NodeDef::default()
        };
        let nodes = vec![
            init,
            constant("small", vec![1, 2, 3, 4], vec![]),
            constant("big", big, vec![7]),
        ];
        let source = GraphDef {
            node: nodes,
            version: 3,
            ..GraphDef::default()
        };
        let graph = Graph::from_graph_def(source.clone()).unwrap();
        let saver = constant("saver", vec![5; 8], vec![]);
        let mut whole = graph.to_graph_def();
        whole.node.push(saver.clone());
        let shell = GraphDef {
            node: Vec::new(),
            ..whole.clone()
        };
        let message = MetaGraphDef {
            graph_def: Some(shell),
            saver_def: Some(Default::default()),
            ..MetaGraphDef::default()
        };
        let nodes = GraphNodes::Borrowed {
            graph: &graph,
            extra: vec![saver],
        };
        let planned = PlannedSavedModel {
            meta_graphs: vec![PlannedMetaGraph::new(message.clone(), nodes)],
            ..PlannedSavedModel::default()
        };
        let expected = SavedModel {
            saved_model_schema_version: 1,
            meta_graphs: vec![MetaGraphDef {
                graph_def: Some(whole),
                ..message
            }],
        };
        assert_eq!(written(&planned), expected.encode_to_vec());
    }
}
