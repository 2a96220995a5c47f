//! Cleans what the graph says about itself once the passes are done:
//! `_class` colocation entries naming removed nodes, `_output_shapes` that
//! may be stale after rewiring, and the training run's collections and
//! saver, which the writer replaces with its own.

use super::{Pass, PassContext, PassError, PassReport};
use crate::model::Model;
use crate::proto::attr_value::Value;

/// Drops stale metadata.
pub struct MetadataPass;

impl Pass for MetadataPass {
    fn name(&self) -> &'static str {
        "metadata"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut stale_colocations = 0;
        let mut output_shapes = 0;
        for id in model.graph.node_ids() {
            let live: Vec<bool> = match model
                .graph
                .node(id)
                .attrs
                .get("_class")
                .and_then(|a| a.value.as_ref())
            {
                Some(Value::List(list)) => list
                    .s
                    .iter()
                    .map(|s| {
                        let s = String::from_utf8_lossy(s);
                        s.strip_prefix("loc:@")
                            .is_none_or(|target| model.graph.find(target).is_some())
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let node = model.graph.node_mut(id);
            if live.contains(&false)
                && let Some(Value::List(list)) =
                    node.attrs.get_mut("_class").and_then(|a| a.value.as_mut())
            {
                let mut keep = live.iter();
                list.s.retain(|_| *keep.next().unwrap_or(&true));
                stale_colocations += 1;
                if list.s.is_empty() {
                    node.attrs.remove("_class");
                }
            }
            if node.attrs.remove("_output_shapes").is_some() {
                output_shapes += 1;
            }
        }
        if stale_colocations > 0 {
            report.note(format!(
                "{stale_colocations} colocation constraints named removed nodes and were dropped"
            ));
        }
        if output_shapes > 0 {
            report.note(format!("{output_shapes} _output_shapes attrs dropped"));
        }
        let collections: Vec<String> = std::mem::take(&mut model.collections).into_keys().collect();
        if !collections.is_empty() {
            report.note(format!(
                "training collections dropped: {}",
                collections.join(", ")
            ));
        }
        if model.saver_def.take().is_some() {
            report.note("training saver_def dropped; a serving saver is written instead");
        }
        Ok(report)
    }
}
