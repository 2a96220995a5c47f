//! Object graphs built by hand, as TensorFlow lays them out: a
//! `tf.train.Checkpoint` over a model and a legacy optimizer (slot
//! variables), and a Keras optimizer (moments as plain children).

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;

use super::*;
use crate::format::bundle::{BundleReader, BundleWriter};
use crate::format::proto::attr_value::Value;
use crate::format::proto::trackable_object_graph::TrackableObject as ProtoObject;
use crate::format::proto::trackable_object_graph::trackable_object::{
    ObjectReference, SerializedTensor, SlotVariableReference,
};
use crate::format::proto::{AttrValue, DataType, GraphDef, NodeDef, TrackableObjectGraph};
use crate::ir::Graph;
use crate::model::Model;

fn child(node_id: i32, local_name: &str) -> ObjectReference {
    ObjectReference {
        node_id,
        local_name: local_name.into(),
    }
}

fn variable(full_name: &str, key: &str) -> ProtoObject {
    ProtoObject {
        attributes: vec![SerializedTensor {
            name: VARIABLE_VALUE.into(),
            full_name: full_name.into(),
            checkpoint_key: key.into(),
        }],
        ..ProtoObject::default()
    }
}

fn parent(children: Vec<ObjectReference>) -> ProtoObject {
    ProtoObject {
        children,
        ..ProtoObject::default()
    }
}

const KERNEL_KEY: &str = "model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE";
const SLOT_KEY: &str = "model/dense/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE";

/// root → model → dense → kernel; root → optimizer (a legacy one: its
/// moment `m` for the kernel is a slot variable, its step counter a child);
/// root → save_counter.
fn legacy_checkpoint() -> TrackableObjectGraph {
    let mut optimizer = parent(vec![child(6, "iter")]);
    optimizer.slot_variables = vec![SlotVariableReference {
        original_variable_node_id: 3,
        slot_name: "m".into(),
        slot_variable_node_id: 5,
    }];
    TrackableObjectGraph {
        nodes: vec![
            parent(vec![
                child(1, "model"),
                child(4, "optimizer"),
                child(7, "save_counter"),
            ]),
            parent(vec![child(2, "dense")]),
            parent(vec![child(3, "kernel")]),
            variable("dense/kernel", KERNEL_KEY),
            optimizer,
            variable("dense/kernel/Adam", SLOT_KEY),
            variable("beta1_power", "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE"),
            variable("save_counter", "save_counter/.ATTRIBUTES/VARIABLE_VALUE"),
        ],
    }
}

fn decoded(proto: &TrackableObjectGraph) -> Result<ObjectGraph, ObjectGraphError> {
    ObjectGraph::decode(&proto.encode_to_vec(), Path::new("ckpt-1.index"))
}

#[test]
fn names_objects_by_their_shortest_path_and_slots_like_their_keys() {
    let graph = decoded(&legacy_checkpoint()).unwrap();
    let paths = graph.object_paths();
    assert_eq!(paths[0].as_deref(), Some(""));
    assert_eq!(paths[3].as_deref(), Some("model/dense/kernel"));
    assert_eq!(paths[6].as_deref(), Some("optimizer/iter"));
    assert_eq!(
        paths[5].as_deref(),
        Some("model/dense/kernel/.OPTIMIZER_SLOT/optimizer/m")
    );
}

#[test]
fn a_shorter_path_wins_over_an_earlier_longer_one() {
    // The kernel is reachable as model/dense/kernel and as root/w.
    let mut proto = legacy_checkpoint();
    proto.nodes[0].children.push(child(3, "w"));
    let graph = decoded(&proto).unwrap();
    assert_eq!(graph.object_paths()[3].as_deref(), Some("w"));
}

#[test]
fn finds_the_optimizer_by_its_slot_variables() {
    let graph = decoded(&legacy_checkpoint()).unwrap();
    let roles = graph.roles();
    assert_eq!(graph.optimizers(), [4]);
    assert_eq!(roles[3], Role::Model);
    assert_eq!(roles[4], Role::Optimizer);
    assert_eq!(roles[6], Role::OptimizerState);
    assert_eq!(roles[7], Role::Model);
    assert_eq!(
        roles[5],
        Role::Slot {
            optimizer: 4,
            original: 3,
            slot_name: "m".into()
        }
    );
    assert!(roles[5].is_training_only() && !roles[3].is_training_only());
}

#[test]
fn a_keras_optimizer_without_slot_variables_is_found_by_its_children() {
    // root → model → kernel; root → optimizer → _iterations, _variables → m;
    // the model also links to the optimizer, as Keras models do.
    let proto = TrackableObjectGraph {
        nodes: vec![
            parent(vec![child(1, "model"), child(3, "optimizer")]),
            parent(vec![child(2, "kernel"), child(3, "optimizer")]),
            variable("dense/kernel", KERNEL_KEY),
            parent(vec![child(4, "_iterations"), child(5, "_variables")]),
            variable(
                "iteration",
                "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE",
            ),
            parent(vec![child(4, "0"), child(6, "1")]),
            variable(
                "Adam/m/dense/kernel",
                "optimizer/_variables/1/.ATTRIBUTES/VARIABLE_VALUE",
            ),
        ],
    };
    let graph = decoded(&proto).unwrap();
    let roles = graph.roles();
    assert_eq!(graph.optimizers(), [3]);
    assert_eq!(roles[2], Role::Model);
    assert_eq!(roles[3], Role::Optimizer);
    assert_eq!(roles[4], Role::OptimizerState);
    assert_eq!(roles[6], Role::OptimizerState);
}

#[test]
fn maps_full_names_to_keys() {
    let graph = decoded(&legacy_checkpoint()).unwrap();
    assert_eq!(
        graph.key_for_full_name("dense/kernel"),
        KeyLookup::Found(KERNEL_KEY)
    );
    assert_eq!(graph.key_for_full_name("dense/bias"), KeyLookup::Missing);
    let listed = graph.variables_by_key();
    let kernel = &listed[KERNEL_KEY];
    assert_eq!(kernel.path.as_deref(), Some("model/dense/kernel"));
    assert_eq!(kernel.full_name, "dense/kernel");
    assert!(matches!(listed[SLOT_KEY].role, Role::Slot { .. }));
    let reasons = graph.training_only_keys();
    assert_eq!(reasons[SLOT_KEY], "optimizer slot");
    assert_eq!(
        reasons["optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE"],
        "optimizer state"
    );
    assert_eq!(reasons[OBJECT_GRAPH_KEY], "object graph of the checkpoint");
    assert!(!reasons.contains_key(KERNEL_KEY));
}

#[test]
fn two_variables_with_one_full_name_are_ambiguous() {
    let mut proto = legacy_checkpoint();
    proto.nodes.push(variable(
        "dense/kernel",
        "other/kernel/.ATTRIBUTES/VARIABLE_VALUE",
    ));
    proto.nodes[0].children.push(child(8, "other"));
    let graph = decoded(&proto).unwrap();
    let KeyLookup::Ambiguous(keys) = graph.key_for_full_name("dense/kernel") else {
        panic!("not ambiguous");
    };
    assert_eq!(
        keys,
        [KERNEL_KEY, "other/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
    );
}

#[test]
fn round_trips_through_the_proto() {
    let mut proto = legacy_checkpoint();
    proto.nodes[0].registered_saver = Some(crate::format::proto::RegisteredSaver {
        name: "tf.lookup".into(),
        object_name: "table".into(),
    });
    proto.nodes[1].has_checkpoint_values =
        Some(crate::format::proto::CheckpointValuesFlag { value: true });
    let graph = decoded(&proto).unwrap();
    assert_eq!(graph.objects[1].has_checkpoint_values, Some(true));
    assert_eq!(graph.to_proto(), proto);
}

#[test]
fn refuses_a_reference_past_the_last_object() {
    let mut proto = legacy_checkpoint();
    proto.nodes[2].children.push(child(42, "ghost"));
    let error = decoded(&proto).unwrap_err();
    assert!(
        matches!(
            error,
            ObjectGraphError::BadReference {
                object: 2,
                target: 42,
                count: 8,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("ckpt-1.index"), "{error}");
}

#[test]
fn refuses_a_negative_slot_reference() {
    let mut proto = legacy_checkpoint();
    proto.nodes[4].slot_variables[0].slot_variable_node_id = -1;
    let error = decoded(&proto).unwrap_err();
    assert!(
        matches!(
            error,
            ObjectGraphError::BadReference {
                object: 4,
                target: -1,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn refuses_truncated_bytes_and_an_empty_graph() {
    let bytes = legacy_checkpoint().encode_to_vec();
    let truncated = ObjectGraph::decode(&bytes[..bytes.len() - 3], Path::new("x.index"));
    assert!(matches!(truncated, Err(ObjectGraphError::Decode { .. })));
    let empty = ObjectGraph::decode(&[], Path::new("x.index"));
    assert!(matches!(empty, Err(ObjectGraphError::NoRoot { .. })));
}

/// A bundle holding `entries` (float scalars) and, when given, `graph`
/// under the object graph key.
fn bundle(dir: &Path, graph: Option<&[u8]>, entries: &[&str]) -> std::path::PathBuf {
    let prefix = dir.join("ckpt-1");
    let mut writer = BundleWriter::create(&prefix).unwrap();
    let mut names: Vec<&str> = entries.to_vec();
    if graph.is_some() {
        names.push(OBJECT_GRAPH_KEY);
    }
    names.sort();
    for name in names {
        match graph.filter(|_| name == OBJECT_GRAPH_KEY) {
            Some(bytes) => writer.add_strings(name, &[], &[bytes]).unwrap(),
            None => writer
                .add(name, DataType::DtFloat, &[], &1f32.to_le_bytes())
                .unwrap(),
        }
    }
    writer.finish().unwrap();
    prefix
}

#[test]
fn reads_the_graph_from_a_bundle_and_none_from_a_name_based_one() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = legacy_checkpoint().encode_to_vec();
    let prefix = bundle(dir.path(), Some(&bytes), &[KERNEL_KEY]);
    let reader = BundleReader::open(&prefix).unwrap();
    assert_eq!(
        ObjectGraph::read(&reader).unwrap(),
        Some(decoded(&legacy_checkpoint()).unwrap())
    );
    let plain_dir = dir.path().join("plain");
    std::fs::create_dir(&plain_dir).unwrap();
    let plain = bundle(&plain_dir, None, &["dense/kernel"]);
    assert_eq!(
        ObjectGraph::read(&BundleReader::open(plain).unwrap()).unwrap(),
        None
    );
}

#[test]
fn refuses_an_object_graph_key_that_holds_no_string() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = bundle(dir.path(), None, &[OBJECT_GRAPH_KEY]);
    let error = ObjectGraph::read(&BundleReader::open(&prefix).unwrap()).unwrap_err();
    assert!(
        matches!(error, ObjectGraphError::NotAString { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(OBJECT_GRAPH_KEY), "{error}");
}

#[test]
fn refuses_garbage_under_the_object_graph_key() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = bundle(dir.path(), Some(&[0xff, 0xff, 0xff]), &[]);
    let error = ObjectGraph::read(&BundleReader::open(&prefix).unwrap()).unwrap_err();
    assert!(matches!(error, ObjectGraphError::Decode { .. }), "{error}");
}

fn node(name: &str, op: &str, attrs: &[(&str, Value)]) -> NodeDef {
    let attr: BTreeMap<String, AttrValue> = attrs
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                AttrValue {
                    value: Some(v.clone()),
                },
            )
        })
        .collect();
    NodeDef {
        name: name.into(),
        op: op.into(),
        attr,
        ..NodeDef::default()
    }
}

/// A graph with a ref variable `dense/kernel`, a resource variable node
/// `handle` whose shared name is `dense/bias`, and `global_step`.
fn model_over(prefix: &Path) -> Model {
    let shared = Value::S(bytes::Bytes::from_static(b"dense/bias"));
    let graph_def = GraphDef {
        node: vec![
            node("dense/kernel", "VariableV2", &[]),
            node("handle", "VarHandleOp", &[("shared_name", shared)]),
            node("global_step", "VariableV2", &[]),
        ],
        ..GraphDef::default()
    };
    let mut model = Model::from_graph(Graph::from_graph_def(graph_def).unwrap());
    model.checkpoint_slots = crate::front::read::default_slots(&model.graph);
    model.checkpoint = Some(prefix.to_path_buf());
    model
}

const BIAS_KEY: &str = "model/dense/bias/.ATTRIBUTES/VARIABLE_VALUE";

fn with_bias() -> TrackableObjectGraph {
    let mut proto = legacy_checkpoint();
    proto.nodes.push(variable("dense/bias", BIAS_KEY));
    proto.nodes[2].children.push(child(8, "bias"));
    proto
}

#[test]
fn maps_ref_and_resource_variables_by_full_name() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = with_bias().encode_to_vec();
    let prefix = bundle(dir.path(), Some(&bytes), &[KERNEL_KEY, BIAS_KEY]);
    let mut model = model_over(&prefix);
    assert_eq!(map_variables(&mut model).unwrap(), 2);
    assert_eq!(model.checkpoint_slots["dense/kernel"].key, KERNEL_KEY);
    assert_eq!(model.checkpoint_slots["handle"].key, BIAS_KEY);
    // Not in the object graph: kept as is, and explained when asked.
    assert_eq!(model.checkpoint_slots["global_step"].key, "global_step");
    let reader = BundleReader::open(&prefix).unwrap();
    let why = explain_missing(&model, &reader, "global_step")
        .unwrap()
        .unwrap();
    assert!(
        matches!(why, ObjectGraphError::NotInObjectGraph { .. }),
        "{why}"
    );
    assert!(why.to_string().contains("global_step") && why.to_string().contains("ckpt-1"));
}

#[test]
fn leaves_an_ambiguous_variable_unmapped_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut proto = with_bias();
    proto
        .nodes
        .push(variable("dense/kernel", "copy/.ATTRIBUTES/VARIABLE_VALUE"));
    proto.nodes[0].children.push(child(9, "copy"));
    let bytes = proto.encode_to_vec();
    let prefix = bundle(dir.path(), Some(&bytes), &[KERNEL_KEY, BIAS_KEY]);
    let mut model = model_over(&prefix);
    assert_eq!(map_variables(&mut model).unwrap(), 1);
    assert_eq!(model.checkpoint_slots["dense/kernel"].key, "dense/kernel");
    let reader = BundleReader::open(&prefix).unwrap();
    let why = explain_missing(&model, &reader, "dense/kernel")
        .unwrap()
        .unwrap();
    assert!(
        matches!(why, ObjectGraphError::Ambiguous { ref keys, .. } if keys.len() == 2),
        "{why}"
    );
}

#[test]
fn a_name_based_checkpoint_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = bundle(
        dir.path(),
        None,
        &["dense/kernel", "dense/bias", "global_step"],
    );
    let mut model = model_over(&prefix);
    let before = model.checkpoint_slots.clone();
    assert_eq!(map_variables(&mut model).unwrap(), 0);
    assert_eq!(model.checkpoint_slots, before);
}

#[test]
fn a_corrupt_object_graph_is_an_error_when_a_variable_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = bundle(dir.path(), Some(&[0x0a, 0x05]), &[KERNEL_KEY]);
    let mut model = model_over(&prefix);
    let error = map_variables(&mut model).unwrap_err();
    assert!(matches!(error, ObjectGraphError::Decode { .. }), "{error}");
}
