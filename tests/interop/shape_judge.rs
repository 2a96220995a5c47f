//! Our shape inference judged by TensorFlow's own, tensor by tensor: every
//! fixture (`testdata/fixtures`, `testdata/batch_fixtures`,
//! `testdata/slim_fixtures`) exported, its
//! graph imported by TensorFlow in TF1 graph mode (`shape_dump.py`: each
//! tensor's static shape and dtype as TensorFlow's shape functions give
//! them), and our inference run on the same exported graph read back, the
//! signature inputs' first dimension the batch.
//!
//! Where TensorFlow knows a size, ours must be that size, the batch (a
//! dimension that follows the serving batch; TensorFlow says the size the
//! graph's baked batch gives it) or unknown (a miss); where we know a size
//! TensorFlow must not know another; ranks and dtypes must agree where both
//! know them. Zero disagreements, and at least [`COVERAGE_BAR`] of the
//! sizes TensorFlow knows known by us.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use servegraph::ir::TensorRef;
use servegraph::ops::OpSignatures;
use servegraph::ops::shapes::{Dim, Fact, Inference, Shape, infer};
use servegraph::proto::tensor_info::Encoding;
use servegraph::proto::{DataType, SavedModel};
use servegraph::read::read_model;

use crate::common;

/// The share of the dimension sizes TensorFlow knows that we must know too.
const COVERAGE_BAR: f64 = 0.99;

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for set in ["fixtures", "batch_fixtures", "slim_fixtures"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(common::testdata(set))
            .expect("a fixture set")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("fixture.json").is_file())
            .collect();
        names.sort();
        dirs.extend(names);
    }
    dirs
}

/// The export options a fixture asks for: its inputs and outputs. The
/// batch fixtures that serve only their training batch are exported for
/// it (the judge compares shapes, not batches).
fn options(dir: &Path) -> servegraph::ExportOptions {
    let mut options = common::fixture_dir_options(dir);
    options.serving.fixed_batch = true;
    options
}

/// Our inference over the exported model at `export`, and its graph's
/// tensors by name.
fn our_inference(
    export: &Path,
    options: &servegraph::ExportOptions,
) -> (Inference, HashMap<String, TensorRef>) {
    let model = read_model(export, None, &options.serving.tags).expect("the export reads back");
    let graph = &model.graph;
    let mut seeds = HashMap::new();
    for (tensor, dtype, shape) in signature_inputs(export, options) {
        let shape = match shape {
            Some(dims) => {
                let mut dims: Vec<Dim> = dims.iter().map(|&d| Dim::of(d)).collect();
                if let Some(first) = dims.first_mut() {
                    *first = Dim::Batch;
                }
                Shape::ranked(&dims)
            }
            None => Shape::Unknown,
        };
        let tensor = graph.tensor(&tensor).expect("input tensor");
        seeds.insert(tensor, Fact::of(dtype, shape));
    }
    let ops = OpSignatures::of(&model);
    let inference = infer(graph, &ops, &seeds).expect("an acyclic graph");
    let mut names = HashMap::new();
    for id in graph.node_ids() {
        let outputs = ops.output_count(graph.node(id)).unwrap_or(1);
        for port in 0..outputs {
            let tensor = TensorRef::new(id, port);
            names.insert(graph.tensor_name(tensor), tensor);
        }
    }
    (inference, names)
}

/// The served signature's inputs as the export wrote them: tensor, dtype
/// and shape (`None`: unknown rank).
type InputInfo = (String, Option<DataType>, Option<Vec<i64>>);

fn signature_inputs(export: &Path, options: &servegraph::ExportOptions) -> Vec<InputInfo> {
    use prost::Message;
    let bytes = std::fs::read(export.join("saved_model.pb")).expect("saved_model.pb");
    let saved = SavedModel::decode(bytes.as_slice()).expect("a SavedModel");
    let meta = saved
        .meta_graphs
        .iter()
        .find(|m| {
            m.meta_info_def
                .as_ref()
                .is_some_and(|i| i.tags == options.serving.tags)
        })
        .expect("the served MetaGraphDef");
    let signature = &meta.signature_def[&options.serving.signature_name];
    signature
        .inputs
        .values()
        .filter_map(|info| {
            let Some(Encoding::Name(name)) = &info.encoding else {
                return None;
            };
            let shape = info
                .tensor_shape
                .as_ref()
                .and_then(|s| (!s.unknown_rank).then(|| s.dim.iter().map(|d| d.size).collect()));
            Some((name.clone(), DataType::try_from(info.dtype).ok(), shape))
        })
        .collect()
}

/// One fixture's comparison.
#[derive(Default)]
struct Tally {
    tensors: usize,
    tf_known: usize,
    we_know: usize,
    batch_for_size: usize,
    beyond_tf: usize,
    disagreements: Vec<String>,
    /// Tensors with a size TensorFlow knows and we do not.
    misses: Vec<String>,
}

impl Tally {
    fn compare(&mut self, name: &str, tf: &serde_json::Value, ours: &Fact) {
        self.tensors += 1;
        if let (Some(tf_dtype), Some(dtype)) = (tf["dtype"].as_i64(), ours.dtype)
            && tf_dtype % 100 != dtype as i64
        {
            self.disagreements
                .push(format!("{name}: dtype {dtype:?}, TensorFlow {tf_dtype}"));
        }
        let Some(tf_dims) = tf["shape"].as_array() else {
            return;
        };
        let tf_dims: Vec<Option<i64>> = tf_dims.iter().map(serde_json::Value::as_i64).collect();
        self.tf_known += tf_dims.iter().filter(|d| d.is_some()).count();
        let Some(dims) = ours.shape.dims() else {
            if tf_dims.iter().any(Option::is_some) {
                self.misses
                    .push(format!("{name}: {}, TensorFlow {tf_dims:?}", ours.shape));
            }
            return;
        };
        if dims.len() != tf_dims.len() {
            self.disagreements
                .push(format!("{name}: {}, TensorFlow {tf_dims:?}", ours.shape));
            return;
        }
        for (d, t) in dims.iter().zip(&tf_dims) {
            match (d, t) {
                (Dim::Known(k), Some(n)) if k == n => self.we_know += 1,
                (Dim::Known(_), Some(_)) => self
                    .disagreements
                    .push(format!("{name}: {}, TensorFlow {tf_dims:?}", ours.shape)),
                (Dim::Known(_), None) => self.beyond_tf += 1,
                (Dim::Batch, Some(_)) => {
                    self.we_know += 1;
                    self.batch_for_size += 1;
                }
                (Dim::Unknown, Some(_)) => self
                    .misses
                    .push(format!("{name}: {}, TensorFlow {tf_dims:?}", ours.shape)),
                _ => {}
            }
        }
    }
}

/// Exports `dir`, has TensorFlow dump the export's shapes and compares ours.
fn judge_fixture(python: &Path, dir: &Path) -> Tally {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let out = tempfile::tempdir().unwrap();
    let export = out.path().join("export");
    let options = options(dir);
    servegraph::export_serving_model(dir, &export, &options)
        .unwrap_or_else(|e| panic!("export of {name} failed: {e}"));
    let tags = options.serving.tags.join(",");
    let dump = common::run_python(
        python,
        "tests/interop/shape_dump.py",
        &[export.as_os_str(), std::ffi::OsStr::new(&tags)],
    );
    let dump: serde_json::Value = serde_json::from_str(&dump).expect("the dump is JSON");
    let (inference, names) = our_inference(&export, &options);
    assert!(
        inference.conflicts.is_empty(),
        "{name}: conflicts in a graph TensorFlow imports: {:?}",
        inference.conflicts
    );
    let mut tally = Tally::default();
    for (tensor, tf) in dump["tensors"].as_object().expect("tensors") {
        let Some(&ours) = names.get(tensor) else {
            tally
                .disagreements
                .push(format!("{tensor}: not in our graph"));
            continue;
        };
        tally.compare(tensor, tf, &inference.fact(ours));
    }
    eprintln!(
        "{name}: {} tensors, {} dims known by TF, {} known by us ({} as the batch), \
         {} sizes only we know, {} disagreements",
        tally.tensors,
        tally.tf_known,
        tally.we_know,
        tally.batch_for_size,
        tally.beyond_tf,
        tally.disagreements.len()
    );
    for line in &tally.disagreements {
        eprintln!("  disagreement: {line}");
    }
    for line in &tally.misses {
        eprintln!("  miss: {line}");
    }
    tally
}

#[test]
fn inferred_shapes_agree_with_tensorflow() {
    let Some(python) = common::tensorflow_python("shape_judge") else {
        return;
    };
    let mut total = Tally::default();
    for dir in fixture_dirs() {
        let tally = judge_fixture(&python, &dir);
        // Every size TensorFlow knows in the TF-Slim nets' graphs, we know.
        if dir.parent() == Some(common::testdata("slim_fixtures").as_path()) {
            assert!(
                tally.misses.is_empty(),
                "{}: {:#?}",
                dir.display(),
                tally.misses
            );
        }
        total.tensors += tally.tensors;
        total.tf_known += tally.tf_known;
        total.we_know += tally.we_know;
        total.batch_for_size += tally.batch_for_size;
        total.beyond_tf += tally.beyond_tf;
        total.disagreements.extend(tally.disagreements);
    }
    let coverage = total.we_know as f64 / total.tf_known.max(1) as f64;
    eprintln!(
        "all fixtures: {} tensors, {} dims known by TF, {} known by us ({:.1}%), \
         {} sizes only we know, {} disagreements",
        total.tensors,
        total.tf_known,
        total.we_know,
        100.0 * coverage,
        total.beyond_tf,
        total.disagreements.len()
    );
    assert!(total.disagreements.is_empty(), "{:#?}", total.disagreements);
    assert!(
        coverage >= COVERAGE_BAR,
        "we know {:.1}% of the sizes TensorFlow knows, under {:.0}%",
        100.0 * coverage,
        100.0 * COVERAGE_BAR
    );
}
