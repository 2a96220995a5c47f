//! The float `Const` values of a `saved_model.pb`, weighed by streaming
//! through the file instead of decoding it whole.
//!
//! A frozen model's `saved_model.pb` is mostly constant contents. Decoding
//! it would hold the whole file in memory just to learn each constant's
//! dtype, shape and byte count, so the walk reads the messages down to each
//! graph node and decodes a node with prost only when it is small; a big
//! node (a large constant) is walked field by field, its contents skipped
//! with a seek. Memory stays a few megabytes whatever the file holds.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use prost::Message;

use super::inventory::{Piece, float_constant};
use crate::format::proto::attr_value::Value;
use crate::format::proto::{DataType, NodeDef, TensorShapeProto};
use crate::format::wire::{FIXED32, FIXED64, Fields, LENGTH_DELIMITED, VARINT};

/// A node up to this size is read and decoded whole (exactly as prost would).
const DECODE_WHOLE: u64 = 1 << 20;
/// Most bytes read into memory for one field of a big node (a name, a shape).
const SMALL_FIELD: u64 = 1 << 20;

/// Why the walk stopped: the file could not be read or is not a SavedModel.
pub type WalkError = String;

/// The float constants of every MetaGraphDef's graph in the binary
/// `saved_model.pb` at `path`.
pub fn float_constants(path: &Path) -> Result<Vec<Piece>, WalkError> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut stream = Stream {
        reader: BufReader::with_capacity(64 << 10, file),
        at: 0,
    };
    let mut pieces = Vec::new();
    stream.each_field(len, |stream, field, wire, end| {
        // SavedModel.meta_graphs -> MetaGraphDef.graph_def -> GraphDef.node
        if (field, wire) != (2, LENGTH_DELIMITED) {
            return stream.skip_value(wire, end);
        }
        stream.each_field(end, |stream, field, wire, end| {
            if (field, wire) != (2, LENGTH_DELIMITED) {
                return stream.skip_value(wire, end);
            }
            stream.each_field(end, |stream, field, wire, end| {
                if (field, wire) != (1, LENGTH_DELIMITED) {
                    return stream.skip_value(wire, end);
                }
                pieces.extend(stream.node_constant(end)?);
                Ok(())
            })
        })
    })?;
    Ok(pieces)
}

/// A buffered file and the offset read up to.
struct Stream<R> {
    reader: BufReader<R>,
    at: u64,
}

impl<R: Read + Seek> Stream<R> {
    /// Calls `each(stream, field, wire type, end of the value)` for every
    /// field up to `end`, with the stream at the field's value; for a
    /// length-delimited field, after its length. `each` leaves the stream
    /// at the value's end (`skip_value` does).
    fn each_field(
        &mut self,
        end: u64,
        mut each: impl FnMut(&mut Self, u64, u64, u64) -> Result<(), WalkError>,
    ) -> Result<(), WalkError> {
        while self.at < end {
            let key = self.varint(end)?;
            let (field, wire) = (key >> 3, key & 7);
            let value_end = if wire == LENGTH_DELIMITED {
                let len = self.varint(end)?;
                self.at
                    .checked_add(len)
                    .filter(|&e| e <= end)
                    .ok_or_else(|| format!("a field's length {len} runs past its message"))?
            } else {
                end
            };
            each(self, field, wire, value_end)?;
        }
        if self.at == end {
            Ok(())
        } else {
            Err("a field runs past its message".into())
        }
    }

    /// Moves past a value of `wire` type whose payload (if length-delimited)
    /// ends at `end`.
    fn skip_value(&mut self, wire: u64, end: u64) -> Result<(), WalkError> {
        match wire {
            VARINT => self.varint(end).map(|_| ()),
            FIXED64 => self.skip(8, end),
            FIXED32 => self.skip(4, end),
            LENGTH_DELIMITED => self.skip(end - self.at, end),
            other => Err(format!("wire type {other} is not one protobuf writes")),
        }
    }

    fn skip(&mut self, n: u64, end: u64) -> Result<(), WalkError> {
        let to = self.at.checked_add(n).filter(|&to| to <= end);
        let to = to.ok_or("a value runs past its message")?;
        let by = i64::try_from(n).map_err(|e| e.to_string())?;
        self.reader.seek_relative(by).map_err(io_error)?;
        self.at = to;
        Ok(())
    }

    fn varint(&mut self, end: u64) -> Result<u64, WalkError> {
        let mut value = 0u64;
        for i in 0..10 {
            if self.at >= end {
                break;
            }
            let mut byte = [0u8];
            self.reader.read_exact(&mut byte).map_err(io_error)?;
            self.at += 1;
            value |= u64::from(byte[0] & 0x7f) << (7 * i);
            if byte[0] & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint is cut short or too long".into())
    }

    /// The `n` bytes at the stream, `n` being at most [`SMALL_FIELD`] or
    /// [`DECODE_WHOLE`] and inside the message: never an allocation of a
    /// size the file merely claims.
    fn bytes(&mut self, end: u64) -> Result<Vec<u8>, WalkError> {
        let n = end - self.at;
        let mut out = vec![0u8; usize::try_from(n).map_err(|e| e.to_string())?];
        self.reader.read_exact(&mut out).map_err(io_error)?;
        self.at = end;
        Ok(out)
    }

    /// The float constant a NodeDef ending at `end` holds, if it is one.
    fn node_constant(&mut self, end: u64) -> Result<Option<Piece>, WalkError> {
        if end - self.at <= DECODE_WHOLE {
            let bytes = self.bytes(end)?;
            if !may_be_const(&bytes) {
                return Ok(None);
            }
            let node = NodeDef::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
            return Ok(decoded_constant(&node));
        }
        let mut op = None;
        let mut tensor = None;
        self.each_field(end, |stream, field, wire, end| match (field, wire) {
            (2, LENGTH_DELIMITED) if end - stream.at <= SMALL_FIELD => {
                op = Some(stream.bytes(end)?);
                Ok(())
            }
            (5, LENGTH_DELIMITED) => {
                if let Some(found) = stream.attr_value_tensor(end)? {
                    tensor = Some(found);
                }
                Ok(())
            }
            _ => stream.skip_value(wire, end),
        })?;
        Ok(tensor.filter(|_| op.as_deref() == Some(b"Const")).flatten())
    }

    /// For an `attr` map entry keyed `value` holding a tensor: the tensor's
    /// float constant, or `Some(None)` when it is not a float one.
    fn attr_value_tensor(&mut self, end: u64) -> Result<Option<Option<Piece>>, WalkError> {
        let mut key = None;
        let mut tensor = None;
        self.each_field(end, |stream, field, wire, end| match (field, wire) {
            (1, LENGTH_DELIMITED) if end - stream.at <= SMALL_FIELD => {
                key = Some(stream.bytes(end)?);
                Ok(())
            }
            (2, LENGTH_DELIMITED) => stream.each_field(end, |stream, field, wire, end| {
                if (field, wire) == (8, LENGTH_DELIMITED) {
                    tensor = Some(stream.tensor_piece(end)?);
                    Ok(())
                } else {
                    stream.skip_value(wire, end)
                }
            }),
            _ => stream.skip_value(wire, end),
        })?;
        Ok(tensor.filter(|_| key.as_deref() == Some(b"value")))
    }

    /// A TensorProto's float constant, its contents skipped, not read.
    fn tensor_piece(&mut self, end: u64) -> Result<Option<Piece>, WalkError> {
        let mut dtype = 0i32;
        let mut shape: Option<TensorShapeProto> = None;
        let mut content = 0u64;
        let mut float_values = 0u64;
        let mut half_values = 0u64;
        self.each_field(end, |stream, field, wire, end| match (field, wire) {
            (1, VARINT) => {
                dtype = stream.varint(end)? as i32;
                Ok(())
            }
            (2, LENGTH_DELIMITED) if end - stream.at <= SMALL_FIELD => {
                let bytes = stream.bytes(end)?;
                let part = TensorShapeProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
                // A repeated message field merges, as prost merges it.
                let merged = shape.get_or_insert_with(TensorShapeProto::default);
                merged.dim.extend(part.dim);
                merged.unknown_rank |= part.unknown_rank;
                Ok(())
            }
            (4, LENGTH_DELIMITED) => {
                content = end - stream.at;
                stream.skip_value(wire, end)
            }
            (5, LENGTH_DELIMITED) => {
                float_values += (end - stream.at) / 4;
                stream.skip_value(wire, end)
            }
            (5, FIXED32) => {
                float_values += 1;
                stream.skip_value(wire, end)
            }
            (13, LENGTH_DELIMITED) => {
                half_values += stream.count_varints(end)?;
                Ok(())
            }
            (13, VARINT) => {
                half_values += 1;
                stream.skip_value(wire, end)
            }
            _ => stream.skip_value(wire, end),
        })?;
        let (dtype, values) = match DataType::try_from(dtype) {
            Ok(DataType::DtFloat) => (DataType::DtFloat, float_values * 4),
            Ok(DataType::DtHalf) => (DataType::DtHalf, half_values * 2),
            _ => return Ok(None),
        };
        Ok(shape.map(|shape| Piece {
            dtype,
            shape: shape.dim.iter().map(|d| d.size).collect(),
            bytes: if content == 0 { values } else { content },
        }))
    }

    /// How many varints a packed field holds, read in bounded chunks.
    fn count_varints(&mut self, end: u64) -> Result<u64, WalkError> {
        let mut count = 0;
        let mut chunk = vec![0u8; 64 << 10];
        while self.at < end {
            let n = usize::try_from((end - self.at).min(chunk.len() as u64)).unwrap_or(0);
            self.reader.read_exact(&mut chunk[..n]).map_err(io_error)?;
            self.at += n as u64;
            count += chunk[..n].iter().filter(|&&b| b & 0x80 == 0).count() as u64;
        }
        Ok(count)
    }
}

fn io_error(e: io::Error) -> WalkError {
    e.to_string()
}

/// Whether an encoded NodeDef's op (its last `op` field, as protobuf
/// keeps) is `Const`, or the bytes are malformed (for prost to report):
/// most nodes are not constants and need no decoding.
fn may_be_const(node: &[u8]) -> bool {
    let mut op: &[u8] = b"";
    for field in Fields::new(node, 2) {
        match field {
            Some(bytes) => op = bytes,
            None => return true,
        }
    }
    op == b"Const"
}

/// The float constant of a decoded node, if it is one.
fn decoded_constant(node: &NodeDef) -> Option<Piece> {
    if node.op != "Const" {
        return None;
    }
    match node.attr.get("value")?.value.as_ref()? {
        Value::Tensor(tensor) => float_constant(tensor),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::tensor_shape_proto::Dim;
    use crate::format::proto::{
        AttrValue, GraphDef, MetaGraphDef, SavedModel, TensorProto, attr_value,
    };

    fn shape(dims: &[i64]) -> TensorShapeProto {
        TensorShapeProto {
            dim: dims
                .iter()
                .map(|&size| Dim {
                    size,
                    ..Dim::default()
                })
                .collect(),
            ..TensorShapeProto::default()
        }
    }

    fn node(name: &str, op: &str, tensor: TensorProto) -> NodeDef {
        let value = AttrValue {
            value: Some(attr_value::Value::Tensor(Box::new(tensor))),
        };
        NodeDef {
            name: name.into(),
            op: op.into(),
            attr: [("value".to_string(), value)].into(),
            ..NodeDef::default()
        }
    }

    fn float_tensor(dims: &[i64], content_bytes: usize) -> TensorProto {
        TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(shape(dims)),
            tensor_content: vec![7u8; content_bytes].into(),
            ..TensorProto::default()
        }
    }

    /// Small and big constants of every kind the weigher tells apart, in two
    /// MetaGraphs.
    fn saved_model() -> SavedModel {
        let half = TensorProto {
            dtype: DataType::DtHalf as i32,
            tensor_shape: Some(shape(&[3])),
            half_val: vec![1, 300, 70_000],
            ..TensorProto::default()
        };
        let listed = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(shape(&[2])),
            float_val: vec![0.5, 1.5],
            ..TensorProto::default()
        };
        let ints = TensorProto {
            dtype: DataType::DtInt32 as i32,
            tensor_shape: Some(shape(&[2])),
            int_val: vec![1, 2],
            ..TensorProto::default()
        };
        let big = 3 << 20;
        let first = vec![
            node("small", "Const", float_tensor(&[2, 3], 24)),
            node("big", "Const", float_tensor(&[3, 1 << 18], big)),
            node(
                "big_not_const",
                "Placeholder",
                float_tensor(&[3, 1 << 18], big),
            ),
            node("small_not_const", "Placeholder", float_tensor(&[2], 8)),
            node("half", "Const", half),
            node("listed", "Const", listed),
            node("ints", "Const", ints),
        ];
        let second = vec![node("other", "Const", float_tensor(&[4], 16))];
        let meta = |nodes: Vec<NodeDef>| MetaGraphDef {
            graph_def: Some(GraphDef {
                node: nodes,
                ..GraphDef::default()
            }),
            ..MetaGraphDef::default()
        };
        SavedModel {
            meta_graphs: vec![meta(first), meta(second)],
            ..SavedModel::default()
        }
    }

    #[test]
    fn streamed_weights_equal_a_whole_decode() {
        let saved = saved_model();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("saved_model.pb");
        std::fs::write(&path, saved.encode_to_vec()).unwrap();
        let nodes = saved
            .meta_graphs
            .iter()
            .flat_map(|m| &m.graph_def.as_ref().unwrap().node);
        let expected: Vec<Piece> = nodes.filter_map(decoded_constant).collect();
        let streamed = float_constants(&path).unwrap();
        assert_eq!(streamed, expected);
        let names: Vec<u64> = streamed.iter().map(|p| p.bytes).collect();
        assert_eq!(names, [24, 3 << 20, 6, 8, 16]);
    }

    #[test]
    fn a_length_past_the_file_is_an_error_not_an_allocation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("saved_model.pb");
        // meta_graphs claiming 2^40 bytes in a 7-byte file.
        std::fs::write(&path, [0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]).unwrap();
        assert!(float_constants(&path).is_err());
    }
}
