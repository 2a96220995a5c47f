use super::*;
use crate::ir::AttrExt;
use crate::passes::inputs::InputsPass;
use crate::passes::testing::{TestNode, model, node};

fn placeholder(name: &str, dtype: DataType, shape: Option<&[i64]>) -> TestNode {
    let mut node = node(name, "Placeholder", &[]).with_type("dtype", dtype);
    node.set_attr_shape("shape", shape);
    node
}

/// Runs the inputs pass then the examples pass with these specs.
fn parse(
    model: &mut Model,
    inputs: &[&str],
    outputs: &[&str],
) -> Result<(PassReport, PassContext), PassError> {
    let spec = ServingSpec {
        inputs: inputs.iter().map(|s| s.parse().unwrap()).collect(),
        outputs: outputs.iter().map(|s| s.parse().unwrap()).collect(),
        examples: true,
        ..ServingSpec::default()
    };
    let mut cx = PassContext::new();
    InputsPass::new(&spec).run(model, &mut cx)?;
    let report = ExamplesPass::new(&spec).run(model, &mut cx)?;
    Ok((report, cx))
}

/// `out = x * Cast(ids)`: a float32 [-1, 4] and an int32 [-1, 4] input.
fn two_inputs(ids_shape: Option<&[i64]>) -> Model {
    model(vec![
        placeholder("x", DataType::DtFloat, Some(&[-1, 4])),
        placeholder("ids", DataType::DtInt32, ids_shape),
        node("ids_f", "Cast", &["ids"])
            .with_type("SrcT", DataType::DtInt32)
            .with_type("DstT", DataType::DtFloat),
        node("out", "Mul", &["x", "ids_f"]).with_type("T", DataType::DtFloat),
    ])
}

fn producer(model: &Model, consumer: &str, slot: usize) -> String {
    let g = &model.graph;
    let input = g.data_input(g.find(consumer).unwrap(), slot).unwrap();
    g.tensor_name(input)
}

#[test]
fn dense_inputs_become_fixed_len_features_of_one_parse() {
    let mut model = two_inputs(Some(&[-1, 4]));
    let (_, cx) = parse(&mut model, &["x=x", "ids=ids:default=7"], &["y=out:0"]).unwrap();
    let g = &model.graph;
    let parse = g.node(g.find("ParseExample/ParseExampleV2").unwrap());
    assert_eq!(
        parse.attr_list_type("Tdense").unwrap(),
        [DataType::DtInt64, DataType::DtFloat],
        "keys sorted: ids, x; int32 carried as int64"
    );
    assert_eq!(parse.attr_int("num_sparse").unwrap(), 0);
    assert_eq!(
        parse.attr_list_dims("dense_shapes").unwrap(),
        [Some(vec![4]), Some(vec![4])]
    );
    assert_eq!(producer(&model, "out", 0), "ParseExample/ParseExampleV2:1");
    assert_eq!(producer(&model, "ids_f", 0), "ParseExample/cast/ids:0");
    assert_eq!(
        producer(&model, "ParseExample/cast/ids", 0),
        "ParseExample/ParseExampleV2:0"
    );
    let default = g.node(g.find("ParseExample/defaults/ids").unwrap());
    let default = Tensor::from_proto(default.attr_tensor("value").unwrap()).unwrap();
    assert_eq!(default.values, Values::I64(vec![7; 4]));
    let required = g.node(g.find("ParseExample/defaults/x").unwrap());
    let required = Tensor::from_proto(required.attr_tensor("value").unwrap()).unwrap();
    assert_eq!(required.shape, [0]);
    let signature = &model.signatures[DEFAULT_SIGNATURE];
    let inputs: Vec<(&String, &str, DataType)> = signature
        .inputs
        .iter()
        .map(|(k, t)| (k, t.name.as_str(), t.dtype))
        .collect();
    assert_eq!(
        inputs,
        [(&"examples".to_string(), "examples:0", DataType::DtString)]
    );
    let features = cx.example_features.unwrap();
    assert_eq!(
        features[0].to_string(),
        "ids: fixed int32 [4] (carried as int64, cast), default 7"
    );
    assert_eq!(features[1].to_string(), "x: fixed float32 [4], required");
}

#[test]
fn an_unknown_per_example_shape_names_the_input_and_the_fix() {
    let mut model = two_inputs(Some(&[-1, -1]));
    let err = parse(&mut model, &["x=x", "ids=ids"], &["y=out:0"]).unwrap_err();
    assert!(
        matches!(&err, PassError::Examples(ExamplesError::UnknownShape { key, .. }) if key == "ids"),
        "{err}"
    );
    assert!(err.to_string().contains("shape must be given"), "{err}");
    let mut model = two_inputs(None);
    let err = parse(&mut model, &["x=x", "ids=ids"], &["y=out:0"]).unwrap_err();
    assert!(err.to_string().contains("shape unknown"), "{err}");
    let mut model = two_inputs(Some(&[-1, -1]));
    parse(&mut model, &["x=x", "ids=ids:shape=-1,4"], &["y=out:0"]).unwrap();
}

#[test]
fn a_dtype_tf_example_cannot_carry_is_named() {
    let mut model = model(vec![
        placeholder("z", DataType::DtComplex64, Some(&[-1, 2])),
        node("out", "Abs", &["z"]).with_type("T", DataType::DtComplex64),
    ]);
    let err = parse(&mut model, &["z=z"], &["y=out:0"]).unwrap_err();
    assert!(
        matches!(&err, PassError::Examples(ExamplesError::NoCarrier { key, dtype }) if key == "z" && dtype == "complex64"),
        "{err}"
    );
}

#[test]
fn a_bad_default_is_named_with_its_input() {
    let mut model = two_inputs(Some(&[-1, 4]));
    let err = parse(&mut model, &["x=x:default=1,2", "ids=ids"], &["y=out:0"]).unwrap_err();
    assert!(
        matches!(&err, PassError::Examples(ExamplesError::DefaultCount { key, given: 2, expected: 4 }) if key == "x"),
        "{err}"
    );
}

/// A model as the inputs pass leaves a sparse input `tags` (three
/// placeholders and their signature inputs) and a dense `x`.
fn sparse_model(rank: i64) -> Model {
    let mut model = model(vec![
        placeholder("tags_indices", DataType::DtInt64, Some(&[-1, rank])),
        placeholder("tags_values", DataType::DtInt32, Some(&[-1])),
        placeholder("tags_dense_shape", DataType::DtInt64, Some(&[rank])),
        node(
            "sum",
            "SparseReduceSum",
            &["tags_indices", "tags_values", "tags_dense_shape", "axis"],
        )
        .with_type("T", DataType::DtInt32),
        node("axis", "Const", &[]),
    ]);
    let spec = |name: &str, dtype, shape: &[i64]| TensorSpec {
        name: format!("{name}:0"),
        dtype,
        shape: Some(shape.to_vec()),
    };
    let inputs = [
        (
            "tags_indices",
            spec("tags_indices", DataType::DtInt64, &[-1, rank]),
        ),
        ("tags_values", spec("tags_values", DataType::DtInt32, &[-1])),
        (
            "tags_dense_shape",
            spec("tags_dense_shape", DataType::DtInt64, &[rank]),
        ),
    ];
    let outputs = [("sum".to_string(), spec("sum", DataType::DtInt32, &[-1]))];
    model.signatures.insert(
        DEFAULT_SIGNATURE.into(),
        Signature {
            method_name: crate::model::PREDICT_METHOD.into(),
            inputs: inputs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            outputs: outputs.into(),
        },
    );
    model
}

fn sparse_cx() -> PassContext {
    PassContext {
        inputs: vec!["tags=it:0,it:1,it:2".parse().unwrap()],
        ..PassContext::new()
    }
}

#[test]
fn a_sparse_input_becomes_a_var_len_feature_from_its_three_placeholders() {
    let mut model = sparse_model(2);
    let mut cx = sparse_cx();
    ExamplesPass::new(&ServingSpec::default())
        .run(&mut model, &mut cx)
        .unwrap();
    let g = &model.graph;
    let parse = g.node(g.find("ParseExample/ParseExampleV2").unwrap());
    assert_eq!(parse.attr_int("num_sparse").unwrap(), 1);
    assert_eq!(
        parse.attr_list_type("sparse_types").unwrap(),
        [DataType::DtInt64]
    );
    assert_eq!(
        [0, 1, 2].map(|slot| producer(&model, "sum", slot)),
        [
            "ParseExample/ParseExampleV2:0",
            "ParseExample/cast/tags:0",
            "ParseExample/ParseExampleV2:2"
        ]
    );
    let features = cx.example_features.unwrap();
    assert_eq!(features[0].kind, FeatureKind::VarLen);
    assert_eq!(
        features[0].to_string(),
        "tags: var_len int32 (carried as int64, cast)"
    );
    let mut model = sparse_model(3);
    let err = ExamplesPass::new(&ServingSpec::default())
        .run(&mut model, &mut sparse_cx())
        .unwrap_err();
    assert!(
        matches!(&err, PassError::Examples(ExamplesError::SparseRank { key, rank: 3 }) if key == "tags"),
        "{err}"
    );
}
