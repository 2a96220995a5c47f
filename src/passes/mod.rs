//! Passes that turn a training graph into a serving graph, and the pipeline
//! that runs them in order.
//!
//! A pass does one thing and reports what it changed, so the CLI can explain
//! every removal and rewiring. Passes are public: tools embed them and add
//! their own through [`Pipeline::insert_after`] / [`Pipeline::push`].

mod assets;
pub mod averages;
pub mod batch_check;
pub mod batch_norm;
pub mod batch_rewrite;
pub mod conds;
pub mod devices;
pub mod dropout;
mod error;
pub mod examples;
pub mod feature_names;
pub mod freeze;
pub mod function_bodies;
pub mod functional_conds;
pub mod graph_transforms;
pub mod head_outputs;
pub mod inputs;
pub mod metadata;
pub mod method;
pub mod moving_averages;
pub mod node_explain;
pub mod output_shapes;
pub mod phases;
mod placeholder;
pub mod prune;
pub mod registry;
mod registry_entries;
mod report;
pub mod shape_check;
pub mod shape_memo;
pub mod shrink;
pub mod sparse_inputs;
pub mod specs;
mod standard;
pub mod strip;
pub mod suggest;
#[cfg(test)]
pub(crate) mod testing;
pub mod transform_spec;
pub mod variants;
pub mod verify;
/// The training-op table moved to [`crate::ops::training`], with the rest of
/// the op knowledge; this name stays for callers of the library.
pub use crate::ops::training as training_ops;

use std::time::{Duration, Instant};

pub use error::{InputShapeError, PassError};
pub use report::{PassReport, Removal, Rewire};

use crate::model::Model;
use crate::timings::{Stage, Timings};

/// One step of the pipeline.
pub trait Pass {
    /// A short kebab-case name, used in reports and to address the pass.
    fn name(&self) -> &'static str;
    /// Runs the pass, returning what it changed.
    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError>;
    /// Whether the pass leaves every node, input, attribute and function
    /// that shape inference reads as it found them (or empties
    /// [`PassContext::shapes`] itself when it changes one), so the
    /// inferences remembered there stay true. Off unless a pass says so.
    fn keeps_shapes(&self) -> bool {
        false
    }
}

/// State shared by the passes of one run.
#[derive(Debug, Default)]
pub struct PassContext {
    /// Validate the graph's invariants after every pass (on in debug builds).
    pub validate_between_passes: bool,
    /// The inputs the inputs pass chose (given or detected), for the
    /// passes that rewrite them.
    pub inputs: Vec<inputs::InputSpec>,
    /// The tf.Example features the examples pass parses, when it ran.
    pub example_features: Option<Vec<examples::Feature>>,
    /// The batch the training pipeline fed the serving inputs with, when
    /// the graph says so and all inputs agree (the inputs pass finds it).
    pub training_batch: Option<i64>,
    /// How many MetaGraphDefs the run's model is written into (each holds
    /// its own copy of the constants a freeze makes); 0 counts as one.
    pub meta_graphs: usize,
    /// The model as the variants serve it: taken before the device
    /// placements are cleared ([`variants::KeepPlacementsPass`]), and
    /// rewritten by the later passes that change storage, not serving.
    pub placed: Option<Model>,
    /// What the freeze pass froze, when it ran.
    pub frozen: Option<freeze::FreezeReport>,
    /// What the vocabulary pass trimmed, when it ran.
    pub vocab: Option<crate::vocab::VocabReport>,
    /// The constants stored in another dtype, when the storage pass ran.
    pub storage: Option<crate::storage::StorageReport>,
    /// How the served model's variables are stored, as lowering for saving
    /// planned it: the writer takes it rather than reading every converted
    /// variable of the checkpoint a second time.
    pub variables_storage: Option<crate::storage::StoragePlan>,
    /// Each pass's time (and the validation's), in the order they ran.
    pub timings: Timings,
    /// Shape inference over the graph as it is now, shared by the passes
    /// that need it (see [`shape_memo`]).
    pub shapes: shape_memo::ShapeMemo,
}

impl PassContext {
    pub fn new() -> PassContext {
        PassContext {
            validate_between_passes: cfg!(debug_assertions),
            ..PassContext::default()
        }
    }
}

/// An ordered, editable list of passes.
pub struct Pipeline {
    passes: Vec<Box<dyn Pass>>,
}

/// What the serving pipeline needs to know.
#[derive(Debug, Clone, Default)]
pub struct ServingSpec {
    pub inputs: Vec<inputs::InputSpec>,
    pub outputs: Vec<inputs::OutputSpec>,
    /// Signature key; `serving_default` when empty.
    pub signature_name: String,
    /// Extra boolean training-flag nodes to set to false.
    pub training_flags: Vec<String>,
    /// Keep the training graph's device placements (cleared by default).
    pub keep_devices: bool,
    /// Serve serialized tf.Examples (`--examples`; classify and regress imply it).
    pub examples: bool,
    /// The API the served signature answers (`--method`).
    pub method: method::ServingMethod,
    /// The labels of a classify signature's score columns (`--class-names`).
    pub class_names: Option<Vec<String>>,
    /// Beside a classify or regress signature, Estimator's `classification`
    /// and `regression` copies; in a predict signature, Estimator's
    /// `all_classes` and `all_class_ids` (`--estimator-signatures`).
    pub estimator_signatures: bool,
    /// Export a graph that serves only its training batch, the signature
    /// saying so (`--fixed-batch`), rather than refuse it.
    pub fixed_batch: bool,
    /// Serve the weights' moving averages in place of their trained values
    /// (`--moving-averages`).
    pub moving_averages: bool,
}

impl Pipeline {
    pub fn empty() -> Pipeline {
        Pipeline { passes: Vec::new() }
    }

    /// The standard training → serving sequence, built through the
    /// standard [`registry::Registry`].
    pub fn serving(spec: &ServingSpec) -> Pipeline {
        Pipeline::serving_from(&registry::Registry::standard(), spec).expect(
            "the standard registry builds every serving pass without arguments (unit-tested)",
        )
    }

    /// The names of the serving passes `spec` asks for, in order.
    pub fn serving_pass_names(spec: &ServingSpec) -> Vec<&'static str> {
        let mut names = vec!["inputs"];
        if spec.examples || spec.method.needs_examples() {
            names.push("examples");
        }
        if spec.method.needs_examples() || spec.estimator_signatures {
            names.push("method");
        }
        names.extend([
            "training_conds",
            "dropout",
            "moving_averages",
            "batch_norm",
            "debug_ops",
            "prune",
            "function_bodies",
            "verify",
            "shape_check",
            "batch_rewrite",
            "batch_check",
            "metadata",
            "output_shapes",
        ]);
        if !spec.keep_devices {
            names.push("clear_devices");
        }
        names
    }

    /// The serving sequence with each pass taken from `registry` by name,
    /// so a tool can replace one of them under the same name.
    pub fn serving_from(
        registry: &registry::Registry,
        spec: &ServingSpec,
    ) -> Result<Pipeline, PassError> {
        let cx = registry::BuildContext {
            spec: spec.clone(),
            ..registry::BuildContext::default()
        };
        let mut pipeline = Pipeline::empty();
        for name in Pipeline::serving_pass_names(spec) {
            pipeline.push_boxed(registry.build(name, &[], &cx)?);
        }
        Ok(pipeline)
    }

    pub fn push(&mut self, pass: impl Pass + 'static) {
        self.passes.push(Box::new(pass));
    }

    /// Appends a pass built elsewhere (say by the [`registry::Registry`]).
    pub fn push_boxed(&mut self, pass: Box<dyn Pass>) {
        self.passes.push(pass);
    }

    /// Inserts `pass` right after the pass called `after`.
    pub fn insert_after(
        &mut self,
        after: &str,
        pass: impl Pass + 'static,
    ) -> Result<(), PassError> {
        let index = self.position(after)?;
        self.passes.insert(index + 1, Box::new(pass));
        Ok(())
    }

    /// Removes the pass called `name`.
    pub fn remove(&mut self, name: &str) -> Result<(), PassError> {
        let index = self.position(name)?;
        self.passes.remove(index);
        Ok(())
    }

    fn position(&self, name: &str) -> Result<usize, PassError> {
        self.passes
            .iter()
            .position(|p| p.name() == name)
            .ok_or_else(|| PassError::UnknownPass {
                name: name.into(),
                known: self.names().iter().map(|s| s.to_string()).collect(),
            })
    }

    /// The pass names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    /// Runs every pass in order, adding each pass's time (and the
    /// validation between passes, when on) to `cx.timings`; stops at the
    /// first error.
    pub fn run(
        &self,
        model: &mut Model,
        cx: &mut PassContext,
    ) -> Result<Vec<PassReport>, PassError> {
        let mut reports = Vec::with_capacity(self.passes.len());
        let mut validating = Duration::ZERO;
        // What was inferred before this run may not hold of its model.
        cx.shapes.clear();
        for pass in &self.passes {
            let started = Instant::now();
            let ran = pass.run(model, cx);
            cx.shapes.after(pass.as_ref());
            let mut report = ran?;
            let elapsed = started.elapsed();
            report.pass = pass.name().to_string();
            report.micros = elapsed.as_micros() as u64;
            cx.timings.record(Stage::Pass(report.pass.clone()), elapsed);
            if cx.validate_between_passes {
                let started = Instant::now();
                let valid = model.graph.validate();
                validating += started.elapsed();
                valid.map_err(|source| PassError::Invalid {
                    pass: pass.name(),
                    source,
                })?;
            }
            reports.push(report);
        }
        if cx.validate_between_passes {
            cx.timings.record(Stage::Validate, validating);
        }
        cx.shapes.clear();
        Ok(reports)
    }
}
