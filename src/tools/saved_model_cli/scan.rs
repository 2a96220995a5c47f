//! `scan`: saved_model_cli's denylisted-op check (`ReadFile`, `WriteFile`,
//! `PrintV2` among the ops it counts), then servegraph's own findings on
//! further lines: Python function ops, which TensorFlow Serving cannot run,
//! and training-only ops, in the graph or any library function. Ops on the
//! denylist are reported once, there. Savers (a name scope holding a save
//! or restore op, the MetaGraphDef's saver, and every function they call or
//! that saves or restores) are what serving restores variables with, so
//! their ops are not training-only here.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::path::Path;

use serde::Serialize;

use crate::format::proto::{GraphDef, MetaGraphDef, NodeDef, SaverDef};
use crate::ops::training::training_category;

use super::ops::ops_used;
use super::python::{str_list_repr, str_set_repr};
use super::{SavedModelCliError, find_meta_graph, read_meta_graphs, tags_of};
use crate::ir::{FunctionIndex, Gradients};

/// saved_model_cli's default denylist.
pub const DEFAULT_DENYLIST: [&str; 3] = ["PrintV2", "ReadFile", "WriteFile"];

/// Ops that call back into Python: they need the Python process that built
/// the graph, which TensorFlow Serving does not have.
pub const PYTHON_OPS: [&str; 3] = ["PyFunc", "PyFuncStateless", "EagerPyFunc"];

/// What `scan` found, per MetaGraphDef scanned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReport {
    pub meta_graphs: Vec<ScannedMetaGraph>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScannedMetaGraph {
    pub tags: Vec<String>,
    /// The ops looked for, sorted.
    pub denylist: Vec<String>,
    /// Those the MetaGraphDef uses, sorted.
    pub denylisted_ops: Vec<String>,
    pub python_ops: Vec<OpFinding>,
    pub training_ops: Vec<OpFinding>,
}

/// One node of concern: where it is, its op, and for a training-only op its category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpFinding {
    pub node: String,
    /// The library function holding the node; `None` for the graph itself.
    pub function: Option<String>,
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// Scans the SavedModel in `dir`: the MetaGraphDef of `tag_set`, or all of
/// them in stored order; `denylist` replaces the default when not empty.
pub fn scan(
    dir: impl AsRef<Path>,
    tag_set: Option<&str>,
    denylist: &[String],
) -> Result<ScanReport, SavedModelCliError> {
    let dir = dir.as_ref();
    let metas = read_meta_graphs(dir)?;
    let denylist: BTreeSet<String> = if denylist.is_empty() {
        DEFAULT_DENYLIST.iter().map(|s| s.to_string()).collect()
    } else {
        denylist.iter().cloned().collect()
    };
    let chosen: Vec<&MetaGraphDef> = match tag_set {
        Some(tag_set) => vec![find_meta_graph(dir, &metas, tag_set)?],
        None => metas.iter().collect(),
    };
    Ok(ScanReport {
        meta_graphs: chosen
            .into_iter()
            .map(|meta| scan_meta_graph(meta, &denylist))
            .collect(),
    })
}

fn scan_meta_graph(meta: &MetaGraphDef, denylist: &BTreeSet<String>) -> ScannedMetaGraph {
    let empty = GraphDef::default();
    let graph = meta.graph_def.as_ref().unwrap_or(&empty);
    let used: BTreeSet<String> = ops_used(graph).into_iter().collect();
    let mut python_ops = Vec::new();
    let mut training_ops = Vec::new();
    let saver = SaverNodes::of(graph, meta.saver_def.as_ref());
    for (function, node) in every_node(graph) {
        let finding = |category: Option<&str>| OpFinding {
            node: node.name.clone(),
            function: function.map(str::to_string),
            op: node.op.clone(),
            category: category.map(str::to_string),
        };
        if PYTHON_OPS.contains(&node.op.as_str()) {
            python_ops.push(finding(None));
        } else if let Some(category) = training_category(&node.op)
            && !denylist.contains(&node.op)
            && !saver.holds(function, &node.name)
        {
            training_ops.push(finding(Some(category.as_str())));
        }
    }
    ScannedMetaGraph {
        tags: tags_of(meta),
        denylist: denylist.iter().cloned().collect(),
        denylisted_ops: denylist.intersection(&used).cloned().collect(),
        python_ops,
        training_ops,
    }
}

/// Every node of the graph (function `None`) and of each library function.
fn every_node(graph: &GraphDef) -> impl Iterator<Item = (Option<&str>, &NodeDef)> {
    let in_graph = graph.node.iter().map(|node| (None, node));
    let in_functions = graph.library.iter().flat_map(|library| {
        library.function.iter().flat_map(|function| {
            let name = function.signature.as_ref().map(|s| s.name.as_str());
            function.node_def.iter().map(move |node| (name, node))
        })
    });
    in_graph.chain(in_functions)
}

/// The savers' nodes: their scopes in the graph (`save/...`), the nodes the
/// MetaGraphDef's saver names, and the functions they call or that save or
/// restore themselves.
struct SaverNodes {
    scopes: BTreeSet<String>,
    nodes: BTreeSet<String>,
    functions: BTreeSet<String>,
}

impl SaverNodes {
    fn of(graph: &GraphDef, saver: Option<&SaverDef>) -> SaverNodes {
        let nodes: BTreeSet<String> = saver
            .iter()
            .flat_map(|s| [&s.save_tensor_name, &s.restore_op_name])
            .map(|t| crate::ir::node_of(t).to_string())
            .collect();
        let saver_ops = graph.node.iter().filter(|n| is_saver_op(&n.op));
        let scopes: BTreeSet<String> = saver_ops
            .map(|n| n.name.as_str())
            .chain(nodes.iter().map(String::as_str))
            .filter_map(|name| name.split_once('/').map(|(scope, _)| format!("{scope}/")))
            .collect();
        let in_saver = |node: &NodeDef| {
            nodes.contains(&node.name) || scopes.iter().any(|s| node.name.starts_with(s))
        };
        let mut functions = functions_called_from(graph, in_saver);
        functions.extend(saving_functions(graph));
        SaverNodes {
            scopes,
            nodes,
            functions,
        }
    }

    fn holds(&self, function: Option<&str>, node: &str) -> bool {
        match function {
            Some(function) => self.functions.contains(function),
            None => self.nodes.contains(node) || self.scopes.iter().any(|s| node.starts_with(s)),
        }
    }
}

fn is_saver_op(op: &str) -> bool {
    training_category(op) == Some(crate::ops::training::TrainingCategory::Saver)
}

/// Library functions that save or restore (a TF2 model's traced saver).
fn saving_functions(graph: &GraphDef) -> impl Iterator<Item = String> + '_ {
    graph.library.iter().flat_map(|library| {
        library
            .function
            .iter()
            .filter(|f| f.node_def.iter().any(|n| is_saver_op(&n.op)))
            .filter_map(|f| f.signature.as_ref().map(|s| s.name.clone()))
    })
}

/// The library functions the chosen graph nodes call, by any function-valued
/// attribute or as their op, transitively.
fn functions_called_from(graph: &GraphDef, chosen: impl Fn(&NodeDef) -> bool) -> BTreeSet<String> {
    let library = FunctionIndex::new(graph.library.as_ref());
    let seeds: Vec<String> = graph
        .node
        .iter()
        .filter(|node| chosen(node))
        .flat_map(|node| library.called_by_node(node))
        .map(str::to_string)
        .collect();
    library.reachable(seeds, Gradients::Skip)
}

impl fmt::Display for ScanReport {
    /// saved_model_cli's line per MetaGraphDef, then servegraph's findings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for meta in &self.meta_graphs {
            write_denylist_line(&mut out, meta);
        }
        for meta in &self.meta_graphs {
            write_findings(&mut out, meta);
        }
        f.write_str(&out)
    }
}

fn write_denylist_line(out: &mut String, meta: &ScannedMetaGraph) {
    let tags = str_list_repr(&meta.tags);
    let _ = if meta.denylisted_ops.is_empty() {
        writeln!(
            out,
            "MetaGraph with tag set {tags} does not contain the default denylisted ops: {}",
            str_set_repr(&meta.denylist)
        )
    } else {
        writeln!(
            out,
            "MetaGraph with tag set {tags} contains the following denylisted ops: {}",
            str_set_repr(&meta.denylisted_ops)
        )
    };
}

fn write_findings(out: &mut String, meta: &ScannedMetaGraph) {
    let tags = str_list_repr(&meta.tags);
    for finding in &meta.python_ops {
        let _ = writeln!(
            out,
            "MetaGraph with tag set {tags}: {} runs Python ({}); TensorFlow Serving cannot run it",
            place(finding),
            finding.op
        );
    }
    for finding in &meta.training_ops {
        let category = finding.category.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "MetaGraph with tag set {tags}: {} is training-only ({}, {category})",
            place(finding),
            finding.op
        );
    }
}

/// `node 'x'` or `node 'x' in function 'f'`.
fn place(finding: &OpFinding) -> String {
    match &finding.function {
        Some(function) => format!("node '{}' in function '{function}'", finding.node),
        None => format!("node '{}'", finding.node),
    }
}
