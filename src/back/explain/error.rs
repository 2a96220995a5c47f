//! What can stop the explanation metadata from being written. Each error
//! names the signature input or output key it is about, and what the
//! signature offers instead.

/// A `--baseline` or an explained output that does not fit the signature.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExplainError {
    #[error("baseline {spec:?}: {reason}")]
    BadSpec { spec: String, reason: &'static str },
    #[error("explanation metadata: the export has no signature {signature:?}")]
    NoSignature { signature: String },
    #[error(
        "baseline for {key:?}: signature {signature:?} has no such input; its inputs are {}",
        keys.join(", ")
    )]
    UnknownInput {
        key: String,
        signature: String,
        keys: Vec<String>,
    },
    #[error(
        "baseline for {key:?} has {given} values; the input takes {expected} per example \
         (shape {shape}), or 1 to broadcast"
    )]
    Count {
        key: String,
        given: usize,
        expected: usize,
        shape: String,
    },
    #[error(
        "baseline for {key:?} has {given} values; the input's per-example shape {shape} is not \
         fully known, so it takes 1 value, broadcast"
    )]
    UnknownCount {
        key: String,
        given: usize,
        shape: String,
    },
    #[error("baseline for {key:?}: {value:?} is not a {dtype} value: {reason}")]
    Value {
        key: String,
        value: String,
        dtype: String,
        reason: &'static str,
    },
    #[error("baseline for {key:?}: a {dtype} input cannot take a baseline")]
    Dtype { key: String, dtype: String },
    #[error(
        "explained output {key:?}: signature {signature:?} has no such output; its outputs are {}",
        keys.join(", ")
    )]
    UnknownOutput {
        key: String,
        signature: String,
        keys: Vec<String>,
    },
    #[error(
        "explained output {key:?} is {dtype}: explanations attribute a numeric (floating-point) \
         output, not class ids or labels"
    )]
    NotNumeric { key: String, dtype: String },
    #[error(
        "signature {signature:?} has no floating-point output to explain (its outputs: {})",
        outputs.join(", ")
    )]
    NoNumericOutput {
        signature: String,
        outputs: Vec<String>,
    },
    #[error(
        "signature {signature:?} has {} floating-point outputs and the metadata explains one: \
         choose among {}",
        candidates.len(),
        candidates.join(", ")
    )]
    AmbiguousOutput {
        signature: String,
        candidates: Vec<String>,
    },
    #[error("cannot encode the explanation metadata as JSON: {reason}")]
    Encode { reason: String },
}
