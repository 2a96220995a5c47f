//! The size of an export computed from its [`WritePlan`] before anything is
//! written: `saved_model.pb`'s encoded length, each variable's bytes as the
//! writer will write them, the exact `variables.index` and each asset's
//! size. `--max-size` is checked against it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::Path;

use serde::Serialize;

use super::SizeError;
use super::advice::{Limit, LimitKind, assess};
use super::inventory::{FileBytes, Inventory, Piece, StoredTensor, float_constant, stored_tensor};
use crate::bundle::BundleReader;
use crate::proto::DataType;
use crate::proto::attr_value::Value;
use crate::write::saved_model::{MetaGraphVariant, WritePlan};

/// What an export will write, in bytes, computed before writing. Every
/// figure is exact: the written directory holds exactly these files.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ProjectedSize {
    pub saved_model_bytes: u64,
    pub variables_data_bytes: u64,
    pub variables_index_bytes: u64,
    pub assets_bytes: u64,
    pub total_bytes: u64,
}

impl ProjectedSize {
    pub fn of(inventory: &Inventory) -> ProjectedSize {
        ProjectedSize {
            saved_model_bytes: inventory.saved_model_bytes,
            variables_data_bytes: inventory.variables_data_bytes(),
            variables_index_bytes: inventory.variables_index_bytes,
            assets_bytes: super::inventory::sum_files(&inventory.assets),
            total_bytes: inventory.total_bytes(),
        }
    }
}

/// The inventory `plan` will write for `variants` (whose graphs' float
/// constants `--weights` would also convert).
pub fn project(
    plan: &WritePlan<'_>,
    variants: &[MetaGraphVariant<'_>],
) -> Result<Inventory, SizeError> {
    Ok(Inventory {
        saved_model_bytes: plan.saved_model_bytes(),
        variables_index_bytes: plan.variables_index_bytes()?,
        tensors: planned_tensors(plan)?,
        unaccounted_data_bytes: 0,
        assets: plan
            .assets()
            .iter()
            .map(|planned| FileBytes {
                path: planned.asset.filename.clone(),
                bytes: planned.bytes,
            })
            .collect(),
        other: Vec::new(),
        graph_constants: variants.iter().flat_map(graph_constants).collect(),
    })
}

/// Each kept tensor with its source's pieces. A tensor written with other
/// bytes than its source holds (already converted) counts at its written
/// bytes, as one piece no precision converts again.
fn planned_tensors(plan: &WritePlan<'_>) -> Result<Vec<StoredTensor>, SizeError> {
    let mut readers: BTreeMap<&Path, BundleReader> = BTreeMap::new();
    let mut tensors = Vec::new();
    for (key, checkpoint, written) in plan.variable_keys() {
        let reader = match readers.entry(checkpoint) {
            Entry::Occupied(open) => open.into_mut(),
            Entry::Vacant(slot) => slot.insert(BundleReader::open(checkpoint)?),
        };
        let mut tensor = stored_tensor(reader, key)?;
        if tensor.bytes() != written {
            tensor.pieces = vec![Piece {
                dtype: DataType::DtInvalid,
                shape: Vec::new(),
                bytes: written,
            }];
        }
        tensors.push(tensor);
    }
    Ok(tensors)
}

/// The float constants of a variant's graph.
fn graph_constants(variant: &MetaGraphVariant<'_>) -> Vec<Piece> {
    let graph = &variant.model.graph;
    let nodes = graph.node_ids().into_iter().map(|id| graph.node(id));
    nodes
        .filter(|node| node.op == "Const")
        .filter_map(|node| match node.attrs.get("value")?.value.as_ref()? {
            Value::Tensor(tensor) => float_constant(tensor),
            _ => None,
        })
        .collect()
}

/// Refuses an inventory over `max_bytes`, with what would fit.
pub fn check_budget(inventory: &Inventory, max_bytes: u64) -> Result<(), SizeError> {
    let projected = inventory.total_bytes();
    if projected <= max_bytes {
        return Ok(());
    }
    let limit = Limit {
        kind: LimitKind::MaxSize,
        bytes: max_bytes,
    };
    Err(SizeError::OverBudget {
        projected,
        limit: max_bytes,
        advice: assess(inventory, &[limit]).advice,
    })
}
