//! The Graph Transform Tool's transforms, by its names and arguments, as
//! passes over the IR. Each records what it removed and rewired (with the
//! rule that fired) in its [`PassReport`](super::PassReport), like the
//! serving passes, so a transform run can be explained the same way.
//!
//! The transforms know the `--inputs` and `--outputs` of the run: those
//! nodes, and every node a SavedModel's signatures, table initializers or
//! variables name, keep their names and are never removed.

mod attributes;
mod batch_norms;
mod default_attrs;
mod eval;
mod fold_constants;
mod merge_duplicates;
mod obfuscate;
mod quantize;
mod remove_nodes;
mod sort;
mod strip_unused;

use std::collections::BTreeSet;

use super::registry::{ArgKind, ArgSpec, BuildContext, PassEntry};
use super::{Pass, PassError};
use crate::ir::node_of;
use crate::model::Model;

pub use fold_constants::FOLDED_OPS;

type Built = Result<Box<dyn Pass>, PassError>;

const fn text(name: &'static str, doc: &'static str) -> ArgSpec {
    ArgSpec::optional(name, ArgKind::Text, doc)
}

const IGNORE_ERRORS: ArgSpec = ArgSpec::optional(
    "ignore_errors",
    ArgKind::Bool,
    "on failure, leave the graph as it was instead of stopping",
)
.default("false");

const OP_NAME: ArgSpec = text("op_name", "only nodes of this op (`*`: all)").default("*");

/// Every Graph Transform Tool transform servegraph implements, in the order
/// they are listed.
pub fn entries() -> Vec<PassEntry> {
    let mut entries = structure_entries();
    entries.extend(folding_entries());
    entries.extend(attributes::entries());
    entries
}

/// The transforms that prune, reorder, merge or rename nodes: split from the
/// folding ones so each table stays short enough to read.
fn structure_entries() -> Vec<PassEntry> {
    vec![
        PassEntry {
            name: "strip_unused_nodes",
            doc: "removes what the outputs do not need; inputs become placeholders",
            args: {
                const ARGS: &[ArgSpec] = &[
                    text(
                        "type",
                        "dtype of the new placeholders (default: what the input produces, else float)",
                    ),
                    text("shape", "shape of the new placeholders, as D0,D1,..."),
                    IGNORE_ERRORS,
                ];
                ARGS
            },
            build: |args, cx| -> Built { Ok(Box::new(strip_unused::StripUnused::new(args, cx)?)) },
        },
        PassEntry {
            name: "remove_nodes",
            doc: "bypasses and removes nodes of the given ops (control flow stays intact)",
            args: {
                const ARGS: &[ArgSpec] = &[
                    text("op", "an op to remove").required().repeated(),
                    ArgSpec::optional(
                        "max_inputs",
                        ArgKind::Int,
                        "only nodes with at most this many data inputs",
                    )
                    .default("1"),
                    IGNORE_ERRORS,
                ];
                ARGS
            },
            build: |args, cx| -> Built { Ok(Box::new(remove_nodes::RemoveNodes::new(args, cx)?)) },
        },
        PassEntry {
            name: "sort_by_execution_order",
            doc: "orders the nodes so each comes after its inputs",
            args: &[IGNORE_ERRORS],
            build: |_, _| -> Built { Ok(Box::new(sort::SortByExecutionOrder)) },
        },
        PassEntry {
            name: "merge_duplicate_nodes",
            doc: "merges stateless nodes with the same op, attrs and inputs",
            args: &[IGNORE_ERRORS],
            build: |_, cx| -> Built { Ok(Box::new(merge_duplicates::MergeDuplicates::new(cx))) },
        },
        PassEntry {
            name: "obfuscate_names",
            doc: "renames every node but the inputs and outputs to short meaningless names",
            args: &[IGNORE_ERRORS],
            build: |_, cx| -> Built { Ok(Box::new(obfuscate::ObfuscateNames::new(cx))) },
        },
    ]
}

/// The transforms that fold or rewrite values: constants, batch norms,
/// quantized weights, default attrs.
fn folding_entries() -> Vec<PassEntry> {
    vec![
        PassEntry {
            name: "fold_constants",
            doc: "computes nodes whose inputs are all constant, for the ops servegraph evaluates",
            args: {
                const ARGS: &[ArgSpec] = &[
                    IGNORE_ERRORS,
                    ArgSpec::optional(
                        "clear_output_shapes",
                        ArgKind::Bool,
                        "drop _output_shapes attrs",
                    )
                    .default("true"),
                ];
                ARGS
            },
            build: |args, cx| -> Built {
                Ok(Box::new(fold_constants::FoldConstants::new(args, cx)?))
            },
        },
        PassEntry {
            name: "fold_batch_norms",
            doc: "folds a constant Mul after Conv2D, DepthwiseConv2dNative or MatMul into the weights",
            args: &[IGNORE_ERRORS],
            build: |_, _| -> Built { Ok(Box::new(batch_norms::FoldBatchNorms)) },
        },
        PassEntry {
            name: "fold_old_batch_norms",
            doc: "folds inference batch norms (FusedBatchNorm*, BatchNormWithGlobalNormalization) into the weights before them",
            args: &[IGNORE_ERRORS],
            build: |_, _| -> Built { Ok(Box::new(batch_norms::FoldOldBatchNorms)) },
        },
        PassEntry {
            name: "quantize_weights",
            doc: "stores large float constants as 8 bits plus a range, dequantized when the graph runs",
            args: {
                const ARGS: &[ArgSpec] = &[
                    ArgSpec::optional(
                        "minimum_size",
                        ArgKind::Int,
                        "only constants with at least this many elements",
                    )
                    .default("1024"),
                    IGNORE_ERRORS,
                ];
                ARGS
            },
            build: |args, _| -> Built { Ok(Box::new(quantize::QuantizeWeights::new(args)?)) },
        },
        PassEntry {
            name: "add_default_attributes",
            doc: "writes out every attr an op definition gives a default and a node leaves unset",
            args: &[IGNORE_ERRORS],
            build: |_, _| -> Built { Ok(Box::new(default_attrs::AddDefaultAttributes)) },
        },
    ]
}

/// The node names a transform must keep, under their names: the run's
/// inputs and outputs and what the model's signatures, table
/// initializers, assets and variables name.
pub(crate) fn protected_names(
    model: &Model,
    cx_inputs: &[String],
    cx_outputs: &[String],
) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = cx_inputs
        .iter()
        .chain(cx_outputs)
        .map(|n| node_of(n).to_string())
        .collect();
    for signature in model.signatures.values() {
        for spec in signature.inputs.values().chain(signature.outputs.values()) {
            names.insert(node_of(&spec.name).to_string());
        }
    }
    names.extend(model.table_initializers.iter().cloned());
    names.extend(
        model
            .assets
            .iter()
            .chain(&model.declared_assets)
            .map(|a| a.node.clone()),
    );
    names.extend(model.checkpoint_slots.keys().cloned());
    names
}

/// The run's inputs and outputs, kept by the transforms that need them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Endpoints {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

impl Endpoints {
    pub fn of(cx: &BuildContext) -> Endpoints {
        Endpoints {
            inputs: cx.inputs.clone(),
            outputs: cx.outputs.clone(),
        }
    }

    pub fn protected(&self, model: &Model) -> BTreeSet<String> {
        protected_names(model, &self.inputs, &self.outputs)
    }
}
