//! What each fuzz target does with its input, shared by the cargo-fuzz
//! targets (`fuzz_targets/`) and by `tests/offline/fuzz_regressions.rs`, which
//! includes this file to replay committed findings on a stable toolchain.
//!
//! Every harness returns `Ok` when the library accepted the input and
//! `Err(Rejected)` when it refused it with a typed error; both are fine. A
//! panic is a finding: either the library panicked, or an accepted input broke
//! a property checked here (a round trip that is not stable, an export that
//! changed its input or left a partial output behind).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use servegraph::bundle::{BundleReader, data_path, index_path, table};
use servegraph::error::{BundleError, Error, IrError, ReadError, TextError};
use servegraph::proto::{CheckpointState, GraphDef, MetaGraphDef};
use servegraph::write::atomic::Overwrite;
use servegraph::{ExportOptions, Graph};

#[path = "warmup_json.rs"]
mod warmup_json;
pub use warmup_json::warmup_json;

#[path = "newer_surfaces.rs"]
mod newer_surfaces;
pub use newer_surfaces::{saved_model_dir, tf2_lean_plan, transform_spec};

/// A typed refusal of the input by the library (or by prost, for bytes that
/// are not a protobuf message at all).
#[derive(Debug)]
pub enum Rejected {
    Decode(prost::DecodeError),
    Text(TextError),
    Ir(IrError),
    Bundle(BundleError),
    Read(ReadError),
    Export(Error),
    /// The input lacks the framing its harness needs (a missing segment,
    /// text that is not UTF-8).
    Framing(&'static str),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Decode(e) => write!(f, "not a protobuf message: {e}"),
            Rejected::Text(e) => e.fmt(f),
            Rejected::Ir(e) => e.fmt(f),
            Rejected::Bundle(e) => e.fmt(f),
            Rejected::Read(e) => e.fmt(f),
            Rejected::Export(e) => e.fmt(f),
            Rejected::Framing(what) => write!(f, "not framed for the harness: {what}"),
        }
    }
}

macro_rules! rejected_from {
    ($($variant:ident($error:ty)),*) => {$(
        impl From<$error> for Rejected {
            fn from(error: $error) -> Rejected {
                Rejected::$variant(error)
            }
        }
    )*};
}

rejected_from!(
    Decode(prost::DecodeError),
    Text(TextError),
    Ir(IrError),
    Bundle(BundleError),
    Read(ReadError),
    Export(Error)
);

/// Where the harnesses put files: tmpfs when the machine has one, so file
/// I/O does not limit the execution rate.
pub fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix("servegraph-fuzz-")
        .tempdir_in(root)
}

/// Splits off the selector byte that picks what the rest of the input is.
fn selector(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (first, rest),
        None => (0, &[]),
    }
}

// ---------------------------------------------------------------------------
// graph_round_trip: GraphDef / MetaGraphDef bytes → IR → bytes → IR.

/// Selector even: the rest is a GraphDef; odd: a MetaGraphDef (its graph).
pub fn graph_round_trip(data: &[u8]) -> Result<(), Rejected> {
    let (select, bytes) = selector(data);
    let graph_def = if select % 2 == 0 {
        GraphDef::decode(bytes)?
    } else {
        MetaGraphDef::decode(bytes)?.graph_def.unwrap_or_default()
    };
    let graph = Graph::from_graph_def(graph_def)?;
    inspect_graph(&graph);
    let written = graph.to_graph_def().encode_to_vec();
    let again =
        Graph::from_graph_def(GraphDef::decode(written.as_slice())?).unwrap_or_else(|error| {
            panic!("a GraphDef written from the IR does not build again: {error}")
        });
    assert_eq!(
        again.to_graph_def().encode_to_vec(),
        written,
        "decode(write(ir)) builds a different IR"
    );
    Ok(())
}

/// The graph queries every pass relies on must not panic on any graph that built.
fn inspect_graph(graph: &Graph) {
    let _ = graph.validate();
    let _ = graph.topological_order();
    let _ = graph.to_dot();
}

// ---------------------------------------------------------------------------
// text_format: `.pbtxt` documents through `servegraph::text`.

/// Selector % 3: 0 a GraphDef, 1 a MetaGraphDef, 2 a checkpoint state file.
/// What parses must print and parse back to the same message.
pub fn text_format(data: &[u8]) -> Result<(), Rejected> {
    let (select, bytes) = selector(data);
    let text = String::from_utf8_lossy(bytes);
    match select % 3 {
        0 => {
            let graph_def = text_round_trip::<GraphDef>("tensorflow.GraphDef", &text)?;
            inspect_graph(&Graph::from_graph_def(graph_def)?);
        }
        1 => {
            text_round_trip::<MetaGraphDef>("tensorflow.MetaGraphDef", &text)?;
        }
        _ => {
            text_round_trip::<CheckpointState>("tensorflow.CheckpointState", &text)?;
        }
    }
    Ok(())
}

fn text_round_trip<M: Message + Default>(full_name: &str, text: &str) -> Result<M, Rejected> {
    let message: M = servegraph::text::parse_text(full_name, text)?;
    let printed = servegraph::text::to_text(full_name, &message)
        .unwrap_or_else(|error| panic!("a parsed {full_name} does not print: {error}"));
    let again: M = servegraph::text::parse_text(full_name, &printed)
        .unwrap_or_else(|error| panic!("printed {full_name} does not parse: {error}\n{printed}"));
    assert_eq!(
        again.encode_to_vec(),
        message.encode_to_vec(),
        "{full_name} changes through print and parse:\n{printed}"
    );
    Ok(message)
}

// ---------------------------------------------------------------------------
// index_table: the `.index` sorted string table.

/// Reads every pair of the table; what reads must write back to a table
/// that reads the same pairs.
pub fn index_table(data: &[u8]) -> Result<(), Rejected> {
    let path = Path::new("fuzz.index");
    let pairs = table::read_table(path, data)?;
    let rebuilt = table::build_table(&pairs, path)
        .unwrap_or_else(|error| panic!("pairs read from a table do not build one: {error}"));
    let reread = table::read_table(path, &rebuilt)
        .unwrap_or_else(|error| panic!("a table built from read pairs does not read: {error}"));
    assert_eq!(reread, pairs, "the table changes through read and build");
    Ok(())
}

// ---------------------------------------------------------------------------
// bundle: a whole TensorBundle, index and data shards.

/// Splits the input into length-prefixed segments (a little-endian u32, then
/// that many bytes; the last segment takes whatever is left).
pub fn segments(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            out.push(data);
            break;
        };
        let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
        let (segment, rest) = rest.split_at(len.min(rest.len()));
        out.push(segment);
        data = rest;
    }
    out
}

/// The inverse of [`segments`].
pub fn join_segments(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The first segment is the `.index`, the others the data shards (as many
/// shard files as segments). Opens the bundle, lists it and reads every
/// tensor, raw and typed, each checked against its crc32c.
pub fn bundle(data: &[u8]) -> Result<(), Rejected> {
    let parts = segments(data);
    let Some((index, shards)) = parts.split_first() else {
        return Ok(());
    };
    let dir = scratch_dir().map_err(io_failure)?;
    let prefix = dir.path().join("fuzz");
    std::fs::write(index_path(&prefix), index).map_err(io_failure)?;
    for (shard, bytes) in shards.iter().enumerate() {
        std::fs::write(data_path(&prefix, shard, shards.len()), bytes).map_err(io_failure)?;
    }
    let reader = BundleReader::open(&prefix)?;
    read_every_tensor(&reader)
}

fn read_every_tensor(reader: &BundleReader) -> Result<(), Rejected> {
    let entries = reader.entries();
    let names = reader.names();
    assert!(entries.len() <= names.len(), "more entries than names");
    let mut first_error = None;
    for name in names {
        let _ = reader.dtype_and_shape(&name);
        let _ = reader.byte_range(name.as_bytes());
        let read = reader.read_tensor(&name).and(reader.read_typed(&name));
        if let Err(error) = read {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), |error| Err(error.into()))
}

/// A failure of the harness's own scratch files, not of the input.
fn io_failure(error: std::io::Error) -> Rejected {
    panic!("the fuzz harness cannot use its scratch directory: {error}")
}

// ---------------------------------------------------------------------------
// export_pipeline: a fixture with one file replaced, read → passes → write.

/// The files of a fixture the export input may replace, in selector order.
const REPLACEABLE: [&str; 4] = ["meta", "index", "data", "checkpoint"];

/// A fixture held in memory: its files and the export options it asks for.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    files: BTreeMap<String, Vec<u8>>,
    prefix: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

impl Fixture {
    /// Loads `fixtures/NAME`: every file, and `fixture.json`'s checkpoint
    /// prefix, inputs and outputs.
    pub fn load(fixtures: &Path, name: &str) -> std::io::Result<Fixture> {
        let dir = fixtures.join(name);
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let file = entry.file_name().to_string_lossy().into_owned();
                files.insert(file, std::fs::read(entry.path())?);
            }
        }
        let json: serde_json::Value = files
            .get("fixture.json")
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .ok_or_else(|| invalid(format!("{} has no readable fixture.json", dir.display())))?;
        let prefix = json["checkpoint_prefix"]
            .as_str()
            .ok_or_else(|| invalid(format!("{name}: fixture.json has no checkpoint_prefix")))?
            .to_string();
        Ok(Fixture {
            name: name.into(),
            files,
            prefix,
            inputs: tensor_specs(&json["inputs"]),
            outputs: tensor_specs(&json["outputs"]),
        })
    }

    /// The file name the selector picks: `.meta`, `.index`, the data shard or
    /// the checkpoint state file.
    pub fn replaceable_file(&self, select: u8) -> String {
        let kind = REPLACEABLE[usize::from(select) % REPLACEABLE.len()];
        match kind {
            "checkpoint" => kind.to_string(),
            "data" => format!("{}.data-00000-of-00001", self.prefix),
            suffix => format!("{}.{suffix}", self.prefix),
        }
    }

    /// The original bytes of one of its files.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    fn options(&self) -> ExportOptions {
        {
            let mut custom = ExportOptions::default();
            custom.serving.inputs = parse_all(&self.inputs);
            custom.serving.outputs = parse_all(&self.outputs);
            custom.output.overwrite = Overwrite::Refuse;
            custom
        }
    }

    fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        for (name, bytes) in &self.files {
            std::fs::write(dir.join(name), bytes)?;
        }
        Ok(())
    }
}

fn parse_all<T: std::str::FromStr>(specs: &[String]) -> Vec<T> {
    specs.iter().filter_map(|s| s.parse().ok()).collect()
}

fn tensor_specs(map: &serde_json::Value) -> Vec<String> {
    map.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, spec)| Some(format!("{key}={}", spec["tensor"].as_str()?)))
        .collect()
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// The fixtures the export target runs on.
pub const EXPORT_FIXTURES: [&str; 2] = ["tiny_mlp", "vocab_lookup"];

/// Loads [`EXPORT_FIXTURES`] from the `testdata/fixtures` directory.
pub fn export_fixtures(fixtures: &Path) -> std::io::Result<Vec<Fixture>> {
    EXPORT_FIXTURES
        .iter()
        .map(|name| Fixture::load(fixtures, name))
        .collect()
}

/// Selector bit 0 picks the fixture, the bits above it the file that the rest
/// of the input replaces. Exports the training directory into a scratch dir
/// and checks that no input file changed and that a failed export left
/// nothing behind.
pub fn export_pipeline(fixtures: &[Fixture], data: &[u8]) -> Result<(), Rejected> {
    let (select, replacement) = selector(data);
    let Some(fixture) = fixtures.get(usize::from(select % 2) % fixtures.len().max(1)) else {
        return Ok(());
    };
    let replaced = fixture.replaceable_file(select >> 1);
    let scratch = scratch_dir().map_err(io_failure)?;
    let source = scratch.path().join("run");
    let out_parent = scratch.path().join("out");
    std::fs::create_dir(&source).map_err(io_failure)?;
    std::fs::create_dir(&out_parent).map_err(io_failure)?;
    fixture.write_to(&source).map_err(io_failure)?;
    std::fs::write(source.join(&replaced), replacement).map_err(io_failure)?;

    let out = out_parent.join("model");
    let result = servegraph::export_serving_model(&source, &out, &fixture.options());
    assert_inputs_unchanged(fixture, &source, &replaced, replacement);
    match result {
        Ok(_) => {
            assert!(
                out.join("saved_model.pb").is_file(),
                "export wrote no saved_model.pb"
            );
            Ok(())
        }
        Err(error) => {
            assert_dir_empty(&out_parent);
            Err(error.into())
        }
    }
}

fn assert_inputs_unchanged(fixture: &Fixture, source: &Path, replaced: &str, replacement: &[u8]) {
    for (name, original) in &fixture.files {
        let expected = if name == replaced {
            replacement
        } else {
            original
        };
        let now = std::fs::read(source.join(name)).unwrap_or_default();
        assert!(now == expected, "export changed its input file {name}");
    }
}

fn assert_dir_empty(dir: &Path) {
    let left: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a failed export left {left:?} behind");
}

// ---------------------------------------------------------------------------
// narrowed_read: the skim-then-decode read against the whole decode.

/// Selector even: the rest is a GraphDef file; odd: a `.meta` (with an empty
/// `.index` beside it, which reading the graph never opens). The whole read
/// is the judge: when it accepts the file, the read narrowed to one tensor
/// (picked by the selector) must accept it too, count every node, and hold
/// every node that tensor depends on exactly as the whole read has it.
pub fn narrowed_read(data: &[u8]) -> Result<(), Rejected> {
    let (select, bytes) = selector(data);
    let dir = scratch_dir().map_err(io_failure)?;
    let path = if select % 2 == 0 {
        dir.path().join("graph.pb")
    } else {
        std::fs::write(dir.path().join("model.index"), b"").map_err(io_failure)?;
        dir.path().join("model.meta")
    };
    std::fs::write(&path, bytes).map_err(io_failure)?;
    let whole = servegraph::read::read_model(&path, None, &[])?;
    let ids = whole.graph.node_ids();
    // The selector's upper seven bits pick a place in the graph, first to last.
    let Some(&target) = ids.get(usize::from(select / 2) * ids.len() / 128) else {
        return Ok(());
    };
    let wanted = servegraph::read::Wanted {
        tensors: vec![whole.graph.name(target).to_string()],
        nodes: Vec::new(),
    };
    let narrowed = servegraph::read::read_model_for(&path, None, &[], &wanted)
        .unwrap_or_else(|error| panic!("the whole read accepts it, the narrowed one says {error}"));
    assert_eq!(
        narrowed.graph.len() + narrowed.graph.undecoded().len(),
        whole.graph.len(),
        "the narrowed read does not account for every node"
    );
    for id in whole.graph.reachable_backwards([target]) {
        assert_same_node(&whole.graph, id, &narrowed.graph);
    }
    Ok(())
}

/// `id` of `whole` is in `narrowed` with the same op, attrs, device and inputs.
fn assert_same_node(whole: &Graph, id: servegraph::ir::NodeId, narrowed: &Graph) {
    let name = whole.name(id);
    let Some(other) = narrowed.find(name) else {
        panic!("the narrowed read left out {name:?}, which the wanted tensor needs");
    };
    let (a, b) = (whole.node(id), narrowed.node(other));
    assert_eq!(
        (&a.op, &a.device, &a.attrs, &a.debug_info, &a.full_type),
        (&b.op, &b.device, &b.attrs, &b.debug_info, &b.full_type),
        "node {name:?} differs"
    );
    let inputs = |graph: &Graph, id| -> (Vec<String>, Vec<String>) {
        let data = graph
            .data_inputs(id)
            .into_iter()
            .map(|t| graph.tensor_name(t));
        let control = graph.control_inputs(id).into_iter();
        (
            data.collect(),
            control.map(|c| graph.name(c).to_string()).collect(),
        )
    };
    assert_eq!(
        inputs(whole, id),
        inputs(narrowed, other),
        "node {name:?} has other inputs"
    );
}

// ---------------------------------------------------------------------------
// Seeds: valid inputs for every target, made from the fixtures.

/// The fuzz targets, by name.
pub const TARGETS: [&str; 10] = [
    "graph_round_trip",
    "text_format",
    "index_table",
    "bundle",
    "export_pipeline",
    "narrowed_read",
    "warmup_json",
    "tf2_lean_plan",
    "transform_spec",
    "saved_model_dir",
];

/// One seed input for one target.
#[derive(Debug, Clone)]
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Seeds for every target from every fixture under `fixtures` that has a
/// `fixture.json`.
pub fn seeds(fixtures: &Path) -> std::io::Result<Vec<Seed>> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("fixture.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in &names {
        let fixture = Fixture::load(fixtures, name)?;
        out.extend(fixture_seeds(&fixture)?);
    }
    out.extend(warmup_json::seeds());
    out.extend(newer_surfaces::seeds()?);
    Ok(out)
}

fn fixture_seeds(fixture: &Fixture) -> std::io::Result<Vec<Seed>> {
    let seed = |target, kind: &str, bytes| Seed {
        target,
        name: format!("{}-{kind}", fixture.name),
        bytes,
    };
    let file = |suffix: &str| {
        fixture
            .file(&format!("{}{suffix}", fixture.prefix))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| invalid(format!("{}: no {suffix} file", fixture.name)))
    };
    let meta_bytes = file(".meta")?;
    let index = file(".index")?;
    let meta = MetaGraphDef::decode(meta_bytes.as_slice()).map_err(|e| invalid(e.to_string()))?;
    let graph_def = meta.graph_def.clone().unwrap_or_default();
    let text = |name: &str, message: &dyn Fn() -> Result<String, TextError>| {
        message().map_err(|e| invalid(format!("{}: {name}: {e}", fixture.name)))
    };
    let graph_text = text("GraphDef", &|| {
        servegraph::text::to_text("tensorflow.GraphDef", &graph_def)
    })?;
    let meta_text = text("MetaGraphDef", &|| {
        servegraph::text::to_text("tensorflow.MetaGraphDef", &meta)
    })?;
    let state = fixture.file("checkpoint").unwrap_or_default().to_vec();
    let mut seeds = vec![
        seed(
            "graph_round_trip",
            "graph",
            prefixed(0, &graph_def.encode_to_vec()),
        ),
        seed("graph_round_trip", "meta", prefixed(1, &meta_bytes)),
        seed(
            "narrowed_read",
            "graph",
            prefixed(0, &graph_def.encode_to_vec()),
        ),
        seed("narrowed_read", "meta", prefixed(1, &meta_bytes)),
        seed("narrowed_read", "meta-middle", prefixed(129, &meta_bytes)),
        seed("narrowed_read", "meta-end", prefixed(255, &meta_bytes)),
        seed("text_format", "graph", prefixed(0, graph_text.as_bytes())),
        seed("text_format", "meta", prefixed(1, meta_text.as_bytes())),
        seed("text_format", "checkpoint", prefixed(2, &state)),
        seed("index_table", "index", index.clone()),
    ];
    let shards = data_shards(fixture);
    let mut parts: Vec<&[u8]> = vec![&index];
    parts.extend(shards.iter().map(Vec::as_slice));
    seeds.push(seed("bundle", "bundle", join_segments(&parts)));
    if EXPORT_FIXTURES.contains(&fixture.name.as_str()) {
        seeds.extend(export_seeds(fixture));
    }
    Ok(seeds)
}

/// The fixture's data shards in shard order.
fn data_shards(fixture: &Fixture) -> Vec<Vec<u8>> {
    let marker = format!("{}.data-", fixture.prefix);
    fixture
        .files
        .iter()
        .filter(|(name, _)| name.starts_with(&marker))
        .map(|(_, bytes)| bytes.clone())
        .collect()
}

/// One seed per replaceable file: the file's own bytes, so the export succeeds.
fn export_seeds(fixture: &Fixture) -> Vec<Seed> {
    let position = EXPORT_FIXTURES
        .iter()
        .position(|name| *name == fixture.name)
        .unwrap_or(0) as u8;
    (0..REPLACEABLE.len() as u8)
        .filter_map(|kind| {
            let select = position | (kind << 1);
            let file = fixture.replaceable_file(kind);
            Some(Seed {
                target: "export_pipeline",
                name: format!("{}-{}", fixture.name, REPLACEABLE[usize::from(kind)]),
                bytes: prefixed(select, fixture.file(&file)?),
            })
        })
        .collect()
}

fn prefixed(select: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(select);
    out.extend_from_slice(bytes);
    out
}

/// Runs `data` through the harness of `target`. `fixtures` are the export
/// fixtures (see [`export_fixtures`]).
pub fn run(target: &str, fixtures: &[Fixture], data: &[u8]) -> Result<(), Rejected> {
    match target {
        "graph_round_trip" => graph_round_trip(data),
        "text_format" => text_format(data),
        "index_table" => index_table(data),
        "bundle" => bundle(data),
        "export_pipeline" => export_pipeline(fixtures, data),
        "narrowed_read" => narrowed_read(data),
        "warmup_json" => warmup_json(data),
        "tf2_lean_plan" => tf2_lean_plan(data),
        "transform_spec" => transform_spec(data),
        "saved_model_dir" => saved_model_dir(data),
        other => panic!("no fuzz target named {other:?}; targets: {TARGETS:?}"),
    }
}
