//! The registry entries of servegraph's own serving passes, the ones
//! [`Pipeline::serving`](super::Pipeline::serving) strings together.

use super::registry::{ArgKind, ArgSpec, BuildContext, PassArgs, PassEntry};
use super::{
    Pass, PassError, ServingSpec, batch_check, batch_norm, batch_rewrite, conds, devices, dropout,
    examples, function_bodies, inputs, metadata, method, moving_averages, output_shapes, prune,
    shape_check, strip, verify,
};

type Built = Result<Box<dyn Pass>, PassError>;

const FLAG: ArgSpec = ArgSpec::optional(
    "flag",
    ArgKind::Text,
    "another boolean training-flag node to set to false",
)
.repeated();

const NO_ARGS: &[ArgSpec] = &[];

fn entry(name: &'static str, doc: &'static str, build: super::registry::Constructor) -> PassEntry {
    PassEntry {
        name,
        doc,
        args: NO_ARGS,
        build,
    }
}

/// Every serving pass, in pipeline order.
pub fn serving_entries() -> Vec<PassEntry> {
    let mut entries = signature_entries();
    entries.extend(training_entries());
    entries.extend(finishing_entries());
    entries
}

/// The passes that shape the signature: its inputs, tf.Example feeding, the
/// classify or regress API.
fn signature_entries() -> Vec<PassEntry> {
    vec![
        entry(
            "inputs",
            "makes the chosen input tensors placeholders and writes the signature",
            |_, cx| -> Built { Ok(Box::new(inputs::InputsPass::new(&cx.spec))) },
        ),
        entry(
            "examples",
            "feeds the inputs from serialized tf.Examples",
            |_, cx| -> Built { Ok(Box::new(examples::ExamplesPass::new(&cx.spec))) },
        ),
        entry(
            "method",
            "shapes the signature for the classify or regress API, or as Estimator writes it",
            |_, cx| -> Built { Ok(Box::new(method::MethodPass::new(&cx.spec))) },
        ),
    ]
}

/// The passes that take training out of the graph: training flags and the
/// conds they drive, dropout, batch norm, debug ops, the training-only
/// nodes.
fn training_entries() -> Vec<PassEntry> {
    vec![
        PassEntry {
            name: "training_conds",
            doc: "sets training flags to false and folds the tf.conds they drive",
            args: &[FLAG],
            build: training_conds,
        },
        entry(
            "dropout",
            "replaces dropout by its input",
            |_, _| -> Built { Ok(Box::new(dropout::DropoutPass)) },
        ),
        entry(
            "moving_averages",
            "finds the moving averages by their updates; with --moving-averages serves the weights' averages",
            |_, cx| -> Built {
                Ok(Box::new(moving_averages::MovingAveragesPass {
                    serve: cx.spec.moving_averages,
                }))
            },
        ),
        entry(
            "batch_norm",
            "puts batch norm in inference mode, on its moving statistics",
            |_, _| -> Built { Ok(Box::new(batch_norm::BatchNormPass)) },
        ),
        entry(
            "debug_ops",
            "removes debugging ops (CheckNumerics, Print, Assert) from the data path",
            |_, _| -> Built { Ok(Box::new(strip::DebugOpsPass)) },
        ),
        entry(
            "prune",
            "removes every node the outputs do not need, by training category",
            |_, _| -> Built { Ok(Box::new(prune::PrunePass)) },
        ),
        entry(
            "strip_training_ops",
            "the prune pass under the name of what it strips: input pipeline, loss, gradients, optimizer, summaries, saver",
            |_, _| -> Built { Ok(Box::new(prune::PrunePass)) },
        ),
    ]
}

/// The passes that finish a serving graph: the same inside library
/// functions, the check that nothing training-only is left, metadata and
/// devices.
fn finishing_entries() -> Vec<PassEntry> {
    vec![
        entry(
            "function_bodies",
            "runs the serving passes inside the library functions the graph calls",
            |_, _| -> Built { Ok(Box::new(function_bodies::FunctionBodiesPass)) },
        ),
        entry(
            "verify",
            "fails when a training-only op is still needed",
            |_, _| -> Built { Ok(Box::new(verify::VerifyServingPass)) },
        ),
        entry(
            "shape_check",
            "refuses a serving graph whose ops cannot take their inputs' shapes or dtypes",
            |_, cx| -> Built {
                Ok(Box::new(shape_check::ShapeCheckPass {
                    signature: signature_key(&cx.spec),
                }))
            },
        ),
        entry(
            "batch_rewrite",
            "makes constants holding the training batch follow the serving batch",
            |_, cx| -> Built {
                Ok(Box::new(batch_rewrite::BatchRewritePass {
                    signature: signature_key(&cx.spec),
                }))
            },
        ),
        entry(
            "batch_check",
            "refuses a graph that serves only its training batch (unless --fixed-batch)",
            |_, cx| -> Built {
                Ok(Box::new(batch_check::BatchCheckPass {
                    signature: signature_key(&cx.spec),
                    fixed_batch: cx.spec.fixed_batch,
                }))
            },
        ),
        entry(
            "metadata",
            "drops stale colocations, _output_shapes, uncalled functions and the training saver",
            |_, _| -> Built { Ok(Box::new(metadata::MetadataPass)) },
        ),
        entry(
            "output_shapes",
            "fills in the signature outputs' shapes from shape inference",
            |_, _| -> Built { Ok(Box::new(output_shapes::OutputShapesPass)) },
        ),
        entry(
            "clear_devices",
            "clears every node's device placement",
            |_, _| -> Built { Ok(Box::new(devices::ClearDevicesPass)) },
        ),
    ]
}

fn training_conds(args: &PassArgs, cx: &BuildContext) -> Built {
    let mut flags = cx.spec.training_flags.clone();
    flags.extend(args.all("flag").into_iter().map(String::from));
    Ok(Box::new(conds::TrainingCondsPass::new(flags)))
}

/// The key of the signature the serving passes build.
fn signature_key(spec: &ServingSpec) -> String {
    if spec.signature_name.is_empty() {
        crate::model::DEFAULT_SIGNATURE.to_string()
    } else {
        spec.signature_name.clone()
    }
}
