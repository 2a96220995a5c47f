//! What the storage conversion did, for the export report: each converted
//! tensor with its bytes and errors, each skipped one with the reason, and
//! totals.

use serde::Serialize;

use super::convert::ErrorStats;
use super::{StorageOptions, WeightPrecision};

/// Where a tensor lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TensorKind {
    /// A checkpoint key in `variables/`.
    Variable,
    /// A `Const` node of the graph.
    Constant,
}

/// A tensor stored in another dtype.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvertedTensor {
    /// The checkpoint key or the Const node.
    pub name: String,
    pub kind: TensorKind,
    pub shape: Vec<i64>,
    pub from: String,
    pub to: String,
    /// Tensor data bytes before and after (int8: with its float32 scales).
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The largest magnitude among its values, the scale its errors are
    /// judged against (int8's absolute error is at most this / 254).
    pub max_abs_value: f64,
    #[serde(flatten)]
    pub error: ErrorStats,
}

/// A tensor left as it was, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedTensor {
    pub name: String,
    pub kind: TensorKind,
    pub dtype: String,
    pub reason: String,
}

/// The storage section of the export report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageReport {
    pub weights: WeightPrecision,
    pub min_elements: u64,
    pub narrow_int64: bool,
    pub converted: Vec<ConvertedTensor>,
    pub skipped: Vec<SkippedTensor>,
    /// Sums over `converted`.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The worst errors over `converted`.
    #[serde(flatten)]
    pub error: ErrorStats,
}

impl StorageReport {
    /// An empty report for `options`.
    pub fn new(options: &StorageOptions) -> StorageReport {
        StorageReport {
            weights: options.weights,
            min_elements: options.min_elements,
            narrow_int64: options.narrow_int64,
            converted: Vec::new(),
            skipped: Vec::new(),
            bytes_before: 0,
            bytes_after: 0,
            error: ErrorStats::default(),
        }
    }

    pub fn convert(&mut self, tensor: ConvertedTensor) {
        self.bytes_before += tensor.bytes_before;
        self.bytes_after += tensor.bytes_after;
        self.error.merge(tensor.error);
        self.converted.push(tensor);
    }

    pub fn skip(&mut self, tensor: SkippedTensor) {
        self.skipped.push(tensor);
    }

    /// This report with `other`'s tensors added.
    pub fn merge(&mut self, other: StorageReport) {
        for tensor in other.converted {
            self.convert(tensor);
        }
        self.skipped.extend(other.skipped);
    }
}
