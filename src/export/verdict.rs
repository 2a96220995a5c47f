//! What an export says about the SavedModel it wrote — the checkpoint
//! tensors it left out, and its size against the services' limits — as
//! functions of the stages' results, so a tool that runs the stages itself
//! (read → [`Pipeline`](crate::Pipeline) → write) gets the same verdict as
//! [`export_serving_model`](crate::export_serving_model), which calls them.

use std::collections::HashSet;

use serde::Serialize;

use crate::back::size::{SERVICE_LIMITS, SizeError, SizeReport, StoredWeights, measure_export};
use crate::back::write::saved_model::WriteReport;
use crate::export::error::Error;
use crate::format::bundle::BundleReader;
use crate::model::Model;
use crate::storage::StorageOptions;

/// A checkpoint tensor the export left out, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DroppedVariable {
    pub key: String,
    pub bytes: u64,
    pub reason: String,
}

/// Why a checkpoint tensor is not needed by the serving graph, by its name
/// alone: the fallback when the training graph does not say (an export
/// tells optimizer slots and moving averages apart by the ops updating them).
pub fn drop_reason(key: &str) -> &'static str {
    const SLOTS: &[&str] = &[
        "Adam",
        "Adam_1",
        "Momentum",
        "Adagrad",
        "RMSProp",
        "RMSProp_1",
        "Ftrl",
        "Ftrl_1",
        "Adadelta",
        "Adadelta_1",
    ];
    let last = key.rsplit('/').next().unwrap_or(key);
    if SLOTS.contains(&last) {
        "optimizer slot"
    } else if last.starts_with("beta1_power") || last.starts_with("beta2_power") {
        "optimizer state"
    } else if last == "global_step" {
        "training step counter"
    } else {
        "not read by the serving graph"
    }
}

/// The tensors of `model`'s checkpoint that `written` neither holds in
/// `variables/` nor froze into the graph, each with its bytes and why it
/// is not needed; empty when the model has no checkpoint. Call it with the
/// model the pipeline ran on and the writer's report.
///
/// ```
/// use servegraph::passes::ServingSpec;
/// use servegraph::write::saved_model::write_saved_model;
/// use servegraph::{Overwrite, PassContext, Pipeline, dropped_variables, read_model};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut model = read_model("testdata/fixtures/mlp_queue", None, &[])?;
/// let spec = ServingSpec {
///     outputs: vec!["probabilities=probabilities:0".parse()?],
///     ..ServingSpec::default()
/// };
/// Pipeline::serving(&spec).run(&mut model, &mut PassContext::new())?;
/// let out = tempfile::tempdir()?;
/// let tags = ["serve".to_string()];
/// let written = write_saved_model(&model, &tags, out.path().join("m"), Overwrite::Refuse)?;
///
/// let dropped = dropped_variables(&model, &written)?;
/// // Trained with Adam: its moment slots stay behind.
/// assert!(dropped.iter().any(|v| v.reason == "optimizer slot"));
/// assert!(dropped.iter().all(|v| written.variables.iter().all(|k| k.key != v.key)));
/// # Ok(())
/// # }
/// ```
pub fn dropped_variables(
    model: &Model,
    written: &WriteReport,
) -> Result<Vec<DroppedVariable>, Error> {
    let Some(checkpoint) = &model.checkpoint else {
        return Ok(Vec::new());
    };
    let reader = BundleReader::open(checkpoint)?;
    let object_reasons = crate::front::object_graph::ObjectGraph::read(&reader)?
        .map(|objects| objects.training_only_keys())
        .unwrap_or_default();
    let written_keys = written.variables.iter().map(|v| v.key.as_str());
    let frozen_keys = model.frozen_keys.iter().map(String::as_str);
    // A moving average served in its variable's place is kept, under the
    // variable's key (its trained value is not, though the key is).
    let kept_keys = written_keys.chain(frozen_keys);
    let served: HashSet<&str> = kept_keys.collect();
    let averages = model
        .served_averages
        .iter()
        .filter(|(key, _)| served.contains(key.as_str()))
        .map(|(_, average)| average.as_str());
    let kept: HashSet<&str> = served.iter().copied().chain(averages).collect();
    Ok(reader
        .entries()
        .into_iter()
        .filter(|entry| !kept.contains(entry.name.as_str()))
        .map(|entry| DroppedVariable {
            reason: object_reasons
                .get(&entry.name)
                .copied()
                .or_else(|| model.checkpoint_roles.get(&entry.name).map(String::as_str))
                .unwrap_or_else(|| drop_reason(&entry.name))
                .into(),
            key: entry.name,
            bytes: entry.bytes,
        })
        .collect())
}

/// The SavedModel `written` measured on disk against the services' limits
/// (500 MB MLS1, 10 GB N1, `saved_model.pb` under 1 GiB and 2 GiB): its
/// total, largest contributors and, for a limit passed or close, the flags
/// that would bring it under. `storage` is what the write was given
/// (`WriteOptions::storage`), so the advice builds on what was stored.
///
/// ```
/// use servegraph::passes::ServingSpec;
/// use servegraph::size::LimitKind;
/// use servegraph::write::saved_model::write_saved_model;
/// use servegraph::{Overwrite, PassContext, Pipeline, StorageOptions, read_model, size_verdict};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut model = read_model("testdata/fixtures/tiny_mlp", None, &[])?;
/// let spec = ServingSpec {
///     outputs: vec!["logits=logits/BiasAdd:0".parse()?],
///     ..ServingSpec::default()
/// };
/// Pipeline::serving(&spec).run(&mut model, &mut PassContext::new())?;
/// let out = tempfile::tempdir()?;
/// let tags = ["serve".to_string()];
/// let written = write_saved_model(&model, &tags, out.path().join("m"), Overwrite::Refuse)?;
///
/// let size = size_verdict(&written, &StorageOptions::default())?;
/// assert_eq!(size.saved_model_bytes, written.saved_model_bytes);
/// assert!(size.fits(LimitKind::Mls1) && size.assessment.under_every_limit);
/// print!("{size}");
/// # Ok(())
/// # }
/// ```
pub fn size_verdict(
    written: &WriteReport,
    storage: &StorageOptions,
) -> Result<SizeReport, SizeError> {
    measure_export(&written.path, StoredWeights::of(storage), &SERVICE_LIMITS)
}
