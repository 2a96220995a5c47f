//! Model → SavedModel directory: `saved_model.pb` (one TF1-style
//! MetaGraphDef per variant, sharing one set of variables), `variables/`
//! copied by byte range from the training checkpoint, and `assets/`.
//! Written into a staging directory and renamed into place at the end.

use super::streamed::{self, GraphNodes, PlannedMetaGraph, PlannedSavedModel};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::WriteError;
use super::atomic::{Overwrite, StagedDir, check_replaceable};
use super::guard::{directory_of, keep_apart, resolve_output};
use super::meta_graph::{AssetSpec, MetaGraphParts, build_meta_graph};
use super::progress::{CopyProgress, Reporting};
use super::saver::stored::Storage;
use super::saver::{SavedVariable, VariableKind, build_saver};
use crate::format::bundle::copy_plan::CopyPlan;
use crate::format::bundle::slices::parse_spec;
use crate::format::bundle::{BundleError, BundleReader, BundleWriter};
use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, DataType, OpList, VariableDef};
use crate::ir::constants::string_const;
use crate::ir::{AttrExt, Graph, Node, NodeId, TensorRef};
use crate::model::{Asset, CheckpointSlot, Model, Saving, asset_name_problem};
use crate::op_kinds::{is_resource_variable_op, is_variable_op};
use crate::storage::StorageOptions;
use crate::storage::plan::{KeyPlan, StoragePlan, StoredForm, VariableSlot, plan_variables};
use crate::storage::recode::{KeyErrors, KeyRecoder};
use crate::storage::report::StorageReport;
use crate::timings::{Stage, Timings};
use crate::typing::base_dtype;

/// What a written SavedModel holds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WriteReport {
    pub path: PathBuf,
    pub variables: Vec<VariableReport>,
    pub assets: Vec<String>,
    pub saved_model_bytes: u64,
    pub variables_bytes: u64,
    pub assets_bytes: u64,
    /// Bytes of the files written under `assets.extra/` (warm-up requests).
    pub assets_extra_bytes: u64,
    /// Bytes of the files written beside `saved_model.pb` (explanation metadata).
    pub root_files_bytes: u64,
    /// What went wrong after the output was in place (it stands regardless).
    pub warnings: Vec<String>,
    /// The variables stored in another dtype (the export report carries it
    /// with the constants'), when a conversion was asked for.
    #[serde(skip)]
    pub storage: Option<StorageReport>,
}

impl WriteReport {
    /// Every byte written: `saved_model.pb`, variables, assets,
    /// `assets.extra` and the files beside `saved_model.pb`.
    pub fn total_bytes(&self) -> u64 {
        self.saved_model_bytes
            + self.variables_bytes
            + self.assets_bytes
            + self.assets_extra_bytes
            + self.root_files_bytes
    }
}

/// One variable kept in the export.
pub use crate::model::KeptVariable as VariableReport;

/// One variant of the model in the SavedModel (say CPU and GPU graphs).
pub struct MetaGraphVariant<'a> {
    pub model: &'a Model,
    pub tags: Vec<String>,
}

/// How to write: whether an existing output may be replaced, who hears
/// how the variable copy advances, and which extra files to add.
/// `Default`: refuse, nobody, none.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Replace an existing output directory. Default: refuse.
    pub overwrite: Overwrite,
    /// Told the bytes copied into `variables/`. Default: none.
    pub progress: Option<Arc<dyn CopyProgress>>,
    /// The dtypes variables are stored in. Default: as in the checkpoint.
    pub storage: StorageOptions,
    /// Refuse, before writing anything, a `saved_model.pb` larger than
    /// this many bytes (a frozen export's limit). Default: none.
    pub max_saved_model_bytes: Option<u64>,
    /// Files written under `assets.extra/` (name → contents), which serving
    /// systems read and the loaders ignore, such as TensorFlow Serving's
    /// warm-up requests. Default: none.
    pub assets_extra: BTreeMap<String, Bytes>,
    /// Files written beside `saved_model.pb` (name → contents), which
    /// serving systems read and the loaders ignore, such as AI Platform's
    /// `explanation_metadata.json`. A name the SavedModel format uses
    /// itself is refused. Default: none.
    pub root_files: BTreeMap<String, Bytes>,
}

/// `Overwrite` alone is the write options of a plain write: no progress,
/// no conversion, no extra files.
impl From<Overwrite> for WriteOptions {
    fn from(overwrite: Overwrite) -> WriteOptions {
        WriteOptions {
            overwrite,
            ..WriteOptions::default()
        }
    }
}

/// Writes one model under `tags`, as `options` say (an [`Overwrite`] alone
/// will do).
pub fn write_saved_model(
    model: &Model,
    tags: &[String],
    out_dir: impl AsRef<Path>,
    options: impl Into<WriteOptions>,
) -> Result<WriteReport, WriteError> {
    let variant = MetaGraphVariant {
        model,
        tags: tags.to_vec(),
    };
    write_variants(&[variant], out_dir, options)
}

/// Writes several MetaGraphDefs that share one set of variables (and must
/// therefore agree on them), as `options` say (an [`Overwrite`] alone will do).
pub fn write_variants(
    variants: &[MetaGraphVariant<'_>],
    out_dir: impl AsRef<Path>,
    options: impl Into<WriteOptions>,
) -> Result<WriteReport, WriteError> {
    let out_dir = out_dir.as_ref();
    let options = options.into();
    // An output that may not be replaced is refused before any work.
    check_replaceable(&resolve_output(out_dir)?, options.overwrite)?;
    let timings = &mut Timings::new();
    let plan = plan_variants(variants, out_dir, &options.storage, timings)?;
    write_plan(plan, &options, timings)
}

/// Every tag set is non-empty and has no empty tag. A MetaGraphDef is
/// found by its tags; one written without any would not be found under
/// `serve`, so an empty tag set is refused rather than written.
pub fn check_tag_sets<'t>(
    tag_sets: impl IntoIterator<Item = &'t [String]>,
    out_dir: &Path,
) -> Result<(), WriteError> {
    for tags in tag_sets {
        let problem = if tags.is_empty() {
            "an empty tag set"
        } else if tags.iter().any(|tag| tag.trim().is_empty()) {
            "an empty tag"
        } else {
            continue;
        };
        return Err(WriteError::BadTagSet {
            output: out_dir.to_path_buf(),
            problem,
        });
    }
    Ok(())
}

/// What writing some variants will put on disk, worked out before anything
/// is created: the `saved_model.pb` message and its encoded length, the
/// checkpoint keys to copy and the assets, so its size can be known (and
/// refused) first.
pub struct WritePlan<'a> {
    output: PathBuf,
    report: WriteReport,
    /// Encoded only as it is written ([`streamed`]).
    saved_model: PlannedSavedModel<'a>,
    saved_model_len: u64,
    variable_keys: VariableKeys,
    assets: Vec<PlannedAsset<'a>>,
    /// How each kept key is stored (converted ones, with their scales).
    storage: StoragePlan,
    /// Kept key → the checkpoint key whose bytes it is written with (a
    /// moving average served in the variable's place).
    aliases: BTreeMap<String, String>,
}

/// An asset to copy, checked, with its size when planned.
pub struct PlannedAsset<'a> {
    pub model: &'a Model,
    pub asset: &'a Asset,
    pub bytes: u64,
}

/// Checks the output against what the variants read, decides how each
/// variable is stored (`storage`), builds every MetaGraphDef and encodes
/// the SavedModel; creates nothing.
pub fn plan_variants<'a>(
    variants: &[MetaGraphVariant<'a>],
    out_dir: impl AsRef<Path>,
    storage: &StorageOptions,
    timings: &mut Timings,
) -> Result<WritePlan<'a>, WriteError> {
    plan_variants_with(variants, out_dir, storage, None, timings)
}

/// [`plan_variants`] with the first variant's storage plan when it is
/// known (what [`lower_for_saving`] returned for its model, under the same
/// `storage` options), so the checkpoint's converted variables are not
/// read again to plan it.
pub fn plan_variants_with<'a>(
    variants: &[MetaGraphVariant<'a>],
    out_dir: impl AsRef<Path>,
    storage: &StorageOptions,
    known: Option<StoragePlan>,
    timings: &mut Timings,
) -> Result<WritePlan<'a>, WriteError> {
    let out_dir = out_dir.as_ref();
    check_tag_sets(variants.iter().map(|v| v.tags.as_slice()), out_dir)?;
    let output = resolve_output(out_dir)?;
    keep_apart(&output, &read_paths(variants))?;
    let mut report = WriteReport {
        path: out_dir.to_path_buf(),
        ..WriteReport::default()
    };
    let mut saved_model = PlannedSavedModel::default();
    let mut variable_keys = VariableKeys::new();
    let mut assets = Vec::new();
    let storage = match known {
        Some(plan) => plan,
        None => timings.time(Stage::RestoreBuild, || {
            storage_plan(variants.first().map(|v| v.model), storage)
        })?,
    };
    for variant in variants {
        let prepared = timings.time(Stage::RestoreBuild, || prepare(variant.model, &storage))?;
        add_new_assets(variant.model, &mut report, &mut assets)?;
        add_variables(
            &prepared.report,
            variant.model,
            &storage,
            &mut report,
            &mut variable_keys,
        );
        let meta_graph = timings.time(Stage::Encode, || meta_graph_of(prepared, &variant.tags));
        saved_model.meta_graphs.push(meta_graph);
    }
    let saved_model_len = timings.time(Stage::Encode, || saved_model.encoded_len() as u64);
    let aliases = variants
        .iter()
        .flat_map(|v| v.model.served_averages.clone())
        .collect();
    Ok(WritePlan {
        output,
        report,
        saved_model,
        saved_model_len,
        variable_keys,
        assets,
        storage,
        aliases,
    })
}

impl<'a> WritePlan<'a> {
    /// The checkpoint at `prefix` as the write reads it: a variable served
    /// by its moving average reads the average's bytes.
    pub fn open_checkpoint(&self, prefix: &Path) -> Result<BundleReader, BundleError> {
        open_aliased(prefix, &self.aliases)
    }

    /// The length of `saved_model.pb`.
    pub fn saved_model_bytes(&self) -> u64 {
        self.saved_model_len
    }

    /// Each checkpoint key to write, the checkpoint it comes from and its
    /// bytes in `variables/`.
    pub fn variable_keys(&self) -> impl Iterator<Item = (&str, &Path, u64)> {
        let keys = self.variable_keys.iter();
        keys.map(|(key, (checkpoint, bytes))| (key.as_str(), checkpoint.as_path(), *bytes))
    }

    /// The exact length of the `variables/variables.index` the write will
    /// produce (0 without variables: no `variables/` is written).
    pub fn variables_index_bytes(&self) -> Result<u64, WriteError> {
        Ok(self
            .variables_index()?
            .map_or(0, |index| index.len() as u64))
    }

    /// The `variables/variables.index` the write will produce, byte for
    /// byte: each key placed as the variable copy writes it, copied or
    /// converted with its int8 scales. `None` without variables.
    pub fn variables_index(&self) -> Result<Option<Vec<u8>>, WriteError> {
        if self.variable_keys.is_empty() {
            return Ok(None);
        }
        let mut readers: BTreeMap<&Path, BundleReader> = BTreeMap::new();
        let mut planned = CopyPlan::new(Path::new("variables/variables"));
        for (key, (checkpoint, _)) in &self.variable_keys {
            let reader = match readers.entry(checkpoint) {
                Entry::Occupied(open) => open.into_mut(),
                Entry::Vacant(slot) => slot.insert(self.open_checkpoint(checkpoint)?),
            };
            let Some(key_plan) = self.storage.keys.get(key) else {
                planned.copy(reader, key)?;
                continue;
            };
            let dtype = key_plan.form.stored_dtype(key_plan.dtype);
            planned.recode(reader, key, dtype, &key_plan.records)?;
            for (scales_key, bytes) in key_plan.scale_entries() {
                planned.add(
                    scales_key,
                    DataType::DtFloat,
                    key_plan.scales_shape(),
                    &bytes,
                )?;
            }
        }
        Ok(Some(planned.index()?))
    }

    /// How `key` is converted, if it is.
    pub fn key_plan(&self, key: &str) -> Option<&KeyPlan> {
        self.storage.keys.get(key)
    }

    /// Each asset the write copies (once per file name).
    pub fn assets(&self) -> &[PlannedAsset<'a>] {
        &self.assets
    }
}

/// Creates the staging directory, copies the assets and variables, writes
/// `saved_model.pb` and renames the whole into place.
pub fn write_plan(
    plan: WritePlan<'_>,
    options: &WriteOptions,
    timings: &mut Timings,
) -> Result<WriteReport, WriteError> {
    check_saved_model_size(plan.saved_model_bytes(), options.max_saved_model_bytes)?;
    let staged = StagedDir::create(&plan.output, options.overwrite)?;
    let mut report = plan.report;
    if !plan.assets.is_empty() {
        timings.time(Stage::AssetCopy, || {
            let assets_dir = staged.path().join("assets");
            let copy =
                |planned: &PlannedAsset| copy_asset(&assets_dir, planned.model, planned.asset);
            plan.assets.iter().try_for_each(copy)
        })?;
    }
    let (variables_bytes, errors) = timings.time(Stage::VariableCopy, || {
        copy_variables(
            staged.path(),
            &plan.variable_keys,
            &plan.storage,
            &plan.aliases,
            options.progress.as_deref(),
        )
    })?;
    report.variables_bytes = variables_bytes;
    report.storage = options
        .storage
        .is_active()
        .then(|| plan.storage.report(&errors, &options.storage));
    report.saved_model_bytes = timings.time(Stage::Encode, || {
        write_saved_model_file(staged.path(), &plan.saved_model)
    })?;
    report.assets_bytes = dir_size(&staged.path().join("assets"));
    report.assets_extra_bytes = write_assets_extra(staged.path(), &options.assets_extra)?;
    report.root_files_bytes = write_root_files(staged.path(), &options.root_files)?;
    report.warnings = timings.time(Stage::Fsync, || staged.commit())?;
    Ok(report)
}

/// Each kept checkpoint key, the checkpoint it is copied from and its size
/// as written (converted, with its int8 scales, when the storage plan says so).
type VariableKeys = BTreeMap<String, (PathBuf, u64)>;

/// The bundle at `prefix` with each key of `aliases` reading its alias's bytes.
fn open_aliased(
    prefix: &Path,
    aliases: &BTreeMap<String, String>,
) -> Result<BundleReader, BundleError> {
    let mut reader = BundleReader::open(prefix)?;
    for (key, source) in aliases {
        if reader.contains(source) {
            reader.alias(key, source)?;
        }
    }
    Ok(reader)
}

/// How the variables of the first variant (all variants share them) are
/// stored; empty when nothing is converted or there is no checkpoint.
fn storage_plan(
    model: Option<&Model>,
    options: &StorageOptions,
) -> Result<StoragePlan, WriteError> {
    let Some(model) = model else {
        return Ok(StoragePlan::default());
    };
    let Some(checkpoint) = model.checkpoint.as_ref().filter(|_| options.is_active()) else {
        return Ok(StoragePlan::default());
    };
    let slots: Vec<VariableSlot> = variables_of(model)?
        .into_iter()
        .map(|v| VariableSlot {
            node: v.node,
            dtype: v.dtype,
            key: v.slot.key,
            slice_spec: v.slot.slice_spec,
        })
        .collect();
    if slots.is_empty() {
        return Ok(StoragePlan::default());
    }
    let reader = model.open_checkpoint(checkpoint)?;
    Ok(plan_variables(&model.graph, &slots, &reader, options)?)
}

/// Checks and adds the variant's assets not already added for an earlier variant.
fn add_new_assets<'a>(
    model: &'a Model,
    report: &mut WriteReport,
    assets: &mut Vec<PlannedAsset<'a>>,
) -> Result<(), WriteError> {
    for asset in &model.assets {
        if !report.assets.contains(&asset.filename) {
            let bytes = check_asset(model, asset)?;
            assets.push(PlannedAsset {
                model,
                asset,
                bytes,
            });
            report.assets.push(asset.filename.clone());
        }
    }
    Ok(())
}

/// Adds the variant's variables to the report (once per node) and to the
/// keys to copy (once per key, from the first checkpoint that has it).
fn add_variables(
    variables: &[VariableReport],
    model: &Model,
    plan: &StoragePlan,
    report: &mut WriteReport,
    keys: &mut VariableKeys,
) {
    // A set, not a scan of the report: a scan is quadratic in the variables.
    let mut reported: HashSet<String> = report.variables.iter().map(|r| r.node.clone()).collect();
    for v in variables {
        if reported.insert(v.node.clone()) {
            report.variables.push(v.clone());
        }
    }
    if let Some(checkpoint) = &model.checkpoint {
        for v in variables {
            keys.entry(v.key.clone())
                .or_insert((checkpoint.clone(), plan.written_bytes(&v.key, v.bytes)));
        }
    }
}

/// The variant's MetaGraphDef: its graph with the saver's nodes, under `tags`.
fn meta_graph_of<'a>(prepared: Prepared<'a>, tags: &[String]) -> PlannedMetaGraph<'a> {
    let parts = MetaGraphParts {
        tags: tags.to_vec(),
        ..prepared.parts
    };
    let message = build_meta_graph(prepared.graph, &parts);
    PlannedMetaGraph::new(message, prepared.nodes)
}

/// Copies every kept tensor into `variables/`, by byte range or converted
/// as `plan` says, telling `progress` as it goes; returns the bytes written
/// and the error each conversion introduced.
fn copy_variables(
    staging: &Path,
    keys: &VariableKeys,
    plan: &StoragePlan,
    aliases: &BTreeMap<String, String>,
    progress: Option<&dyn CopyProgress>,
) -> Result<(u64, KeyErrors), WriteError> {
    let mut errors = KeyErrors::new();
    if keys.is_empty() {
        return Ok((0, errors));
    }
    let dir = staging.join("variables");
    std::fs::create_dir_all(&dir).map_err(|source| WriteError::Io {
        path: dir.clone(),
        source,
    })?;
    let total = keys.values().map(|(_, bytes)| bytes).sum();
    let reporting = Reporting::start(progress, total);
    let mut writer = BundleWriter::create(dir.join("variables"))?;
    let mut readers: BTreeMap<&Path, BundleReader> = BTreeMap::new();
    let mut copied = 0;
    for (key, (checkpoint, _)) in keys {
        let reader = match readers.entry(checkpoint) {
            Entry::Occupied(open) => open.into_mut(),
            Entry::Vacant(slot) => slot.insert(open_aliased(checkpoint, aliases)?),
        };
        let mut sink = reporting.sink();
        let progress = sink.as_mut().map(|advance| advance as &mut dyn FnMut(u64));
        let Some(key_plan) = plan.keys.get(key) else {
            copied += writer.copy_from_reporting(reader, key, progress)?;
            continue;
        };
        let written = convert_variable(&mut writer, reader, key, key_plan, &mut errors)?;
        if let Some(advance) = progress {
            advance(written);
        }
        copied += written;
    }
    writer.finish()?;
    Ok((copied, errors))
}

/// Writes `key` in its planned form, then its int8 scales; returns the bytes
/// written and records the conversion's error in `errors`.
fn convert_variable(
    writer: &mut BundleWriter,
    reader: &BundleReader,
    key: &str,
    plan: &KeyPlan,
    errors: &mut KeyErrors,
) -> Result<u64, WriteError> {
    let mut recoder = KeyRecoder::new(plan);
    let mut written = writer.recode_from(reader, key, &mut recoder)?;
    errors.insert(key.to_string(), recoder.error);
    for (scales_key, bytes) in plan.scale_entries() {
        writer.add(scales_key, DataType::DtFloat, plan.scales_shape(), &bytes)?;
        written += bytes.len() as u64;
    }
    Ok(written)
}

/// The exact encoded size of `saved_model.pb` against `limit`, before any
/// file of the output is written.
fn check_saved_model_size(bytes: u64, limit: Option<u64>) -> Result<(), WriteError> {
    match limit {
        Some(limit) if bytes > limit => Err(WriteError::SavedModelTooLarge { bytes, limit }),
        _ => Ok(()),
    }
}

/// Writes the SavedModel as `saved_model.pb`, encoding it as it goes
/// ([`streamed`]); returns its size.
fn write_saved_model_file(
    staging: &Path,
    message: &PlannedSavedModel<'_>,
) -> Result<u64, WriteError> {
    let file = staging.join("saved_model.pb");
    let io_error = |source| WriteError::Io {
        path: file.clone(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).map_err(io_error)?);
    let written = streamed::write_planned_saved_model(message, &mut out).map_err(io_error)?;
    std::io::Write::flush(&mut out).map_err(io_error)?;
    Ok(written)
}

/// What writing `variants` reads: checkpoint directories, asset files and
/// the directories assets are confined to, none of which the output may touch.
fn read_paths(variants: &[MetaGraphVariant<'_>]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for variant in variants {
        let model = variant.model;
        paths.extend(model.checkpoint.as_deref().map(directory_of));
        paths.extend(model.assets.iter().map(|a| a.source.clone()));
        paths.extend(model.asset_root.clone());
    }
    paths
}

/// Checks that an asset's name stays inside `assets/` (a custom pass may
/// have set any name) and, for a SavedModel source, that the file is inside
/// the source's own `assets/`; returns the bytes it will have in `assets/`
/// (its first lines only, for a trimmed vocabulary).
fn check_asset(model: &Model, asset: &Asset) -> Result<u64, WriteError> {
    if let Some(reason) = asset_name_problem(&asset.filename) {
        return Err(WriteError::UnsafeAssetName {
            name: asset.filename.clone(),
            node: asset.node.clone(),
            reason,
        });
    }
    let read_error = |source| asset_error(asset, source);
    if let Some(root) = &model.asset_root {
        let resolved = asset.source.canonicalize().map_err(read_error)?;
        if !resolved.starts_with(root) {
            return Err(WriteError::AssetOutsideSource {
                name: asset.filename.clone(),
                node: asset.node.clone(),
                path: resolved,
                root: root.clone(),
            });
        }
    }
    let metadata = std::fs::metadata(&asset.source).map_err(read_error)?;
    match asset.keep_lines {
        Some(lines) => crate::vocab::prefix_len(&asset.source, lines).map_err(read_error),
        None => Ok(metadata.len()),
    }
}

fn asset_error(asset: &Asset, source: std::io::Error) -> WriteError {
    WriteError::Asset {
        path: asset.source.clone(),
        node: asset.node.clone(),
        source,
    }
}

/// Copies one asset into `assets_dir`, checked again (it was checked when
/// planned, but the file may have changed since).
fn copy_asset(assets_dir: &Path, model: &Model, asset: &Asset) -> Result<(), WriteError> {
    check_asset(model, asset)?;
    std::fs::create_dir_all(assets_dir).map_err(|source| WriteError::Io {
        path: assets_dir.to_path_buf(),
        source,
    })?;
    let target = assets_dir.join(&asset.filename);
    match asset.keep_lines {
        Some(lines) => crate::vocab::copy_first_lines(&asset.source, &target, lines),
        None => std::fs::copy(&asset.source, &target),
    }
    .map_err(|source| asset_error(asset, source))?;
    Ok(())
}

/// Writes each of `files` under `assets.extra/`; returns the bytes written.
fn write_assets_extra(staging: &Path, files: &BTreeMap<String, Bytes>) -> Result<u64, WriteError> {
    if files.is_empty() {
        return Ok(0);
    }
    let dir = staging.join("assets.extra");
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let mut written = 0;
    for (name, contents) in files {
        if let Some(reason) = asset_name_problem(name) {
            return Err(WriteError::UnsafeExtraName {
                name: name.clone(),
                reason,
            });
        }
        let file = dir.join(name);
        std::fs::write(&file, contents).map_err(io_error(&file))?;
        written += contents.len() as u64;
    }
    Ok(written)
}

/// The names a SavedModel directory's own parts have.
const SAVED_MODEL_PARTS: [&str; 6] = [
    "saved_model.pb",
    "saved_model.pbtxt",
    "variables",
    "assets",
    "assets.extra",
    "fingerprint.pb",
];

/// Why `name` cannot be a file beside `saved_model.pb`, if it cannot.
fn root_name_problem(name: &str) -> Option<&'static str> {
    if SAVED_MODEL_PARTS.contains(&name) {
        return Some("the SavedModel format uses that name");
    }
    asset_name_problem(name)
}

/// Writes each of `files` beside `saved_model.pb`; returns the bytes written.
fn write_root_files(staging: &Path, files: &BTreeMap<String, Bytes>) -> Result<u64, WriteError> {
    let mut written = 0;
    for (name, contents) in files {
        if let Some(reason) = root_name_problem(name) {
            return Err(WriteError::UnsafeRootName {
                name: name.clone(),
                reason,
            });
        }
        let file = staging.join(name);
        std::fs::write(&file, contents).map_err(|source| WriteError::Io { path: file, source })?;
        written += contents.len() as u64;
    }
    Ok(written)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

struct Prepared<'a> {
    /// The GraphDef's fields but its nodes.
    graph: crate::format::proto::GraphDef,
    /// Its nodes, the saver's last.
    nodes: GraphNodes<'a>,
    parts: MetaGraphParts,
    report: Vec<VariableReport>,
}

/// A variable of the serving graph, checked against the checkpoint.
struct Variable {
    node: String,
    kind: VariableKind,
    dtype: DataType,
    shape: Vec<i64>,
    slot: CheckpointSlot,
}

fn variables_of(model: &Model) -> Result<Vec<Variable>, WriteError> {
    let graph = &model.graph;
    let mut variables = Vec::new();
    for id in graph.node_ids() {
        let node = graph.node(id);
        if !is_variable_op(&node.op) {
            continue;
        }
        let dtype = base_dtype(node.attr_type("dtype")?);
        let shape_proto = node.attr_shape("shape")?;
        let shape: Vec<i64> = shape_proto.dim.iter().map(|d| d.size).collect();
        if shape_proto.unknown_rank || shape.iter().any(|d| *d < 0) {
            return Err(WriteError::BadVariable {
                variable: node.name().into(),
                reason: "its shape is not fully defined".into(),
            });
        }
        let slot = model
            .checkpoint_slots
            .get(node.name())
            .cloned()
            .unwrap_or_else(|| CheckpointSlot {
                key: node.name().into(),
                slice_spec: String::new(),
            });
        let kind = if is_resource_variable_op(&node.op) {
            VariableKind::Resource
        } else {
            VariableKind::Ref
        };
        variables.push(Variable {
            node: node.name().into(),
            kind,
            dtype,
            shape,
            slot,
        });
    }
    Ok(variables)
}

/// Checks every variable against the checkpoint: key present, dtype and
/// shape equal. Each is reported with the bytes `plan` writes for it.
fn check_against_checkpoint(
    model: &Model,
    variables: &[Variable],
    plan: &StoragePlan,
) -> Result<Vec<VariableReport>, WriteError> {
    if variables.is_empty() {
        return Ok(Vec::new());
    }
    let Some(checkpoint) = &model.checkpoint else {
        return Err(WriteError::NoCheckpoint {
            variables: variables.iter().map(|v| v.node.clone()).collect(),
        });
    };
    let reader = model.open_checkpoint(checkpoint)?;
    let stored_bytes: BTreeMap<String, u64> = reader
        .entries()
        .into_iter()
        .map(|e| (e.name, e.bytes))
        .collect();
    let report = |v: &Variable| -> Result<VariableReport, WriteError> {
        let full_shape = check_variable(&reader, checkpoint, v)?;
        let source_bytes = stored_bytes.get(&v.slot.key).copied().unwrap_or(0);
        let stored_dtype = plan.form(&v.slot.key).stored_dtype(v.dtype);
        Ok(VariableReport {
            node: v.node.clone(),
            key: v.slot.key.clone(),
            dtype: crate::typing::dtype_name(v.dtype as i32),
            shape: v.shape.clone(),
            bytes: plan.written_bytes(&v.slot.key, source_bytes),
            stored_dtype: crate::typing::dtype_name(stored_dtype as i32),
            source_bytes,
            full_shape: (!v.slot.slice_spec.is_empty()).then_some(full_shape),
        })
    };
    variables.iter().map(report).collect()
}

/// One variable's key is in the checkpoint with the variable's dtype and
/// the shape of its slice. Returns the stored (whole) tensor's shape.
fn check_variable(
    reader: &BundleReader,
    checkpoint: &Path,
    v: &Variable,
) -> Result<Vec<i64>, WriteError> {
    if !reader.contains(&v.slot.key) {
        return Err(WriteError::MissingVariable {
            variable: v.node.clone(),
            key: v.slot.key.clone(),
            checkpoint: checkpoint.to_path_buf(),
        });
    }
    let (dtype, full_shape) = reader.dtype_and_shape(&v.slot.key)?;
    let expected_shape = sliced_shape(v, full_shape.clone(), checkpoint)?;
    if dtype != v.dtype {
        let (graph, stored) = (v.dtype.as_str_name(), dtype.as_str_name());
        return Err(mismatch(v, graph.into(), stored.into(), checkpoint));
    }
    if expected_shape != v.shape {
        let (graph, stored) = (
            format!("shape {:?}", v.shape),
            format!("shape {expected_shape:?}"),
        );
        return Err(mismatch(v, graph, stored, checkpoint));
    }
    Ok(full_shape)
}

/// The shape of the part of the stored tensor the variable restores: all of
/// it without a slice spec, else the spec's extents (whose full shape must
/// be the stored one).
fn sliced_shape(
    v: &Variable,
    full_shape: Vec<i64>,
    checkpoint: &Path,
) -> Result<Vec<i64>, WriteError> {
    if v.slot.slice_spec.is_empty() {
        return Ok(full_shape);
    }
    let (spec_shape, extents) =
        parse_spec(&v.slot.slice_spec).ok_or_else(|| WriteError::BadVariable {
            variable: v.node.clone(),
            reason: format!("malformed slice spec {:?}", v.slot.slice_spec),
        })?;
    if spec_shape != full_shape {
        let (graph, stored) = (format!("{spec_shape:?}"), format!("{full_shape:?}"));
        return Err(mismatch(v, graph, stored, checkpoint));
    }
    Ok(extents
        .iter()
        .zip(&full_shape)
        .map(|(e, &d)| e.length.unwrap_or(d))
        .collect())
}

fn mismatch(v: &Variable, graph: String, stored: String, checkpoint: &Path) -> WriteError {
    WriteError::Mismatch {
        variable: v.node.clone(),
        graph,
        stored,
        checkpoint: checkpoint.to_path_buf(),
    }
}

/// A node reading the variable's value, created when the graph has none.
fn ensure_read(graph: &mut Graph, v: &Variable) -> Result<String, WriteError> {
    let id = graph.require(&v.node)?;
    let (name, op, key) = match v.kind {
        VariableKind::Resource => (
            format!("{}/Read/ReadVariableOp", v.node),
            "ReadVariableOp",
            "dtype",
        ),
        VariableKind::Ref => (format!("{}/read", v.node), "Identity", "T"),
    };
    if let Some(existing) = graph.find(&name) {
        let reads_it =
            graph.data_input(existing, 0).is_some_and(|t| t.node == id) && graph.op(existing) == op;
        if reads_it {
            return Ok(format!("{name}:0"));
        }
    }
    let name = graph.unique_name(&name);
    let node = Node::new(name.clone(), op).with_attr(
        key,
        AttrValue {
            value: Some(Value::Type(v.dtype as i32)),
        },
    );
    let read = graph.add_node(node)?;
    graph.push_data_input(read, TensorRef::new(id, 0));
    Ok(format!("{name}:0"))
}

/// Lowers `model` for saving in place (a read of every variable, asset
/// paths, the table init op, the saver), with the variables stored as
/// `storage` says: what the lowering pass does, so the writer then only
/// serialises. Returns the variables' storage plan, which
/// [`plan_variants_with`] takes for this model.
pub fn lower_for_saving(
    model: &mut Model,
    storage: &StorageOptions,
) -> Result<StoragePlan, WriteError> {
    let plan = storage_plan(Some(model), storage)?;
    let checked = check_lowering(model, &plan)?;
    // The graph is lowered where it is, not copied (a copy of a large
    // graph costs as much as the rest of the lowering): every lookup that
    // can fail was made above, before the graph is touched.
    let mut graph = std::mem::take(&mut model.graph);
    let saving = lower_into(&mut graph, model, checked, &plan);
    model.graph = graph;
    model.saving = Some(saving?);
    Ok(plan)
}

/// The serving graph with everything it needs to restore and initialize
/// (a read of every variable, asset paths pointing at their files, the
/// table init op), and the saver and MetaGraphDef parts that go with it.
fn lower(model: &Model, plan: &StoragePlan) -> Result<(Graph, Saving), WriteError> {
    let checked = check_lowering(model, plan)?;
    let mut graph = model.graph.clone();
    let saving = lower_into(&mut graph, model, checked, plan)?;
    Ok((graph, saving))
}

/// What lowering `model` reads, found before anything changes: its
/// variables (checked against the checkpoint and the storage plan) and
/// the nodes of its assets and table initializers.
struct CheckedLowering {
    variables: Vec<Variable>,
    kept: Vec<VariableReport>,
}

fn check_lowering(model: &Model, plan: &StoragePlan) -> Result<CheckedLowering, WriteError> {
    let variables = variables_of(model)?;
    let kept = check_against_checkpoint(model, &variables, plan)?;
    for v in &variables {
        storage_of(v, plan)?;
    }
    for node in model.assets.iter().map(|a| &a.node) {
        model.graph.require(node)?;
    }
    for initializer in &model.table_initializers {
        model.graph.require(initializer)?;
    }
    Ok(CheckedLowering { variables, kept })
}

/// Lowers `graph` (the model's graph, or a copy of it) as [`lower`] says.
fn lower_into(
    graph: &mut Graph,
    model: &Model,
    checked: CheckedLowering,
    plan: &StoragePlan,
) -> Result<Saving, WriteError> {
    let CheckedLowering { variables, kept } = checked;
    let (saved, snapshots) = saved_variables(graph, &variables, plan)?;
    let assets = point_assets_at_their_files(graph, model)?;
    let init_op = add_init_op(graph, &model.table_initializers)?;
    let saver = (!saved.is_empty()).then(|| build_saver(&saved, &node_names(graph)));
    let assign_op_of = saver.as_ref().map(|s| &s.assign_op_of);
    let variables = variable_defs(model, &variables, &snapshots, assign_op_of);
    let (saver_nodes, saver_def) = match saver {
        Some(saver) => (saver.nodes, Some(saver.saver_def)),
        None => (Vec::new(), None),
    };
    let stripped_op_list = op_list(model, graph, &saver_nodes);
    let assets = assets.into_iter().map(|a| (a.tensor, a.filename)).collect();
    Ok(Saving {
        saver_nodes,
        saver_def,
        variables,
        assets,
        init_op,
        stripped_op_list,
        kept,
    })
}

/// The serving graph ready to encode: as lowered by the lowering pass
/// (its NodeDefs made straight from the model's graph, without a copy of
/// the graph first), or lowered here for a model that did not run it.
fn prepare<'a>(model: &'a Model, plan: &StoragePlan) -> Result<Prepared<'a>, WriteError> {
    let (graph, nodes, saving) = match &model.saving {
        Some(saving) => {
            let nodes = GraphNodes::Borrowed {
                graph: &model.graph,
                extra: saving.saver_nodes.clone(),
            };
            (model.graph.graph_def_without_nodes(), nodes, saving.clone())
        }
        None => {
            let (graph, mut saving) = lower(model, plan)?;
            let mut graph = graph.into_graph_def();
            let mut nodes = std::mem::take(&mut graph.node);
            nodes.append(&mut saving.saver_nodes);
            (graph, GraphNodes::Owned(nodes), saving)
        }
    };
    let assets = saving.assets.iter().map(|(tensor, filename)| AssetSpec {
        tensor: tensor.clone(),
        filename: filename.clone(),
    });
    let parts = MetaGraphParts {
        tags: Vec::new(),
        signatures: model.signatures.clone(),
        saver_def: saving.saver_def,
        variables: saving.variables,
        assets: assets.collect(),
        init_op: saving.init_op,
        table_initializers: model.table_initializers.clone(),
        stripped_op_list: saving.stripped_op_list,
        tensorflow_version: model.tensorflow_version.clone(),
        tensorflow_git_version: model.tensorflow_git_version.clone(),
    };
    Ok(Prepared {
        graph,
        nodes,
        parts,
        report: saving.kept,
    })
}

fn node_names(graph: &Graph) -> HashSet<&str> {
    graph
        .node_ids()
        .into_iter()
        .map(|id| graph.name(id))
        .collect()
}

/// The `variables` collection entries: each variable with the op that
/// restores it (`assign_op_of`, absent without a saver), its snapshot
/// tensor, and what the source said of it (trainable, partition).
fn variable_defs(
    model: &Model,
    variables: &[Variable],
    snapshots: &BTreeMap<String, String>,
    assign_op_of: Option<&BTreeMap<String, String>>,
) -> Vec<VariableDef> {
    let lookup = |map: Option<&BTreeMap<String, String>>, key: &str| {
        map.and_then(|m| m.get(key)).cloned().unwrap_or_default()
    };
    variables
        .iter()
        .map(|v| VariableDef {
            variable_name: format!("{}:0", v.node),
            initializer_name: lookup(assign_op_of, &v.node),
            snapshot_name: lookup(Some(snapshots), &v.node),
            is_resource: v.kind == VariableKind::Resource,
            trainable: model.trainable.contains(&v.node),
            save_slice_info_def: model
                .variable_defs
                .get(&v.node)
                .and_then(|d| d.save_slice_info_def.clone()),
            ..VariableDef::default()
        })
        .collect()
}

/// What the saver restores, and each variable's snapshot (read) tensor,
/// creating reads the graph lacks.
fn saved_variables(
    graph: &mut Graph,
    variables: &[Variable],
    plan: &StoragePlan,
) -> Result<(Vec<SavedVariable>, BTreeMap<String, String>), WriteError> {
    let mut snapshots = BTreeMap::new();
    let mut saved = Vec::with_capacity(variables.len());
    for v in variables {
        let snapshot = ensure_read(graph, v)?;
        let read_tensor = match v.kind {
            VariableKind::Ref => v.node.clone(),
            VariableKind::Resource => snapshot.trim_end_matches(":0").to_string(),
        };
        snapshots.insert(v.node.clone(), snapshot);
        saved.push(SavedVariable {
            node: v.node.clone(),
            kind: v.kind,
            dtype: v.dtype,
            checkpoint_key: v.slot.key.clone(),
            slice_spec: v.slot.slice_spec.clone(),
            read_tensor,
            storage: storage_of(v, plan)?,
        });
    }
    Ok((saved, snapshots))
}

/// How the plan stores variable `v`.
fn storage_of(v: &Variable, plan: &StoragePlan) -> Result<Storage, WriteError> {
    Ok(match plan.form(&v.slot.key) {
        StoredForm::AsIs => Storage::AsIs,
        StoredForm::Half => Storage::Cast(DataType::DtHalf),
        StoredForm::Int32 => Storage::Cast(DataType::DtInt32),
        StoredForm::Int8 => Storage::Int8 {
            scales_key: plan
                .scales_key(&v.slot.key, &v.slot.slice_spec)
                .ok_or_else(|| WriteError::BadVariable {
                    variable: v.node.clone(),
                    reason: format!("no int8 scales for its slice {:?}", v.slot.slice_spec),
                })?
                .to_string(),
            rank: v.shape.len(),
        },
    })
}

/// Asset path constants hold the file's name inside `assets/`: the graph
/// held the training machine's path, and loaders feed the real one anyway.
fn point_assets_at_their_files(
    graph: &mut Graph,
    model: &Model,
) -> Result<Vec<AssetSpec>, WriteError> {
    let mut assets = Vec::with_capacity(model.assets.len());
    for asset in &model.assets {
        let id = graph.require(&asset.node)?;
        // A declared asset tensor may be a placeholder the loader fed; it becomes the constant.
        let constant = string_const("", asset.filename.as_bytes());
        let node = graph.node_mut(id);
        node.op = constant.op;
        node.attrs = constant.attrs;
        assets.push(AssetSpec {
            tensor: format!("{}:0", asset.node),
            filename: asset.filename.clone(),
        });
    }
    Ok(assets)
}

/// A `NoOp` running every table initializer, for the loaders' init op.
fn add_init_op(graph: &mut Graph, initializers: &[String]) -> Result<Option<String>, WriteError> {
    if initializers.is_empty() {
        return Ok(None);
    }
    let name = graph.unique_name("init_all_tables");
    let id = graph.add_node(Node::new(name.clone(), "NoOp"))?;
    for initializer in initializers {
        let source: NodeId = graph.require(initializer)?;
        graph.add_control_input(id, source);
    }
    Ok(Some(name))
}

/// OpDefs of every op the export uses: the training list's, else built-in.
fn op_list(
    model: &Model,
    graph: &Graph,
    saver_nodes: &[crate::format::proto::NodeDef],
) -> Option<OpList> {
    // Inserted one by one: a few hundred ops among many thousand nodes,
    // where collecting would sort every node's op first.
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for id in graph.node_ids() {
        used.insert(graph.op(id));
    }
    used.extend(saver_nodes.iter().map(|n| n.op.as_str()));
    let builtin = super::op_defs::builtin_op_defs();
    let op: Vec<_> = used
        .iter()
        .filter_map(|op| model.op_defs.get(*op).or_else(|| builtin.get(*op)).cloned())
        .collect();
    (!op.is_empty()).then_some(OpList { op })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_beside_saved_model_pb_cannot_take_a_part_name_or_a_path() {
        for part in SAVED_MODEL_PARTS {
            assert!(root_name_problem(part).is_some(), "{part}");
        }
        for bad in ["", "..", "a/b", "/etc/passwd"] {
            assert!(root_name_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(root_name_problem("explanation_metadata.json"), None);
    }

    #[test]
    fn a_refused_root_file_name_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = BTreeMap::from([("variables".to_string(), Bytes::from_static(b"{}"))]);
        let error = write_root_files(dir.path(), &files).unwrap_err();
        assert!(
            matches!(error, WriteError::UnsafeRootName { .. }),
            "{error}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn lowering_that_fails_leaves_the_graph_as_it_was() {
        use crate::passes::testing::{node, serving_model};
        let mut model = serving_model(
            vec![
                node("x", "Placeholder", &[]),
                node("table", "HashTableV2", &[]),
                node("y", "Identity", &["x"]),
            ],
            "y:0",
        );
        let before = model.graph.to_graph_def();
        model.table_initializers = vec!["table".into(), "gone".into()];
        let error = lower_for_saving(&mut model, &StorageOptions::default()).unwrap_err();
        assert!(error.to_string().contains("gone"), "{error}");
        assert_eq!(model.graph.to_graph_def(), before);
        assert!(model.saving.is_none());

        model.table_initializers = vec!["table".into()];
        lower_for_saving(&mut model, &StorageOptions::default()).unwrap();
        assert!(model.graph.find("init_all_tables").is_some());
    }
}
