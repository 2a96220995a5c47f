//! Every training fixture exported with its weights stored as float16, as
//! int8 and with int64 narrowed, then loaded by real TensorFlow through all
//! three loaders and compared with the training program's own outputs; the
//! variables' bytes on disk checked against the conversion's arithmetic; and
//! (float16 / int8) the export's own saver run in TensorFlow: the save half
//! must write back what the export wrote and restoring it must predict the
//! same.

use crate::common;

use std::ffi::OsStr;
use std::path::Path;

use servegraph::ExportReport;
use servegraph::bundle::BundleReader;
use servegraph::storage::{StorageOptions, StorageReport, TensorKind, WeightPrecision};

fn export(name: &str, out: &Path, storage: StorageOptions) -> ExportReport {
    let source = common::testdata("fixtures").join(name);
    let options = {
        let mut custom = common::fixture_options(name);
        custom.storage.set_conversion(storage);
        custom
    };
    servegraph::export_serving_model(&source, out, &options)
        .unwrap_or_else(|e| panic!("export of {name} failed: {e}"))
}

fn options(weights: WeightPrecision, narrow_int64: bool) -> StorageOptions {
    StorageOptions {
        weights,
        min_elements: 0,
        narrow_int64,
    }
}

/// The bytes of the export's variable data files.
fn data_bytes(export: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(export.join("variables")) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".data-"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn storage(report: &ExportReport) -> &StorageReport {
    report.storage.as_ref().expect("a storage section")
}

/// Converted variables' bytes in the source checkpoint (float32 or int64).
fn converted_variable_bytes(report: &StorageReport) -> u64 {
    report
        .converted
        .iter()
        .filter(|t| t.kind == TensorKind::Variable)
        .map(|t| t.bytes_before)
        .sum()
}

/// The int8 scale entries of the export: each float32, shaped like the last
/// axis of its tensor (a scalar for rank 0 and 1); returns how many scales.
fn scale_count(export: &Path, report: &StorageReport) -> u64 {
    let reader = BundleReader::open(export.join("variables/variables")).unwrap();
    let mut count = 0;
    for entry in reader.entries() {
        let Some(owner) = report
            .converted
            .iter()
            .find(|t| entry.name.starts_with(&format!("{}/int8_scales", t.name)))
        else {
            continue;
        };
        let expected: Vec<i64> = match owner.shape.as_slice() {
            [_, .., last] if owner.shape.len() >= 2 => vec![*last],
            _ => vec![],
        };
        assert_eq!(
            entry.dtype,
            servegraph::proto::DataType::DtFloat,
            "{}",
            entry.name
        );
        assert_eq!(entry.shape, expected, "{}", entry.name);
        count += expected.iter().product::<i64>() as u64;
    }
    count
}

/// The tolerance on outputs the measured weight error justifies, to first
/// order: a converted tensor whose elements each moved by at most `e` (the
/// export's measured worst absolute error) moves each dot product it takes
/// part in by at most `e · fan_in · |x|`, where `fan_in` is the number of
/// elements summed per output (all but the last axis; 1 for a bias or a
/// scalar) and `|x|` the magnitude of what it multiplies; the moves of all
/// converted tensors add. `|x|` is taken as 4: the fixtures' inputs are
/// standardized and their hidden units normalized or squashed, so they stay
/// within a few units. 1e-4 is what an unconverted export is held to.
fn tolerance(report: &StorageReport) -> f64 {
    const ACTIVATION_BOUND: f64 = 4.0;
    let moved: f64 = report
        .converted
        .iter()
        .filter(|t| t.from == "float32")
        .map(|t| t.error.max_abs_error * fan_in(&t.shape) as f64)
        .sum();
    1e-4 + ACTIVATION_BOUND * moved
}

/// Elements summed into each output by a tensor of `shape` used as weights.
/// (An embedding counts its whole vocabulary, which over-states a lookup.)
fn fan_in(shape: &[i64]) -> i64 {
    match shape.split_last() {
        Some((_, rest)) if !rest.is_empty() => rest.iter().product::<i64>().max(1),
        _ => 1,
    }
}

/// Runs the export's saver in TensorFlow: save, compare with what the export
/// wrote, restore, predict again.
fn round_trip(python: &Path, export: &Path, fixture: &str) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs.json");
    let json = common::fixture_json(fixture);
    std::fs::write(&inputs, json["test_inputs"].to_string()).unwrap();
    let args = [
        export.as_os_str(),
        OsStr::new("--inputs"),
        inputs.as_os_str(),
        OsStr::new("--workdir"),
        dir.path().as_os_str(),
    ];
    let out = common::run_python(python, "tests/interop/storage_round_trip.py", &args);
    let result: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    for (key, entry) in result["keys"].as_object().unwrap() {
        let diff = entry["max_abs_diff"].as_f64().unwrap();
        // The save half recomputes int8 scales from the restored `q * scale`:
        // `(127 * scale) / 127` may round to a neighbour of `scale`.
        let allowed = match key.contains("/int8_scales") {
            true => entry["max_abs_value"].as_f64().unwrap() * 4.0 * f64::from(f32::EPSILON),
            false => 0.0,
        };
        assert!(
            diff <= allowed,
            "{fixture}: {key} re-saved differs by {diff}"
        );
    }
    let diff = result["outputs_max_abs_diff"].as_f64().unwrap();
    assert!(
        diff <= 1e-6,
        "{fixture}: restoring the re-saved variables moved outputs by {diff}"
    );
}

/// Exports every fixture with `storage`, checks sizes with `check_sizes`
/// (the report, the export and the unconverted export's data bytes), and
/// judges predictions at the derived tolerance.
fn every_fixture(
    test: &str,
    storage_options: StorageOptions,
    check_sizes: fn(&str, &StorageReport, &Path, u64, u64),
) {
    let Some(python) = common::tensorflow_python(test) else {
        return;
    };
    for fixture in common::fixture_names() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, converted) = (dir.path().join("plain"), dir.path().join("converted"));
        export(&fixture, &plain, StorageOptions::default());
        let report = export(&fixture, &converted, storage_options);
        let storage = storage(&report);
        check_sizes(
            &fixture,
            storage,
            &converted,
            data_bytes(&plain),
            data_bytes(&converted),
        );
        let tolerance = tolerance(storage);
        let loaders = "tf2,tf1,capi";
        let seen = common::judge_within(&python, &converted, &fixture, "serve", loaders, tolerance);
        eprintln!(
            "{test} {fixture}: {} converted, {} -> {} bytes, worst weight error {:.3e}, \
             output tolerance {tolerance:.3e}, largest output difference {seen:.3e}",
            storage.converted.len(),
            storage.bytes_before,
            storage.bytes_after,
            storage.error.max_abs_error
        );
        if storage_options.weights != WeightPrecision::F32 {
            round_trip(&python, &converted, &fixture);
        }
    }
}

#[test]
fn float16_weights_load_everywhere_at_half_the_bytes() {
    every_fixture(
        "float16_weights_load_everywhere_at_half_the_bytes",
        options(WeightPrecision::F16, false),
        |fixture, report, _, plain, converted| {
            let before = converted_variable_bytes(report);
            assert!(before > 0, "{fixture}: no variable converted");
            assert_eq!(converted, plain - before + before / 2, "{fixture}");
        },
    );
}

#[test]
fn int8_weights_load_everywhere_at_a_quarter_plus_scales() {
    every_fixture(
        "int8_weights_load_everywhere_at_a_quarter_plus_scales",
        options(WeightPrecision::Int8, false),
        |fixture, report, export, plain, converted| {
            let before = converted_variable_bytes(report);
            assert!(before > 0, "{fixture}: no variable converted");
            let scales = 4 * scale_count(export, report);
            assert_eq!(converted, plain - before + before / 4 + scales, "{fixture}");
        },
    );
}

#[test]
fn narrowed_int64_loads_everywhere_exactly() {
    every_fixture(
        "narrowed_int64_loads_everywhere_exactly",
        options(WeightPrecision::F32, true),
        |fixture, report, _, plain, converted| {
            for t in &report.converted {
                assert_eq!(
                    (t.from.as_str(), t.to.as_str()),
                    ("int64", "int32"),
                    "{fixture}"
                );
                assert_eq!(t.error.max_abs_error, 0.0, "{fixture}: {}", t.name);
            }
            let before = converted_variable_bytes(report);
            assert_eq!(converted, plain - before + before / 2, "{fixture}");
        },
    );
}

/// Freezing then storing the constants as float16: every frozen variable the
/// conversion may change is a float16 constant, the graph shrinks by what
/// the conversion saved (less a few hundred bytes of nodes per constant),
/// and the three loaders predict within the derived tolerance.
#[test]
fn frozen_float16_constants_load_everywhere() {
    let test = "frozen_float16_constants_load_everywhere";
    let Some(python) = common::tensorflow_python(test) else {
        return;
    };
    for fixture in common::fixture_names() {
        let dir = tempfile::tempdir().unwrap();
        let (frozen, converted) = (dir.path().join("frozen"), dir.path().join("converted"));
        let freeze = |out: &Path, storage: StorageOptions| {
            let source = common::testdata("fixtures").join(&fixture);
            let options = {
                let mut custom = common::fixture_options(&fixture);
                custom.storage.set_conversion(storage);
                custom.storage.freeze = Some(servegraph::passes::freeze::FreezeLimits::default());
                custom
            };
            servegraph::export_serving_model(&source, out, &options)
                .unwrap_or_else(|e| panic!("frozen export of {fixture} failed: {e}"))
        };
        let plain = freeze(&frozen, StorageOptions::default());
        let report = freeze(&converted, options(WeightPrecision::F16, false));
        let storage = storage(&report);
        let frozen_names: Vec<&str> = plain
            .graph
            .frozen
            .as_ref()
            .map(|f| f.variables.iter().map(|v| v.node.as_str()).collect())
            .unwrap_or_default();
        let converted_frozen = storage
            .converted
            .iter()
            .filter(|t| frozen_names.contains(&t.name.as_str()))
            .count();
        assert!(
            converted_frozen > 0,
            "{fixture}: no frozen variable stored as float16"
        );
        for t in &storage.converted {
            assert_eq!(t.kind, TensorKind::Constant, "{fixture}: {}", t.name);
            assert_eq!(t.bytes_after * 2, t.bytes_before, "{fixture}: {}", t.name);
        }
        let saved = storage.bytes_before - storage.bytes_after;
        let overhead = 300 * storage.converted.len() as u64;
        let (before, after) = (
            plain.written.saved_model_bytes,
            report.written.saved_model_bytes,
        );
        assert!(
            after + saved <= before + overhead,
            "{fixture}: saved_model.pb {before} -> {after} bytes for {saved} bytes saved"
        );
        let tolerance = tolerance(storage);
        let loaders = "tf2,tf1,capi";
        let seen = common::judge_within(&python, &converted, &fixture, "serve", loaders, tolerance);
        eprintln!(
            "{test} {fixture}: {} constants converted ({converted_frozen} frozen variables), \
             saved_model.pb {before} -> {after} bytes, output tolerance {tolerance:.3e}, \
             largest output difference {seen:.3e}",
            storage.converted.len()
        );
    }
}
