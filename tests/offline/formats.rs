//! Our readers against what real TensorFlow wrote: every fixture's
//! checkpoint read by servegraph equals TensorFlow's own dump of it; every
//! fixture's MetaGraphDef decodes and re-encodes byte for byte (no field
//! dropped) and survives GraphDef → IR → GraphDef and text format unchanged.

use crate::common;

use base64::Engine as _;
use prost::Message;
use servegraph::bundle::BundleReader;
use servegraph::bundle::reader::TensorData;
use servegraph::ir::Graph;
use servegraph::proto::{DataType, GraphDef, MetaGraphDef};

fn prefix(name: &str) -> std::path::PathBuf {
    let json = common::fixture_json(name);
    common::testdata("fixtures")
        .join(name)
        .join(json["checkpoint_prefix"].as_str().unwrap())
}

/// Our decoded elements equal TensorFlow's dump: exactly, float32 compared as float32.
fn assert_same_elements(what: &str, dtype: DataType, raw: &[u8], want: &serde_json::Value) {
    let want = want.as_array().unwrap();
    let size = raw.len() / want.len().max(1);
    assert_eq!(raw.len(), want.len() * size, "{what}: element count");
    for (chunk, want) in raw.chunks(size.max(1)).zip(want) {
        match dtype {
            DataType::DtFloat => {
                let ours = f32::from_le_bytes(chunk.try_into().unwrap());
                assert_eq!(
                    ours.to_bits(),
                    (want.as_f64().unwrap() as f32).to_bits(),
                    "{what}"
                );
            }
            DataType::DtInt32 => assert_eq!(
                i64::from(i32::from_le_bytes(chunk.try_into().unwrap())),
                want.as_i64().unwrap(),
                "{what}"
            ),
            DataType::DtInt64 => assert_eq!(
                i64::from_le_bytes(chunk.try_into().unwrap()),
                want.as_i64().unwrap(),
                "{what}"
            ),
            other => panic!("{what}: fixture dtype {other:?} not covered by this test"),
        }
    }
}

#[test]
fn every_fixture_checkpoint_reads_as_tensorflow_dumped_it() {
    let mut checked = 0;
    for name in common::fixture_names() {
        let dump: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                common::testdata("fixtures")
                    .join(&name)
                    .join("variables.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let reader = BundleReader::open(prefix(&name)).unwrap();
        let dumped: Vec<&String> = dump.as_object().unwrap().keys().collect();
        assert_eq!(
            reader.names().iter().collect::<Vec<_>>(),
            dumped,
            "{name}: the same tensors"
        );
        for (key, want) in dump.as_object().unwrap() {
            let (dtype, shape) = reader.dtype_and_shape(key).unwrap();
            assert_eq!(
                serde_json::json!(shape),
                want["shape"],
                "{name}/{key} shape"
            );
            match reader.read_tensor(key).unwrap() {
                TensorData::Raw(raw) => {
                    assert_same_elements(&format!("{name}/{key}"), dtype, &raw, &want["values"])
                }
                TensorData::Strings(strings) => {
                    let b64: Vec<String> = strings
                        .iter()
                        .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
                        .collect();
                    assert_eq!(serde_json::json!(b64), want["values_b64"], "{name}/{key}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} tensors compared");
}

#[test]
fn sharded_fixture_really_has_several_shards_and_slices() {
    let reader = BundleReader::open(prefix("sharded_partitioned")).unwrap();
    assert!(reader.num_shards() > 1, "{} shards", reader.num_shards());
    let embedding = reader
        .entries()
        .into_iter()
        .find(|e| e.name == "embedding")
        .unwrap();
    assert_eq!(embedding.slices, 3);
}

fn meta_graphs() -> Vec<(String, Vec<u8>, MetaGraphDef)> {
    common::fixture_names()
        .into_iter()
        .map(|name| {
            let mut path = prefix(&name).into_os_string();
            path.push(".meta");
            let bytes = std::fs::read(&path).unwrap();
            let meta = MetaGraphDef::decode(bytes.as_slice()).unwrap();
            (name, bytes, meta)
        })
        .collect()
}

/// Whether `meta` has map entries TensorFlow wrote with a default key or
/// value (`arg_attr` / `resource_arg_unique_id` keyed `0` in function
/// libraries), which prost, as proto3 allows, leaves out when re-encoding.
fn has_default_map_entries(meta: &MetaGraphDef) -> bool {
    let functions = meta
        .graph_def
        .iter()
        .flat_map(|g| &g.library)
        .flat_map(|l| &l.function);
    functions.into_iter().any(|f| {
        f.arg_attr.iter().any(|(k, v)| *k == 0 || v.attr.is_empty())
            || f.resource_arg_unique_id
                .iter()
                .any(|(k, v)| *k == 0 || *v == 0)
    })
}

/// Paths of fields our `.proto` files do not declare, anywhere in `bytes`
/// decoded as a MetaGraphDef: the reflective decoder keeps them as unknown.
fn undeclared_fields(bytes: &[u8]) -> Vec<String> {
    use prost_reflect::{DescriptorPool, DynamicMessage, Value};
    let pool = DescriptorPool::decode(servegraph::proto::FILE_DESCRIPTOR_SET).unwrap();
    let descriptor = pool.get_message_by_name("tensorflow.MetaGraphDef").unwrap();
    let message = DynamicMessage::decode(descriptor, bytes).unwrap();
    let mut found = Vec::new();
    let mut pending: Vec<(String, DynamicMessage)> = vec![(String::new(), message)];
    while let Some((path, message)) = pending.pop() {
        for unknown in message.unknown_fields() {
            found.push(format!("{path}/#{}", unknown.number()));
        }
        for (field, value) in message.fields() {
            let here = format!("{path}/{}", field.name());
            let mut values = vec![value.clone()];
            while let Some(value) = values.pop() {
                match value {
                    Value::Message(m) => pending.push((here.clone(), m)),
                    Value::List(list) => values.extend(list),
                    Value::Map(map) => values.extend(map.into_values()),
                    _ => {}
                }
            }
        }
    }
    found
}

#[test]
fn an_undeclared_field_is_found() {
    let (_, mut bytes, _) = meta_graphs().remove(0);
    // Field 99 (varint 1), which MetaGraphDef does not declare.
    bytes.extend([0x98, 0x06, 0x01]);
    assert_eq!(undeclared_fields(&bytes), ["/#99"]);
}

#[test]
fn meta_graphs_reencode_without_losing_a_byte() {
    for (name, bytes, meta) in meta_graphs() {
        // Our .proto files declare every field TensorFlow wrote.
        assert_eq!(undeclared_fields(&bytes), Vec::<String>::new(), "{name}");
        let again = meta.encode_to_vec();
        assert_eq!(
            MetaGraphDef::decode(again.as_slice()).unwrap(),
            meta,
            "{name}"
        );
        if has_default_map_entries(&meta) {
            // Entry and message lengths shrink with the default keys left
            // out: the bytes are no longer a reordering.
            continue;
        }
        // Otherwise the bytes differ only in map entry order: TensorFlow
        // writes maps in hash order, we write them sorted (deterministic).
        assert_eq!(
            again.len(),
            bytes.len(),
            "{name}: re-encoding changed the size"
        );
        let mut sorted_a = bytes.clone();
        let mut sorted_b = again.clone();
        sorted_a.sort_unstable();
        sorted_b.sort_unstable();
        assert_eq!(sorted_a, sorted_b, "{name}: the same bytes, reordered");
    }
}

#[test]
fn graphs_round_trip_through_the_ir() {
    for (name, _, meta) in meta_graphs() {
        let graph_def = meta.graph_def.unwrap();
        let graph = Graph::from_graph_def(graph_def.clone()).unwrap();
        graph.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = graph.to_graph_def();
        assert_eq!(back, graph_def, "{name}");
        assert_eq!(back.encode_to_vec(), graph_def.encode_to_vec(), "{name}");
    }
}

#[test]
fn graphs_round_trip_through_text_format() {
    for (name, _, meta) in meta_graphs() {
        let text = servegraph::text::to_text("tensorflow.MetaGraphDef", &meta).unwrap();
        let back: MetaGraphDef =
            servegraph::text::parse_text("tensorflow.MetaGraphDef", &text).unwrap();
        assert_eq!(back, meta, "{name}");
        let graph_text =
            servegraph::text::to_text("tensorflow.GraphDef", meta.graph_def.as_ref().unwrap())
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("graph.pbtxt");
        std::fs::write(&file, graph_text).unwrap();
        let read: GraphDef = servegraph::read::read_graph_def(&file).unwrap();
        assert_eq!(&read, meta.graph_def.as_ref().unwrap(), "{name}");
    }
}

#[test]
fn typed_reads_agree_with_raw_reads() {
    let reader = BundleReader::open(prefix("resource_int64")).unwrap();
    let typed = reader.read_typed("dense/kernel").unwrap();
    assert_eq!(typed.shape, [6, 3]);
    let TensorData::Raw(raw) = reader.read_tensor("dense/kernel").unwrap() else {
        panic!()
    };
    assert_eq!(typed.to_le_bytes().unwrap(), raw);
    let round = servegraph::tensor::Tensor::from_proto(&typed.to_proto()).unwrap();
    assert_eq!(round, typed);
}
