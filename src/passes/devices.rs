//! Clears device placements. A training graph pinned to `/device:GPU:0` or
//! to a second CPU (`/cpu:1`) fails to load where that device does not exist
//! — TensorFlow Serving does not place softly by default — so the serving
//! graph is left for the runtime to place. The new restore subgraph pins
//! itself to the CPU, as TensorFlow's own saver does.

use super::{Pass, PassContext, PassError, PassReport};
use crate::model::Model;

/// Empties every node's `device`.
pub struct ClearDevicesPass;

impl Pass for ClearDevicesPass {
    fn name(&self) -> &'static str {
        "clear-devices"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut cleared = 0;
        for id in model.graph.node_ids() {
            let node = model.graph.node_mut(id);
            if !node.device.is_empty() {
                node.device.clear();
                cleared += 1;
                report.edited(node.name());
            }
        }
        if cleared > 0 {
            report.note(format!("device placement cleared on {cleared} nodes"));
        }
        Ok(report)
    }
}
