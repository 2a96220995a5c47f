//! The one table of training-only op categories, used both to strip a graph
//! and to verify that nothing training-only survived the pipeline.
//!
//! Ops are matched by op type (never by name scope): a user's own scopes are
//! free to be called `gradients` or `train`.

use std::fmt;

/// Why an op does not belong in a serving graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrainingCategory {
    /// File readers of the TF1 input pipeline (`TextLineReaderV2`, `ReaderReadV2`, ...).
    Reader,
    /// Input queues and their enqueue/dequeue ops.
    Queue,
    /// `tf.data` datasets and iterators.
    Dataset,
    /// Summary ops and summary writers.
    Summary,
    /// Optimizer updates (`ApplyAdam`, `ResourceApplyGradientDescent`, ...).
    Optimizer,
    /// Gradient computations (`ReluGrad`, `Conv2DBackpropFilter`, ...).
    Gradient,
    /// Loss ops that exist only to be minimised.
    Loss,
    /// The training run's own saver (save/restore/merge of checkpoints).
    Saver,
    /// Writes to variables: moving-average updates, initializers, counters.
    VariableUpdate,
    /// Numeric checks and logging (`CheckNumerics`, `Print`, `PrintV2`).
    Debug,
}

impl TrainingCategory {
    /// Every category, in report order.
    pub const ALL: [TrainingCategory; 10] = [
        TrainingCategory::Reader,
        TrainingCategory::Queue,
        TrainingCategory::Dataset,
        TrainingCategory::Summary,
        TrainingCategory::Optimizer,
        TrainingCategory::Gradient,
        TrainingCategory::Loss,
        TrainingCategory::Saver,
        TrainingCategory::VariableUpdate,
        TrainingCategory::Debug,
    ];

    /// A short lower-case name for reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TrainingCategory::Reader => "reader",
            TrainingCategory::Queue => "queue",
            TrainingCategory::Dataset => "dataset",
            TrainingCategory::Summary => "summary",
            TrainingCategory::Optimizer => "optimizer",
            TrainingCategory::Gradient => "gradient",
            TrainingCategory::Loss => "loss",
            TrainingCategory::Saver => "saver",
            TrainingCategory::VariableUpdate => "variable-update",
            TrainingCategory::Debug => "debug",
        }
    }
}

impl TrainingCategory {
    /// What removing a node under this category means, in a phrase for
    /// reports: the category is derived from the training step's structure
    /// (see `training_step`), not only from the node's own op.
    pub fn meaning(self) -> &'static str {
        match self {
            TrainingCategory::Reader => "file readers of the input pipeline",
            TrainingCategory::Queue => "input queues and what only they read",
            TrainingCategory::Dataset => "tf.data datasets and iterators",
            TrainingCategory::Summary => "summary ops and what feeds only summaries",
            TrainingCategory::Optimizer => {
                "the optimizer's apply ops, their hyper-parameters and slot reads, the step increment"
            }
            TrainingCategory::Gradient => {
                "the backward graph the apply ops read as their gradient input"
            }
            TrainingCategory::Loss => {
                "forward computation toward the loss, or read by the gradients, that serving does not need"
            }
            TrainingCategory::Saver => "the training run's saver",
            TrainingCategory::VariableUpdate => {
                "variable initializers and updates outside the optimizer (moving averages, counters)"
            }
            TrainingCategory::Debug => "numeric checks and logging",
        }
    }
}

impl fmt::Display for TrainingCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const READER_OPS: &[&str] = &[
    "ReadFile",
    "MatchingFiles",
    "WholeFileReader",
    "WholeFileReaderV2",
    "TextLineReader",
    "TextLineReaderV2",
    "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2",
    "TFRecordReader",
    "TFRecordReaderV2",
    "LMDBReader",
    "IdentityReader",
    "IdentityReaderV2",
];

const QUEUE_OPS: &[&str] = &[
    "RandomShuffle",
    "Barrier",
    "BarrierClose",
    "BarrierInsertMany",
    "BarrierTakeMany",
    "StagingArea",
    "Stage",
    "Unstage",
];

const SUMMARY_OPS: &[&str] = &[
    "MergeSummary",
    "ScalarSummary",
    "HistogramSummary",
    "ImageSummary",
    "AudioSummary",
    "AudioSummaryV2",
    "TensorSummary",
    "TensorSummaryV2",
    "SummaryWriter",
    "CreateSummaryFileWriter",
    "CreateSummaryDbWriter",
    "FlushSummaryWriter",
    "CloseSummaryWriter",
    "ImportEvent",
];

const LOSS_OPS: &[&str] = &[
    "SoftmaxCrossEntropyWithLogits",
    "SparseSoftmaxCrossEntropyWithLogits",
    "L2Loss",
    "CTCLoss",
    "CTCLossV2",
];

const SAVER_OPS: &[&str] = &[
    "Save",
    "SaveV2",
    "SaveSlices",
    "Restore",
    "RestoreV2",
    "RestoreSlice",
    "MergeV2Checkpoints",
    "ShardedFilename",
    "ShardedFilespec",
];

const VARIABLE_UPDATE_OPS: &[&str] = &[
    "Assign",
    "AssignAdd",
    "AssignSub",
    "AssignVariableOp",
    "AssignAddVariableOp",
    "AssignSubVariableOp",
    "CountUpTo",
    "ResourceCountUpTo",
];

/// Logging and numeric checks: bypassed by the debug-ops pass. `Assert` is not
/// here: one that guards only training is pruned with it, and one that
/// survives pruning guards the serving inputs too.
const DEBUG_OPS: &[&str] = &["CheckNumerics", "CheckNumericsV2", "Print", "PrintV2"];

/// The training-only category of `op`, or `None` when the op may serve.
pub fn training_category(op: &str) -> Option<TrainingCategory> {
    use TrainingCategory::*;
    let category = if READER_OPS.contains(&op) || op.starts_with("Reader") {
        Reader
    } else if QUEUE_OPS.contains(&op) || op.contains("Queue") {
        Queue
    } else if is_dataset_op(op) {
        Dataset
    } else if SUMMARY_OPS.contains(&op) || op.starts_with("Write") && op.ends_with("Summary") {
        Summary
    } else if is_optimizer_op(op) {
        Optimizer
    } else if is_gradient_op(op) {
        Gradient
    } else if LOSS_OPS.contains(&op) {
        Loss
    } else if SAVER_OPS.contains(&op) {
        Saver
    } else if VARIABLE_UPDATE_OPS.contains(&op)
        || op.starts_with("Scatter")
        || op.starts_with("ResourceScatter")
        || op.starts_with("ResourceStridedSliceAssign")
        || op == "StridedSliceAssign"
    {
        VariableUpdate
    } else if DEBUG_OPS.contains(&op) {
        Debug
    } else {
        return None;
    };
    Some(category)
}

/// The inputs of an optimizer's apply op that carry the gradient (and, for
/// sparse updates, the gradient's indices), from the op definitions: the
/// apply ops read `(var, slots..., hyper-parameters..., grad)` in an order
/// each op fixes, and the `Resource*` variants read the same inputs in the
/// same order. Empty for an op that is not a known apply op.
pub fn gradient_inputs(op: &str) -> &'static [usize] {
    let unresourced = op.strip_prefix("Resource").unwrap_or(op);
    let (sparse, base) = match unresourced.strip_prefix("Sparse") {
        Some(dense_name) => (true, dense_name),
        None => (false, unresourced),
    };
    let dense: &'static [usize] = match base {
        "ApplyGradientDescent" => &[2],
        "ApplyProximalGradientDescent" => &[4],
        "ApplyAdagrad" | "ApplyMomentum" | "ApplyKerasMomentum" | "ApplyFtrl" | "ApplyFtrlV2"
        | "ApplyAdagradDA" => &[3],
        "ApplyAdagradV2" => &[4],
        "ApplyProximalAdagrad" => &[5],
        "ApplyAdadelta" | "ApplyAddSign" | "ApplyPowerSign" => &[6],
        "ApplyRMSProp" => &[7],
        "ApplyCenteredRMSProp" | "ApplyAdaMax" => &[8],
        "ApplyAdam" => &[9],
        "ApplyAdamWithAmsgrad" => &[10],
        _ => &[],
    };
    if !sparse {
        return dense;
    }
    // A sparse update reads the gradient's indices right after its values.
    match dense {
        [2] | [] => &[],
        [3] => &[3, 4],
        [4] => &[4, 5],
        [5] => &[5, 6],
        [6] => &[6, 7],
        [7] => &[7, 8],
        [8] => &[8, 9],
        _ => &[],
    }
}

/// Ops that read only the shape (or size, rank) of their input, never its
/// values: a gradient that reads a forward tensor this way does not make
/// that tensor part of the gradient computation.
pub fn reads_only_shape(op: &str) -> bool {
    matches!(
        op,
        "Shape" | "ShapeN" | "Size" | "Rank" | "ZerosLike" | "OnesLike"
    )
}

/// Ops that count training steps: one that runs after an optimizer's apply
/// ops is the global-step increment of the training step.
pub fn is_step_increment(op: &str) -> bool {
    matches!(
        op,
        "AssignAdd" | "AssignAddVariableOp" | "CountUpTo" | "ResourceCountUpTo"
    )
}

fn is_dataset_op(op: &str) -> bool {
    op.contains("Dataset")
        || op.starts_with("Iterator")
        || op.starts_with("AnonymousIterator")
        || matches!(
            op,
            "OneShotIterator"
                | "MakeIterator"
                | "DeleteIterator"
                | "MultiDeviceIterator"
                | "MultiDeviceIteratorGetNextFromShard"
                | "MultiDeviceIteratorInit"
                | "MultiDeviceIteratorToStringHandle"
                | "MultiDeviceIteratorFromStringHandle"
                | "OptionalGetValue"
                | "OptionalHasValue"
                | "OptionalFromValue"
                | "OptionalNone"
        )
}

fn is_optimizer_op(op: &str) -> bool {
    [
        "Apply",
        "ResourceApply",
        "SparseApply",
        "ResourceSparseApply",
    ]
    .iter()
    .any(|prefix| {
        op.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
    })
}

fn is_gradient_op(op: &str) -> bool {
    let base = op.trim_end_matches(|c: char| c.is_ascii_digit());
    let base = base.strip_suffix('V').unwrap_or(base);
    base.ends_with("Grad")
        || base.ends_with("GradGrad")
        || op.contains("Backprop")
        || op == "BroadcastGradientArgs"
        || op == "SymbolicGradient"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorises_the_usual_training_ops() {
        use TrainingCategory::*;
        let cases = [
            ("TextLineReaderV2", Reader),
            ("ReaderReadV2", Reader),
            ("FIFOQueueV2", Queue),
            ("QueueDequeueManyV2", Queue),
            ("RandomShuffleQueueV2", Queue),
            ("IteratorGetNext", Dataset),
            ("TensorSliceDataset", Dataset),
            ("OneShotIterator", Dataset),
            ("MergeSummary", Summary),
            ("ScalarSummary", Summary),
            ("WriteScalarSummary", Summary),
            ("ApplyAdam", Optimizer),
            ("ResourceApplyGradientDescent", Optimizer),
            ("ResourceSparseApplyAdagradV2", Optimizer),
            ("ReluGrad", Gradient),
            ("FusedBatchNormGradV3", Gradient),
            ("Conv2DBackpropFilter", Gradient),
            ("BroadcastGradientArgs", Gradient),
            ("SoftmaxCrossEntropyWithLogits", Loss),
            ("SaveV2", Saver),
            ("MergeV2Checkpoints", Saver),
            ("AssignSub", VariableUpdate),
            ("AssignVariableOp", VariableUpdate),
            ("ResourceScatterAdd", VariableUpdate),
            ("CheckNumerics", Debug),
        ];
        for (op, category) in cases {
            assert_eq!(training_category(op), Some(category), "{op}");
        }
    }

    #[test]
    fn leaves_inference_ops_alone() {
        for op in [
            "MatMul",
            "Conv2D",
            "Relu",
            "FusedBatchNormV3",
            "Softmax",
            "ArgMax",
            "RandomUniform",
            "StopGradient",
            "PreventGradient",
            "Apply",
            "ReadVariableOp",
            "VarHandleOp",
            "VariableV2",
            "LookupTableFindV2",
            "HashTableV2",
            "InitializeTableFromTextFileV2",
            "Switch",
            "Merge",
            "Enter",
            "Placeholder",
        ] {
            assert_eq!(training_category(op), None, "{op}");
        }
    }
}
