//! Shape inference shared by the shape passes of one pipeline run.
//!
//! The shape check, the batch rewrite, the batch check and the output
//! shapes each need inference over the same serving graph from the same
//! signature inputs; on a large graph inference is the bulk of their time.
//! The memo keeps each result by the facts it started from, for as long as
//! the passes that run leave the graph as inference reads it: the pipeline
//! empties it after any pass that does not say so ([`Pass::keeps_shapes`]),
//! and at the start and end of every run.

use std::collections::HashMap;
use std::sync::Arc;

use super::Pass;
use crate::ir::{IrError, TensorRef};
use crate::model::Model;
use crate::ops::OpSignatures;
use crate::ops::shapes::{Fact, Inference, infer};

/// Inferences of the current graph, by the seeds each started from.
#[derive(Debug, Default)]
pub struct ShapeMemo {
    entries: Vec<(HashMap<TensorRef, Fact>, Arc<Inference>)>,
}

impl ShapeMemo {
    /// Inference over `model`'s graph from `seeds`: remembered, or run
    /// and remembered.
    pub fn infer(
        &mut self,
        model: &Model,
        seeds: &HashMap<TensorRef, Fact>,
    ) -> Result<Arc<Inference>, IrError> {
        if let Some((_, known)) = self.entries.iter().find(|(key, _)| key == seeds) {
            return Ok(Arc::clone(known));
        }
        let ops = OpSignatures::of(model);
        let inference = Arc::new(infer(&model.graph, &ops, seeds)?);
        self.entries.push((seeds.clone(), Arc::clone(&inference)));
        Ok(inference)
    }

    /// Forgets every inference: the graph changed.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Forgets every inference unless `pass` left the graph as inference
    /// reads it.
    pub(super) fn after(&mut self, pass: &dyn Pass) {
        if !pass.keeps_shapes() {
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shapes::Shape;
    use crate::passes::testing::{model, node};
    use crate::passes::{PassContext, PassError, PassReport};

    struct Touches(bool);

    impl Pass for Touches {
        fn name(&self) -> &'static str {
            "touches"
        }
        fn run(&self, _: &mut Model, _: &mut PassContext) -> Result<PassReport, PassError> {
            Ok(PassReport::default())
        }
        fn keeps_shapes(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn remembers_by_seeds_until_a_pass_may_change_the_graph() {
        let model = model(vec![
            node("x", "Placeholder", &[]),
            node("y", "Relu", &["x"]),
        ]);
        let x = model.graph.tensor("x:0").unwrap();
        let seeds = |shape: Shape| [(x, Fact::of(None, shape))].into_iter().collect();
        let (scalar, unranked) = (seeds(Shape::ranked(&[])), seeds(Shape::Unknown));
        let mut memo = ShapeMemo::default();
        let first = memo.infer(&model, &scalar).unwrap();
        assert!(Arc::ptr_eq(&first, &memo.infer(&model, &scalar).unwrap()));
        let other = memo.infer(&model, &unranked).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        memo.after(&Touches(true));
        assert!(Arc::ptr_eq(&first, &memo.infer(&model, &scalar).unwrap()));
        memo.after(&Touches(false));
        assert!(!Arc::ptr_eq(&first, &memo.infer(&model, &scalar).unwrap()));
    }
}
