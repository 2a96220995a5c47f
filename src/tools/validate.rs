//! `servegraph validate`: a serving lint, without TensorFlow. Of a
//! SavedModel directory: the tag set exists, the signatures are valid for
//! their methods and name real tensors of the stated dtypes and shapes,
//! which can be batched; the graph is closed and holds no training-only,
//! Python or denylisted op; the init op and assets agree; the restore
//! subgraph finds every variable in `variables/`; the sizes fit. Of a
//! GraphDef or `.meta` file, the rules that apply to it. The rules live in
//! [`crate::tools::lint`], one function each; this module decides which run.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::export::{MLS1_LIMIT_BYTES, N1_LIMIT_BYTES};
use crate::format::proto::{GraphDef, MetaGraphDef, OpDef};
use crate::front::read::ReadError;
use crate::ir::Graph;
use crate::tools::lint::{self, Finding, Findings, Rule, Severity};

/// Whether warnings fail the validation (`--strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// Only errors fail: exit code 2; warnings exit 0.
    #[default]
    ErrorsOnly,
    /// Warnings fail too: exit code 1 when there are warnings and no error.
    WarningsToo,
}

/// What to validate and how strictly.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// The MetaGraphDef's tags; empty means `serve`.
    pub tags: Vec<String>,
    /// Default [`Strictness::ErrorsOnly`].
    pub strictness: Strictness,
}

/// The outcome of a validation: findings, and facts worth knowing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Validation {
    pub path: String,
    /// The messages of the error findings.
    pub problems: Vec<String>,
    pub meta_graphs: usize,
    pub signatures: Vec<String>,
    /// The variables in `variables/`: an int8 one with its scales counts
    /// once, as `export`, `show` and `size` count it; a TF2 SavedModel's
    /// object graph is not one.
    pub variables: usize,
    /// The tensors stored in `variables/` for the variables: each
    /// variable's and its int8 scales' (a TF2 object graph is not counted).
    pub stored_tensors: usize,
    pub total_bytes: u64,
    pub fits_mls1: bool,
    pub fits_n1: bool,
    /// Every finding, errors and warnings, in the order the rules ran.
    pub findings: Vec<Finding>,
    /// Rules that could not run (the graph does not load or cannot be read).
    pub not_run: Vec<Rule>,
    /// 0 clean, 1 warnings under [`Strictness::WarningsToo`], 2 errors.
    pub exit_code: u8,
}

impl Validation {
    /// No error finding (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    fn finish(mut self, findings: Findings, strictness: Strictness) -> Validation {
        self.problems = findings
            .0
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message.clone())
            .collect();
        let warned = findings.0.iter().any(|f| f.severity == Severity::Warning);
        self.exit_code = match (findings.has_errors(), warned, strictness) {
            (true, _, _) => 2,
            (false, true, Strictness::WarningsToo) => 1,
            _ => 0,
        };
        self.findings = findings.0;
        self
    }
}

/// Validates the SavedModel in `dir`, for the MetaGraphDef with `tags`
/// (default `serve`); warnings do not fail it.
pub fn validate_saved_model(
    dir: impl AsRef<Path>,
    tags: &[String],
) -> Result<Validation, crate::Error> {
    let dir = dir.as_ref();
    let options = ValidateOptions {
        tags: tags.to_vec(),
        ..ValidateOptions::default()
    };
    validate_dir(dir, &options)
}

/// Validates `path`: a SavedModel directory, a `.meta` file or a GraphDef
/// (binary or text). A path that cannot be read is an error; whatever is
/// wrong with what it holds is a finding.
pub fn validate(
    path: impl AsRef<Path>,
    options: &ValidateOptions,
) -> Result<Validation, crate::Error> {
    let path = path.as_ref();
    if path.is_dir() {
        return validate_dir(path, options);
    }
    if !path.exists() {
        let path = path.to_path_buf();
        return Err(ReadError::DoesNotExist { path }.into());
    }
    if path.extension().is_some_and(|e| e == "meta") {
        validate_meta_file(path, options)
    } else {
        validate_graph_file(path, options)
    }
}

fn validate_dir(dir: &Path, options: &ValidateOptions) -> Result<Validation, crate::Error> {
    let mut v = Validation {
        path: dir.display().to_string(),
        ..Validation::default()
    };
    let mut findings = Findings::default();
    if !readable_size(&saved_model_file(dir), &mut findings, &mut v) {
        return Ok(v.finish(findings, options.strictness));
    }
    let Some((meta, variables)) = read_tagged(dir, &options.tags, &mut findings)? else {
        measure_size(dir, &mut findings, &mut v);
        v.not_run = Rule::ALL
            .into_iter()
            .filter(|r| !matches!(r, Rule::ProtoSize | Rule::TagSet | Rule::TotalSize))
            .collect();
        return Ok(v.finish(findings, options.strictness));
    };
    v.meta_graphs = 1;
    v.signatures = meta.signature_def.keys().cloned().collect();
    let place = Place {
        dir: Some(dir),
        file: saved_model_file(dir),
        variables,
    };
    lint_meta_graph(&meta, &place, &mut findings, &mut v)?;
    measure_size(dir, &mut findings, &mut v);
    Ok(v.finish(findings, options.strictness))
}

/// `saved_model.pb`, else `saved_model.pbtxt` when only it exists.
fn saved_model_file(dir: &Path) -> PathBuf {
    let binary = dir.join("saved_model.pb");
    let text = dir.join("saved_model.pbtxt");
    if !binary.is_file() && text.is_file() {
        text
    } else {
        binary
    }
}

/// `proto-size` on `file`; `false` when it is too large to read. A file
/// that is absent is left to the reader's own error.
fn readable_size(file: &Path, findings: &mut Findings, v: &mut Validation) -> bool {
    let Ok(metadata) = std::fs::metadata(file) else {
        return true;
    };
    record_size(metadata.len(), v);
    let readable = lint::size::proto_size(file, metadata.len(), findings);
    if !readable {
        v.not_run = Rule::ALL
            .into_iter()
            .filter(|r| *r != Rule::ProtoSize)
            .collect();
    }
    readable
}

/// `tag-set`: the MetaGraphDef with exactly `tags` and the variables
/// prefix, or `None` with the finding naming the tag sets there are.
fn read_tagged(
    dir: &Path,
    tags: &[String],
    findings: &mut Findings,
) -> Result<Option<(MetaGraphDef, Option<PathBuf>)>, crate::Error> {
    match crate::front::read::read_saved_model(dir, tags) {
        Ok(found) => Ok(Some(found)),
        Err(e @ ReadError::NoMetaGraph { .. }) => {
            findings.error(Rule::TagSet, None, e.to_string());
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Where a MetaGraphDef came from: its file, the SavedModel directory
/// (for assets) if any, and the checkpoint prefix its saver restores from.
struct Place<'a> {
    dir: Option<&'a Path>,
    file: PathBuf,
    variables: Option<PathBuf>,
}

/// The rules on one MetaGraphDef: those needing only the proto, then,
/// when the graph loads, those that walk it.
fn lint_meta_graph(
    meta: &MetaGraphDef,
    place: &Place,
    findings: &mut Findings,
    v: &mut Validation,
) -> Result<(), crate::Error> {
    if meta.object_graph_def.is_some() {
        findings.warning(
            Rule::ObjectGraph,
            None,
            "the MetaGraphDef has an object graph (a TF2 SavedModel): tf.saved_model.load restores through it, and what its functions do is not checked here",
        );
    }
    lint::signatures::methods(meta, findings);
    lint::signatures::batch_dimensions(meta, findings);
    let assets = crate::front::read::asset_file_defs(&place.file, meta)?;
    if let Some(dir) = place.dir {
        lint::init::asset_files(dir, &place.file, &assets, findings);
    }
    let empty = GraphDef::default();
    let graph_def = meta.graph_def.as_ref().unwrap_or(&empty);
    let Some(graph) = lint_graph_def(graph_def, findings, v) else {
        return Ok(());
    };
    let op_defs = op_defs(meta);
    lint::signatures::tensors(&graph, &op_defs, meta, findings);
    lint::shapes::shape_conflicts(&graph, &op_defs, meta, findings);
    lint::ops::training_ops(&graph, Some(meta), findings);
    let init_ops = lint::init::init_ops(&graph, meta, findings);
    lint::init::table_initializers(&graph, &init_ops, findings);
    lint::init::asset_tensors(&graph, &assets, meta, findings);
    let saver = meta.saver_def.as_ref();
    let bundle = lint::variables::saver(&graph, saver, place.variables.as_deref(), findings);
    if let Some(reader) = bundle {
        let found = crate::format::bundle::variables::variables(reader.entries());
        v.stored_tensors = found.stored_tensors;
        v.variables = found.variables.len();
        lint::variables::restored_variables(&graph, &reader, findings);
    }
    // A TF2 SavedModel restores inside its functions, through the object graph.
    if meta.object_graph_def.is_none() {
        lint::variables::unrestored_variables(&graph, findings);
    }
    Ok(())
}

/// The graph rules that need no IR, then the graph loaded; `None` (and the
/// rules that walk the graph noted as not run) when it is not closed or
/// does not load.
fn lint_graph_def(graph: &GraphDef, findings: &mut Findings, v: &mut Validation) -> Option<Graph> {
    lint::ops::denylisted_ops(graph, findings);
    lint::ops::python_ops(graph, findings);
    let loaded = if lint::graph::closed(graph, findings) {
        lint::graph::load(graph, findings)
    } else {
        None
    };
    if loaded.is_none() {
        v.not_run = RULES_ON_THE_LOADED_GRAPH.to_vec();
    }
    loaded
}

/// The rules that walk the loaded graph.
const RULES_ON_THE_LOADED_GRAPH: [Rule; 10] = [
    Rule::SignatureTensor,
    Rule::SignatureDtype,
    Rule::SignatureShape,
    Rule::ShapeConflict,
    Rule::TrainingOp,
    Rule::InitOp,
    Rule::TableInitializer,
    Rule::AssetTensor,
    Rule::Saver,
    Rule::RestoreVariable,
];

/// The OpDefs the MetaGraphDef carries, by name.
fn op_defs(meta: &MetaGraphDef) -> std::collections::BTreeMap<String, OpDef> {
    let list = meta
        .meta_info_def
        .as_ref()
        .and_then(|i| i.stripped_op_list.as_ref());
    list.into_iter()
        .flat_map(|l| &l.op)
        .map(|op| (op.name.clone(), op.clone()))
        .collect()
}

/// A `.meta` file: its MetaGraphDef, restoring from the checkpoint beside it.
fn validate_meta_file(path: &Path, options: &ValidateOptions) -> Result<Validation, crate::Error> {
    let mut v = Validation {
        path: path.display().to_string(),
        ..Validation::default()
    };
    let mut findings = Findings::default();
    if readable_size(path, &mut findings, &mut v) {
        let meta = crate::front::read::read_meta_graph(path)?;
        v.meta_graphs = 1;
        v.signatures = meta.signature_def.keys().cloned().collect();
        let prefix = path.with_extension("");
        let variables = crate::format::bundle::index_path(&prefix)
            .is_file()
            .then_some(prefix);
        let file = path.to_path_buf();
        let place = Place {
            dir: None,
            file,
            variables,
        };
        lint_meta_graph(&meta, &place, &mut findings, &mut v)?;
    }
    Ok(v.finish(findings, options.strictness))
}

/// A GraphDef file: the rules on its graph and ops.
fn validate_graph_file(path: &Path, options: &ValidateOptions) -> Result<Validation, crate::Error> {
    let mut v = Validation {
        path: path.display().to_string(),
        ..Validation::default()
    };
    let mut findings = Findings::default();
    if readable_size(path, &mut findings, &mut v) {
        let graph_def = crate::front::read::read_graph_def(path)?;
        if let Some(graph) = lint_graph_def(&graph_def, &mut findings, &mut v) {
            lint::ops::training_ops(&graph, None, &mut findings);
        }
    }
    Ok(v.finish(findings, options.strictness))
}

/// `total-size`: the directory's size against the deployment limits.
fn measure_size(dir: &Path, findings: &mut Findings, v: &mut Validation) {
    record_size(dir_bytes(dir), v);
    lint::size::total_size(dir, v.total_bytes, findings);
}

/// The bytes measured (the directory, or the lone file) and the limits they fit.
fn record_size(bytes: u64, v: &mut Validation) {
    v.total_bytes = bytes;
    v.fits_mls1 = bytes <= MLS1_LIMIT_BYTES;
    v.fits_n1 = bytes <= N1_LIMIT_BYTES;
}

/// Bytes of every file under `path` (as stored lengths; unreadable entries count 0).
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

impl std::fmt::Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = match (self.is_valid(), self.findings.is_empty()) {
            (false, _) => "INVALID",
            (true, true) => "valid",
            (true, false) => "valid, with warnings",
        };
        writeln!(f, "{}: {verdict}", self.path)?;
        writeln!(f, "  signatures: {}", self.signatures.join(", "))?;
        writeln!(f, "  variables: {}", self.variables)?;
        let fits = |ok: bool| if ok { "fits" } else { "EXCEEDS" };
        writeln!(
            f,
            "  size: {} ({} 500 MB MLS1, {} 10 GB N1)",
            crate::format::units::format_bytes(self.total_bytes),
            fits(self.fits_mls1),
            fits(self.fits_n1)
        )?;
        for finding in &self.findings {
            writeln!(f, "  {finding}")?;
        }
        if !self.not_run.is_empty() {
            let rules: Vec<&str> = self.not_run.iter().map(|r| r.id()).collect();
            writeln!(f, "  not run: {}", rules.join(", "))?;
        }
        Ok(())
    }
}
