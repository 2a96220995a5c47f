//! The graph route: the source read into the IR (a TF1 GraphDef, a
//! training checkpoint's `.meta`, a SavedModel's graph), the serving
//! pipeline run over it, then freezing, vocabulary trimming and constant
//! storage, and the SavedModel written from the result. It honours every
//! option.

use std::path::{Path, PathBuf};

use super::{Job, Route};
use crate::back::explain::{EXPLANATION_METADATA_FILE, ExplanationMetadata, ExplanationReport};
use crate::back::size::{FileBytes, Inventory, ProjectedSize, SizeReport};
use crate::back::warmup::{ASSETS_EXTRA_DIR, WARMUP_FILE_NAME, WarmupFile, WarmupReport};
use crate::back::write::WriteError;
use crate::back::write::guard::directory_of;
use crate::back::write::saved_model::{
    MetaGraphVariant, WriteOptions, WriteReport, plan_variants_with, write_plan,
};
use crate::export::error::Error;
use crate::export::left_behind::{self, LeftBehind};
use crate::export::options::ExportOptions;
use crate::export::report::{ExportReport, GraphRouteReport, VariantReport};
use crate::export::variant::Variant;
use crate::export::verdict::{DroppedVariable, dropped_variables, size_verdict};
use crate::export::{MLS1_LIMIT_BYTES, N1_LIMIT_BYTES};
use crate::front::check::{check_graph, check_model};
use crate::front::read::{self, Source};
use crate::model::Model;
use crate::passes::examples::Feature;
use crate::passes::freeze::FreezeReport;
use crate::passes::node_explain::{Explanation, explain, served_outputs};
use crate::passes::{PassError, PassReport};
use crate::storage::{StorageOptions, StoragePlan, StorageReport};
use crate::timings::{Stage, Timings};
use crate::vocab::VocabReport;

/// The route every source can take.
pub(super) struct GraphRoute;

impl Route for GraphRoute {
    fn check_options(&self, _options: &ExportOptions) -> Result<(), Error> {
        Ok(())
    }

    fn export(self: Box<Self>, mut job: Job<'_>) -> Result<ExportReport, Error> {
        let options = job.options;
        let warmup = read_warmup(options)?;
        let mut model = read::read_source_for(
            &job.located,
            options.source.checkpoint.as_deref(),
            &options.source.tags,
            &options.wanted(),
            &mut job.timings,
        )?;
        let timings = &mut job.timings;
        timings.time(Stage::Check, || check_graph(&model, options.custom_ops()))?;
        let nodes_before = model.graph.len() + model.graph.undecoded().len();
        let mut served = serve(&mut model, options, timings)?;
        let extras = extra_files(warmup, &model, &served, options)?;
        let meta_graphs = options.meta_graph_variants(&model, served.placed.as_ref());
        let (mut written, projected) = write_within_budget(
            &meta_graphs,
            &job.output,
            options.output.max_size,
            &extras.write,
            served.variables_storage.take(),
            timings,
        )?;
        written.path = job.out_dir.to_path_buf();
        let report = report(
            &job,
            nodes_before,
            &model,
            served,
            extras,
            written,
            &projected,
        );
        // Nothing waits on the model's memory any more.
        crate::ir::release(model);
        Ok(report)
    }
}

/// The model made a serving model: what the passes, the freezing, the
/// vocabulary trimming and the constant storage did to it.
struct Served {
    /// The serving graph's nodes, before lowering for saving added the
    /// variable reads and the init op.
    nodes_after: usize,
    /// The reports of the passes up to the `shrink` phase, whose work has
    /// reports of its own (`vocab`, `constants`).
    passes: Vec<PassReport>,
    /// The variants' model, when there are variants.
    placed: Option<Model>,
    frozen: Option<FreezeReport>,
    examples: Option<Vec<Feature>>,
    explained: Option<Explanation>,
    vocab: Option<VocabReport>,
    constants: Option<StorageReport>,
    /// The variables' storage plan lowering made, for the writer.
    variables_storage: Option<StoragePlan>,
}

/// Runs the export's phases over `model` (explaining what the phases up
/// to `shrink` did, when asked), then checks the result.
fn serve(
    model: &mut Model,
    options: &ExportOptions,
    timings: &mut Timings,
) -> Result<Served, Error> {
    let before = options.output.explain.as_ref().map(|_| model.graph.clone());
    let mut cx = options.pass_context();
    cx.timings = std::mem::take(timings);
    let mut phases = options.phases();
    // Taken from the end, so a phase that has no pass (and is left out)
    // cannot leave a later one behind.
    let lower = phases.split_off("lower");
    let shrink = phases.split_off("shrink");
    let passes: Vec<PassReport> = phases
        .run(model, &mut cx)?
        .into_iter()
        .flat_map(|phase| phase.passes)
        .collect();
    let explained = explain_passes(before.as_ref(), model, &passes, options)?;
    shrink.run(model, &mut cx).map_err(shrink_error)?;
    let nodes_after = model.graph.len();
    // The serving model is checked before lowering adds the saver's reads,
    // so a problem is named as the model's, not as a restore's.
    cx.timings.time(Stage::Check, || check_model(model))?;
    lower.run(model, &mut cx).map_err(shrink_error)?;
    *timings = std::mem::take(&mut cx.timings);
    Ok(Served {
        nodes_after,
        passes,
        placed: cx.placed.take(),
        frozen: cx.frozen.take(),
        examples: cx.example_features.take(),
        explained,
        vocab: cx.vocab.take(),
        constants: cx.storage.take(),
        variables_storage: cx.variables_storage.take(),
    })
}

/// A failed trim is reported as the vocabulary stage's error, as it was
/// before trimming became a pass; the rest as the pass's.
fn shrink_error(error: PassError) -> Error {
    match error {
        PassError::Vocab(error) => Error::Vocab(error),
        PassError::Ir(error) => Error::Ir(error),
        PassError::Other(error) => match error.downcast::<WriteError>() {
            Ok(error) => Error::Write(*error),
            Err(error) => Error::Pass(PassError::Other(error)),
        },
        error => Error::Pass(error),
    }
}

/// The write options with the files written beside the model (warm-up
/// records, explanation metadata), each checked against the served
/// signature first, and their reports.
struct Extras {
    write: WriteOptions,
    warmup: Option<WarmupReport>,
    explanation: Option<ExplanationReport>,
}

fn extra_files(
    warmup: Option<WarmupFile>,
    model: &Model,
    served: &Served,
    options: &ExportOptions,
) -> Result<Extras, Error> {
    let (mut write, warmup) = write_options_with_warmup(warmup, model, options)?;
    let features = served.examples.as_deref();
    let explanation = add_explanation_metadata(&mut write, model, features, options)?;
    Ok(Extras {
        write,
        warmup,
        explanation,
    })
}

/// The report of a written export; what cannot be measured or listed
/// any more is a warning in `written`.
fn report(
    job: &Job<'_>,
    nodes_before: usize,
    model: &Model,
    served: Served,
    extras: Extras,
    mut written: WriteReport,
    projected: &Inventory,
) -> ExportReport {
    let options = job.options;
    let conversion = options.storage.conversion();
    let size = measured_or_warning(&mut written, &conversion);
    let variants = variant_reports(served.placed.as_ref(), &options.serving.variants);
    warn_of_unplaced_variants(&variants, &mut written);
    let dropped = dropped_or_warning(model, &mut written);
    let assets: Vec<PathBuf> = model.assets.iter().map(|a| a.source.clone()).collect();
    let left_behind = left_behind_or_warning(&job.located, &dropped, &assets, &mut written);
    let storage = storage_report(served.constants, written.storage.take());
    let total_bytes = written.total_bytes();
    ExportReport {
        source: job.source.to_path_buf(),
        output: job.out_dir.to_path_buf(),
        nodes_before,
        nodes_after: served.nodes_after,
        signatures: model.signatures.clone(),
        kept: written.variables.clone(),
        variables_kept: crate::model::KeptTotals::of(&written.variables),
        dropped,
        written,
        total_bytes,
        output_bytes: size.as_ref().map_or(total_bytes, |s| s.total_bytes),
        fits_mls1: total_bytes <= MLS1_LIMIT_BYTES,
        fits_n1: total_bytes <= N1_LIMIT_BYTES,
        timings: job.timings.clone(),
        projected_size: ProjectedSize::of(projected),
        size,
        storage,
        graph: GraphRouteReport {
            passes: served.passes,
            variants,
            left_behind,
            vocab: served.vocab,
            frozen: served.frozen,
            warmup: extras.warmup,
            explanation: extras.explanation,
            examples: served.examples,
            explain: served.explained,
            moving_averages: super::super::report::MovingAveragesReport::of(model),
        },
        lean: None,
    }
}

/// The explanation `options.output.explain` asks for, of the passes that made
/// `model` from `before`; worked out before anything is written, so an
/// unknown node fails the export cleanly.
fn explain_passes(
    before: Option<&crate::ir::Graph>,
    model: &Model,
    reports: &[PassReport],
    options: &ExportOptions,
) -> Result<Option<Explanation>, Error> {
    let (Some(before), Some(scope)) = (before, &options.output.explain) else {
        return Ok(None);
    };
    let outputs = served_outputs(model);
    Ok(Some(explain(
        before,
        &model.graph,
        &outputs,
        reports,
        scope,
    )?))
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

/// Plans the write, refuses it when its size (the `assets.extra` files of
/// `write_options` included) passes `max_size` (nothing is created by
/// then), else writes it; returns what was written and the size computed
/// first.
fn write_within_budget(
    meta_graphs: &[MetaGraphVariant<'_>],
    output: &Path,
    max_size: Option<u64>,
    write_options: &WriteOptions,
    variables_storage: Option<StoragePlan>,
    timings: &mut Timings,
) -> Result<(WriteReport, Inventory), Error> {
    let storage = &write_options.storage;
    let plan = plan_variants_with(meta_graphs, output, storage, variables_storage, timings)?;
    let mut projected = crate::back::size::project(&plan, meta_graphs, &write_options.storage)?;
    projected.other.extend(assets_extra_files(write_options));
    projected.other.extend(root_files(write_options));
    if let Some(max_size) = max_size {
        crate::back::size::check_budget(&projected, max_size)?;
    }
    let written = write_plan(plan, write_options, timings)?;
    Ok((written, projected))
}

/// The `assets.extra` files the write adds, by their path in the output.
fn assets_extra_files(write_options: &WriteOptions) -> impl Iterator<Item = FileBytes> + '_ {
    write_options
        .assets_extra
        .iter()
        .map(|(name, contents)| FileBytes {
            path: format!("{ASSETS_EXTRA_DIR}/{name}"),
            bytes: contents.len() as u64,
        })
}

/// The files the write adds beside `saved_model.pb`.
fn root_files(write_options: &WriteOptions) -> impl Iterator<Item = FileBytes> + '_ {
    let files = write_options.root_files.iter();
    files.map(|(name, contents)| FileBytes {
        path: name.clone(),
        bytes: contents.len() as u64,
    })
}

/// The written directory's size report. The export is in place by now:
/// failing to measure it is only a warning in `written`.
fn measured_or_warning(written: &mut WriteReport, storage: &StorageOptions) -> Option<SizeReport> {
    size_verdict(written, storage)
        .map_err(|e| {
            let warning = format!("could not measure {}: {e}", written.path.display());
            written.warnings.push(warning);
        })
        .ok()
}

/// The warm-up file, read and parsed before the source is (a malformed one
/// fails fast); checked against the signature once the pipeline made it.
fn read_warmup(options: &ExportOptions) -> Result<Option<WarmupFile>, Error> {
    let warmup = options.output.warmup.as_deref().map(WarmupFile::read);
    Ok(warmup.transpose()?)
}

/// The options' write options, with the warm-up file's records (checked
/// against the served signature) among the `assets.extra` files, and their
/// report.
fn write_options_with_warmup(
    warmup: Option<WarmupFile>,
    model: &Model,
    options: &ExportOptions,
) -> Result<(WriteOptions, Option<WarmupReport>), Error> {
    let mut write = options.write_options();
    let Some(warmup) = warmup else {
        return Ok((write, None));
    };
    let records = warmup.records(&model.signatures, &options.serving.signature_name)?;
    let report = warmup.report(&records);
    write
        .assets_extra
        .insert(WARMUP_FILE_NAME.into(), records.file);
    Ok((write, Some(report)))
}

/// Adds `explanation_metadata.json`, built from the served signature (its
/// parsed features when it takes serialized tf.Examples), to
/// the files written beside `saved_model.pb` when `options` ask for it;
/// its report. A baseline or output that does not fit the signature fails
/// here, before anything is written.
fn add_explanation_metadata(
    write: &mut WriteOptions,
    model: &Model,
    features: Option<&[Feature]>,
    options: &ExportOptions,
) -> Result<Option<ExplanationReport>, Error> {
    let Some(explanation) = &options.output.explanation else {
        return Ok(None);
    };
    let metadata = ExplanationMetadata::of_served(
        &model.signatures,
        &options.serving.signature_name,
        features,
        explanation,
    )?;
    let file = metadata.to_file()?;
    let report = metadata.report(file.len() as u64);
    write
        .root_files
        .insert(EXPLANATION_METADATA_FILE.into(), file);
    Ok(Some(report))
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

/// A variant exists to keep device placements; on a graph with none it is
/// a copy of the serving MetaGraphDef under other tags, which is allowed
/// but most likely not what was meant.
fn warn_of_unplaced_variants(variants: &[VariantReport], written: &mut WriteReport) {
    for variant in variants.iter().filter(|v| v.placed_nodes == 0) {
        written.warnings.push(format!(
            "variant {:?} (tags {}): the training graph places no node on a device, so it is \
             the serving graph under other tags",
            variant.name,
            variant.tags.join(",")
        ));
    }
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
    assets: &[PathBuf],
    written: &mut WriteReport,
) -> Option<LeftBehind> {
    let Source::Checkpoint { prefix, meta } = located else {
        return None;
    };
    let dropped_bytes = dropped.iter().map(|v| v.bytes).sum();
    left_behind::left_behind(prefix, meta, dropped_bytes, assets)
        .map_err(|e| {
            let dir = directory_of(prefix);
            let warning = format!("could not list {}: {e}", dir.display());
            written.warnings.push(warning);
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use crate::passes::devices::ClearDevicesPass;
    use crate::passes::{Pass, Pipeline, ServingSpec};

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
