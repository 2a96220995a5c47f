//! Storage precision of the exported weights: which variables and constants
//! are stored as float16, int8 (with float32 scales) or int32 instead of
//! float32 / int64, and what that costs in accuracy.
//!
//! The graph keeps its dtypes: a converted tensor is turned back into its
//! original dtype right after it is read (`Cast`, and `Mul` by the scales for
//! int8), so every consumer and signature is unchanged. Which tensors may be
//! converted is decided by what reads them ([`uses`]), never by their names;
//! the arithmetic and its error measures live in [`convert`]; variables
//! stream through [`recode`] while the writer copies them, constants are
//! rewritten in the graph by [`constants`].

pub mod constants;
pub mod convert;
pub mod lanes;
pub mod plan;
pub mod recode;
pub mod report;
pub mod uses;

pub use constants::convert_constants;
pub use plan::{StoragePlan, StoredForm, plan_variables};
pub use report::{ConvertedTensor, SkippedTensor, StorageReport, TensorKind};

/// The precision float32 weights are stored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightPrecision {
    /// Unchanged (the default).
    #[default]
    F32,
    /// IEEE float16, rounded to nearest even.
    F16,
    /// Symmetric int8 with one float32 scale per slice along the last axis.
    Int8,
}

impl std::str::FromStr for WeightPrecision {
    type Err = String;

    fn from_str(s: &str) -> Result<WeightPrecision, String> {
        match s {
            "f32" => Ok(WeightPrecision::F32),
            "f16" => Ok(WeightPrecision::F16),
            "int8" => Ok(WeightPrecision::Int8),
            other => Err(format!(
                "unknown weight precision {other:?} (f32, f16, int8)"
            )),
        }
    }
}

/// Tensors with fewer elements than this keep their dtype unless told
/// otherwise (the default of `--weights-min-size`): biases and batch-norm
/// statistics are small, sensitive, and a `Cast` node costs more bytes than
/// converting them saves. The size advice and the freeze budget project
/// conversions with it, so their figures match what an export converts.
pub const WEIGHTS_MIN_ELEMENTS: u64 = 1024;

/// What to convert. `Default`: nothing (float32 kept, int64 kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageOptions {
    /// The precision of float32 weights. Default `F32` (unchanged).
    pub weights: WeightPrecision,
    /// Tensors with fewer elements stay as they are (float and int64 alike).
    /// Default [`WEIGHTS_MIN_ELEMENTS`].
    pub min_elements: u64,
    /// Store int64 tensors whose values all fit as int32. Default false.
    pub narrow_int64: bool,
}

impl Default for StorageOptions {
    fn default() -> StorageOptions {
        StorageOptions {
            weights: WeightPrecision::F32,
            min_elements: WEIGHTS_MIN_ELEMENTS,
            narrow_int64: false,
        }
    }
}

impl StorageOptions {
    /// Whether any conversion is asked for.
    pub fn is_active(&self) -> bool {
        self.weights != WeightPrecision::F32 || self.narrow_int64
    }
}
