//! A look at a binary `saved_model.pb`'s wire bytes for graph nodes without
//! a name, before anything is decoded.
//!
//! An empty `node {}` is two bytes on the wire and a few hundred once
//! decoded, so a 10 MB file of them would make the decode allocate a
//! gigabyte only for the read to refuse the graph afterwards. TensorFlow
//! refuses a nameless node at load, so refusing it here loses nothing and
//! keeps the decode's memory in proportion to what a loadable file holds.

use crate::format::wire::Fields;

/// `SavedModel.meta_graphs`, `MetaGraphDef.graph_def`, `GraphDef.node`,
/// `NodeDef.name`.
const META_GRAPHS: u64 = 2;
const GRAPH_DEF: u64 = 2;
const NODE: u64 = 1;
const NAME: u64 = 1;

/// The index, counted across every MetaGraph's graph, of the first node
/// whose name is absent or empty; `None` when every node has one or the
/// bytes are malformed (the decode then says how).
pub fn first_nameless_node(saved_model: &[u8]) -> Option<usize> {
    let mut index = 0;
    for meta in Fields::new(saved_model, META_GRAPHS) {
        for graph in Fields::new(meta?, GRAPH_DEF) {
            for node in Fields::new(graph?, NODE) {
                if !has_name(node?)? {
                    return Some(index);
                }
                index += 1;
            }
        }
    }
    None
}

/// Whether the last `name` field of a NodeDef (the one protobuf keeps) is
/// non-empty; `None` when the bytes are malformed.
fn has_name(node: &[u8]) -> Option<bool> {
    let mut named = false;
    for name in Fields::new(node, NAME) {
        named = !name?.is_empty();
    }
    Some(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delimited(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(payload.len()).unwrap()];
        out.extend_from_slice(payload);
        out
    }

    fn saved_model(nodes: &[&[u8]]) -> Vec<u8> {
        let graph: Vec<u8> = nodes.iter().flat_map(|n| delimited(1, n)).collect();
        delimited(2, &delimited(2, &graph))
    }

    #[test]
    fn named_nodes_pass() {
        let a = delimited(1, b"a");
        let b = delimited(1, b"b");
        assert_eq!(first_nameless_node(&saved_model(&[&a, &b])), None);
    }

    #[test]
    fn an_empty_or_emptied_name_is_found_by_its_index() {
        let a = delimited(1, b"a");
        assert_eq!(first_nameless_node(&saved_model(&[&a, b""])), Some(1));
        let renamed_empty = [delimited(1, b"a"), delimited(1, b"")].concat();
        assert_eq!(
            first_nameless_node(&saved_model(&[&renamed_empty])),
            Some(0)
        );
    }

    #[test]
    fn malformed_bytes_are_left_to_the_decode() {
        assert_eq!(first_nameless_node(&[0x12, 0x05, 0x0a]), None);
    }
}
