//! The one-call API: locate a training artifact, choose the route that
//! makes it a serving model, run it, and report what happened.
//!
//! - [`options`]: what to export and how, in four groups;
//! - `route`: the graph route and the lean route, peers behind one
//!   interface, each refusing what it cannot honour before reading;
//! - [`report`]: what every route reports, and each route's own part;
//! - [`error`]: the error every stage's error is gathered under.

pub mod error;
mod left_behind;
mod one_line;
pub mod options;
pub mod report;
mod route;
mod summary;
mod text;
mod variant;
mod verdict;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use left_behind::{Category, LeftBehind, LeftFile};
pub use options::{ExportOptions, ExportStorage, OutputOptions, ServingOptions, SourceOptions};
pub use report::{ExportReport, GraphRouteReport, VariantReport};
pub use text::{Detail, ReportText};
pub use variant::{Variant, VariantError};
pub use verdict::{DroppedVariable, drop_reason, dropped_variables, size_verdict};

use crate::back::write::atomic::check_replaceable;
use crate::back::write::guard::{directory_of, keep_apart, resolve_output};
use crate::back::write::saved_model::check_tag_sets;
use crate::front::read::{self, Source};
use crate::timings::{Stage, Timings};
use error::Error;
use route::Job;

/// The legacy AI Platform (MLS1) model size limit.
pub const MLS1_LIMIT_BYTES: u64 = crate::back::size::MLS1_BYTES;
/// The N1 machine model size limit.
pub const N1_LIMIT_BYTES: u64 = crate::back::size::N1_BYTES;

/// Reads `source`, makes it a serving model and writes it to `out_dir`.
///
/// Before anything is read, `out_dir` is refused if it is, lies inside or
/// contains a path the export reads, is a symlink or a file, or exists and
/// may not be replaced (see [`Overwrite`](crate::Overwrite)). Sources are
/// never written.
///
/// ```
/// use servegraph::{ExportOptions, ServingOptions, export_serving_model};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let out = tempfile::tempdir()?;
/// let options = ExportOptions {
///     serving: ServingOptions {
///         outputs: vec!["logits=logits/BiasAdd:0".parse()?],
///         ..ServingOptions::default()
///     },
///     ..ExportOptions::default()
/// };
/// // A training checkpoint: the serving input is detected from the graph.
/// let report = export_serving_model(
///     "testdata/fixtures/tiny_mlp",
///     out.path().join("serving"),
///     &options,
/// )?;
/// let signature = &report.signatures["serving_default"];
/// assert_eq!(signature.inputs["input"].shape, Some(vec![-1, 4]));
/// assert!(report.nodes_after < report.nodes_before);
/// assert!(report.dropped.iter().any(|v| v.key == "global_step"));
/// assert!(report.fits_mls1);
/// assert!(out.path().join("serving/saved_model.pb").is_file());
/// # Ok(())
/// # }
/// ```
pub fn export_serving_model(
    source: impl AsRef<Path>,
    out_dir: impl AsRef<Path>,
    options: &ExportOptions,
) -> Result<ExportReport, Error> {
    let (source, out_dir) = (source.as_ref(), out_dir.as_ref());
    let started = Instant::now();
    variant::check_distinct(&options.serving.tags, &options.serving.variants)?;
    check_tag_sets(options.tag_sets(), out_dir)?;
    options.check_method_flags()?;
    let mut timings = Timings::new();
    let checkpoint = options.source.checkpoint.as_deref();
    let located = timings.time(Stage::Locate, || {
        read::locate_with_checkpoint(source, checkpoint)
    })?;
    let output = checked_output(out_dir, &reads(source, &located, options), options)?;
    let route = route::choose(&located, options)?;
    route.check_options(options)?;
    let job = Job {
        source,
        located,
        out_dir,
        output,
        options,
        timings,
    };
    let mut report = route.export(job)?;
    report.timings.record(Stage::Total, started.elapsed());
    Ok(report)
}

/// Every path the export reads: the source's ([`source_paths`]) and the
/// warm-up file.
fn reads(source: &Path, located: &Source, options: &ExportOptions) -> Vec<PathBuf> {
    let mut paths = source_paths(source, located, options.source.checkpoint.as_deref());
    paths.extend(options.output.warmup.clone());
    paths
}

/// `out_dir` resolved, once it is known to be apart from every path the
/// export reads and replaceable as `options` allow.
fn checked_output(
    out_dir: &Path,
    reads: &[PathBuf],
    options: &ExportOptions,
) -> Result<PathBuf, Error> {
    let output = resolve_output(out_dir)?;
    keep_apart(&output, reads)?;
    check_replaceable(&output, options.output.overwrite)?;
    Ok(output)
}

/// Every path an export of `source` (located as `located`, with variables
/// from `checkpoint`) reads: the path as given, the checkpoint's directory
/// and `.meta`, the SavedModel directory, the GraphDef file, the
/// `checkpoint` prefix's directory.
fn source_paths(source: &Path, located: &Source, checkpoint: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = vec![source.to_path_buf()];
    match located {
        Source::GraphDef { path } => paths.push(path.clone()),
        Source::Checkpoint { prefix, meta } => {
            paths.push(directory_of(prefix));
            paths.push(meta.clone());
        }
        Source::SavedModel { dir } => paths.push(dir.clone()),
    }
    paths.extend(checkpoint.map(directory_of));
    paths
}
