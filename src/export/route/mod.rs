//! The routes an export takes, peers behind one interface. The graph
//! route reads the source into the IR, runs the passes and writes what
//! they leave; the lean route keeps a TF2 SavedModel's own functions and
//! signatures and cuts away what they do not reach. The driver
//! ([`export_serving_model`](crate::export_serving_model)) locates the
//! source, chooses the route, lets it refuse the options it cannot honour
//! (before the source's graph or variables are read) and runs it.

mod graph;
mod lean;

use std::path::{Path, PathBuf};

use super::error::Error;
use super::options::ExportOptions;
use super::report::ExportReport;
use crate::front::read::Source;
use crate::timings::Timings;

/// One export, as the driver hands it to a route.
pub(crate) struct Job<'a> {
    /// The source path as given.
    pub source: &'a Path,
    /// What the source is.
    pub located: Source,
    /// The output directory as given (reports name it so).
    pub out_dir: &'a Path,
    /// The output directory resolved and checked: apart from every path
    /// the export reads, and replaceable as the options allow.
    pub output: PathBuf,
    pub options: &'a ExportOptions,
    /// The stages timed so far (locating the source).
    pub timings: Timings,
}

/// A way from a located source to a written SavedModel.
pub(crate) trait Route {
    /// Refuses, naming the flag, the first option the route cannot honour.
    fn check_options(&self, options: &ExportOptions) -> Result<(), Error>;
    /// Reads the source, makes the serving model and writes it.
    fn export(self: Box<Self>, job: Job<'_>) -> Result<ExportReport, Error>;
}

/// The route for `located`: the lean route for a TF2 SavedModel exported
/// whole (no tensors named), the graph route for everything else.
pub(crate) fn choose(located: &Source, options: &ExportOptions) -> Result<Box<dyn Route>, Error> {
    if let Source::SavedModel { dir } = located
        && let Some(route) = lean::LeanRoute::for_source(dir, options)?
    {
        return Ok(Box::new(route));
    }
    Ok(Box::new(graph::GraphRoute))
}
