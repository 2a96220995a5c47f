//! Variables: a saver and `variables/` come together, the saver's tensors
//! exist, and every key the restore subgraph reads is in the bundle's index
//! with the dtype the restore op expects and the shape of the variable it
//! is assigned to.

use std::path::Path;

use super::{Findings, Rule};
use crate::export::error::messages;
use crate::format::bundle::BundleReader;
use crate::format::limits::MAX_IDENTITY_HOPS;
use crate::format::proto::{DataType, SaverDef};
use crate::ir::constants::through_identities;
use crate::ir::{AttrExt, Graph, NodeId, TensorRef};
use crate::model::method_rules::shape_text;
use crate::op_kinds::is_variable_op;
use crate::typing::{dims, dtype_name};

/// `saver`: a saver restores from `variables/`, so one without the other
/// fails at load or serves uninitialized variables; the saver's filename
/// tensor and restore op are in the graph. The bundle, when there is one
/// to restore from.
pub fn saver(
    graph: &Graph,
    saver: Option<&SaverDef>,
    variables: Option<&Path>,
    findings: &mut Findings,
) -> Option<BundleReader> {
    match (saver, variables) {
        (Some(saver), Some(prefix)) => {
            saver_tensors(graph, saver, findings);
            open_bundle(prefix, findings)
        }
        (Some(saver), None) => {
            let node = saver.restore_op_name.as_str();
            findings.error(
                Rule::Saver,
                Some(crate::ir::node_of(node)),
                "saver_def present but variables/variables.index is missing",
            );
            None
        }
        (None, Some(_)) => {
            findings.error(
                Rule::Saver,
                None,
                "variables/ present but no saver_def restores them",
            );
            None
        }
        (None, None) => None,
    }
}

fn saver_tensors(graph: &Graph, saver: &SaverDef, findings: &mut Findings) {
    for tensor in [&saver.filename_tensor_name, &saver.restore_op_name] {
        if graph.tensor(tensor).is_err() {
            findings.error(
                Rule::Saver,
                Some(crate::ir::node_of(tensor)),
                format!("saver_def names missing {tensor:?}"),
            );
        }
    }
}

fn open_bundle(prefix: &Path, findings: &mut Findings) -> Option<BundleReader> {
    BundleReader::open(prefix)
        .map_err(|e| {
            findings.error(
                Rule::RestoreVariable,
                None,
                format!("variables: {}", messages(&e).join(": ")),
            )
        })
        .ok()
}

/// `restore-variable`: every key a `RestoreV2` reads is in the bundle, with
/// the dtype the op expects and (for a whole, unsliced variable) the shape
/// of the variable its value is assigned to.
pub fn restored_variables(graph: &Graph, reader: &BundleReader, findings: &mut Findings) {
    for id in graph.node_ids() {
        if graph.op(id) == "RestoreV2" {
            restore_op(graph, id, reader, findings);
        }
    }
}

fn restore_op(graph: &Graph, id: NodeId, reader: &BundleReader, findings: &mut Findings) {
    let node = graph.node(id);
    let dtypes = node.attr_list_type("dtypes").unwrap_or_default();
    let keys = const_strings(graph, id, 1);
    let slices = const_strings(graph, id, 2);
    for (port, key) in keys.iter().enumerate() {
        let key = String::from_utf8_lossy(key);
        let stored = match reader.dtype_and_shape(&key) {
            Ok(stored) => stored,
            Err(e) => {
                let message = format!(
                    "{:?} restores {key:?}: {}",
                    node.name(),
                    messages(&e).join(": ")
                );
                findings.error(Rule::RestoreVariable, Some(node.name()), message);
                continue;
            }
        };
        let restored = Restored {
            graph,
            op: id,
            port,
            key: &key,
        };
        restored.dtype_agrees(dtypes.get(port).copied(), stored.0, findings);
        let whole = slices.get(port).is_none_or(|s| s.is_empty());
        if whole {
            restored.shape_agrees(&stored.1, findings);
        }
    }
}

/// One output of a restore op: the value stored under `key`.
struct Restored<'a> {
    graph: &'a Graph,
    op: NodeId,
    port: usize,
    key: &'a str,
}

impl Restored<'_> {
    fn dtype_agrees(&self, expected: Option<DataType>, stored: DataType, findings: &mut Findings) {
        if expected == Some(stored) {
            return;
        }
        let name = self.graph.name(self.op);
        let expected = expected.map_or("nothing".to_string(), |d| dtype_name(d as i32));
        findings.error(
            Rule::RestoreVariable,
            Some(name),
            format!(
                "{name:?} restores {:?} as {expected} but it is stored as {}",
                self.key,
                dtype_name(stored as i32)
            ),
        );
    }

    fn shape_agrees(&self, stored: &[i64], findings: &mut Findings) {
        let Some((variable, shape)) = self.assigned_variable() else {
            return;
        };
        if shape.iter().all(|d| *d >= 0) && shape != stored {
            findings.error(
                Rule::RestoreVariable,
                Some(&variable),
                format!(
                    "variable {variable:?} has shape {}, but {:?} is stored with shape {}",
                    shape_text(&shape),
                    self.key,
                    shape_text(stored)
                ),
            );
        }
    }

    /// The variable this output is assigned to, and the shape it states.
    fn assigned_variable(&self) -> Option<(String, Vec<i64>)> {
        let mut value = TensorRef::new(self.op, self.port);
        for _ in 0..MAX_IDENTITY_HOPS {
            let consumers = self.graph.data_consumers(value);
            if let Some(found) = consumers
                .iter()
                .find_map(|&(c, slot)| self.assignee(c, slot))
            {
                return Some(found);
            }
            // Through the restore half's conversions too: the stored value
            // keeps the variable's shape through `Cast` and the `Mul` by
            // its scales (but the scales, at the `Mul`'s slot 1, do not).
            let forward = consumers.iter().find(|&&(c, slot)| {
                matches!(self.graph.op(c), "Identity" | "Cast")
                    || (self.graph.op(c) == "Mul" && slot == 0)
            })?;
            value = TensorRef::new(forward.0, 0);
        }
        None
    }

    /// When `consumer` assigns its input `slot` to a variable: that variable.
    fn assignee(&self, consumer: NodeId, slot: usize) -> Option<(String, Vec<i64>)> {
        let assigns = matches!(self.graph.op(consumer), "Assign" | "AssignVariableOp");
        if !assigns || slot != 1 {
            return None;
        }
        let target = through_identities(self.graph, self.graph.data_input(consumer, 0)?);
        let node = self.graph.node(target.node);
        if !is_variable_op(&node.op) {
            return None;
        }
        // The variable's own shape: a resource handle's output is a scalar.
        let shape = node.attr_shape("shape").ok().and_then(dims)?;
        Some((node.name().to_string(), shape))
    }
}

/// `restore-variable`, for variables no restore reaches: every variable of
/// the graph is assigned a value a `RestoreV2` read, else serving reads it
/// uninitialized ("Attempting to use uninitialized value").
pub fn unrestored_variables(graph: &Graph, findings: &mut Findings) {
    let restored = restored_targets(graph);
    for id in graph.node_ids() {
        let name = graph.name(id);
        if is_variable_op(graph.op(id)) && !restored.contains(&id) {
            findings.error(
                Rule::RestoreVariable,
                Some(name),
                format!(
                    "variable {name:?} ({}) is not assigned by any restore op: it would serve uninitialized",
                    graph.op(id)
                ),
            );
        }
    }
}

/// The variables an `Assign`/`AssignVariableOp` gives a value read by a `RestoreV2`.
fn restored_targets(graph: &Graph) -> std::collections::HashSet<NodeId> {
    let assigns = graph
        .node_ids()
        .into_iter()
        .filter(|&id| matches!(graph.op(id), "Assign" | "AssignVariableOp"));
    assigns
        .filter(|&id| {
            graph
                .data_input(id, 1)
                .is_some_and(|value| read_by_restore(graph, value))
        })
        .filter_map(|id| graph.data_input(id, 0))
        .map(|target| through_identities(graph, target).node)
        .collect()
}

/// Whether `value` is what a `RestoreV2` read, possibly turned back from
/// its stored dtype on the way: the restore half of a variable stored as
/// float16 or int32 `Cast`s it, one stored as int8 `Cast`s it and `Mul`s
/// it by its restored scales (see `back::write::saver::stored`).
fn read_by_restore(graph: &Graph, value: TensorRef) -> bool {
    let mut value = value;
    for _ in 0..MAX_IDENTITY_HOPS {
        let source = through_identities(graph, value);
        let next = match graph.op(source.node) {
            "RestoreV2" => return true,
            "Cast" => graph.data_input(source.node, 0),
            "Mul" => dequantized_input(graph, source.node),
            _ => None,
        };
        let Some(next) = next else {
            return false;
        };
        value = next;
    }
    false
}

/// The int8 side of a dequantizing `Mul` (a `Cast` of a restored value,
/// scaled by restored scales): the input that is a `Cast`, when the other
/// input was itself read by a restore.
fn dequantized_input(graph: &Graph, mul: NodeId) -> Option<TensorRef> {
    let x = graph.data_input(mul, 0)?;
    let scales = graph.data_input(mul, 1)?;
    let cast = through_identities(graph, x);
    let scales_source = through_identities(graph, scales);
    let dequantizes = graph.op(cast.node) == "Cast" && graph.op(scales_source.node) == "RestoreV2";
    dequantizes.then_some(x)
}

/// The string values of the `Const` feeding input `slot` of `id` (empty
/// when it is not a string constant).
fn const_strings(graph: &Graph, id: NodeId, slot: usize) -> Vec<Vec<u8>> {
    graph
        .data_input(id, slot)
        .map(|t| through_identities(graph, t))
        .and_then(|t| graph.node(t.node).attr_tensor("value").ok())
        .map(|v| v.string_val.iter().map(|s| s.to_vec()).collect())
        .unwrap_or_default()
}
