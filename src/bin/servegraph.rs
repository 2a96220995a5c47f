//! The servegraph command line: `export`, `show`, `scan`, `validate`, `size`.

#[path = "servegraph/failure.rs"]
mod failure;
#[path = "servegraph/progress.rs"]
mod progress;
#[path = "servegraph/transform.rs"]
mod transform;
#[path = "servegraph/version_dir.rs"]
mod version_dir;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use servegraph::explain::{BaselineSpec, ExplanationOptions};
use servegraph::export::{
    Detail, ExportStorage, OutputOptions, ServingOptions, SourceOptions, Variant,
};
use servegraph::lint::Rule;
use servegraph::node_explain::ExplainScope;
use servegraph::passes::freeze::FreezeLimits;
use servegraph::passes::inputs::{InputSpec, OutputSpec};
use servegraph::passes::method::ServingMethod;
use servegraph::size::ByteSize;
use servegraph::storage::WeightPrecision;
use servegraph::tf2::SignatureChoice;
use servegraph::validate::{Strictness, ValidateOptions};
use servegraph::write::atomic::Overwrite;
use servegraph::{ExportOptions, ExportReport, WriteError, export_serving_model};

#[derive(Parser)]
#[command(
    name = "servegraph",
    version,
    about = "Turns a TensorFlow training graph into a serving SavedModel, without TensorFlow."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Export a training checkpoint, .meta, GraphDef or SavedModel as a serving SavedModel.
    Export(Box<ExportArgs>),
    /// Lint a SavedModel (or a GraphDef or .meta) for serving: exit code 0
    /// clean, 1 warnings only (with --strict), 2 errors.
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate {
        /// A SavedModel directory, a .meta file or a GraphDef.
        path: PathBuf,
        /// The MetaGraphDef's tags (default `serve`); comma-separated or repeated.
        #[arg(long = "tag", visible_alias = "tag_set", value_delimiter = ',')]
        tags: Vec<String>,
        /// Warnings fail too (exit code 1).
        #[arg(long)]
        strict: bool,
        /// Warnings of RULE are expected (e.g. batch-dimension for an export
        /// made with --fixed-batch): still listed, they do not fail --strict.
        /// Comma-separated or repeated; errors are never allowed.
        #[arg(long = "allow", value_name = "RULE", value_delimiter = ',')]
        allowed: Vec<Rule>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure a SavedModel directory against the 500 MB / 10 GB service limits and the
    /// 1 GiB / 2 GiB limits on saved_model.pb: largest contributors, and which flag would fit.
    #[command(after_help = SIZE_EXAMPLES)]
    Size {
        /// The SavedModel directory an export wrote.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a GraphDef, checkpoint or SavedModel: nodes, ops, variables, signatures.
    /// With saved_model_cli's flags (--dir, --all, --tag_set, --signature_def,
    /// --list_ops), print what `saved_model_cli show` prints.
    #[command(after_help = SHOW_EXAMPLES)]
    Show(ShowArgs),
    /// Run Graph Transform Tool transforms (and servegraph's passes, by name)
    /// on a GraphDef or the graph of a SavedModel.
    #[command(after_help = TRANSFORM_EXAMPLES)]
    Transform(Box<transform::TransformArgs>),
    /// Like `saved_model_cli scan`: denylisted ops (ReadFile, WriteFile, PrintV2),
    /// then Python-function and training-only ops.
    #[command(after_help = SCAN_EXAMPLES)]
    Scan {
        /// The SavedModel directory (or --dir).
        #[arg(required_unless_present = "dir", conflicts_with = "dir")]
        path: Option<PathBuf>,
        /// The SavedModel directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Tags of the one MetaGraphDef to scan (default: all); comma-separated or repeated.
        #[arg(
            long = "tag_set",
            visible_alias = "tag",
            value_name = "TAGS",
            value_delimiter = ','
        )]
        tag_set: Vec<String>,
        /// Comma-separated ops to look for instead of ReadFile, WriteFile, PrintV2.
        #[arg(long = "op_denylist", value_name = "OPS")]
        op_denylist: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

// The flags of `show`.
#[derive(Args)]
struct ShowArgs {
    /// A checkpoint prefix, training directory, .meta, GraphDef or SavedModel directory.
    #[arg(required_unless_present = "dir", conflicts_with = "dir")]
    path: Option<PathBuf>,
    /// The SavedModel directory, as saved_model_cli takes it; alone, lists its tag-sets.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Everything saved_model_cli shows: every MetaGraphDef, signature and
    /// (TF2) concrete function.
    #[arg(long)]
    all: bool,
    /// Comma-separated tags of a MetaGraphDef: lists its signature keys.
    #[arg(long = "tag_set", value_name = "TAGS")]
    tag_set: Option<String>,
    /// With --tag_set: that signature's inputs, outputs and method.
    #[arg(long = "signature_def", value_name = "KEY")]
    signature_def: Option<String>,
    /// With --tag_set: the ops its MetaGraphDef uses.
    #[arg(long = "list_ops")]
    list_ops: bool,
    /// The summary (nodes, ops, variables, signatures), the default without
    /// saved_model_cli's flags.
    #[arg(long, conflicts_with_all = ["all", "tag_set", "signature_def", "list_ops"])]
    summary: bool,
    /// Summary: only the MetaGraphDef with exactly these tags (SavedModels);
    /// comma-separated or repeated.
    #[arg(
        long = "tag",
        value_delimiter = ',',
        conflicts_with_all = ["all", "tag_set", "signature_def", "list_ops"]
    )]
    tags: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl ShowArgs {
    /// saved_model_cli's request, unless the summary is wanted (`--summary`,
    /// or its `--tag`).
    fn saved_model_cli_request(&self) -> Option<servegraph::saved_model_cli::ShowRequest> {
        let asked = self.dir.is_some()
            || self.all
            || self.tag_set.is_some()
            || self.signature_def.is_some()
            || self.list_ops;
        let summary = self.summary || !self.tags.is_empty();
        (asked && !summary).then(|| servegraph::saved_model_cli::ShowRequest {
            all: self.all,
            tag_set: self.tag_set.clone(),
            signature_def: self.signature_def.clone(),
            list_ops: self.list_ops,
        })
    }
}

/// Examples closing `validate --help`.
const VALIDATE_EXAMPLES: &str = "Examples:
  servegraph validate model/
  servegraph validate model/ --strict --json
  servegraph validate model/ --tag_set serve,gpu
  servegraph validate model/ --strict --allow batch-dimension";

/// Examples closing `size --help`.
const SIZE_EXAMPLES: &str = "Examples:
  servegraph size model/
  servegraph size model/1 --json";

/// Examples closing `show --help`.
const SHOW_EXAMPLES: &str = "Examples:
  servegraph show run/model.ckpt-5
  servegraph show model/ --tag serve,gpu
  servegraph show --dir model/ --tag_set serve --signature_def serving_default";

/// Examples closing `transform --help`.
const TRANSFORM_EXAMPLES: &str = "Examples:
  servegraph transform model/ smaller/ --transforms 'fold_constants fold_batch_norms'
  servegraph transform graph.pb out.pb --inputs x --outputs probs --transforms strip_unused_nodes
  servegraph transform --list";

/// Examples closing `scan --help`.
const SCAN_EXAMPLES: &str = "Examples:
  servegraph scan model/
  servegraph scan --dir model/ --tag_set serve --op_denylist PyFunc,ReadFile";

/// Examples closing `export --help`.
const EXPORT_EXAMPLES: &str = "Examples:
  servegraph export run/ model/ --output logits=logits/BiasAdd:0
  servegraph export run/model.ckpt-5 model/ --output probs=head/probs:0 --weights f16
  servegraph export keras_saved_model/ models/clf --version auto --max-size 500M";

// The flags of `export` (the variant's doc is the subcommand's help).
#[derive(Args)]
#[command(disable_help_flag = true, after_help = EXPORT_EXAMPLES)]
struct ExportArgs {
    /// A checkpoint prefix, a training directory, a .meta file, a GraphDef or a SavedModel directory.
    source: PathBuf,
    /// The SavedModel directory to write.
    out_dir: PathBuf,
    /// KEY=TENSOR[:shape=D0,D1,...][:default=V]: this tensor becomes placeholder KEY (batch
    /// dimension -1); KEY=INDICES,VALUES,DENSE_SHAPE for a SparseTensor. With --examples, KEY
    /// is a tf.Example feature, optional when :default= gives its value.
    #[arg(
        long = "input",
        value_name = "KEY=TENSOR",
        help = "Serve this tensor as input KEY (KEY=A,B,C: a SparseTensor)",
        long_help = "KEY=TENSOR[:shape=D0,D1,...][:default=V]: this tensor becomes placeholder KEY (batch dimension -1); KEY=INDICES,VALUES,DENSE_SHAPE for a SparseTensor. With --examples, KEY is a tf.Example feature, optional when :default= gives its value"
    )]
    inputs: Vec<String>,
    /// KEY=TENSOR: a signature output.
    #[arg(
        long = "output",
        value_name = "KEY=TENSOR",
        help = "Serve this tensor as output KEY",
        long_help = "KEY=TENSOR: a signature output"
    )]
    outputs: Vec<String>,
    /// The signature key (default `serving_default`). For a TF2 SavedModel exported
    /// without --input/--output (its own signatures kept, the rest pruned away): keep only
    /// the source signature NAME (default: every signature).
    #[arg(long, hide_short_help = true)]
    signature: Option<String>,
    /// The MetaGraphDef's tags, comma-separated or repeated; default `serve`.
    #[arg(
        long = "tag",
        visible_alias = "tag_set",
        value_name = "TAGS",
        value_delimiter = ',',
        help = "The MetaGraphDef's tags, comma-separated or repeated (default serve)",
        long_help = "The MetaGraphDef's tags, comma-separated or repeated; default `serve`"
    )]
    tags: Vec<String>,
    /// Replace OUT_DIR if it exists.
    #[arg(
        long,
        help = "Replace OUT_DIR if it exists",
        long_help = "Replace OUT_DIR if it exists"
    )]
    overwrite: bool,
    /// Write OUT_DIR/N/, TensorFlow Serving's layout (it serves the highest
    /// version); `auto`: one past the highest version in OUT_DIR. Never
    /// replaces a version.
    #[arg(
        long,
        value_name = "N|auto",
        help = "Write OUT_DIR/N/ (auto: the next version), as TF Serving expects",
        long_help = "Write OUT_DIR/N/, TensorFlow Serving's layout (it serves the highest version); `auto`: one past the highest version in OUT_DIR. Never replaces a version"
    )]
    version: Option<version_dir::Version>,
    /// Checkpoint prefix holding the variables of a GraphDef source.
    #[arg(
        long,
        help = "The checkpoint holding a GraphDef's variables",
        long_help = "Checkpoint prefix holding the variables of a GraphDef source"
    )]
    checkpoint: Option<PathBuf>,
    /// A boolean node to set to false, besides is_training-like placeholders.
    #[arg(long = "training-flag", hide_short_help = true)]
    training_flags: Vec<String>,
    /// Keep the training graph's device placements.
    #[arg(long, hide_short_help = true)]
    keep_devices: bool,
    /// Export a graph that serves only its training batch (a batch baked into its shapes),
    /// the signature's batch dimension set to it, instead of refusing it.
    #[arg(long, hide_short_help = true)]
    fixed_batch: bool,
    /// Serve the moving averages the training program keeps of its weights
    /// (an ExponentialMovingAverage, as its evaluation restores them) in
    /// place of the trained values; an error when it averages no weight.
    #[arg(long, hide_short_help = true)]
    moving_averages: bool,
    /// Also write a MetaGraphDef that keeps the training graph's device
    /// placements, sharing the variables and assets: `gpu` (tags serve,gpu)
    /// or NAME=TAG,TAG. Repeatable.
    #[arg(
        long = "variant",
        value_name = "NAME[=TAG,TAG]",
        hide_short_help = true
    )]
    variants: Vec<String>,
    /// Accept ops that are neither TensorFlow's nor in the source's op list
    /// (a custom op library must then be loaded at serving time).
    #[arg(long, hide_short_help = true)]
    allow_custom_ops: bool,
    /// Keep the first N entries (lines) of vocabulary assets whose tables
    /// map a dropped word like an unseen one (a default value or
    /// out-of-vocabulary buckets); other tables are reported, not trimmed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), hide_short_help = true)]
    max_vocab: Option<u64>,
    /// Refuse the export, before writing anything, if its files would add up to more than
    /// SIZE: 500M or 500MB, 10G or 10GB (decimal, as the services count), 1.5GiB (binary)
    /// or bytes; units in any case.
    #[arg(
        long,
        value_name = "SIZE",
        help = "Refuse an export over SIZE (500M, 10GB, 1.5GiB)",
        long_help = "Refuse the export, before writing anything, if its files would add up to more than SIZE: 500M or 500MB, 10G or 10GB (decimal, as the services count), 1.5GiB (binary) or bytes; units in any case"
    )]
    max_size: Option<ByteSize>,
    /// Turn every variable into a constant holding its checkpoint value: no
    /// variables/ directory and no saver. Refused when saved_model.pb would
    /// pass 1 GiB or one constant 2 GiB.
    #[arg(
        long,
        help = "Turn variables into constants: no variables/ directory",
        long_help = "Turn every variable into a constant holding its checkpoint value: no variables/ directory and no saver. Refused when saved_model.pb would pass 1 GiB or one constant 2 GiB"
    )]
    freeze: bool,
    /// Write TensorFlow Serving warm-up requests (assets.extra/tf_serving_warmup_requests)
    /// from a predict request body: {"instances": [...]} or {"inputs": ...}.
    #[arg(long, value_name = "FILE.json", hide_short_help = true)]
    warmup: Option<PathBuf>,
    /// Vertex AI (explainable AI): write explanation_metadata.json beside saved_model.pb,
    /// the served signature's inputs and one output, for feature attributions.
    #[arg(
        long = "xai-metadata",
        alias = "explanation-metadata",
        hide_short_help = true
    )]
    explanation_metadata: bool,
    /// With --xai-metadata: a baseline for input KEY, one value (broadcast) or one per
    /// element of an example, comma-separated. Repeatable.
    #[arg(
        long = "xai-baseline",
        alias = "baseline",
        value_name = "KEY=VALUES",
        requires = "explanation_metadata",
        hide_short_help = true
    )]
    baselines: Vec<String>,
    /// With --xai-metadata: the signature output to attribute (default: the only
    /// floating-point output).
    #[arg(
        long = "xai-output",
        alias = "explain-output",
        value_name = "KEY",
        requires = "explanation_metadata",
        hide_short_help = true
    )]
    explain_output: Option<String>,
    /// Storage precision of float32 weights (variables and constants):
    /// f32 (unchanged, the default), f16, or int8 with per-channel float32 scales.
    #[arg(
        long,
        value_name = "f32|f16|int8",
        help = "Store float32 weights as f16 or int8 (default f32)",
        long_help = "Storage precision of float32 weights (variables and constants): f32 (unchanged, the default), f16, or int8 with per-channel float32 scales"
    )]
    weights: Option<WeightPrecision>,
    /// Tensors with fewer elements than N keep their dtype (for --weights
    /// and --narrow-int64; default 1024).
    #[arg(long, value_name = "N", hide_short_help = true)]
    weights_min_size: Option<u64>,
    /// Store int64 variables and constants whose values all fit as int32,
    /// cast back to int64 after the read.
    #[arg(long, hide_short_help = true)]
    narrow_int64: bool,
    /// Serve serialized tf.Example protos: one string input `examples`, parsed into the
    /// inputs (each a feature named by its key).
    #[arg(
        long,
        help = "Serve serialized tf.Example protos",
        long_help = "Serve serialized tf.Example protos: one string input `examples`, parsed into the inputs (each a feature named by its key)"
    )]
    examples: bool,
    /// The TensorFlow Serving API of the served signature: predict, classify (outputs
    /// `scores` and `classes`) or regress (output `outputs`); classify and regress read
    /// tf.Examples (input `inputs`) and keep a `predict` signature beside.
    /// Default predict.
    #[arg(
        long,
        value_name = "METHOD",
        help = "The TF Serving API: predict (default), classify, regress",
        long_help = "The TensorFlow Serving API of the served signature: predict, classify (outputs `scores` and `classes`) or regress (output `outputs`); classify and regress read tf.Examples (input `inputs`) and keep a `predict` signature beside. Default predict"
    )]
    method: Option<ServingMethod>,
    /// The labels of the classify scores' columns, in order (default "0" ... "N-1"); with
    /// --estimator-signatures and --method predict, the labels of `probabilities`' columns.
    #[arg(
        long,
        value_name = "A,B,...",
        value_delimiter = ',',
        hide_short_help = true
    )]
    class_names: Option<Vec<String>>,
    /// With --method classify or regress, also write the signatures Estimator's
    /// export_saved_model writes with a parsing receiver: `classification` (the
    /// classify signature again) and, for a binary classifier given output `logistic`,
    /// `regression`; or `regression` (the regress signature again). With classify,
    /// the predict signature also serves Estimator's predict outputs: `classes`
    /// (each example's predicted label), `all_classes` and `all_class_ids`. With
    /// --method predict (Estimator's raw receiver), a classifier's predict signature
    /// gains `all_classes` and `all_class_ids` (and `classes` unless given), from its
    /// output `probabilities` and --class-names (default "0" ... "N-1").
    #[arg(
        long,
        help = "Also write what Estimator's export_saved_model writes: its classification and regression signatures (with --method classify or regress), or a classifier's all_classes and all_class_ids (with predict)",
        long_help = "With --method classify or regress, also write the signatures Estimator's export_saved_model writes with a parsing receiver: `classification` (the classify signature again) and, for a binary classifier given output `logistic`, `regression`; or `regression` (the regress signature again). With classify, the predict signature also serves Estimator's predict outputs: `classes` (each example's predicted label), `all_classes` and `all_class_ids`. With --method predict (Estimator's raw receiver), a classifier's predict signature gains `all_classes` and `all_class_ids` (and `classes` unless given), from its output `probabilities` and --class-names (default \"0\" ... \"N-1\")"
    )]
    estimator_signatures: bool,
    /// After the report, explain every node the passes removed or rewired: its op, its
    /// inputs before and after, the rule that fired. With NODE, why that node was kept
    /// (the outputs that need it, by which path) or removed (which pass, which reason).
    /// Give it after SOURCE and OUT_DIR, or as --explain=NODE. With --quiet, only the answer.
    #[arg(long, value_name = "NODE", num_args = 0..=1, default_missing_value = "", help = "Why each node went, or NODE was kept or removed", long_help = "After the report, explain every node the passes removed or rewired: its op, its inputs before and after, the rule that fired. With NODE, why that node was kept (the outputs that need it, by which path) or removed (which pass, which reason). Give it after SOURCE and OUT_DIR, or as --explain=NODE. With --quiet, only the answer")]
    explain: Option<String>,
    /// Print the report as JSON (everything, with timings).
    #[arg(
        long,
        help = "Print the report as JSON",
        long_help = "Print the report as JSON (everything, with timings)"
    )]
    json: bool,
    /// After the report, print how long each stage took.
    #[arg(long, hide_short_help = true)]
    timings: bool,
    /// List every removed node, rewire and variable, not a few of each.
    #[arg(
        long,
        short,
        help = "List every removed node, rewire and variable",
        long_help = "List every removed node, rewire and variable, not a few of each"
    )]
    verbose: bool,
    /// Print help (--help-all: every flag).
    #[arg(short = 'h', long = "help", action = clap::ArgAction::HelpShort)]
    help: Option<bool>,
    /// Print help with every flag.
    #[arg(long = "help-all", action = clap::ArgAction::HelpLong)]
    help_all: Option<bool>,
    /// Print nothing on success (no report, no progress bar); errors still print.
    #[arg(
        long,
        short,
        conflicts_with = "verbose",
        help = "Print nothing on success; errors still print",
        long_help = "Print nothing on success (no report, no progress bar); errors still print"
    )]
    quiet: bool,
}

/// Prints the error, each cause on its own line, then the flag that fixes it if there is one.
fn print_error(error: &(dyn std::error::Error + 'static), json: bool) {
    let messages = servegraph::error::messages(error);
    let mut lines = messages.iter();
    if let Some(first) = lines.next() {
        eprintln!("error: {first}");
    }
    for cause in lines {
        eprintln!("  caused by: {cause}");
    }
    let hint = flag_hint(error).map(str::to_string).or_else(|| {
        let cli = error.downcast_ref::<failure::CliError>()?;
        cli.hint.clone()
    });
    if let Some(hint) = &hint {
        eprintln!("  hint: {hint}");
    }
    if json {
        let object = failure::to_json(error, hint);
        let _ = emit(format_args!("{object:#}\n"));
    }
}

/// The flag that answers a failed `transform`.
fn transform_hint(error: &servegraph::transform::TransformError) -> Option<&'static str> {
    use servegraph::passes::PassError;
    use servegraph::transform::TransformError;
    match error {
        TransformError::OutputExists { .. } => Some("pass --overwrite to replace it"),
        TransformError::NoTransforms { .. } => Some("name them with --transforms '...'"),
        TransformError::Failed { source, .. }
            if matches!(**source, PassError::Transform { .. }) =>
        {
            Some("name the graph's inputs and outputs with --inputs and --outputs")
        }
        _ => None,
    }
}

/// The command-line flag that answers a library error (the library names no flags).
fn flag_hint(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use servegraph::Error;
    use servegraph::check::CheckError;
    use servegraph::explain::ExplainError;
    use servegraph::passes::PassError;
    use servegraph::size::SizeError;
    use servegraph::tf2::Tf2Error;
    match error.downcast_ref::<Error>()? {
        Error::Pass(PassError::NoOutputs { .. }) => {
            Some("name each tensor to serve with --output KEY=TENSOR")
        }
        Error::Pass(PassError::NoInputs) => Some("name each serving input with --input KEY=TENSOR"),
        Error::Write(WriteError::OutputExists { .. }) => Some("pass --overwrite to replace it"),
        Error::Pass(PassError::InputComponent { .. }) => {
            Some("name the component the model reads with --input KEY=TENSOR")
        }
        Error::Write(WriteError::NoCheckpoint { .. })
        | Error::Check(CheckError::NoCheckpoint { .. }) => Some(
            "give the checkpoint holding them with --checkpoint PREFIX (a prefix, its .index, or a training directory)",
        ),
        Error::Transform(error) => transform_hint(error),
        Error::Check(CheckError::UnknownOp { .. }) => {
            Some("pass --allow-custom-ops if a custom op library provides it at serving time")
        }
        Error::Size(SizeError::OverBudget { .. }) => {
            Some("add a flag that fits, or raise --max-size")
        }
        Error::Tf2(Tf2Error::TooLarge { .. }) => Some("raise --max-size"),
        Error::Tf2(Tf2Error::Unsupported { .. }) => {
            Some("drop the flag, or name the tensors to serve with --input/--output")
        }
        Error::Tf2(Tf2Error::UnknownSignature { .. }) => {
            Some("pass one of the source's signatures to --signature")
        }
        Error::Explain(ExplainError::AmbiguousOutput { .. }) => {
            Some("name the output to attribute with --xai-output KEY")
        }
        Error::Explain(ExplainError::NoNumericOutput { .. }) => {
            Some("serve a floating-point output (scores, probabilities, logits) with --output")
        }
        Error::Pass(PassError::Examples(error)) => examples_hint(error),
        Error::Pass(PassError::Method(error)) => method_hint(error),
        Error::Pass(PassError::BakedBatch(_)) => {
            Some("pass --fixed-batch to serve the training batch only (the signature then says so)")
        }
        _ => None,
    }
}

/// The flag that answers an `--examples` error.
fn examples_hint(error: &servegraph::passes::examples::ExamplesError) -> Option<&'static str> {
    use servegraph::passes::examples::ExamplesError;
    match error {
        ExamplesError::UnknownShape { .. } => {
            Some("give the input's shape with --input KEY=TENSOR:shape=-1,D1,...")
        }
        ExamplesError::BadDefault { .. } | ExamplesError::DefaultCount { .. } => {
            Some("fix the value of --input KEY=TENSOR:default=V")
        }
        _ => None,
    }
}

/// The flag that answers a `--method` error.
fn method_hint(error: &servegraph::passes::method::MethodError) -> Option<&'static str> {
    use servegraph::passes::method::MethodError;
    match error {
        MethodError::NoScores { .. } => Some("name the scores with --output scores=TENSOR"),
        MethodError::NoRegressOutput { .. } => {
            Some("name the regression output with --output outputs=TENSOR")
        }
        MethodError::ClassesNotLabels { .. } => {
            Some("leave out --output classes and name the labels with --class-names")
        }
        MethodError::ClassNamesLength { .. } | MethodError::UnknownClassCount { .. } => {
            Some("give one --class-names name per score column")
        }
        MethodError::ClassNamesWithoutClassify { .. } => {
            Some("--class-names goes with --method classify, or with --estimator-signatures")
        }
        MethodError::LabelsTwice { .. } => Some("drop --class-names or --output classes"),
        MethodError::PredictKeyTaken { .. } => Some("choose another --signature"),
        MethodError::DefaultWithoutExamples { .. } => Some("add --examples"),
        MethodError::WarmupNeedsPredict { .. } => Some("drop --warmup, or use --method predict"),
        MethodError::NoProbabilities { .. } | MethodError::NotClassProbabilities { .. } => Some(
            "name the class probabilities with --output probabilities=TENSOR, or drop --estimator-signatures (a regressor's predict signature needs nothing more)",
        ),
        MethodError::EstimatorOutputGiven { .. } => {
            Some("drop that --output: --estimator-signatures builds it")
        }
        _ => None,
    }
}

/// What `export` prints, chosen by `--json`, `--timings`, `--verbose`, `--quiet`.
struct ExportOutput {
    json: bool,
    timings: bool,
    quiet: bool,
    detail: Detail,
}

impl ExportOutput {
    /// A progress bar for the variable copy, unless output is JSON or quiet
    /// or stderr is not a terminal.
    fn progress_bar(&self) -> Option<Arc<dyn servegraph::write::progress::CopyProgress>> {
        if self.json || self.quiet {
            return None;
        }
        let bar = progress::CopyBar::for_stderr()?;
        Some(Arc::new(bar))
    }

    /// The report as JSON, as text (at the chosen detail), or only its
    /// warnings (on stderr) when quiet; then the timings table if asked.
    fn print(&self, report: &ExportReport) -> Result<(), Box<dyn std::error::Error>> {
        if self.json {
            emit(format_args!("{}\n", serde_json::to_string_pretty(report)?))?;
            return Ok(());
        }
        if self.quiet {
            for warning in &report.written.warnings {
                eprintln!("warning: {warning}");
            }
            // Asked with --quiet, the explanation is the whole answer.
            if let Some(explanation) = &report.graph.explain {
                emit(explanation)?;
            }
        } else {
            emit(report.text(self.detail))?;
            if let Some(explanation) = &report.graph.explain {
                emit(explanation)?;
            }
        }
        if self.timings {
            emit(&report.timings)?;
        }
        Ok(())
    }
}

impl Cli {
    /// Whether the subcommand was asked for JSON (errors then print a JSON
    /// object on stdout too).
    fn wants_json(&self) -> bool {
        match &self.command {
            Command::Export(args) => args.json,
            Command::Validate { json, .. }
            | Command::Scan { json, .. }
            | Command::Size { json, .. } => *json,
            Command::Show(args) => args.json,
            Command::Transform(args) => args.json,
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Export(args) => export(*args),
        Command::Validate {
            path,
            tags,
            strict,
            allowed,
            json,
        } => validate(&path, &validate_options(tags, strict, allowed), json),
        Command::Show(args) => show(&args),
        Command::Scan {
            path,
            dir,
            tag_set,
            op_denylist,
            json,
        } => scan(
            &either_path(path, dir)?,
            (!tag_set.is_empty()).then(|| tag_set.join(",")).as_deref(),
            op_denylist.as_deref(),
            json,
        ),
        Command::Size { dir, json } => size(&dir, json),
        Command::Transform(args) => emit(transform::run(*args)?).map_err(Into::into),
    }
}

fn export(args: ExportArgs) -> Result<(), Box<dyn std::error::Error>> {
    let output = ExportOutput {
        json: args.json,
        timings: args.timings,
        quiet: args.quiet,
        detail: if args.verbose {
            Detail::Full
        } else {
            Detail::Summary
        },
    };
    let source = args.source.clone();
    let out_dir = match args.version {
        Some(version) => version_dir::version_dir(&args.out_dir, version)?,
        None => args.out_dir.clone(),
    };
    let root_made = args.version.is_some() && !args.out_dir.exists();
    let mut options = args.options()?;
    options.output.progress = output.progress_bar();
    let report = if root_made {
        export_into_new_root(&source, &out_dir, &options)?
    } else {
        export_serving_model(&source, &out_dir, &options)?
    };
    output.print(&report)?;
    // The report names every node the export removed (a training graph's
    // hundred thousand): the process is about to exit, and the system frees
    // its memory at once rather than string by string.
    std::mem::forget(report);
    Ok(())
}

/// Exports into `out_dir` (`ROOT/N`) when `ROOT` does not exist yet: makes
/// it, and removes it again when the export fails, so a failure leaves
/// nothing behind.
fn export_into_new_root(
    source: &Path,
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, Box<dyn std::error::Error>> {
    let root = out_dir.parent().ok_or("a version directory has a parent")?;
    std::fs::create_dir_all(root)?;
    export_serving_model(source, out_dir, options).map_err(|error| {
        let _ = std::fs::remove_dir(root);
        error.into()
    })
}

impl ExportArgs {
    /// The library's options for these flags (no progress bar: that is the
    /// output's choice). A flag not given keeps the library's default.
    fn options(self) -> Result<ExportOptions, Box<dyn std::error::Error>> {
        let defaults = ExportOptions::default();
        let storage = ExportStorage {
            weights: self.weights.unwrap_or(defaults.storage.weights),
            min_elements: self
                .weights_min_size
                .unwrap_or(defaults.storage.min_elements),
            narrow_int64: self.narrow_int64,
            freeze: self.freeze.then(FreezeLimits::default),
            max_vocab: self.max_vocab,
        };
        let output = OutputOptions {
            overwrite: if self.overwrite {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            },
            max_size: self.max_size.map(|size| size.0),
            warmup: self.warmup.clone(),
            explanation: self
                .explanation_metadata
                .then(|| explanation_options(&self.baselines, self.explain_output.clone()))
                .transpose()?,
            explain: self.explain.clone().map(explain_scope),
            progress: None,
        };
        let source = SourceOptions {
            checkpoint: self.checkpoint.clone(),
            signatures: match &self.signature {
                Some(name) => SignatureChoice::Only(vec![name.clone()]),
                None => SignatureChoice::All,
            },
            allow_custom_ops: self.allow_custom_ops,
            ..defaults.source
        };
        Ok(ExportOptions {
            source,
            serving: self.serving_options(defaults.serving)?,
            storage,
            output,
        })
    }

    /// The serving group's flags over `defaults`.
    fn serving_options(
        self,
        defaults: ServingOptions,
    ) -> Result<ServingOptions, Box<dyn std::error::Error>> {
        Ok(ServingOptions {
            inputs: self
                .inputs
                .iter()
                .map(|s| s.parse::<InputSpec>())
                .collect::<Result<_, _>>()?,
            outputs: self
                .outputs
                .iter()
                .map(|s| s.parse::<OutputSpec>())
                .collect::<Result<_, _>>()?,
            signature_name: self.signature.unwrap_or(defaults.signature_name),
            tags: if self.tags.is_empty() {
                defaults.tags
            } else {
                self.tags
            },
            method: self.method.unwrap_or(defaults.method),
            examples: self.examples,
            class_names: self.class_names,
            estimator_signatures: self.estimator_signatures,
            training_flags: self.training_flags,
            keep_devices: self.keep_devices,
            fixed_batch: self.fixed_batch,
            moving_averages: self.moving_averages,
            variants: self
                .variants
                .iter()
                .map(|s| s.parse::<Variant>())
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `--explain` alone explains every change; `--explain NODE` one node.
fn explain_scope(node: String) -> ExplainScope {
    if node.is_empty() {
        ExplainScope::Every
    } else {
        ExplainScope::Node(node)
    }
}

/// The explanation metadata's choices for `--xai-baseline` and `--xai-output`.
fn explanation_options(
    baselines: &[String],
    output: Option<String>,
) -> Result<ExplanationOptions, servegraph::error::ExplainError> {
    Ok(ExplanationOptions {
        output,
        baselines: baselines
            .iter()
            .map(|s| s.parse::<BaselineSpec>())
            .collect::<Result<_, _>>()?,
    })
}

/// The library's options for `validate --tag ... [--strict] [--allow ...]`.
fn validate_options(tags: Vec<String>, strict: bool, allowed: Vec<Rule>) -> ValidateOptions {
    let strictness = if strict {
        Strictness::WarningsToo
    } else {
        Strictness::ErrorsOnly
    };
    ValidateOptions {
        tags,
        strictness,
        allowed,
    }
}

/// A command's verdict, already printed, as an exit code other than 1:
/// `validate` exits 1 for warnings (under --strict) and 2 for errors.
#[derive(Debug)]
struct ExitWith(u8);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for ExitWith {}

/// The exit code of `validate` for errors, a path it cannot read among them.
const VALIDATE_ERROR_EXIT: u8 = 2;

/// Prints the validation; its exit code (0 clean, 1 warnings under
/// --strict, 2 errors or a path it cannot read) goes back as [`ExitWith`].
fn validate(
    path: &Path,
    options: &ValidateOptions,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let validation = servegraph::validate::validate(path, options).map_err(|error| {
        print_error(&error, json);
        ExitWith(VALIDATE_ERROR_EXIT)
    })?;
    print_as(&validation, json)?;
    if !validation.is_valid() {
        let count = validation.problems.len();
        eprintln!("error: {count} problem(s) in {}", path.display());
    }
    match validation.exit_code {
        0 => Ok(()),
        code => Err(ExitWith(code).into()),
    }
}

fn show(args: &ShowArgs) -> Result<(), Box<dyn std::error::Error>> {
    let path = either_path(args.path.clone(), args.dir.clone())?;
    if let Some(request) = args.saved_model_cli_request() {
        let shown = servegraph::saved_model_cli::show(&path, &request)?;
        return print_as(&shown, args.json);
    }
    let summary = servegraph::inspect::summarize(&path, &args.tags)?;
    print_as(&summary, args.json)
}

fn scan(
    dir: &Path,
    tag_set: Option<&str>,
    op_denylist: Option<&str>,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    // Like saved_model_cli, an empty --op_denylist means the default list.
    let denylist: Vec<String> = op_denylist
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|op| !op.is_empty())
        .map(str::to_string)
        .collect();
    let report = servegraph::saved_model_cli::scan(dir, tag_set, &denylist)?;
    print_as(&report, json)
}

/// The positional path or `--dir` (clap requires exactly one).
fn either_path(
    path: Option<PathBuf>,
    dir: Option<PathBuf>,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    path.or(dir)
        .ok_or_else(|| "a path or --dir is required".into())
}

/// `value` as pretty JSON or as its text.
fn print_as<T: serde::Serialize + std::fmt::Display>(
    value: &T,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    if json {
        emit(format_args!("{}\n", serde_json::to_string_pretty(value)?))?;
    } else {
        emit(value)?;
    }
    Ok(())
}

fn size(dir: &Path, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let is_saved_model = ["saved_model.pb", "saved_model.pbtxt"]
        .iter()
        .any(|name| dir.join(name).is_file());
    // What is no directory at all gets the library's own error.
    if dir.is_dir() && !is_saved_model {
        return Err(Box::new(failure::CliError {
            kind: "usage",
            message: format!(
                "{} is not a SavedModel directory: it holds neither saved_model.pb nor saved_model.pbtxt",
                dir.display()
            ),
            culprit: Some(dir.display().to_string()),
            hint: Some(format!(
                "size measures an export; write one first: servegraph export {} OUT",
                dir.display()
            )),
        }));
    }
    let report = servegraph::size::measure_dir(dir)?;
    if json {
        emit(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&report)?;
    }
    Ok(())
}

/// Writes `text` to stdout. A reader that went away early (`servegraph show
/// DIR | head`) is not an error: it has what it wanted, the rest is dropped.
fn emit(text: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => done,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => usage_error(error),
    };
    let json = cli.wants_json();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<ExitWith>() {
            Some(ExitWith(code)) => ExitCode::from(*code),
            None => {
                print_error(error.as_ref(), json);
                ExitCode::FAILURE
            }
        },
    }
}

/// A command line clap rejects: its own message and exit code, and under
/// `--json` the JSON error object on stdout first (help and version
/// requests are not errors).
fn usage_error(error: clap::Error) -> ! {
    let asked_json = std::env::args().any(|a| a == "--json");
    if asked_json && error.use_stderr() {
        let rendered = error.render().to_string();
        let message = rendered
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ");
        let tip = rendered
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("tip: "));
        let object = serde_json::json!({
            "error": {"kind": "usage", "message": message, "culprit": null, "hint": tip}
        });
        let _ = emit(format_args!("{object:#}\n"));
    }
    error.exit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags left out keep the library's defaults: the CLI has none of its own.
    #[test]
    fn export_without_flags_takes_the_librarys_defaults() {
        let cli = Cli::try_parse_from(["servegraph", "export", "SOURCE", "OUT"]).unwrap();
        let Command::Export(args) = cli.command else {
            panic!("parsed as another subcommand");
        };
        let options = args.options().unwrap();
        let defaults = ExportOptions::default();
        assert_eq!(format!("{options:?}"), format!("{defaults:?}"));
    }

    /// A flag given replaces the library's default for that field only.
    #[test]
    fn export_flags_replace_only_their_own_default() {
        let argv = [
            "servegraph",
            "export",
            "S",
            "O",
            "--tag",
            "gpu",
            "--weights",
            "f16",
        ];
        let Command::Export(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("parsed as another subcommand");
        };
        let options = args.options().unwrap();
        assert_eq!(options.serving.tags, ["gpu"]);
        assert_eq!(options.storage.weights, WeightPrecision::F16);
        let defaults = ExportOptions::default();
        assert_eq!(
            options.serving.signature_name,
            defaults.serving.signature_name
        );
        assert_eq!(options.storage.min_elements, defaults.storage.min_elements);
        assert_eq!(options.source.tags, defaults.source.tags);
    }
}
