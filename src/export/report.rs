//! What an export did: the fields every route fills, then the graph
//! route's part (passes, variants, freezing, warm-up, …) and the lean
//! route's. A route leaves the other's part empty: on the lean route no
//! pass ran and no variant was written, which its report says as such.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::left_behind::LeftBehind;
use super::verdict::DroppedVariable;
use crate::back::explain::ExplanationReport;
use crate::back::size::{ProjectedSize, SizeReport};
use crate::back::warmup::WarmupReport;
use crate::back::write::saved_model::{VariableReport, WriteReport};
use crate::model::Signature;
use crate::passes::PassReport;
use crate::passes::examples::Feature;
use crate::passes::freeze::FreezeReport;
use crate::passes::node_explain::Explanation;
use crate::storage::StorageReport;
use crate::tf2::LeanReport;
use crate::timings::Timings;
use crate::vocab::VocabReport;

/// Everything an export did. Serialized (`--json`) as one object: the
/// graph route's fields sit beside the common ones.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub source: PathBuf,
    pub output: PathBuf,
    pub nodes_before: usize,
    pub nodes_after: usize,
    pub signatures: BTreeMap<String, Signature>,
    pub kept: Vec<VariableReport>,
    /// The kept variables counted as `show`, `size` and `validate` count
    /// the written `variables/`: a partitioned variable, or an int8 one with
    /// its scales, is one variable.
    pub variables_kept: crate::model::KeptTotals,
    pub dropped: Vec<DroppedVariable>,
    pub written: WriteReport,
    /// The bytes written but the variables index (kept as it always was;
    /// see `output_bytes` for the directory's whole size).
    pub total_bytes: u64,
    /// Every byte of the written directory, the variables index included:
    /// what `size.total_bytes` and `servegraph size` count.
    pub output_bytes: u64,
    pub fits_mls1: bool,
    pub fits_n1: bool,
    /// Wall time of each stage, in the order they ran, and the total.
    pub timings: Timings,
    /// The size computed before writing (what `max_size` was checked against).
    pub projected_size: ProjectedSize,
    /// The written directory measured: limits, largest contributors,
    /// advice. `None` when it could not be measured (see the warnings).
    pub size: Option<SizeReport>,
    /// Weights stored in another dtype, and those left alone with the
    /// reason; `None` when no conversion was asked for.
    pub storage: Option<StorageReport>,
    /// What the graph route did; empty on the lean route.
    #[serde(flatten)]
    pub graph: GraphRouteReport,
    /// What a lean TF2 export left out (objects, functions, files) and the
    /// bytes before and after; only for a TF2 SavedModel exported whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lean: Option<LeanReport>,
}

/// What the graph route did besides what every route reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GraphRouteReport {
    pub passes: Vec<PassReport>,
    /// The variants written beside the served MetaGraphDef.
    pub variants: Vec<VariantReport>,
    /// What stays behind in a checkpoint source's directory; `None` for a
    /// SavedModel or GraphDef source.
    pub left_behind: Option<LeftBehind>,
    /// What `max_vocab` trimmed and refused; `None` without it.
    pub vocab: Option<VocabReport>,
    /// The variables frozen into constants; `None` without `freeze`.
    pub frozen: Option<FreezeReport>,
    /// The TensorFlow Serving warm-up records written, if asked for.
    pub warmup: Option<WarmupReport>,
    /// The `explanation_metadata.json` written, if asked for.
    pub explanation: Option<ExplanationReport>,
    /// The tf.Example features the served signature parses; `None`
    /// without `examples` (or classify / regress).
    pub examples: Option<Vec<Feature>>,
    /// Why nodes were removed, rewired or kept; only with `explain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explanation>,
    /// The weights' moving averages the training graph keeps, and those
    /// served in place of the trained values; `None` when it keeps none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moving_averages: Option<MovingAveragesReport>,
}

/// The moving averages of weights (`ExponentialMovingAverage` shadows)
/// found by their update ops, and what `moving_averages` served.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MovingAveragesReport {
    /// The checkpoint keys of the weight averages found.
    pub available: Vec<String>,
    /// Each variable served by its average (empty without the option):
    /// the export's checkpoint holds the average's value under `variable`.
    pub served: Vec<ServedAverage>,
}

/// A variable served by its moving average, by checkpoint key.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServedAverage {
    pub variable: String,
    pub average: String,
}

impl MovingAveragesReport {
    /// What `model` (after the pipeline) holds and serves; `None` when its
    /// training graph keeps no weight average.
    pub fn of(model: &crate::model::Model) -> Option<MovingAveragesReport> {
        let weight = crate::passes::averages::AverageKind::WeightAverage.reason();
        let available: Vec<String> = model
            .checkpoint_roles
            .iter()
            .filter(|(_, role)| role.as_str() == weight)
            .map(|(key, _)| key.clone())
            .collect();
        let served: Vec<ServedAverage> = model
            .served_averages
            .iter()
            .map(|(variable, average)| ServedAverage {
                variable: variable.clone(),
                average: average.clone(),
            })
            .collect();
        (!available.is_empty() || !served.is_empty())
            .then_some(MovingAveragesReport { available, served })
    }
}

/// A variant written: its name, its tag set and how many of its nodes keep
/// a device placement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VariantReport {
    pub name: String,
    pub tags: Vec<String>,
    pub placed_nodes: usize,
}
