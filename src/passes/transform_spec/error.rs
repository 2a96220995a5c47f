//! Why a transform run failed. Nothing is written when it does.

use std::path::PathBuf;

use super::parse::ParseError;
use crate::passes::PassError;

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("no transforms were given; the valid ones are: {}", .known.join(", "))]
    NoTransforms { known: Vec<String> },
    #[error("transform {transform} failed")]
    Failed {
        transform: String,
        #[source]
        source: Box<PassError>,
    },
    #[error("the output {path} is the input; write the transformed graph elsewhere")]
    OutputIsInput { path: PathBuf },
    #[error("{path} exists")]
    OutputExists { path: PathBuf },
    #[error(
        "{path}: a training checkpoint's graph is written as a GraphDef; name the output .pb or .pbtxt"
    )]
    CheckpointNeedsGraphDefOutput { path: PathBuf },
    #[error(
        "{path}: signature {signature:?} serves {tensor:?} as a sparse or composite tensor, which transform cannot carry over"
    )]
    CompositeSignatureTensor {
        path: PathBuf,
        signature: String,
        tensor: String,
    },
    #[error("cannot encode the transformed graph as text for {path}: {detail}")]
    Encode { path: PathBuf, detail: String },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
