//! The library as a new user meets it: options filled from crate-root types
//! only, paths as `&str`, `String` or `PathBuf`, an empty tag set refused
//! instead of written, and the staged API's verdict (dropped variables,
//! size) equal to what the one-call export reports.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use servegraph::passes::freeze::FreezePass;
use servegraph::size::LimitKind;
use servegraph::{
    BaselineSpec, CopyProgress, Error, ExplanationOptions, ExportOptions, FreezeLimits, InputSpec,
    Model, OutputSpec, Overwrite, PassContext, Pipeline, ServingMethod, ServingSpec,
    StorageOptions, Variant, WeightPrecision, WriteError, dropped_variables, export_serving_model,
    read_model, size_verdict, write_saved_model,
};

/// Counts the bytes the variable copy reports.
#[derive(Debug, Default)]
struct CountingProgress {
    total: AtomicU64,
    copied: AtomicU64,
}

impl CopyProgress for CountingProgress {
    fn start(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::SeqCst);
    }
    fn advance(&self, bytes: u64) {
        self.copied.fetch_add(bytes, Ordering::SeqCst);
    }
    fn finish(&self) {}
}

fn tiny_mlp_outputs() -> Vec<OutputSpec> {
    vec!["logits=logits/BiasAdd:0".parse().unwrap()]
}

/// Every field set through a type the crate root exports: nothing a user
/// fills needs a module path.
#[test]
fn options_are_filled_from_crate_root_types_only() {
    let dir = tempfile::tempdir().unwrap();
    let progress = Arc::new(CountingProgress::default());
    let input: InputSpec = "features=IteratorGetNext:0".parse().unwrap();
    let baseline: BaselineSpec = "features=0".parse().unwrap();
    let options = {
        let mut custom = ExportOptions::default();
        custom.storage.set_conversion(StorageOptions {
            weights: WeightPrecision::F16,
            min_elements: 0,
            narrow_int64: false,
        });
        custom.serving.inputs = vec![input];
        custom.serving.outputs = tiny_mlp_outputs();
        custom.serving.signature_name = "serving_default".into();
        custom.serving.tags = vec!["serve".into()];
        custom.output.overwrite = Overwrite::Replace;
        custom.serving.training_flags = Vec::new();
        custom.serving.keep_devices = false;
        custom.serving.variants = vec!["gpu".parse::<Variant>().unwrap()];
        custom.source.tags = vec!["serve".into()];
        custom.source.allow_custom_ops = false;
        custom.output.progress = Some(progress.clone());
        custom.storage.max_vocab = None;
        custom.output.warmup = None;
        custom.output.max_size = Some(10_000_000);
        custom.storage.freeze = None::<FreezeLimits>;
        custom.output.explanation = Some(ExplanationOptions {
            output: Some("logits".into()),
            baselines: vec![baseline],
        });
        custom.serving.examples = false;
        custom.serving.method = ServingMethod::Predict;
        custom
    };
    let out = dir.path().join("out");
    let report =
        export_serving_model(common::testdata("fixtures/tiny_mlp"), out.clone(), &options).unwrap();
    assert!(
        report.signatures["serving_default"]
            .inputs
            .contains_key("features")
    );
    assert_eq!(report.graph.variants.len(), 1);
    assert!(report.graph.explanation.is_some());
    let stored = report.storage.as_ref().map(|s| s.converted.len());
    assert!(stored.is_some_and(|n| n > 0), "{:?}", report.storage);
    let copied = progress.copied.load(Ordering::SeqCst);
    assert!(copied > 0);
    assert_eq!(copied, progress.total.load(Ordering::SeqCst));
}

/// `tags: vec![]` used to write a MetaGraphDef no serving loader finds
/// under `serve`; now it is refused before anything is read or created.
#[test]
fn an_empty_tag_set_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for (tags, problem) in [
        (vec![], "an empty tag set"),
        (vec!["serve".to_string(), " ".to_string()], "an empty tag"),
    ] {
        let out = dir.path().join("untagged");
        let options = {
            let mut custom = ExportOptions::default();
            custom.serving.outputs = tiny_mlp_outputs();
            custom.serving.tags = tags;
            custom
        };
        let error = export_serving_model(common::testdata("fixtures/tiny_mlp"), &out, &options)
            .unwrap_err();
        match &error {
            Error::Write(WriteError::BadTagSet { output, problem: p }) => {
                assert_eq!(output, &out);
                assert_eq!(*p, problem);
            }
            other => panic!("expected BadTagSet, got {other:?}"),
        }
        assert!(error.to_string().contains("`serve`"), "{error}");
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[test]
fn a_variant_with_an_empty_tag_set_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let options = {
        let mut custom = ExportOptions::default();
        custom.serving.outputs = tiny_mlp_outputs();
        custom.serving.variants = vec![Variant {
            name: "nothing".into(),
            tags: Vec::new(),
        }];
        custom
    };
    let error =
        export_serving_model(common::testdata("fixtures/tiny_mlp"), &out, &options).unwrap_err();
    assert!(
        matches!(error, Error::Write(WriteError::BadTagSet { .. })),
        "{error:?}"
    );
    assert!(!out.exists());
}

/// The staged writer refuses it as well: whichever way a SavedModel is
/// written, it has a tag set.
#[test]
fn the_staged_writer_refuses_an_empty_tag_set() {
    let dir = tempfile::tempdir().unwrap();
    let model = serving_model("tiny_mlp", tiny_mlp_outputs(), None);
    let out = dir.path().join("untagged");
    let error = write_saved_model(&model, &[], &out, Overwrite::Refuse).unwrap_err();
    assert!(
        matches!(
            error,
            WriteError::BadTagSet {
                problem: "an empty tag set",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!out.exists());
}

/// The fixture read and run through the serving pipeline (plus a freeze
/// when given), as a staged-API user would.
fn serving_model(fixture: &str, outputs: Vec<OutputSpec>, freeze: Option<FreezeLimits>) -> Model {
    let source: String = common::testdata(&format!("fixtures/{fixture}"))
        .to_string_lossy()
        .into_owned();
    let mut model = read_model(source, None, &[]).unwrap();
    let spec = ServingSpec {
        outputs,
        ..ServingSpec::default()
    };
    let mut pipeline = Pipeline::serving(&spec);
    if let Some(limits) = freeze {
        pipeline.push(FreezePass { limits });
    }
    pipeline.run(&mut model, &mut PassContext::new()).unwrap();
    model
}

/// The staged functions give what the one-call export reports, for a model
/// trained with Adam (slots, beta powers and the step counter dropped).
#[test]
fn the_staged_verdict_is_the_exports() {
    let dir = tempfile::tempdir().unwrap();
    let outputs: Vec<OutputSpec> = vec!["probabilities=probabilities:0".parse().unwrap()];
    let options = {
        let mut custom = ExportOptions::default();
        custom.serving.outputs = outputs.clone();
        custom
    };
    let exported = dir.path().join("exported");
    let report =
        export_serving_model(common::testdata("fixtures/mlp_queue"), &exported, &options).unwrap();

    let model = serving_model("mlp_queue", outputs, None);
    let staged_out: PathBuf = dir.path().join("staged");
    let written = write_saved_model(
        &model,
        &options.serving.tags,
        &staged_out,
        Overwrite::Refuse,
    )
    .unwrap();
    let dropped = dropped_variables(&model, &written).unwrap();
    assert_eq!(dropped, report.dropped);
    assert!(dropped.iter().any(|v| v.reason == "optimizer slot"));
    assert!(dropped.iter().any(|v| v.reason == "training step counter"));

    let size = size_verdict(&written, &options.storage.conversion()).unwrap();
    let exported_size = report.size.expect("the export measured its output");
    assert_eq!(size.total_bytes, exported_size.total_bytes);
    assert_eq!(size.contributors, exported_size.contributors);
    assert_eq!(size.assessment, exported_size.assessment);
    assert_eq!(size.fits(LimitKind::Mls1), report.fits_mls1);
    assert_eq!(size.fits(LimitKind::N1), report.fits_n1);
    assert!(
        !size.fits(LimitKind::MaxSize),
        "not a limit it was checked against"
    );
}

/// Frozen variables live in the graph: the staged report does not call
/// them dropped, just as the export's does not.
#[test]
fn a_staged_freeze_does_not_count_frozen_variables_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let model = serving_model(
        "tiny_mlp",
        tiny_mlp_outputs(),
        Some(FreezeLimits::default()),
    );
    let written = write_saved_model(
        &model,
        &["serve".into()],
        dir.path().join("m"),
        Overwrite::Refuse,
    )
    .unwrap();
    assert!(written.variables.is_empty());
    assert_eq!(model.frozen_keys.len(), 4, "{:?}", model.frozen_keys);
    let dropped = dropped_variables(&model, &written).unwrap();
    let keys: Vec<&str> = dropped.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(keys, ["global_step"]);

    let options = {
        let mut custom = ExportOptions::default();
        custom.serving.outputs = tiny_mlp_outputs();
        custom.storage.freeze = Some(FreezeLimits::default());
        custom
    };
    let report = export_serving_model(
        common::testdata("fixtures/tiny_mlp"),
        dir.path().join("exported"),
        &options,
    )
    .unwrap();
    assert_eq!(dropped, report.dropped);
}

/// What `Default` gives is what its documentation states, and what the
/// reader does with it: the `serve` MetaGraphDef of a SavedModel source.
#[test]
fn defaults_read_and_write_the_serve_tag_set() {
    let defaults = ExportOptions::default();
    assert_eq!(defaults.serving.tags, ["serve"]);
    assert_eq!(defaults.source.tags, ["serve"]);
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let options = {
        let mut custom = ExportOptions::default();
        custom.serving.outputs = tiny_mlp_outputs();
        custom.serving.variants = vec!["gpu".parse().unwrap()];
        custom
    };
    export_serving_model(common::testdata("fixtures/tiny_mlp"), &first, &options).unwrap();
    // Re-exporting the SavedModel with the defaults reads its `serve` graph
    // (not `serve,gpu`, which keeps device placements) and writes `serve`.
    let again = {
        let mut custom = ExportOptions::default();
        custom.serving.outputs = tiny_mlp_outputs();
        custom
    };
    let second = dir.path().join("second");
    let report = export_serving_model(&first, &second, &again).unwrap();
    assert_eq!(report.signatures.len(), 1);
    assert_eq!(tag_sets(&first), [vec!["serve"], vec!["serve", "gpu"]]);
    assert_eq!(tag_sets(&second), [vec!["serve"]]);
}

/// The tag sets of the SavedModel in `dir`, in file order.
fn tag_sets(dir: &std::path::Path) -> Vec<Vec<String>> {
    use prost::Message;
    let bytes = std::fs::read(dir.join("saved_model.pb")).unwrap();
    let saved = servegraph::proto::SavedModel::decode(bytes.as_slice()).unwrap();
    let infos = saved.meta_graphs.iter().map(|m| m.meta_info_def.clone());
    infos.map(|info| info.unwrap_or_default().tags).collect()
}
