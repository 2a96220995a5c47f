//! A GraphDef file in, a GraphDef file out: binary or text, decided by the
//! output's extension (`.pbtxt`/`.txt` text, `.pb` binary) or else by the
//! input's format. Written to a hidden sibling and renamed into place, so a
//! failure leaves nothing behind.

use std::path::{Path, PathBuf};

use prost::Message;

use super::TransformError;
use crate::format::proto::GraphDef;

/// How a GraphDef is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphFormat {
    Binary,
    Text,
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// The format the extension asks for, if it asks.
pub fn format_by_extension(path: &Path) -> Option<GraphFormat> {
    match extension(path)?.as_str() {
        "pbtxt" | "txt" => Some(GraphFormat::Text),
        "pb" => Some(GraphFormat::Binary),
        _ => None,
    }
}

/// The format of an existing GraphDef file: text by extension, else
/// binary when its bytes decode as a GraphDef, else text.
pub fn format_of_file(path: &Path) -> GraphFormat {
    if format_by_extension(path) == Some(GraphFormat::Text) {
        return GraphFormat::Text;
    }
    match std::fs::read(path) {
        Ok(bytes) if GraphDef::decode(bytes.as_slice()).is_err() => GraphFormat::Text,
        _ => GraphFormat::Binary,
    }
}

/// Encodes `graph_def` in `format`.
pub fn encode(
    graph_def: &GraphDef,
    format: GraphFormat,
    path: &Path,
) -> Result<Vec<u8>, TransformError> {
    match format {
        GraphFormat::Binary => Ok(graph_def.encode_to_vec()),
        GraphFormat::Text => crate::format::text::to_text("tensorflow.GraphDef", graph_def)
            .map(String::into_bytes)
            .map_err(|e| TransformError::Encode {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }),
    }
}

/// Writes `bytes` to `path` through a hidden sibling renamed into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TransformError> {
    let io = |source| TransformError::Io {
        path: path.to_path_buf(),
        source,
    };
    let staging = staging_path(path);
    std::fs::write(&staging, bytes).map_err(io)?;
    std::fs::rename(&staging, path).map_err(|e| {
        let _ = std::fs::remove_file(&staging);
        io(e)
    })
}

fn staging_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.servegraph-{}", std::process::id()))
}
