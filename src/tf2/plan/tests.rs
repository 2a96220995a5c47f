//! Plans of the TF2 fixtures (`testdata/tf2/*/saved_model`), checked
//! against what `fixture.json` says each checkpoint key is, and of
//! corrupted copies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use prost::Message;

use super::*;
use crate::format::bundle::BundleReader;
use crate::format::proto::NodeDef;
use crate::format::proto::{SavedConcreteFunction, SavedObject, saved_object};
use crate::format::wire;

const FIXTURES: [&str; 6] = [
    "keras_adam_metric",
    "keras_bn_dropout",
    "keras_lookup_embedding",
    "keras_subclassed",
    "module_function",
    "module_table",
];

fn saved_model_dir(fixture: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tf2")
        .join(fixture)
        .join("saved_model")
}

/// The fixture's MetaGraphDef and its checkpoint's object graph.
fn load(fixture: &str) -> (MetaGraphDef, TrackableObjectGraph) {
    let dir = saved_model_dir(fixture);
    let (meta_graph, _) = crate::front::read::read_saved_model(&dir, &[]).unwrap();
    let reader = BundleReader::open(dir.join("variables/variables")).unwrap();
    let graph = ObjectGraph::read(&reader).unwrap().unwrap();
    (meta_graph, graph.to_proto())
}

fn plan(fixture: &str, choice: &SignatureChoice) -> Result<LeanPlan, Tf2Error> {
    let (meta_graph, checkpoint) = load(fixture);
    plan_lean(&saved_model_dir(fixture), &meta_graph, &checkpoint, choice)
}

/// `fixture.json`'s role of each checkpoint key.
fn roles(fixture: &str) -> BTreeMap<String, String> {
    let path = saved_model_dir(fixture).with_file_name("fixture.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["key"].as_str().unwrap().to_string(),
                v["role"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn decoded_nodes(plan: &LeanPlan) -> Vec<SavedObject> {
    plan.meta_graph
        .object_graph_def
        .as_ref()
        .unwrap()
        .nodes
        .iter()
        .map(|b| SavedObject::decode(b.as_ref()).unwrap())
        .collect()
}

fn library_names(meta_graph: &MetaGraphDef) -> BTreeSet<String> {
    meta_graph
        .graph_def
        .as_ref()
        .and_then(|g| g.library.as_ref())
        .map(|l| {
            l.function
                .iter()
                .filter_map(|f| f.signature.as_ref().map(|s| s.name.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every id in the pruned object graph names a node, and every function it
/// names is in the pruned library.
fn assert_consistent(fixture: &str, plan: &LeanPlan) {
    let nodes = decoded_nodes(plan);
    let count = nodes.len() as i32;
    let in_range = |id: i32, what: &str| {
        assert!(
            (0..count).contains(&id),
            "{fixture}: {what} {id} of {count}"
        )
    };
    let library = library_names(&plan.meta_graph);
    for (id, node) in nodes.iter().enumerate() {
        for child in node.children.iter().chain(&node.dependencies) {
            in_range(child.node_id, &format!("node {id}'s reference"));
        }
        for slot in &node.slot_variables {
            in_range(slot.original_variable_node_id, "slot original");
            in_range(slot.slot_variable_node_id, "slot variable");
        }
        for saveable in node.saveable_objects.values() {
            in_range(saveable.save_function, "save function");
            in_range(saveable.restore_function, "restore function");
        }
        match &node.kind {
            Some(saved_object::Kind::Function(f)) => {
                assert!(!f.concrete_functions.is_empty(), "{fixture}: node {id}");
                for name in &f.concrete_functions {
                    assert!(library.contains(name), "{fixture}: {name}");
                }
            }
            Some(saved_object::Kind::BareConcreteFunction(bare)) => {
                assert!(library.contains(&bare.concrete_function_name));
            }
            _ => {}
        }
    }
    let graph = plan.meta_graph.object_graph_def.as_ref().unwrap();
    for (name, bytes) in &graph.concrete_functions {
        assert!(library.contains(name), "{fixture}: {name}");
        let function = SavedConcreteFunction::decode(bytes.as_ref()).unwrap();
        for &id in &function.bound_inputs {
            in_range(id, &format!("{name}'s bound input"));
        }
    }
    let checkpoint = ObjectGraph::from_proto(plan.checkpoint_graph.clone(), Path::new(fixture));
    assert!(checkpoint.is_ok(), "{fixture}: {checkpoint:?}");
    for variable in &plan.variables {
        let node = decoded_nodes(plan)
            .into_iter()
            .nth(variable.object_id as usize)
            .unwrap();
        assert!(
            matches!(node.kind, Some(saved_object::Kind::Variable(_))),
            "{fixture}: {variable:?}"
        );
    }
}

/// The reasons a key of `role` may be dropped with.
fn reasons_for(role: &str) -> &'static [&'static str] {
    match role {
        "optimizer" => &[reasons::OPTIMIZER_SLOT, reasons::OPTIMIZER_STATE],
        "iterations" => &[reasons::STEP_COUNTER],
        "metric" => &[reasons::METRIC],
        "unused" => &[reasons::NOT_READ],
        _ => &[],
    }
}

#[test]
fn every_fixture_keeps_exactly_its_weights_and_says_why_the_rest_goes() {
    for fixture in FIXTURES {
        let plan = plan(fixture, &SignatureChoice::All).unwrap();
        let roles = roles(fixture);
        let kept: BTreeSet<&str> = plan.variables.iter().map(|v| v.key.as_str()).collect();
        let weights: BTreeSet<&str> = roles
            .iter()
            .filter(|(_, role)| *role == "weight")
            .map(|(key, _)| key.as_str())
            .collect();
        assert_eq!(kept, weights, "{fixture}");
        for dropped in &plan.dropped.keys {
            let role = roles.get(&dropped.key).map(String::as_str).unwrap_or("?");
            assert!(
                reasons_for(role).contains(&dropped.reason.as_str()),
                "{fixture}: {} ({role}) dropped as {}",
                dropped.key,
                dropped.reason
            );
        }
        let dropped: BTreeSet<&str> = plan.dropped.keys.iter().map(|k| k.key.as_str()).collect();
        for (key, role) in &roles {
            if role != "weight" && role != "object_graph" {
                assert!(
                    dropped.contains(key.as_str()),
                    "{fixture}: {key} not reported"
                );
            }
        }
        assert_consistent(fixture, &plan);
        assert!(plan.meta_graph.saver_def.is_none(), "{fixture}");
    }
}

#[test]
fn kept_variables_have_the_fixture_dtype_and_shape_and_a_var_handle() {
    for fixture in FIXTURES {
        let path = saved_model_dir(fixture).with_file_name("fixture.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let plan = plan(fixture, &SignatureChoice::All).unwrap();
        let graph = plan.meta_graph.graph_def.as_ref().unwrap();
        for variable in &plan.variables {
            let entry = json["variables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["key"] == variable.key.as_str())
                .unwrap();
            let shape: Vec<i64> = entry["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_i64().unwrap())
                .collect();
            assert_eq!(variable.shape, shape, "{fixture}: {}", variable.key);
            assert_eq!(entry["dtype"], "float32", "{fixture}: {}", variable.key);
            assert_eq!(variable.dtype, DataType::DtFloat);
            let node = graph.node.iter().find(|n| n.name == variable.node).unwrap();
            assert_eq!(node.op, VAR_HANDLE_OP);
            assert_eq!(
                plan.kept_object_paths[variable.object_id as usize],
                variable.object_path
            );
        }
    }
}

/// The functions a source signature's call node calls.
fn signature_function(meta_graph: &MetaGraphDef, key: &str) -> String {
    let signature = &meta_graph.signature_def[key];
    let output = signature.outputs.values().next().unwrap();
    let tensor = graph::tensor_names(output)[0];
    let graph = meta_graph.graph_def.as_ref().unwrap();
    let node = graph
        .node
        .iter()
        .find(|n| n.name == crate::ir::node_of(tensor))
        .unwrap();
    match &node.attr["f"].value {
        Some(attr_value::Value::Func(f)) => f.name.clone(),
        other => panic!("{other:?}"),
    }
}

/// The concrete functions of the source's root child `name` (a `function` node).
fn traces_of(meta_graph: &MetaGraphDef, name: &str) -> Vec<String> {
    let graph = meta_graph.object_graph_def.as_ref().unwrap();
    let root = SavedObject::decode(graph.nodes[0].as_ref()).unwrap();
    let child = root.children.iter().find(|c| c.local_name == name).unwrap();
    let node = SavedObject::decode(graph.nodes[child.node_id as usize].as_ref()).unwrap();
    match node.kind {
        Some(saved_object::Kind::Function(f)) => f.concrete_functions,
        other => panic!("{other:?}"),
    }
}

#[test]
fn keras_adam_metric_loses_optimizer_metrics_and_training_functions() {
    let (source, _) = load("keras_adam_metric");
    let plan = plan("keras_adam_metric", &SignatureChoice::All).unwrap();
    let pruned = SavedGraph::decode(
        Path::new("pruned"),
        plan.meta_graph.object_graph_def.as_ref().unwrap(),
    )
    .unwrap();
    let view = pruned.as_object_graph();
    assert!(view.optimizers().is_empty());
    let roles = reasons::training_roles(&view, |_| false);
    assert!(roles.iter().all(Option::is_none), "{roles:?}");
    assert!(
        plan.dropped
            .objects
            .iter()
            .any(|o| o.reason == reasons::OPTIMIZER && o.kind == "user_object")
    );
    assert!(
        plan.dropped
            .objects
            .iter()
            .any(|o| o.reason == reasons::METRIC)
    );

    let library = library_names(&plan.meta_graph);
    let serving = signature_function(&source, "serving_default");
    assert!(library.contains(&serving));
    assert!(
        plan.meta_graph
            .signature_def
            .contains_key("serving_default")
    );
    assert!(
        plan.meta_graph
            .signature_def
            .contains_key(graph::INIT_OP_SIGNATURE)
    );
    // The call variants Keras traces for `__call__` are not what serving runs.
    for trace in traces_of(&source, "__call__") {
        assert!(!library.contains(&trace), "{trace}");
        assert!(plan.dropped.functions.contains(&trace), "{trace}");
    }
    assert_serving_kept_without_saver(&source, &plan.meta_graph, &serving, &library);
}

/// `kept` (planned from `source`) has none of the saver's nodes (the writer
/// adds its own), fewer functions than `source`, every function the
/// `serving` function calls (`library` is `kept`'s function names), and the
/// init op in its signature and the main-op collection.
fn assert_serving_kept_without_saver(
    source: &MetaGraphDef,
    kept: &MetaGraphDef,
    serving: &str,
    library: &BTreeSet<String>,
) {
    // Nor are the saver's functions: the writer adds its own.
    let saver = source.saver_def.as_ref().unwrap();
    let graph = kept.graph_def.as_ref().unwrap();
    for tensor in [
        &saver.filename_tensor_name,
        &saver.save_tensor_name,
        &saver.restore_op_name,
    ] {
        let name = crate::ir::node_of(tensor);
        assert!(graph.node.iter().all(|n| n.name != name), "{name}");
    }
    assert!(library.len() < library_names(source).len());
    // The signatures' functions call the layers' functions: all kept.
    let nodes = graph::index(graph);
    let index = crate::ir::FunctionIndex::new(graph.library.as_ref());
    let closure = functions::closure(
        &index,
        Path::new("x"),
        [(serving.to_string(), "test".to_string())],
    )
    .unwrap();
    assert!(closure.len() > 1);
    assert!(closure.is_subset(library));
    // The init op stays, in its signature and in the main-op collection.
    let init = &source.signature_def[graph::INIT_OP_SIGNATURE].outputs;
    for info in init.values() {
        for tensor in graph::tensor_names(info) {
            assert!(nodes.contains_key(crate::ir::node_of(tensor)), "{tensor}");
        }
    }
    assert!(kept.collection_def.contains_key(graph::MAIN_OP_COLLECTION));
}

#[test]
fn keras_bn_dropout_keeps_the_moving_statistics() {
    let path = saved_model_dir("keras_bn_dropout").with_file_name("fixture.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let plan = plan("keras_bn_dropout", &SignatureChoice::All).unwrap();
    let frozen: Vec<&str> = json["variables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["role"] == "weight" && v["trainable"] == false)
        .map(|v| v["key"].as_str().unwrap())
        .collect();
    assert_eq!(frozen.len(), 2, "moving mean and variance");
    for key in frozen {
        assert!(plan.variables.iter().any(|v| v.key == key), "{key}");
    }
}

#[test]
fn module_function_keeps_every_signature_or_the_one_asked_for() {
    let (source, _) = load("module_function");
    let all = plan("module_function", &SignatureChoice::All).unwrap();
    let keys: BTreeSet<&str> = all
        .meta_graph
        .signature_def
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["classify", "serving_default", graph::INIT_OP_SIGNATURE])
    );
    assert!(all.dropped.signatures.is_empty());

    let only = plan(
        "module_function",
        &SignatureChoice::Only(vec!["classify".into()]),
    )
    .unwrap();
    let keys: BTreeSet<&str> = only
        .meta_graph
        .signature_def
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["classify", graph::INIT_OP_SIGNATURE]));
    assert_eq!(only.dropped.signatures, vec!["serving_default".to_string()]);
    let serving = signature_function(&source, "serving_default");
    let classify = signature_function(&source, "classify");
    let library = library_names(&only.meta_graph);
    assert!(library.contains(&classify));
    assert!(!library.contains(&serving));
    assert!(only.dropped.functions.contains(&serving));
    assert!(
        only.dropped
            .objects
            .iter()
            .any(|o| o.path == "signatures/serving_default"
                && o.reason == reasons::SIGNATURE_NOT_KEPT)
    );
    assert!(
        only.kept_object_paths
            .iter()
            .all(|p| p != "signatures/serving_default")
    );
    assert_consistent("module_function", &only);
    let graph = only.meta_graph.graph_def.as_ref().unwrap();
    assert!(graph.node.len() < all.meta_graph.graph_def.as_ref().unwrap().node.len());

    assert_unknown_signature_refused();
}

/// Asking for a signature `module_function` does not have is an error
/// listing those it has (the init op left out).
fn assert_unknown_signature_refused() {
    let unknown = plan(
        "module_function",
        &SignatureChoice::Only(vec!["predict".into()]),
    );
    match unknown {
        Err(Tf2Error::UnknownSignature {
            name, available, ..
        }) => {
            assert_eq!(name, "predict");
            assert_eq!(
                available,
                vec!["classify".to_string(), "serving_default".to_string()]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn planning_a_plan_again_drops_nothing_more() {
    for fixture in FIXTURES {
        let first = plan(fixture, &SignatureChoice::All).unwrap();
        let again = plan_lean(
            Path::new(fixture),
            &first.meta_graph,
            &first.checkpoint_graph,
            &SignatureChoice::All,
        )
        .unwrap();
        assert_eq!(again.dropped, DroppedParts::default(), "{fixture}");
        assert_eq!(again.meta_graph, first.meta_graph, "{fixture}");
        assert_eq!(again.checkpoint_graph, first.checkpoint_graph, "{fixture}");
        assert_eq!(again.variables, first.variables, "{fixture}");
        assert_eq!(
            again.kept_object_paths, first.kept_object_paths,
            "{fixture}"
        );
    }
}

/// Plans `fixture` after `corrupt` changed its MetaGraphDef and checkpoint graph.
fn plan_corrupted(
    corrupt: impl FnOnce(&mut MetaGraphDef, &mut TrackableObjectGraph),
) -> Result<LeanPlan, Tf2Error> {
    let (mut meta_graph, mut checkpoint) = load("keras_adam_metric");
    corrupt(&mut meta_graph, &mut checkpoint);
    plan_lean(
        Path::new("corrupt"),
        &meta_graph,
        &checkpoint,
        &SignatureChoice::All,
    )
}

fn serving_call(meta_graph: &mut MetaGraphDef) -> &mut NodeDef {
    let graph = meta_graph.graph_def.as_mut().unwrap();
    graph
        .node
        .iter_mut()
        .find(|n| {
            n.op == "StatefulPartitionedCall"
                && n.input.iter().any(|i| i.starts_with("serving_default"))
        })
        .unwrap()
}

#[test]
fn a_bound_input_out_of_range_is_a_typed_error() {
    let result = plan_corrupted(|meta_graph, _| {
        let serving = signature_function(meta_graph, "serving_default");
        let graph = meta_graph.object_graph_def.as_mut().unwrap();
        let bytes = graph.concrete_functions.get_mut(&serving).unwrap();
        let mut function = SavedConcreteFunction::decode(bytes.as_ref()).unwrap();
        function.bound_inputs[0] = 9999;
        *bytes = function.encode_to_vec().into();
    });
    match result {
        Err(Tf2Error::BadObjectReference {
            target, referrer, ..
        }) => {
            assert_eq!(target, 9999);
            assert!(referrer.contains("signature_wrapper"), "{referrer}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_signature_calling_a_missing_function_is_a_typed_error() {
    let mut missing = String::new();
    let result = plan_corrupted(|meta_graph, _| {
        missing = signature_function(meta_graph, "serving_default");
        let library = meta_graph
            .graph_def
            .as_mut()
            .unwrap()
            .library
            .as_mut()
            .unwrap();
        library
            .function
            .retain(|f| f.signature.as_ref().unwrap().name != missing);
    });
    match result {
        Err(Tf2Error::MissingFunction {
            function, referrer, ..
        }) => {
            assert_eq!(function, missing);
            // The load checks meet the signature's function object first.
            assert!(
                referrer.contains("StatefulPartitionedCall")
                    || referrer.starts_with("object graph node"),
                "{referrer}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_call_passing_too_few_captures_is_a_typed_error() {
    let result = plan_corrupted(|meta_graph, _| {
        serving_call(meta_graph).input.truncate(2);
    });
    assert!(
        matches!(
            result,
            Err(Tf2Error::CapturesMismatch {
                inputs: 2,
                captures: 4,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn a_capture_that_is_not_a_var_handle_is_a_typed_error() {
    let result = plan_corrupted(|meta_graph, _| {
        let handle = serving_call(meta_graph).input[1].clone();
        let graph = meta_graph.graph_def.as_mut().unwrap();
        let node = graph.node.iter_mut().find(|n| n.name == handle).unwrap();
        node.op = "Placeholder".into();
    });
    match result {
        Err(Tf2Error::NotAVariableHandle {
            object_path, op, ..
        }) => {
            assert_eq!(object_path, "layer_with_weights-0/kernel");
            assert_eq!(op, "Placeholder");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_kept_variable_the_checkpoint_lacks_is_a_typed_error() {
    let result = plan_corrupted(|_, checkpoint| {
        for node in &mut checkpoint.nodes {
            node.attributes.retain(|a| {
                a.checkpoint_key != "layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE"
            });
        }
    });
    match result {
        Err(Tf2Error::NoCheckpointKey { object_path, .. }) => {
            assert_eq!(object_path, "layer_with_weights-1/bias");
        }
        other => panic!("{other:?}"),
    }
}

/// A SavedObject with children, a slot reference, a saveable and fields
/// the decoder does not declare (13 `registered_name`, 14 an `Any`).
fn object_with_unknown_fields() -> Vec<u8> {
    use wire::{Field, Value};
    let reference = |id: u64, name: &str| {
        Value::Bytes(wire::encode(&[
            Field {
                number: 1,
                value: Value::Varint(id),
            },
            Field {
                number: 2,
                value: Value::Bytes(name.as_bytes().to_vec()),
            },
        ]))
    };
    let saveable = Value::Bytes(wire::encode(&[
        Field {
            number: 1,
            value: Value::Bytes(b"VARIABLE_VALUE".to_vec()),
        },
        Field {
            number: 2,
            value: Value::Bytes(wire::encode(&[
                Field {
                    number: 2,
                    value: Value::Varint(3),
                },
                Field {
                    number: 3,
                    value: Value::Varint(4),
                },
            ])),
        },
    ]));
    wire::encode(&[
        Field {
            number: 1,
            value: reference(1, "kept"),
        },
        Field {
            number: 1,
            value: reference(2, "dropped"),
        },
        Field {
            number: 15,
            value: reference(1, "kept"),
        },
        Field {
            number: 13,
            value: Value::Bytes(b"registered.Name".to_vec()),
        },
        Field {
            number: 11,
            value: saveable,
        },
        Field {
            number: 14,
            value: Value::Bytes(vec![10, 3, b'a', b'n', b'y']),
        },
    ])
}

#[test]
fn remapping_ids_keeps_every_other_field_byte_for_byte() {
    let source = SavedObjectGraph {
        nodes: vec![
            object_with_unknown_fields().into(),
            Vec::new().into(),
            Vec::new().into(),
            Vec::new().into(),
            Vec::new().into(),
        ],
        concrete_functions: BTreeMap::new(),
    };
    // Node 2 dropped: 3 → 2, 4 → 3.
    let ids = vec![Some(0), Some(1), None, Some(2), Some(3)];
    let pruned = objects::pruned_graph(
        Path::new("x"),
        &source,
        &ids,
        &BTreeSet::new(),
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(pruned.nodes.len(), 4);
    let fields = wire::parse(&pruned.nodes[0]).unwrap();
    let numbers: Vec<u32> = fields.iter().map(|f| f.number).collect();
    assert_eq!(
        numbers,
        vec![1, 15, 13, 11, 14],
        "the dropped child's edge goes"
    );
    let original = wire::parse(&object_with_unknown_fields()).unwrap();
    let unknown = |fields: &[wire::Field], n: u32| fields.iter().find(|f| f.number == n).cloned();
    assert_eq!(unknown(&fields, 13), unknown(&original, 13));
    assert_eq!(unknown(&fields, 14), unknown(&original, 14));
    let decoded = SavedObject::decode(pruned.nodes[0].as_ref()).unwrap();
    assert_eq!(decoded.children.len(), 1);
    assert_eq!(decoded.children[0].node_id, 1);
    let saveable = &decoded.saveable_objects["VARIABLE_VALUE"];
    assert_eq!((saveable.save_function, saveable.restore_function), (2, 3));
}
