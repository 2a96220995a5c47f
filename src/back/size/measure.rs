//! Measures a SavedModel directory on disk: the size of every file in it,
//! the variables broken down by checkpoint key, the float constants of
//! `saved_model.pb` (streamed through, see `graph_constants`).
//!
//! Only the directory is read. A symlink counts only when it resolves to a
//! file inside the directory, and is never descended into; the `.index` and
//! `saved_model.pb` are read only when they are plain files, through the
//! bounded readers (index entries must lie inside their data shards, the
//! graph must be under protobuf's 2 GiB), and per-key sizes are used only
//! when they add up to no more than the data files hold.

use std::fs;
use std::path::{Path, PathBuf};

use super::SizeError;
use super::inventory::{FileBytes, Inventory, stored_tensor};
use crate::format::bundle::{BundleReader, data_path};
use crate::format::limits::MAX_PROTO_BYTES;

/// Most entries (files, directories, links) a measured directory may hold.
/// A SavedModel has a handful plus its assets; this stops a walk that
/// was pointed at a whole disk.
pub const MAX_ENTRIES: usize = 100_000;

/// A file found in the directory.
#[derive(Debug, Clone)]
struct Found {
    /// Its path inside the directory, `/`-separated.
    path: String,
    bytes: u64,
    /// Reached through a symlink (its size counts; its contents are not read).
    linked: bool,
}

/// What the walk found: the files, and notes on entries it left alone.
struct Walk {
    files: Vec<Found>,
    notes: Vec<String>,
}

/// The inventory of `dir`, and notes on what could not be broken down.
pub fn measure(dir: &Path) -> Result<(Inventory, Vec<String>), SizeError> {
    let root = dir.canonicalize().map_err(|source| SizeError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !root.is_dir() {
        return Err(SizeError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let Walk { files, mut notes } = walk(&root)?;
    let mut inventory = classify(&files);
    if !files
        .iter()
        .any(|f| SAVED_MODEL_FILES.contains(&f.path.as_str()))
    {
        notes.push("no saved_model.pb or saved_model.pbtxt: not a SavedModel".into());
    }
    add_variables(&root, &files, &mut inventory, &mut notes);
    add_graph_constants(&root, &files, &mut inventory, &mut notes);
    Ok((inventory, notes))
}

/// Every file under `root`, iteratively (no recursion on hostile depth).
fn walk(root: &Path) -> Result<Walk, SizeError> {
    let mut walk = Walk {
        files: Vec::new(),
        notes: Vec::new(),
    };
    let mut pending = vec![(root.to_path_buf(), String::new())];
    let mut seen = 0usize;
    while let Some((dir, relative)) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| SizeError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| SizeError::Io {
                path: dir.clone(),
                source,
            })?;
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(SizeError::TooManyEntries {
                    path: root.to_path_buf(),
                    limit: MAX_ENTRIES,
                });
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let inside = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            visit(root, &entry.path(), inside, &mut walk, &mut pending)?;
        }
    }
    walk.files.sort_by(|a, b| a.path.cmp(&b.path));
    walk.notes.sort();
    Ok(walk)
}

/// Records one entry: a file, a directory to walk, or a symlink followed
/// only to a file inside `root`.
fn visit(
    root: &Path,
    path: &Path,
    inside: String,
    walk: &mut Walk,
    pending: &mut Vec<(PathBuf, String)>,
) -> Result<(), SizeError> {
    let metadata = fs::symlink_metadata(path).map_err(|source| SizeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let kind = metadata.file_type();
    if kind.is_dir() {
        pending.push((path.to_path_buf(), inside));
    } else if kind.is_file() {
        walk.files.push(Found {
            path: inside,
            bytes: metadata.len(),
            linked: false,
        });
    } else if kind.is_symlink() {
        refuse_unresolvable(path)?;
        match linked_file_size(root, path) {
            Some(bytes) => walk.files.push(Found {
                path: inside,
                bytes,
                linked: true,
            }),
            None => walk.notes.push(format!(
                "{inside}: a symlink to a directory, to a missing file or out of the directory; not followed or counted"
            )),
        }
    } else {
        walk.notes
            .push(format!("{inside}: not a file; not counted"));
    }
    Ok(())
}

/// A symlink that loops or cannot be resolved for another reason than a
/// missing target (permission, a loop): what it stands for cannot be
/// measured, so no size could honestly be reported.
fn refuse_unresolvable(link: &Path) -> Result<(), SizeError> {
    match fs::metadata(link) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(SizeError::Io {
            path: link.to_path_buf(),
            source,
        }),
        _ => Ok(()),
    }
}

/// The size of the file a symlink resolves to, if that is a file inside `root`.
fn linked_file_size(root: &Path, link: &Path) -> Option<u64> {
    let target = link.canonicalize().ok()?;
    if !target.starts_with(root) {
        return None;
    }
    let metadata = fs::metadata(&target).ok()?;
    metadata.is_file().then_some(metadata.len())
}

const SAVED_MODEL_FILES: [&str; 2] = ["saved_model.pb", "saved_model.pbtxt"];
const INDEX_FILE: &str = "variables/variables.index";
const DATA_PREFIX: &str = "variables/variables.data-";

/// Sorts the files into the SavedModel's parts; the variables' data is one
/// lump until [`add_variables`] breaks it down.
fn classify(files: &[Found]) -> Inventory {
    let mut inventory = Inventory::default();
    for file in files {
        let path = file.path.as_str();
        if SAVED_MODEL_FILES.contains(&path) {
            inventory.saved_model_bytes = inventory.saved_model_bytes.saturating_add(file.bytes);
        } else if path == INDEX_FILE {
            inventory.variables_index_bytes = file.bytes;
        } else if path.starts_with(DATA_PREFIX) {
            let data = &mut inventory.unaccounted_data_bytes;
            *data = data.saturating_add(file.bytes);
        } else if let Some(asset) = path.strip_prefix("assets/") {
            inventory.assets.push(FileBytes {
                path: asset.into(),
                bytes: file.bytes,
            });
        } else {
            inventory.other.push(FileBytes {
                path: path.into(),
                bytes: file.bytes,
            });
        }
    }
    inventory
}

/// The plain (not linked) file at `path`, if found.
fn plain<'a>(files: &'a [Found], path: &str) -> Option<&'a Found> {
    files.iter().find(|f| f.path == path && !f.linked)
}

/// Breaks the data shards down by checkpoint key, when the index reads,
/// every shard it names is a plain file and the keys' bytes fit in them.
fn add_variables(root: &Path, files: &[Found], inventory: &mut Inventory, notes: &mut Vec<String>) {
    let linked_data = files
        .iter()
        .any(|f| f.linked && f.path.starts_with(DATA_PREFIX));
    if plain(files, INDEX_FILE).is_none() || linked_data {
        if inventory.unaccounted_data_bytes > 0 {
            notes.push(format!(
                "{INDEX_FILE} or a data file is missing or a symlink: variables not broken down by key"
            ));
        }
        return;
    }
    let prefix = root.join("variables").join("variables");
    match tensors_of(&prefix, files) {
        Ok((tensors, object_graph_bytes)) => {
            let bytes = tensors
                .iter()
                .map(|t| t.bytes())
                .fold(object_graph_bytes, u64::saturating_add);
            match inventory.unaccounted_data_bytes.checked_sub(bytes) {
                Some(rest) => {
                    inventory.unaccounted_data_bytes = rest;
                    inventory.tensors = tensors;
                    inventory.object_graph_bytes = object_graph_bytes;
                }
                None => notes.push(format!(
                    "{INDEX_FILE} claims more bytes than the data files hold: variables not broken down by key"
                )),
            }
        }
        Err(reason) => notes.push(format!("variables not broken down by key: {reason}")),
    }
}

/// Every variable of the bundle at `prefix` (an int8 one with its scales)
/// and its object graph's bytes, once its data shards are known to be
/// plain files of the directory.
fn tensors_of(
    prefix: &Path,
    files: &[Found],
) -> Result<(Vec<super::inventory::StoredTensor>, u64), String> {
    let reader = BundleReader::open(prefix).map_err(|e| e.to_string())?;
    let shards = reader.num_shards();
    for shard in 0..shards {
        let data = data_path(Path::new("variables/variables"), shard, shards);
        let name = data.to_string_lossy();
        if plain(files, &name).is_none() {
            return Err(format!("{name} is missing or not a plain file"));
        }
    }
    let found = crate::format::bundle::variables::variables(reader.entries());
    let tensor = |name: &str| stored_tensor(&reader, name).map_err(|e| e.to_string());
    let tensors: Result<Vec<_>, String> = found
        .variables
        .iter()
        .map(|v| {
            let mut stored = tensor(&v.tensor.name)?;
            for scales in &v.scales {
                stored.scales.extend(tensor(&scales.name)?.pieces);
            }
            Ok(stored)
        })
        .collect();
    Ok((tensors?, found.object_graph.map_or(0, |e| e.bytes)))
}

/// The float constants of every graph in a plain `saved_model.pb` under
/// protobuf's limit.
fn add_graph_constants(
    root: &Path,
    files: &[Found],
    inventory: &mut Inventory,
    notes: &mut Vec<String>,
) {
    let Some(file) = plain(files, "saved_model.pb") else {
        return;
    };
    if file.bytes > MAX_PROTO_BYTES {
        return;
    }
    let path = root.join("saved_model.pb");
    match super::graph_constants::float_constants(&path) {
        Ok(pieces) => inventory.graph_constants = pieces,
        Err(reason) => notes.push(format!(
            "saved_model.pb does not decode ({reason}): its constants are not weighed"
        )),
    }
}
