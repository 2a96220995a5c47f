//! Caps on what an input file can make servegraph allocate, count or walk.
//!
//! Every length, count or shape read from a file is checked against the
//! bytes actually present or against one of these caps before anything is
//! allocated from it, and every walk over graph structure is iterative or
//! stops at a depth cap. Each cap says why it has its value: far above what a
//! real training run writes, far below what would exhaust memory or stack.

/// Largest GraphDef, MetaGraphDef or SavedModel file read into memory:
/// protobuf's own limit on a message is 2 GiB, so no valid one is larger.
pub const MAX_PROTO_BYTES: u64 = 2 << 30;

/// Most bytes a single Snappy-compressed `.index` block may decompress to.
/// TensorFlow cuts table blocks at 256 KiB; a block only grows past that by
/// one oversized entry, and index entries are small protos. 64 MiB is 256
/// times a normal block.
pub const MAX_TABLE_BLOCK_BYTES: usize = 64 << 20;

/// Most output bytes one byte of Snappy input can produce, rounded up.
/// Snappy's densest element is a 3-byte copy of 64 bytes (a ratio of 21.3),
/// so a claimed length above 22 times the compressed size cannot be genuine.
pub const MAX_SNAPPY_RATIO: usize = 22;

/// Longest key a `.index` entry may have. Keys are tensor names (or slice
/// keys built from them); a name of 64 KiB is far beyond any real variable,
/// and prefix sharing makes long keys cheap to encode, so this is what stops
/// one block from describing a huge key.
pub const MAX_TABLE_KEY_BYTES: usize = 64 << 10;

/// The decoded `.index` (all keys plus all values) may be at most this many
/// times the size of the file. Prefix compression of real names saves well
/// under 10x; 10,000 entries sharing a 60 KB prefix would be 10,000x.
pub const MAX_TABLE_EXPANSION: u64 = 32;

/// The decoded `.index` may always be this large, whatever the file size,
/// so the expansion ratio never rejects a small legitimate checkpoint.
pub const MIN_TABLE_DECODED_BYTES: u64 = 16 << 20;

/// Most elements servegraph will decode in one tensor. 2^34 float32 values
/// are 64 GiB, beyond any single variable a machine trains.
pub const MAX_ELEMENTS: u64 = 1 << 34;

/// Most bytes a graph constant may occupy once materialised (its stated
/// element count times the element size), including constants whose short
/// value list TensorFlow repeats to fill the shape. A `tensor_content` cannot
/// exceed protobuf's 2 GiB message limit, so no genuine constant is larger.
pub const MAX_CONST_BYTES: u64 = 2 << 30;

/// Largest `saved_model.pb` a frozen export may write. TensorFlow Serving
/// and TensorFlow before 2.x read the file as one protobuf with a 1 GiB
/// (`2^30`-byte) cap and refuse anything larger.
pub const MAX_SERVING_PROTO_BYTES: u64 = 1 << 30;

/// Bytes counted per element of a materialised string constant (the size of
/// one string handle), so a repeated short string cannot fill the shape
/// with billions of elements under [`MAX_CONST_BYTES`].
pub const STRING_ELEMENT_BYTES: u64 = 32;

/// Most outputs one node may have according to its OpDef (`number_attr`
/// counts and `type_list_attr` lists). `Split`/`Unpack` of real models have
/// at most thousands; an output port is an `i32` in TensorFlow's graph.
pub const MAX_OUTPUTS_PER_NODE: usize = 1 << 20;

/// Deepest nesting of messages in a text-format document. prost refuses
/// binary input nested deeper than 100 messages; the text parser has no
/// limit of its own (a deep document overflowed the stack), so text is held
/// to the same depth before it is parsed.
pub const MAX_PROTO_NESTING: usize = 100;

/// Deepest a structural pattern match (dropout's random tensor, a variable
/// behind reads) looks back through the graph. The real patterns are at
/// most a few ops deep; past this the match gives up as a non-match.
pub const MAX_MATCH_DEPTH: usize = 64;

/// Most `Identity`-like ops followed back to the tensor really read.
/// Real graphs chain a handful; the cap keeps a hostile chain linear.
pub const MAX_IDENTITY_HOPS: usize = 1000;

/// Largest warm-up JSON file read. Warm-up wants a few representative
/// requests, not a data set; 64 MiB of JSON is thousands of image-sized
/// examples. The whole file is parsed before it is checked, and parsed JSON
/// takes a few times its text in memory (a 45 MB list of numbers peaked at
/// 213 MB), so this cap also bounds that.
pub const MAX_WARMUP_FILE_BYTES: u64 = 64 << 20;

/// Most instances a warm-up file may list. TensorFlow Serving refuses to
/// load a model whose warm-up file holds more than 1000 records, and the
/// instances become one batched record plus one record each.
pub const MAX_WARMUP_INSTANCES: usize = 999;

/// Most values (tensor elements) a warm-up file may give in all. Each
/// value is written twice (in the batch and alone), so 16 Mi values keep
/// the records well under a gigabyte even for float64.
pub const MAX_WARMUP_VALUES: u64 = 1 << 24;

/// Most lists and objects a warm-up file may hold in all. Each one parsed
/// costs about a hundred bytes however small it is, so a file of
/// `[[0],[0],...]` inside the byte and value limits would otherwise take
/// gigabytes; a million lists is far more than any warm-up example needs.
pub const MAX_WARMUP_LISTS: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use prost::Message;

    use crate::format::proto::attr_value::Value;
    use crate::format::proto::{AttrValue, NameAttrList};

    /// An attr value holding a func whose attr holds a func ... `depth` deep.
    fn nested_attr(depth: usize) -> AttrValue {
        let mut value = AttrValue::default();
        for _ in 0..depth {
            value = AttrValue {
                value: Some(Value::Func(NameAttrList {
                    name: "f".into(),
                    attr: [("a".to_string(), value)].into(),
                })),
            };
        }
        value
    }

    #[test]
    fn prost_s_decode_recursion_limit_is_on() {
        // Each level is three messages: AttrValue, NameAttrList, its map entry.
        let shallow = nested_attr(30).encode_to_vec();
        assert!(AttrValue::decode(shallow.as_slice()).is_ok());
        let deep = nested_attr(40).encode_to_vec();
        let err = AttrValue::decode(deep.as_slice()).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
