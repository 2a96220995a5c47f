//! Signatures carry their outputs' shapes, as TensorFlow's own exports do
//! (`[-1, 10]`): once the serving graph is final, shape inference runs over
//! it from each signature's inputs (their first dimension the batch) and
//! fills in what the signature's outputs leave unknown. The batch and
//! dimensions inference cannot tell stay `-1`, and so does any leading
//! dimension of a signature with batched inputs: a known size there would
//! be the training batch baked into the graph, which the signature must not
//! promise as if it were the model's.

use std::collections::HashMap;

use super::{Pass, PassContext, PassError, PassReport};
use crate::ir::{AttrExt, Graph, TensorRef};
use crate::model::{Model, Signature, TensorSpec};
use crate::ops::shapes::{Dim, Fact, Inference, Shape};

/// Fills in the signature outputs' shapes from shape inference.
pub struct OutputShapesPass;

impl Pass for OutputShapesPass {
    fn name(&self) -> &'static str {
        "output-shapes"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut signatures = std::mem::take(&mut model.signatures);
        for (key, signature) in &mut signatures {
            let seeds = seeds(&model.graph, signature);
            let batched = seeds.values().any(|f| f.shape.dim(0) == Some(Dim::Batch));
            let inference = cx.shapes.infer(model, &seeds)?;
            let filled = fill_outputs(&model.graph, signature, &inference, batched);
            if filled > 0 {
                report.note(format!(
                    "signature {key:?}: {filled} output shapes inferred"
                ));
            }
        }
        model.signatures = signatures;
        Ok(report)
    }

    /// Only the signatures change.
    fn keeps_shapes(&self) -> bool {
        true
    }
}

/// Each signature input as inference starts from it: its dtype and shape
/// (the placeholder's own shape and dtype when it states them, since that
/// is what the graph runs with), a leading `-1` the batch.
pub fn seeds(graph: &Graph, signature: &Signature) -> HashMap<TensorRef, Fact> {
    let inputs = signature.inputs.values();
    let found = inputs.filter_map(|spec| {
        let tensor = graph.tensor(&spec.name).ok()?;
        let node = graph.node(tensor.node);
        let stated = (node.op == "Placeholder")
            .then(|| node.attr_dims("shape").ok().flatten())
            .flatten();
        let mut spec = spec.clone();
        if let Some(dims) = stated {
            spec.shape = Some(dims);
        }
        if let Some(dtype) = node
            .attr_type("dtype")
            .ok()
            .filter(|_| node.op == "Placeholder")
        {
            spec.dtype = dtype;
        }
        Some((tensor, input_fact(&spec)))
    });
    found.collect()
}

/// A signature input's fact: a leading `-1` is the batch.
pub fn input_fact(spec: &TensorSpec) -> Fact {
    let shape = match &spec.shape {
        Some(dims) => Shape::Ranked(
            dims.iter()
                .enumerate()
                .map(|(i, &d)| {
                    if i == 0 && d < 0 {
                        Dim::Batch
                    } else {
                        Dim::of(d)
                    }
                })
                .collect(),
        ),
        None => Shape::Unknown,
    };
    Fact::of(Some(spec.dtype), shape)
}

/// Fills each output's unknown rank or unknown dimensions with what
/// inference knows (the leading one only when no input is `batched`);
/// returns how many outputs gained something.
fn fill_outputs(
    graph: &Graph,
    signature: &mut Signature,
    inference: &Inference,
    batched: bool,
) -> usize {
    let mut filled = 0;
    for spec in signature.outputs.values_mut() {
        let Ok(tensor) = graph.tensor(&spec.name) else {
            continue;
        };
        let shape = inference.shape(tensor);
        let Some(mut inferred) = shape.proto_dims() else {
            continue;
        };
        if batched && let Some(first) = inferred.first_mut() {
            *first = -1;
        }
        // A leading size the training graph stated (its batch, baked into a
        // Fill or Tile that the batch rewrite made follow the input) gives
        // way when inference finds the dimension is the serving batch.
        let follows_batch = batched && shape.dim(0) == Some(Dim::Batch);
        let merged = match &spec.shape {
            None => Some(inferred),
            Some(stated) if stated.len() == inferred.len() => Some(
                stated
                    .iter()
                    .zip(&inferred)
                    .enumerate()
                    .map(|(d, (&s, &i))| {
                        if s < 0 || (d == 0 && follows_batch) {
                            i
                        } else {
                            s
                        }
                    })
                    .collect(),
            ),
            Some(_) => None,
        };
        if let Some(merged) = merged
            && spec.shape.as_ref() != Some(&merged)
        {
            spec.shape = Some(merged);
            filled += 1;
        }
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{DataType, TensorProto};
    use crate::passes::testing::{TestNode, node, serving_model};

    /// `x`, a float placeholder `[-1, 4]`, and `w`, a float variable `[4, 3]`.
    fn input_and_weights() -> [TestNode; 2] {
        let mut x = node("x", "Placeholder", &[]).with_type("dtype", DataType::DtFloat);
        x.set_attr_shape("shape", Some(&[-1, 4]));
        let mut w = node("w", "VariableV2", &[]).with_type("dtype", DataType::DtFloat);
        w.set_attr_shape("shape", Some(&[4, 3]));
        [x, w]
    }

    /// The serving signature, with `x:0` its input `x` (`[-1, 4]`).
    fn served_from_x(model: &mut Model) -> &mut Signature {
        let signature = model.signatures.get_mut("serving_default").unwrap();
        let input = TensorSpec {
            name: "x:0".into(),
            dtype: DataType::DtFloat,
            shape: Some(vec![-1, 4]),
        };
        signature.inputs.insert("x".into(), input);
        signature
    }

    /// A graph without `_output_shapes`: `x [-1, 4] @ w [4, 3]`, then a
    /// softmax. The output's shape is inferred as TensorFlow writes it.
    #[test]
    fn an_output_without_a_stated_shape_gets_the_inferred_one() {
        let [x, w] = input_and_weights();
        let matmul = node("mm", "MatMul", &["x", "w"]).with_type("T", DataType::DtFloat);
        let softmax = node("y", "Softmax", &["mm"]).with_type("T", DataType::DtFloat);
        let mut model = serving_model(vec![x, w, matmul, softmax], "y:0");
        served_from_x(&mut model);
        let report = OutputShapesPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let output = &model.signatures["serving_default"].outputs["y"];
        assert_eq!(output.shape, Some(vec![-1, 3]));
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    }

    /// `x [-1, 4]` served through `y = x @ w` and through a `Fill` of a
    /// constant `[6, 3]`; both outputs stated `[6, 3]` by the training
    /// graph. The one that follows the batch gives up the stated 6; the
    /// truly fixed one keeps it.
    #[test]
    fn a_stated_training_batch_gives_way_to_the_serving_batch() {
        let [x, w] = input_and_weights();
        let matmul = node("y", "MatMul", &["x", "w"]).with_type("T", DataType::DtFloat);
        let mut dims = node("dims", "Const", &[]).with_type("dtype", DataType::DtInt32);
        dims.set_attr_tensor(
            "value",
            TensorProto {
                dtype: DataType::DtInt32 as i32,
                tensor_shape: Some(crate::typing::shape_proto(&[2])),
                int_val: vec![6, 3],
                ..TensorProto::default()
            },
        );
        let mut zero = node("zero", "Const", &[]).with_type("dtype", DataType::DtFloat);
        zero.set_attr_tensor(
            "value",
            TensorProto {
                dtype: DataType::DtFloat as i32,
                tensor_shape: Some(crate::typing::shape_proto(&[])),
                float_val: vec![0.0],
                ..TensorProto::default()
            },
        );
        let fill = node("fixed", "Fill", &["dims", "zero"]).with_type("T", DataType::DtFloat);
        let mut model = serving_model(vec![x, w, matmul, dims, zero, fill], "y:0");
        let signature = served_from_x(&mut model);
        signature.outputs.get_mut("y").unwrap().shape = Some(vec![6, 3]);
        let fixed = TensorSpec {
            name: "fixed:0".into(),
            dtype: DataType::DtFloat,
            shape: Some(vec![6, 3]),
        };
        signature.outputs.insert("fixed".into(), fixed);
        OutputShapesPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let outputs = &model.signatures["serving_default"].outputs;
        assert_eq!(outputs["y"].shape, Some(vec![-1, 3]));
        assert_eq!(outputs["fixed"].shape, Some(vec![6, 3]));
    }
}
