//! What kind of artifact a path names, and where its files are.

use std::path::{Path, PathBuf};

use super::ReadError;
use crate::format::proto::CheckpointState;

/// A located source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    GraphDef { path: PathBuf },
    Checkpoint { prefix: PathBuf, meta: PathBuf },
    SavedModel { dir: PathBuf },
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Decides what `path` is: a SavedModel directory, a training directory
/// (its `checkpoint` file names the latest prefix), a checkpoint prefix,
/// its `.meta`, `.index` or data shard file, or a GraphDef file.
pub fn locate(path: impl AsRef<Path>) -> Result<Source, ReadError> {
    let path = path.as_ref();
    if path.is_dir() {
        if path.join("saved_model.pb").is_file() || path.join("saved_model.pbtxt").is_file() {
            return Ok(Source::SavedModel {
                dir: path.to_path_buf(),
            });
        }
        let state = path.join("checkpoint");
        if state.is_file() {
            return checkpoint(&latest_checkpoint(path, &state)?);
        }
        let prefixes = checkpoint_prefixes(path);
        if !prefixes.is_empty() {
            return Err(ReadError::CheckpointsWithoutState {
                path: path.to_path_buf(),
                prefixes,
            });
        }
        return Err(ReadError::NotAModelDirectory {
            path: path.to_path_buf(),
        });
    }
    let name = path.to_string_lossy();
    if let Some(prefix) = name
        .strip_suffix(".meta")
        .or_else(|| name.strip_suffix(".index"))
        .or_else(|| data_shard_prefix(&name))
    {
        return checkpoint(Path::new(prefix));
    }
    if with_suffix(path, ".index").is_file() {
        return checkpoint(path);
    }
    if path.is_file() {
        if let Some(kind) = super::keras_files::sniff(path) {
            return Err(ReadError::KerasFile {
                path: path.to_path_buf(),
                kind,
            });
        }
        return Ok(Source::GraphDef {
            path: path.to_path_buf(),
        });
    }
    if !path.exists() {
        return Err(ReadError::DoesNotExist {
            path: path.to_path_buf(),
        });
    }
    Err(ReadError::Unrecognized {
        path: path.to_path_buf(),
    })
}

/// [`locate`], except that a `.meta` file with no index beside it is a
/// checkpoint source when `checkpoint` supplies the variables (a graph
/// exported on its own, its variables saved by `tf.train.Checkpoint`).
pub fn locate_with_checkpoint(path: &Path, checkpoint: Option<&Path>) -> Result<Source, ReadError> {
    let name = path.to_string_lossy();
    match name.strip_suffix(".meta") {
        Some(prefix) if checkpoint.is_some() && path.is_file() => Ok(Source::Checkpoint {
            prefix: PathBuf::from(prefix),
            meta: path.to_path_buf(),
        }),
        _ => locate(path),
    }
}

/// The bundle prefix a `--checkpoint` path names: a prefix, its `.index`
/// file, or a directory whose `checkpoint` state file names the latest
/// (a `tf.train.Saver` `model.ckpt-N` or a `tf.train.Checkpoint` `ckpt-N`).
pub fn checkpoint_prefix(path: &Path) -> Result<PathBuf, ReadError> {
    if path.is_dir() {
        let state = path.join("checkpoint");
        if !state.is_file() {
            return Err(ReadError::NotFound {
                path: state,
                what: "checkpoint state naming the latest checkpoint",
            });
        }
        return latest_checkpoint(path, &state);
    }
    let name = path.to_string_lossy();
    let prefix = name
        .strip_suffix(".index")
        .or_else(|| data_shard_prefix(&name));
    Ok(match prefix {
        Some(prefix) if path.is_file() => PathBuf::from(prefix),
        _ => path.to_path_buf(),
    })
}

/// The prefix of a checkpoint data shard's name
/// (`model.ckpt-5.data-00000-of-00001` → `model.ckpt-5`): a shard names
/// its checkpoint as surely as the `.index` does.
pub fn data_shard_prefix(name: &str) -> Option<&str> {
    let (prefix, shard) = name.rsplit_once(".data-")?;
    let (index, count) = shard.split_once("-of-")?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(index) && digits(count)).then_some(prefix)
}

/// The checkpoint prefixes in `dir` (an `.index` with a `.meta` beside it),
/// newest first: by the global step after the last `-`, then by name.
fn checkpoint_prefixes(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut prefixes: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".index").map(str::to_string)
        })
        .filter(|prefix| dir.join(format!("{prefix}.meta")).is_file())
        .collect();
    let step = |p: &String| {
        p.rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    prefixes.sort_by(|a, b| step(b).cmp(&step(a)).then_with(|| b.cmp(a)));
    prefixes
}

fn checkpoint(prefix: &Path) -> Result<Source, ReadError> {
    let meta = with_suffix(prefix, ".meta");
    if !meta.is_file() {
        return Err(ReadError::NotFound {
            path: meta,
            what: "checkpoint's MetaGraphDef",
        });
    }
    let index = with_suffix(prefix, ".index");
    if !index.is_file() {
        return Err(ReadError::NotFound {
            path: index,
            what: "checkpoint index",
        });
    }
    Ok(Source::Checkpoint {
        prefix: prefix.to_path_buf(),
        meta,
    })
}

/// The newest checkpoint a `checkpoint` state file names, resolved against its directory.
pub fn latest_checkpoint(dir: &Path, state_file: &Path) -> Result<PathBuf, ReadError> {
    let text = std::fs::read_to_string(state_file).map_err(|source| ReadError::Io {
        path: state_file.to_path_buf(),
        source,
    })?;
    let state: CheckpointState =
        crate::format::text::parse_text("tensorflow.CheckpointState", &text).map_err(|source| {
            ReadError::Text {
                path: state_file.to_path_buf(),
                source,
            }
        })?;
    if state.model_checkpoint_path.is_empty() {
        return Err(ReadError::Decode {
            path: state_file.to_path_buf(),
            what: "checkpoint state",
            detail: "model_checkpoint_path is empty".into(),
        });
    }
    let latest = Path::new(&state.model_checkpoint_path);
    if latest.is_absolute() {
        // A directory moved from another machine: prefer the file next to the state file.
        let local = latest.file_name().map(|name| dir.join(name));
        if let Some(local) = local.filter(|l| with_suffix(l, ".index").is_file()) {
            return Ok(local);
        }
        return Ok(latest.to_path_buf());
    }
    Ok(dir.join(latest))
}
