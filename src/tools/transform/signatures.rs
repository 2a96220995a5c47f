//! A SavedModel source's signatures, which the reader leaves out of the
//! model (export writes its own): a transformed SavedModel keeps them, and
//! they name the nodes the transforms must keep.

use std::collections::BTreeMap;
use std::path::Path;

use super::TransformError;
use crate::export::error::Error;
use crate::format::proto::{DataType, SignatureDef, TensorInfo, tensor_info};
use crate::model::{Signature, TensorSpec};

/// The signatures of the MetaGraphDef tagged `tags` in `dir`.
pub fn read_signatures(dir: &Path, tags: &[String]) -> Result<BTreeMap<String, Signature>, Error> {
    let (meta_graph, _) = crate::front::read::read_saved_model(dir, tags)?;
    meta_graph
        .signature_def
        .iter()
        .map(|(key, def)| Ok((key.clone(), signature(dir, key, def)?)))
        .collect()
}

fn signature(dir: &Path, key: &str, def: &SignatureDef) -> Result<Signature, TransformError> {
    let specs = |infos: &BTreeMap<String, TensorInfo>| {
        infos
            .iter()
            .map(|(name, info)| Ok((name.clone(), spec(dir, key, name, info)?)))
            .collect::<Result<BTreeMap<_, _>, TransformError>>()
    };
    Ok(Signature {
        method_name: def.method_name.clone(),
        inputs: specs(&def.inputs)?,
        outputs: specs(&def.outputs)?,
    })
}

fn spec(
    dir: &Path,
    key: &str,
    name: &str,
    info: &TensorInfo,
) -> Result<TensorSpec, TransformError> {
    let Some(tensor_info::Encoding::Name(tensor)) = &info.encoding else {
        return Err(TransformError::CompositeSignatureTensor {
            path: dir.to_path_buf(),
            signature: key.into(),
            tensor: name.into(),
        });
    };
    Ok(TensorSpec {
        name: tensor.clone(),
        dtype: DataType::try_from(info.dtype).unwrap_or(DataType::DtInvalid),
        shape: info.tensor_shape.as_ref().and_then(crate::typing::dims),
    })
}
