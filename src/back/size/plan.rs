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
use super::inventory::{
    FileBytes, Inventory, Piece, StoredTensor, StoredWeights, float_constant, stored_tensor,
};
use crate::back::write::saved_model::{MetaGraphVariant, WritePlan};
use crate::format::bundle::BundleReader;
use crate::format::proto::DataType;
use crate::format::proto::attr_value::Value;
use crate::storage::StorageOptions;
use crate::storage::plan::KeyPlan;

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
/// constants `--weights` would also convert), its weights stored as
/// `storage` says.
pub fn project(
    plan: &WritePlan<'_>,
    variants: &[MetaGraphVariant<'_>],
    storage: &StorageOptions,
) -> Result<Inventory, SizeError> {
    Ok(Inventory {
        stored: StoredWeights::of(storage),
        saved_model_bytes: plan.saved_model_bytes(),
        variables_index_bytes: plan.variables_index_bytes()?,
        tensors: planned_tensors(plan)?,
        object_graph_bytes: 0,
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

/// Each kept tensor as the writer stores it, as the index of the written
/// directory will list it: a copied one with its source's pieces, a
/// converted one with each piece in its new dtype and bytes, and its int8
/// scales.
fn planned_tensors(plan: &WritePlan<'_>) -> Result<Vec<StoredTensor>, SizeError> {
    let mut readers: BTreeMap<&Path, BundleReader> = BTreeMap::new();
    let mut tensors = Vec::new();
    for (key, checkpoint, _) in plan.variable_keys() {
        let reader = match readers.entry(checkpoint) {
            Entry::Occupied(open) => open.into_mut(),
            Entry::Vacant(slot) => slot.insert(plan.open_checkpoint(checkpoint)?),
        };
        let tensor = stored_tensor(reader, key)?;
        let Some(key_plan) = plan.key_plan(key) else {
            tensors.push(tensor);
            continue;
        };
        let mut tensor = converted(tensor, reader, key_plan)?;
        tensor.scales = key_plan
            .scale_entries()
            .map(|(_, bytes)| Piece {
                dtype: DataType::DtFloat,
                shape: key_plan.scales_shape().to_vec(),
                bytes: bytes.len() as u64,
            })
            .collect();
        tensors.push(tensor);
    }
    Ok(tensors)
}

/// `tensor` (its source's pieces) in the dtype and bytes `key_plan` writes.
fn converted(
    mut tensor: StoredTensor,
    reader: &BundleReader,
    key_plan: &KeyPlan,
) -> Result<StoredTensor, SizeError> {
    let dtype = key_plan.form.stored_dtype(key_plan.dtype);
    tensor.dtype = dtype;
    let records = reader.record_keys(&tensor.key)?;
    for (piece, record) in tensor.pieces.iter_mut().zip(&records) {
        piece.dtype = dtype;
        piece.bytes = key_plan.records.get(record).map_or(0, |r| r.size);
    }
    Ok(tensor)
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
