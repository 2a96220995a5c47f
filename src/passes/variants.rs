//! Variants (say a GPU graph beside the CPU one) serve the same graph
//! with the training graph's device placements kept. The pass here takes
//! that copy, once every serving rewrite is done and before the placements
//! are cleared, into `cx.placed`, where the writer finds it.

use super::{Pass, PassContext, PassError, PassReport};
use crate::model::Model;

/// Copies the model into `cx.placed`; put it just before the pass that
/// clears device placements.
#[derive(Debug, Clone, Default)]
pub struct KeepPlacementsPass;

impl Pass for KeepPlacementsPass {
    fn name(&self) -> &'static str {
        "keep-placements"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        cx.placed = Some(model.clone());
        Ok(PassReport::default())
    }
}
