//! Writes `testdata/bad/`: one folder per damaged input, each derived from a
//! real fixture under `testdata/fixtures/`, with a `case.json` saying how to
//! run the CLI on it and what its error message must name. `tests/offline/bad_inputs.rs`
//! runs every case; it also regenerates the corpus with this file and checks
//! that nothing changed, so the generator stays deterministic.
//!
//!     cargo run --example make_bad_corpus [OUT]
//!
//! `case.json` fields: `breaks` (what the case damages), `args` (CLI arguments,
//! paths relative to the case folder; `$OUT_DIR` is a fresh path in a temporary
//! directory), `expect` (texts the error message must all contain; `$OUT_DIR`
//! and `$OUT_PARENT` are expanded) and, for cases about the destination, a
//! `setup` the test performs before running (see tests/offline/bad_inputs.rs);
//! `max_peak_rss_mib`, when present, caps the refusal's peak memory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use prost::Message;
use serde::Serialize;
use servegraph::bundle::{crc, table};
use servegraph::proto::attr_value::Value;
use servegraph::proto::{
    AttrValue, BundleEntryProto, DataType, FunctionDef, GraphDef, MetaGraphDef, NodeDef,
    SavedConcreteFunction, SavedModel, SavedObject, TensorProto, saved_object,
};
use servegraph::typing::shape_proto;

const TINY_PREFIX: &str = "model.ckpt-5";
const TINY_META: &str = "model.ckpt-5.meta";
const TINY_INDEX: &str = "model.ckpt-5.index";
const TINY_DATA: &str = "model.ckpt-5.data-00000-of-00001";
const TINY_OUTPUT: &str = "logits=logits/BiasAdd:0";

fn main() -> Result<()> {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bad"));
    let count = generate(&root)?;
    println!("wrote {count} cases to {}", root.display());
    Ok(())
}

/// Replaces `root` with the whole corpus; returns the number of cases.
pub fn generate(root: &Path) -> Result<usize> {
    if root.exists() {
        std::fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    }
    let mut corpus = Corpus {
        root: root.to_path_buf(),
        listing: Vec::new(),
    };
    protobuf_cases(&mut corpus)?;
    bundle_cases(&mut corpus)?;
    hostile_table_cases(&mut corpus)?;
    graph_cases(&mut corpus)?;
    argument_cases(&mut corpus)?;
    location_cases(&mut corpus)?;
    keras_file_cases(&mut corpus)?;
    asset_cases(&mut corpus)?;
    out_dir_cases(&mut corpus)?;
    warmup_cases(&mut corpus)?;
    transform_cases(&mut corpus)?;
    tf2_cases(&mut corpus)?;
    corpus.write_readme()?;
    Ok(corpus.listing.len())
}

/// What `tests/offline/bad_inputs.rs` reads from `case.json`.
#[derive(Serialize)]
struct Spec {
    breaks: String,
    args: Vec<String>,
    expect: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    setup: Option<String>,
    /// The most memory (peak RSS, MiB) the refusal may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_peak_rss_mib: Option<u64>,
}

struct Corpus {
    root: PathBuf,
    /// Each case's name and what it breaks, for the README.
    listing: Vec<(String, String)>,
}

impl Corpus {
    fn case(&mut self, name: &str, breaks: &str) -> Result<Case> {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir)?;
        self.listing.push((name.to_string(), breaks.to_string()));
        Ok(Case {
            dir,
            breaks: breaks.to_string(),
            setup: None,
            max_peak_rss_mib: None,
        })
    }
}

impl Corpus {
    fn write_readme(&self) -> Result<()> {
        let mut text = String::from(
            "# Bad-input corpus\n\n\
             Written by `cargo run --example make_bad_corpus` (do not edit by hand); run by\n\
             `tests/offline/bad_inputs.rs`. Each folder holds a damaged copy of a fixture and a\n\
             `case.json`: the CLI arguments, the texts the error must contain and, for\n\
             destination cases, the setup the test performs.\n\n\
             | case | what it breaks |\n|---|---|\n",
        );
        for (name, breaks) in &self.listing {
            text += &format!("| `{name}` | {} |\n", breaks.replace('|', "\\|"));
        }
        std::fs::write(self.root.join("README.md"), text)?;
        Ok(())
    }
}

/// One case folder being filled.
struct Case {
    dir: PathBuf,
    breaks: String,
    setup: Option<String>,
    max_peak_rss_mib: Option<u64>,
}

impl Case {
    /// Copies a fixture's training files (not its test metadata) into `into`.
    fn fixture(self, name: &str, into: &str) -> Result<Case> {
        let from = fixtures().join(name);
        let target = self.dir.join(into);
        std::fs::create_dir_all(&target)?;
        let mut entries: Vec<_> = std::fs::read_dir(&from)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            let name = path.file_name().context("fixture file name")?;
            if name != "fixture.json" && name != "variables.json" {
                std::fs::copy(&path, target.join(name))?;
            }
        }
        Ok(self)
    }

    fn tiny(self) -> Result<Case> {
        self.fixture("tiny_mlp", ".")
    }

    fn setup(mut self, setup: &str) -> Case {
        self.setup = Some(setup.to_string());
        self
    }

    /// Caps the case's peak RSS at `mib`.
    fn peak(mut self, mib: u64) -> Case {
        self.max_peak_rss_mib = Some(mib);
        self
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn read(&self, relative: &str) -> Result<Vec<u8>> {
        std::fs::read(self.path(relative)).with_context(|| relative.to_string())
    }

    fn write(&self, relative: &str, bytes: impl AsRef<[u8]>) -> Result<()> {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes).with_context(|| relative.to_string())
    }

    fn remove(&self, relative: &str) -> Result<()> {
        std::fs::remove_file(self.path(relative)).with_context(|| relative.to_string())
    }

    fn symlink(&self, relative: &str, target: &str) -> Result<()> {
        std::os::unix::fs::symlink(target, self.path(relative))
            .with_context(|| relative.to_string())
    }

    /// Writes `case.json`.
    fn run(self, args: &[&str], expect: &[&str]) -> Result<()> {
        let spec = Spec {
            breaks: self.breaks,
            args: args.iter().map(|a| a.to_string()).collect(),
            expect: expect.iter().map(|e| e.to_string()).collect(),
            setup: self.setup,
            max_peak_rss_mib: self.max_peak_rss_mib,
        };
        let json = serde_json::to_string_pretty(&spec)? + "\n";
        std::fs::write(self.dir.join("case.json"), json)?;
        Ok(())
    }

    /// Runs `export` of the tiny_mlp checkpoint prefix with its usual output, plus `extra`.
    fn export_tiny(self, extra: &[&str], expect: &[&str]) -> Result<()> {
        let mut args = vec!["export", TINY_PREFIX, "$OUT_DIR", "--output", TINY_OUTPUT];
        args.extend_from_slice(extra);
        self.run(&args, expect)
    }

    fn edit_meta(
        &self,
        relative: &str,
        edit: impl FnOnce(&mut MetaGraphDef) -> Result<()>,
    ) -> Result<()> {
        let mut meta = MetaGraphDef::decode(self.read(relative)?.as_slice())?;
        edit(&mut meta)?;
        self.write(relative, meta.encode_to_vec())
    }

    fn edit_graph(&self, edit: impl FnOnce(&mut GraphDef) -> Result<()>) -> Result<()> {
        self.edit_meta(TINY_META, |meta| {
            edit(meta.graph_def.as_mut().context("the fixture has a graph")?)
        })
    }

    /// Rewrites one entry of a checkpoint index, keeping the table well formed.
    fn edit_entry(
        &self,
        index: &str,
        key: &str,
        edit: impl FnOnce(&mut BundleEntryProto),
    ) -> Result<()> {
        let path = self.path(index);
        let mut entries = table::read_table(&path, &self.read(index)?)?;
        let (_, value) = entries
            .iter_mut()
            .find(|(k, _)| k.as_slice() == key.as_bytes())
            .with_context(|| format!("{index} has no key {key}"))?;
        let mut entry = BundleEntryProto::decode(value.as_slice())?;
        edit(&mut entry);
        *value = entry.encode_to_vec();
        self.write(index, table::build_table(&entries, &path)?)
    }

    fn tiny_graph_pb(&self, name: &str) -> Result<GraphDef> {
        let meta = MetaGraphDef::decode(
            std::fs::read(fixtures().join("tiny_mlp").join(TINY_META))?.as_slice(),
        )?;
        let graph = meta.graph_def.context("the fixture has a graph")?;
        self.write(name, graph.encode_to_vec())?;
        Ok(graph)
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fixtures")
}

/// xorshift64*: a fixed sequence of positions, so regeneration is byte-identical.
struct Positions(u64);

impl Positions {
    fn next_below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1) as u64) as usize
    }
}

/// The first single-bit flip (in a fixed pseudo-random order) that `rejects` refuses.
fn flip_until_rejected(bytes: &[u8], rejects: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>> {
    let mut positions = Positions(0x5eed_bad0);
    for _ in 0..100_000 {
        let mut flipped = bytes.to_vec();
        let at = positions.next_below(bytes.len());
        flipped[at] ^= 1 << positions.next_below(8);
        if rejects(&flipped) {
            return Ok(flipped);
        }
    }
    bail!("no single-bit flip was rejected")
}

fn truncated(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len() / 2].to_vec()
}

fn protobuf_cases(corpus: &mut Corpus) -> Result<()> {
    let case = corpus
        .case("meta_truncated", "the .meta protobuf cut in half")?
        .tiny()?;
    case.write(TINY_META, truncated(&case.read(TINY_META)?))?;
    case.export_tiny(&[], &[TINY_META])?;

    let case = corpus
        .case(
            "meta_bit_flipped",
            "one flipped bit the protobuf decoder rejects in the .meta",
        )?
        .tiny()?;
    let flipped =
        flip_until_rejected(&case.read(TINY_META)?, |b| MetaGraphDef::decode(b).is_err())?;
    case.write(TINY_META, flipped)?;
    case.export_tiny(&[], &[TINY_META])?;

    let graph_args = |file: &str| -> Vec<String> {
        [
            "export",
            file,
            "$OUT_DIR",
            "--input",
            "x=IteratorGetNext:0",
            "--output",
            TINY_OUTPUT,
        ]
        .map(String::from)
        .to_vec()
    };
    let case = corpus.case("graphdef_pb_truncated", "a binary GraphDef cut in half")?;
    case.tiny_graph_pb("graph.pb")?;
    case.write("graph.pb", truncated(&case.read("graph.pb")?))?;
    case.run(&as_strs(&graph_args("graph.pb")), &["graph.pb"])?;

    let case = corpus.case(
        "graphdef_pb_bit_flipped",
        "one flipped bit the protobuf decoder rejects in a binary GraphDef",
    )?;
    case.tiny_graph_pb("graph.pb")?;
    let flipped = flip_until_rejected(&case.read("graph.pb")?, |b| GraphDef::decode(b).is_err())?;
    case.write("graph.pb", flipped)?;
    case.run(&as_strs(&graph_args("graph.pb")), &["graph.pb"])?;

    let case = corpus.case("graphdef_pbtxt_truncated", "a text GraphDef cut in half")?;
    let text = graph_text(&case.tiny_graph_pb("graph.pb")?)?;
    case.remove("graph.pb")?;
    case.write("graph.pbtxt", truncated(text.as_bytes()))?;
    case.run(&as_strs(&graph_args("graph.pbtxt")), &["graph.pbtxt"])?;

    let case = corpus.case(
        "graphdef_pbtxt_bit_flipped",
        "one flipped bit the text parser rejects in a text GraphDef",
    )?;
    let text = graph_text(&case.tiny_graph_pb("graph.pb")?)?;
    case.remove("graph.pb")?;
    let flipped = flip_until_rejected(text.as_bytes(), |b| {
        std::str::from_utf8(b).is_ok_and(|t| {
            servegraph::text::parse_text::<GraphDef>("tensorflow.GraphDef", t).is_err()
        })
    })?;
    case.write("graph.pbtxt", flipped)?;
    case.run(&as_strs(&graph_args("graph.pbtxt")), &["graph.pbtxt"])
}

/// The nodes and versions of `graph` as text format, attrs in key order.
/// (`text::to_text` prints map entries in hash order, which differs run to run.)
fn graph_text(graph: &GraphDef) -> Result<String> {
    let mut out = String::new();
    for node in &graph.node {
        let bare = NodeDef {
            attr: Default::default(),
            ..node.clone()
        };
        out += "node {\n";
        out += &indented(&servegraph::text::to_text("tensorflow.NodeDef", &bare)?, 2);
        for (key, value) in &node.attr {
            out += &format!("  attr {{\n    key: {key:?}\n    value {{\n");
            out += &indented(
                &servegraph::text::to_text("tensorflow.AttrValue", value)?,
                6,
            );
            out += "    }\n  }\n";
        }
        out += "}\n";
    }
    if let Some(versions) = &graph.versions {
        out += "versions {\n";
        out += &indented(
            &servegraph::text::to_text("tensorflow.VersionDef", versions)?,
            2,
        );
        out += "}\n";
    }
    let again: GraphDef = servegraph::text::parse_text("tensorflow.GraphDef", &out)?;
    if again.node != graph.node || again.versions != graph.versions {
        bail!("the text graph does not read back as the graph it was printed from");
    }
    Ok(out)
}

fn indented(text: &str, by: usize) -> String {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| format!("{:by$}{line}\n", ""))
        .collect()
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Offset of the footer: the last 48 bytes of a table.
fn footer_at(index: &[u8]) -> usize {
    index.len() - 48
}

fn bundle_cases(corpus: &mut Corpus) -> Result<()> {
    let case = corpus
        .case("index_truncated", "the checkpoint .index cut in half")?
        .tiny()?;
    case.write(TINY_INDEX, truncated(&case.read(TINY_INDEX)?))?;
    case.export_tiny(&[], &[TINY_INDEX])?;

    let case = corpus
        .case(
            "index_bit_flipped_footer",
            "a flipped bit in the index block handle of the .index footer",
        )?
        .tiny()?;
    let mut index = case.read(TINY_INDEX)?;
    let at = footer_at(&index) + 3;
    index[at] ^= 0x40;
    case.write(TINY_INDEX, index)?;
    case.export_tiny(&[], &[TINY_INDEX])?;

    let case = corpus
        .case(
            "index_bad_block_crc",
            "a data block of the .index whose bytes no longer match its CRC",
        )?
        .tiny()?;
    let mut index = case.read(TINY_INDEX)?;
    index[3] ^= 0x10;
    case.write(TINY_INDEX, index)?;
    case.export_tiny(&[], &[TINY_INDEX, "checksum"])?;

    let case = corpus
        .case("index_bad_footer_magic", "the .index footer's magic number")?
        .tiny()?;
    let mut index = case.read(TINY_INDEX)?;
    let last = index.len() - 1;
    index[last] ^= 0xff;
    case.write(TINY_INDEX, index)?;
    case.export_tiny(&[], &[TINY_INDEX, "magic"])?;

    let case = corpus
        .case("data_truncated", "the data shard cut in half")?
        .tiny()?;
    case.write(TINY_DATA, truncated(&case.read(TINY_DATA)?))?;
    case.export_tiny(&[], &[TINY_DATA])?;

    let case = corpus
        .case(
            "data_bit_flipped",
            "a flipped bit in a kept tensor's bytes (its CRC fails)",
        )?
        .tiny()?;
    let mut data = case.read(TINY_DATA)?;
    let last = data.len() - 1;
    data[last] ^= 0x01;
    case.write(TINY_DATA, data)?;
    case.export_tiny(&[], &[TINY_DATA, "checksum"])?;

    let case = corpus
        .case(
            "index_bad_tensor_crc",
            "the stored CRC of a kept tensor in the .index",
        )?
        .tiny()?;
    case.edit_entry(TINY_INDEX, "hidden/kernel", |e| e.crc32c ^= 0x0100)?;
    case.export_tiny(&[], &["hidden/kernel", "checksum"])?;

    let case = corpus
        .case(
            "data_missing_shard",
            "the second of three data shards is gone",
        )?
        .fixture("sharded_partitioned", ".")?;
    case.remove("model.ckpt-6.data-00001-of-00003")?;
    case.run(
        &[
            "export",
            "model.ckpt-6",
            "$OUT_DIR",
            "--input",
            "ids=IteratorGetNext:0",
            "--output",
            "logits=logits:0",
        ],
        &["model.ckpt-6.data-00001-of-00003"],
    )?;

    let case = corpus
        .case(
            "index_offset_past_end_of_shard",
            "an index entry whose offset lies beyond the shard's end",
        )?
        .tiny()?;
    case.edit_entry(TINY_INDEX, "hidden/kernel", |e| e.offset = 1 << 40)?;
    case.export_tiny(&[], &["hidden/kernel"])?;

    let case = corpus
        .case(
            "index_petabyte_shape",
            "an index entry of shape [2^25, 2^25] float32 (4 PiB)",
        )?
        .tiny()?;
    case.edit_entry(TINY_INDEX, "hidden/kernel", |e| {
        e.shape = Some(shape_proto(&[1 << 25, 1 << 25]));
        e.size = 1 << 52;
    })?;
    case.export_tiny(&[], &["hidden/kernel"])?;

    let case = corpus
        .case(
            "index_negative_dimension",
            "an index entry of shape [-4, 3]",
        )?
        .tiny()?;
    case.edit_entry(TINY_INDEX, "hidden/kernel", |e| {
        e.shape = Some(shape_proto(&[-4, 3]))
    })?;
    case.export_tiny(&[], &["hidden/kernel"])?;

    let case = corpus
        .case("index_unknown_dtype", "an index entry of dtype 999")?
        .tiny()?;
    case.edit_entry(TINY_INDEX, "hidden/kernel", |e| e.dtype = 999)?;
    case.export_tiny(&[], &["hidden/kernel"])
}

/// A block as tables store it: contents, compression type, masked CRC-32C of both.
fn block_with_trailer(out: &mut Vec<u8>, contents: &[u8], kind: u8) -> (u64, u64) {
    let handle = (out.len() as u64, contents.len() as u64);
    let checksum = crc::extend(crc::crc32c(contents), &[kind]);
    out.extend_from_slice(contents);
    out.push(kind);
    out.extend_from_slice(&crc::mask(checksum).to_le_bytes());
    handle
}

fn varint(out: &mut Vec<u8>, value: u64) {
    table::write_varint(out, value);
}

/// Block entries `(shared, unshared bytes, value)` followed by one restart point at 0.
fn block(entries: impl IntoIterator<Item = (u64, Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (shared, unshared, value) in entries {
        varint(&mut out, shared);
        varint(&mut out, unshared.len() as u64);
        varint(&mut out, value.len() as u64);
        out.extend_from_slice(&unshared);
        out.extend_from_slice(&value);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out
}

/// A whole table with one data block (`contents`, compressed as `kind`) and its footer.
fn one_block_table(contents: &[u8], kind: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let (offset, size) = block_with_trailer(&mut out, contents, kind);
    let metaindex = block_with_trailer(&mut out, &block([]), 0);
    let mut handle = Vec::new();
    varint(&mut handle, offset);
    varint(&mut handle, size);
    let index = block_with_trailer(&mut out, &block([(0, vec![0xff], handle)]), 0);
    let mut footer = Vec::new();
    for value in [metaindex.0, metaindex.1, index.0, index.1] {
        varint(&mut footer, value);
    }
    footer.resize(40, 0);
    footer.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
    out.extend_from_slice(&footer);
    out
}

fn hostile_table_cases(corpus: &mut Corpus) -> Result<()> {
    let case = corpus
        .case(
            "index_snappy_block_claims_4gib",
            "a Snappy block of the .index whose header claims 4 GiB - 1 decompressed",
        )?
        .tiny()?;
    let mut claim = Vec::new();
    varint(&mut claim, u64::from(u32::MAX));
    claim.extend_from_slice(&[0x0c, b'h', b'e', b'l', b'l', b'o']);
    case.write(TINY_INDEX, one_block_table(&claim, 1))?;
    case.export_tiny(&[], &[TINY_INDEX])?;

    let case = corpus
        .case(
            "index_restart_offset_past_block",
            "an .index data block whose restart offset points past the block",
        )?
        .tiny()?;
    let mut contents = block([(0, b"a".to_vec(), Vec::new())]);
    let restart_at = contents.len() - 8;
    contents[restart_at..restart_at + 4].copy_from_slice(&4096u32.to_le_bytes());
    case.write(TINY_INDEX, one_block_table(&contents, 0))?;
    case.export_tiny(&[], &[TINY_INDEX, "restart offset 4096"])?;

    let case = corpus.case("index_key_prefix_grows_without_bound", "100,000 .index entries, each key the previous one plus a byte (5 GB of keys from 600 KB)")?.tiny()?;
    let entries = (0..100_000u64).map(|i| (i, vec![b'k'], Vec::new()));
    case.write(TINY_INDEX, one_block_table(&block(entries), 0))?;
    case.export_tiny(&[], &[TINY_INDEX])
}

fn node_mut<'a>(graph: &'a mut GraphDef, name: &str) -> Result<&'a mut NodeDef> {
    graph
        .node
        .iter_mut()
        .find(|n| n.name == name)
        .with_context(|| format!("no node {name}"))
}

fn bias_const(name: &str, tensor: TensorProto) -> NodeDef {
    NodeDef {
        name: name.into(),
        op: "Const".into(),
        attr: [
            (
                "dtype".to_string(),
                AttrValue {
                    value: Some(Value::Type(DataType::DtFloat as i32)),
                },
            ),
            (
                "value".to_string(),
                AttrValue {
                    value: Some(Value::Tensor(tensor.into())),
                },
            ),
        ]
        .into(),
        ..NodeDef::default()
    }
}

/// Feeds `logits/BiasAdd` its bias from a new Const instead of the variable.
fn with_bias_const(graph: &mut GraphDef, constant: NodeDef) -> Result<()> {
    let bias_add = node_mut(graph, "logits/BiasAdd")?;
    let slot = bias_add
        .input
        .get_mut(1)
        .context("BiasAdd has a bias input")?;
    *slot = constant.name.clone();
    graph.node.push(constant);
    Ok(())
}

fn set_variable_shape(graph: &mut GraphDef, variable: &str, dims: &[i64]) -> Result<()> {
    let node = node_mut(graph, variable)?;
    node.attr.insert(
        "shape".into(),
        AttrValue {
            value: Some(Value::Shape(shape_proto(dims))),
        },
    );
    Ok(())
}

fn graph_cases(corpus: &mut Corpus) -> Result<()> {
    let case = corpus
        .case(
            "graph_variable_petabyte_shape",
            "a variable declared [2^40, 3] in the graph",
        )?
        .tiny()?;
    case.edit_graph(|g| set_variable_shape(g, "hidden/kernel", &[1 << 40, 3]))?;
    case.export_tiny(&[], &["hidden/kernel"])?;

    let case = corpus
        .case(
            "graph_variable_negative_dimension",
            "a variable declared [-5, 3] in the graph",
        )?
        .tiny()?;
    case.edit_graph(|g| set_variable_shape(g, "hidden/kernel", &[-5, 3]))?;
    case.export_tiny(&[], &["hidden/kernel"])?;

    let case = corpus
        .case("graph_unknown_dtype", "the served op's T attr is dtype 999")?
        .tiny()?;
    case.edit_graph(|g| {
        let node = node_mut(g, "logits/BiasAdd")?;
        node.attr.insert(
            "T".into(),
            AttrValue {
                value: Some(Value::Type(999)),
            },
        );
        Ok(())
    })?;
    case.export_tiny(&[], &["logits/BiasAdd"])?;

    let case = corpus
        .case(
            "graph_duplicate_node_names",
            "a second node named hidden/MatMul",
        )?
        .tiny()?;
    case.edit_graph(|g| {
        let copy = node_mut(g, "hidden/MatMul")?.clone();
        g.node.push(copy);
        Ok(())
    })?;
    case.export_tiny(&[], &["hidden/MatMul"])?;

    let case = corpus
        .case(
            "graph_cycle_outside_loop",
            "hidden/MatMul reads logits/BiasAdd, which depends on it (no while loop)",
        )?
        .tiny()?;
    case.edit_graph(|g| {
        node_mut(g, "hidden/MatMul")?.input[0] = "logits/BiasAdd".into();
        Ok(())
    })?;
    case.export_tiny(&["--input", "x=IteratorGetNext:0"], &["cycle"])?;

    let case = corpus
        .case(
            "graph_dangling_input",
            "hidden/MatMul reads a node that does not exist",
        )?
        .tiny()?;
    case.edit_graph(|g| {
        node_mut(g, "hidden/MatMul")?.input[1] = "nowhere/at_all:0".into();
        Ok(())
    })?;
    case.export_tiny(&[], &["hidden/MatMul", "nowhere/at_all"])?;

    let case = corpus
        .case(
            "graph_input_port_past_outputs",
            "logits/MatMul reads output 7 of Relu, which has one output",
        )?
        .tiny()?;
    case.edit_graph(|g| {
        node_mut(g, "logits/MatMul")?.input[0] = "Relu:7".into();
        Ok(())
    })?;
    case.export_tiny(&[], &["Relu:7"])?;

    let case = corpus
        .case(
            "graph_unknown_op_type",
            "Relu's op is one TensorFlow does not have",
        )?
        .tiny()?;
    case.edit_graph(|g| {
        node_mut(g, "Relu")?.op = "NoSuchOpAnywhere".into();
        Ok(())
    })?;
    case.export_tiny(&[], &["NoSuchOpAnywhere"])?;

    let case = corpus
        .case(
            "graph_const_2e40_elements_no_content",
            "a served Const of shape [2^20, 2^20] float32 with no values",
        )?
        .tiny()?;
    case.edit_graph(|g| {
        let tensor = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(shape_proto(&[1 << 20, 1 << 20])),
            ..TensorProto::default()
        };
        with_bias_const(g, bias_const("huge_bias", tensor))
    })?;
    case.export_tiny(&[], &["huge_bias"])?;

    let case = corpus
        .case(
            "graph_const_content_length_mismatch",
            "a served Const of shape [2] float32 whose tensor_content has 7 bytes",
        )?
        .tiny()?;
    case.edit_graph(|g| {
        let tensor = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(shape_proto(&[2])),
            tensor_content: vec![0u8; 7].into(),
            ..TensorProto::default()
        };
        with_bias_const(g, bias_const("short_bias", tensor))
    })?;
    case.export_tiny(&[], &["short_bias"])
}

fn argument_cases(corpus: &mut Corpus) -> Result<()> {
    let case = corpus
        .case(
            "arg_input_port_past_outputs",
            "--input names output 3 of Relu, which has one",
        )?
        .tiny()?;
    case.export_tiny(&["--input", "x=Relu:3"], &["Relu:3"])?;

    let case = corpus
        .case(
            "arg_output_port_past_outputs",
            "--output names output 5 of a one-output op",
        )?
        .tiny()?;
    case.run(
        &[
            "export",
            TINY_PREFIX,
            "$OUT_DIR",
            "--output",
            "scores=logits/BiasAdd:5",
        ],
        &["logits/BiasAdd:5"],
    )?;

    let case = corpus
        .case("arg_duplicate_input_keys", "the same --input key twice")?
        .tiny()?;
    case.export_tiny(
        &[
            "--input",
            "features=IteratorGetNext:0",
            "--input",
            "features=IteratorGetNext:1",
        ],
        &["features"],
    )?;

    let case = corpus
        .case("arg_duplicate_output_keys", "the same --output key twice")?
        .tiny()?;
    case.export_tiny(&["--output", "logits=Relu:0"], &["logits"])?;

    let case = corpus
        .case(
            "arg_unknown_output_tensor",
            "--output names a tensor the graph does not have",
        )?
        .tiny()?;
    case.run(
        &[
            "export",
            TINY_PREFIX,
            "$OUT_DIR",
            "--output",
            "scores=logits/BiasAd:0",
        ],
        &["logits/BiasAd:0"],
    )?;

    let case = corpus
        .case("arg_malformed_input_spec", "--input without KEY=")?
        .tiny()?;
    case.export_tiny(&["--input", "IteratorGetNext:0"], &["IteratorGetNext:0"])?;

    let case = corpus
        .case("arg_no_output", "no --output: the message lists candidates")?
        .tiny()?;
    case.run(
        &["export", TINY_PREFIX, "$OUT_DIR"],
        &["logits/BiasAdd:0", "--output"],
    )?;

    let case = corpus
        .case(
            "arg_unknown_training_flag",
            "--training-flag names a node the graph does not have",
        )?
        .tiny()?;
    case.export_tiny(&["--training-flag", "no_such_flag"], &["no_such_flag"])?;

    let case = corpus.case(
        "arg_checkpoint_missing",
        "--checkpoint names a prefix with no files",
    )?;
    case.tiny_graph_pb("graph.pb")?;
    case.run(
        &[
            "export",
            "graph.pb",
            "$OUT_DIR",
            "--input",
            "x=IteratorGetNext:0",
            "--output",
            TINY_OUTPUT,
            "--checkpoint",
            "gone/model.ckpt-1",
        ],
        &["gone/model.ckpt-1"],
    )
}

fn location_cases(corpus: &mut Corpus) -> Result<()> {
    let case = corpus
        .case("state_file_empty", "an empty `checkpoint` state file")?
        .tiny()?;
    case.write("checkpoint", "")?;
    case.run(
        &["export", ".", "$OUT_DIR", "--output", TINY_OUTPUT],
        &["checkpoint", "empty"],
    )?;

    let case = corpus
        .case(
            "state_file_names_missing_checkpoint",
            "a `checkpoint` state file naming a checkpoint that is not there",
        )?
        .tiny()?;
    case.write(
        "checkpoint",
        "model_checkpoint_path: \"model.ckpt-99\"\nall_model_checkpoint_paths: \"model.ckpt-99\"\n",
    )?;
    case.run(
        &["export", ".", "$OUT_DIR", "--output", TINY_OUTPUT],
        &["model.ckpt-99"],
    )?;

    let case = corpus
        .case("missing_meta", "a checkpoint prefix without its .meta")?
        .tiny()?;
    case.remove(TINY_META)?;
    case.export_tiny(&[], &[TINY_META])?;

    let case = corpus.case("source_does_not_exist", "a SOURCE path that does not exist")?;
    case.write(
        "README",
        "The source this case names is deliberately absent.\n",
    )?;
    case.run(
        &["export", "no_such_run", "$OUT_DIR", "--output", TINY_OUTPUT],
        &["no_such_run", "does not exist"],
    )?;

    let case = corpus.case(
        "show_not_a_saved_model",
        "`show` on a directory holding neither a model nor a checkpoint",
    )?;
    case.write("notes/README", "Not a model.\n")?;
    case.run(&["show", "notes"], &["notes", "not a SavedModel"])?;

    let case = corpus
        .case(
            "validate_training_directory",
            "`validate` on a training directory, not a SavedModel",
        )?
        .tiny()?;
    case.run(&["validate", "."], &["not a SavedModel"])?;

    let case = corpus.case(
        "validate_path_does_not_exist",
        "`validate` on a path that does not exist",
    )?;
    case.write(
        "README",
        "The model this case names is deliberately absent.\n",
    )?;
    case.run(
        &["validate", "no_such_model"],
        &["no_such_model", "does not exist"],
    )
}

/// Keras 3's own files (written beside the keras3_saved_model fixture by
/// testdata/generate_tf2_fixtures.py) given as SOURCE: refused by their magic.
fn keras_file_cases(corpus: &mut Corpus) -> Result<()> {
    let keras_files = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tf2/keras3_saved_model");
    let cases = [
        (
            "source_keras_archive",
            "model.keras",
            "a Keras 3 `.keras` archive (a zip) as SOURCE",
            ".keras",
        ),
        (
            "source_keras_weights",
            "model.weights.h5",
            "a Keras 3 `.weights.h5` file (HDF5) as SOURCE",
            "weights",
        ),
        (
            "source_keras_h5_model",
            "model.h5",
            "a legacy Keras `.h5` model (HDF5) as SOURCE",
            ".h5",
        ),
    ];
    for (name, file, breaks, what) in cases {
        let case = corpus.case(name, breaks)?;
        let bytes = std::fs::read(keras_files.join(file)).with_context(|| file.to_string())?;
        case.write(file, bytes)?;
        case.run(
            &["export", file, "$OUT_DIR"],
            &[file, what, "model.export(DIR)", "servegraph export DIR"],
        )?;
    }
    Ok(())
}

/// Exports vocab_lookup into `model/` of the case: a SavedModel source with one asset.
fn saved_model_source(case: &Case) -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let out = scratch.path().join("model");
    let options = {
        let mut custom = servegraph::ExportOptions::default();
        custom.serving.inputs = vec!["tokens=IteratorGetNext:0".parse()?];
        custom.serving.outputs = vec![TINY_OUTPUT.parse()?];
        custom
    };
    servegraph::export_serving_model(fixtures().join("vocab_lookup"), &out, &options)?;
    for file in [
        "saved_model.pb",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
        "assets/vocab.txt",
    ] {
        case.write(&format!("model/{file}"), std::fs::read(out.join(file))?)?;
    }
    Ok(())
}

/// Renames the SavedModel source's asset: its AssetFileDef and the Const holding its name.
fn rename_asset(case: &Case, name: &str) -> Result<()> {
    let path = "model/saved_model.pb";
    let mut saved = SavedModel::decode(case.read(path)?.as_slice())?;
    let meta = saved.meta_graphs.first_mut().context("one MetaGraphDef")?;
    let asset = meta.asset_file_def.first_mut().context("one asset")?;
    asset.filename = name.into();
    let tensor = match &asset.tensor_info.as_ref().and_then(|t| t.encoding.clone()) {
        Some(servegraph::proto::tensor_info::Encoding::Name(tensor)) => tensor.clone(),
        _ => bail!("the asset names no tensor"),
    };
    let node_name = tensor.split(':').next().unwrap_or_default();
    let graph = meta.graph_def.as_mut().context("a graph")?;
    let node = node_mut(graph, node_name)?;
    let Some(AttrValue {
        value: Some(Value::Tensor(value)),
    }) = node.attr.get_mut("value")
    else {
        bail!("asset node {node_name} is not a string Const");
    };
    value.string_val = vec![name.as_bytes().to_vec().into()];
    case.write(path, saved.encode_to_vec())
}

fn asset_cases(corpus: &mut Corpus) -> Result<()> {
    let export_model = |case: Case, expect: &[&str]| -> Result<()> {
        case.run(
            &["export", "model", "$OUT_DIR", "--output", TINY_OUTPUT],
            expect,
        )
    };
    let case = corpus.case(
        "saved_model_asset_dotdot",
        "a SavedModel source whose asset is ../../outside_vocab.txt",
    )?;
    saved_model_source(&case)?;
    case.write("outside_vocab.txt", case.read("model/assets/vocab.txt")?)?;
    rename_asset(&case, "../../outside_vocab.txt")?;
    export_model(case, &["../../outside_vocab.txt"])?;

    let case = corpus.case(
        "saved_model_asset_absolute",
        "a SavedModel source whose asset is the absolute path /etc/passwd",
    )?;
    saved_model_source(&case)?;
    rename_asset(&case, "/etc/passwd")?;
    export_model(case, &["/etc/passwd"])?;

    let case = corpus.case(
        "saved_model_asset_symlink_out",
        "a SavedModel source whose assets/vocab.txt is a symlink leading outside it",
    )?;
    saved_model_source(&case)?;
    case.write("outside_vocab.txt", case.read("model/assets/vocab.txt")?)?;
    case.remove("model/assets/vocab.txt")?;
    case.symlink("model/assets/vocab.txt", "../../outside_vocab.txt")?;
    export_model(case, &["vocab.txt"])?;

    let case = corpus.case(
        "saved_model_asset_missing",
        "a SavedModel source without its assets/vocab.txt",
    )?;
    saved_model_source(&case)?;
    case.remove("model/assets/vocab.txt")?;
    case.write("model/assets/README", "vocab.txt is deliberately absent.\n")?;
    export_model(case, &["vocab.txt"])?;

    let case = corpus.case(
        "saved_model_variables_index_missing",
        "a SavedModel source whose variables/variables.index is gone (its data shard is there)",
    )?;
    saved_model_source(&case)?;
    case.remove("model/variables/variables.index")?;
    export_model(case, &["variables/variables.index", "does not exist"])?;

    let case = corpus.case(
        "size_variables_symlink_loop",
        "`size` on a SavedModel whose variables/ is a symlink to itself",
    )?;
    saved_model_source(&case)?;
    case.remove("model/variables/variables.index")?;
    case.remove("model/variables/variables.data-00000-of-00001")?;
    std::fs::remove_dir(case.path("model/variables"))?;
    case.symlink("model/variables", "variables")?;
    case.run(&["size", "model"], &["model/variables", "symbolic links"])?;

    let case = corpus
        .case(
            "checkpoint_vocabulary_missing",
            "a training directory whose table reads a vocab.txt that is not there",
        )?
        .fixture("vocab_lookup", ".")?;
    case.remove("vocab.txt")?;
    case.run(
        &[
            "export",
            ".",
            "$OUT_DIR",
            "--input",
            "tokens=IteratorGetNext:0",
            "--output",
            TINY_OUTPUT,
        ],
        &["vocab.txt"],
    )
}

fn out_dir_cases(corpus: &mut Corpus) -> Result<()> {
    let run_to = |case: Case, out: &str, extra: &[&str], expect: &[&str]| -> Result<()> {
        let mut args = vec!["export", "run", out, "--output", TINY_OUTPUT];
        args.extend_from_slice(extra);
        case.run(&args, expect)
    };
    let case = corpus
        .case(
            "out_dir_is_symlink",
            "OUT_DIR is a symlink to an empty directory elsewhere",
        )?
        .tiny()?;
    case.setup("out_dir_is_symlink")
        .export_tiny(&[], &["$OUT_DIR", "symlink"])?;

    let case = corpus
        .case("out_dir_is_source_dir", "OUT_DIR is the training directory")?
        .fixture("tiny_mlp", "run")?;
    run_to(case, "run", &[], &["run"])?;

    let case = corpus
        .case(
            "out_dir_is_source_dir_overwrite",
            "OUT_DIR is the training directory, with --overwrite",
        )?
        .fixture("tiny_mlp", "run")?;
    run_to(case, "run", &["--overwrite"], &["run"])?;

    let case = corpus
        .case(
            "out_dir_inside_source",
            "OUT_DIR lies inside the training directory",
        )?
        .fixture("tiny_mlp", "run")?;
    run_to(case, "run/serving", &[], &["run/serving"])?;

    let case = corpus
        .case(
            "out_dir_contains_source",
            "OUT_DIR is a parent of the training directory, with --overwrite",
        )?
        .fixture("tiny_mlp", "jobs/run")?;
    case.run(
        &[
            "export",
            "jobs/run",
            "jobs",
            "--output",
            TINY_OUTPUT,
            "--overwrite",
        ],
        &["jobs"],
    )?;

    let case = corpus
        .case("out_dir_read_only", "OUT_DIR's parent is read-only")?
        .tiny()?;
    case.setup("read_only_destination")
        .export_tiny(&[], &["$OUT_PARENT"])?;

    let case = corpus
        .case(
            "out_dir_full",
            "OUT_DIR's file system has no room for the export",
        )?
        .tiny()?;
    case.setup("full_destination")
        .export_tiny(&[], &["cannot write", "$OUT_PARENT"])?;

    let case = corpus
        .case("overwrite_regular_file", "--overwrite onto a regular file")?
        .fixture("tiny_mlp", "run")?;
    case.write("model.txt", "A file that is not a model.\n")?;
    run_to(case, "model.txt", &["--overwrite"], &["model.txt"])?;

    let case = corpus
        .case(
            "overwrite_non_saved_model_dir",
            "--overwrite onto a non-empty directory that is not a SavedModel",
        )?
        .fixture("tiny_mlp", "run")?;
    case.write("notes/todo.txt", "Not a model.\n")?;
    run_to(case, "notes", &["--overwrite"], &["notes"])?;

    let case = corpus
        .case(
            "out_dir_exists",
            "OUT_DIR exists and --overwrite is not given",
        )?
        .fixture("tiny_mlp", "run")?;
    case.write("notes/todo.txt", "Not a model.\n")?;
    run_to(case, "notes", &[], &["notes", "--overwrite"])
}

/// `--warmup` files that do not fit tiny_mlp's signature (one float32 input
/// `features` of shape [-1, 4]): each error names the instance and the key.
fn warmup_cases(corpus: &mut Corpus) -> Result<()> {
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        (
            "warmup_unknown_key",
            "a --warmup instance names an input the signature does not have",
            r#"{"instances": [{"features": [1, 2, 3, 4]}, {"feature": [1, 2, 3, 4]}]}"#,
            &["instance 1", "\"feature\"", "warmup.json"],
        ),
        (
            "warmup_missing_key",
            "a --warmup instance lacks the signature's input",
            r#"{"instances": [{}]}"#,
            &["instance 0", "\"features\"", "warmup.json"],
        ),
        (
            "warmup_wrong_shape",
            "a --warmup instance of 3 values for an input of 4",
            r#"{"instances": [[1, 2, 3, 4], [1, 2, 3]]}"#,
            &["instance 1", "\"features\"", "[4] per instance"],
        ),
        (
            "warmup_wrong_dtype",
            "a --warmup instance with a string where float32 is expected",
            r#"{"instances": [[1, 2, "three", 4]]}"#,
            &["instance 0", "\"features\"", "element [2]", "float32"],
        ),
        (
            "warmup_malformed_json",
            "a --warmup file that is not JSON",
            r#"{"instances": [[1, 2, 3, 4]"#,
            &["warmup.json", "not valid JSON"],
        ),
    ];
    for (name, breaks, body, expect) in cases {
        let case = corpus.case(name, breaks)?.tiny()?;
        case.write("warmup.json", body)?;
        case.export_tiny(&WARMUP_ARGS, expect)?;
    }
    hostile_warmup_cases(corpus)
}

const WARMUP_ARGS: [&str; 4] = [
    "--input",
    "features=IteratorGetNext:0",
    "--warmup",
    "warmup.json",
];

/// Warm-up files that are ambiguous or built to exhaust memory. The big
/// ones are written by the test's `setup` (tens of megabytes are not worth
/// committing); each must be refused well under the memory cap.
fn hostile_warmup_cases(corpus: &mut Corpus) -> Result<()> {
    let case = corpus
        .case(
            "warmup_duplicate_key",
            "a --warmup instance giving the key features twice",
        )?
        .tiny()?;
    case.write(
        "warmup.json",
        r#"{"instances": [{"features": [1, 2, 3, 4], "features": [5, 6, 7, 8]}]}"#,
    )?;
    case.export_tiny(
        &WARMUP_ARGS,
        &[
            "warmup.json",
            "key \"features\" appears twice",
            "\"instances\"[0]",
        ],
    )?;
    let case = corpus
        .case(
            "warmup_duplicate_instances",
            "a --warmup file with two top-level \"instances\"",
        )?
        .tiny()?;
    case.write(
        "warmup.json",
        r#"{"instances": [[1, 2, 3, 4]], "instances": [[5, 6, 7, 8]]}"#,
    )?;
    case.export_tiny(
        &WARMUP_ARGS,
        &[
            "warmup.json",
            "key \"instances\" appears twice",
            "top level",
        ],
    )?;
    let generated: [(&str, &str, &[&str]); 3] = [
        (
            "warmup_one_element_lists",
            "a --warmup file of 16,777,210 one-element lists (64 MiB, inside the byte and value limits); written by the test",
            &["warmup.json", "more than 1048576 lists and objects"],
        ),
        (
            "warmup_just_over_value_limit",
            "a --warmup file of 16,777,217 values (one past the limit); written by the test",
            &["warmup.json", "more than 16777216 values"],
        ),
        (
            "warmup_at_the_limits",
            "a --warmup file of 16,777,216 values (262,144 rows of 64, 66,584,588 bytes, inside every warm-up limit) that the signature refuses after parsing; written by the test",
            &["warmup.json", "shape [262144, 64]"],
        ),
    ];
    for (name, breaks, expect) in generated {
        let case = corpus.case(name, breaks)?.tiny()?.setup(name).peak(256);
        case.export_tiny(&WARMUP_ARGS, expect)?;
    }
    let case = corpus
        .case(
            "warmup_dev_zero",
            "--warmup /dev/zero (endless, with no size)",
        )?
        .tiny()?
        .peak(256);
    let args = [
        "--input",
        "features=IteratorGetNext:0",
        "--warmup",
        "/dev/zero",
    ];
    case.export_tiny(
        &args,
        &[
            "/dev/zero",
            "a character device",
            "more than 67108864 bytes",
        ],
    )
}

/// A node of a hand-built float graph: `op` reading `inputs`, typed by `T`
/// (or `dtype` for a placeholder).
fn float_node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
    let key = if op == "Placeholder" { "dtype" } else { "T" };
    let float = AttrValue {
        value: Some(Value::Type(DataType::DtFloat as i32)),
    };
    NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|i| i.to_string()).collect(),
        attr: [(key.to_string(), float)].into(),
        ..NodeDef::default()
    }
}

/// `transform` on graphs whose Identity nodes form a cycle outside any
/// while loop: bypassing them would leave `sum` (an AddV2) one input short.
fn transform_cases(corpus: &mut Corpus) -> Result<()> {
    let cycles: [(&str, &str, &[NodeDef]); 2] = [
        (
            "transform_remove_nodes_identity_cycle",
            "remove_nodes(op=Identity) on a graph whose Identity nodes a and b read each other",
            &[
                float_node("a", "Identity", &["b"]),
                float_node("b", "Identity", &["a"]),
            ],
        ),
        (
            "transform_remove_nodes_identity_self_loop",
            "remove_nodes(op=Identity) on a graph whose Identity a reads itself",
            &[float_node("a", "Identity", &["a"])],
        ),
    ];
    for (name, breaks, identities) in cycles {
        let case = corpus.case(name, breaks)?;
        let mut node = vec![float_node("x", "Placeholder", &[])];
        node.extend_from_slice(identities);
        node.push(float_node("sum", "AddV2", &["x", "a"]));
        let graph = GraphDef {
            node,
            ..GraphDef::default()
        };
        case.write("graph.pb", graph.encode_to_vec())?;
        let args = [
            "transform",
            "graph.pb",
            "$OUT_DIR",
            "--transforms",
            "remove_nodes(op=Identity)",
        ];
        case.run(&args, &["cycle", "\"a\""])?;
    }
    Ok(())
}

/// Copies `testdata/tf2/NAME/saved_model` into `model/` of the case.
fn tf2_source(case: &Case, name: &str) -> Result<()> {
    let from = fixtures()
        .parent()
        .context("testdata")?
        .join("tf2")
        .join(name)
        .join("saved_model");
    for file in [
        "saved_model.pb",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
        "assets/vocabulary.txt",
    ] {
        if from.join(file).is_file() {
            case.write(&format!("model/{file}"), std::fs::read(from.join(file))?)?;
        }
    }
    Ok(())
}

/// Edits the TF2 source's only MetaGraphDef.
fn edit_tf2(case: &Case, edit: impl FnOnce(&mut MetaGraphDef) -> Result<()>) -> Result<()> {
    let path = "model/saved_model.pb";
    let mut saved = SavedModel::decode(case.read(path)?.as_slice())?;
    edit(saved.meta_graphs.first_mut().context("one MetaGraphDef")?)?;
    case.write(path, saved.encode_to_vec())
}

/// Rewrites the first object-graph node `edit` accepts (returns true for).
fn edit_object(
    meta: &mut MetaGraphDef,
    mut edit: impl FnMut(&mut SavedObject) -> bool,
) -> Result<()> {
    let graph = meta.object_graph_def.as_mut().context("an object graph")?;
    for bytes in &mut graph.nodes {
        let mut object = SavedObject::decode(bytes.as_ref())?;
        if edit(&mut object) {
            *bytes = object.encode_to_vec().into();
            return Ok(());
        }
    }
    bail!("no object to edit")
}

/// The library's functions, by position.
fn library_mut(meta: &mut MetaGraphDef) -> Result<&mut Vec<FunctionDef>> {
    let graph = meta.graph_def.as_mut().context("a graph")?;
    Ok(&mut graph.library.as_mut().context("a library")?.function)
}

fn function_name(function: &FunctionDef) -> String {
    function
        .signature
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default()
}

/// A node of `function` calling the function `callee`.
fn call_node(function: &mut FunctionDef, callee: &str) {
    function.node_def.push(NodeDef {
        name: "call_back".into(),
        op: callee.into(),
        ..NodeDef::default()
    });
}

/// TF2 SavedModels that TensorFlow refuses to load; the lean re-export
/// must refuse them too, naming the culprit.
fn tf2_cases(corpus: &mut Corpus) -> Result<()> {
    let export = |case: Case, expect: &[&str]| case.run(&["export", "model", "$OUT_DIR"], expect);
    tf2_function_cases(corpus, &export)?;
    tf2_object_cases(corpus, &export)
}

type Export = dyn Fn(Case, &[&str]) -> Result<()>;

fn tf2_function_cases(corpus: &mut Corpus, export: &Export) -> Result<()> {
    let case = corpus.case(
        "tf2_object_names_missing_function",
        "a TF2 SavedModel whose function object names a concrete function the library lacks",
    )?;
    tf2_source(&case, "module_function")?;
    edit_tf2(&case, |meta| {
        edit_object(meta, |object| match &mut object.kind {
            Some(saved_object::Kind::Function(f)) if !f.concrete_functions.is_empty() => {
                f.concrete_functions[0] = "__inference_missing_99".into();
                true
            }
            _ => false,
        })
    })?;
    export(case, &["__inference_missing_99", "does not define"])?;

    let case = corpus.case(
        "tf2_function_calls_itself",
        "a TF2 SavedModel whose library function calls itself",
    )?;
    tf2_source(&case, "module_function")?;
    let mut name = String::new();
    edit_tf2(&case, |meta| {
        let function = library_mut(meta)?.first_mut().context("a function")?;
        name = function_name(function);
        call_node(function, &name.clone());
        Ok(())
    })?;
    export(case, &["cycle", &format!("{name} -> {name}")])?;

    let case = corpus.case(
        "tf2_functions_call_each_other",
        "a TF2 SavedModel whose first two library functions call each other",
    )?;
    tf2_source(&case, "module_function")?;
    edit_tf2(&case, |meta| {
        let functions = library_mut(meta)?;
        let (first, second) = (function_name(&functions[0]), function_name(&functions[1]));
        call_node(&mut functions[0], &second);
        call_node(&mut functions[1], &first);
        Ok(())
    })?;
    export(case, &["cycle"])?;

    let case = corpus.case(
        "tf2_function_defined_twice",
        "a TF2 SavedModel whose library defines one function name twice, differently",
    )?;
    tf2_source(&case, "module_function")?;
    let mut name = String::new();
    edit_tf2(&case, |meta| {
        let functions = library_mut(meta)?;
        let mut copy = functions.first().context("a function")?.clone();
        name = function_name(&copy);
        call_node(&mut copy, "NoOp");
        functions.push(copy);
        Ok(())
    })?;
    export(case, &["twice", &name])
}

/// A change to a saved variable object.
type VariableEdit = fn(&mut servegraph::proto::SavedVariable);

fn tf2_object_cases(corpus: &mut Corpus, export: &Export) -> Result<()> {
    let case = corpus.case(
        "tf2_bound_input_is_a_function",
        "a TF2 SavedModel whose concrete function's bound input is a function object, not a variable",
    )?;
    tf2_source(&case, "module_function")?;
    edit_tf2(&case, |meta| {
        let graph = meta.object_graph_def.as_mut().context("an object graph")?;
        let function_id = graph
            .nodes
            .iter()
            .position(|b| {
                SavedObject::decode(b.as_ref())
                    .is_ok_and(|o| matches!(o.kind, Some(saved_object::Kind::Function(_))))
            })
            .context("a function object")?;
        let bytes = graph
            .concrete_functions
            .values_mut()
            .find(|b| {
                SavedConcreteFunction::decode(b.as_ref()).is_ok_and(|f| !f.bound_inputs.is_empty())
            })
            .context("a concrete function with bound inputs")?;
        let mut function = SavedConcreteFunction::decode(bytes.as_ref())?;
        function.bound_inputs[0] = function_id as i32;
        *bytes = function.encode_to_vec().into();
        Ok(())
    })?;
    export(case, &["bound input", "a function"])?;

    let case = corpus.case(
        "tf2_signature_output_index_past_outputs",
        "a TF2 SavedModel whose serving signature names output 7 of its call node",
    )?;
    tf2_source(&case, "module_function")?;
    edit_tf2(&case, |meta| {
        let signature = meta
            .signature_def
            .get_mut("serving_default")
            .context("serving_default")?;
        let output = signature.outputs.values_mut().next().context("an output")?;
        let Some(servegraph::proto::tensor_info::Encoding::Name(name)) = &mut output.encoding
        else {
            bail!("the output names no tensor");
        };
        *name = format!("{}:7", name.split(':').next().unwrap_or_default());
        Ok(())
    })?;
    export(case, &[":7", "serving_default"])?;

    let variable_cases: [(&str, &str, VariableEdit); 2] = [
        (
            "tf2_saved_variable_2e40_rows",
            "a TF2 SavedModel whose saved variable object claims 2^40 rows the checkpoint does not hold",
            |v| {
                if let Some(dim) = v.shape.as_mut().and_then(|s| s.dim.first_mut()) {
                    dim.size = 1 << 40;
                }
            },
        ),
        (
            "tf2_saved_variable_dtype",
            "a TF2 SavedModel whose saved variable object says float64 where the checkpoint holds float32",
            |v| v.dtype = DataType::DtDouble as i32,
        ),
    ];
    for (name, breaks, edit) in variable_cases {
        let case = corpus.case(name, breaks)?;
        tf2_source(&case, "module_function")?;
        edit_tf2(&case, |meta| {
            edit_object(meta, |object| match &mut object.kind {
                Some(saved_object::Kind::Variable(v))
                    if v.shape.as_ref().is_some_and(|s| !s.dim.is_empty()) =>
                {
                    edit(v);
                    true
                }
                _ => false,
            })
        })?;
        export(case, &["variable object", "saved as"])?;
    }

    let case = corpus
        .case(
            "tf2_5m_empty_nodes",
            "a TF2 SavedModel whose graph has 5,000,000 empty `node {}` entries appended (10 MB); written by the test; refused from the wire bytes before the nodes are decoded",
        )?
        .setup("saved_model_5m_empty_nodes")
        .peak(128);
    tf2_source(&case, "module_function")?;
    export(case, &["has no name"])?;

    let case = corpus.case(
        "tf2_asset_index_out_of_range",
        "a TF2 SavedModel whose asset object names asset_file_def index 5 of 1",
    )?;
    tf2_source(&case, "module_table")?;
    edit_tf2(&case, |meta| {
        edit_object(meta, |object| match &mut object.kind {
            Some(saved_object::Kind::Asset(asset)) => {
                asset.asset_file_def_index = 5;
                true
            }
            _ => false,
        })
    })?;
    export(case, &["asset_file_def index 5", "there are 1"])
}
