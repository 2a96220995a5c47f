//! The passes that change how the serving model is stored, not what it
//! serves: vocabulary assets trimmed, constants stored in a smaller dtype.
//! They run after the serving passes (and after freezing, so frozen
//! weights are converted too) and rewrite the variants' model in
//! `cx.placed` alike, so every MetaGraphDef written agrees.

use super::{Pass, PassContext, PassError, PassReport};
use crate::model::Model;
use crate::storage::{StorageOptions, convert_constants};
use crate::vocab::trim_vocabularies;

/// Keeps the first `max_entries` entries of the vocabulary assets whose
/// tables map a dropped entry like an unseen one (see [`crate::vocab`]);
/// the report is left in `cx.vocab`.
#[derive(Debug, Clone)]
pub struct TrimVocabulariesPass {
    pub max_entries: u64,
}

impl Pass for TrimVocabulariesPass {
    fn name(&self) -> &'static str {
        "trim-vocabularies"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let trimmed = trim_vocabularies(model, cx.placed.as_mut(), self.max_entries)?;
        cx.vocab = Some(trimmed);
        Ok(PassReport::default())
    }
}

/// Stores the graph's constants in the dtypes `options` ask for (float16,
/// int8 with scales, int64 narrowed); the report is left in `cx.storage`
/// (the variables' conversion is the writer's, which reads the checkpoint).
#[derive(Debug, Clone)]
pub struct StoreConstantsPass {
    pub options: StorageOptions,
}

impl Pass for StoreConstantsPass {
    fn name(&self) -> &'static str {
        "store-constants"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        if let Some(placed) = cx.placed.as_mut() {
            convert_constants(&mut placed.graph, &self.options)?;
        }
        cx.storage = Some(convert_constants(&mut model.graph, &self.options)?);
        Ok(PassReport::default())
    }
}
