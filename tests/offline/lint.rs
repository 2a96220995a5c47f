//! `servegraph validate` as a serving lint: every fixture export is clean,
//! and each rule fires, alone, on a copy of an export with its defect
//! planted (the saved_model.pb edited with the crate's own proto types).

use crate::common;

use std::path::{Path, PathBuf};

use prost::Message;
use servegraph::lint::{Rule, Severity};
use servegraph::proto::attr_value::Value;
use servegraph::proto::collection_def::Kind;
use servegraph::proto::tensor_info::{CooSparse, Encoding};
use servegraph::proto::{AttrValue, DataType, MetaGraphDef, NodeDef, SavedModel, TensorShapeProto};
use servegraph::validate::{
    Strictness, ValidateOptions, Validation, validate, validate_saved_model,
};

/// A fixture exported with its own options, in a temp dir that lives as long as it.
struct Export {
    _dir: tempfile::TempDir,
    out: PathBuf,
}

impl Export {
    fn of(fixture: &str) -> Export {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let source = common::testdata(&format!("fixtures/{fixture}"));
        let options = common::fixture_options(fixture);
        servegraph::export_serving_model(&source, &out, &options).unwrap();
        Export { _dir: dir, out }
    }

    /// Rewrites saved_model.pb with `edit` applied to its one MetaGraphDef.
    fn edit(&self, edit: impl FnOnce(&mut MetaGraphDef)) {
        let file = self.out.join("saved_model.pb");
        let mut saved = SavedModel::decode(std::fs::read(&file).unwrap().as_slice()).unwrap();
        edit(&mut saved.meta_graphs[0]);
        std::fs::write(&file, saved.encode_to_vec()).unwrap();
    }

    fn validate(&self) -> Validation {
        validate_saved_model(&self.out, &[]).unwrap()
    }
}

fn rules(validation: &Validation) -> Vec<Rule> {
    validation.findings.iter().map(|f| f.rule).collect()
}

/// The fixture exported, `edit` planted, validated: exactly `rule` fires
/// (once per entry of `times`), with `severity`; the findings are returned.
fn planted(fixture: &str, edit: impl FnOnce(&mut MetaGraphDef), rule: Rule) -> Validation {
    let export = Export::of(fixture);
    export.edit(edit);
    let validation = export.validate();
    assert_eq!(rules(&validation), [rule], "{validation}");
    validation
}

fn assert_error(validation: &Validation, needle: &str) {
    let finding = &validation.findings[0];
    assert_eq!(finding.severity, Severity::Error, "{validation}");
    assert_eq!(validation.exit_code, 2, "{validation}");
    assert!(finding.message.contains(needle), "{validation}");
}

fn assert_warning(validation: &Validation, needle: &str) {
    let finding = &validation.findings[0];
    assert_eq!(finding.severity, Severity::Warning, "{validation}");
    assert_eq!(validation.exit_code, 0, "{validation}");
    assert!(validation.is_valid(), "{validation}");
    assert!(finding.message.contains(needle), "{validation}");
}

fn graph(meta: &mut MetaGraphDef) -> &mut Vec<NodeDef> {
    &mut meta.graph_def.as_mut().unwrap().node
}

fn node<'m>(meta: &'m mut MetaGraphDef, name: &str) -> &'m mut NodeDef {
    graph(meta).iter_mut().find(|n| n.name == name).unwrap()
}

fn new_node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
    NodeDef {
        name: name.into(),
        op: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        ..NodeDef::default()
    }
}

/// The served signature's tensor info under `side` ("inputs"/"outputs") and `key`.
fn served<'m>(
    meta: &'m mut MetaGraphDef,
    side: &str,
    key: &str,
) -> &'m mut servegraph::proto::TensorInfo {
    let signature = meta.signature_def.get_mut("serving_default").unwrap();
    let map = if side == "inputs" {
        &mut signature.inputs
    } else {
        &mut signature.outputs
    };
    map.get_mut(key).unwrap()
}

fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
    Some(servegraph::typing::shape_proto(dims))
}

// --- Clean exports ---------------------------------------------------------

/// The warnings a fixture's export has by design: a sparse input's
/// dense_shape component is `[rank]`, which TensorFlow Serving's batching
/// cannot stack (it needs every input's dimension 0 to be the batch).
fn expected_warnings(fixture: &str) -> Vec<String> {
    let json = common::fixture_json(fixture);
    let inputs = json["inputs"].as_object().unwrap();
    inputs
        .iter()
        .filter(|(_, spec)| spec["sparse"] == true)
        .map(|(key, _)| format!("input \"{key}_dense_shape\""))
        .collect()
}

#[test]
fn every_fixture_export_lints_clean() {
    for name in common::fixture_names() {
        let export = Export::of(&name);
        let validation = export.validate();
        let expected = expected_warnings(&name);
        assert_eq!(
            validation.findings.len(),
            expected.len(),
            "{name}: {validation}"
        );
        for (finding, needle) in validation.findings.iter().zip(&expected) {
            assert_eq!(finding.rule, Rule::BatchDimension, "{name}: {validation}");
            assert!(finding.message.contains(needle), "{name}: {validation}");
        }
        assert!(validation.not_run.is_empty(), "{name}: {validation}");
        assert_eq!(validation.exit_code, 0, "{name}");
    }
}

#[test]
fn the_graph_of_an_export_lints_clean_as_a_graph_def_and_a_training_meta_does_not() {
    let export = Export::of("tiny_mlp");
    let saved = SavedModel::decode(
        std::fs::read(export.out.join("saved_model.pb"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let file = export.out.parent().unwrap().join("graph.pb");
    let graph_def = saved.meta_graphs[0].graph_def.clone().unwrap();
    std::fs::write(&file, graph_def.encode_to_vec()).unwrap();
    let validation = validate(&file, &ValidateOptions::default()).unwrap();
    assert_eq!(rules(&validation), [], "{validation}");

    let meta = common::testdata("fixtures/tiny_mlp/model.ckpt-5.meta");
    let training = validate(&meta, &ValidateOptions::default()).unwrap();
    let found = rules(&training);
    assert!(found.contains(&Rule::TrainingOp), "{training}");
    assert!(!found.contains(&Rule::RestoreVariable), "{training}");
    assert!(training.variables > 0, "{training}");
    assert_eq!(training.exit_code, 2);
}

// --- One planted defect per rule -------------------------------------------

#[test]
fn tag_set_fires_when_no_meta_graph_has_the_tags() {
    let export = Export::of("tiny_mlp");
    let validation = validate_saved_model(&export.out, &["gpu".into()]).unwrap();
    assert_eq!(rules(&validation), [Rule::TagSet], "{validation}");
    assert_error(&validation, "available: [serve]");
    assert!(
        validation.not_run.contains(&Rule::SignatureTensor),
        "{validation}"
    );
    assert!(
        !validation.not_run.contains(&Rule::ProtoSize),
        "{validation}"
    );
}

#[test]
fn object_graph_warns_of_a_tf2_object_graph() {
    let found = planted(
        "tiny_mlp",
        |meta| meta.object_graph_def = Some(Default::default()),
        Rule::ObjectGraph,
    );
    assert_warning(&found, "object graph");
}

#[test]
fn duplicate_node_fires_on_a_second_node_of_one_name() {
    let found = planted(
        "tiny_mlp",
        |meta| graph(meta).push(new_node("logits/BiasAdd", "NoOp", &[])),
        Rule::DuplicateNode,
    );
    assert_error(&found, "\"logits/BiasAdd\"");
    assert!(found.not_run.contains(&Rule::SignatureTensor), "{found}");
}

#[test]
fn dangling_input_fires_on_an_input_naming_no_node() {
    let found = planted(
        "tiny_mlp",
        |meta| node(meta, "logits/BiasAdd").input.push("^gone".into()),
        Rule::DanglingInput,
    );
    assert_error(&found, "\"^gone\"");
    assert_eq!(found.findings[0].node.as_deref(), Some("logits/BiasAdd"));
}

#[test]
fn control_input_order_fires_on_a_data_input_after_a_control_input() {
    let found = planted(
        "tiny_mlp",
        |meta| {
            let bias_add = node(meta, "logits/BiasAdd");
            let first = bias_add.input[0].clone();
            bias_add.input.insert(0, format!("^{first}"));
        },
        Rule::ControlInputOrder,
    );
    assert_error(&found, "after a control input");
}

#[test]
fn graph_structure_fires_on_a_cycle_outside_a_loop() {
    let found = planted(
        "tiny_mlp",
        |meta| {
            graph(meta).push(new_node("ring/a", "Identity", &["ring/b"]));
            graph(meta).push(new_node("ring/b", "Identity", &["ring/a"]));
        },
        Rule::GraphStructure,
    );
    assert_error(&found, "ring/");
}

#[test]
fn signature_method_fires_on_a_predict_signature_without_outputs() {
    let found = planted(
        "tiny_mlp",
        |meta| {
            let signature = meta.signature_def.get_mut("serving_default").unwrap();
            signature.outputs.clear();
        },
        Rule::SignatureMethod,
    );
    assert_error(&found, "outputs");
}

#[test]
fn signature_tensor_fires_on_a_tensor_not_in_the_graph_or_past_its_outputs() {
    for (name, needle) in [
        ("gone:0", "not in the graph"),
        ("logits/BiasAdd:3", "has 1 output"),
    ] {
        let found = planted(
            "tiny_mlp",
            |meta| served(meta, "outputs", "logits").encoding = Some(Encoding::Name(name.into())),
            Rule::SignatureTensor,
        );
        assert_error(&found, needle);
    }
    let found = planted(
        "tiny_mlp",
        |meta| {
            let coo = CooSparse {
                values_tensor_name: "features:0".into(),
                indices_tensor_name: "features:0".into(),
                dense_shape_tensor_name: "gone:0".into(),
            };
            served(meta, "inputs", "features").encoding = Some(Encoding::CooSparse(coo));
        },
        Rule::SignatureTensor,
    );
    assert_error(
        &found,
        "takes its dense shape from tensor \"gone:0\", which is not in the graph",
    );
}

#[test]
fn signature_dtype_fires_on_a_stated_dtype_the_tensor_does_not_have() {
    let found = planted(
        "tiny_mlp",
        |meta| served(meta, "inputs", "features").dtype = DataType::DtInt32 as i32,
        Rule::SignatureDtype,
    );
    assert_error(
        &found,
        "states dtype int32, but tensor \"features:0\" is float32",
    );
}

#[test]
fn signature_shape_fires_on_a_stated_shape_the_tensor_does_not_have() {
    let found = planted(
        "tiny_mlp",
        |meta| served(meta, "inputs", "features").tensor_shape = shape(&[-1, 5]),
        Rule::SignatureShape,
    );
    assert_error(
        &found,
        "states shape [?, 5], but tensor \"features:0\" has shape [?, 4]",
    );
}

#[test]
fn batch_dimension_warns_of_a_fixed_leading_dimension_and_fails_under_strict() {
    let export = Export::of("tiny_mlp");
    export.edit(|meta| served(meta, "outputs", "logits").tensor_shape = shape(&[1, 2]));
    let found = export.validate();
    assert_eq!(rules(&found), [Rule::BatchDimension], "{found}");
    assert_warning(&found, "fixed leading dimension of 1");
    let strict = ValidateOptions {
        strictness: Strictness::WarningsToo,
        ..ValidateOptions::default()
    };
    assert_eq!(validate(&export.out, &strict).unwrap().exit_code, 1);
    let allowed = ValidateOptions {
        allowed: vec![Rule::BatchDimension],
        ..strict.clone()
    };
    let found = validate(&export.out, &allowed).unwrap();
    assert_eq!(found.exit_code, 0, "{found}");
    assert_eq!(
        rules(&found),
        [Rule::BatchDimension],
        "still reported: {found}"
    );
    assert!(
        found
            .to_string()
            .contains("warning[batch-dimension] (allowed): "),
        "{found}"
    );
    let other = ValidateOptions {
        allowed: vec![Rule::Saver],
        ..strict
    };
    assert_eq!(validate(&export.out, &other).unwrap().exit_code, 1);
}

#[test]
fn an_allowed_rule_never_excuses_an_error() {
    let export = Export::of("tiny_mlp");
    export.edit(|meta| graph(meta).push(new_node("train/apply", "ApplyGradientDescent", &[])));
    let options = ValidateOptions {
        strictness: Strictness::WarningsToo,
        allowed: vec![Rule::TrainingOp],
        ..ValidateOptions::default()
    };
    let found = validate(&export.out, &options).unwrap();
    assert_eq!(rules(&found), [Rule::TrainingOp], "{found}");
    assert_eq!(found.exit_code, 2, "{found}");
    assert!(!found.to_string().contains("(allowed)"), "{found}");
}

#[test]
fn training_op_fires_on_an_optimizer_op() {
    let found = planted(
        "tiny_mlp",
        |meta| graph(meta).push(new_node("train/apply", "ApplyGradientDescent", &[])),
        Rule::TrainingOp,
    );
    assert_error(&found, "\"train/apply\" (ApplyGradientDescent, optimizer)");
}

#[test]
fn python_op_fires_on_a_py_func() {
    let found = planted(
        "tiny_mlp",
        |meta| graph(meta).push(new_node("py", "PyFunc", &[])),
        Rule::PythonOp,
    );
    assert_error(&found, "calls Python");
}

#[test]
fn denylisted_op_warns_of_a_read_file() {
    let found = planted(
        "tiny_mlp",
        |meta| graph(meta).push(new_node("read", "ReadFile", &[])),
        Rule::DenylistedOp,
    );
    assert_warning(&found, "\"read\" is a ReadFile");
}

fn set_node_list(meta: &mut MetaGraphDef, key: &str, value: &str) {
    let collection = meta.collection_def.get_mut(key).unwrap();
    match collection.kind.as_mut() {
        Some(Kind::NodeList(list)) => list.value = vec![value.into()],
        _ => panic!("{key} is a node list"),
    }
}

#[test]
fn init_op_fires_on_a_main_op_not_in_the_graph() {
    let found = planted(
        "vocab_lookup",
        |meta| set_node_list(meta, "saved_model_main_op", "gone"),
        Rule::InitOp,
    );
    assert_error(
        &found,
        "collection \"saved_model_main_op\" names init op \"gone\"",
    );
}

#[test]
fn table_initializer_fires_on_a_table_the_init_op_does_not_initialize() {
    let found = planted(
        "vocab_lookup",
        |meta| {
            let init = graph(meta).iter_mut().find(|n| n.op == "NoOp").unwrap();
            init.input.clear();
        },
        Rule::TableInitializer,
    );
    assert_error(&found, "is not run by the init op");
}

#[test]
fn asset_tensor_fires_on_an_asset_fed_through_no_tensor() {
    let found = planted(
        "vocab_lookup",
        |meta| {
            let info = meta.asset_file_def[0].tensor_info.as_mut().unwrap();
            info.encoding = Some(Encoding::Name("gone:0".into()));
        },
        Rule::AssetTensor,
    );
    assert_error(&found, "\"gone:0\"");
}

#[test]
fn asset_file_fires_on_a_missing_asset_file() {
    let export = Export::of("vocab_lookup");
    std::fs::remove_file(export.out.join("assets/vocab.txt")).unwrap();
    let found = export.validate();
    assert_eq!(rules(&found), [Rule::AssetFile], "{found}");
    assert_error(&found, "asset \"vocab.txt\" is missing");
}

#[test]
fn saver_fires_on_a_saver_naming_a_missing_tensor() {
    let found = planted(
        "tiny_mlp",
        |meta| meta.saver_def.as_mut().unwrap().filename_tensor_name = "gone:0".into(),
        Rule::Saver,
    );
    assert_error(&found, "saver_def names missing \"gone:0\"");
}

/// The RestoreV2 node's tensor_names and the dtypes it expects, to edit.
fn restore_op(meta: &mut MetaGraphDef) -> &mut NodeDef {
    graph(meta)
        .iter_mut()
        .find(|n| n.op == "RestoreV2")
        .unwrap()
}

fn restore_keys(meta: &mut MetaGraphDef) -> &mut Vec<prost::bytes::Bytes> {
    let names = restore_op(meta).input[1].clone();
    let constant = node(meta, &names);
    match constant
        .attr
        .get_mut("value")
        .and_then(|v| v.value.as_mut())
    {
        Some(Value::Tensor(tensor)) => &mut tensor.string_val,
        _ => panic!("tensor_names is a constant"),
    }
}

#[test]
fn restore_variable_fires_on_a_missing_key_a_wrong_dtype_or_a_wrong_shape() {
    let found = planted(
        "tiny_mlp",
        |meta| restore_keys(meta)[0] = "gone".into(),
        Rule::RestoreVariable,
    );
    assert_error(&found, "restores \"gone\"");

    let found = planted(
        "tiny_mlp",
        |meta| {
            let dtypes = restore_op(meta).attr.get_mut("dtypes").unwrap();
            if let Some(Value::List(list)) = dtypes.value.as_mut() {
                list.r#type[0] = DataType::DtDouble as i32;
            }
        },
        Rule::RestoreVariable,
    );
    assert_error(&found, "as float64 but it is stored as float32");

    let found = planted(
        "tiny_mlp",
        |meta| {
            let assign = graph(meta).iter_mut().find(|n| n.op == "Assign").unwrap();
            assign.input[1] = assign.input[0].clone();
        },
        Rule::RestoreVariable,
    );
    assert_error(&found, "is not assigned by any restore op");
}

/// A file of `len` bytes that takes no disk space.
fn sparse_file(path: &Path, len: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

#[test]
fn proto_size_fires_on_a_saved_model_pb_past_2_gib() {
    let dir = tempfile::tempdir().unwrap();
    sparse_file(&dir.path().join("saved_model.pb"), (2 << 30) + 1);
    let found = validate_saved_model(dir.path(), &[]).unwrap();
    assert_eq!(rules(&found), [Rule::ProtoSize], "{found}");
    assert_error(&found, "over protobuf's 2 GiB limit");
    assert!(found.not_run.contains(&Rule::TagSet), "{found}");
}

#[test]
fn total_size_warns_past_500_mb() {
    let export = Export::of("tiny_mlp");
    sparse_file(&export.out.join("assets.extra/padding"), 500_000_001);
    let found = export.validate();
    assert_eq!(rules(&found), [Rule::TotalSize], "{found}");
    assert_warning(&found, "500 MB limit");
    assert!(!found.fits_mls1 && found.fits_n1, "{found}");
}

/// A variable whose shape its MatMul cannot take: the graph cannot run
/// (shape-conflict), and the checkpoint holds another shape
/// (restore-variable).
#[test]
fn shape_conflict_fires_on_an_op_that_cannot_take_its_inputs() {
    let export = Export::of("tiny_mlp");
    export.edit(|meta| {
        let variable = graph(meta)
            .iter_mut()
            .find(|n| n.op == "VariableV2")
            .unwrap();
        variable.attr.insert(
            "shape".into(),
            AttrValue {
                value: Some(Value::Shape(servegraph::typing::shape_proto(&[7, 7]))),
            },
        );
    });
    let found = export.validate();
    assert_eq!(
        rules(&found),
        [Rule::ShapeConflict, Rule::RestoreVariable],
        "{found}"
    );
    assert_error(&found, "MatMul's inner dimensions");
    assert_error(&found, "TensorFlow would refuse this graph");
    let restore = &found.findings[1];
    assert!(restore.message.contains("has shape [7, 7], but"), "{found}");
}

#[test]
fn every_rule_has_a_test_here() {
    let source = std::fs::read_to_string(file!()).unwrap();
    for rule in Rule::ALL {
        let variant = format!("Rule::{rule:?}");
        assert!(
            source.matches(&variant).count() >= 1,
            "{variant} has no test"
        );
    }
}
