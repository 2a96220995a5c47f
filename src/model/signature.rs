//! Signatures as the model holds them: named input and output tensors and a
//! method. Passes build them; the one conversion to and from TensorFlow's
//! `SignatureDef` is here, for the writer and for whatever reads one.

use std::collections::BTreeMap;

use crate::format::proto::tensor_info::Encoding;
use crate::format::proto::{DataType, SignatureDef, TensorInfo};

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

impl TensorSpec {
    /// The `TensorInfo` a SignatureDef holds for this tensor: by name, with
    /// its dtype and shape (an unknown rank as such).
    pub fn to_tensor_info(&self) -> TensorInfo {
        TensorInfo {
            encoding: Some(Encoding::Name(self.name.clone())),
            dtype: self.dtype as i32,
            tensor_shape: Some(crate::format::dtypes::shape_proto_or_unknown(
                self.shape.as_deref(),
            )),
        }
    }

    /// A `TensorInfo` as the model holds it: its name (empty for a sparse or
    /// composite tensor, which has none), dtype and stated shape.
    pub fn from_tensor_info(info: &TensorInfo) -> TensorSpec {
        let name = match &info.encoding {
            Some(Encoding::Name(name)) => name.clone(),
            _ => String::new(),
        };
        TensorSpec {
            name,
            dtype: DataType::try_from(info.dtype).unwrap_or(DataType::DtInvalid),
            shape: info
                .tensor_shape
                .as_ref()
                .and_then(crate::format::dtypes::dims),
        }
    }
}

impl Signature {
    /// The `SignatureDef` TensorFlow reads (no default values).
    pub fn to_signature_def(&self) -> SignatureDef {
        let infos = |specs: &BTreeMap<String, TensorSpec>| {
            specs
                .iter()
                .map(|(key, spec)| (key.clone(), spec.to_tensor_info()))
                .collect()
        };
        SignatureDef {
            inputs: infos(&self.inputs),
            outputs: infos(&self.outputs),
            method_name: self.method_name.clone(),
            defaults: BTreeMap::new(),
        }
    }

    /// A `SignatureDef` as the model holds it (its default values aside).
    pub fn from_signature_def(def: &SignatureDef) -> Signature {
        let specs = |infos: &BTreeMap<String, TensorInfo>| {
            infos
                .iter()
                .map(|(key, info)| (key.clone(), TensorSpec::from_tensor_info(info)))
                .collect()
        };
        Signature {
            method_name: def.method_name.clone(),
            inputs: specs(&def.inputs),
            outputs: specs(&def.outputs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::tensor_info::CooSparse;

    #[test]
    fn a_signature_survives_its_signature_def_and_a_sparse_tensor_keeps_no_name() {
        let spec = |name: &str, shape| TensorSpec {
            name: name.into(),
            dtype: DataType::DtFloat,
            shape,
        };
        let signature = Signature {
            method_name: PREDICT_METHOD.into(),
            inputs: BTreeMap::from([("x".into(), spec("x:0", Some(vec![-1, 4])))]),
            outputs: BTreeMap::from([("y".into(), spec("y/BiasAdd:0", None))]),
        };
        let def = signature.to_signature_def();
        assert_eq!(
            def.outputs["y"]
                .tensor_shape
                .as_ref()
                .map(|s| s.unknown_rank),
            Some(true)
        );
        assert_eq!(Signature::from_signature_def(&def), signature);

        let mut sparse = def.inputs["x"].clone();
        sparse.encoding = Some(Encoding::CooSparse(CooSparse::default()));
        let read = TensorSpec::from_tensor_info(&sparse);
        assert_eq!((read.name.as_str(), read.shape), ("", Some(vec![-1, 4])));
    }
}
