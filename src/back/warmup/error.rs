//! What can be wrong with a warm-up file. Problems inside the request name
//! the instance (its index in `"instances"`), the input key and what the
//! signature expected there.

use std::fmt::{self, Display, Formatter};
use std::path::PathBuf;

/// A warm-up file that cannot become warm-up records.
#[derive(Debug, thiserror::Error)]
pub enum WarmupError {
    #[error("cannot read warm-up file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("warm-up file {path} is {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error(
        "warm-up file {path} ({what}) gave more than {limit} bytes when read, over the limit; give a regular JSON file"
    )]
    ReadsPastLimit {
        path: PathBuf,
        /// What the path is: `a character device`, `a regular file that grew while read`, ...
        what: String,
        limit: u64,
    },
    #[error(
        "warm-up file {path}: key {key:?} appears twice in {at}; parsers disagree on which one counts, so give each key once"
    )]
    DuplicateKey {
        path: PathBuf,
        at: String,
        key: String,
    },
    #[error(
        "warm-up file {path} holds more than {limit} {what}, over the limit; warm-up needs a few small examples"
    )]
    TooBig {
        path: PathBuf,
        /// `values` or `lists and objects`.
        what: &'static str,
        limit: u64,
    },
    #[error("warm-up file {path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("warm-up file {path}: the export has no signature {signature:?} to check it against")]
    NoSignature { path: PathBuf, signature: String },
    #[error("warm-up file {path}: {problem}")]
    Invalid {
        path: PathBuf,
        problem: Box<RequestError>,
    },
}

/// Where in the request body a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The instance at this index of `"instances"` (row format).
    Instance(usize),
    /// The `"inputs"` object (columnar format).
    Inputs,
}

impl Display for Place {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Place::Instance(index) => write!(f, "instance {index}"),
            Place::Inputs => write!(f, "\"inputs\""),
        }
    }
}

/// A request body that does not fit the signature it warms up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "expected an object with \"instances\" (a list, one entry per example) or \"inputs\"; {0}"
    )]
    NotARequest(String),
    #[error("it names signature {given:?}, but the export's signature is {expected:?}")]
    OtherSignature { given: String, expected: String },
    #[error("\"instances\" is empty; give at least one instance")]
    NoInstances,
    #[error("{count} instances, over the limit of {limit}")]
    TooManyInstances { count: usize, limit: usize },
    #[error("{at} has input {key:?}, which the signature does not have (its inputs: {})", .known.join(", "))]
    UnknownKey {
        at: Place,
        key: String,
        known: Vec<String>,
    },
    #[error("{at} lacks input {key:?}, which the signature requires")]
    MissingKey { at: Place, key: String },
    #[error(
        "{at} is a bare value, but the signature has {} inputs ({}); give an object naming each",
        .keys.len(), .keys.join(", ")
    )]
    NeedsNames { at: Place, keys: Vec<String> },
    #[error("{at}, input {key:?}: {problem}")]
    Value {
        at: Place,
        key: String,
        problem: ValueError,
    },
    #[error("{at}, input {key:?}: shape {found:?}, but the signature expects {expected}")]
    Shape {
        at: Place,
        key: String,
        found: Vec<i64>,
        expected: String,
    },
    #[error(
        "{at}, input {key:?}: shape {found:?}, but instance 0 has {first:?}; instances are stacked into one batch, so their shapes must agree"
    )]
    Unstackable {
        at: Place,
        key: String,
        found: Vec<i64>,
        first: Vec<i64>,
    },
    #[error(
        "input {key:?} is a scalar in the signature, so instances cannot be batched; give it under \"inputs\""
    )]
    ScalarInput { key: String },
    #[error(
        "input {key:?} has a fixed batch dimension of {size}, but neither the {instances} instances together nor one alone make that batch"
    )]
    BatchSize {
        key: String,
        size: i64,
        instances: usize,
    },
}

/// A JSON value that does not convert to the input's dtype and a regular shape.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("element {element} is {found}, but a {expected} value was expected")]
    Element {
        element: String,
        expected: String,
        found: String,
    },
    #[error(
        "element {element} has {found} entries where its first sibling has {expected}; nested lists must be regular"
    )]
    Ragged {
        element: String,
        expected: usize,
        found: usize,
    },
    #[error("element {element} is a list, deeper than its first sibling")]
    TooDeep { element: String },
    #[error("element {element} is not valid base64: {reason}")]
    Base64 { element: String, reason: String },
    #[error("more than {limit} values in the whole file; warm-up needs a few small examples")]
    TooManyValues { limit: u64 },
    #[error("the signature's dtype {0} cannot be given in JSON")]
    UnsupportedDtype(String),
}
