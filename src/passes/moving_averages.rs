//! Moving averages of the weights (`--moving-averages`). A training program
//! that keeps an `ExponentialMovingAverage` of its variables evaluates with
//! the averages (`ema.variables_to_restore()`); this pass finds them by
//! their update ops ([`averages`](super::averages)), and with the option
//! on serves each averaged variable with its average's checkpoint value,
//! written under the variable's own key ([`Model::served_averages`]); the
//! graph itself is unchanged. Batch-norm moving statistics (already what
//! inference reads) and averages kept for summaries are never swapped.
//!
//! Whatever the option, it records what each averaging and optimizer
//! variable is ([`Model::checkpoint_roles`]), so a report can say why one
//! is left out; without the option it notes the weight averages it saw.

use super::averages::{AverageKind, checkpoint_roles, find_averages, weight_averages};
use super::{Pass, PassContext, PassError, PassReport};
use crate::format::bundle::BundleReader;
use crate::format::dtypes::{base_dtype, dtype_name};
use crate::ir::{AttrExt, NodeId};
use crate::model::Model;

/// The option's flag, as reports and errors name it.
pub const FLAG: &str = "--moving-averages";

/// Finds the weight averages and, when `serve`, serves them.
pub struct MovingAveragesPass {
    pub serve: bool,
}

/// One variable and its average, by node and checkpoint key.
struct Pair {
    variable: String,
    variable_key: String,
    shadow: String,
    shadow_key: String,
}

impl Pass for MovingAveragesPass {
    fn name(&self) -> &'static str {
        "moving-averages"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let averages = find_averages(&model.graph);
        model
            .checkpoint_roles
            .extend(checkpoint_roles(model, &averages));
        let pairs: Vec<Pair> = weight_averages(&averages)
            .into_iter()
            .map(|(variable, shadow)| pair(model, variable, shadow))
            .collect();
        let pairs = stored(model, pairs)?;
        if !self.serve {
            if !pairs.is_empty() {
                report.note(format!(
                    "the checkpoint holds moving averages of {} weights; {FLAG} serves them \
                     in place of the trained values",
                    pairs.len()
                ));
            }
            return Ok(report);
        }
        if pairs.is_empty() {
            let count = |kind| averages.iter().filter(|a| a.kind == kind).count();
            return Err(PassError::NoWeightAverages {
                batch_statistics: count(AverageKind::BatchStatistic),
                summary_averages: count(AverageKind::SummaryAverage),
            });
        }
        for (variable, shadow) in weight_averages(&averages) {
            check_alike(model, variable, shadow)?;
        }
        check_stored_alike(model, &pairs)?;
        for p in pairs {
            report.note(format!("{} serves {}", p.variable_key, p.shadow_key));
            model.served_averages.insert(p.variable_key, p.shadow_key);
        }
        Ok(report)
    }
}

fn pair(model: &Model, variable: NodeId, shadow: NodeId) -> Pair {
    let key = |id: NodeId| {
        let name = model.graph.name(id);
        model
            .checkpoint_slots
            .get(name)
            .map_or_else(|| name.to_string(), |slot| slot.key.clone())
    };
    Pair {
        variable: model.graph.name(variable).to_string(),
        variable_key: key(variable),
        shadow: model.graph.name(shadow).to_string(),
        shadow_key: key(shadow),
    }
}

/// The pairs whose average the checkpoint holds (all of them without a
/// checkpoint: the graph is all there is to go by).
fn stored(model: &Model, pairs: Vec<Pair>) -> Result<Vec<Pair>, PassError> {
    let Some(reader) = open(model)? else {
        return Ok(pairs);
    };
    Ok(pairs
        .into_iter()
        .filter(|p| reader.contains(&p.shadow_key))
        .collect())
}

fn open(model: &Model) -> Result<Option<BundleReader>, PassError> {
    let Some(checkpoint) = &model.checkpoint else {
        return Ok(None);
    };
    BundleReader::open(checkpoint)
        .map(Some)
        .map_err(|e| PassError::Other(Box::new(e)))
}

/// The variable and its average as the graph declares them: one dtype, one shape.
fn check_alike(model: &Model, variable: NodeId, shadow: NodeId) -> Result<(), PassError> {
    let graph = &model.graph;
    let describe = |id: NodeId| -> Option<(String, Vec<i64>)> {
        let node = graph.node(id);
        let dtype = base_dtype(node.attr_type("dtype").ok()?);
        let shape = node.attr_shape("shape").ok()?;
        Some((
            dtype_name(dtype as i32),
            shape.dim.iter().map(|d| d.size).collect(),
        ))
    };
    match (describe(variable), describe(shadow)) {
        (Some(v), Some(s)) if v != s => Err(PassError::BadWeightAverage {
            variable: graph.name(variable).to_string(),
            shadow: graph.name(shadow).to_string(),
            reason: format!(
                "the variable is {} {:?} in the graph, the average {} {:?}",
                v.0, v.1, s.0, s.1
            ),
        }),
        _ => Ok(()),
    }
}

/// The variable's and its average's checkpoint tensors: one dtype, one shape.
fn check_stored_alike(model: &Model, pairs: &[Pair]) -> Result<(), PassError> {
    let Some(reader) = open(model)? else {
        return Ok(());
    };
    for p in pairs {
        let bad = |reason: String| PassError::BadWeightAverage {
            variable: p.variable.clone(),
            shadow: p.shadow.clone(),
            reason,
        };
        let shadow = reader
            .dtype_and_shape(&p.shadow_key)
            .map_err(|e| bad(e.to_string()))?;
        let Ok(variable) = reader.dtype_and_shape(&p.variable_key) else {
            continue;
        };
        if variable != shadow {
            return Err(bad(format!(
                "the checkpoint holds {} as {} {:?} and {} as {} {:?}",
                p.variable_key,
                dtype_name(variable.0 as i32),
                variable.1,
                p.shadow_key,
                dtype_name(shadow.0 as i32),
                shadow.1
            )));
        }
    }
    Ok(())
}
