//! Lowering for saving, as a pass: the serving graph gets what a
//! SavedModel needs to restore and initialize it — a read of every
//! variable, asset path constants pointing at their files, the table init
//! op — and the saver and MetaGraphDef parts are worked out, once. The
//! writer then only serialises. The variants' model (`cx.placed`) is
//! lowered alike, with the same storage plan.

use super::WriteError;
use super::saved_model::lower_for_saving;
use crate::model::Model;
use crate::passes::{Pass, PassContext, PassError, PassReport};
use crate::storage::StorageOptions;

/// Lowers the model (and the variants') for saving.
pub struct LowerForSavingPass {
    /// How the variables are stored (their saver casts to match).
    pub storage: StorageOptions,
}

impl Pass for LowerForSavingPass {
    fn name(&self) -> &'static str {
        "lower-for-saving"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        cx.variables_storage = Some(lower_for_saving(model, &self.storage).map_err(boxed)?);
        if let Some(placed) = cx.placed.as_mut() {
            lower_for_saving(placed, &self.storage).map_err(boxed)?;
        }
        Ok(PassReport::default())
    }
}

fn boxed(error: WriteError) -> PassError {
    PassError::Other(Box::new(error))
}
