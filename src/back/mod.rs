//! The back end: a serving model written out and measured.
//!
//! - [`write`](mod@write): the IR → a SavedModel directory, variables copied by byte
//!   range, written into a staging directory and moved into place;
//! - [`size`]: a SavedModel's bytes against the service limits, its largest
//!   contributors and advice; an export's size before it is written;
//! - [`explain`]: AI Explanations' `explanation_metadata.json` for a served
//!   signature (`--xai-metadata`);
//! - [`warmup`]: TensorFlow Serving warm-up records from a predict request
//!   (`--warmup`), written under `assets.extra/`.

pub mod explain;
pub mod size;
pub mod warmup;
pub mod write;
