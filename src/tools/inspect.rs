//! What `servegraph show` prints: a summary of a graph, a checkpoint or a
//! SavedModel — nodes, an op histogram, variables with dtype, shape and bytes,
//! signatures — as text for people or JSON for tools.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::format::proto::{GraphDef, MetaGraphDef, SignatureDef, TensorShapeProto, tensor_info};
use crate::typing::dtype_name;

/// A summary of one graph.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GraphSummary {
    pub nodes: usize,
    pub functions: usize,
    pub producer: i32,
    /// Op type → how many nodes use it, most used first in text output.
    pub ops: BTreeMap<String, usize>,
}

impl GraphSummary {
    pub fn of(graph: &GraphDef) -> GraphSummary {
        let mut ops = BTreeMap::new();
        for node in &graph.node {
            *ops.entry(node.op.clone()).or_insert(0) += 1;
        }
        GraphSummary {
            nodes: graph.node.len(),
            functions: graph.library.as_ref().map_or(0, |l| l.function.len()),
            producer: graph.versions.as_ref().map_or(0, |v| v.producer),
            ops,
        }
    }
}

/// One tensor of a signature.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignatureTensor {
    pub name: String,
    pub dtype: String,
    /// `None` for an unknown rank; `-1` for an unknown dimension.
    pub shape: Option<Vec<i64>>,
}

/// One signature of a MetaGraphDef.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignatureSummary {
    pub method_name: String,
    pub inputs: BTreeMap<String, SignatureTensor>,
    pub outputs: BTreeMap<String, SignatureTensor>,
}

impl SignatureSummary {
    pub fn of(signature: &SignatureDef) -> SignatureSummary {
        let tensors = |map: &BTreeMap<String, crate::format::proto::TensorInfo>| {
            map.iter()
                .map(|(key, info)| {
                    let name = match &info.encoding {
                        Some(tensor_info::Encoding::Name(name)) => name.clone(),
                        Some(tensor_info::Encoding::CooSparse(sparse)) => {
                            format!("sparse({})", sparse.values_tensor_name)
                        }
                        Some(tensor_info::Encoding::CompositeTensor(_)) => "composite".into(),
                        None => String::new(),
                    };
                    let tensor = SignatureTensor {
                        name,
                        dtype: dtype_name(info.dtype),
                        shape: info.tensor_shape.as_ref().and_then(shape_dims),
                    };
                    (key.clone(), tensor)
                })
                .collect()
        };
        SignatureSummary {
            method_name: signature.method_name.clone(),
            inputs: tensors(&signature.inputs),
            outputs: tensors(&signature.outputs),
        }
    }
}

/// A summary of one MetaGraphDef.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetaGraphSummary {
    pub tags: Vec<String>,
    pub graph: GraphSummary,
    pub signatures: BTreeMap<String, SignatureSummary>,
    pub collections: Vec<String>,
    pub assets: Vec<String>,
    pub has_saver: bool,
    pub tensorflow_version: String,
}

impl MetaGraphSummary {
    pub fn of(meta: &MetaGraphDef) -> MetaGraphSummary {
        let info = meta.meta_info_def.clone().unwrap_or_default();
        MetaGraphSummary {
            tags: info.tags,
            graph: meta
                .graph_def
                .as_ref()
                .map(GraphSummary::of)
                .unwrap_or_default(),
            signatures: meta
                .signature_def
                .iter()
                .map(|(k, v)| (k.clone(), SignatureSummary::of(v)))
                .collect(),
            collections: meta.collection_def.keys().cloned().collect(),
            assets: meta
                .asset_file_def
                .iter()
                .map(|a| a.filename.clone())
                .collect(),
            has_saver: meta.saver_def.is_some(),
            tensorflow_version: info.tensorflow_version,
        }
    }
}

/// One variable (or any tensor) stored in a checkpoint.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VariableSummary {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<i64>,
    pub bytes: u64,
    /// Number of stored slices for a partitioned variable, 0 otherwise.
    pub slices: usize,
    /// For a variable stored as int8: the keys of its float32 scales, which
    /// `bytes` includes (they are not listed as variables of their own).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub int8_scales: Vec<String>,
    /// In an object-based checkpoint, the path of the object saving it
    /// (`model/layer_with_weights-0/kernel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_path: Option<String>,
    /// In an object-based checkpoint, the variable's name in the graph that saved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

/// What `show` reports for any kind of input.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// `graph`, `checkpoint` or `saved_model`.
    pub kind: String,
    pub path: String,
    pub meta_graphs: Vec<MetaGraphSummary>,
    /// Set for a bare GraphDef.
    pub graph: Option<GraphSummary>,
    pub variables: Vec<VariableSummary>,
    pub total_variable_bytes: u64,
    /// The tensors stored in the bundle for the variables: each variable's
    /// and its int8 scales' (a TF2 object graph is not counted).
    pub stored_tensors: usize,
    /// The bytes of a TF2 checkpoint's object graph entry, which names its
    /// objects (not a variable: not in `variables`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_graph_bytes: Option<u64>,
}

fn shape_dims(shape: &TensorShapeProto) -> Option<Vec<i64>> {
    (!shape.unknown_rank).then(|| shape.dim.iter().map(|d| d.size).collect())
}

fn format_shape(shape: &Option<Vec<i64>>) -> String {
    match shape {
        None => "<unknown rank>".into(),
        Some(dims) => {
            let dims: Vec<String> = dims
                .iter()
                .map(|&d| {
                    if d < 0 {
                        "?".to_string()
                    } else {
                        d.to_string()
                    }
                })
                .collect();
            format!("[{}]", dims.join(", "))
        }
    }
}

/// Human-readable byte counts: `1.5 MB` (with the other units of byte counts).
pub use crate::format::units::format_bytes;

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.kind, self.path)?;
        if let Some(graph) = &self.graph {
            write_graph(f, graph, "")?;
        }
        for meta in &self.meta_graphs {
            write_meta_graph(f, meta)?;
        }
        if !self.variables.is_empty() {
            let count = self.variables.len();
            let bytes = format_bytes(self.total_variable_bytes);
            let scaled = self.variables.iter().filter(|v| !v.int8_scales.is_empty());
            match scaled.count() {
                0 => writeln!(f, "variables: {count} tensors, {bytes}")?,
                n => writeln!(
                    f,
                    "variables: {count} tensors, {bytes} ({n} int8 with their scales; {} stored tensors)",
                    self.stored_tensors
                )?,
            }
            for v in &self.variables {
                write_variable(f, v)?;
            }
        }
        if let Some(bytes) = self.object_graph_bytes {
            let bytes = format_bytes(bytes);
            writeln!(f, "object graph: {bytes} (names the checkpoint's objects)")?;
        }
        Ok(())
    }
}

fn write_meta_graph(f: &mut fmt::Formatter<'_>, meta: &MetaGraphSummary) -> fmt::Result {
    writeln!(f, "MetaGraphDef with tags [{}]", meta.tags.join(", "))?;
    write_graph(f, &meta.graph, "  ")?;
    for (key, signature) in &meta.signatures {
        write_signature(f, key, signature)?;
    }
    if !meta.assets.is_empty() {
        writeln!(f, "  assets: {}", meta.assets.join(", "))?;
    }
    if !meta.collections.is_empty() {
        writeln!(f, "  collections: {}", meta.collections.join(", "))?;
    }
    Ok(())
}

fn write_signature(
    f: &mut fmt::Formatter<'_>,
    key: &str,
    signature: &SignatureSummary,
) -> fmt::Result {
    writeln!(f, "  signature {key:?} method {:?}", signature.method_name)?;
    for (direction, tensors) in [("input", &signature.inputs), ("output", &signature.outputs)] {
        for (name, t) in tensors {
            let shape = format_shape(&t.shape);
            writeln!(
                f,
                "    {direction} {name:?}: {} {} {shape}",
                t.name, t.dtype
            )?;
        }
    }
    Ok(())
}

fn write_variable(f: &mut fmt::Formatter<'_>, v: &VariableSummary) -> fmt::Result {
    let shape = format_shape(&Some(v.shape.clone()));
    let scales = if v.int8_scales.is_empty() {
        ""
    } else {
        " + scales"
    };
    write!(
        f,
        "  {} {}{scales} {shape} {}",
        v.name,
        v.dtype,
        format_bytes(v.bytes)
    )?;
    if v.slices > 0 {
        write!(f, " ({} slices)", v.slices)?;
    }
    match (&v.object_path, &v.full_name) {
        (Some(path), Some(name)) => write!(f, " (object {path}, name {name})")?,
        (Some(path), None) => write!(f, " (object {path})")?,
        _ => {}
    }
    writeln!(f)
}

fn write_graph(f: &mut fmt::Formatter<'_>, graph: &GraphSummary, indent: &str) -> fmt::Result {
    writeln!(
        f,
        "{indent}graph: {} nodes, {} functions, producer {}",
        graph.nodes, graph.functions, graph.producer
    )?;
    let mut ops: Vec<(&String, &usize)> = graph.ops.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let listed: Vec<String> = ops.iter().map(|(op, n)| format!("{op} {n}")).collect();
    writeln!(f, "{indent}ops: {}", listed.join(", "))
}

/// Summarizes whatever `path` is: a GraphDef, a checkpoint or a SavedModel.
pub fn summarize(
    path: impl AsRef<std::path::Path>,
    tags: &[String],
) -> Result<Summary, crate::Error> {
    let path = path.as_ref();
    use crate::front::read::Source;
    if let Some(prefix) = bare_bundle(path) {
        return summarize_bundle(path, &prefix);
    }
    let (source, metas, graph) = crate::front::read::read_any_meta(path, tags)?;
    let (kind, variables_prefix) = match &source {
        Source::GraphDef { .. } => ("graph", None),
        Source::Checkpoint { prefix, .. } => ("checkpoint", Some(prefix.clone())),
        Source::SavedModel { dir } => {
            let prefix = dir.join("variables").join("variables");
            (
                "saved_model",
                crate::format::bundle::index_path(&prefix)
                    .is_file()
                    .then_some(prefix),
            )
        }
    };
    let bundle = match variables_prefix {
        Some(prefix) => bundle_summary(&prefix)?,
        None => BundleSummary::default(),
    };
    Ok(Summary {
        kind: kind.into(),
        path: path.display().to_string(),
        meta_graphs: metas.iter().map(MetaGraphSummary::of).collect(),
        graph: graph.as_ref().map(GraphSummary::of),
        total_variable_bytes: bundle.variables.iter().map(|v| v.bytes).sum(),
        stored_tensors: bundle.stored_tensors,
        object_graph_bytes: bundle.object_graph_bytes,
        variables: bundle.variables,
    })
}

/// The prefix `path` names when it is a bundle without a `.meta` (an
/// object-based `tf.train.Checkpoint`, or a directory whose state file names
/// one).
fn bare_bundle(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let prefix = crate::front::read::checkpoint_prefix(path).ok()?;
    let mut meta = prefix.clone().into_os_string();
    meta.push(".meta");
    let index = crate::format::bundle::index_path(&prefix);
    (index.is_file() && !std::path::Path::new(&meta).is_file()).then_some(prefix)
}

/// A checkpoint with no graph: its tensors only.
fn summarize_bundle(
    path: &std::path::Path,
    prefix: &std::path::Path,
) -> Result<Summary, crate::Error> {
    let bundle = bundle_summary(prefix)?;
    Ok(Summary {
        kind: "checkpoint".into(),
        path: path.display().to_string(),
        meta_graphs: Vec::new(),
        graph: None,
        total_variable_bytes: bundle.variables.iter().map(|v| v.bytes).sum(),
        stored_tensors: bundle.stored_tensors,
        object_graph_bytes: bundle.object_graph_bytes,
        variables: bundle.variables,
    })
}

/// A bundle's variables, its tensor count and its object graph's bytes.
#[derive(Default)]
struct BundleSummary {
    variables: Vec<VariableSummary>,
    stored_tensors: usize,
    object_graph_bytes: Option<u64>,
}

/// Every variable of the bundle at `prefix` (an int8 one with its scales,
/// [`crate::format::bundle::variables`]); in an object-based checkpoint,
/// with the object saving it and its name.
fn bundle_summary(prefix: &std::path::Path) -> Result<BundleSummary, crate::Error> {
    let reader = crate::format::bundle::BundleReader::open(prefix)?;
    let objects = crate::front::object_graph::ObjectGraph::read(&reader)?
        .map(|graph| graph.variables_by_key())
        .unwrap_or_default();
    let found = crate::format::bundle::variables::variables(reader.entries());
    let variables = found
        .variables
        .into_iter()
        .map(|v| {
            let bytes = v.bytes();
            let e = v.tensor;
            let object = objects.get(&e.name);
            VariableSummary {
                object_path: object.and_then(|o| o.path.clone()),
                full_name: object
                    .map(|o| o.full_name.clone())
                    .filter(|n| !n.is_empty()),
                name: e.name,
                dtype: dtype_name(e.dtype as i32),
                shape: e.shape,
                bytes,
                slices: e.slices,
                int8_scales: v.scales.into_iter().map(|s| s.name).collect(),
            }
        })
        .collect();
    Ok(BundleSummary {
        variables,
        stored_tensors: found.stored_tensors,
        object_graph_bytes: found.object_graph.map(|e| e.bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::NodeDef;

    #[test]
    fn counts_ops() {
        let node = |name: &str, op: &str| NodeDef {
            name: name.into(),
            op: op.into(),
            ..Default::default()
        };
        let graph = GraphDef {
            node: vec![node("a", "Const"), node("b", "Const"), node("c", "Add")],
            ..Default::default()
        };
        let summary = GraphSummary::of(&graph);
        assert_eq!(summary.nodes, 3);
        assert_eq!(summary.ops["Const"], 2);
    }

    #[test]
    fn formats_bytes_in_decimal_units() {
        assert_eq!(format_bytes(1_500_000), "1.5 MB");
    }
}
