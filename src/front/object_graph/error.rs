//! What can be wrong with an object graph, or with mapping a variable through it.

use std::path::PathBuf;

use crate::format::bundle::BundleError;

/// Every variant names the checkpoint index the object graph came from.
#[derive(Debug, thiserror::Error)]
pub enum ObjectGraphError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(
        "{path}: key {key:?} should hold one serialized object graph (a DT_STRING scalar), but holds {dtype} {shape:?}"
    )]
    NotAString {
        path: PathBuf,
        key: String,
        dtype: String,
        shape: Vec<i64>,
    },
    #[error("{path}: key {key:?} holds {bytes} bytes, more than an object graph may have")]
    TooLarge {
        path: PathBuf,
        key: String,
        bytes: u64,
    },
    #[error("{path}: key {key:?} is not a serialized TrackableObjectGraph: {detail}")]
    Decode {
        path: PathBuf,
        key: String,
        detail: String,
    },
    #[error("{path}: the object graph under key {key:?} has no objects (not even a root)")]
    NoRoot { path: PathBuf, key: String },
    #[error(
        "{path}: in the object graph under key {key:?}, object {object}'s {field} refers to object {target}, but there are {count} objects"
    )]
    BadReference {
        path: PathBuf,
        key: String,
        object: usize,
        field: &'static str,
        target: i64,
        count: usize,
    },
    #[error(
        "variable {variable:?} (full name {full_name:?}) is not in the object graph of checkpoint {checkpoint}"
    )]
    NotInObjectGraph {
        variable: String,
        full_name: String,
        checkpoint: PathBuf,
    },
    #[error("variable {variable:?}: the object graph of checkpoint {checkpoint} has several variables named {full_name:?} (keys {})", .keys.join(", "))]
    Ambiguous {
        variable: String,
        full_name: String,
        checkpoint: PathBuf,
        keys: Vec<String>,
    },
}
