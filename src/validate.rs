//! `servegraph validate`: checks that a SavedModel will load and serve,
//! without TensorFlow — the tag set and signatures exist and name real
//! tensors, the restore op and filename tensor exist, every tensor the
//! restore subgraph reads is in `variables/` with the dtype it expects,
//! assets are present, the graph is well formed and holds no training-only
//! op outside its saver, and each classify, regress and predict signature
//! is one TensorFlow Serving accepts. Also the model's size against
//! deployment limits.

use std::path::Path;

use serde::Serialize;

use crate::bundle::BundleReader;
use crate::error::messages;
use crate::export::{MLS1_LIMIT_BYTES, N1_LIMIT_BYTES};
use crate::ir::{AttrExt, Graph};
use crate::model::method_rules::check_method_rules;
use crate::model::{Signature, TensorSpec};
use crate::passes::training_ops::training_category;
use crate::proto::tensor_info::Encoding;
use crate::proto::{DataType, MetaGraphDef, SaverDef, SignatureDef, TensorInfo};

/// The outcome of a validation: problems found, and facts worth knowing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Validation {
    pub path: String,
    pub problems: Vec<String>,
    pub meta_graphs: usize,
    pub signatures: Vec<String>,
    pub variables: usize,
    pub total_bytes: u64,
    pub fits_mls1: bool,
    pub fits_n1: bool,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

fn dir_bytes(path: &Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    dir_bytes(&p)
                } else {
                    e.metadata().map_or(0, |m| m.len())
                }
            })
            .sum(),
        Err(_) => 0,
    }
}

/// Validates the SavedModel in `dir`, for the MetaGraphDef with `tags` (default `serve`).
pub fn validate_saved_model(
    dir: impl AsRef<Path>,
    tags: &[String],
) -> Result<Validation, crate::Error> {
    let dir = dir.as_ref();
    let (meta, variables) = crate::read::read_saved_model(dir, tags)?;
    let mut v = Validation {
        path: dir.display().to_string(),
        meta_graphs: 1,
        ..Validation::default()
    };
    if meta.object_graph_def.is_some() {
        v.problems.push(
            "the MetaGraphDef has an object graph: TF2 loaders take the object-graph path".into(),
        );
    }
    // A graph that does not even load stops the checks that walk it.
    if let Some(graph) = load_graph(&meta, &mut v.problems) {
        check_signatures(&graph, &meta, &mut v.problems);
        check_methods(&meta, &mut v.problems);
        check_training_ops(&graph, meta.saver_def.as_ref(), &mut v.problems);
        check_saver(&graph, &meta, variables.as_deref(), &mut v);
        check_assets(dir, &meta, &mut v.problems);
        v.signatures = meta.signature_def.keys().cloned().collect();
        measure_size(dir, &mut v);
    }
    Ok(v)
}

/// The IR of the MetaGraphDef's graph, or `None` with the problem noted
/// when it does not load; a graph that loads but breaks an IR invariant is
/// a problem too, and still checked further.
fn load_graph(meta: &MetaGraphDef, problems: &mut Vec<String>) -> Option<Graph> {
    let graph = Graph::from_graph_def(meta.graph_def.clone().unwrap_or_default());
    let graph = graph
        .map_err(|e| problems.push(format!("graph: {e}")))
        .ok()?;
    if let Err(e) = graph.validate() {
        problems.push(format!("graph: {e}"));
    }
    Some(graph)
}

/// Every tensor a signature names exists in the graph.
fn check_signatures(graph: &Graph, meta: &MetaGraphDef, problems: &mut Vec<String>) {
    for (key, signature) in &meta.signature_def {
        for (direction, infos) in [("input", &signature.inputs), ("output", &signature.outputs)] {
            for (name, info) in infos {
                if let Some(Encoding::Name(tensor)) = &info.encoding
                    && graph.tensor(tensor).is_err()
                {
                    problems.push(format!(
                        "signature {key:?} {direction} {name:?} names missing tensor {tensor:?}"
                    ));
                }
            }
        }
    }
}

/// Each classify, regress and predict signature is one its TensorFlow
/// Serving API accepts (see [`crate::model::method_rules`]).
fn check_methods(meta: &MetaGraphDef, problems: &mut Vec<String>) {
    for (key, def) in &meta.signature_def {
        let signature = model_signature(def);
        problems.extend(
            check_method_rules(key, &signature)
                .iter()
                .map(ToString::to_string),
        );
    }
}

/// A SignatureDef as the model layer holds it: tensor names, dtypes and
/// shapes (a sparse or composite tensor keeps only its dtype and shape).
fn model_signature(def: &SignatureDef) -> Signature {
    let tensors = |infos: &std::collections::BTreeMap<String, TensorInfo>| {
        infos
            .iter()
            .map(|(key, info)| {
                let name = match &info.encoding {
                    Some(Encoding::Name(name)) => name.clone(),
                    _ => String::new(),
                };
                let spec = TensorSpec {
                    name,
                    dtype: DataType::try_from(info.dtype).unwrap_or(DataType::DtInvalid),
                    shape: info.tensor_shape.as_ref().and_then(crate::typing::dims),
                };
                (key.clone(), spec)
            })
            .collect()
    };
    Signature {
        method_name: def.method_name.clone(),
        inputs: tensors(&def.inputs),
        outputs: tensors(&def.outputs),
    }
}

/// No training-only op outside the saver's own scope (the saver's
/// `SaveV2`/`RestoreV2` are what serving restores variables with).
fn check_training_ops(graph: &Graph, saver: Option<&SaverDef>, problems: &mut Vec<String>) {
    let saver_scope = saver.map(|s| {
        let scope = s.restore_op_name.split('/').next().unwrap_or("");
        format!("{scope}/")
    });
    for id in graph.node_ids() {
        let name = graph.name(id);
        let in_saver = saver_scope
            .as_ref()
            .is_some_and(|scope| name.starts_with(scope));
        if let (false, Some(category)) = (in_saver, training_category(graph.op(id))) {
            problems.push(format!(
                "training-only node {name:?} ({}, {category})",
                graph.op(id)
            ));
        }
    }
}

/// A saver and variables come together: the saver's tensors exist and every
/// key its restore op reads is in the bundle with the dtype it expects.
fn check_saver(graph: &Graph, meta: &MetaGraphDef, variables: Option<&Path>, v: &mut Validation) {
    let problems = &mut v.problems;
    match (&meta.saver_def, variables) {
        (Some(saver), Some(prefix)) => {
            for tensor in [&saver.filename_tensor_name, &saver.restore_op_name] {
                if graph.tensor(tensor).is_err() {
                    problems.push(format!("saver_def names missing {tensor:?}"));
                }
            }
            match BundleReader::open(prefix) {
                Ok(reader) => {
                    v.variables = reader.names().len();
                    check_restore(graph, &reader, problems);
                }
                Err(e) => problems.push(format!("variables: {}", messages(&e).join(": "))),
            }
        }
        (Some(_), None) => {
            problems.push("saver_def present but variables/variables.index is missing".into())
        }
        (None, Some(_)) => {
            problems.push("variables/ present but no saver_def restores them".into())
        }
        (None, None) => {}
    }
}

/// The loader's own rule: every declared asset is a plain name whose file
/// lies inside `assets/` (the field and the old collection alike).
fn check_assets(dir: &Path, meta: &MetaGraphDef, problems: &mut Vec<String>) {
    if let Err(e) = crate::read::saved_model_assets(dir, &dir.join("saved_model.pb"), meta) {
        problems.push(format!("assets: {}", messages(&e).join(": ")));
    }
}

/// The directory's size against the deployment limits.
fn measure_size(dir: &Path, v: &mut Validation) {
    v.total_bytes = dir_bytes(dir);
    v.fits_mls1 = v.total_bytes <= MLS1_LIMIT_BYTES;
    v.fits_n1 = v.total_bytes <= N1_LIMIT_BYTES;
}

/// Every key RestoreV2 asks for exists with the dtype it expects.
fn check_restore(graph: &Graph, reader: &BundleReader, problems: &mut Vec<String>) {
    for id in graph.node_ids() {
        if graph.op(id) != "RestoreV2" {
            continue;
        }
        let node = graph.node(id);
        let dtypes = node.attr_list_type("dtypes").unwrap_or_default();
        let names = graph
            .data_input(id, 1)
            .and_then(|t| {
                graph
                    .node(t.node)
                    .attr_tensor("value")
                    .ok()
                    .map(|v| v.string_val.clone())
            })
            .unwrap_or_default();
        for (i, key) in names.iter().enumerate() {
            let key = String::from_utf8_lossy(key);
            match reader.dtype_and_shape(&key) {
                Ok((dtype, _)) if dtypes.get(i) == Some(&dtype) => {}
                Ok((dtype, _)) => problems.push(format!(
                    "{:?} restores {key:?} as {:?} but it is stored as {dtype:?}",
                    node.name(),
                    dtypes.get(i)
                )),
                Err(e) => problems.push(format!(
                    "{:?} restores {key:?}: {}",
                    node.name(),
                    messages(&e).join(": ")
                )),
            }
        }
    }
}

impl std::fmt::Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.is_valid() { "valid" } else { "INVALID" };
        writeln!(f, "{}: {verdict}", self.path)?;
        writeln!(f, "  signatures: {}", self.signatures.join(", "))?;
        writeln!(f, "  variables: {}", self.variables)?;
        let fits = |ok: bool| if ok { "fits" } else { "EXCEEDS" };
        writeln!(
            f,
            "  size: {} ({} 500 MB MLS1, {} 10 GB N1)",
            crate::inspect::format_bytes(self.total_bytes),
            fits(self.fits_mls1),
            fits(self.fits_n1)
        )?;
        for problem in &self.problems {
            writeln!(f, "  problem: {problem}")?;
        }
        Ok(())
    }
}
