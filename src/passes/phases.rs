//! A run in named phases: each phase a [`Pipeline`], the graph validated
//! after every phase in every build (between passes only in debug builds,
//! where it is cheap to pay for). An export runs the phases `serve`,
//! `freeze`, `variants` and `shrink`; a phase with no pass is left out.

use super::{PassContext, PassError, PassReport, Pipeline};
use crate::model::Model;
use crate::timings::Stage;

/// What one phase's passes did.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    pub phase: &'static str,
    pub passes: Vec<PassReport>,
}

/// Named pipelines, run in order.
#[derive(Default)]
pub struct Phases {
    phases: Vec<(&'static str, Pipeline)>,
}

impl Phases {
    pub fn new() -> Phases {
        Phases::default()
    }

    /// Adds `pipeline` as phase `name`, unless it has no pass.
    pub fn push(&mut self, name: &'static str, pipeline: Pipeline) {
        if !pipeline.names().is_empty() {
            self.phases.push((name, pipeline));
        }
    }

    /// Phase `name`'s pipeline, to add passes of one's own to it
    /// ([`Pipeline::insert_after`], [`Pipeline::push`]).
    pub fn pipeline_mut(&mut self, name: &str) -> Option<&mut Pipeline> {
        let phase = self.phases.iter_mut().find(|(n, _)| *n == name);
        phase.map(|(_, pipeline)| pipeline)
    }

    /// The phases' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.phases.iter().map(|(name, _)| *name).collect()
    }

    /// The phases from `name` on, taken out of these (none when no phase
    /// has that name), so a caller can look at the model in between.
    pub fn split_off(&mut self, name: &str) -> Phases {
        let at = self.phases.iter().position(|(n, _)| *n == name);
        let rest = at.map_or_else(Vec::new, |at| self.phases.split_off(at));
        Phases { phases: rest }
    }

    /// Runs every phase in order, validating the graph after each.
    pub fn run(
        &self,
        model: &mut Model,
        cx: &mut PassContext,
    ) -> Result<Vec<PhaseReport>, PassError> {
        let mut reports = Vec::with_capacity(self.phases.len());
        for (phase, pipeline) in &self.phases {
            let passes = pipeline.run(model, cx)?;
            let last = pipeline.names().last().copied().unwrap_or(phase);
            // Timed like the checks between passes, so a large graph's
            // validation is not left unaccounted in the export's timings.
            let valid = cx.timings.time(Stage::Validate, || model.graph.validate());
            valid.map_err(|source| PassError::Invalid { pass: last, source })?;
            reports.push(PhaseReport { phase, passes });
        }
        Ok(reports)
    }
}
