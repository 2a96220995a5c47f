//! The lean path of [`export_serving_model`](crate::export_serving_model):
//! a TF2 SavedModel exported without `--input`/`--output` keeps its own
//! signatures (all, or those asked for), pruned to what they reach, and is
//! written by [`write_lean`]. Options that rewrite the graph the TF1 path
//! builds do not apply here and are refused, naming the flag, before
//! anything is written.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::report::LeanReport;
use super::retype::{choose_half_variables, retype_chosen};
use super::write::bundle::Values;
use super::write::{LeanWriteOptions, LeanWritten, write_lean};
use super::{LeanPlan, Tf2Error, plan_lean};
use crate::back::size::ProjectedSize;
use crate::back::write::saved_model::{VariableReport, WriteReport};
use crate::error::Error;
use crate::export::{
    DroppedVariable, ExportOptions, ExportReport, MLS1_LIMIT_BYTES, N1_LIMIT_BYTES, size_verdict,
};
use crate::format::bundle::BundleReader;
use crate::format::proto::MetaGraphDef;
use crate::front::object_graph::ObjectGraph;
use crate::model::Signature;
use crate::passes::method::ServingMethod;
use crate::storage::{StorageReport, WeightPrecision};
use crate::timings::{Stage, Timings};

/// The init op's entry among the signatures; not a signature users call.
const INIT_OP_SIGNATURE: &str = "__saved_model_init_op";

/// Exports the TF2 SavedModel in `dir` (whose selected MetaGraphDef is
/// `meta`) to `out_dir` as `options` say. `source` is the path as given.
pub fn export_lean(
    source: &Path,
    dir: &Path,
    meta: MetaGraphDef,
    out_dir: &Path,
    options: &ExportOptions,
    started: Instant,
) -> Result<ExportReport, Error> {
    refuse_unsupported(dir, options)?;
    let mut timings = Timings::new();
    let checkpoint = dir.join("variables/variables");
    let bundle = BundleReader::open(&checkpoint).map_err(|e| Tf2Error::Bundle {
        path: checkpoint.clone(),
        source: e,
    })?;
    let checkpoint_graph = ObjectGraph::read(&bundle)?
        .ok_or_else(|| Tf2Error::NoCheckpointGraph {
            path: checkpoint.clone(),
        })?
        .to_proto();
    let mut plan = timings.time(Stage::Pass("tf2-lean-plan".into()), || {
        plan_lean(dir, &meta, &checkpoint_graph, &options.source_signatures)
    })?;
    set_tags(&mut plan.meta_graph, &options.tags);
    let values_from = options
        .checkpoint
        .as_deref()
        .map(crate::front::read::checkpoint_prefix)
        .transpose()?;
    let storage = timings.time(Stage::Pass("tf2-retype".into()), || {
        retype_if_asked(&bundle, values_from.as_deref(), &mut plan, options)
    })?;
    let write_options = LeanWriteOptions {
        overwrite: options.overwrite,
        max_size: options.max_size,
        checkpoint: values_from,
        progress: options.progress.clone(),
    };
    let written = timings.time(Stage::VariableCopy, || {
        write_lean(dir, &plan, out_dir, &write_options)
    })?;
    let dropped = dropped_keys(&bundle, &plan)?;
    let source_bytes = directory_bytes(dir);
    let mut report = export_report(source, out_dir, &meta, &plan, &written, dropped, timings);
    if storage.is_some() {
        // Measured again knowing the weights are stored as float16.
        report.size = size_verdict(&report.written, &options.storage).ok();
    }
    report.storage = storage;
    report.lean = Some(LeanReport::of(&plan, &written, source_bytes));
    report.timings.record(Stage::Total, started.elapsed());
    Ok(report)
}

/// Refuses, naming the flag, what only the TF1 path does.
fn refuse_unsupported(dir: &Path, options: &ExportOptions) -> Result<(), Tf2Error> {
    let refuse = |option: &str, why: &str| {
        Err(Tf2Error::Unsupported {
            path: dir.to_path_buf(),
            option: option.into(),
            why: why.into(),
        })
    };
    let rewrites = "it rewrites the served graph, and the source's signatures are kept as they are";
    if options.examples {
        return refuse("--examples", rewrites);
    }
    if options.method != ServingMethod::Predict {
        return refuse("--method", rewrites);
    }
    if options.class_names.is_some() {
        return refuse("--class-names", rewrites);
    }
    if !options.training_flags.is_empty() {
        return refuse("--training-flag", rewrites);
    }
    if !options.variants.is_empty() {
        return refuse("--variant", "the export has one MetaGraphDef, the source's");
    }
    if options.warmup.is_some() {
        return refuse(
            "--warmup",
            "warm-up records are checked against a served graph the TF1 path builds",
        );
    }
    if options.explanation.is_some() {
        return refuse(
            "--explanation",
            "explanation metadata is derived from a served graph the TF1 path builds",
        );
    }
    if options.max_vocab.is_some() {
        return refuse(
            "--max-vocab",
            "vocabulary tables inside functions are not traced",
        );
    }
    if options.freeze.is_some() {
        return refuse(
            "--freeze",
            "the variables are captured by functions, which keep reading them; \
             naming the served tensors (--output KEY=StatefulPartitionedCall:0) takes \
             the graph path, which inlines the functions and freezes",
        );
    }
    if options.explain.is_some() {
        return refuse(
            "--explain",
            "no pass runs: the functions are kept as they are",
        );
    }
    if options.storage.narrow_int64 {
        return refuse(
            "--narrow-int64",
            "the functions read the variables in their own dtype",
        );
    }
    if options.storage.weights == WeightPrecision::Int8 {
        return refuse(
            "--weights int8",
            "int8 weights need their scales multiplied back after every read inside \
             the functions, which is not done; --weights f16 is",
        );
    }
    Ok(())
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
    let (chosen, storage) =
        choose_half_variables(reader, &plan.variables, &values.keys, &options.storage).map_err(
            |e| Tf2Error::Bundle {
                path: reader.prefix().to_path_buf(),
                source: e,
            },
        )?;
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
            super::write::bundle::key_bytes(bundle, &name).map_err(|e| Tf2Error::Bundle {
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
    let kept: Vec<VariableReport> = plan
        .variables
        .iter()
        .zip(&written.variables.keys)
        .map(|(variable, copied)| VariableReport {
            node: variable.node.clone(),
            key: copied.key.clone(),
            dtype: copied.dtype.clone(),
            shape: copied.shape.clone(),
            bytes: copied.bytes,
        })
        .collect();
    let root_files_bytes = written.total_bytes
        - written.saved_model_bytes
        - written.variables.bytes
        - written.assets.iter().map(|a| a.bytes).sum::<u64>();
    let mut write_report = WriteReport {
        path: out_dir.to_path_buf(),
        variables: kept.clone(),
        assets: written.assets.iter().map(|a| a.path.clone()).collect(),
        saved_model_bytes: written.saved_model_bytes,
        variables_bytes: written.variables.bytes,
        assets_bytes: written.assets.iter().map(|a| a.bytes).sum(),
        assets_extra_bytes: 0,
        root_files_bytes,
        warnings: written.warnings.clone(),
        storage: None,
    };
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
        passes: Vec::new(),
        signatures: kept_signatures(&plan.meta_graph),
        kept,
        dropped,
        written: write_report,
        variants: Vec::new(),
        total_bytes,
        fits_mls1: total_bytes <= MLS1_LIMIT_BYTES,
        fits_n1: total_bytes <= N1_LIMIT_BYTES,
        timings,
        left_behind: None,
        vocab: None,
        // What `--max-size` was checked against: the plan's bytes, which are
        // the written ones (the bundle's planned index is the written one's length).
        projected_size: ProjectedSize {
            saved_model_bytes: written.saved_model_bytes,
            variables_data_bytes: written.variables.bytes - written.variables.index_bytes,
            variables_index_bytes: written.variables.index_bytes,
            assets_bytes: written.assets.iter().map(|a| a.bytes).sum(),
            total_bytes,
        },
        size,
        frozen: None,
        warmup: None,
        storage: None,
        explanation: None,
        examples: None,
        explain: None,
        lean: None,
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

/// Whether the SavedModel in `dir` is exported on the lean path with
/// `options`: its MetaGraphDef (the one `options.source_tags` select) has
/// an object graph and no tensors are named. Returns that MetaGraphDef.
pub fn lean_source(dir: &Path, options: &ExportOptions) -> Result<Option<MetaGraphDef>, Error> {
    if !options.inputs.is_empty() || !options.outputs.is_empty() {
        return Ok(None);
    }
    let (meta, _) = crate::front::read::read_saved_model(dir, &options.source_tags)?;
    Ok(super::has_object_graph(&meta).then_some(meta))
}
