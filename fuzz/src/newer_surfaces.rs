//! Harnesses for the newer surfaces: the TF2 lean re-export
//! (`tf2_lean_plan`), the transform spec and transforms (`transform_spec`),
//! and `validate` / `size` on SavedModel directories (`saved_model_dir`).
//! Each runs the library on a scratch copy of a committed fixture with one
//! part replaced by the fuzzer's bytes.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use prost::Message;
use servegraph::Graph;
use servegraph::error::Error;
use servegraph::ir::{FunctionIndex, functions_in_attrs, node_of};
use servegraph::proto::{
    GraphDef, SavedConcreteFunction, SavedModel, SavedObject, saved_object, tensor_info,
};
use servegraph::transform::TransformOptions;

use super::{Rejected, Seed, io_failure, prefixed, scratch_dir, selector};

/// The TF2 SavedModels the TF2 and directory targets start from.
pub const TF2_FIXTURES: [&str; 3] = ["module_function", "module_table", "keras_subclassed"];

/// The files of a TF2 SavedModel fixture, by path inside it.
const SAVED_MODEL_FILES: [&str; 4] = [
    "saved_model.pb",
    "variables/variables.index",
    "variables/variables.data-00000-of-00001",
    "assets/vocabulary.txt",
];

/// `testdata/`, from the fuzz crate or from the main crate's tests.
fn testdata() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let here = manifest.join("testdata");
    if here.is_dir() {
        here
    } else {
        manifest.join("../testdata")
    }
}

/// A copy of TF2 fixture `name`'s SavedModel in `into`, with the file
/// `replaced` (if any) holding `bytes`.
fn stage_saved_model(
    name: &str,
    into: &Path,
    replaced: Option<(&str, &[u8])>,
) -> std::io::Result<()> {
    let from = testdata().join("tf2").join(name).join("saved_model");
    for file in SAVED_MODEL_FILES {
        let source = from.join(file);
        if !source.is_file() {
            continue;
        }
        let target = into.join(file);
        std::fs::create_dir_all(target.parent().unwrap_or(into))?;
        // Read and write rather than `fs::copy`, whose copy_file_range is
        // not retried when libFuzzer's timer signal interrupts it.
        std::fs::write(target, std::fs::read(source)?)?;
    }
    if let Some((file, bytes)) = replaced {
        let target = into.join(file);
        std::fs::create_dir_all(target.parent().unwrap_or(into))?;
        std::fs::write(target, bytes)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// tf2_lean_plan: a mutated saved_model.pb re-exported lean.

/// Selector % 3 picks the fixture; the rest replaces its `saved_model.pb`.
/// What is accepted must be a SavedModel whose every reference resolves:
/// node inputs, called functions, the object graph's functions and ids,
/// signature tensors.
pub fn tf2_lean_plan(data: &[u8]) -> Result<(), Rejected> {
    let (select, bytes) = selector(data);
    let fixture = TF2_FIXTURES[usize::from(select) % TF2_FIXTURES.len()];
    let scratch = scratch_dir().map_err(io_failure)?;
    let source = scratch.path().join("source");
    stage_saved_model(fixture, &source, Some(("saved_model.pb", bytes))).map_err(io_failure)?;
    let out = scratch.path().join("out");
    servegraph::export_serving_model(&source, &out, &servegraph::ExportOptions::default())?;
    let written =
        std::fs::read(out.join("saved_model.pb")).expect("the export wrote saved_model.pb");
    let saved = SavedModel::decode(written.as_slice()).expect("the export is a SavedModel");
    for meta in &saved.meta_graphs {
        let graph = meta.graph_def.clone().unwrap_or_default();
        assert_graph_references_resolve(&graph);
        let nodes: HashSet<&str> = graph.node.iter().map(|n| n.name.as_str()).collect();
        for (key, signature) in &meta.signature_def {
            for info in signature.inputs.values().chain(signature.outputs.values()) {
                if let Some(tensor_info::Encoding::Name(name)) = &info.encoding {
                    assert!(
                        nodes.contains(node_of(name)),
                        "signature {key:?} names {name:?}"
                    );
                }
            }
        }
        if let Some(objects) = &meta.object_graph_def {
            let library = FunctionIndex::new(graph.library.as_ref());
            assert_objects_resolve(objects, &library);
        }
    }
    Ok(())
}

/// Every node input names a node, every function a node or function calls
/// is defined.
fn assert_graph_references_resolve(graph: &GraphDef) {
    let nodes: HashSet<&str> = graph.node.iter().map(|n| n.name.as_str()).collect();
    let library = FunctionIndex::new(graph.library.as_ref());
    for node in &graph.node {
        for input in &node.input {
            let name = node_of(input.trim_start_matches('^'));
            assert!(
                nodes.contains(name),
                "node {:?} reads missing {input:?}",
                node.name
            );
        }
        for called in functions_in_attrs(node.attr.values()) {
            assert!(
                library.contains(called),
                "node {:?} calls missing {called:?}",
                node.name
            );
        }
    }
    for function in graph.library.iter().flat_map(|l| &l.function) {
        for node in &function.node_def {
            for called in library.called_by_node(node) {
                assert!(
                    library.contains(called),
                    "a function calls missing {called:?}"
                );
            }
        }
    }
}

/// Every id in the object graph is a node; every function it names is defined.
fn assert_objects_resolve(
    objects: &servegraph::proto::SavedObjectGraph,
    library: &FunctionIndex<'_>,
) {
    let count = objects.nodes.len();
    for bytes in &objects.nodes {
        let object = SavedObject::decode(bytes.as_ref()).expect("a kept object decodes");
        for child in &object.children {
            assert!(
                (child.node_id as usize) < count,
                "child id {}",
                child.node_id
            );
        }
        let functions: Vec<&str> = match &object.kind {
            Some(saved_object::Kind::Function(f)) => {
                f.concrete_functions.iter().map(String::as_str).collect()
            }
            Some(saved_object::Kind::BareConcreteFunction(f)) => vec![&f.concrete_function_name],
            _ => Vec::new(),
        };
        for function in functions {
            assert!(
                library.contains(function),
                "object names missing {function:?}"
            );
        }
    }
    for (name, bytes) in &objects.concrete_functions {
        assert!(
            library.contains(name),
            "concrete function {name:?} is not defined"
        );
        let function = SavedConcreteFunction::decode(bytes.as_ref()).expect("decodes");
        for id in function.bound_inputs {
            assert!((id as usize) < count, "{name:?} binds id {id}");
        }
    }
}

// ---------------------------------------------------------------------------
// transform_spec: a spec and a graph, both mutated.

/// Two segments: the `--transforms` text and a binary GraphDef. What is
/// accepted must write a GraphDef that reads back into the IR (every input
/// resolves, names are unique) with no more nodes than it had.
pub fn transform_spec(data: &[u8]) -> Result<(), Rejected> {
    let parts = super::segments(data);
    let (Some(spec), Some(graph)) = (parts.first(), parts.get(1)) else {
        return Err(Rejected::Framing("a spec and a graph segment"));
    };
    let Ok(spec) = std::str::from_utf8(spec) else {
        return Err(Rejected::Framing("a UTF-8 spec"));
    };
    let scratch = scratch_dir().map_err(io_failure)?;
    let input = scratch.path().join("graph.pb");
    std::fs::write(&input, graph).map_err(io_failure)?;
    let output = scratch.path().join("out.pb");
    let options = TransformOptions {
        transforms: spec.to_string(),
        ..TransformOptions::default()
    };
    let report =
        servegraph::transform::transform(&input, &output, &options).map_err(Rejected::Export)?;
    assert_eq!(
        std::fs::read(&input).ok().as_deref(),
        Some(*graph),
        "the input changed"
    );
    let written = std::fs::read(&output).expect("the transform wrote its output");
    let graph_def = GraphDef::decode(written.as_slice()).expect("the output is a GraphDef");
    assert_eq!(graph_def.node.len(), report.nodes_after);
    let names: BTreeSet<&str> = graph_def.node.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names.len(), graph_def.node.len(), "duplicate names written");
    Graph::from_graph_def(graph_def).expect("the written graph reads back");
    Ok(())
}

// ---------------------------------------------------------------------------
// saved_model_dir: validate and size on a mutated SavedModel directory.

/// Selector % 3 picks the fixture, selector / 3 % 4 the file the rest
/// replaces. `validate` must report (or refuse with a typed error) and
/// `size` must measure (or refuse); neither may change a byte of the
/// directory, and a size must count at least the bytes written.
pub fn saved_model_dir(data: &[u8]) -> Result<(), Rejected> {
    let (select, bytes) = selector(data);
    let fixture = TF2_FIXTURES[usize::from(select) % TF2_FIXTURES.len()];
    let file =
        SAVED_MODEL_FILES[usize::from(select) / TF2_FIXTURES.len() % SAVED_MODEL_FILES.len()];
    let scratch = scratch_dir().map_err(io_failure)?;
    let dir = scratch.path().join("model");
    stage_saved_model(fixture, &dir, Some((file, bytes))).map_err(io_failure)?;
    let validated = servegraph::validate::validate_saved_model(&dir, &[]);
    let sized = servegraph::size::measure_dir(&dir);
    assert_eq!(
        std::fs::read(dir.join(file)).ok().as_deref(),
        Some(bytes),
        "{file} changed"
    );
    if let Ok(report) = &sized {
        assert!(report.total_bytes >= bytes.len() as u64, "size undercounts");
    }
    validated.map_err(Rejected::Export)?;
    sized.map_err(|e| Rejected::Export(Error::Size(e)))?;
    Ok(())
}

/// Seeds: each fixture's own `saved_model.pb` (tf2_lean_plan and
/// saved_model_dir), and a spec with tiny_mlp's graph (transform_spec).
pub fn seeds() -> std::io::Result<Vec<Seed>> {
    let mut seeds = Vec::new();
    for (index, name) in TF2_FIXTURES.iter().enumerate() {
        let path = testdata()
            .join("tf2")
            .join(name)
            .join("saved_model/saved_model.pb");
        let bytes = std::fs::read(path)?;
        seeds.push(Seed {
            target: "tf2_lean_plan",
            name: name.to_string(),
            bytes: prefixed(index as u8, &bytes),
        });
        seeds.push(Seed {
            target: "saved_model_dir",
            name: name.to_string(),
            bytes: prefixed(index as u8, &bytes),
        });
    }
    let meta = std::fs::read(testdata().join("fixtures/tiny_mlp/model.ckpt-5.meta"))?;
    let meta = servegraph::proto::MetaGraphDef::decode(meta.as_slice())
        .map_err(|e| super::invalid(e.to_string()))?;
    let graph = meta.graph_def.unwrap_or_default().encode_to_vec();
    for (name, spec) in [
        ("remove", "remove_nodes(op=Identity)"),
        ("sort", "sort_by_execution_order remove_device"),
    ] {
        seeds.push(Seed {
            target: "transform_spec",
            name: name.to_string(),
            bytes: super::join_segments(&[spec.as_bytes(), &graph]),
        });
    }
    Ok(seeds)
}
