//! The lean route: a TF2 SavedModel exported without inputs or outputs
//! named keeps its own signatures (all, or those asked for), pruned to
//! what they reach, and is written by [`write_lean`]. Options that rewrite
//! the graph the graph route builds do not apply here and are refused,
//! naming the flag, before the variables are read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Job, Route};
use crate::back::size::ProjectedSize;
use crate::back::write::saved_model::{VariableReport, WriteReport};
use crate::export::error::Error;
use crate::export::options::ExportOptions;
use crate::export::report::{ExportReport, GraphRouteReport};
use crate::export::verdict::{DroppedVariable, size_verdict};
use crate::export::{MLS1_LIMIT_BYTES, N1_LIMIT_BYTES};
use crate::format::bundle::BundleReader;
use crate::format::proto::MetaGraphDef;
use crate::front::object_graph::ObjectGraph;
use crate::model::Signature;
use crate::passes::method::ServingMethod;
use crate::storage::{StorageReport, WeightPrecision};
use crate::tf2::LeanReport;
use crate::tf2::retype::{choose_half_variables, retype_chosen};
use crate::tf2::write::bundle::Values;
use crate::tf2::write::{LeanWriteOptions, LeanWritten, write_lean};
use crate::tf2::{LeanPlan, Tf2Error, plan_lean};
use crate::timings::{Stage, Timings};

/// The init op's entry among the signatures; not a signature users call.
const INIT_OP_SIGNATURE: &str = "__saved_model_init_op";

/// A TF2 SavedModel exported whole: its directory and the MetaGraphDef
/// the source tags select.
pub(super) struct LeanRoute {
    dir: PathBuf,
    meta: MetaGraphDef,
}

impl LeanRoute {
    /// The lean route for the SavedModel in `dir` when it is exported whole
    /// with `options`: its MetaGraphDef (the one the source tags select)
    /// has an object graph and no tensors are named.
    pub(super) fn for_source(
        dir: &Path,
        options: &ExportOptions,
    ) -> Result<Option<LeanRoute>, Error> {
        let serving = &options.serving;
        if !serving.inputs.is_empty() || !serving.outputs.is_empty() {
            return Ok(None);
        }
        let (meta, _) = crate::front::read::read_saved_model(dir, &options.source.tags)?;
        let lean = crate::tf2::has_object_graph(&meta).then(|| LeanRoute {
            dir: dir.to_path_buf(),
            meta,
        });
        Ok(lean)
    }
}

impl Route for LeanRoute {
    fn check_options(&self, options: &ExportOptions) -> Result<(), Error> {
        Ok(refuse_unsupported(&self.dir, options)?)
    }

    fn export(self: Box<Self>, job: Job<'_>) -> Result<ExportReport, Error> {
        let LeanRoute { dir, meta } = *self;
        let Job {
            source,
            out_dir,
            options,
            mut timings,
            ..
        } = job;
        let checkpoint = dir.join("variables/variables");
        let bundle = BundleReader::open(&checkpoint).map_err(|e| Tf2Error::Bundle {
            path: checkpoint.clone(),
            source: e,
        })?;
        let mut plan = plan_the_cut(&dir, &meta, &bundle, options, &mut timings)?;
        let values_from = options
            .source
            .checkpoint
            .as_deref()
            .map(crate::front::read::checkpoint_prefix)
            .transpose()?;
        let storage = timings.time(Stage::Pass("tf2-retype".into()), || {
            retype_if_asked(&bundle, values_from.as_deref(), &mut plan, options)
        })?;
        let write_options = LeanWriteOptions {
            overwrite: options.output.overwrite,
            max_size: options.output.max_size,
            checkpoint: values_from,
            progress: options.output.progress.clone(),
        };
        let written = timings.time(Stage::VariableCopy, || {
            write_lean(&dir, &plan, out_dir, &write_options)
        })?;
        let dropped = dropped_keys(&bundle, &plan)?;
        let source_bytes = directory_bytes(&dir);
        let mut report = export_report(source, out_dir, &meta, &plan, &written, dropped, timings);
        if storage.is_some() {
            // Measured again knowing the weights are stored as float16.
            let conversion = options.storage.conversion();
            report.size = size_verdict(&report.written, &conversion).ok();
        }
        report.storage = storage;
        report.lean = Some(LeanReport::of(&plan, &written, source_bytes));
        Ok(report)
    }
}

/// The plan of what the export keeps: the signatures chosen, pruned to
/// what they reach, under the export's tags.
fn plan_the_cut(
    dir: &Path,
    meta: &MetaGraphDef,
    bundle: &BundleReader,
    options: &ExportOptions,
    timings: &mut Timings,
) -> Result<LeanPlan, Error> {
    let checkpoint_graph = ObjectGraph::read(bundle)?
        .ok_or_else(|| Tf2Error::NoCheckpointGraph {
            path: bundle.prefix().to_path_buf(),
        })?
        .to_proto();
    let mut plan = timings.time(Stage::Pass("tf2-lean-plan".into()), || {
        plan_lean(dir, meta, &checkpoint_graph, &options.source.signatures)
    })?;
    set_tags(&mut plan.meta_graph, &options.serving.tags);
    Ok(plan)
}

/// Refuses, naming the flag, the first option only the graph route
/// honours, with why.
fn refuse_unsupported(dir: &Path, options: &ExportOptions) -> Result<(), Tf2Error> {
    let refused = unsupported(options)
        .into_iter()
        .find(|(given, _, _)| *given);
    match refused {
        Some((_, option, why)) => Err(Tf2Error::Unsupported {
            path: dir.to_path_buf(),
            option: option.into(),
            why: why.into(),
        }),
        None => Ok(()),
    }
}

/// Each option the lean route cannot honour, by group: whether it is
/// given, its flag, and why it is refused. Checked in this order.
fn unsupported(options: &ExportOptions) -> [(bool, &'static str, &'static str); 15] {
    let (serving, storage, output) = (&options.serving, &options.storage, &options.output);
    let rewrites = "it rewrites the served graph, and the source's signatures are kept as they are";
    [
        (serving.examples, "--examples", rewrites),
        (
            serving.method != ServingMethod::Predict,
            "--method",
            rewrites,
        ),
        (serving.class_names.is_some(), "--class-names", rewrites),
        (
            serving.estimator_signatures,
            "--estimator-signatures",
            rewrites,
        ),
        (
            !serving.training_flags.is_empty(),
            "--training-flag",
            rewrites,
        ),
        (serving.fixed_batch, "--fixed-batch", rewrites),
        (
            serving.moving_averages,
            "--moving-averages",
            "moving averages are found from the update ops of a TF1 training graph",
        ),
        (
            !serving.variants.is_empty(),
            "--variant",
            "the export has one MetaGraphDef, the source's",
        ),
        (
            output.warmup.is_some(),
            "--warmup",
            "warm-up records are checked against a served graph the TF1 path builds",
        ),
        (
            output.explanation.is_some(),
            "--explanation",
            "explanation metadata is derived from a served graph the TF1 path builds",
        ),
        (
            storage.max_vocab.is_some(),
            "--max-vocab",
            "vocabulary tables inside functions are not traced",
        ),
        (
            storage.freeze.is_some(),
            "--freeze",
            "the variables are captured by functions, which keep reading them; \
             naming the served tensors (--output KEY=StatefulPartitionedCall:0) takes \
             the graph path, which inlines the functions and freezes",
        ),
        (
            output.explain.is_some(),
            "--explain",
            "no pass runs: the functions are kept as they are",
        ),
        (
            storage.narrow_int64,
            "--narrow-int64",
            "the functions read the variables in their own dtype",
        ),
        (
            storage.weights == WeightPrecision::Int8,
            "--weights int8",
            "int8 weights need their scales multiplied back after every read inside \
             the functions, which is not done; --weights f16 is",
        ),
    ]
}

/// The retyping stage: with `--weights f16`, the variables large enough and
/// within float16's range (judged on the values the export writes: `values_from`,
/// else the source's) are retyped in the plan, so the writer stores them as
/// float16. Returns the storage report; `None` when float32 is kept.
fn retype_if_asked(
    bundle: &BundleReader,
    values_from: Option<&Path>,
    plan: &mut LeanPlan,
    options: &ExportOptions,
) -> Result<Option<StorageReport>, Tf2Error> {
    if options.storage.weights != WeightPrecision::F16 {
        return Ok(None);
    }
    let other;
    let reader = match values_from {
        Some(prefix) => {
            other = BundleReader::open(prefix).map_err(|e| Tf2Error::Bundle {
                path: prefix.to_path_buf(),
                source: e,
            })?;
            &other
        }
        None => bundle,
    };
    let values = match values_from {
        Some(_) => Values::from_checkpoint(reader, &plan.variables)?,
        None => Values::own(reader, &plan.variables),
    };
    let (chosen, storage) = choose_half_variables(
        reader,
        &plan.variables,
        &values.keys,
        &options.storage.conversion(),
    )
    .map_err(|e| Tf2Error::Bundle {
        path: reader.prefix().to_path_buf(),
        source: e,
    })?;
    retype_chosen(&mut plan.meta_graph, &mut plan.variables, &chosen)?;
    Ok(Some(storage))
}

/// The written MetaGraphDef is found under the export's tags.
fn set_tags(meta: &mut MetaGraphDef, tags: &[String]) {
    let info = meta.meta_info_def.get_or_insert_with(Default::default);
    info.tags = tags.to_vec();
}

/// Every key of the source's `variables/` the export leaves out, with its
/// bytes and the plan's reason (or "not read by a kept signature").
fn dropped_keys(bundle: &BundleReader, plan: &LeanPlan) -> Result<Vec<DroppedVariable>, Error> {
    let reasons: BTreeMap<&str, &str> = plan
        .dropped
        .keys
        .iter()
        .map(|k| (k.key.as_str(), k.reason.as_str()))
        .collect();
    let kept: std::collections::BTreeSet<&str> =
        plan.variables.iter().map(|v| v.key.as_str()).collect();
    let mut dropped = Vec::new();
    for name in bundle.names() {
        if kept.contains(name.as_str()) || name == crate::front::object_graph::OBJECT_GRAPH_KEY {
            continue;
        }
        let bytes =
            crate::tf2::write::bundle::key_bytes(bundle, &name).map_err(|e| Tf2Error::Bundle {
                path: bundle.prefix().to_path_buf(),
                source: e,
            })?;
        let reason = reasons
            .get(name.as_str())
            .copied()
            .unwrap_or("not read by a kept signature");
        dropped.push(DroppedVariable {
            reason: reason.to_string(),
            key: name,
            bytes,
        });
    }
    Ok(dropped)
}

/// The signatures the export serves (the init op's entry left out).
fn kept_signatures(meta: &MetaGraphDef) -> BTreeMap<String, Signature> {
    let served = meta
        .signature_def
        .iter()
        .filter(|(key, _)| *key != INIT_OP_SIGNATURE);
    served
        .map(|(key, def)| (key.clone(), Signature::from_signature_def(def)))
        .collect()
}

fn graph_nodes(meta: &MetaGraphDef) -> usize {
    meta.graph_def.as_ref().map_or(0, |g| g.node.len())
}

/// The export report of the lean path, in the fields every export fills.
fn export_report(
    source: &Path,
    out_dir: &Path,
    meta: &MetaGraphDef,
    plan: &LeanPlan,
    written: &LeanWritten,
    dropped: Vec<DroppedVariable>,
    timings: Timings,
) -> ExportReport {
    let mut write_report = write_report(out_dir, plan, written);
    let size = size_verdict(&write_report, &Default::default())
        .map_err(|e| {
            let warning = format!("could not measure {}: {e}", out_dir.display());
            write_report.warnings.push(warning);
        })
        .ok();
    let total_bytes = written.total_bytes;
    ExportReport {
        source: source.to_path_buf(),
        output: out_dir.to_path_buf(),
        nodes_before: graph_nodes(meta),
        nodes_after: written.graph_nodes,
        signatures: kept_signatures(&plan.meta_graph),
        kept: write_report.variables.clone(),
        variables_kept: crate::model::KeptTotals::of(&write_report.variables),
        dropped,
        written: write_report,
        total_bytes,
        output_bytes: size.as_ref().map_or(total_bytes, |s| s.total_bytes),
        fits_mls1: total_bytes <= MLS1_LIMIT_BYTES,
        fits_n1: total_bytes <= N1_LIMIT_BYTES,
        timings,
        projected_size: projected_size(written),
        size,
        storage: None,
        graph: GraphRouteReport::default(),
        lean: None,
    }
}

/// What the lean writer wrote, in the graph route's terms.
fn write_report(out_dir: &Path, plan: &LeanPlan, written: &LeanWritten) -> WriteReport {
    let kept = plan.variables.iter().zip(&written.variables.keys);
    let variables = kept
        .map(|(variable, copied)| VariableReport {
            node: variable.node.clone(),
            key: copied.key.clone(),
            dtype: copied.dtype.clone(),
            shape: copied.shape.clone(),
            bytes: copied.bytes,
            stored_dtype: copied.dtype.clone(),
            source_bytes: copied.source_bytes,
            full_shape: None,
        })
        .collect();
    let assets_bytes: u64 = written.assets.iter().map(|a| a.bytes).sum();
    WriteReport {
        path: out_dir.to_path_buf(),
        variables,
        assets: written.assets.iter().map(|a| a.path.clone()).collect(),
        saved_model_bytes: written.saved_model_bytes,
        variables_bytes: written.variables.bytes,
        assets_bytes,
        assets_extra_bytes: 0,
        root_files_bytes: written.total_bytes
            - written.saved_model_bytes
            - written.variables.bytes
            - assets_bytes,
        warnings: written.warnings.clone(),
        storage: None,
    }
}

/// What `--max-size` was checked against: the plan's bytes, which are the
/// written ones (the bundle's planned index is the written one's length).
fn projected_size(written: &LeanWritten) -> ProjectedSize {
    ProjectedSize {
        saved_model_bytes: written.saved_model_bytes,
        variables_data_bytes: written.variables.bytes - written.variables.index_bytes,
        variables_index_bytes: written.variables.index_bytes,
        assets_bytes: written.assets.iter().map(|a| a.bytes).sum(),
        total_bytes: written.total_bytes,
    }
}

/// Bytes of every file under `dir`.
pub fn directory_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => directory_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
