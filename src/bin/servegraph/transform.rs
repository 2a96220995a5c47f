//! `servegraph transform`: the flags, and printing the run.

use std::path::PathBuf;

use clap::Args;
use servegraph::node_explain::ExplainScope;
use servegraph::passes::registry::Registry;
use servegraph::transform::{TransformOptions, list_transforms, transform};
use servegraph::write::atomic::Overwrite;

// The flags of `transform`.
#[derive(Args)]
pub struct TransformArgs {
    /// A GraphDef (.pb binary, .pbtxt text), a SavedModel directory, or a
    /// training checkpoint (its graph is written as a GraphDef).
    #[arg(required_unless_present = "list")]
    input: Option<PathBuf>,
    /// Where to write: a GraphDef file (text if it ends in .pbtxt, binary if
    /// .pb, else the input's format), or a SavedModel directory when the
    /// input is one.
    #[arg(required_unless_present = "list")]
    output: Option<PathBuf>,
    /// Comma-separated input node names (default: a SavedModel's signature inputs).
    #[arg(long, value_delimiter = ',')]
    inputs: Vec<String>,
    /// Comma-separated output node names (default: a SavedModel's signature outputs).
    #[arg(long, value_delimiter = ',')]
    outputs: Vec<String>,
    /// The transforms, in the Graph Transform Tool's syntax:
    /// 'name(arg=value, arg="quoted, value") name2'.
    #[arg(long, default_value = "")]
    transforms: String,
    /// The SavedModel's MetaGraphDef tags, comma-separated or repeated (default `serve`).
    #[arg(
        long = "tag",
        visible_alias = "tag_set",
        value_name = "TAGS",
        value_delimiter = ','
    )]
    tags: Vec<String>,
    /// Replace an existing output.
    #[arg(long)]
    overwrite: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// List the transforms and their arguments.
    #[arg(long)]
    list: bool,
    /// After the report, explain every node the transforms removed or rewired:
    /// its op, its inputs before and after, the rule that fired. With NODE, why
    /// that node was kept (the outputs that need it, by which path) or removed.
    /// Give it after IN and OUT, or as --explain=NODE.
    #[arg(long, value_name = "NODE", num_args = 0..=1, default_missing_value = "")]
    explain: Option<String>,
}

pub fn run(args: TransformArgs) -> Result<String, Box<dyn std::error::Error>> {
    if args.list {
        return Ok(list_transforms(&Registry::standard()));
    }
    let (Some(input), Some(output)) = (args.input, args.output) else {
        return Err("transform needs an input and an output".into());
    };
    let options = TransformOptions {
        transforms: args.transforms,
        inputs: args.inputs,
        outputs: args.outputs,
        tags: args.tags,
        overwrite: if args.overwrite {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        },
        explain: args.explain.map(|node| {
            if node.is_empty() {
                ExplainScope::Every
            } else {
                ExplainScope::Node(node)
            }
        }),
    };
    let report = transform(&input, &output, &options)?;
    Ok(if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        match &report.explain {
            Some(explanation) => format!("{report}{explanation}"),
            None => report.to_string(),
        }
    })
}
