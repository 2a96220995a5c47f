//! A SparseTensor input of a predict signature: the three tensors of an
//! `--input KEY=INDICES,VALUES,DENSE_SHAPE` each become a placeholder, and
//! the signature takes them as `KEY_indices` (int64 `[-1, rank]`),
//! `KEY_values` (`[-1]`) and `KEY_dense_shape` (int64 `[rank]`) — plain
//! arrays a REST client can send.
//!
//! The three tensors are checked to be a plausible SparseTensor first, so a
//! typo that names a dense tensor fails with the part and tensor named
//! instead of producing a graph TensorFlow rejects at load time.

use super::{PassError, PassReport};
use crate::ir::{DataType, TensorRef};
use crate::model::{Model, TensorSpec};
use crate::typing;

/// The signature key suffixes of a sparse input's components, in the order
/// `indices, values, dense_shape`.
pub const SPARSE_SUFFIXES: [&str; 3] = ["indices", "values", "dense_shape"];

/// The resolved tensors of one sparse input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseTensors {
    pub indices: TensorRef,
    pub values: TensorRef,
    pub dense_shape: TensorRef,
}

/// The signature key of component `suffix` of sparse input `key`.
pub fn component_key(key: &str, suffix: &str) -> String {
    format!("{key}_{suffix}")
}

/// A sparse component's dtype and stated shape, for checking.
struct Component {
    dtype: DataType,
    shape: Option<Vec<i64>>,
}

fn component(model: &Model, tensor: TensorRef) -> Result<Component, PassError> {
    let node = model.graph.node(tensor.node);
    let dtype = typing::output_dtype(
        &node.op,
        &node.attrs,
        tensor.port,
        model.op_defs.get(&node.op),
    )
    .ok_or_else(|| PassError::UnknownDtype {
        tensor: model.graph.tensor_name(tensor),
        op: node.op.clone(),
    })?;
    let shape = typing::stated_output_shape(&node.op, &node.attrs, tensor.port);
    Ok(Component { dtype, shape })
}

/// The signature entries of a sparse input (dtype and serving shape of each
/// component), after checking the three tensors form a SparseTensor:
/// int64 indices of rank 2, values of rank 1, int64 dense_shape of rank 1,
/// and a rank the indices and dense_shape agree on.
pub fn sparse_signature(
    model: &Model,
    key: &str,
    tensors: &SparseTensors,
) -> Result<[(String, DataType, Vec<i64>); 3], PassError> {
    let name = |t: TensorRef| model.graph.tensor_name(t);
    let bad = |part: &'static str, t: TensorRef, reason: String| PassError::NotSparse {
        key: key.to_string(),
        part,
        tensor: name(t),
        reason,
    };
    let indices = component(model, tensors.indices)?;
    let values = component(model, tensors.values)?;
    let dense_shape = component(model, tensors.dense_shape)?;
    for (part, t, c) in [
        ("indices", tensors.indices, &indices),
        ("dense_shape", tensors.dense_shape, &dense_shape),
    ] {
        if c.dtype != DataType::DtInt64 {
            return Err(bad(part, t, format!("it is {:?}, not int64", c.dtype)));
        }
    }
    let rank_of = |c: &Component| c.shape.as_ref().map(Vec::len);
    let expect_rank = |part, t, c: &Component, want: usize| match rank_of(c) {
        Some(rank) if rank != want => Err(bad(part, t, format!("it has rank {rank}, not {want}"))),
        _ => Ok(()),
    };
    expect_rank("indices", tensors.indices, &indices, 2)?;
    expect_rank("values", tensors.values, &values, 1)?;
    expect_rank("dense_shape", tensors.dense_shape, &dense_shape, 1)?;
    let known = |dims: &Option<Vec<i64>>, at: usize| {
        dims.as_ref()
            .and_then(|d| d.get(at).copied())
            .filter(|&d| d >= 0)
    };
    let rank = match (known(&indices.shape, 1), known(&dense_shape.shape, 0)) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad(
                "dense_shape",
                tensors.dense_shape,
                format!("it has {b} dimensions but the indices have {a} columns"),
            ));
        }
        (a, b) => a.or(b).unwrap_or(-1),
    };
    Ok([
        (
            component_key(key, "indices"),
            DataType::DtInt64,
            vec![-1, rank],
        ),
        (component_key(key, "values"), values.dtype, vec![-1]),
        (
            component_key(key, "dense_shape"),
            DataType::DtInt64,
            vec![rank],
        ),
    ])
}

/// Replaces the three tensors of sparse input `key` with placeholders and
/// returns their signature entries, keyed `KEY_indices`, `KEY_values`,
/// `KEY_dense_shape`.
pub fn serve_sparse(
    model: &mut Model,
    key: &str,
    tensors: &SparseTensors,
    report: &mut PassReport,
) -> Result<Vec<(String, TensorSpec)>, PassError> {
    let entries = sparse_signature(model, key, tensors)?;
    let parts = [tensors.indices, tensors.values, tensors.dense_shape];
    let mut specs = Vec::with_capacity(3);
    for ((signature_key, dtype, shape), tensor) in entries.into_iter().zip(parts) {
        let placeholder = super::placeholder::replace_with_placeholder(
            model,
            tensor,
            &signature_key,
            dtype,
            Some(&shape),
            report,
        )?;
        let spec = TensorSpec {
            name: format!("{placeholder}:0"),
            dtype,
            shape: Some(shape),
        };
        specs.push((signature_key, spec));
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::OpDef;
    use crate::format::proto::op_def::ArgDef;
    use crate::passes::inputs::InputsPass;
    use crate::passes::testing::{model, node};
    use crate::passes::{Pass, PassContext, ServingSpec};

    /// A `DeserializeSparse` whose three outputs feed a `SparseReshape`-like
    /// consumer, with the shapes TensorFlow states for a rank-2 string
    /// SparseTensor.
    fn sparse_model() -> Model {
        let mut deserialize = node("DeserializeSparse", "DeserializeSparse", &["it:5"])
            .with_type("dtype", DataType::DtString);
        deserialize
            .set_attr_list_shape("_output_shapes", &[Some(&[-1, 2]), Some(&[-1]), Some(&[2])]);
        let mut m = model(vec![
            node("it", "IteratorGetNext", &[]),
            deserialize,
            node(
                "use",
                "SparseToDense",
                &[
                    "DeserializeSparse:0",
                    "DeserializeSparse:2",
                    "DeserializeSparse:1",
                    "d",
                ],
            )
            .with_type("T", DataType::DtString)
            .with_type("Tindices", DataType::DtInt64),
            node("d", "Const", &[]).with_type("dtype", DataType::DtString),
        ]);
        m.op_defs
            .insert("DeserializeSparse".into(), deserialize_sparse_def());
        m
    }

    /// The output arguments of TensorFlow's `DeserializeSparse`.
    fn deserialize_sparse_def() -> OpDef {
        let typed = |dtype: DataType| ArgDef {
            r#type: dtype as i32,
            ..ArgDef::default()
        };
        let values = ArgDef {
            type_attr: "dtype".into(),
            ..ArgDef::default()
        };
        OpDef {
            name: "DeserializeSparse".into(),
            output_arg: vec![typed(DataType::DtInt64), values, typed(DataType::DtInt64)],
            ..OpDef::default()
        }
    }

    fn run(model: &mut Model, input: &str) -> Result<Vec<(String, Vec<i64>)>, PassError> {
        let spec = ServingSpec {
            inputs: vec![input.parse().unwrap()],
            outputs: vec!["y=use:0".parse().unwrap()],
            ..Default::default()
        };
        InputsPass::new(&spec).run(model, &mut PassContext::new())?;
        let signature = &model.signatures[crate::model::DEFAULT_SIGNATURE];
        Ok(signature
            .inputs
            .iter()
            .map(|(k, s)| (k.clone(), s.shape.clone().unwrap_or_default()))
            .collect())
    }

    #[test]
    fn a_sparse_input_becomes_three_placeholders() {
        let mut m = sparse_model();
        let inputs = run(
            &mut m,
            "tags=DeserializeSparse:0,DeserializeSparse:1,DeserializeSparse:2",
        )
        .unwrap();
        assert_eq!(
            inputs,
            [
                ("tags_dense_shape".to_string(), vec![2]),
                ("tags_indices".to_string(), vec![-1, 2]),
                ("tags_values".to_string(), vec![-1]),
            ]
        );
        let g = &m.graph;
        let user = g.find("use").unwrap();
        let fed: Vec<String> = g
            .data_inputs(user)
            .into_iter()
            .map(|t| g.tensor_name(t))
            .collect();
        assert_eq!(
            fed[..3],
            ["tags_indices:0", "tags_dense_shape:0", "tags_values:0"]
        );
        let values = g.find("tags_values").unwrap();
        assert_eq!(g.op(values), "Placeholder");
    }

    #[test]
    fn components_that_are_not_a_sparse_tensor_are_refused_by_part() {
        // Values given as the indices: a string tensor is not int64.
        let err = run(
            &mut sparse_model(),
            "tags=DeserializeSparse:1,DeserializeSparse:0,DeserializeSparse:2",
        )
        .unwrap_err();
        assert!(
            matches!(&err, PassError::NotSparse { key, part: "indices", tensor, .. }
                if key == "tags" && tensor == "DeserializeSparse:1"),
            "{err}"
        );
        // The dense shape given as the indices: rank 1, not 2.
        let err = run(
            &mut sparse_model(),
            "tags=DeserializeSparse:2,DeserializeSparse:1,DeserializeSparse:0",
        )
        .unwrap_err();
        assert!(
            matches!(
                &err,
                PassError::NotSparse {
                    part: "indices",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("rank 1, not 2"), "{err}");
        let err = run(
            &mut sparse_model(),
            "tags=DeserializeSparse:0,DeserializeSparse:1,DeserializeSparse:5",
        )
        .unwrap_err();
        assert!(matches!(&err, PassError::Check(_)), "{err}");
    }
}
