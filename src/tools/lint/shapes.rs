//! `shape-conflict`: the check an export makes before writing
//! ([`crate::passes::shape_check`]), on any SavedModel: shape inference from
//! each signature's inputs, and a node whose op cannot take its inputs'
//! ranks, sizes or dtypes is an error, since TensorFlow would refuse the
//! graph when it loads or runs it.

use std::collections::BTreeMap;

use super::{Findings, Rule};
use crate::format::proto::{MetaGraphDef, OpDef};
use crate::ir::Graph;
use crate::model::{Model, Signature};
use crate::passes::shape_check::conflicts;

/// Every signature's graph checked; one error per conflicting node.
pub fn shape_conflicts(
    graph: &Graph,
    op_defs: &BTreeMap<String, OpDef>,
    meta: &MetaGraphDef,
    findings: &mut Findings,
) {
    let mut model = Model::from_graph(graph.clone());
    model.op_defs = op_defs.clone();
    let mut seen = std::collections::BTreeSet::new();
    for def in meta.signature_def.values() {
        let signature = Signature::from_signature_def(def);
        let Ok(found) = conflicts(&model, &signature) else {
            continue;
        };
        for conflict in found {
            if seen.insert(conflict.node.clone()) {
                findings.error(
                    Rule::ShapeConflict,
                    Some(&conflict.node),
                    conflict.to_string(),
                );
            }
        }
    }
}
