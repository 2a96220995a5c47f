//! `servegraph transform`: the Graph Transform Tool's job on a GraphDef or
//! on the graph of a SavedModel (or of a training checkpoint's `.meta`,
//! written out as a GraphDef). The `--transforms` text is parsed
//! ([`parse`]), each transform is built from the pass [`Registry`] by name
//! and run in order over the model, and the result is written as a GraphDef
//! or a SavedModel (variables copied). Each transform's [`PassReport`] is
//! returned, so every removal and rewiring can be explained.
//!
//! Nothing is written unless every transform succeeded (or was told
//! `ignore_errors`), and the input is never written.

pub mod graph_file;
mod signatures;
mod summary;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::passes::transform_spec::parse;
pub use crate::passes::transform_spec::{
    ParseError, TransformCall, TransformError, parse_transforms,
};
pub use graph_file::GraphFormat;
pub use summary::list_transforms;

use crate::back::write::atomic::Overwrite;
use crate::export::error::Error;
use crate::front::read::{Source, Wanted, locate, read_source_for};
use crate::ir::node_of;
use crate::model::Model;
use crate::passes::node_explain::{
    ExplainScope, Explanation, ServedOutput, explain, served_outputs,
};
use crate::passes::registry::{BuildContext, PassArgs, Registry};
use crate::passes::{PassContext, PassReport, Pipeline};
use crate::timings::Timings;

/// What to run and where to write.
#[derive(Debug, Clone, Default)]
pub struct TransformOptions {
    /// The `--transforms` text.
    pub transforms: String,
    /// Node or tensor names the graph is fed through. Default: a
    /// SavedModel's signature inputs, else none.
    pub inputs: Vec<String>,
    /// Node or tensor names whose values must not change. Default: a
    /// SavedModel's signature outputs, else none.
    pub outputs: Vec<String>,
    /// The SavedModel's MetaGraphDef tags. Default: `serve`.
    pub tags: Vec<String>,
    /// Replace an existing output. Default: refuse.
    pub overwrite: Overwrite,
    /// Explain every node the transforms removed or rewired, or one node
    /// (see [`crate::passes::node_explain`]). Default: none.
    pub explain: Option<ExplainScope>,
}

/// What a run changed and wrote.
#[derive(Debug, Clone, Serialize)]
pub struct TransformReport {
    /// One report per transform, in order, then (for a SavedModel output)
    /// the prune and metadata passes that make it writable.
    pub passes: Vec<PassReport>,
    pub output: PathBuf,
    /// `graphdef` or `saved_model`.
    pub written_as: &'static str,
    /// The GraphDef's encoding, for a GraphDef output.
    pub format: Option<GraphFormat>,
    /// Transforms that failed and were skipped (`ignore_errors=true`).
    pub ignored_errors: Vec<String>,
    pub nodes_before: usize,
    pub nodes_after: usize,
    /// Why nodes were removed, rewired or kept; only with `explain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explanation>,
}

/// Runs `options.transforms` over the graph in `input` and writes `output`.
pub fn transform(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    options: &TransformOptions,
) -> Result<TransformReport, Error> {
    transform_with(
        &Registry::standard(),
        input.as_ref(),
        output.as_ref(),
        options,
    )
}

/// [`transform`] with the passes of `registry`.
pub fn transform_with(
    registry: &Registry,
    input: &Path,
    output: &Path,
    options: &TransformOptions,
) -> Result<TransformReport, Error> {
    let calls = parsed_calls(registry, &options.transforms)?;
    check_output(input, output, options.overwrite)?;
    let source = locate(input)?;
    let tags = if options.tags.is_empty() {
        vec![crate::model::SERVE_TAG.to_string()]
    } else {
        options.tags.clone()
    };
    let mut model = read_model(&source, &tags)?;
    let cx = build_context(&model, options);
    let nodes_before = model.graph.len();
    let before = options.explain.as_ref().map(|_| model.graph.clone());
    let (mut passes, ignored_errors) = run_calls(registry, &calls, &cx, &mut model)?;
    passes.extend(drop_stale_colocations(&mut model));
    let writes_saved_model = matches!(
        (&source, graph_file::format_by_extension(output)),
        (Source::SavedModel { .. }, None)
    );
    if writes_saved_model {
        passes.extend(finish_saved_model(registry, &cx, &mut model)?);
    }
    // Worked out before anything is written, so an unknown node fails cleanly.
    let explain = match (&before, &options.explain) {
        (Some(before), Some(scope)) => Some(explain(
            before,
            &model.graph,
            &transform_outputs(&model, &cx),
            &passes,
            scope,
        )?),
        _ => None,
    };
    let (written_as, format) = write_output(&source, &model, &tags, output, options.overwrite)?;
    Ok(TransformReport {
        passes,
        output: output.to_path_buf(),
        written_as,
        format,
        ignored_errors,
        nodes_before,
        nodes_after: model.graph.len(),
        explain,
    })
}

/// The `--transforms` calls, parsed; none at all is an error listing the
/// known transforms, so a run that would only copy the model says why not.
fn parsed_calls(registry: &Registry, transforms: &str) -> Result<Vec<TransformCall>, Error> {
    let calls = parse_transforms(transforms).map_err(TransformError::from)?;
    if calls.is_empty() {
        return Err(TransformError::NoTransforms {
            known: registry
                .entries()
                .iter()
                .map(|e| e.name.to_string())
                .collect(),
        }
        .into());
    }
    Ok(calls)
}

/// The model of `source`, with a SavedModel's signatures read as well: the
/// transforms protect what the signatures name.
fn read_model(source: &Source, tags: &[String]) -> Result<Model, Error> {
    let mut model = read_source_for(source, None, tags, &Wanted::default(), &mut Timings::new())?;
    if let Source::SavedModel { dir } = source {
        model.signatures = signatures::read_signatures(dir, tags)?;
    }
    Ok(model)
}

/// Writes the transformed model as its source was (a SavedModel as a
/// SavedModel, a GraphDef in its own encoding) unless `output`'s extension
/// names a GraphDef encoding; returns what was written (`saved_model` or
/// `graphdef`) and the GraphDef's encoding. A checkpoint has no SavedModel
/// to write back, so it needs a GraphDef output.
fn write_output(
    source: &Source,
    model: &Model,
    tags: &[String],
    output: &Path,
    overwrite: Overwrite,
) -> Result<(&'static str, Option<GraphFormat>), Error> {
    match (source, graph_file::format_by_extension(output)) {
        (Source::SavedModel { .. }, None) => {
            crate::back::write::saved_model::write_saved_model(model, tags, output, overwrite)?;
            Ok(("saved_model", None))
        }
        (Source::GraphDef { path }, None) => {
            let format = write_graph_def(model, output, graph_file::format_of_file(path))?;
            Ok(("graphdef", Some(format)))
        }
        (_, Some(format)) => Ok(("graphdef", Some(write_graph_def(model, output, format)?))),
        (Source::Checkpoint { .. }, None) => Err(TransformError::CheckpointNeedsGraphDefOutput {
            path: output.to_path_buf(),
        }
        .into()),
    }
}

/// The tensors a kept node's path leads to: the signatures' outputs, else
/// the `--outputs` nodes (port 0 unless a port is named).
fn transform_outputs(model: &Model, cx: &BuildContext) -> Vec<ServedOutput> {
    if !model.signatures.is_empty() {
        return served_outputs(model);
    }
    cx.outputs
        .iter()
        .map(|name| ServedOutput {
            signature: String::new(),
            key: name.clone(),
            tensor: if name.contains(':') {
                name.clone()
            } else {
                format!("{name}:0")
            },
        })
        .collect()
}

/// The run's endpoints: as given, else the SavedModel's signatures'.
fn build_context(model: &Model, options: &TransformOptions) -> BuildContext {
    let from_signatures = |outputs: bool| -> Vec<String> {
        let mut names: Vec<String> = model
            .signatures
            .values()
            .flat_map(|s| {
                if outputs {
                    s.outputs.values()
                } else {
                    s.inputs.values()
                }
            })
            .map(|spec| node_of(&spec.name).to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let or_signatures = |given: &Vec<String>, outputs: bool| {
        if given.is_empty() {
            from_signatures(outputs)
        } else {
            given.clone()
        }
    };
    BuildContext {
        inputs: or_signatures(&options.inputs, false),
        outputs: or_signatures(&options.outputs, true),
        ..BuildContext::default()
    }
}

/// Builds and runs each call; the graph is checked after each one.
fn run_calls(
    registry: &Registry,
    calls: &[TransformCall],
    cx: &BuildContext,
    model: &mut Model,
) -> Result<(Vec<PassReport>, Vec<String>), Error> {
    let mut reports = Vec::new();
    let mut ignored = Vec::new();
    let failed = |transform: &str, source| TransformError::Failed {
        transform: transform.into(),
        source: Box::new(source),
    };
    for call in calls {
        let pass = registry
            .build(&call.name, &call.args, cx)
            .map_err(|e| failed(&call.name, e))?;
        let ignore_errors = PassArgs::new(&call.name, &call.args)
            .bool("ignore_errors", false)
            .map_err(|e| failed(&call.name, e))?;
        let before = ignore_errors.then(|| model.clone());
        match run_one(pass.as_ref(), model, &call.name) {
            Ok(report) => reports.push(report),
            Err(error) => match before {
                Some(before) => {
                    *model = before;
                    ignored.push(format!(
                        "{}: {}",
                        call.name,
                        crate::export::error::messages(&error).join(": ")
                    ));
                }
                None => return Err(error.into()),
            },
        }
    }
    Ok((reports, ignored))
}

fn run_one(
    pass: &dyn crate::passes::Pass,
    model: &mut Model,
    name: &str,
) -> Result<PassReport, TransformError> {
    let failed = |source| TransformError::Failed {
        transform: name.into(),
        source: Box::new(source),
    };
    let mut report = pass.run(model, &mut PassContext::new()).map_err(failed)?;
    model.graph.validate().map_err(|e| failed(e.into()))?;
    report.pass = name.to_string();
    Ok(report)
}

/// TensorFlow refuses to import a node colocated with one that is gone, so
/// `loc:@` entries naming removed nodes go, whichever transform removed them.
fn drop_stale_colocations(model: &mut Model) -> Option<PassReport> {
    let mut report = PassReport {
        pass: "stale_colocations".into(),
        ..PassReport::default()
    };
    crate::passes::metadata::drop_stale_colocations(&mut model.graph, &mut report);
    (!report.notes.is_empty()).then_some(report)
}

/// A SavedModel output gets a fresh saver: the old one's subgraph and
/// everything else the signatures do not need goes first.
fn finish_saved_model(
    registry: &Registry,
    cx: &BuildContext,
    model: &mut Model,
) -> Result<Vec<PassReport>, Error> {
    let mut pipeline = Pipeline::empty();
    for name in ["prune", "metadata"] {
        pipeline.push_boxed(registry.build(name, &[], cx)?);
    }
    Ok(pipeline.run(model, &mut PassContext::new())?)
}

fn write_graph_def(
    model: &Model,
    output: &Path,
    format: GraphFormat,
) -> Result<GraphFormat, Error> {
    let graph_def = model.graph.to_graph_def();
    let bytes = graph_file::encode(&graph_def, format, output)?;
    graph_file::write_atomically(output, &bytes)?;
    Ok(format)
}

/// `path` made absolute without following it, when its directory exists.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(path) = path.canonicalize() {
        return Some(path);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Refuses to write over the input, or over an existing file unless asked.
fn check_output(input: &Path, output: &Path, overwrite: Overwrite) -> Result<(), TransformError> {
    let same = match (input.canonicalize(), resolved(output)) {
        (Ok(a), Some(b)) => a == b || b.starts_with(&a) || a.starts_with(&b),
        _ => false,
    };
    if same {
        return Err(TransformError::OutputIsInput {
            path: output.to_path_buf(),
        });
    }
    if output.is_file() && overwrite == Overwrite::Refuse {
        return Err(TransformError::OutputExists {
            path: output.to_path_buf(),
        });
    }
    Ok(())
}
