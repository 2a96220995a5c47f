//! `--method classify|regress`: the served signature becomes one TensorFlow
//! Serving's Classify or Regress API can call — input `inputs` (serialized
//! tf.Examples), outputs `scores` and `classes`, or `outputs` — and, as
//! Estimator exports do, the predict signature stays beside it under key
//! `predict` with every output.
//!
//! `classes` is built in the graph: the class labels in score-column order,
//! broadcast to every example, because TensorFlow Serving reads label `c`
//! of example `i` at `classes[i, c]`. A class-id or argmax tensor is not that.

use std::fmt;
use std::str::FromStr;

mod estimator;
mod estimator_predict;
pub use estimator::{CLASSIFICATION_SIGNATURE, REGRESSION_SIGNATURE};
use estimator_predict::PredictedClasses;
pub use estimator_predict::{ALL_CLASS_IDS_OUTPUT, ALL_CLASSES_OUTPUT, PROBABILITIES_OUTPUT};

use super::examples::{EXAMPLES_INPUT, add, const_node};
use super::{Pass, PassContext, PassError, PassReport, ServingSpec};
use crate::format::tensor::{Tensor, Values};
use crate::ir::{DataType, Node, TensorRef};
use crate::model::method_rules::{
    CLASSIFY_CLASSES, CLASSIFY_METHOD, CLASSIFY_SCORES, METHOD_INPUTS, MethodRuleError,
    REGRESS_METHOD, REGRESS_OUTPUTS, SERVING_RANK_MESSAGE, SERVING_WIDTH_MESSAGE,
    check_method_rules, is_regression_shape, shape_text,
};
use crate::model::{DEFAULT_SIGNATURE, Model, Signature, TensorSpec};
use crate::typing::dtype_name;

/// The key of the predict signature a classify or regress export keeps.
pub const PREDICT_SIGNATURE: &str = "predict";

/// Which TensorFlow Serving API the served signature answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServingMethod {
    /// `tensorflow/serving/predict`: named tensors in, named tensors out.
    #[default]
    Predict,
    /// `tensorflow/serving/classify`: examples in, class labels and scores out.
    Classify,
    /// `tensorflow/serving/regress`: examples in, one value per example out.
    Regress,
}

impl ServingMethod {
    /// Classify and regress read serialized tf.Examples.
    pub fn needs_examples(self) -> bool {
        self != ServingMethod::Predict
    }
}

impl FromStr for ServingMethod {
    type Err = String;

    fn from_str(text: &str) -> Result<ServingMethod, String> {
        match text {
            "predict" => Ok(ServingMethod::Predict),
            "classify" => Ok(ServingMethod::Classify),
            "regress" => Ok(ServingMethod::Regress),
            other => Err(format!(
                "unknown method {other:?}: predict, classify or regress"
            )),
        }
    }
}

impl fmt::Display for ServingMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServingMethod::Predict => "predict",
            ServingMethod::Classify => "classify",
            ServingMethod::Regress => "regress",
        })
    }
}

/// Why a classify or regress signature cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error(
        "classify needs an output \"scores\" (float32 [batch, num_classes], e.g. the probabilities); the outputs are {}",
        .outputs.join(", ")
    )]
    NoScores { outputs: Vec<String> },
    #[error(
        "regress needs an output \"outputs\" (float32 [batch] or [batch, 1]); the outputs are {}",
        .outputs.join(", ")
    )]
    NoRegressOutput { outputs: Vec<String> },
    #[error("output {key:?} ({tensor}) is {found}; {method} needs float32")]
    NotFloat {
        key: &'static str,
        tensor: String,
        found: String,
        method: ServingMethod,
    },
    #[error(
        "output \"scores\" ({tensor}) has shape {}; TensorFlow Serving's Classify wants [batch, num_classes] and answers \"{SERVING_RANK_MESSAGE}\"",
        shape_text(.shape)
    )]
    ScoresNotAMatrix { tensor: String, shape: Vec<i64> },
    #[error(
        "output \"classes\" ({tensor}) is {dtype} {shape}, not string [batch, {width}]: TensorFlow Serving's Classify reads the label of score column c at classes[i, c], so a class id or argmax tensor does not serve (TensorFlow Serving answers \"{SERVING_RANK_MESSAGE}\" or \"{SERVING_WIDTH_MESSAGE}\"); the labels must be named instead"
    )]
    ClassesNotLabels {
        tensor: String,
        dtype: String,
        shape: String,
        width: String,
    },
    #[error("{given} class names are given but scores ({tensor}) has {expected} columns")]
    ClassNamesLength {
        tensor: String,
        given: usize,
        expected: i64,
    },
    #[error(
        "the number of classes is unknown: scores ({tensor}) has shape {shape}; the classes must be named"
    )]
    UnknownClassCount { tensor: String, shape: String },
    #[error("class name {name:?} is given twice")]
    DuplicateClassName { name: String },
    #[error(
        "output \"outputs\" ({tensor}) has shape {}: regress serves one value per example, [batch] or [batch, 1] (TensorFlow Serving's Regress answers otherwise \"Expected output Tensor shape to be either [batch_size] or [batch_size, 1]\")",
        shape_text(.shape)
    )]
    NotScalar { tensor: String, shape: Vec<i64> },
    #[error("there is no signature {signature:?} to serve with method {method}")]
    NoSignature {
        signature: String,
        method: ServingMethod,
    },
    #[error("signature {signature:?} does not read serialized tf.Examples (input \"examples\")")]
    NoExamplesInput { signature: String },
    #[error("class names label a classify signature; the method is {method}")]
    ClassNamesWithoutClassify { method: ServingMethod },
    #[error(
        "the class labels are given twice, as names and as output \"classes\" ({tensor}); keep one"
    )]
    LabelsTwice { tensor: String },
    #[error(
        "a {method} export keeps its predict signature under key \"predict\"; the served signature needs another key"
    )]
    PredictKeyTaken { method: ServingMethod },
    #[error(
        "input {key:?} gives a default value, which only a feature parsed from tf.Examples takes"
    )]
    DefaultWithoutExamples { key: String },
    #[error("warm-up requests are predict requests, which a {method} signature does not answer")]
    WarmupNeedsPredict { method: ServingMethod },
    #[error(
        "Estimator's predict outputs all_classes and all_class_ids are built from a classifier's output \"probabilities\" (float32 [batch, num_classes]); the outputs are {}",
        .outputs.join(", ")
    )]
    NoProbabilities { outputs: Vec<String> },
    #[error(
        "output \"probabilities\" ({tensor}) is {dtype} {shape}; Estimator's all_classes and all_class_ids are built from a classifier's float32 [batch, num_classes] probabilities"
    )]
    NotClassProbabilities {
        tensor: String,
        dtype: String,
        shape: String,
    },
    #[error(
        "output {key:?} ({tensor}) is given, and Estimator's predict signature has it built from the scores and class labels; keep one"
    )]
    EstimatorOutputGiven { key: String, tensor: String },
    #[error(transparent)]
    Rule(Box<MethodRuleError>),
}

impl From<MethodRuleError> for MethodError {
    fn from(error: MethodRuleError) -> MethodError {
        MethodError::Rule(Box::new(error))
    }
}

/// What the flags ask, checked together before anything is read: an error
/// for combinations that make no sense.
pub struct MethodFlags<'a> {
    pub method: ServingMethod,
    pub examples: bool,
    pub class_names: Option<&'a [String]>,
    pub signature_name: &'a str,
    /// The tensor given as output `classes`, if any.
    pub classes_output: Option<&'a str>,
    /// Keys of inputs that give `:default=`.
    pub defaults: Vec<&'a str>,
    pub warmup: bool,
    /// `--estimator-signatures`.
    pub estimator_signatures: bool,
}

impl MethodFlags<'_> {
    pub fn check(&self) -> Result<(), MethodError> {
        let method = self.method;
        if self.class_names.is_some() && !self.labels_classes() {
            return Err(MethodError::ClassNamesWithoutClassify { method });
        }
        let classify = method == ServingMethod::Classify;
        if let Some(tensor) = self
            .classes_output
            .filter(|_| classify && self.class_names.is_some())
        {
            let tensor = tensor.into();
            return Err(MethodError::LabelsTwice { tensor });
        }
        if method.needs_examples() && self.signature_name == PREDICT_SIGNATURE {
            return Err(MethodError::PredictKeyTaken { method });
        }
        if let Some(key) = self.defaults.first().filter(|_| !self.parses_examples()) {
            let key = key.to_string();
            return Err(MethodError::DefaultWithoutExamples { key });
        }
        if self.warmup && method.needs_examples() {
            return Err(MethodError::WarmupNeedsPredict { method });
        }
        Ok(())
    }

    /// Class names label a classify signature's scores, or the columns of
    /// Estimator's `all_classes` in a predict signature.
    fn labels_classes(&self) -> bool {
        match self.method {
            ServingMethod::Classify => true,
            ServingMethod::Predict => self.estimator_signatures,
            ServingMethod::Regress => false,
        }
    }

    fn parses_examples(&self) -> bool {
        self.examples || self.method.needs_examples()
    }
}

/// Turns the predict signature the examples pass made into the method's.
pub struct MethodPass {
    method: ServingMethod,
    class_names: Option<Vec<String>>,
    signature_name: String,
    estimator_signatures: bool,
}

impl MethodPass {
    pub fn new(spec: &ServingSpec) -> MethodPass {
        let signature_name = if spec.signature_name.is_empty() {
            DEFAULT_SIGNATURE.into()
        } else {
            spec.signature_name.clone()
        };
        MethodPass {
            method: spec.method,
            class_names: spec.class_names.clone(),
            signature_name,
            estimator_signatures: spec.estimator_signatures,
        }
    }

    fn classify(
        &self,
        model: &mut Model,
        predict: &mut Signature,
        report: &mut PassReport,
    ) -> Result<Signature, PassError> {
        let scores = predict
            .outputs
            .get(CLASSIFY_SCORES)
            .cloned()
            .ok_or_else(|| MethodError::NoScores {
                outputs: output_keys(predict),
            })?;
        check_float(CLASSIFY_SCORES, &scores, self.method)?;
        let width = scores_width(&scores)?;
        let classes = match predict.outputs.get(CLASSIFY_CLASSES) {
            Some(given) => check_given_classes(given, width)?,
            None => {
                let labels = class_labels(self.class_names.as_deref(), width, &scores)?;
                let classes = build_classes(model, &scores, &labels, CLASSIFY_CLASSES, report)?;
                predict
                    .outputs
                    .insert(CLASSIFY_CLASSES.into(), classes.clone());
                classes
            }
        };
        if self.estimator_signatures {
            estimator_predict::add_estimator_predict_outputs(
                model,
                predict,
                &scores,
                &classes,
                PredictedClasses::Build,
                report,
            )?;
        }
        Ok(method_signature(
            CLASSIFY_METHOD,
            predict,
            [(CLASSIFY_SCORES, scores), (CLASSIFY_CLASSES, classes)],
        ))
    }

    /// `--estimator-signatures` with method predict: the served predict
    /// signature gains the outputs Estimator's classifier heads write.
    fn estimator_predict(
        &self,
        model: &mut Model,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let mut predict = model
            .signatures
            .get(&self.signature_name)
            .cloned()
            .ok_or_else(|| MethodError::NoSignature {
                signature: self.signature_name.clone(),
                method: self.method,
            })?;
        let names = self.class_names.as_deref();
        estimator_predict::estimator_predict_signature(model, &mut predict, names, report)?;
        first_broken_rule(&self.signature_name, &predict)?;
        model
            .signatures
            .insert(self.signature_name.clone(), predict);
        Ok(())
    }

    fn regress(&self, predict: &Signature) -> Result<Signature, MethodError> {
        let output = predict
            .outputs
            .get(REGRESS_OUTPUTS)
            .cloned()
            .ok_or_else(|| MethodError::NoRegressOutput {
                outputs: output_keys(predict),
            })?;
        check_float(REGRESS_OUTPUTS, &output, self.method)?;
        if let Some(shape) = output.shape.as_ref().filter(|s| !is_regression_shape(s)) {
            return Err(MethodError::NotScalar {
                tensor: output.name.clone(),
                shape: shape.clone(),
            });
        }
        Ok(method_signature(
            REGRESS_METHOD,
            predict,
            [(REGRESS_OUTPUTS, output)],
        ))
    }
}

impl Pass for MethodPass {
    fn name(&self) -> &'static str {
        "method"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        if !self.method.needs_examples() {
            if self.estimator_signatures {
                self.estimator_predict(model, &mut report)?;
            }
            return Ok(report);
        }
        let mut predict = model
            .signatures
            .remove(&self.signature_name)
            .ok_or_else(|| MethodError::NoSignature {
                signature: self.signature_name.clone(),
                method: self.method,
            })?;
        if !predict.inputs.contains_key(EXAMPLES_INPUT) {
            return Err(MethodError::NoExamplesInput {
                signature: self.signature_name.clone(),
            }
            .into());
        }
        let served = match self.method {
            ServingMethod::Classify => self.classify(model, &mut predict, &mut report)?,
            _ => self.regress(&predict)?,
        };
        first_broken_rule(&self.signature_name, &served)?;
        first_broken_rule(PREDICT_SIGNATURE, &predict)?;
        report.note(format!(
            "signature {:?} is {}; {PREDICT_SIGNATURE:?} keeps every output",
            self.signature_name, served.method_name
        ));
        if self.estimator_signatures {
            let added = estimator::add_estimator_signatures(
                model,
                self.method,
                &self.signature_name,
                &served,
                &predict,
            )?;
            report.note(format!("as Estimator exports: {added:?} beside"));
        }
        model.signatures.insert(PREDICT_SIGNATURE.into(), predict);
        model.signatures.insert(self.signature_name.clone(), served);
        Ok(report)
    }
}

/// The first rule of its method `signature` breaks, as an error.
fn first_broken_rule(key: &str, signature: &Signature) -> Result<(), MethodError> {
    match check_method_rules(key, signature).into_iter().next() {
        Some(broken) => Err(broken.into()),
        None => Ok(()),
    }
}

fn output_keys(signature: &Signature) -> Vec<String> {
    signature.outputs.keys().map(|k| format!("{k:?}")).collect()
}

/// A classify or regress signature: the predict signature's examples as
/// `inputs`, and `outputs`.
fn method_signature<const N: usize>(
    method: &str,
    predict: &Signature,
    outputs: [(&str, TensorSpec); N],
) -> Signature {
    let examples = predict.inputs.get(EXAMPLES_INPUT).cloned();
    Signature {
        method_name: method.into(),
        inputs: examples
            .map(|spec| (METHOD_INPUTS.to_string(), spec))
            .into_iter()
            .collect(),
        outputs: outputs
            .into_iter()
            .map(|(key, spec)| (key.to_string(), spec))
            .collect(),
    }
}

fn check_float(
    key: &'static str,
    spec: &TensorSpec,
    method: ServingMethod,
) -> Result<(), MethodError> {
    if spec.dtype == DataType::DtFloat {
        return Ok(());
    }
    Err(MethodError::NotFloat {
        key,
        tensor: spec.name.clone(),
        found: dtype_name(spec.dtype as i32),
        method,
    })
}

/// The number of score columns when the shape states it; a scores tensor
/// of known rank other than 2 is refused.
fn scores_width(scores: &TensorSpec) -> Result<Option<i64>, MethodError> {
    match scores.shape.as_deref() {
        None => Ok(None),
        Some([_, width]) => Ok((*width >= 0).then_some(*width)),
        Some(shape) => Err(MethodError::ScoresNotAMatrix {
            tensor: scores.name.clone(),
            shape: shape.to_vec(),
        }),
    }
}

/// A `classes` output the graph already has must be labels: string
/// `[batch, N]` with the scores' N.
fn check_given_classes(given: &TensorSpec, width: Option<i64>) -> Result<TensorSpec, MethodError> {
    let fits = given.dtype == DataType::DtString
        && match given.shape.as_deref() {
            Some([_, n]) => width.is_none_or(|w| *n < 0 || *n == w),
            _ => false,
        };
    if fits {
        return Ok(given.clone());
    }
    Err(MethodError::ClassesNotLabels {
        tensor: given.name.clone(),
        dtype: dtype_name(given.dtype as i32),
        shape: given
            .shape
            .as_deref()
            .map_or("of unknown shape".into(), shape_text),
        width: width.map_or("num_classes".into(), |w| w.to_string()),
    })
}

/// The labels of the score columns: `--class-names`, else `"0"` … `"N-1"`.
fn class_labels(
    names: Option<&[String]>,
    width: Option<i64>,
    scores: &TensorSpec,
) -> Result<Vec<String>, MethodError> {
    match (names, width) {
        (Some(names), Some(width)) if names.len() as i64 != width => {
            Err(MethodError::ClassNamesLength {
                tensor: scores.name.clone(),
                given: names.len(),
                expected: width,
            })
        }
        (Some(names), _) => {
            let mut seen = std::collections::HashSet::new();
            if let Some(name) = names.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(MethodError::DuplicateClassName { name: name.clone() });
            }
            Ok(names.to_vec())
        }
        (None, Some(width)) => Ok((0..width).map(|i| i.to_string()).collect()),
        (None, None) => Err(MethodError::UnknownClassCount {
            tensor: scores.name.clone(),
            shape: scores.shape.as_deref().map_or("unknown".into(), shape_text),
        }),
    }
}

/// `classes` (`all_classes` in Estimator's predict signature, `key`): the
/// labels broadcast to the scores' shape, so row `i` holds every label for
/// example `i`.
fn build_classes(
    model: &mut Model,
    scores: &TensorSpec,
    labels: &[String],
    key: &str,
    report: &mut PassReport,
) -> Result<TensorSpec, PassError> {
    let scores_tensor = model.graph.tensor(&scores.name)?;
    let scope = model.graph.unique_name(key);
    let labels_tensor = Tensor {
        dtype: DataType::DtString,
        shape: vec![labels.len() as i64],
        values: Values::Strings(labels.iter().cloned().map(bytes::Bytes::from).collect()),
    };
    let labels_node = const_node(&format!("{scope}/labels"), &labels_tensor);
    let labels_id = add(model, labels_node, &[], report)?;
    let shape = Node::new(format!("{scope}/scores_shape"), "Shape")
        .with_type("T", DataType::DtFloat)
        .with_type("out_type", DataType::DtInt32);
    let shape_id = add(model, shape, &[scores_tensor], report)?;
    let broadcast = Node::new(scope.clone(), "BroadcastTo")
        .with_type("T", DataType::DtString)
        .with_type("Tidx", DataType::DtInt32);
    let inputs = [TensorRef::new(labels_id, 0), TensorRef::new(shape_id, 0)];
    let id = add(model, broadcast, &inputs, report)?;
    report.note(format!(
        "{key}: labels {} broadcast to the shape of {}",
        labels.join(", "),
        scores.name
    ));
    Ok(TensorSpec {
        name: model.graph.tensor_name(TensorRef::new(id, 0)),
        dtype: DataType::DtString,
        shape: Some(vec![-1, labels.len() as i64]),
    })
}

#[cfg(test)]
mod tests;
