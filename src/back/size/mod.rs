//! Size budgets: what a SavedModel directory weighs against the limits
//! prediction services and loaders put on it, its largest contributors, and
//! which flag would bring it under each limit it passes, by how much.
//!
//! The services count decimal bytes over every file in the directory:
//! 500 MB = 500,000,000 bytes (MLS1 machine types), 10 GB = 10^10 (N1).
//! `saved_model.pb` alone must stay under 1 GiB for TensorFlow Serving and
//! older TensorFlow, and under 2 GiB for protobuf.
//!
//! [`measure_dir`] measures a directory on disk; [`project`] computes the
//! same figures for an export before anything is written, so `--max-size`
//! can refuse it with nothing created.

mod advice;
mod graph_constants;
mod inventory;
mod measure;
mod plan;
mod text;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::format::units::{ByteSize, ByteSizeError, decimal_and_exact, thousands_u64};
pub use advice::{
    Advice, Assessment, Figures, Limit, LimitCheck, LimitKind, MLS1_BYTES, Measure, N1_BYTES,
    PROTOBUF_BYTES, Remedy, SERVICE_LIMITS, Standing, TF_SERVING_GRAPH_BYTES, assess,
};
pub use inventory::{
    FileBytes, Inventory, Piece, Precision, StoredTensor, StoredWeights, WEIGHTS_MIN_ELEMENTS,
    float_constant, stored_tensor,
};
pub use measure::MAX_ENTRIES;
pub use plan::{ProjectedSize, check_budget, project};

/// A SavedModel directory's size, limits and advice.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SizeReport {
    pub directory: PathBuf,
    /// Every `*_bytes` figure counts bytes; the text prints decimal units
    /// (1 MB = 1,000,000 bytes), as the services count.
    pub unit: &'static str,
    /// Every file in the directory.
    pub total_bytes: u64,
    pub saved_model_bytes: u64,
    pub variables_index_bytes: u64,
    pub variables_data_bytes: u64,
    pub assets_bytes: u64,
    pub other_bytes: u64,
    #[serde(flatten)]
    pub assessment: Assessment,
    /// Largest first; they add up to `total_bytes`.
    pub contributors: Vec<Contributor>,
    /// What could not be measured or broken down, and why.
    pub notes: Vec<String>,
}

/// A part of the directory and its bytes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Contributor {
    pub kind: ContributorKind,
    /// The checkpoint key, or the file's path (inside `assets/` for an asset).
    pub name: String,
    pub bytes: u64,
}

/// What a contributor is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContributorKind {
    /// One tensor of `variables/`.
    Variable,
    /// `saved_model.pb`: the graphs and signatures.
    Graph,
    VariablesIndex,
    /// Data shard bytes no index entry accounts for.
    VariablesData,
    /// A TF2 checkpoint's object graph entry in `variables/`: the
    /// metadata naming its objects, not a variable.
    ObjectGraph,
    Asset,
    Other,
}

/// Failures measuring a directory, and a budget an export would pass.
#[derive(Debug, thiserror::Error)]
pub enum SizeError {
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds more than {limit} entries; it is not a SavedModel directory")]
    TooManyEntries { path: PathBuf, limit: usize },
    #[error("cannot size asset {path} (read by node {node:?})")]
    Asset {
        path: PathBuf,
        node: String,
        source: std::io::Error,
    },
    #[error("{}", text::over_budget(*.projected, *.limit, .advice))]
    OverBudget {
        /// The export's size, computed before writing.
        projected: u64,
        limit: u64,
        /// What would bring it under `limit`.
        advice: Vec<Advice>,
    },
    #[error(transparent)]
    Bundle(#[from] crate::format::bundle::BundleError),
    #[error(transparent)]
    Write(#[from] crate::back::write::WriteError),
}

/// Measures the SavedModel directory `dir` and checks it against the
/// services' limits.
pub fn measure_dir(dir: impl AsRef<Path>) -> Result<SizeReport, SizeError> {
    let dir = dir.as_ref();
    let (inventory, notes) = measure::measure(dir)?;
    Ok(SizeReport::new(dir, &inventory, notes, &SERVICE_LIMITS))
}

/// [`measure_dir`] against `limits` for the directory an export just
/// wrote, its weights stored as `stored` says: the advice then builds on
/// what it stored.
pub fn measure_export(
    dir: impl AsRef<Path>,
    stored: StoredWeights,
    limits: &[Limit],
) -> Result<SizeReport, SizeError> {
    let dir = dir.as_ref();
    let (mut inventory, notes) = measure::measure(dir)?;
    inventory.stored = stored;
    Ok(SizeReport::new(dir, &inventory, notes, limits))
}

impl SizeReport {
    /// The report on `inventory` against `limits`.
    pub fn new(
        directory: impl AsRef<Path>,
        inventory: &Inventory,
        notes: Vec<String>,
        limits: &[Limit],
    ) -> SizeReport {
        let directory = directory.as_ref();
        SizeReport {
            directory: directory.to_path_buf(),
            unit: "bytes",
            total_bytes: inventory.total_bytes(),
            saved_model_bytes: inventory.saved_model_bytes,
            variables_index_bytes: inventory.variables_index_bytes,
            variables_data_bytes: inventory.variables_data_bytes(),
            assets_bytes: inventory::sum_files(&inventory.assets),
            other_bytes: inventory::sum_files(&inventory.other),
            assessment: assess(inventory, limits),
            contributors: contributors(inventory),
            notes,
        }
    }
}

impl SizeReport {
    /// Whether the directory is within `limit` (not over it; close counts
    /// as within). False for a limit the report was not checked against.
    pub fn fits(&self, limit: LimitKind) -> bool {
        let checks = self.assessment.limits.iter();
        checks
            .filter(|check| check.limit == limit)
            .any(|check| check.standing != Standing::Over)
    }
}

/// Every part of the inventory, largest first (ties by name).
fn contributors(inventory: &Inventory) -> Vec<Contributor> {
    let entry = |kind, name: &str, bytes| Contributor {
        kind,
        name: name.into(),
        bytes,
    };
    let mut all: Vec<Contributor> = inventory
        .tensors
        .iter()
        .map(|t| entry(ContributorKind::Variable, &t.key, t.bytes()))
        .collect();
    if inventory.saved_model_bytes > 0 {
        let bytes = inventory.saved_model_bytes;
        all.push(entry(ContributorKind::Graph, "saved_model.pb", bytes));
    }
    if inventory.variables_index_bytes > 0 {
        let bytes = inventory.variables_index_bytes;
        all.push(entry(
            ContributorKind::VariablesIndex,
            "variables/variables.index",
            bytes,
        ));
    }
    if inventory.object_graph_bytes > 0 {
        let key = crate::format::bundle::variables::OBJECT_GRAPH_KEY;
        let bytes = inventory.object_graph_bytes;
        all.push(entry(ContributorKind::ObjectGraph, key, bytes));
    }
    if inventory.unaccounted_data_bytes > 0 {
        let data = "variables/variables.data-* (not broken down by key)";
        all.push(entry(
            ContributorKind::VariablesData,
            data,
            inventory.unaccounted_data_bytes,
        ));
    }
    let assets = inventory.assets.iter();
    all.extend(assets.map(|f| entry(ContributorKind::Asset, &f.path, f.bytes)));
    let other = inventory.other.iter();
    all.extend(other.map(|f| entry(ContributorKind::Other, &f.path, f.bytes)));
    all.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    all
}
