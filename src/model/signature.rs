//! Signatures as the model holds them: named input and output tensors and a
//! method. The writer turns them into `SignatureDef`s; passes build them.

use std::collections::BTreeMap;

use crate::format::proto::DataType;

/// The signature key TensorFlow Serving uses when a request names none.
pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// The method name of predict signatures.
pub const PREDICT_METHOD: &str = "tensorflow/serving/predict";
/// The tag TensorFlow Serving loads.
pub const SERVE_TAG: &str = "serve";

/// A tensor as a signature names it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TensorSpec {
    /// `node:port`.
    pub name: String,
    #[serde(serialize_with = "serialize_dtype")]
    pub dtype: DataType,
    /// `None`: unknown rank; `-1`: an unknown dimension.
    pub shape: Option<Vec<i64>>,
}

/// Dtypes appear in reports by their Python names (`float32`), not as numbers.
fn serialize_dtype<S: serde::Serializer>(
    dtype: &DataType,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::typing::dtype_name(*dtype as i32))
}

/// One signature: named inputs and outputs and a method.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Signature {
    pub method_name: String,
    pub inputs: BTreeMap<String, TensorSpec>,
    pub outputs: BTreeMap<String, TensorSpec>,
}
