//! The predict outputs Estimator's canned classifier heads write beside the
//! logits and probabilities, built in the serving graph from the scores and
//! the class labels: `classes`, each example's predicted label ([batch, 1]);
//! `all_classes`, every label for every example ([batch, num_classes]); and
//! `all_class_ids`, the class ids 0 … num_classes-1 for every example. A
//! training graph holds none of them in that form (its `classes` is the
//! training head's, and the `all_*` tensors exist only in a predict-mode
//! graph), so they are computed the way the head computes them: beside a
//! classify signature from its scores and labels, or in a predict signature
//! alone from its `probabilities` and the class names.

use super::{MethodError, build_classes, class_labels, output_keys, scores_width};
use crate::format::tensor::{Tensor, Values};
use crate::ir::{DataType, Node, NodeId, TensorRef};
use crate::model::method_rules::shape_text;
use crate::model::{Model, Signature, TensorSpec};
use crate::passes::examples::{add, const_node};
use crate::passes::{PassError, PassReport};
use crate::typing::dtype_name;

/// The class probabilities in Estimator's classifier predict signature.
pub const PROBABILITIES_OUTPUT: &str = "probabilities";

/// Each example's predicted class label in Estimator's predict signature.
pub const CLASSES_OUTPUT: &str = "classes";
/// Every class label, for every example.
pub const ALL_CLASSES_OUTPUT: &str = "all_classes";
/// Every class id, for every example.
pub const ALL_CLASS_IDS_OUTPUT: &str = "all_class_ids";

/// Whether the predict signature's `classes` is built as each example's
/// predicted label or kept as the signature gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictedClasses {
    /// Built: the label of the largest score (replacing any `classes`).
    Build,
    /// Kept: the signature's own `classes` output.
    Keep,
}

/// `--estimator-signatures` on a predict signature: `all_classes` and
/// `all_class_ids` from its output `probabilities` and the class names
/// (default `"0"` … `"N-1"`), and `classes` unless the signature has it.
pub fn estimator_predict_signature(
    model: &mut Model,
    predict: &mut Signature,
    class_names: Option<&[String]>,
    report: &mut PassReport,
) -> Result<(), PassError> {
    let scores = probabilities(predict)?;
    let labels = class_labels(class_names, scores_width(&scores)?, &scores)?;
    let all_classes = build_classes(model, &scores, &labels, ALL_CLASSES_OUTPUT, report)?;
    let classes = if predict.outputs.contains_key(CLASSES_OUTPUT) {
        PredictedClasses::Keep
    } else {
        PredictedClasses::Build
    };
    add_estimator_predict_outputs(model, predict, &scores, &all_classes, classes, report)
}

/// The predict signature's `probabilities`: float32 `[batch, num_classes]`
/// (or of unknown shape).
fn probabilities(predict: &Signature) -> Result<TensorSpec, MethodError> {
    let spec =
        predict
            .outputs
            .get(PROBABILITIES_OUTPUT)
            .ok_or_else(|| MethodError::NoProbabilities {
                outputs: output_keys(predict),
            })?;
    let matrix = matches!(spec.shape.as_deref(), None | Some([_, _]));
    if spec.dtype == DataType::DtFloat && matrix {
        return Ok(spec.clone());
    }
    Err(MethodError::NotClassProbabilities {
        tensor: spec.name.clone(),
        dtype: dtype_name(spec.dtype as i32),
        shape: spec
            .shape
            .as_deref()
            .map_or("of unknown shape".into(), shape_text),
    })
}

/// Writes `all_classes`, `all_class_ids` and (when `classes` says so)
/// `classes` into `predict`: `labels` is the string `[batch, num_classes]`
/// tensor of every label for every example (the classify signature's
/// `classes`), `scores` the `[batch, num_classes]` scores whose largest
/// column is the prediction. An `all_*` output the signature already has
/// is an error.
pub fn add_estimator_predict_outputs(
    model: &mut Model,
    predict: &mut Signature,
    scores: &TensorSpec,
    labels: &TensorSpec,
    classes: PredictedClasses,
    report: &mut PassReport,
) -> Result<(), PassError> {
    refuse_given(predict)?;
    let count = class_count(scores, labels)?;
    let scope = model.graph.unique_name("estimator_predictions");
    let scores_tensor = model.graph.tensor(&scores.name)?;
    let predicted = match classes {
        PredictedClasses::Build => {
            let labels_tensor = model.graph.tensor(&labels.name)?;
            Some(predicted_labels(
                model,
                &scope,
                scores_tensor,
                labels_tensor,
                report,
            )?)
        }
        PredictedClasses::Keep => None,
    };
    let ids = all_class_ids(model, &scope, scores_tensor, count, report)?;
    let spec = |tensor: TensorRef, dtype: DataType, width: i64| TensorSpec {
        name: model.graph.tensor_name(tensor),
        dtype,
        shape: Some(vec![-1, width]),
    };
    let outputs = &mut predict.outputs;
    outputs.insert(
        ALL_CLASS_IDS_OUTPUT.into(),
        spec(ids, DataType::DtInt32, count),
    );
    outputs.insert(ALL_CLASSES_OUTPUT.into(), labels.clone());
    let how = match predicted {
        Some(predicted) => {
            outputs.insert(
                CLASSES_OUTPUT.into(),
                spec(predicted, DataType::DtString, 1),
            );
            format!("is the label of the largest score of {}", scores.name)
        }
        None => "is kept as given".to_string(),
    };
    report.note(format!(
        "predict: {CLASSES_OUTPUT} {how}; {ALL_CLASSES_OUTPUT} and {ALL_CLASS_IDS_OUTPUT} list the {count} classes per example, as Estimator's heads"
    ));
    Ok(())
}

/// An `all_classes` or `all_class_ids` output given by the user: an error,
/// since it is built here.
fn refuse_given(predict: &Signature) -> Result<(), MethodError> {
    for key in [ALL_CLASSES_OUTPUT, ALL_CLASS_IDS_OUTPUT] {
        if let Some(given) = predict.outputs.get(key) {
            return Err(MethodError::EstimatorOutputGiven {
                key: key.to_string(),
                tensor: given.name.clone(),
            });
        }
    }
    Ok(())
}

/// The number of classes: the scores' columns, else the labels'.
fn class_count(scores: &TensorSpec, labels: &TensorSpec) -> Result<i64, MethodError> {
    let width = |spec: &TensorSpec| match spec.shape.as_deref() {
        Some([_, n]) if *n >= 0 => Some(*n),
        _ => None,
    };
    width(scores)
        .or_else(|| width(labels))
        .ok_or_else(|| MethodError::UnknownClassCount {
            tensor: scores.name.clone(),
            shape: scores.shape.as_deref().map_or("unknown".into(), shape_text),
        })
}

/// `ExpandDims(GatherV2(labels, ArgMax(scores, 1), axis 1, batch_dims 1), -1)`:
/// row `i` holds the label of example `i`'s largest score.
fn predicted_labels(
    model: &mut Model,
    scope: &str,
    scores: TensorRef,
    labels: TensorRef,
    report: &mut PassReport,
) -> Result<TensorRef, PassError> {
    let one = int32_scalar(model, &format!("{scope}/class_axis"), 1, report)?;
    let argmax = Node::new(format!("{scope}/class_ids"), "ArgMax")
        .with_type("T", DataType::DtFloat)
        .with_type("Tidx", DataType::DtInt32)
        .with_type("output_type", DataType::DtInt32);
    let argmax = add(model, argmax, &[scores, one], report)?;
    let mut gather = Node::new(format!("{scope}/predicted_labels"), "GatherV2")
        .with_type("Tparams", DataType::DtString)
        .with_type("Tindices", DataType::DtInt32)
        .with_type("Taxis", DataType::DtInt32);
    gather.set_attr_int("batch_dims", 1);
    let inputs = [labels, TensorRef::new(argmax, 0), one];
    let gather = add(model, gather, &inputs, report)?;
    let last = int32_scalar(model, &format!("{scope}/last_axis"), -1, report)?;
    let expand = Node::new(format!("{scope}/classes"), "ExpandDims")
        .with_type("T", DataType::DtString)
        .with_type("Tdim", DataType::DtInt32);
    let expand = add(model, expand, &[TensorRef::new(gather, 0), last], report)?;
    Ok(TensorRef::new(expand, 0))
}

/// The ids `0 … count-1` broadcast to the scores' shape.
fn all_class_ids(
    model: &mut Model,
    scope: &str,
    scores: TensorRef,
    count: i64,
    report: &mut PassReport,
) -> Result<TensorRef, PassError> {
    let ids = Tensor {
        dtype: DataType::DtInt32,
        shape: vec![count],
        values: Values::I32((0..count).map(|i| i as i32).collect()),
    };
    let ids = add(
        model,
        const_node(&format!("{scope}/ids"), &ids),
        &[],
        report,
    )?;
    let shape = Node::new(format!("{scope}/scores_shape"), "Shape")
        .with_type("T", DataType::DtFloat)
        .with_type("out_type", DataType::DtInt32);
    let shape = add(model, shape, &[scores], report)?;
    let broadcast = Node::new(format!("{scope}/all_class_ids"), "BroadcastTo")
        .with_type("T", DataType::DtInt32)
        .with_type("Tidx", DataType::DtInt32);
    let inputs = [TensorRef::new(ids, 0), TensorRef::new(shape, 0)];
    let id = add(model, broadcast, &inputs, report)?;
    Ok(TensorRef::new(id, 0))
}

/// A scalar int32 `Const`.
fn int32_scalar(
    model: &mut Model,
    name: &str,
    value: i32,
    report: &mut PassReport,
) -> Result<TensorRef, PassError> {
    let tensor = Tensor {
        dtype: DataType::DtInt32,
        shape: vec![],
        values: Values::I32(vec![value]),
    };
    let id: NodeId = add(model, const_node(name, &tensor), &[], report)?;
    Ok(TensorRef::new(id, 0))
}
