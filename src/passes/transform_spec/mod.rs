//! What a Graph Transform Tool run asks for and why it may fail: the
//! `--transforms` text parsed into calls ([`parse`]), and the run's error.
//! Kept with the passes the calls name, below the error every stage
//! reports through, so that error can wrap it without reaching up into
//! the `transform` tool.

pub mod error;
pub mod parse;

pub use error::TransformError;
pub use parse::{ParseError, TransformCall, parse_transforms};
