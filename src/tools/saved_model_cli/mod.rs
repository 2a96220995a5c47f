//! `show` and `scan` with saved_model_cli's flags, printing what
//! `saved_model_cli show` / `scan` print for the same SavedModel, read
//! without TensorFlow: the tag sets, a tag set's signature keys, one
//! signature's inputs and outputs, everything (`--all`, with a TF2 model's
//! concrete functions), and the denylisted ops — plus the ops servegraph
//! also warns about.
//!
//! Where saved_model_cli prints a Python set, its order follows string
//! hashes that change from run to run; servegraph prints it sorted.

mod functions;
mod ops;
mod python;
mod scan;
mod text;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::format::proto::{MetaGraphDef, SignatureDef, TensorInfo, tensor_info};

pub use functions::{CallOption, ConcreteFunctions, Function};
pub use scan::{DEFAULT_DENYLIST, OpFinding, PYTHON_OPS, ScanReport, ScannedMetaGraph, scan};
pub use values::{Dims, Value};

/// What `show` was asked for, with saved_model_cli's precedence: `--all`
/// first, then `--tag_set` (with `--signature_def`), else the tag sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShowRequest {
    pub all: bool,
    /// `--tag_set`: comma-separated tags.
    pub tag_set: Option<String>,
    pub signature_def: Option<String>,
    /// `--list_ops`: the ops of the tag set's MetaGraphDef before its signatures.
    pub list_ops: bool,
}

/// A failure to show what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SavedModelCliError {
    #[error("{path} is not a SavedModel directory")]
    NotASavedModel { path: PathBuf },
    #[error("a tag set must contain at least one non-empty tag")]
    EmptyTagSet,
    #[error(
        "{path} has no MetaGraphDef with tag-set {tag_set:?}; it has: {available}",
        path = path.display()
    )]
    NoTagSet {
        path: PathBuf,
        tag_set: String,
        available: String,
    },
    #[error(
        "could not find signature {key:?} in tag-set {tag_set:?}; please choose from: {available}"
    )]
    NoSignature {
        key: String,
        tag_set: String,
        available: String,
    },
    #[error(transparent)]
    Read(#[from] crate::front::read::ReadError),
}

/// One tensor of a signature, as saved_model_cli shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorView {
    /// `DT_FLOAT`, ... (`DT_INVALID` for an op rather than a tensor).
    pub dtype: String,
    /// `None` for an unknown rank; `-1` for an unknown dimension.
    pub shape: Option<Vec<i64>>,
    /// Empty for a sparse or composite tensor.
    pub name: String,
}

/// One signature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignatureView {
    pub inputs: BTreeMap<String, TensorView>,
    pub outputs: BTreeMap<String, TensorView>,
    pub method_name: String,
}

/// One MetaGraphDef under `--all`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetaGraphView {
    /// In the order the SavedModel stores them.
    pub tags: Vec<String>,
    pub signature_defs: BTreeMap<String, SignatureView>,
    /// The ops saved_model_cli counts (see `ops_used`), sorted.
    pub ops: Vec<String>,
}

/// What `show` prints, by request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "show", rename_all = "snake_case")]
pub enum Shown {
    /// Every tag set, each sorted, in saved_model_cli's order.
    TagSets { tag_sets: Vec<Vec<String>> },
    SignatureKeys {
        tags: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ops: Option<Vec<String>>,
        signature_keys: Vec<String>,
    },
    Signature {
        tags: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ops: Option<Vec<String>>,
        signature_def: String,
        signature: SignatureView,
    },
    All {
        meta_graphs: Vec<MetaGraphView>,
        /// `None` for a TF1 SavedModel (no object graph).
        concrete_functions: Option<ConcreteFunctions>,
    },
}

/// Reads the SavedModel in `dir` and answers `request`.
pub fn show(dir: impl AsRef<Path>, request: &ShowRequest) -> Result<Shown, SavedModelCliError> {
    let dir = dir.as_ref();
    let metas = read_meta_graphs(dir)?;
    if request.all {
        return Ok(show_all(&metas));
    }
    let Some(tag_set) = &request.tag_set else {
        return Ok(Shown::TagSets {
            tag_sets: tag_sets(&metas),
        });
    };
    let meta = find_meta_graph(dir, &metas, tag_set)?;
    let tags = tags_of(meta);
    let ops = request.list_ops.then(|| {
        meta.graph_def
            .as_ref()
            .map(ops::ops_used)
            .unwrap_or_default()
    });
    let Some(key) = &request.signature_def else {
        return Ok(Shown::SignatureKeys {
            tags,
            ops,
            signature_keys: meta.signature_def.keys().cloned().collect(),
        });
    };
    let signature = meta
        .signature_def
        .get(key)
        .ok_or_else(|| SavedModelCliError::NoSignature {
            key: key.clone(),
            tag_set: tag_set.clone(),
            available: meta
                .signature_def
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok(Shown::Signature {
        tags,
        ops,
        signature_def: key.clone(),
        signature: SignatureView::of(signature),
    })
}

fn show_all(metas: &[MetaGraphDef]) -> Shown {
    let mut sorted: Vec<&MetaGraphDef> = metas.iter().collect();
    sorted.sort_by_key(|meta| tags_of(meta));
    Shown::All {
        meta_graphs: sorted.into_iter().map(MetaGraphView::of).collect(),
        concrete_functions: functions::concrete_functions(metas),
    }
}

/// Every MetaGraphDef of the SavedModel in `dir`, in stored order.
pub(crate) fn read_meta_graphs(dir: &Path) -> Result<Vec<MetaGraphDef>, SavedModelCliError> {
    let (source, metas, _) = crate::front::read::read_any_meta(dir, &[])?;
    match source {
        crate::front::read::Source::SavedModel { .. } => Ok(metas),
        _ => Err(SavedModelCliError::NotASavedModel {
            path: dir.to_path_buf(),
        }),
    }
}

/// The stored tags of a MetaGraphDef.
fn tags_of(meta: &MetaGraphDef) -> Vec<String> {
    meta.meta_info_def
        .as_ref()
        .map(|info| info.tags.clone())
        .unwrap_or_default()
}

/// saved_model_cli's listing order: the tag lists (as stored) sorted, each
/// then shown sorted.
fn tag_sets(metas: &[MetaGraphDef]) -> Vec<Vec<String>> {
    let mut lists: Vec<Vec<String>> = metas.iter().map(tags_of).collect();
    lists.sort();
    for list in &mut lists {
        list.sort();
    }
    lists
}

/// `--tag_set` as saved_model_cli reads it: split at commas, each tag
/// trimmed, empty ones dropped; at least one must remain.
pub(crate) fn parse_tag_set(tag_set: &str) -> Result<Vec<String>, SavedModelCliError> {
    let tags: Vec<String> = tag_set
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if tags.is_empty() {
        return Err(SavedModelCliError::EmptyTagSet);
    }
    Ok(tags)
}

/// The first MetaGraphDef whose tags, as a set, are `tag_set`'s.
pub(crate) fn find_meta_graph<'a>(
    dir: &Path,
    metas: &'a [MetaGraphDef],
    tag_set: &str,
) -> Result<&'a MetaGraphDef, SavedModelCliError> {
    use std::collections::BTreeSet;
    let wanted: BTreeSet<String> = parse_tag_set(tag_set)?.into_iter().collect();
    let found = metas
        .iter()
        .find(|meta| tags_of(meta).into_iter().collect::<BTreeSet<_>>() == wanted);
    found.ok_or_else(|| SavedModelCliError::NoTagSet {
        path: dir.to_path_buf(),
        tag_set: tag_set.into(),
        available: metas
            .iter()
            .map(|meta| format!("'{}'", tags_of(meta).join(",")))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

impl TensorView {
    fn of(info: &TensorInfo) -> TensorView {
        let shape = info.tensor_shape.clone().unwrap_or_default();
        TensorView {
            dtype: crate::format::proto::DataType::try_from(info.dtype).map_or_else(
                |_| format!("<unknown dtype {}>", info.dtype),
                |d| d.as_str_name().to_string(),
            ),
            shape: (!shape.unknown_rank).then(|| shape.dim.iter().map(|d| d.size).collect()),
            name: match &info.encoding {
                Some(tensor_info::Encoding::Name(name)) => name.clone(),
                _ => String::new(),
            },
        }
    }
}

impl SignatureView {
    fn of(signature: &SignatureDef) -> SignatureView {
        let view = |map: &BTreeMap<String, TensorInfo>| {
            map.iter()
                .map(|(key, info)| (key.clone(), TensorView::of(info)))
                .collect()
        };
        SignatureView {
            inputs: view(&signature.inputs),
            outputs: view(&signature.outputs),
            method_name: signature.method_name.clone(),
        }
    }
}

impl MetaGraphView {
    fn of(meta: &MetaGraphDef) -> MetaGraphView {
        MetaGraphView {
            tags: tags_of(meta),
            signature_defs: meta
                .signature_def
                .iter()
                .map(|(key, signature)| (key.clone(), SignatureView::of(signature)))
                .collect(),
            ops: meta
                .graph_def
                .as_ref()
                .map(ops::ops_used)
                .unwrap_or_default(),
        }
    }
}
