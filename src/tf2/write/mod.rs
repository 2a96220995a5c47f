//! Writing a lean TF2 SavedModel from a [`LeanPlan`]: the pruned
//! MetaGraphDef with a fresh saver, `variables/` with the kept keys copied by
//! byte range and the pruned checkpoint object graph, the assets the kept
//! graph names, and `keras_metadata.pb` while it still agrees. Everything is
//! written into a staged directory renamed into place only once complete;
//! the source is only read.

pub mod bundle;
pub mod files;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;
use serde::Serialize;

use self::bundle::{Values, VariablesWritten, planned_bytes, write_variables};
use self::files::{FileDecision, carry_keras_metadata, dropped_fingerprint};
use super::Tf2Error as Error;
use super::{LeanPlan, Tf2Error};
use crate::back::size::FileBytes;
use crate::back::write::WriteError;
use crate::back::write::atomic::{Overwrite, StagedDir};
use crate::back::write::guard::{directory_of, keep_apart, resolve_output};
use crate::back::write::progress::CopyProgress;
use crate::back::write::saver::{SavedHandle, TakenNames, build_function_saver};
use crate::format::bundle::BundleReader;
use crate::format::proto::{MetaGraphDef, SavedModel};

/// How to write.
#[derive(Debug, Clone, Default)]
pub struct LeanWriteOptions {
    pub overwrite: Overwrite,
    /// Refuse, before creating anything, an export over this many bytes.
    pub max_size: Option<u64>,
    /// Take the variables' values from this object-based checkpoint (a
    /// bundle prefix) rather than the SavedModel's `variables/`.
    pub checkpoint: Option<PathBuf>,
    pub progress: Option<Arc<dyn CopyProgress>>,
}

/// What was written.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeanWritten {
    pub path: PathBuf,
    pub saved_model_bytes: u64,
    /// Nodes of the written graph (the saver's included).
    pub graph_nodes: usize,
    pub variables: VariablesWritten,
    /// The assets copied, by their name under `assets/`.
    pub assets: Vec<FileBytes>,
    /// `fingerprint.pb` and `keras_metadata.pb`: kept or dropped, and why.
    pub files: Vec<FileDecision>,
    /// Bytes of every file written.
    pub total_bytes: u64,
    /// What went wrong after the output was in place (it stands regardless).
    pub warnings: Vec<String>,
}

const SAVED_MODEL_FILE: &str = "saved_model.pb";
const VARIABLES_PREFIX: &str = "variables/variables";

/// The `saved_model.pb` of the lean export: the plan's MetaGraphDef with
/// the saver of its kept variables added.
pub fn lean_meta_graph(plan: &LeanPlan) -> MetaGraphDef {
    let mut meta_graph = plan.meta_graph.clone();
    let graph_def = meta_graph.graph_def.get_or_insert_with(Default::default);
    let library = graph_def.library.get_or_insert_with(Default::default);
    let taken = TakenNames {
        nodes: graph_def.node.iter().map(|n| n.name.clone()).collect(),
        functions: library
            .function
            .iter()
            .filter_map(|f| f.signature.as_ref().map(|s| s.name.clone()))
            .collect(),
    };
    let handles: Vec<SavedHandle> = plan
        .variables
        .iter()
        .map(|v| SavedHandle {
            node: v.node.clone(),
            key: v.key.clone(),
            dtype: v.dtype,
        })
        .collect();
    let saver = build_function_saver(&handles, &plan.checkpoint_graph.encode_to_vec(), &taken);
    library.function.extend(saver.functions);
    graph_def.node.extend(saver.nodes);
    meta_graph.saver_def = Some(saver.saver_def);
    meta_graph
}

/// Writes the lean SavedModel `plan` describes, from the SavedModel in
/// `source`, to `out`.
pub fn write_lean(
    source: &Path,
    plan: &LeanPlan,
    out: &Path,
    options: &LeanWriteOptions,
) -> Result<LeanWritten, Error> {
    let output = resolve_output(out)?;
    let mut reads = vec![source.to_path_buf()];
    reads.extend(options.checkpoint.as_deref().map(directory_of));
    keep_apart(&output, &reads)?;
    let meta_graph = lean_meta_graph(plan);
    let graph_nodes = meta_graph.graph_def.as_ref().map_or(0, |g| g.node.len());
    let saved_model = SavedModel {
        saved_model_schema_version: 1,
        meta_graphs: vec![meta_graph],
    }
    .encode_to_vec();
    let checkpoint = options
        .checkpoint
        .clone()
        .unwrap_or_else(|| source.join(VARIABLES_PREFIX));
    let bundle = BundleReader::open(&checkpoint).map_err(|e| Tf2Error::Bundle {
        path: checkpoint.clone(),
        source: e,
    })?;
    let values = match options.checkpoint {
        Some(_) => Values::from_checkpoint(&bundle, &plan.variables)?,
        None => Values::own(&bundle, &plan.variables),
    };
    let planned = Planned {
        saved_model,
        object_graph: plan.checkpoint_graph.encode_to_vec(),
        assets: files::kept_assets(source, &plan.meta_graph)?,
        values,
    };
    check_max_size(source, plan, out, &planned, options.max_size)?;
    let mut written = write_planned(source, plan, &output, &planned, options)?;
    written.path = out.to_path_buf();
    written.graph_nodes = graph_nodes;
    Ok(written)
}

/// What the write puts on disk, worked out before anything is created.
struct Planned<'a> {
    saved_model: Vec<u8>,
    object_graph: Vec<u8>,
    assets: Vec<files::KeptAsset>,
    values: Values<'a>,
}

/// Refuses, before anything is created, an export over `max_size` bytes.
fn check_max_size(
    source: &Path,
    plan: &LeanPlan,
    out: &Path,
    planned: &Planned<'_>,
    max_size: Option<u64>,
) -> Result<(), Error> {
    let Some(limit) = max_size else {
        return Ok(());
    };
    let variables = planned_bytes(&planned.values, &plan.variables, &planned.object_graph)?;
    let keras = files::planned_keras_metadata_bytes(source, plan)?;
    let assets: u64 = planned.assets.iter().map(|a| a.bytes).sum();
    let bytes = planned.saved_model.len() as u64 + variables + assets + keras;
    if bytes > limit {
        return Err(Tf2Error::TooLarge {
            path: out.to_path_buf(),
            bytes,
            limit,
        });
    }
    Ok(())
}

/// Writes `planned` into a staging directory and renames it to `output`.
fn write_planned(
    source: &Path,
    plan: &LeanPlan,
    output: &Path,
    planned: &Planned<'_>,
    options: &LeanWriteOptions,
) -> Result<LeanWritten, Error> {
    let staged = StagedDir::create(output, options.overwrite)?;
    let root = staged.path().to_path_buf();
    write_file(&root.join(SAVED_MODEL_FILE), &planned.saved_model)?;
    create_dir(&root.join("variables"))?;
    let variables = copy_variables(&planned.values, plan, &planned.object_graph, &root, options)?;
    let assets = files::copy_assets(source, &planned.assets, &root)?;
    let mut decisions: Vec<FileDecision> = dropped_fingerprint(source).into_iter().collect();
    let objects = plan.meta_graph.object_graph_def.clone().unwrap_or_default();
    decisions.extend(carry_keras_metadata(source, &root, &objects)?);
    let kept_files: u64 = decisions
        .iter()
        .filter(|d| d.kept)
        .map(|d| files::written_size(&root, d))
        .sum();
    let warnings = staged.commit()?;
    let saved_model_bytes = planned.saved_model.len() as u64;
    let total_bytes = saved_model_bytes
        + variables.bytes
        + assets.iter().map(|a| a.bytes).sum::<u64>()
        + kept_files;
    Ok(LeanWritten {
        path: output.to_path_buf(),
        saved_model_bytes,
        graph_nodes: 0,
        variables,
        assets,
        files: decisions,
        total_bytes,
        warnings,
    })
}

/// `variables/`, telling `options.progress` how the copy advances.
fn copy_variables(
    values: &Values<'_>,
    plan: &LeanPlan,
    object_graph: &[u8],
    root: &Path,
    options: &LeanWriteOptions,
) -> Result<VariablesWritten, Error> {
    let progress = options.progress.as_deref();
    if let Some(progress) = progress {
        let total = values
            .keys
            .iter()
            .map(|key| bundle::key_bytes(values.reader, key).unwrap_or(0))
            .sum();
        progress.start(total);
    }
    let mut advance = |bytes: u64| {
        if let Some(progress) = progress {
            progress.advance(bytes);
        }
    };
    let written = write_variables(
        values,
        &plan.variables,
        object_graph,
        &root.join(VARIABLES_PREFIX),
        Some(&mut advance),
    );
    if let Some(progress) = progress {
        progress.finish();
    }
    written
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    std::fs::write(path, bytes).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn create_dir(path: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(path).map_err(|source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    })
}
