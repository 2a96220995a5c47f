//! The interop tests: servegraph's exports judged by real TensorFlow, its
//! three loaders (`tf.saved_model.load`, the TF1 loader, the C API that
//! TensorFlow Serving runs), through one judge process per run
//! (`tests/interop/judge.py`, client in `tests/common/judge.rs`). One binary,
//! so that the judge starts and TensorFlow is imported once.
//!
//! Needs Python with tensorflow-cpu (`.venv`, or `SERVEGRAPH_PYTHON`); without
//! it each test says SKIPPED loudly, and fails under CI. One test alone:
//! `cargo test --test interop MODULE::TEST`.

#[path = "../common/mod.rs"]
mod common;

/// One test per fixture of `testdata/fixtures`, each calling the module's
/// `check_fixture(name)`, and a test that the list names every fixture.
/// Defined before the modules that use it (macros are in scope textually).
macro_rules! fixture_tests {
    ($($name:ident),*) => {
        $(#[test] fn $name() { check_fixture(stringify!($name)); })*

        #[test]
        fn every_fixture_has_a_test() {
            let listed = [$(stringify!($name)),*];
            assert_eq!(common::fixture_names(), listed, "add new fixtures to fixture_tests!");
        }
    };
}

mod batch_sizes;
mod bundle_interop;
mod cli_variants;
mod estimator_exports;
mod estimator_interop;
mod examples_interop;
mod explain_interop;
mod export_interop;
mod export_variants;
mod freeze_interop;
mod judge;
mod keras3_interop;
mod keras_interop;
mod lint_interop;
mod moving_averages;
mod object_checkpoint;
mod options_matrix;
mod saved_model_cli;
mod shape_judge;
mod slim_nets;
mod storage_interop;
mod tf2_fixtures;
mod tf2_lean;
mod tf2_lean_size;
mod tf2_plan_interop;
mod tf2_proto_round_trip;
mod tf2_retype;
mod transform_interop;
mod vocab_interop;
mod warmup_interop;
