use super::*;
use crate::ir::AttrExt;
use crate::passes::examples::ExamplesPass;
use crate::passes::inputs::InputsPass;
use crate::passes::testing::{TestNode, model, node};

/// A float output named `name`, stating `shape`.
fn stated(name: &str, op: &str, inputs: &[&str], shape: &[i64]) -> TestNode {
    let mut node = node(name, op, inputs).with_type("T", DataType::DtFloat);
    node.set_attr_list_shape("_output_shapes", &[Some(shape)]);
    node
}

/// `x` float [-1, 4]; `probs` [-1, 3]; `argmax` int64 [-1]; `value` [-1, 1];
/// `wide` [-1, 2].
fn classifier() -> Model {
    let mut x = node("x", "Placeholder", &[]).with_type("dtype", DataType::DtFloat);
    x.set_attr_shape("shape", Some(&[-1, 4]));
    let mut argmax = node("argmax", "ArgMax", &["probs", "axis"])
        .with_type("T", DataType::DtFloat)
        .with_type("output_type", DataType::DtInt64);
    argmax.set_attr_list_shape("_output_shapes", &[Some(&[-1])]);
    model(vec![
        x,
        stated("probs", "Softmax", &["x"], &[-1, 3]),
        node("axis", "Const", &[]),
        argmax,
        stated("value", "Sigmoid", &["x"], &[-1, 1]),
        stated("wide", "Sigmoid", &["x"], &[-1, 2]),
    ])
}

fn export(
    model: &mut Model,
    method: ServingMethod,
    outputs: &[&str],
    class_names: Option<&[&str]>,
) -> Result<PassReport, PassError> {
    let spec = ServingSpec {
        inputs: vec!["x=x".parse().unwrap()],
        outputs: outputs.iter().map(|s| s.parse().unwrap()).collect(),
        method,
        class_names: class_names.map(|names| names.iter().map(|n| n.to_string()).collect()),
        ..ServingSpec::default()
    };
    let mut cx = PassContext::new();
    InputsPass::new(&spec).run(model, &mut cx)?;
    ExamplesPass::new(&spec).run(model, &mut cx)?;
    MethodPass::new(&spec).run(model, &mut cx)
}

#[test]
fn classify_serves_scores_and_labels_broadcast_to_the_batch() {
    let mut model = classifier();
    export(
        &mut model,
        ServingMethod::Classify,
        &["scores=probs:0", "class_id=argmax:0"],
        Some(&["cat", "dog", "eel"]),
    )
    .unwrap();
    let served = &model.signatures[DEFAULT_SIGNATURE];
    assert_eq!(served.method_name, CLASSIFY_METHOD);
    assert_eq!(served.inputs.keys().collect::<Vec<_>>(), ["inputs"]);
    assert_eq!(served.inputs["inputs"].name, "examples:0");
    assert_eq!(
        served.outputs.keys().collect::<Vec<_>>(),
        ["classes", "scores"]
    );
    let classes = &served.outputs["classes"];
    assert_eq!(
        (classes.dtype, classes.shape.clone()),
        (DataType::DtString, Some(vec![-1, 3]))
    );
    let g = &model.graph;
    let labels = g.node(g.find("classes/labels").unwrap());
    let labels = Tensor::from_proto(labels.attr_tensor("value").unwrap()).unwrap();
    assert_eq!(
        labels.values,
        Values::Strings(vec!["cat".into(), "dog".into(), "eel".into()])
    );
    let predict = &model.signatures[PREDICT_SIGNATURE];
    assert_eq!(predict.method_name, crate::model::PREDICT_METHOD);
    assert_eq!(
        predict.outputs.keys().collect::<Vec<_>>(),
        ["class_id", "classes", "scores"]
    );
    assert_eq!(predict.inputs.keys().collect::<Vec<_>>(), ["examples"]);
}

#[test]
fn default_labels_count_the_score_columns() {
    let mut model = classifier();
    export(
        &mut model,
        ServingMethod::Classify,
        &["scores=probs:0"],
        None,
    )
    .unwrap();
    let g = &model.graph;
    let labels = g.node(g.find("classes/labels").unwrap());
    let labels = Tensor::from_proto(labels.attr_tensor("value").unwrap()).unwrap();
    assert_eq!(
        labels.values,
        Values::Strings(vec!["0".into(), "1".into(), "2".into()])
    );
}

fn method_error(err: PassError) -> MethodError {
    match err {
        PassError::Method(method) => *method,
        other => panic!("not a method error: {other}"),
    }
}

#[test]
fn classify_refuses_what_tensorflow_serving_would() {
    let err = export(
        &mut classifier(),
        ServingMethod::Classify,
        &["probabilities=probs:0"],
        None,
    )
    .unwrap_err();
    assert!(
        matches!(method_error(err), MethodError::NoScores { outputs } if outputs == ["\"probabilities\""])
    );
    let err = export(
        &mut classifier(),
        ServingMethod::Classify,
        &["scores=probs:0", "classes=argmax:0"],
        None,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(method_error(err), MethodError::ClassesNotLabels { tensor, dtype, .. } if tensor == "argmax:0" && dtype == "int64"),
        "{text}"
    );
    assert!(text.contains(SERVING_RANK_MESSAGE), "{text}");
    assert!(text.contains(SERVING_WIDTH_MESSAGE), "{text}");
    let err = export(
        &mut classifier(),
        ServingMethod::Classify,
        &["scores=probs:0"],
        Some(&["a", "b"]),
    )
    .unwrap_err();
    assert!(matches!(
        method_error(err),
        MethodError::ClassNamesLength {
            given: 2,
            expected: 3,
            ..
        }
    ));
    let err = export(
        &mut classifier(),
        ServingMethod::Classify,
        &["scores=argmax:0"],
        None,
    )
    .unwrap_err();
    assert!(matches!(
        method_error(err),
        MethodError::NotFloat { key: "scores", .. }
    ));
}

#[test]
fn regress_serves_one_value_per_example() {
    let mut model = classifier();
    export(
        &mut model,
        ServingMethod::Regress,
        &["outputs=value:0"],
        None,
    )
    .unwrap();
    let served = &model.signatures[DEFAULT_SIGNATURE];
    assert_eq!(served.method_name, REGRESS_METHOD);
    assert_eq!(served.outputs["outputs"].name, "value:0");
    assert!(model.signatures.contains_key(PREDICT_SIGNATURE));
    let err = export(
        &mut classifier(),
        ServingMethod::Regress,
        &["outputs=wide:0"],
        None,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(method_error(err), MethodError::NotScalar { tensor, shape } if tensor == "wide:0" && shape == [-1, 2]),
        "{text}"
    );
    let err = export(
        &mut classifier(),
        ServingMethod::Regress,
        &["y=value:0"],
        None,
    )
    .unwrap_err();
    assert!(matches!(
        method_error(err),
        MethodError::NoRegressOutput { .. }
    ));
}

#[test]
fn flag_combinations_that_make_no_sense_are_refused() {
    let names = ["a".to_string()];
    let flags = |method, examples, class_names, classes_output| MethodFlags {
        method,
        examples,
        class_names,
        signature_name: DEFAULT_SIGNATURE,
        classes_output,
        defaults: Vec::new(),
        warmup: false,
        estimator_signatures: false,
    };
    let refused = |flags: MethodFlags<'_>| flags.check().unwrap_err();
    assert!(matches!(
        refused(flags(ServingMethod::Regress, false, Some(&names), None)),
        MethodError::ClassNamesWithoutClassify {
            method: ServingMethod::Regress
        }
    ));
    assert!(matches!(
        refused(flags(ServingMethod::Classify, false, Some(&names), Some("argmax:0"))),
        MethodError::LabelsTwice { tensor } if tensor == "argmax:0"
    ));
    let predict_key = MethodFlags {
        signature_name: PREDICT_SIGNATURE,
        ..flags(ServingMethod::Classify, false, None, None)
    };
    assert!(matches!(
        refused(predict_key),
        MethodError::PredictKeyTaken { .. }
    ));
    let default_alone = MethodFlags {
        defaults: vec!["age"],
        ..flags(ServingMethod::Predict, false, None, None)
    };
    assert!(matches!(
        refused(default_alone),
        MethodError::DefaultWithoutExamples { key } if key == "age"
    ));
    for (method, examples) in [
        (ServingMethod::Predict, true),
        (ServingMethod::Regress, false),
    ] {
        let default_parsed = MethodFlags {
            defaults: vec!["age"],
            ..flags(method, examples, None, None)
        };
        default_parsed.check().unwrap();
    }
    let warmup = MethodFlags {
        warmup: true,
        ..flags(ServingMethod::Regress, false, None, None)
    };
    assert!(matches!(
        refused(warmup),
        MethodError::WarmupNeedsPredict { .. }
    ));
    assert_eq!("classify".parse(), Ok(ServingMethod::Classify));
    assert!("predicts".parse::<ServingMethod>().is_err());
}

#[test]
fn estimator_signatures_go_with_every_method_and_name_predict_classes() {
    let names = ["a".to_string(), "b".to_string()];
    let flags = |method, class_names, classes_output| MethodFlags {
        method,
        examples: false,
        class_names,
        signature_name: DEFAULT_SIGNATURE,
        classes_output,
        defaults: Vec::new(),
        warmup: false,
        estimator_signatures: true,
    };
    for method in [
        ServingMethod::Predict,
        ServingMethod::Regress,
        ServingMethod::Classify,
    ] {
        flags(method, None, None).check().unwrap();
    }
    // A predict signature's `classes` is each example's label, not the
    // label list the names give: both may be given.
    flags(ServingMethod::Predict, Some(&names), Some("str_classes:0"))
        .check()
        .unwrap();
    assert!(matches!(
        flags(ServingMethod::Regress, Some(&names), None)
            .check()
            .unwrap_err(),
        MethodError::ClassNamesWithoutClassify {
            method: ServingMethod::Regress
        }
    ));
    let without = MethodFlags {
        estimator_signatures: false,
        ..flags(ServingMethod::Predict, Some(&names), None)
    };
    assert!(matches!(
        without.check().unwrap_err(),
        MethodError::ClassNamesWithoutClassify {
            method: ServingMethod::Predict
        }
    ));
}

/// `export` with method predict and `--estimator-signatures`.
fn estimator_predict(
    model: &mut Model,
    outputs: &[&str],
    class_names: Option<&[&str]>,
) -> Result<PassReport, PassError> {
    let spec = ServingSpec {
        inputs: vec!["x=x".parse().unwrap()],
        outputs: outputs.iter().map(|s| s.parse().unwrap()).collect(),
        class_names: class_names.map(|names| names.iter().map(|n| n.to_string()).collect()),
        estimator_signatures: true,
        ..ServingSpec::default()
    };
    let mut cx = PassContext::new();
    InputsPass::new(&spec).run(model, &mut cx)?;
    MethodPass::new(&spec).run(model, &mut cx)
}

#[test]
fn estimator_predict_alone_lists_every_class_from_the_probabilities() {
    let mut model = classifier();
    let outputs = ["probabilities=probs:0", "class_ids=argmax:0"];
    estimator_predict(&mut model, &outputs, Some(&["cat", "dog", "eel"])).unwrap();
    assert_eq!(
        model.signatures.keys().collect::<Vec<_>>(),
        [DEFAULT_SIGNATURE]
    );
    let served = &model.signatures[DEFAULT_SIGNATURE];
    assert_eq!(served.method_name, crate::model::PREDICT_METHOD);
    assert_eq!(served.inputs.keys().collect::<Vec<_>>(), ["x"]);
    assert_eq!(
        served.outputs.keys().collect::<Vec<_>>(),
        [
            "all_class_ids",
            "all_classes",
            "class_ids",
            "classes",
            "probabilities"
        ]
    );
    let shape_of = |key: &str| {
        let spec = &served.outputs[key];
        (spec.dtype, spec.shape.clone())
    };
    assert_eq!(
        shape_of("all_classes"),
        (DataType::DtString, Some(vec![-1, 3]))
    );
    assert_eq!(
        shape_of("all_class_ids"),
        (DataType::DtInt32, Some(vec![-1, 3]))
    );
    assert_eq!(shape_of("classes"), (DataType::DtString, Some(vec![-1, 1])));
    let g = &model.graph;
    let labels = g.node(g.find("all_classes/labels").unwrap());
    let labels = Tensor::from_proto(labels.attr_tensor("value").unwrap()).unwrap();
    assert_eq!(
        labels.values,
        Values::Strings(vec!["cat".into(), "dog".into(), "eel".into()])
    );
    let producer = |key: &str| g.tensor(&served.outputs[key].name).unwrap().node;
    assert_eq!(g.node(producer("all_classes")).op, "BroadcastTo");
    assert_eq!(g.node(producer("classes")).op, "ExpandDims");
}

#[test]
fn estimator_predict_keeps_a_given_classes_and_counts_default_labels() {
    let mut model = classifier();
    let outputs = ["probabilities=wide:0", "classes=argmax:0"];
    estimator_predict(&mut model, &outputs, None).unwrap();
    let served = &model.signatures[DEFAULT_SIGNATURE];
    assert_eq!(served.outputs["classes"].name, "argmax:0");
    let g = &model.graph;
    let labels = g.node(g.find("all_classes/labels").unwrap());
    let labels = Tensor::from_proto(labels.attr_tensor("value").unwrap()).unwrap();
    assert_eq!(labels.values, Values::Strings(vec!["0".into(), "1".into()]));
}

#[test]
fn estimator_predict_needs_class_probabilities() {
    let refused = |outputs: &[&str], names: Option<&[&str]>| {
        method_error(estimator_predict(&mut classifier(), outputs, names).unwrap_err())
    };
    assert!(matches!(
        refused(&["predictions=value:0"], None),
        MethodError::NoProbabilities { outputs } if outputs == ["\"predictions\""]
    ));
    assert!(matches!(
        refused(&["probabilities=argmax:0"], None),
        MethodError::NotClassProbabilities { tensor, dtype, .. } if tensor == "argmax:0" && dtype == "int64"
    ));
    assert!(matches!(
        refused(&["probabilities=probs:0"], Some(&["a", "b"])),
        MethodError::ClassNamesLength {
            given: 2,
            expected: 3,
            ..
        }
    ));
    assert!(matches!(
        refused(&["probabilities=probs:0", "all_classes=argmax:0"], None),
        MethodError::EstimatorOutputGiven { key, tensor } if key == "all_classes" && tensor == "argmax:0"
    ));
}

#[test]
fn estimator_predict_serves_the_predicted_label_and_every_class() {
    let spec = ServingSpec {
        inputs: vec!["x=x".parse().unwrap()],
        outputs: vec!["scores=probs:0".parse().unwrap()],
        method: ServingMethod::Classify,
        class_names: Some(vec!["cat".into(), "dog".into(), "eel".into()]),
        estimator_signatures: true,
        ..ServingSpec::default()
    };
    let mut model = classifier();
    let mut cx = PassContext::new();
    InputsPass::new(&spec).run(&mut model, &mut cx).unwrap();
    ExamplesPass::new(&spec).run(&mut model, &mut cx).unwrap();
    MethodPass::new(&spec).run(&mut model, &mut cx).unwrap();
    let served = model.signatures[DEFAULT_SIGNATURE].clone();
    let predict = &model.signatures[PREDICT_SIGNATURE];
    assert_eq!(
        predict.outputs.keys().collect::<Vec<_>>(),
        ["all_class_ids", "all_classes", "classes", "scores"]
    );
    let shape_of = |key: &str| {
        let spec = &predict.outputs[key];
        (spec.dtype, spec.shape.clone())
    };
    assert_eq!(shape_of("classes"), (DataType::DtString, Some(vec![-1, 1])));
    assert_eq!(
        shape_of("all_class_ids"),
        (DataType::DtInt32, Some(vec![-1, 3]))
    );
    assert_eq!(predict.outputs["all_classes"], served.outputs["classes"]);
    let g = &model.graph;
    let producer = |key: &str| g.tensor(&predict.outputs[key].name).unwrap().node;
    let classes = producer("classes");
    assert_eq!(g.node(classes).op, "ExpandDims");
    let gather = g.data_inputs(classes)[0].node;
    let gather_inputs: Vec<String> = g
        .data_inputs(gather)
        .into_iter()
        .map(|t| g.tensor_name(t))
        .collect();
    assert_eq!(gather_inputs[0], served.outputs["classes"].name);
    assert_eq!(g.node(gather).attr_int("batch_dims").unwrap(), 1);
    let argmax = g.data_inputs(gather)[1].node;
    assert_eq!(g.node(argmax).op, "ArgMax");
    assert_eq!(g.tensor_name(g.data_inputs(argmax)[0]), "probs:0");
    assert_eq!(g.node(producer("all_class_ids")).op, "BroadcastTo");
}
