//! A first, cheap walk over a binary GraphDef (alone or inside a
//! MetaGraphDef): per node only its name, op and inputs, borrowed from the
//! file's bytes, and where its NodeDef lies — no attr is decoded. What serving
//! needs is then found on this skim (`read::needed`) and only those NodeDefs
//! are decoded, straight from their byte ranges.
//!
//! The skim is strict but not the judge: anything it does not like (a
//! malformed length, a group, a field of the wrong wire type, bytes that are
//! not UTF-8) makes it give up, and the caller decodes the whole file the
//! ordinary way, which reports the problem as it always has.

use std::ops::Range;

use crate::format::wire;

/// Field numbers, from TensorFlow's `meta_graph.proto`, `graph.proto` and
/// `node_def.proto`.
const META_GRAPH_DEF_GRAPH_DEF: u64 = 2;
const GRAPH_DEF_NODE: u64 = 1;
const NODE_DEF_NAME: u64 = 1;
const NODE_DEF_OP: u64 = 2;
const NODE_DEF_INPUT: u64 = 3;

/// Why the skim gave up; the full decode says what is wrong for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unskimmable;

/// One node as the skim sees it: 48 bytes, as a large graph has a hundred
/// thousand of them and the file's bytes are offsets below 2 GiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkimmedNode<'a> {
    pub name: &'a str,
    pub op: &'a str,
    /// Indices into [`SkimmedInputs`]: `first_input..end_input`.
    first_input: u32,
    end_input: u32,
    /// The NodeDef's bytes, as offsets into the buffer given to the skim.
    start: u32,
    end: u32,
}

impl SkimmedNode<'_> {
    /// The NodeDef's bytes, as offsets into the buffer given to the skim.
    pub fn bytes(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Every node's NodeDef input strings, borrowed from the file's bytes.
#[derive(Debug, Default)]
pub struct SkimmedInputs<'a> {
    inputs: Vec<&'a str>,
}

impl<'a> SkimmedInputs<'a> {
    /// The NodeDef input strings of `node`, in order.
    pub fn of(&self, node: &SkimmedNode<'a>) -> &[&'a str] {
        let range = node.first_input as usize..node.end_input as usize;
        self.inputs.get(range).unwrap_or_default()
    }
}

/// Every node of a GraphDef, and the GraphDef without its nodes.
#[derive(Debug, Default)]
pub struct SkimmedGraph<'a> {
    pub nodes: Vec<SkimmedNode<'a>>,
    inputs: SkimmedInputs<'a>,
    /// The GraphDef's other fields (versions, library, debug info), as wire
    /// bytes to decode with prost.
    pub rest: Vec<u8>,
}

impl<'a> SkimmedGraph<'a> {
    /// The input strings, taken out: once resolved to node indices they are
    /// not needed, and on a large graph they are megabytes.
    pub fn take_inputs(&mut self) -> SkimmedInputs<'a> {
        std::mem::take(&mut self.inputs)
    }
}

/// A MetaGraphDef split at its `graph_def`: the skimmed graph, and every
/// other field as wire bytes.
#[derive(Debug)]
pub struct SkimmedMetaGraph<'a> {
    pub graph: SkimmedGraph<'a>,
    pub rest: Vec<u8>,
}

/// Skims a serialized MetaGraphDef. One `graph_def` field at most: prost
/// would merge several, which the skim does not attempt.
pub fn skim_meta_graph(bytes: &[u8]) -> Result<SkimmedMetaGraph<'_>, Unskimmable> {
    let mut rest = Vec::new();
    let mut graph = None;
    let mut reader = Reader::new(bytes, 0);
    while !reader.is_done() {
        let field = reader.field()?;
        match (field.number, field.value) {
            (META_GRAPH_DEF_GRAPH_DEF, Value::Bytes(range)) if graph.is_none() => {
                let start = range.start;
                let slice = bytes.get(range).ok_or(Unskimmable)?;
                graph = Some(skim_graph_at(slice, start)?);
            }
            (META_GRAPH_DEF_GRAPH_DEF, _) => return Err(Unskimmable),
            _ => rest.extend_from_slice(bytes.get(field.raw).ok_or(Unskimmable)?),
        }
    }
    Ok(SkimmedMetaGraph {
        graph: graph.unwrap_or_default(),
        rest,
    })
}

/// Skims a serialized GraphDef.
pub fn skim_graph(bytes: &[u8]) -> Result<SkimmedGraph<'_>, Unskimmable> {
    skim_graph_at(bytes, 0)
}

/// From how many nodes a graph is skimmed in two halves, the second on
/// another thread (and its inputs resolved so, `read::needed`): reading
/// every node's name, op and inputs, then hashing every input's name, is
/// most of the time a large graph's skim takes.
pub(super) const PARALLEL_FROM: usize = 10_000;

/// Skims a GraphDef that starts at `offset` in the caller's buffer; node
/// ranges are given in the caller's offsets. The GraphDef's own fields are
/// walked first (cheap: a tag and a length per node), so the nodes are
/// counted before they are skimmed.
fn skim_graph_at(bytes: &[u8], offset: usize) -> Result<SkimmedGraph<'_>, Unskimmable> {
    let mut rest = Vec::new();
    let mut ranges = Vec::new();
    let mut reader = Reader::new(bytes, offset);
    while !reader.is_done() {
        let field = reader.field()?;
        match (field.number, field.value) {
            (GRAPH_DEF_NODE, Value::Bytes(range)) => ranges.push(range),
            (GRAPH_DEF_NODE, _) => return Err(Unskimmable),
            _ => {
                let raw = (field.raw.start - offset)..(field.raw.end - offset);
                rest.extend_from_slice(bytes.get(raw).ok_or(Unskimmable)?);
            }
        }
    }
    let skimmed = if ranges.len() < PARALLEL_FROM {
        skim_nodes(bytes, offset, &ranges)?
    } else {
        skim_in_halves(bytes, offset, &ranges)?
    };
    Ok(SkimmedGraph {
        nodes: skimmed.nodes,
        inputs: SkimmedInputs {
            inputs: skimmed.inputs,
        },
        rest,
    })
}

/// Skimmed nodes and the input strings their `first_input..end_input`
/// index.
#[derive(Default)]
struct Skimmed<'a> {
    nodes: Vec<SkimmedNode<'a>>,
    inputs: Vec<&'a str>,
}

/// The nodes at `ranges` (in the caller's offsets), skimmed in order.
fn skim_nodes<'a>(
    bytes: &'a [u8],
    offset: usize,
    ranges: &[Range<usize>],
) -> Result<Skimmed<'a>, Unskimmable> {
    let mut skimmed = Skimmed {
        nodes: Vec::with_capacity(ranges.len()),
        inputs: Vec::new(),
    };
    for range in ranges {
        skim_node(bytes, offset, range.clone(), &mut skimmed)?;
    }
    Ok(skimmed)
}

/// [`skim_nodes`] of the first half of `ranges` here and of the second on
/// another thread, joined: the second half's input indices move up by the
/// first half's inputs.
fn skim_in_halves<'a>(
    bytes: &'a [u8],
    offset: usize,
    ranges: &[Range<usize>],
) -> Result<Skimmed<'a>, Unskimmable> {
    let (first, second) = ranges.split_at(ranges.len() / 2);
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| skim_nodes(bytes, offset, second));
        let first = skim_nodes(bytes, offset, first);
        // A thread that panicked proves nothing: the caller decodes it all.
        (first, second.join().map_err(|_| Unskimmable))
    });
    let (mut joined, second) = (first?, second??);
    let shift = u32::try_from(joined.inputs.len()).map_err(|_| Unskimmable)?;
    joined.nodes.reserve_exact(second.nodes.len());
    for mut node in second.nodes {
        node.first_input = node.first_input.checked_add(shift).ok_or(Unskimmable)?;
        node.end_input = node.end_input.checked_add(shift).ok_or(Unskimmable)?;
        joined.nodes.push(node);
    }
    joined.inputs.extend(second.inputs);
    Ok(joined)
}

/// Reads one NodeDef's name, op and inputs. A repeated name or op keeps
/// the last one, as protobuf's merge does.
fn skim_node<'a>(
    bytes: &'a [u8],
    offset: usize,
    range: Range<usize>,
    skimmed: &mut Skimmed<'a>,
) -> Result<(), Unskimmable> {
    let node_bytes = bytes
        .get((range.start - offset)..(range.end - offset))
        .ok_or(Unskimmable)?;
    let offset = |at: usize| u32::try_from(at).map_err(|_| Unskimmable);
    let first_input = offset(skimmed.inputs.len())?;
    let (mut name, mut op) = ("", "");
    let mut reader = Reader::new(node_bytes, range.start);
    while !reader.is_done() {
        let field = reader.field()?;
        let number = field.number;
        if !matches!(number, NODE_DEF_NAME | NODE_DEF_OP | NODE_DEF_INPUT) {
            continue;
        }
        let Value::Bytes(text) = field.value else {
            return Err(Unskimmable);
        };
        let text = (text.start - range.start)..(text.end - range.start);
        let text = std::str::from_utf8(node_bytes.get(text).ok_or(Unskimmable)?)
            .map_err(|_| Unskimmable)?;
        match number {
            NODE_DEF_NAME => name = text,
            NODE_DEF_OP => op = text,
            _ => skimmed.inputs.push(text),
        }
    }
    skimmed.nodes.push(SkimmedNode {
        name,
        op,
        first_input,
        end_input: offset(skimmed.inputs.len())?,
        start: offset(range.start)?,
        end: offset(range.end)?,
    });
    Ok(())
}

/// A field's value: its payload's range for length-delimited fields.
#[derive(Debug)]
enum Value {
    Scalar,
    Bytes(Range<usize>),
}

#[derive(Debug)]
struct Field {
    number: u64,
    value: Value,
    /// The whole field, tag included.
    raw: Range<usize>,
}

/// Walks wire-format fields; positions are reported in the caller's offsets.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], offset: usize) -> Reader<'a> {
        Reader {
            bytes,
            at: 0,
            offset,
        }
    }

    fn is_done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn field(&mut self) -> Result<Field, Unskimmable> {
        let start = self.at;
        let tag = wire::read_varint(self.bytes, &mut self.at).ok_or(Unskimmable)?;
        let number = tag >> 3;
        if number == 0 {
            return Err(Unskimmable);
        }
        // Groups (deprecated) and invalid wire types are refused by the skip.
        let wire_type = tag & 7;
        let range = wire::skip_value(self.bytes, &mut self.at, wire_type).ok_or(Unskimmable)?;
        let value = match wire_type {
            wire::LENGTH_DELIMITED => {
                Value::Bytes((range.start + self.offset)..(range.end + self.offset))
            }
            _ => Value::Scalar,
        };
        Ok(Field {
            number,
            value,
            raw: (start + self.offset)..(self.at + self.offset),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{AttrValue, GraphDef, MetaGraphDef, NodeDef, SaverDef, VersionDef};
    use prost::Message;

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        let mut node = NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            device: "/cpu:0".into(),
            ..NodeDef::default()
        };
        node.attr.insert("T".into(), AttrValue::default());
        node
    }

    fn sample() -> GraphDef {
        GraphDef {
            node: vec![node("a", "Const", &[]), node("b", "Identity", &["a", "^a"])],
            versions: Some(VersionDef {
                producer: 1987,
                ..VersionDef::default()
            }),
            ..GraphDef::default()
        }
    }

    #[test]
    fn finds_names_ops_inputs_and_the_bytes_of_each_node() {
        let def = sample();
        let bytes = def.encode_to_vec();
        let mut skim = skim_graph(&bytes).unwrap();
        assert_eq!(skim.nodes.len(), 2);
        assert_eq!((skim.nodes[1].name, skim.nodes[1].op), ("b", "Identity"));
        let inputs = skim.take_inputs();
        assert_eq!(inputs.of(&skim.nodes[1]), ["a", "^a"]);
        assert!(skim.take_inputs().of(&skim.nodes[1]).is_empty());
        for (skimmed, original) in skim.nodes.iter().zip(&def.node) {
            let decoded = NodeDef::decode(&bytes[skimmed.bytes()]).unwrap();
            assert_eq!(&decoded, original);
        }
        let rest = GraphDef::decode(skim.rest.as_slice()).unwrap();
        assert_eq!(rest.versions, def.versions);
        assert!(rest.node.is_empty());
    }

    #[test]
    fn a_large_graph_skims_alike_in_halves() {
        let count = PARALLEL_FROM + 3;
        let names: Vec<String> = (0..count).map(|i| format!("n{i}")).collect();
        let mut nodes = vec![node(&names[0], "Const", &[])];
        for pair in names.windows(2) {
            nodes.push(node(&pair[1], "AddV2", &[&pair[0], &names[0], "^n0"]));
        }
        let def = GraphDef {
            node: nodes,
            ..sample()
        };
        let bytes = def.encode_to_vec();
        let mut halves = skim_graph(&bytes).unwrap();
        let inputs = halves.take_inputs();
        let mut reader = Reader::new(&bytes, 0);
        let mut ranges = Vec::new();
        while !reader.is_done() {
            if let Field {
                number: GRAPH_DEF_NODE,
                value: Value::Bytes(range),
                ..
            } = reader.field().unwrap()
            {
                ranges.push(range);
            }
        }
        let whole = skim_nodes(&bytes, 0, &ranges).unwrap();
        assert_eq!(halves.nodes, whole.nodes);
        for (node, original) in halves.nodes.iter().zip(&def.node) {
            assert_eq!(node.name, original.name);
            assert_eq!(inputs.of(node), original.input);
        }
        assert_eq!(
            GraphDef::decode(halves.rest.as_slice()).unwrap().versions,
            def.versions
        );
    }

    #[test]
    fn splits_a_meta_graph_at_its_graph_def() {
        let meta = MetaGraphDef {
            graph_def: Some(sample()),
            saver_def: Some(SaverDef {
                restore_op_name: "save/restore_all".into(),
                ..SaverDef::default()
            }),
            ..MetaGraphDef::default()
        };
        let bytes = meta.encode_to_vec();
        let skim = skim_meta_graph(&bytes).unwrap();
        let node = &skim.graph.nodes[0];
        assert_eq!(
            NodeDef::decode(&bytes[node.bytes()]).unwrap(),
            meta.graph_def.as_ref().unwrap().node[0]
        );
        let rest = MetaGraphDef::decode(skim.rest.as_slice()).unwrap();
        assert_eq!(rest.saver_def, meta.saver_def);
        assert!(rest.graph_def.is_none());
    }

    #[test]
    fn gives_up_on_what_the_full_decode_must_judge() {
        let bytes = sample().encode_to_vec();
        assert_eq!(
            skim_graph(&bytes[..bytes.len() - 3]).err(),
            Some(Unskimmable)
        );
        let mut not_utf8 = bytes.clone();
        let at = not_utf8.iter().position(|&b| b == b'C').unwrap();
        not_utf8[at] = 0xff;
        assert_eq!(skim_graph(&not_utf8).err(), Some(Unskimmable));
        // A group (wire type 3) as field 9.
        assert_eq!(skim_graph(&[(9 << 3) | 3]).err(), Some(Unskimmable));
    }
}
