//! What to export and how, in four groups that follow an export's course:
//! what to read ([`SourceOptions`]), what to serve ([`ServingOptions`]), how
//! to store the weights ([`ExportStorage`]) and what to write and report
//! ([`OutputOptions`]). A route that cannot honour an option refuses it
//! by group and name before the source is read (see the routes).

use std::path::PathBuf;
use std::sync::Arc;

use crate::back::explain::ExplanationOptions;
use crate::back::write::atomic::Overwrite;
use crate::back::write::lower::LowerForSavingPass;
use crate::back::write::progress::CopyProgress;
use crate::back::write::saved_model::{MetaGraphVariant, WriteOptions};
use crate::front::check::CustomOps;
use crate::front::read;
use crate::model::Model;
use crate::model::method_rules::CLASSIFY_CLASSES;
use crate::model::{DEFAULT_SIGNATURE, SERVE_TAG};
use crate::passes::devices::ClearDevicesPass;
use crate::passes::freeze::FreezeLimits;
use crate::passes::freeze::FreezePass;
use crate::passes::inputs::{InputSpec, OutputSpec};
use crate::passes::method::{MethodFlags, ServingMethod};
use crate::passes::node_explain::ExplainScope;
use crate::passes::phases::Phases;
use crate::passes::shrink::{StoreConstantsPass, TrimVocabulariesPass};
use crate::passes::variants::KeepPlacementsPass;
use crate::passes::{PassContext, PassError, Pipeline, ServingSpec};
use crate::storage::{StorageOptions, WEIGHTS_MIN_ELEMENTS, WeightPrecision};
use crate::tf2::SignatureChoice;

use super::variant::Variant;

/// What to export and how. `Default` gives what `servegraph export` does
/// without flags (the CLI starts from it): no inputs (detected), no outputs
/// (an error listing candidates), signature `serving_default`, tag `serve`,
/// method predict, refuse an existing output, clear device placements, no
/// variants, a SavedModel source read from its `serve` MetaGraphDef.
///
/// Set the fields you need and take the rest from `Default`:
///
/// ```
/// use servegraph::{ExportOptions, ExportStorage, Overwrite, ServingOptions, WeightPrecision};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut options = ExportOptions {
///     serving: ServingOptions {
///         inputs: vec!["features=IteratorGetNext:0".parse()?],
///         outputs: vec!["logits=logits/BiasAdd:0".parse()?],
///         ..ServingOptions::default()
///     },
///     storage: ExportStorage {
///         weights: WeightPrecision::F16,
///         ..ExportStorage::default()
///     },
///     ..ExportOptions::default()
/// };
/// options.output.overwrite = Overwrite::Replace;
/// assert_eq!(options.serving.tags, ["serve"]);
/// assert_eq!(options.serving.signature_name, "serving_default");
/// # Ok(())
/// # }
/// ```
///
/// An empty `serving.tags` (or an empty tag) is refused with
/// [`WriteError::BadTagSet`](crate::WriteError::BadTagSet) before anything
/// is read: a MetaGraphDef without tags is not found under `serve`.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// What to read besides the source path.
    pub source: SourceOptions,
    /// The signature served and the graph behind it.
    pub serving: ServingOptions,
    /// The dtypes weights are stored in, freezing and vocabulary trimming.
    pub storage: ExportStorage,
    /// What is written beside the model, and what the report explains.
    pub output: OutputOptions,
}

/// What to read besides the source path.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Variables for a bare GraphDef (or values for a SavedModel's
    /// variables). Default: none.
    pub checkpoint: Option<PathBuf>,
    /// Tags of the MetaGraphDef to read when the source is a SavedModel
    /// (the one whose tag set is exactly these). Default `["serve"]`; an
    /// empty list also reads `serve`. Ignored for other sources.
    pub tags: Vec<String>,
    /// Which of a TF2 SavedModel's own signatures a lean export (no
    /// inputs or outputs named) keeps. Default: all. Ignored for other sources.
    pub signatures: SignatureChoice,
    /// Accept ops that are neither TensorFlow's nor in the source's op list,
    /// for graphs whose custom op library is loaded at serving time.
    /// Default: false (such an op is an error naming the node and the op).
    pub allow_custom_ops: bool,
}

impl Default for SourceOptions {
    fn default() -> SourceOptions {
        SourceOptions {
            checkpoint: None,
            tags: vec![SERVE_TAG.into()],
            signatures: SignatureChoice::All,
            allow_custom_ops: false,
        }
    }
}

/// The signature served and the graph behind it.
#[derive(Debug, Clone)]
pub struct ServingOptions {
    /// Tensors that become placeholders. Default: detected.
    pub inputs: Vec<InputSpec>,
    /// Tensors served. Default: none, which is an error naming candidates.
    pub outputs: Vec<OutputSpec>,
    /// Signature key. Default `serving_default`.
    pub signature_name: String,
    /// The tag set of the served MetaGraphDef; must not be empty. Default
    /// `["serve"]`, the tags TensorFlow Serving loads.
    pub tags: Vec<String>,
    /// The TensorFlow Serving API the served signature answers; classify
    /// and regress imply `examples`. Default: predict.
    pub method: ServingMethod,
    /// Serve serialized tf.Examples: one string input `examples` parsed
    /// into the inputs. Default: false (the inputs are fed as tensors).
    pub examples: bool,
    /// The labels of a classify signature's score columns (with
    /// `estimator_signatures` and method predict: of the `probabilities`
    /// columns). Default: none (`"0"` … `"N-1"`).
    pub class_names: Option<Vec<String>>,
    /// Beside a classify or regress signature, the signatures Estimator's
    /// parsing-receiver export writes: `classification` (the classify
    /// signature again) and, for a binary classifier with a `logistic`
    /// output, `regression`; or `regression` (the regress signature again).
    /// With classify, the predict signature serves Estimator's `classes`,
    /// `all_classes` and `all_class_ids`. With method predict, the served
    /// predict signature gains `all_classes` and `all_class_ids` (and
    /// `classes` unless given) from its output `probabilities`, as
    /// Estimator's raw-receiver export has them; an error without
    /// `probabilities`. Default: false.
    pub estimator_signatures: bool,
    /// Boolean nodes to treat as training flags besides the usual names. Default: none.
    pub training_flags: Vec<String>,
    /// Keep device placements. Default: false (cleared).
    pub keep_devices: bool,
    /// More MetaGraphDefs, each under its own tag set, sharing the served
    /// graph's variables and assets but keeping the training graph's device
    /// placements. Default: none.
    pub variants: Vec<Variant>,
    /// Export a graph that serves only its training batch (the batch baked
    /// into its shapes), the signature's batch dimension set to it.
    /// Default: false (such a graph is refused, naming where the batch is).
    pub fixed_batch: bool,
    /// Serve each variable the training program keeps an
    /// `ExponentialMovingAverage` of with that average, as an evaluation
    /// restoring `variables_to_restore()` does (written under the
    /// variable's own key). Default: false (the trained values). An error
    /// when the training graph averages no weight.
    pub moving_averages: bool,
}

impl Default for ServingOptions {
    fn default() -> ServingOptions {
        ServingOptions {
            inputs: Vec::new(),
            outputs: Vec::new(),
            signature_name: DEFAULT_SIGNATURE.into(),
            tags: vec![SERVE_TAG.into()],
            method: ServingMethod::Predict,
            examples: false,
            class_names: None,
            estimator_signatures: false,
            training_flags: Vec::new(),
            keep_devices: false,
            variants: Vec::new(),
            fixed_batch: false,
            moving_averages: false,
        }
    }
}

/// How the export stores the weights. `Default`: as in the checkpoint,
/// variables kept as variables, assets copied whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExportStorage {
    /// The precision of float32 weights. Default `F32` (unchanged).
    pub weights: WeightPrecision,
    /// Tensors with fewer elements stay as they are (float and int64 alike).
    /// Default [`WEIGHTS_MIN_ELEMENTS`].
    pub min_elements: u64,
    /// Store int64 tensors whose values all fit as int32. Default false.
    pub narrow_int64: bool,
    /// Freeze: every variable becomes a constant holding its checkpoint
    /// value (no `variables/`, no saver), refused past these limits.
    /// Default: none (variables stay variables).
    pub freeze: Option<FreezeLimits>,
    /// Keep only the first N entries (lines) of vocabulary assets whose
    /// tables map a dropped entry like an unseen one (see [`crate::vocab`]).
    /// Default: none (assets copied whole).
    pub max_vocab: Option<u64>,
}

impl Default for ExportStorage {
    fn default() -> ExportStorage {
        ExportStorage {
            weights: WeightPrecision::F32,
            min_elements: WEIGHTS_MIN_ELEMENTS,
            narrow_int64: false,
            freeze: None,
            max_vocab: None,
        }
    }
}

impl ExportStorage {
    /// The dtype conversion asked for, as the writer and the storage pass
    /// take it.
    pub fn conversion(&self) -> StorageOptions {
        StorageOptions {
            weights: self.weights,
            min_elements: self.min_elements,
            narrow_int64: self.narrow_int64,
        }
    }

    /// Takes the dtype conversion of `conversion`, keeping freezing and
    /// vocabulary trimming as they are.
    pub fn set_conversion(&mut self, conversion: StorageOptions) {
        self.weights = conversion.weights;
        self.min_elements = conversion.min_elements;
        self.narrow_int64 = conversion.narrow_int64;
    }
}

/// What is written beside the model, and what the report explains.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// Replace an existing output directory. Default: refuse.
    pub overwrite: Overwrite,
    /// Refuse, before creating anything, an export whose files would add
    /// up to more bytes. Default: none.
    pub max_size: Option<u64>,
    /// A JSON file of predict requests (`{"instances": [...]}`) written as
    /// TensorFlow Serving's warm-up records; checked against the signature
    /// before anything is written. Default: none.
    pub warmup: Option<PathBuf>,
    /// Write AI Platform's `explanation_metadata.json` beside
    /// `saved_model.pb`, derived from the served signature, with these
    /// choices (see [`crate::back::explain`]). Default: none.
    pub explanation: Option<ExplanationOptions>,
    /// Explain what the passes removed and rewired, or why one node was
    /// kept or removed (see [`crate::passes::node_explain`]); the whole source
    /// graph is read so every removed node's op and inputs are known.
    /// Default: none.
    pub explain: Option<ExplainScope>,
    /// Told how the variable copy advances (the CLI draws a progress bar). Default: none.
    pub progress: Option<Arc<dyn CopyProgress>>,
}

impl ExportOptions {
    /// What the read must keep for the passes: the named tensors and flags
    /// (everything when explaining, so removed nodes are known too).
    pub fn wanted(&self) -> read::Wanted {
        if self.output.explain.is_some() {
            return read::Wanted::default();
        }
        let serving = &self.serving;
        let outputs = serving.outputs.iter().map(|o| o.tensor.clone());
        let inputs = serving.inputs.iter().flat_map(|i| {
            let sparse = i.sparse.iter();
            let parts = sparse.flat_map(|s| [s.indices.clone(), s.dense_shape.clone()]);
            std::iter::once(i.tensor.clone()).chain(parts)
        });
        read::Wanted {
            tensors: outputs.chain(inputs).collect(),
            nodes: serving.training_flags.clone(),
        }
    }

    /// The served tag set, then each variant's.
    pub(crate) fn tag_sets(&self) -> impl Iterator<Item = &[String]> {
        let variants = self.serving.variants.iter().map(|v| v.tags.as_slice());
        std::iter::once(self.serving.tags.as_slice()).chain(variants)
    }

    pub(crate) fn custom_ops(&self) -> CustomOps {
        if self.source.allow_custom_ops {
            CustomOps::Allow
        } else {
            CustomOps::Refuse
        }
    }

    /// What the serving pipeline builds.
    pub fn serving_spec(&self) -> ServingSpec {
        let serving = &self.serving;
        ServingSpec {
            inputs: serving.inputs.clone(),
            outputs: serving.outputs.clone(),
            signature_name: serving.signature_name.clone(),
            training_flags: serving.training_flags.clone(),
            keep_devices: serving.keep_devices,
            examples: serving.examples,
            method: serving.method,
            class_names: serving.class_names.clone(),
            estimator_signatures: serving.estimator_signatures,
            fixed_batch: serving.fixed_batch,
            moving_averages: serving.moving_averages,
        }
    }

    /// Every rewrite the export makes, in its phases: `serve` (the serving
    /// pipeline), `freeze`, `variants` (the variants' copy taken, then the
    /// device placements cleared), `shrink` (vocabularies trimmed,
    /// constants stored smaller) and `lower` (what the SavedModel needs to
    /// restore and initialize: variable reads, asset paths, the init op,
    /// the saver). Run over a model read from the source,
    /// with [`ExportOptions::pass_context`], then written with
    /// [`ExportOptions::write_options`]: what `export_serving_model` writes.
    pub fn phases(&self) -> Phases {
        let variants = !self.serving.variants.is_empty();
        let serving = ServingSpec {
            keep_devices: self.serving.keep_devices || variants,
            ..self.serving_spec()
        };
        let mut phases = Phases::new();
        phases.push("serve", Pipeline::serving(&serving));
        let mut freeze = Pipeline::empty();
        if let Some(limits) = self.storage.freeze {
            freeze.push(FreezePass { limits });
        }
        phases.push("freeze", freeze);
        let mut placing = Pipeline::empty();
        if variants {
            placing.push(KeepPlacementsPass);
            if !self.serving.keep_devices {
                placing.push(ClearDevicesPass);
            }
        }
        phases.push("variants", placing);
        phases.push("shrink", self.shrink_pipeline());
        let mut lower = Pipeline::empty();
        lower.push(LowerForSavingPass {
            storage: self.storage.conversion(),
        });
        phases.push("lower", lower);
        phases
    }

    /// The `shrink` phase: the passes that change how the model is stored.
    fn shrink_pipeline(&self) -> Pipeline {
        let mut shrink = Pipeline::empty();
        if let Some(max_entries) = self.storage.max_vocab {
            shrink.push(TrimVocabulariesPass { max_entries });
        }
        let conversion = self.storage.conversion();
        if conversion.is_active() {
            shrink.push(StoreConstantsPass {
                options: conversion,
            });
        }
        shrink
    }

    /// The context [`ExportOptions::phases`] run in: one MetaGraphDef per
    /// tag set written, each holding the frozen constants.
    pub fn pass_context(&self) -> PassContext {
        PassContext {
            meta_graphs: 1 + self.serving.variants.len(),
            ..PassContext::new()
        }
    }

    /// What is written: the served MetaGraphDef under `serving.tags`,
    /// then each variant's from `placed`, the model the `variants` phase
    /// kept (`PassContext::placed`).
    pub fn meta_graph_variants<'a>(
        &self,
        model: &'a Model,
        placed: Option<&'a Model>,
    ) -> Vec<MetaGraphVariant<'a>> {
        let served = MetaGraphVariant {
            model,
            tags: self.serving.tags.clone(),
        };
        let variants = placed.into_iter().flat_map(|placed| {
            let variants = self.serving.variants.iter();
            variants.map(move |v| MetaGraphVariant {
                model: placed,
                tags: v.tags.clone(),
            })
        });
        std::iter::once(served).chain(variants).collect()
    }

    /// The method flags checked together: an error for combinations that
    /// make no sense.
    pub(crate) fn check_method_flags(&self) -> Result<(), PassError> {
        let serving = &self.serving;
        let flags = MethodFlags {
            method: serving.method,
            examples: serving.examples,
            class_names: serving.class_names.as_deref(),
            estimator_signatures: serving.estimator_signatures,
            signature_name: &serving.signature_name,
            classes_output: serving
                .outputs
                .iter()
                .find(|o| o.key == CLASSIFY_CLASSES)
                .map(|o| o.tensor.as_str()),
            defaults: serving
                .inputs
                .iter()
                .filter(|i| i.default.is_some())
                .map(|i| i.key.as_str())
                .collect(),
            warmup: self.output.warmup.is_some(),
        };
        Ok(flags.check()?)
    }

    /// How the writer writes this export (before warm-up records and
    /// explanation metadata are added).
    pub fn write_options(&self) -> WriteOptions {
        WriteOptions {
            overwrite: self.output.overwrite,
            progress: self.output.progress.clone(),
            max_saved_model_bytes: self.storage.freeze.map(|limits| limits.saved_model_bytes),
            storage: self.storage.conversion(),
            ..WriteOptions::default()
        }
    }
}
