//! AI Explanations metadata: the `explanation_metadata.json` that AI
//! Platform Prediction (and Vertex AI's TensorFlow images) read beside
//! `saved_model.pb` to attribute a prediction to the model's inputs.
//!
//! Built from the served signature, so the names are the export's own:
//! - `inputs`: one entry per signature input key, with `input_tensor_name`
//!   (`node:port` in the exported graph), a `modality` decided by dtype
//!   ([`Modality::of`]) and, when given, `input_baselines` ([`BaselineSpec`]);
//! - `outputs`: exactly one entry (the services explain one output), the
//!   signature output key with its `output_tensor_name`. It must be a
//!   floating-point tensor: class ids and labels cannot be attributed;
//! - `framework`: `"tensorflow"`.
//!
//! Nothing else is written: the optional fields (`encoding`, `domain`,
//! `visualization`, ...) describe knowledge of the features the graph does
//! not hold, and the `"tags": ["explainable_ai_sdk"]` the Explainable AI
//! SDK adds marks files that SDK wrote.

mod baseline;
mod error;

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

pub use baseline::{BaselineSpec, per_example_shape};
pub use error::ExplainError;

use crate::ir::DataType;
use crate::model::{Signature, TensorSpec};
use crate::passes::examples::Feature;
use crate::typing::dtype_name;

/// The file's name, beside `saved_model.pb`.
pub const EXPLANATION_METADATA_FILE: &str = "explanation_metadata.json";
/// The `framework` the services expect of a TensorFlow SavedModel.
pub const FRAMEWORK: &str = "tensorflow";

/// What to explain. `Default`: the signature's only floating-point output,
/// no baselines (the service then chooses them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExplanationOptions {
    /// The signature output key to explain. Default: the only
    /// floating-point output (an error when there are several).
    pub output: Option<String>,
    /// Baselines in the order given; several for one input are all written
    /// (the service averages the attributions over them). Default: none.
    pub baselines: Vec<BaselineSpec>,
}

/// How the service treats an input's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Floating-point values, attributed by their magnitude.
    Numeric,
    /// Integer, boolean or single-string values: ids, labels, categories —
    /// choices from a set, with no gradient.
    Categorical,
    /// Strings with per-example dimensions: a sequence of tokens.
    Text,
}

impl Modality {
    /// Decided by dtype alone (what the signature knows): floats are
    /// numeric; integers and booleans categorical (in a TF1 serving graph
    /// they are ids and indices, which no gradient flows through); strings
    /// categorical when one per example, text when each example holds
    /// several. Other dtypes get none.
    pub fn of(input: &TensorSpec) -> Option<Modality> {
        use DataType::*;
        match input.dtype {
            DtFloat | DtDouble | DtHalf | DtBfloat16 => Some(Modality::Numeric),
            DtInt8 | DtInt16 | DtInt32 | DtInt64 | DtUint8 | DtUint16 | DtUint32 | DtUint64
            | DtBool => Some(Modality::Categorical),
            DtString => match per_example_shape(input) {
                Some(dims) if !dims.is_empty() => Some(Modality::Text),
                _ => Some(Modality::Categorical),
            },
            _ => None,
        }
    }
}

/// The file's contents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplanationMetadata {
    pub inputs: BTreeMap<String, InputMetadata>,
    pub outputs: BTreeMap<String, OutputMetadata>,
    pub framework: String,
}

/// One signature input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputMetadata {
    pub input_tensor_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input_baselines: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    /// A sparse input's indices (`node:port`); its values are
    /// `input_tensor_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indices_tensor_name: Option<String>,
    /// A sparse input's dense shape (`node:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_shape_tensor_name: Option<String>,
}

/// The explained output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputMetadata {
    pub output_tensor_name: String,
}

/// What the export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplanationReport {
    /// The file, relative to the export.
    pub file: String,
    pub bytes: u64,
    /// The signature output key explained.
    pub output: String,
    /// Each input key with its modality and how many baselines it has.
    pub inputs: Vec<ExplainedInput>,
}

/// One input as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedInput {
    pub key: String,
    pub modality: Option<Modality>,
    pub baselines: usize,
}

impl ExplanationMetadata {
    /// The metadata of signature `name` of `signatures`.
    pub fn of_signature(
        signatures: &BTreeMap<String, Signature>,
        name: &str,
        options: &ExplanationOptions,
    ) -> Result<ExplanationMetadata, ExplainError> {
        ExplanationMetadata::of_served(signatures, name, None, options)
    }

    /// [`ExplanationMetadata::of_signature`] of a signature that takes
    /// serialized tf.Examples: the services attribute to tensors the
    /// model computes with, never to a serialized proto, so each input is
    /// a parsed feature (by its key, a var-len one with its indices and
    /// dense shape); the outputs are the signature's.
    pub fn of_served(
        signatures: &BTreeMap<String, Signature>,
        name: &str,
        features: Option<&[Feature]>,
        options: &ExplanationOptions,
    ) -> Result<ExplanationMetadata, ExplainError> {
        let served = signatures
            .get(name)
            .ok_or_else(|| ExplainError::NoSignature {
                signature: name.into(),
            })?;
        let parsed = features.map(|features| Signature {
            method_name: served.method_name.clone(),
            inputs: features.iter().map(feature_input).collect(),
            outputs: served.outputs.clone(),
        });
        let signature = parsed.as_ref().unwrap_or(served);
        let mut inputs: BTreeMap<String, InputMetadata> = signature
            .inputs
            .iter()
            .map(|(key, input)| (key.clone(), input_metadata(input)))
            .collect();
        for feature in features.unwrap_or_default() {
            if let (Some(input), Some(sparse)) =
                (inputs.get_mut(&feature.key), &feature.sparse_tensors)
            {
                input.indices_tensor_name = Some(tensor_name(&sparse.indices));
                input.dense_shape_tensor_name = Some(tensor_name(&sparse.dense_shape));
            }
        }
        for spec in &options.baselines {
            add_baseline(&mut inputs, signature, name, spec)?;
        }
        let (key, output) = explained_output(signature, name, options.output.as_deref())?;
        let output = OutputMetadata {
            output_tensor_name: tensor_name(&output.name),
        };
        Ok(ExplanationMetadata {
            inputs,
            outputs: BTreeMap::from([(key, output)]),
            framework: FRAMEWORK.into(),
        })
    }

    /// The file's bytes: pretty JSON, ending in a newline.
    pub fn to_file(&self) -> Result<Bytes, ExplainError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| ExplainError::Encode {
            reason: e.to_string(),
        })?;
        text.push('\n');
        Ok(Bytes::from(text))
    }

    /// The report of this metadata written as `bytes` bytes.
    pub fn report(&self, bytes: u64) -> ExplanationReport {
        let inputs = self.inputs.iter().map(|(key, input)| ExplainedInput {
            key: key.clone(),
            modality: input.modality,
            baselines: input.input_baselines.len(),
        });
        ExplanationReport {
            file: EXPLANATION_METADATA_FILE.into(),
            bytes,
            output: self.outputs.keys().next().cloned().unwrap_or_default(),
            inputs: inputs.collect(),
        }
    }
}

fn input_metadata(input: &TensorSpec) -> InputMetadata {
    InputMetadata {
        input_tensor_name: tensor_name(&input.name),
        input_baselines: Vec::new(),
        modality: Modality::of(input),
        indices_tensor_name: None,
        dense_shape_tensor_name: None,
    }
}

/// A parsed feature as an input: its tensor, batched; a var-len
/// feature's values are one list per batch.
fn feature_input(feature: &Feature) -> (String, TensorSpec) {
    let shape = match &feature.shape {
        Some(dims) => std::iter::once(-1).chain(dims.iter().copied()).collect(),
        None => vec![-1],
    };
    let spec = TensorSpec {
        name: feature.tensor.clone(),
        dtype: feature.dtype,
        shape: Some(shape),
    };
    (feature.key.clone(), spec)
}

/// `node:port`, the form the services look tensors up by (`node` alone
/// means port 0).
fn tensor_name(name: &str) -> String {
    match crate::ir::parse_tensor_name(name) {
        Ok((node, port)) => format!("{node}:{port}"),
        Err(_) => name.into(),
    }
}

fn add_baseline(
    inputs: &mut BTreeMap<String, InputMetadata>,
    signature: &Signature,
    name: &str,
    spec: &BaselineSpec,
) -> Result<(), ExplainError> {
    let unknown = || ExplainError::UnknownInput {
        key: spec.key.clone(),
        signature: name.into(),
        keys: signature.inputs.keys().cloned().collect(),
    };
    let input = signature.inputs.get(&spec.key).ok_or_else(unknown)?;
    let baseline = spec.to_json(input)?;
    let entry = inputs.get_mut(&spec.key).ok_or_else(unknown)?;
    entry.input_baselines.push(baseline);
    Ok(())
}

/// The output to explain: the one asked for, or else the signature's only
/// floating-point output.
fn explained_output<'a>(
    signature: &'a Signature,
    name: &str,
    asked: Option<&str>,
) -> Result<(String, &'a TensorSpec), ExplainError> {
    match asked {
        Some(key) => asked_output(signature, name, key),
        None => only_float_output(signature, name),
    }
}

/// Output `key`, which must exist and be floating-point.
fn asked_output<'a>(
    signature: &'a Signature,
    name: &str,
    key: &str,
) -> Result<(String, &'a TensorSpec), ExplainError> {
    let output = signature
        .outputs
        .get(key)
        .ok_or_else(|| ExplainError::UnknownOutput {
            key: key.into(),
            signature: name.into(),
            keys: signature.outputs.keys().cloned().collect(),
        })?;
    if Modality::of(output) != Some(Modality::Numeric) {
        return Err(ExplainError::NotNumeric {
            key: key.into(),
            dtype: dtype_name(output.dtype as i32),
        });
    }
    Ok((key.into(), output))
}

/// The one floating-point output; none or several is an error listing them.
fn only_float_output<'a>(
    signature: &'a Signature,
    name: &str,
) -> Result<(String, &'a TensorSpec), ExplainError> {
    let numeric: Vec<(&String, &TensorSpec)> = signature
        .outputs
        .iter()
        .filter(|(_, output)| Modality::of(output) == Some(Modality::Numeric))
        .collect();
    match numeric.as_slice() {
        [(key, output)] => Ok(((*key).clone(), output)),
        [] => Err(ExplainError::NoNumericOutput {
            signature: name.into(),
            outputs: signature
                .outputs
                .iter()
                .map(|(key, output)| format!("{key} ({})", dtype_name(output.dtype as i32)))
                .collect(),
        }),
        several => Err(ExplainError::AmbiguousOutput {
            signature: name.into(),
            candidates: several.iter().map(|(key, _)| (*key).clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests;
