//! TensorFlow Serving warm-up requests: a JSON file in the predict API's
//! request format (`{"instances": [...]}` or `{"inputs": ...}`) becomes
//! `assets.extra/tf_serving_warmup_requests`, a TFRecord file of
//! `PredictionLog` records that TensorFlow Serving replays while it loads
//! the model, so the first real request does not pay for lazy
//! initialisation.
//!
//! The file is read and parsed ([`WarmupFile::read`]) before the export
//! reads its source, and checked against the served signature
//! ([`WarmupFile::records`]) before anything is written: a bad file leaves
//! no output. See [`request`] for how instances map to records.

mod error;
mod json;
pub mod request;
mod scan;
pub mod tfrecord;
mod tree;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;
use serde::Serialize;

pub use error::{Place, RequestError, ValueError, WarmupError};

use crate::format::limits::{MAX_WARMUP_FILE_BYTES, MAX_WARMUP_VALUES};
use crate::format::proto::serving::{
    ModelSpec, PredictLog, PredictRequest, PredictionLog, prediction_log,
};
use crate::model::Signature;
use json::Budget;
use request::{Body, RecordInputs};

/// The directory beside `saved_model.pb` that TensorFlow Serving reads extras from.
pub const ASSETS_EXTRA_DIR: &str = "assets.extra";
/// The warm-up file's name inside [`ASSETS_EXTRA_DIR`].
pub const WARMUP_FILE_NAME: &str = "tf_serving_warmup_requests";

/// A warm-up file, read and parsed, not yet checked against a signature.
#[derive(Debug, Clone)]
pub struct WarmupFile {
    path: PathBuf,
    body: Body,
}

/// The encoded warm-up records, ready to be written.
#[derive(Debug, Clone)]
pub struct WarmupRecords {
    /// The whole TFRecord file.
    pub file: Bytes,
    pub records: usize,
    /// The instances listed; `None` for a columnar (`"inputs"`) request.
    pub instances: Option<usize>,
}

/// What the export wrote for warm-up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WarmupReport {
    /// The JSON file the requests came from.
    pub source: PathBuf,
    /// Where they are in the export, relative to it.
    pub file: String,
    /// The instances listed; `None` for a columnar (`"inputs"`) request.
    pub instances: Option<usize>,
    pub records: usize,
    pub bytes: u64,
}

impl WarmupFile {
    /// Reads `path` (at most [`MAX_WARMUP_FILE_BYTES`]) and checks that it is
    /// a request body in outline.
    pub fn read(path: impl AsRef<Path>) -> Result<WarmupFile, WarmupError> {
        let path = path.as_ref();
        WarmupFile::parse(path, &read_capped(path)?)
    }

    /// Parses `text`, the contents of `path` (which errors name).
    pub fn parse(path: impl AsRef<Path>, text: &[u8]) -> Result<WarmupFile, WarmupError> {
        let path = path.as_ref();
        let json_error = |source| WarmupError::Json {
            path: path.to_path_buf(),
            source,
        };
        if let Err(problem) = scan::scan(text).map_err(json_error)? {
            return Err(scan_error(path, problem));
        }
        let value = tree::Json::parse(text).map_err(json_error)?;
        let body = Body::parse(value).map_err(|problem| invalid(path, problem))?;
        Ok(WarmupFile {
            path: path.to_path_buf(),
            body,
        })
    }

    /// The path it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The TFRecord file of the requests, checked against the signature
    /// `signature_name` of `signatures`, each request naming that signature.
    pub fn records(
        &self,
        signatures: &BTreeMap<String, Signature>,
        signature_name: &str,
    ) -> Result<WarmupRecords, WarmupError> {
        let Some(signature) = signatures.get(signature_name) else {
            return Err(WarmupError::NoSignature {
                path: self.path.clone(),
                signature: signature_name.into(),
            });
        };
        let mut budget = Budget::new(MAX_WARMUP_VALUES);
        let inputs = self
            .body
            .records(signature_name, signature, &mut budget)
            .map_err(|problem| invalid(&self.path, problem))?;
        let records = inputs.len();
        let mut file = Vec::new();
        for record in inputs {
            let log = prediction_log(signature_name, record);
            tfrecord::append_record(&mut file, &log.encode_to_vec());
        }
        Ok(WarmupRecords {
            file: file.into(),
            records,
            instances: self.body.instances(),
        })
    }

    /// The report of `records` made from this file.
    pub fn report(&self, records: &WarmupRecords) -> WarmupReport {
        WarmupReport {
            source: self.path.clone(),
            file: format!("{ASSETS_EXTRA_DIR}/{WARMUP_FILE_NAME}"),
            instances: records.instances,
            records: records.records,
            bytes: records.file.len() as u64,
        }
    }
}

/// A predict request for `signature_name` with `inputs`, as a log record.
fn prediction_log(signature_name: &str, inputs: RecordInputs) -> PredictionLog {
    let request = PredictRequest {
        model_spec: Some(ModelSpec {
            signature_name: signature_name.into(),
            ..ModelSpec::default()
        }),
        inputs,
        output_filter: Vec::new(),
    };
    PredictionLog {
        log_type: Some(prediction_log::LogType::PredictLog(PredictLog {
            request: Some(request),
            response: None,
        })),
    }
}

/// The file's bytes, refused past [`MAX_WARMUP_FILE_BYTES`] whatever its
/// metadata says (it may grow while it is read).
fn read_capped(path: &Path) -> Result<Vec<u8>, WarmupError> {
    let io_error = |source| WarmupError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut text = Vec::new();
    file.take(MAX_WARMUP_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(io_error)?;
    if text.len() as u64 > MAX_WARMUP_FILE_BYTES {
        return Err(past_limit(path, &file_kind(path)));
    }
    Ok(text)
}

/// What `path` is, from its metadata: a regular file's size, or its kind.
enum FileKind {
    Regular(u64),
    Other(&'static str),
}

fn file_kind(path: &Path) -> FileKind {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return FileKind::Other("no longer there");
    };
    let kind = meta.file_type();
    match () {
        _ if kind.is_file() => FileKind::Regular(meta.len()),
        _ if kind.is_char_device() => FileKind::Other("a character device"),
        _ if kind.is_block_device() => FileKind::Other("a block device"),
        _ if kind.is_fifo() => FileKind::Other("a pipe"),
        _ if kind.is_socket() => FileKind::Other("a socket"),
        _ => FileKind::Other("not a regular file"),
    }
}

/// A file that read past the limit, named truthfully: its size when it is
/// a regular file that big, otherwise what it is (a device or a pipe has
/// no size, and a file may grow while it is read).
fn past_limit(path: &Path, kind: &FileKind) -> WarmupError {
    let limit = MAX_WARMUP_FILE_BYTES;
    let what = match *kind {
        FileKind::Regular(bytes) if bytes > limit => {
            return WarmupError::TooLarge {
                path: path.to_path_buf(),
                bytes,
                limit,
            };
        }
        FileKind::Regular(bytes) => format!("a regular file of {bytes} bytes that grew while read"),
        FileKind::Other(what) => what.to_string(),
    };
    WarmupError::ReadsPastLimit {
        path: path.to_path_buf(),
        what,
        limit,
    }
}

fn scan_error(path: &Path, problem: scan::ScanProblem) -> WarmupError {
    let path = path.to_path_buf();
    match problem {
        scan::ScanProblem::DuplicateKey { at, key } => WarmupError::DuplicateKey { path, at, key },
        scan::ScanProblem::TooManyValues { limit } => WarmupError::TooBig {
            path,
            what: "values",
            limit,
        },
        scan::ScanProblem::TooManyLists { limit } => WarmupError::TooBig {
            path,
            what: "lists and objects",
            limit,
        },
    }
}

fn invalid(path: &Path, problem: RequestError) -> WarmupError {
    WarmupError::Invalid {
        path: path.to_path_buf(),
        problem: Box::new(problem),
    }
}
