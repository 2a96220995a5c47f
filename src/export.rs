//! The one-call API: read a training artifact, run the serving pipeline,
//! write the SavedModel, and report what happened.

mod left_behind;
mod text;
mod variant;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

pub use left_behind::{Category, LeftBehind, LeftFile};
pub use text::{Detail, ReportText};
pub use variant::{Variant, VariantError};

use crate::bundle::BundleReader;
use crate::check::{CustomOps, check_graph, check_model};
use crate::error::Error;
use crate::model::{DEFAULT_SIGNATURE, Model, SERVE_TAG, Signature};
use crate::passes::devices::ClearDevicesPass;
use crate::passes::inputs::{InputSpec, OutputSpec};
use crate::passes::{PassContext, PassReport, Pipeline, ServingSpec};
use crate::read::{self, Source};
use crate::storage::{StorageOptions, StorageReport, convert_constants};
use crate::timings::{Stage, Timings};
use crate::write::atomic::{Overwrite, check_replaceable};
use crate::write::guard::{directory_of, keep_apart, resolve_output};
use crate::write::progress::CopyProgress;
use crate::write::saved_model::{
    MetaGraphVariant, VariableReport, WriteOptions, WriteReport, write_variants_with,
};

/// The legacy AI Platform (MLS1) model size limit.
pub const MLS1_LIMIT_BYTES: u64 = 500 * 1000 * 1000;
/// The N1 machine model size limit.
pub const N1_LIMIT_BYTES: u64 = 10 * 1000 * 1000 * 1000;

/// What to export and how. `Default` gives: no inputs (detected), no outputs
/// (an error listing candidates), signature `serving_default`, tag `serve`,
/// refuse an existing output, clear device placements, no variants.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Tensors that become placeholders. Default: detected.
    pub inputs: Vec<InputSpec>,
    /// Tensors served. Default: none, which is an error naming candidates.
    pub outputs: Vec<OutputSpec>,
    /// Signature key. Default `serving_default`.
    pub signature_name: String,
    /// The tag set. Default `["serve"]`.
    pub tags: Vec<String>,
    /// Replace an existing output directory. Default: refuse.
    pub overwrite: Overwrite,
    /// Variables for a bare GraphDef. Default: none.
    pub checkpoint: Option<PathBuf>,
    /// Boolean nodes to treat as training flags besides the usual names. Default: none.
    pub training_flags: Vec<String>,
    /// Keep device placements. Default: false (cleared).
    pub keep_devices: bool,
    /// More MetaGraphDefs, each under its own tag set, sharing the served
    /// graph's variables and assets but keeping the training graph's device
    /// placements. Default: none.
    pub variants: Vec<Variant>,
    /// Tags of the MetaGraphDef to read when the source is a SavedModel. Default `["serve"]`.
    pub source_tags: Vec<String>,
    /// Accept ops that are neither TensorFlow's nor in the source's op list,
    /// for graphs whose custom op library is loaded at serving time.
    /// Default: false (such an op is an error naming the node and the op).
    pub allow_custom_ops: bool,
    /// Told how the variable copy advances (the CLI draws a progress bar). Default: none.
    pub progress: Option<Arc<dyn CopyProgress>>,
    /// The dtypes weights are stored in (float16 / int8 / int32 narrowing)
    /// and the size threshold. Default: unchanged.
    pub storage: StorageOptions,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            inputs: Vec::new(),
            outputs: Vec::new(),
            signature_name: DEFAULT_SIGNATURE.into(),
            tags: vec![SERVE_TAG.into()],
            overwrite: Overwrite::Refuse,
            checkpoint: None,
            training_flags: Vec::new(),
            keep_devices: false,
            variants: Vec::new(),
            source_tags: Vec::new(),
            allow_custom_ops: false,
            progress: None,
            storage: StorageOptions::default(),
        }
    }
}

impl ExportOptions {
    /// What the read must keep for the passes: the named tensors and flags.
    pub fn wanted(&self) -> read::Wanted {
        let outputs = self.outputs.iter().map(|o| o.tensor.clone());
        let inputs = self.inputs.iter().map(|i| i.tensor.clone());
        read::Wanted {
            tensors: outputs.chain(inputs).collect(),
            nodes: self.training_flags.clone(),
        }
    }

    fn custom_ops(&self) -> CustomOps {
        if self.allow_custom_ops {
            CustomOps::Allow
        } else {
            CustomOps::Refuse
        }
    }

    fn serving_spec(&self) -> ServingSpec {
        ServingSpec {
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            signature_name: self.signature_name.clone(),
            training_flags: self.training_flags.clone(),
            keep_devices: self.keep_devices,
        }
    }

    fn write_options(&self) -> WriteOptions {
        WriteOptions {
            overwrite: self.overwrite,
            progress: self.progress.clone(),
            storage: self.storage,
        }
    }
}

/// A checkpoint tensor the export left out, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DroppedVariable {
    pub key: String,
    pub bytes: u64,
    pub reason: String,
}

/// Everything an export did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub source: PathBuf,
    pub output: PathBuf,
    pub nodes_before: usize,
    pub nodes_after: usize,
    pub passes: Vec<PassReport>,
    pub signatures: std::collections::BTreeMap<String, Signature>,
    pub kept: Vec<VariableReport>,
    pub dropped: Vec<DroppedVariable>,
    pub written: WriteReport,
    /// The variants written beside the served MetaGraphDef.
    pub variants: Vec<VariantReport>,
    pub total_bytes: u64,
    pub fits_mls1: bool,
    pub fits_n1: bool,
    /// Wall time of each stage, in the order they ran, and the total.
    pub timings: Timings,
    /// What stays behind in a checkpoint source's directory; `None` for a
    /// SavedModel or GraphDef source.
    pub left_behind: Option<LeftBehind>,
    /// Weights stored in another dtype, and those left alone with the
    /// reason; `None` when no conversion was asked for.
    pub storage: Option<StorageReport>,
}

/// A variant written: its name, its tag set and how many of its nodes keep
/// a device placement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VariantReport {
    pub name: String,
    pub tags: Vec<String>,
    pub placed_nodes: usize,
}

/// Why a checkpoint tensor is not needed by the serving graph.
pub fn drop_reason(key: &str) -> &'static str {
    const SLOTS: &[&str] = &[
        "Adam",
        "Adam_1",
        "Momentum",
        "Adagrad",
        "RMSProp",
        "RMSProp_1",
        "Ftrl",
        "Ftrl_1",
        "Adadelta",
        "Adadelta_1",
        "ExponentialMovingAverage",
    ];
    let last = key.rsplit('/').next().unwrap_or(key);
    if SLOTS.contains(&last) {
        "optimizer slot"
    } else if last.starts_with("beta1_power") || last.starts_with("beta2_power") {
        "optimizer state"
    } else if last == "global_step" {
        "training step counter"
    } else {
        "not read by the serving graph"
    }
}

/// Reads `source`, makes it a serving model and writes it to `out_dir`.
///
/// Before anything is read, `out_dir` is refused if it is, lies inside or
/// contains a path the export reads, is a symlink or a file, or exists and
/// may not be replaced (see [`Overwrite`]). Sources are never written.
pub fn export_serving_model(
    source: &Path,
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, Error> {
    let started = Instant::now();
    variant::check_distinct(&options.tags, &options.variants)?;
    let mut timings = Timings::new();
    let located = timings.time(Stage::Locate, || read::locate(source))?;
    let checkpoint = options.checkpoint.as_deref();
    let output = checked_output(
        out_dir,
        &source_paths(source, &located, checkpoint),
        options,
    )?;
    let mut model = read::read_source_for(
        &located,
        checkpoint,
        &options.source_tags,
        &options.wanted(),
        &mut timings,
    )?;
    timings.time(Stage::Check, || check_graph(&model, options.custom_ops()))?;
    let nodes_before = model.graph.len() + model.graph.undecoded().len();
    let (passes, mut placed) = run_passes(&mut model, options, &mut timings)?;
    let constants = convert_constant_storage(&mut model, placed.as_mut(), &options.storage)?;
    timings.time(Stage::Check, || check_model(&model))?;
    let meta_graphs = meta_graphs(&model, placed.as_ref(), options);
    let mut written = write_variants_with(
        &meta_graphs,
        &output,
        &options.write_options(),
        &mut timings,
    )?;
    written.path = out_dir.to_path_buf();
    let variants = variant_reports(placed.as_ref(), &options.variants);

    let dropped = dropped_or_warning(&model, &mut written);
    let left_behind = left_behind_or_warning(&located, &dropped, &mut written);
    let storage = storage_report(constants, written.storage.take());
    let total_bytes = written.saved_model_bytes + written.variables_bytes + written.assets_bytes;
    timings.record(Stage::Total, started.elapsed());
    Ok(ExportReport {
        source: source.to_path_buf(),
        output: out_dir.to_path_buf(),
        nodes_before,
        nodes_after: model.graph.len(),
        passes,
        signatures: model.signatures.clone(),
        kept: written.variables.clone(),
        dropped,
        written,
        variants,
        total_bytes,
        fits_mls1: total_bytes <= MLS1_LIMIT_BYTES,
        fits_n1: total_bytes <= N1_LIMIT_BYTES,
        timings,
        left_behind,
        storage,
    })
}

/// Stores the graph's constants as `options` say, in the served graph and
/// the variants' (which have the same constants, so report once). Runs
/// after every pass, so constants a freeze made are converted too.
fn convert_constant_storage(
    model: &mut Model,
    placed: Option<&mut Model>,
    options: &StorageOptions,
) -> Result<Option<StorageReport>, Error> {
    if !options.is_active() {
        return Ok(None);
    }
    if let Some(placed) = placed {
        convert_constants(&mut placed.graph, options)?;
    }
    Ok(Some(convert_constants(&mut model.graph, options)?))
}

/// The variables' storage report with the constants' added.
fn storage_report(
    constants: Option<StorageReport>,
    variables: Option<StorageReport>,
) -> Option<StorageReport> {
    match (variables, constants) {
        (Some(mut report), Some(constants)) => {
            report.merge(constants);
            Some(report)
        }
        (report, None) | (None, report) => report,
    }
}

/// Runs the serving pipeline once. With variants, the graph is copied for
/// them before its devices are cleared (the pipeline's last pass, and the
/// only one a variant skips); that copy is returned.
fn run_passes(
    model: &mut Model,
    options: &ExportOptions,
    timings: &mut Timings,
) -> Result<(Vec<PassReport>, Option<Model>), Error> {
    let mut cx = PassContext::new();
    if options.variants.is_empty() {
        let pipeline = Pipeline::serving(&options.serving_spec());
        return Ok((pipeline.run_timed(model, &mut cx, timings)?, None));
    }
    let placing = ServingSpec {
        keep_devices: true,
        ..options.serving_spec()
    };
    let mut passes = Pipeline::serving(&placing).run_timed(model, &mut cx, timings)?;
    let placed = model.clone();
    if !options.keep_devices {
        let mut clearing = Pipeline::empty();
        clearing.push(ClearDevicesPass);
        passes.extend(clearing.run_timed(model, &mut cx, timings)?);
    }
    Ok((passes, Some(placed)))
}

/// The served MetaGraphDef under `options.tags`, then each variant's, from
/// the graph that kept its placements.
fn meta_graphs<'a>(
    model: &'a Model,
    placed: Option<&'a Model>,
    options: &ExportOptions,
) -> Vec<MetaGraphVariant<'a>> {
    let served = MetaGraphVariant {
        model,
        tags: options.tags.clone(),
    };
    let variants = placed.into_iter().flat_map(|placed| {
        options.variants.iter().map(move |v| MetaGraphVariant {
            model: placed,
            tags: v.tags.clone(),
        })
    });
    std::iter::once(served).chain(variants).collect()
}

fn variant_reports(placed: Option<&Model>, variants: &[Variant]) -> Vec<VariantReport> {
    let Some(placed) = placed else {
        return Vec::new();
    };
    let placed_nodes = placed
        .graph
        .node_ids()
        .into_iter()
        .filter(|id| !placed.graph.node(*id).device.is_empty())
        .count();
    variants
        .iter()
        .map(|v| VariantReport {
            name: v.name.clone(),
            tags: v.tags.clone(),
            placed_nodes,
        })
        .collect()
}

/// `out_dir` resolved, once it is known to be apart from every path the
/// export reads and replaceable as `options` allow.
fn checked_output(
    out_dir: &Path,
    reads: &[PathBuf],
    options: &ExportOptions,
) -> Result<PathBuf, Error> {
    let output = resolve_output(out_dir)?;
    keep_apart(&output, reads)?;
    check_replaceable(&output, options.overwrite)?;
    Ok(output)
}

/// The variables left out. The export is in place by now: failing to list
/// them is only a warning in `written`.
fn dropped_or_warning(model: &Model, written: &mut WriteReport) -> Vec<DroppedVariable> {
    dropped_variables(model, written).unwrap_or_else(|e| {
        let warning = format!("could not list the dropped variables: {e}");
        written.warnings.push(warning);
        Vec::new()
    })
}

/// What a checkpoint source leaves in its directory. Like the dropped
/// variables, failing to list it is only a warning.
fn left_behind_or_warning(
    located: &Source,
    dropped: &[DroppedVariable],
    written: &mut WriteReport,
) -> Option<LeftBehind> {
    let Source::Checkpoint { prefix, meta } = located else {
        return None;
    };
    let dropped_bytes = dropped.iter().map(|v| v.bytes).sum();
    left_behind::left_behind(prefix, meta, dropped_bytes)
        .map_err(|e| {
            let dir = directory_of(prefix);
            let warning = format!("could not list {}: {e}", dir.display());
            written.warnings.push(warning);
        })
        .ok()
}

/// Every path an export of `source` (located as `located`, with variables
/// from `checkpoint`) reads: the path as given, the checkpoint's directory
/// and `.meta`, the SavedModel directory, the GraphDef file, the
/// `checkpoint` prefix's directory.
fn source_paths(source: &Path, located: &Source, checkpoint: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = vec![source.to_path_buf()];
    match located {
        Source::GraphDef { path } => paths.push(path.clone()),
        Source::Checkpoint { prefix, meta } => {
            paths.push(directory_of(prefix));
            paths.push(meta.clone());
        }
        Source::SavedModel { dir } => paths.push(dir.clone()),
    }
    paths.extend(checkpoint.map(directory_of));
    paths
}

/// The checkpoint tensors the export did not keep, and why.
fn dropped_variables(model: &Model, written: &WriteReport) -> Result<Vec<DroppedVariable>, Error> {
    let Some(checkpoint) = &model.checkpoint else {
        return Ok(Vec::new());
    };
    let reader = BundleReader::open(checkpoint)?;
    let kept: std::collections::HashSet<&str> =
        written.variables.iter().map(|v| v.key.as_str()).collect();
    Ok(reader
        .entries()
        .into_iter()
        .filter(|entry| !kept.contains(entry.name.as_str()))
        .map(|entry| DroppedVariable {
            reason: drop_reason(&entry.name).into(),
            key: entry.name,
            bytes: entry.bytes,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::Pass;

    /// A variant is the served graph before clear-devices, so that pass must
    /// stay the pipeline's last.
    #[test]
    fn clearing_devices_is_the_serving_pipelines_last_pass() {
        let pipeline = Pipeline::serving(&ServingSpec::default());
        assert_eq!(
            pipeline.names().last().copied(),
            Some(ClearDevicesPass.name())
        );
    }
}
