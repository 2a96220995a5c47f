//! What a signature must look like for its method to be served: the rules
//! of TensorFlow's `signature_def_utils.is_valid_signature` (keys and
//! dtypes per method) and the shape rules TensorFlow Serving's Classify and
//! Regress APIs apply to what the model returns. Both the export (before
//! writing) and `servegraph validate` (on any SavedModel) run them.
//!
//! A dimension the signature leaves unknown cannot break a rule here; the
//! server checks it at request time.

use super::signature::{PREDICT_METHOD, Signature, TensorSpec};
use crate::format::proto::DataType;
use crate::typing::dtype_name;

/// The method name of classify signatures.
pub const CLASSIFY_METHOD: &str = "tensorflow/serving/classify";
/// The method name of regress signatures.
pub const REGRESS_METHOD: &str = "tensorflow/serving/regress";
/// The one input of a classify or regress signature: serialized tf.Examples.
pub const METHOD_INPUTS: &str = "inputs";
/// The class labels output of a classify signature.
pub const CLASSIFY_CLASSES: &str = "classes";
/// The scores output of a classify signature.
pub const CLASSIFY_SCORES: &str = "scores";
/// The one output of a regress signature.
pub const REGRESS_OUTPUTS: &str = "outputs";

/// TensorFlow Serving's answer to a classify output that is not a matrix.
pub const SERVING_RANK_MESSAGE: &str = "Expected Tensor shape: [batch_size num_classes]";
/// TensorFlow Serving's answer when classes and scores differ in width.
pub const SERVING_WIDTH_MESSAGE: &str = "Tensors class and score should match in dim_size(1)";
/// TensorFlow Serving's answer to a regression output of another shape.
pub const SERVING_REGRESS_MESSAGE: &str =
    "Expected output Tensor shape to be either [batch_size] or [batch_size, 1]";

/// A signature its method's server would refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MethodRuleError {
    #[error("signature {key:?} ({method}) has no {side}")]
    Empty {
        key: String,
        method: String,
        side: &'static str,
    },
    #[error(
        "signature {key:?} ({method}) must have exactly one input, \"inputs\" (serialized tf.Examples); it has {}",
        .found.join(", ")
    )]
    Inputs {
        key: String,
        method: String,
        found: Vec<String>,
    },
    #[error("signature {key:?} ({method}) may only have outputs {}; it has {found:?}", .allowed.join(" and "))]
    UnexpectedOutput {
        key: String,
        method: String,
        allowed: Vec<&'static str>,
        found: String,
    },
    #[error("signature {key:?} ({method}) needs output {output:?}")]
    MissingOutput {
        key: String,
        method: String,
        output: &'static str,
    },
    #[error("signature {key:?} {side} {name:?} is {found}, but {method} requires {expected}")]
    Dtype {
        key: String,
        method: String,
        side: &'static str,
        name: String,
        found: String,
        expected: String,
    },
    #[error(
        "signature {key:?} output {name:?} has shape {}; TensorFlow Serving's Classify wants [batch, num_classes] and answers \"{SERVING_RANK_MESSAGE}\"",
        shape_text(.shape)
    )]
    NotAMatrix {
        key: String,
        name: String,
        shape: Vec<i64>,
    },
    #[error(
        "signature {key:?}: classes has {classes} columns and scores {scores}; TensorFlow Serving's Classify answers \"{SERVING_WIDTH_MESSAGE}\""
    )]
    Widths {
        key: String,
        classes: i64,
        scores: i64,
    },
    #[error(
        "signature {key:?} output \"outputs\" has shape {}; TensorFlow Serving's Regress answers \"{SERVING_REGRESS_MESSAGE}\"",
        shape_text(.shape)
    )]
    RegressShape { key: String, shape: Vec<i64> },
}

/// A shape as text, `?` for an unknown dimension.
pub fn shape_text(shape: &[i64]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| if *d < 0 { "?".into() } else { d.to_string() })
        .collect();
    format!("[{}]", dims.join(", "))
}

/// Every rule `signature` (under `key`) breaks; none for a method other
/// than predict, classify and regress.
pub fn check_method_rules(key: &str, signature: &Signature) -> Vec<MethodRuleError> {
    let mut problems = Vec::new();
    let rules = Rules {
        key,
        signature,
        problems: &mut problems,
    };
    match signature.method_name.as_str() {
        PREDICT_METHOD => rules.predict(),
        CLASSIFY_METHOD => rules.classify(),
        REGRESS_METHOD => rules.regress(),
        _ => {}
    }
    problems
}

/// One signature's check, collecting what it breaks.
struct Rules<'a> {
    key: &'a str,
    signature: &'a Signature,
    problems: &'a mut Vec<MethodRuleError>,
}

impl Rules<'_> {
    fn method(&self) -> String {
        self.signature.method_name.clone()
    }

    fn predict(self) {
        for (side, map) in [
            ("inputs", &self.signature.inputs),
            ("outputs", &self.signature.outputs),
        ] {
            if map.is_empty() {
                self.problems.push(MethodRuleError::Empty {
                    key: self.key.into(),
                    method: self.method(),
                    side,
                });
            }
        }
    }

    fn classify(mut self) {
        self.examples_input();
        let outputs = &self.signature.outputs;
        let allowed = vec![CLASSIFY_CLASSES, CLASSIFY_SCORES];
        if outputs.is_empty() {
            self.missing_output(CLASSIFY_SCORES);
        }
        for name in outputs.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.problems.push(MethodRuleError::UnexpectedOutput {
                key: self.key.into(),
                method: self.method(),
                allowed: allowed.clone(),
                found: name.clone(),
            });
        }
        let classes = outputs.get(CLASSIFY_CLASSES);
        let scores = outputs.get(CLASSIFY_SCORES);
        for (name, spec, dtype) in [
            (CLASSIFY_CLASSES, classes, DataType::DtString),
            (CLASSIFY_SCORES, scores, DataType::DtFloat),
        ] {
            if let Some(spec) = spec {
                self.dtype("output", name, spec, dtype);
                self.matrix(name, spec);
            }
        }
        if let (Some(classes), Some(scores)) = (width(classes), width(scores))
            && classes != scores
        {
            self.problems.push(MethodRuleError::Widths {
                key: self.key.into(),
                classes,
                scores,
            });
        }
    }

    fn regress(mut self) {
        self.examples_input();
        let outputs = &self.signature.outputs;
        let Some(output) = outputs.get(REGRESS_OUTPUTS) else {
            self.missing_output(REGRESS_OUTPUTS);
            return;
        };
        for name in outputs.keys().filter(|k| *k != REGRESS_OUTPUTS) {
            self.problems.push(MethodRuleError::UnexpectedOutput {
                key: self.key.into(),
                method: self.method(),
                allowed: vec![REGRESS_OUTPUTS],
                found: name.clone(),
            });
        }
        self.dtype("output", REGRESS_OUTPUTS, output, DataType::DtFloat);
        if let Some(shape) = &output.shape
            && !is_regression_shape(shape)
        {
            self.problems.push(MethodRuleError::RegressShape {
                key: self.key.into(),
                shape: shape.clone(),
            });
        }
    }

    /// Exactly one input, `inputs`, of serialized examples.
    fn examples_input(&mut self) {
        let inputs = &self.signature.inputs;
        match inputs.get(METHOD_INPUTS) {
            Some(spec) if inputs.len() == 1 => {
                self.dtype("input", METHOD_INPUTS, spec, DataType::DtString)
            }
            _ => self.problems.push(MethodRuleError::Inputs {
                key: self.key.into(),
                method: self.method(),
                found: if inputs.is_empty() {
                    vec!["none".into()]
                } else {
                    inputs.keys().map(|k| format!("{k:?}")).collect()
                },
            }),
        }
    }

    fn missing_output(&mut self, output: &'static str) {
        self.problems.push(MethodRuleError::MissingOutput {
            key: self.key.into(),
            method: self.method(),
            output,
        });
    }

    fn dtype(&mut self, side: &'static str, name: &str, spec: &TensorSpec, expected: DataType) {
        if spec.dtype != expected {
            self.problems.push(MethodRuleError::Dtype {
                key: self.key.into(),
                method: self.method(),
                side,
                name: name.into(),
                found: dtype_name(spec.dtype as i32),
                expected: dtype_name(expected as i32),
            });
        }
    }

    /// A classify output of known rank must be `[batch, num_classes]`.
    fn matrix(&mut self, name: &str, spec: &TensorSpec) {
        if let Some(shape) = spec.shape.as_ref().filter(|s| s.len() != 2) {
            self.problems.push(MethodRuleError::NotAMatrix {
                key: self.key.into(),
                name: name.into(),
                shape: shape.clone(),
            });
        }
    }
}

/// The known second dimension of a `[batch, N]` output.
fn width(spec: Option<&TensorSpec>) -> Option<i64> {
    let shape = spec?.shape.as_ref()?;
    shape
        .get(1)
        .copied()
        .filter(|d| *d >= 0 && shape.len() == 2)
}

/// `[batch]` or `[batch, 1]` (an unknown second dimension may be 1).
pub fn is_regression_shape(shape: &[i64]) -> bool {
    match shape {
        [_] => true,
        [_, width] => *width == 1 || *width < 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec(dtype: DataType, shape: Option<&[i64]>) -> TensorSpec {
        TensorSpec {
            name: "t:0".into(),
            dtype,
            shape: shape.map(<[i64]>::to_vec),
        }
    }

    fn signature(
        method: &str,
        inputs: &[(&str, TensorSpec)],
        outputs: &[(&str, TensorSpec)],
    ) -> Signature {
        let map = |pairs: &[(&str, TensorSpec)]| -> BTreeMap<String, TensorSpec> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        Signature {
            method_name: method.into(),
            inputs: map(inputs),
            outputs: map(outputs),
        }
    }

    fn examples() -> (&'static str, TensorSpec) {
        (METHOD_INPUTS, spec(DataType::DtString, Some(&[-1])))
    }

    #[test]
    fn a_served_classify_signature_passes() {
        let good = signature(
            CLASSIFY_METHOD,
            &[examples()],
            &[
                ("classes", spec(DataType::DtString, Some(&[-1, 3]))),
                ("scores", spec(DataType::DtFloat, Some(&[-1, 3]))),
            ],
        );
        assert_eq!(check_method_rules("serving_default", &good), []);
    }

    #[test]
    fn classify_breaks_are_each_named() {
        let bad = signature(
            CLASSIFY_METHOD,
            &[("x", spec(DataType::DtFloat, Some(&[-1, 4])))],
            &[
                ("classes", spec(DataType::DtInt64, Some(&[-1]))),
                ("scores", spec(DataType::DtFloat, Some(&[-1, 3]))),
                ("logits", spec(DataType::DtFloat, Some(&[-1, 3]))),
            ],
        );
        let problems = check_method_rules("serving_default", &bad);
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            matches!(&problems[0], MethodRuleError::Inputs { found, .. } if found == &["\"x\""]),
            "{text:?}"
        );
        assert!(
            problems.iter().any(
                |p| matches!(p, MethodRuleError::UnexpectedOutput { found, .. } if found == "logits")
            ),
            "{text:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, MethodRuleError::Dtype { name, .. } if name == "classes")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains(SERVING_RANK_MESSAGE)),
            "{text:?}"
        );
        let widths = signature(
            CLASSIFY_METHOD,
            &[examples()],
            &[
                ("classes", spec(DataType::DtString, Some(&[-1, 2]))),
                ("scores", spec(DataType::DtFloat, Some(&[-1, 3]))),
            ],
        );
        assert_eq!(
            check_method_rules("k", &widths),
            [MethodRuleError::Widths {
                key: "k".into(),
                classes: 2,
                scores: 3
            }]
        );
    }

    #[test]
    fn regress_wants_one_float_output_of_batch_or_batch_by_one() {
        for (shape, ok) in [
            (Some(&[-1][..]), true),
            (Some(&[-1, 1][..]), true),
            (None, true),
            (Some(&[-1, 2][..]), false),
            (Some(&[-1, 1, 1][..]), false),
        ] {
            let sig = signature(
                REGRESS_METHOD,
                &[examples()],
                &[("outputs", spec(DataType::DtFloat, shape))],
            );
            assert_eq!(check_method_rules("r", &sig).is_empty(), ok, "{shape:?}");
        }
        let double = signature(
            REGRESS_METHOD,
            &[examples()],
            &[("predictions", spec(DataType::DtDouble, Some(&[-1])))],
        );
        assert!(matches!(
            check_method_rules("r", &double)[..],
            [MethodRuleError::MissingOutput {
                output: "outputs",
                ..
            }]
        ));
    }

    #[test]
    fn predict_needs_an_input_and_an_output_and_other_methods_are_not_judged() {
        let empty = signature(PREDICT_METHOD, &[], &[]);
        assert_eq!(check_method_rules("p", &empty).len(), 2);
        let init = signature("", &[], &[]);
        assert!(check_method_rules("__saved_model_init_op", &init).is_empty());
    }
}
