//! The one-call API: read a training artifact, run the serving pipeline,
//! write the SavedModel, and report what happened.

mod left_behind;
mod text;
mod variant;
mod verdict;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

pub use left_behind::{Category, LeftBehind, LeftFile};
pub use text::{Detail, ReportText};
pub use variant::{Variant, VariantError};
pub use verdict::{DroppedVariable, drop_reason, dropped_variables, size_verdict};

use crate::back::explain::{
    EXPLANATION_METADATA_FILE, ExplanationMetadata, ExplanationOptions, ExplanationReport,
};
use crate::back::size::{FileBytes, Inventory, ProjectedSize, SizeReport};
use crate::back::warmup::{ASSETS_EXTRA_DIR, WARMUP_FILE_NAME, WarmupFile, WarmupReport};
use crate::back::write::atomic::{Overwrite, check_replaceable};
use crate::back::write::guard::{directory_of, keep_apart, resolve_output};
use crate::back::write::progress::CopyProgress;
use crate::back::write::saved_model::{
    MetaGraphVariant, VariableReport, WriteOptions, WriteReport, check_tag_sets, plan_variants,
    write_plan,
};
use crate::error::Error;
use crate::front::check::{CustomOps, check_graph, check_model};
use crate::front::read::{self, Source};
use crate::model::method_rules::CLASSIFY_CLASSES;
use crate::model::{DEFAULT_SIGNATURE, Model, SERVE_TAG, Signature};
use crate::passes::devices::ClearDevicesPass;
use crate::passes::examples::Feature;
use crate::passes::freeze::{FreezeLimits, FreezePass, FreezeReport, freeze_variables};
use crate::passes::inputs::{InputSpec, OutputSpec};
use crate::passes::method::{MethodFlags, ServingMethod};
use crate::passes::node_explain::{ExplainScope, Explanation, explain, served_outputs};
use crate::passes::{Pass, PassContext, PassError, PassReport, Pipeline, ServingSpec};
use crate::storage::{StorageOptions, StorageReport, convert_constants};
use crate::timings::{Stage, Timings};
use crate::vocab::{VocabReport, trim_vocabularies};

/// The legacy AI Platform (MLS1) model size limit.
pub const MLS1_LIMIT_BYTES: u64 = crate::back::size::MLS1_BYTES;
/// The N1 machine model size limit.
pub const N1_LIMIT_BYTES: u64 = crate::back::size::N1_BYTES;

/// What to export and how. `Default` gives what `servegraph export` does
/// without flags (the CLI starts from it): no inputs (detected), no outputs
/// (an error listing candidates), signature `serving_default`, tag `serve`,
/// method predict, refuse an existing output, clear device placements, no
/// variants, a SavedModel source read from its `serve` MetaGraphDef.
///
/// Set the fields you need and take the rest from `Default`:
///
/// ```
/// use servegraph::{ExportOptions, Overwrite, ServingMethod, StorageOptions, WeightPrecision};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let options = ExportOptions {
///     inputs: vec!["features=IteratorGetNext:0".parse()?],
///     outputs: vec!["logits=logits/BiasAdd:0".parse()?],
///     overwrite: Overwrite::Replace,
///     storage: StorageOptions {
///         weights: WeightPrecision::F16,
///         ..StorageOptions::default()
///     },
///     ..ExportOptions::default()
/// };
/// assert_eq!(options.tags, ["serve"]);
/// assert_eq!(options.signature_name, "serving_default");
/// assert_eq!(options.method, ServingMethod::Predict);
/// # Ok(())
/// # }
/// ```
///
/// An empty `tags` (or an empty tag) is refused with
/// [`WriteError::BadTagSet`](crate::WriteError::BadTagSet) before anything
/// is read: a MetaGraphDef without tags is not found under `serve`.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Tensors that become placeholders. Default: detected.
    pub inputs: Vec<InputSpec>,
    /// Tensors served. Default: none, which is an error naming candidates.
    pub outputs: Vec<OutputSpec>,
    /// Signature key. Default `serving_default`.
    pub signature_name: String,
    /// The tag set of the served MetaGraphDef; must not be empty. Default
    /// `["serve"]`, the tags TensorFlow Serving loads.
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
    /// Tags of the MetaGraphDef to read when the source is a SavedModel
    /// (the one whose tag set is exactly these). Default `["serve"]`; an
    /// empty list also reads `serve`. Ignored for other sources.
    pub source_tags: Vec<String>,
    /// Accept ops that are neither TensorFlow's nor in the source's op list,
    /// for graphs whose custom op library is loaded at serving time.
    /// Default: false (such an op is an error naming the node and the op).
    pub allow_custom_ops: bool,
    /// Told how the variable copy advances (the CLI draws a progress bar). Default: none.
    pub progress: Option<Arc<dyn CopyProgress>>,
    /// Keep only the first N entries (lines) of vocabulary assets whose
    /// tables map a dropped entry like an unseen one (see [`crate::vocab`]).
    /// Default: none (assets copied whole).
    pub max_vocab: Option<u64>,
    /// A JSON file of predict requests (`{"instances": [...]}`) written as
    /// TensorFlow Serving's warm-up records; checked against the signature
    /// before anything is written. Default: none.
    pub warmup: Option<PathBuf>,
    /// Refuse, before creating anything, an export whose files would add
    /// up to more bytes. Default: none.
    pub max_size: Option<u64>,
    /// Freeze: every variable becomes a constant holding its checkpoint
    /// value (no `variables/`, no saver), refused past these limits.
    /// Default: none (variables stay variables).
    pub freeze: Option<FreezeLimits>,
    /// The dtypes weights are stored in (float16 / int8 / int32 narrowing)
    /// and the size threshold. Default: unchanged.
    pub storage: StorageOptions,
    /// Write AI Platform's `explanation_metadata.json` beside
    /// `saved_model.pb`, derived from the served signature, with these
    /// choices (see [`crate::back::explain`]). Default: none.
    pub explanation: Option<ExplanationOptions>,
    /// Serve serialized tf.Examples: one string input `examples` parsed
    /// into the inputs. Default: false (the inputs are fed as tensors).
    pub examples: bool,
    /// The TensorFlow Serving API the served signature answers; classify
    /// and regress imply `examples`. Default: predict.
    pub method: ServingMethod,
    /// The labels of a classify signature's score columns. Default: none
    /// (`"0"` … `"N-1"`).
    pub class_names: Option<Vec<String>>,
    /// Explain what the passes removed and rewired, or why one node was
    /// kept or removed (see [`crate::passes::node_explain`]); the whole source
    /// graph is read so every removed node's op and inputs are known.
    /// Default: none.
    pub explain: Option<ExplainScope>,
    /// Which of a TF2 SavedModel's own signatures a lean export (no
    /// `inputs`/`outputs`) keeps. Default: all. Ignored for other sources.
    pub source_signatures: crate::tf2::SignatureChoice,
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
            source_tags: vec![SERVE_TAG.into()],
            allow_custom_ops: false,
            progress: None,
            max_vocab: None,
            warmup: None,
            max_size: None,
            freeze: None,
            storage: StorageOptions::default(),
            explanation: None,
            examples: false,
            method: ServingMethod::Predict,
            class_names: None,
            explain: None,
            source_signatures: crate::tf2::SignatureChoice::All,
        }
    }
}

impl ExportOptions {
    /// What the read must keep for the passes: the named tensors and flags
    /// (everything when explaining, so removed nodes are known too).
    pub fn wanted(&self) -> read::Wanted {
        if self.explain.is_some() {
            return read::Wanted::default();
        }
        let outputs = self.outputs.iter().map(|o| o.tensor.clone());
        let inputs = self.inputs.iter().flat_map(|i| {
            let sparse = i.sparse.iter();
            let parts = sparse.flat_map(|s| [s.indices.clone(), s.dense_shape.clone()]);
            std::iter::once(i.tensor.clone()).chain(parts)
        });
        read::Wanted {
            tensors: outputs.chain(inputs).collect(),
            nodes: self.training_flags.clone(),
        }
    }

    /// The served tag set, then each variant's.
    fn tag_sets(&self) -> impl Iterator<Item = &[String]> {
        let variants = self.variants.iter().map(|v| v.tags.as_slice());
        std::iter::once(self.tags.as_slice()).chain(variants)
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
            examples: self.examples,
            method: self.method,
            class_names: self.class_names.clone(),
        }
    }

    /// The method flags checked together: an error for combinations that
    /// make no sense.
    fn check_method_flags(&self) -> Result<(), PassError> {
        let flags = MethodFlags {
            method: self.method,
            examples: self.examples,
            class_names: self.class_names.as_deref(),
            signature_name: &self.signature_name,
            classes_output: self
                .outputs
                .iter()
                .find(|o| o.key == CLASSIFY_CLASSES)
                .map(|o| o.tensor.as_str()),
            defaults: self
                .inputs
                .iter()
                .filter(|i| i.default.is_some())
                .map(|i| i.key.as_str())
                .collect(),
            warmup: self.warmup.is_some(),
        };
        Ok(flags.check()?)
    }

    fn write_options(&self) -> WriteOptions {
        WriteOptions {
            overwrite: self.overwrite,
            progress: self.progress.clone(),
            max_saved_model_bytes: self.freeze.map(|limits| limits.saved_model_bytes),
            storage: self.storage,
            ..WriteOptions::default()
        }
    }
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
    /// What `--max-vocab` trimmed and refused; `None` without it.
    pub vocab: Option<VocabReport>,
    /// The size computed before writing (what `max_size` was checked against).
    pub projected_size: ProjectedSize,
    /// The written directory measured: limits, largest contributors,
    /// advice. `None` when it could not be measured (see the warnings).
    pub size: Option<SizeReport>,
    /// The variables frozen into constants; `None` without `freeze`.
    pub frozen: Option<FreezeReport>,
    /// The TensorFlow Serving warm-up records written, if asked for.
    pub warmup: Option<WarmupReport>,
    /// Weights stored in another dtype, and those left alone with the
    /// reason; `None` when no conversion was asked for.
    pub storage: Option<StorageReport>,
    /// The `explanation_metadata.json` written, if asked for.
    pub explanation: Option<ExplanationReport>,
    /// The tf.Example features the served signature parses; `None`
    /// without `examples` (or classify / regress).
    pub examples: Option<Vec<Feature>>,
    /// Why nodes were removed, rewired or kept; only with `explain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explanation>,
    /// What a lean TF2 export left out (objects, functions, files) and the
    /// bytes before and after; only for a TF2 SavedModel exported whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lean: Option<crate::tf2::LeanReport>,
}

/// A variant written: its name, its tag set and how many of its nodes keep
/// a device placement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VariantReport {
    pub name: String,
    pub tags: Vec<String>,
    pub placed_nodes: usize,
}

/// Reads `source`, makes it a serving model and writes it to `out_dir`.
///
/// Before anything is read, `out_dir` is refused if it is, lies inside or
/// contains a path the export reads, is a symlink or a file, or exists and
/// may not be replaced (see [`Overwrite`]). Sources are never written.
///
/// ```
/// use servegraph::{ExportOptions, export_serving_model};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let out = tempfile::tempdir()?;
/// let options = ExportOptions {
///     outputs: vec!["logits=logits/BiasAdd:0".parse()?],
///     ..ExportOptions::default()
/// };
/// // A training checkpoint: the serving input is detected from the graph.
/// let report = export_serving_model(
///     "testdata/fixtures/tiny_mlp",
///     out.path().join("serving"),
///     &options,
/// )?;
/// let signature = &report.signatures["serving_default"];
/// assert_eq!(signature.inputs["input"].shape, Some(vec![-1, 4]));
/// assert!(report.nodes_after < report.nodes_before);
/// assert!(report.dropped.iter().any(|v| v.key == "global_step"));
/// assert!(report.fits_mls1);
/// assert!(out.path().join("serving/saved_model.pb").is_file());
/// # Ok(())
/// # }
/// ```
pub fn export_serving_model(
    source: impl AsRef<Path>,
    out_dir: impl AsRef<Path>,
    options: &ExportOptions,
) -> Result<ExportReport, Error> {
    let source = source.as_ref();
    let out_dir = out_dir.as_ref();
    let started = Instant::now();
    variant::check_distinct(&options.tags, &options.variants)?;
    check_tag_sets(options.tag_sets(), out_dir)?;
    options.check_method_flags()?;
    let mut timings = Timings::new();
    let checkpoint = options.checkpoint.as_deref();
    let located = timings.time(Stage::Locate, || {
        read::locate_with_checkpoint(source, checkpoint)
    })?;
    let output = checked_output(out_dir, &reads(source, &located, options), options)?;
    if let Source::SavedModel { dir } = &located
        && let Some(meta) = crate::tf2::export::lean_source(dir, options)?
    {
        return crate::tf2::export::export_lean(source, dir, meta, out_dir, options, started);
    }
    let warmup = read_warmup(options)?;
    let mut model = read::read_source_for(
        &located,
        checkpoint,
        &options.source_tags,
        &options.wanted(),
        &mut timings,
    )?;
    timings.time(Stage::Check, || check_graph(&model, options.custom_ops()))?;
    let nodes_before = model.graph.len() + model.graph.undecoded().len();
    let before = options.explain.as_ref().map(|_| model.graph.clone());
    let mut ran = run_passes(&mut model, options, &mut timings)?;
    let explained = explain_passes(before.as_ref(), &model, &ran.passes, options)?;
    let vocab = options
        .max_vocab
        .map(|max| trim_vocabularies(&mut model, ran.placed.as_mut(), max))
        .transpose()?;
    let constants = convert_constant_storage(&mut model, ran.placed.as_mut(), &options.storage)?;
    timings.time(Stage::Check, || check_model(&model))?;
    let (mut write_options, warmup) = write_options_with_warmup(warmup, &model, options)?;
    let explanation =
        add_explanation_metadata(&mut write_options, &model, ran.examples.as_deref(), options)?;
    let meta_graphs = meta_graphs(&model, ran.placed.as_ref(), options);
    let (mut written, projected) = write_within_budget(
        &meta_graphs,
        &output,
        options.max_size,
        &write_options,
        &mut timings,
    )?;
    written.path = out_dir.to_path_buf();
    let size = measured_or_warning(&mut written, &options.storage);
    let variants = variant_reports(ran.placed.as_ref(), &options.variants);

    let dropped = dropped_or_warning(&model, &mut written);
    let assets: Vec<PathBuf> = model.assets.iter().map(|a| a.source.clone()).collect();
    let left_behind = left_behind_or_warning(&located, &dropped, &assets, &mut written);
    let storage = storage_report(constants, written.storage.take());
    let total_bytes = written.total_bytes();
    timings.record(Stage::Total, started.elapsed());
    Ok(ExportReport {
        source: source.to_path_buf(),
        output: out_dir.to_path_buf(),
        nodes_before,
        nodes_after: model.graph.len(),
        passes: ran.passes,
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
        vocab,
        projected_size: ProjectedSize::of(&projected),
        size,
        frozen: ran.frozen,
        warmup,
        storage,
        explanation,
        examples: ran.examples,
        explain: explained,
        lean: None,
    })
}

/// The explanation `options.explain` asks for, of the passes that made
/// `model` from `before`; worked out before anything is written, so an
/// unknown node fails the export cleanly.
fn explain_passes(
    before: Option<&crate::ir::Graph>,
    model: &Model,
    reports: &[PassReport],
    options: &ExportOptions,
) -> Result<Option<Explanation>, Error> {
    let (Some(before), Some(scope)) = (before, &options.explain) else {
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

/// Plans the write, refuses it when its size (the `assets.extra` files of
/// `write_options` included) passes `max_size` (nothing is created by
/// then), else writes it; returns what was written and the size computed
/// first.
fn write_within_budget(
    meta_graphs: &[MetaGraphVariant<'_>],
    output: &Path,
    max_size: Option<u64>,
    write_options: &WriteOptions,
    timings: &mut Timings,
) -> Result<(WriteReport, Inventory), Error> {
    let plan = plan_variants(meta_graphs, output, &write_options.storage, timings)?;
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

/// Every path the export reads: the source's ([`source_paths`]) and the
/// warm-up file.
fn reads(source: &Path, located: &Source, options: &ExportOptions) -> Vec<PathBuf> {
    let mut paths = source_paths(source, located, options.checkpoint.as_deref());
    paths.extend(options.warmup.clone());
    paths
}

/// The warm-up file, read and parsed before the source is (a malformed one
/// fails fast); checked against the signature once the pipeline made it.
fn read_warmup(options: &ExportOptions) -> Result<Option<WarmupFile>, Error> {
    let warmup = options.warmup.as_deref().map(WarmupFile::read);
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
    let records = warmup.records(&model.signatures, &options.signature_name)?;
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
    let Some(explanation) = &options.explanation else {
        return Ok(None);
    };
    let metadata = ExplanationMetadata::of_served(
        &model.signatures,
        &options.signature_name,
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

/// What the passes did: their reports, the variants' graph, the freezing.
struct Ran {
    passes: Vec<PassReport>,
    placed: Option<Model>,
    frozen: Option<FreezeReport>,
    /// The features parsed from tf.Examples, if the examples pass ran.
    examples: Option<Vec<Feature>>,
}

/// Runs the serving pipeline once, then freezes when asked. With variants,
/// the graph is copied for them (frozen too) before its devices are cleared
/// (the pipeline's last pass, and the only one a variant skips); that copy
/// is returned.
fn run_passes(
    model: &mut Model,
    options: &ExportOptions,
    timings: &mut Timings,
) -> Result<Ran, Error> {
    let mut cx = PassContext::new();
    if options.variants.is_empty() {
        let pipeline = Pipeline::serving(&options.serving_spec());
        let mut passes = pipeline.run_timed(model, &mut cx, timings)?;
        let frozen = freeze_if_asked(model, options, &mut cx, &mut passes, timings)?;
        return Ok(Ran {
            passes,
            placed: None,
            frozen,
            examples: cx.example_features.take(),
        });
    }
    let placing = ServingSpec {
        keep_devices: true,
        ..options.serving_spec()
    };
    let mut passes = Pipeline::serving(&placing).run_timed(model, &mut cx, timings)?;
    let frozen = freeze_if_asked(model, options, &mut cx, &mut passes, timings)?;
    let placed = model.clone();
    if !options.keep_devices {
        let mut clearing = Pipeline::empty();
        clearing.push(ClearDevicesPass);
        passes.extend(clearing.run_timed(model, &mut cx, timings)?);
    }
    Ok(Ran {
        passes,
        placed: Some(placed),
        frozen,
        examples: cx.example_features.take(),
    })
}

/// Freezes the variables when `options.freeze` says so, counting one copy
/// of the constants per MetaGraphDef written; the pass is reported, timed
/// and validated like the pipeline's.
fn freeze_if_asked(
    model: &mut Model,
    options: &ExportOptions,
    cx: &mut PassContext,
    passes: &mut Vec<PassReport>,
    timings: &mut Timings,
) -> Result<Option<FreezeReport>, Error> {
    let Some(limits) = &options.freeze else {
        return Ok(None);
    };
    let pass = FreezePass { limits: *limits };
    let started = Instant::now();
    let meta_graphs = 1 + options.variants.len();
    let (frozen, mut report) =
        freeze_variables(model, limits, meta_graphs).map_err(PassError::from)?;
    report.pass = pass.name().into();
    report.micros = started.elapsed().as_micros() as u64;
    timings.record(Stage::Pass(report.pass.clone()), started.elapsed());
    if cx.validate_between_passes {
        let pass = pass.name();
        model
            .graph
            .validate()
            .map_err(|source| PassError::Invalid { pass, source })?;
    }
    passes.push(report);
    Ok(Some(frozen))
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

#[cfg(test)]
mod tests {
    use super::*;

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
