//! Damaged input never panics: thousands of deterministic random mutations
//! (flipped bytes, truncations) of real fixture files, fed to every parser.
//! Each must return a value or a typed error. (A coverage-guided fuzzer needs
//! a nightly toolchain this project's machines do not have; this runs in CI.)

use crate::common;

use prost::Message;

/// xorshift64*: a tiny deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    match rng.below(3) {
        0 => bytes.truncate(rng.below(original.len())),
        _ => {
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
        }
    }
    bytes
}

#[test]
fn damaged_checkpoint_indexes_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(common::testdata(
        "fixtures/sharded_partitioned/model.ckpt-6.index",
    ))
    .unwrap();
    for shard in 0..3 {
        let name = format!("model.ckpt-6.data-0000{shard}-of-00003");
        std::fs::copy(
            common::testdata("fixtures/sharded_partitioned").join(&name),
            dir.path().join(&name),
        )
        .unwrap();
    }
    let prefix = dir.path().join("model.ckpt-6");
    let mut rng = Rng(0x5eed);
    let mut rejected = 0;
    for _ in 0..1500 {
        std::fs::write(
            servegraph::bundle::index_path(&prefix),
            mutate(&mut rng, &original),
        )
        .unwrap();
        match servegraph::bundle::BundleReader::open(&prefix) {
            Err(_) => rejected += 1,
            Ok(reader) => {
                for name in reader.names() {
                    let _ = reader.read_tensor(&name);
                }
            }
        }
    }
    assert!(
        rejected > 1000,
        "only {rejected} of 1500 damaged indexes were rejected"
    );
}

#[test]
fn damaged_data_shards_fail_their_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::testdata("fixtures/mlp_queue");
    for name in ["model.ckpt-12.index", "model.ckpt-12.data-00000-of-00001"] {
        std::fs::copy(fixture.join(name), dir.path().join(name)).unwrap();
    }
    let prefix = dir.path().join("model.ckpt-12");
    let data = dir.path().join("model.ckpt-12.data-00000-of-00001");
    let original = std::fs::read(&data).unwrap();
    let mut rng = Rng(42);
    for _ in 0..300 {
        let damaged = mutate(&mut rng, &original);
        std::fs::write(&data, &damaged).unwrap();
        // A truncated shard is caught at open (entries past its end); flipped
        // bytes when the tensors are read.
        let noticed = match servegraph::bundle::BundleReader::open(&prefix) {
            Err(servegraph::bundle::BundleError::PastEndOfShard { .. }) => true,
            Err(other) => panic!("unexpected error at open: {other}"),
            Ok(reader) => reader
                .names()
                .iter()
                .any(|n| reader.read_tensor(n).is_err()),
        };
        assert!(noticed, "damage went unnoticed");
    }
}

#[test]
fn damaged_graphs_and_text_are_errors_not_panics() {
    let meta = std::fs::read(common::testdata("fixtures/rnn_while/model.ckpt-6.meta")).unwrap();
    let text = {
        let decoded = servegraph::proto::MetaGraphDef::decode(meta.as_slice()).unwrap();
        servegraph::text::to_text("tensorflow.GraphDef", decoded.graph_def.as_ref().unwrap())
            .unwrap()
    };
    let mut rng = Rng(7);
    for _ in 0..400 {
        let damaged = mutate(&mut rng, &meta);
        let graph = servegraph::proto::MetaGraphDef::decode(damaged.as_slice())
            .ok()
            .and_then(|decoded| {
                servegraph::Graph::from_graph_def(decoded.graph_def.unwrap_or_default()).ok()
            });
        if let Some(graph) = graph {
            let _ = graph.validate();
            let _ = graph.to_graph_def();
        }
        let damaged_text = mutate(&mut rng, text.as_bytes());
        let damaged_text = String::from_utf8_lossy(&damaged_text);
        let _ = servegraph::text::parse_text::<servegraph::proto::GraphDef>(
            "tensorflow.GraphDef",
            &damaged_text,
        );
    }
}
