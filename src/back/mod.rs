//! The back end: a serving model written out and measured.
//!
//! - [`write`](mod@write): the IR → a SavedModel directory, variables copied by byte
//!   range, written into a staging directory and moved into place;
//! - [`size`]: a SavedModel's bytes against the service limits, its largest
//!   contributors and advice; an export's size before it is written.

pub mod size;
pub mod write;
