//! Size budgets: `servegraph size` measures every file of a SavedModel,
//! the export's projected size is exactly what it writes, and `--max-size`
//! refuses an export before anything is created.

use crate::common;

use common::{path_str, servegraph, stderr};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use servegraph::passes::freeze::FreezeLimits;
use servegraph::size::{self, Limit, LimitKind, Precision, Remedy, SizeError, StoredWeights};
use servegraph::storage::{StorageOptions, TensorKind, WeightPrecision};

const TINY_OUTPUT: &str = "logits=logits/BiasAdd:0";

/// Every file under `dir` (not following symlinks) with its size.
fn file_sizes(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut sizes = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let metadata = fs::symlink_metadata(&path).unwrap();
            if metadata.is_dir() {
                pending.push(path);
            } else if metadata.is_file() {
                sizes.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    metadata.len(),
                );
            }
        }
    }
    sizes
}

fn disk_total(dir: &Path) -> u64 {
    file_sizes(dir).values().sum()
}

/// Every entry under `dir` with its bytes, to see that nothing changed.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                files.insert(relative, b"<dir>".to_vec());
                pending.push(path);
            } else {
                files.insert(relative, fs::read(&path).unwrap_or_default());
            }
        }
    }
    files
}

fn export_tiny(out: &Path, extra: &[&str]) -> std::process::Output {
    let source = common::testdata("fixtures/tiny_mlp");
    let mut args = vec![
        "export",
        path_str(&source),
        path_str(out),
        "--output",
        TINY_OUTPUT,
    ];
    args.extend_from_slice(extra);
    servegraph(&args)
}

fn size_json(dir: &Path) -> Value {
    let output = servegraph(&["size", path_str(dir), "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn contributors_sum(report: &Value) -> u64 {
    let contributors = report["contributors"].as_array().unwrap();
    contributors
        .iter()
        .map(|c| c["bytes"].as_u64().unwrap())
        .sum()
}

#[test]
fn size_counts_every_file_of_an_export_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let source = common::testdata("fixtures/vocab_lookup");
    let options = common::fixture_options("vocab_lookup");
    let exported = servegraph::export_serving_model(&source, &out, &options).unwrap();
    let disk = file_sizes(&out);
    let total: u64 = disk.values().sum();

    let report = size_json(&out);
    assert_eq!(report["unit"], "bytes");
    assert_eq!(report["total_bytes"].as_u64(), Some(total));
    assert_eq!(contributors_sum(&report), total);
    let part = |name: &str| report[name].as_u64().unwrap();
    assert_eq!(part("saved_model_bytes"), disk[Path::new("saved_model.pb")]);
    assert_eq!(
        part("variables_index_bytes"),
        disk[Path::new("variables/variables.index")]
    );
    assert_eq!(part("assets_bytes"), disk[Path::new("assets/vocab.txt")]);
    assert_eq!(report["under_every_limit"], true);
    assert_eq!(report["advice"].as_array().unwrap().len(), 0);
    // Each kept variable is a contributor with its checkpoint bytes.
    let contributors = report["contributors"].as_array().unwrap();
    for kept in &exported.kept {
        let found = contributors
            .iter()
            .find(|c| c["kind"] == "variable" && c["name"] == kept.key.as_str())
            .unwrap_or_else(|| panic!("{} is not a contributor", kept.key));
        assert_eq!(found["bytes"].as_u64(), Some(kept.bytes));
    }
    let asset = contributors.iter().find(|c| c["kind"] == "asset").unwrap();
    assert_eq!(asset["name"], "vocab.txt");

    let text = servegraph(&["size", path_str(&out)]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8(text.stdout).unwrap();
    let exact = format!("size of {}: {}", out.display(), size_text(total));
    assert!(text.contains(&exact), "{exact} not in:\n{text}");
    assert!(text.contains("1 MB = 1,000,000 bytes"), "{text}");
    assert!(text.contains("total under the 500 MB MLS1 limit"), "{text}");
    assert!(
        text.contains("saved_model.pb under the 1 GiB TF Serving limit"),
        "{text}"
    );
    assert!(text.contains("advice: already under every limit"), "{text}");
}

/// The export settings whose output the projection must match: plain,
/// each weights conversion (every tensor large enough), a freeze, and a
/// freeze with float16 weights.
fn projection_settings() -> Vec<(&'static str, Option<FreezeLimits>, StorageOptions)> {
    let converting = |weights, narrow_int64| StorageOptions {
        weights,
        min_elements: 0,
        narrow_int64,
    };
    vec![
        ("plain", None, StorageOptions::default()),
        (
            "--weights f16",
            None,
            converting(WeightPrecision::F16, false),
        ),
        (
            "--weights int8",
            None,
            converting(WeightPrecision::Int8, false),
        ),
        (
            "--narrow-int64",
            None,
            converting(WeightPrecision::F32, true),
        ),
        (
            "--freeze",
            Some(FreezeLimits::default()),
            StorageOptions::default(),
        ),
        (
            "--freeze --weights f16",
            Some(FreezeLimits::default()),
            converting(WeightPrecision::F16, false),
        ),
    ]
}

#[test]
fn the_projected_size_is_exactly_what_every_fixture_writes() {
    let mut converted = BTreeMap::new();
    for (setting, freeze, storage) in projection_settings() {
        for name in common::fixture_names() {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join(&name);
            let source = common::testdata("fixtures").join(&name);
            let options = {
                let mut custom = common::fixture_options(&name);
                custom.storage.set_conversion(storage);
                custom.storage.freeze = freeze;
                custom
            };
            let case = format!("{name} with {setting}");
            let report = servegraph::export_serving_model(&source, &out, &options)
                .unwrap_or_else(|e| panic!("export of {case} failed: {e}"));
            let variables = report.storage.iter().flat_map(|s| &s.converted);
            let changed = variables.filter(|c| c.kind == TensorKind::Variable).count();
            *converted.entry(setting).or_insert(0) += changed;
            assert_projection_is_what_was_written(&report, &out, &case);
        }
    }
    // Each conversion changed some fixture's variables, so their entries were projected.
    for setting in ["--weights f16", "--weights int8", "--narrow-int64"] {
        assert!(converted[setting] > 0, "{setting} converted nothing");
    }
}

fn assert_projection_is_what_was_written(
    report: &servegraph::ExportReport,
    out: &Path,
    case: &str,
) {
    let disk = file_sizes(out);
    let projected = &report.projected_size;
    assert_eq!(projected.total_bytes, disk.values().sum::<u64>(), "{case}");
    let file = |path: &str| disk.get(Path::new(path)).copied().unwrap_or(0);
    assert_eq!(
        projected.saved_model_bytes,
        file("saved_model.pb"),
        "{case}"
    );
    assert_eq!(
        projected.variables_index_bytes,
        file("variables/variables.index"),
        "{case}"
    );
    assert_eq!(
        projected.variables_data_bytes,
        file("variables/variables.data-00000-of-00001"),
        "{case}"
    );
    let measured = report.size.as_ref().expect("the output is measured");
    assert_eq!(measured.total_bytes, projected.total_bytes, "{case}");
    // The older `total_bytes` leaves out the index; it stays as it was.
    let without_index = projected.total_bytes - projected.variables_index_bytes;
    assert_eq!(report.total_bytes, without_index, "{case}");
}

#[test]
fn variants_are_projected_exactly_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("variants");
    let options = {
        let mut custom = common::fixture_options("vocab_lookup");
        custom.serving.variants = vec!["gpu".parse().unwrap()];
        custom
    };
    let source = common::testdata("fixtures/vocab_lookup");
    let report = servegraph::export_serving_model(&source, &out, &options).unwrap();
    assert_eq!(report.graph.variants.len(), 1);
    assert_eq!(report.projected_size.total_bytes, disk_total(&out));
}

#[test]
fn a_max_size_too_small_fails_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("nested/out");
    let before = tree(root.path());
    let output = export_tiny(&out, &["--max-size", "1000"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("over the size limit of 1.0 KB (1,000 bytes)"),
        "{message}"
    );
    assert!(message.contains("the export would be"), "{message}");
    assert!(message.contains("nothing was written"), "{message}");
    assert!(
        message.contains("hint: add a flag that fits, or raise --max-size"),
        "{message}"
    );
    assert!(!out.exists());
    assert!(
        !root.path().join("nested").exists(),
        "no parent was created"
    );
    assert_eq!(before, tree(root.path()), "the temp tree changed");

    // The size it refused is the size it writes when allowed.
    let allowed = export_tiny(&out, &["--max-size", "10MB", "--json"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    let report: Value = serde_json::from_slice(&allowed.stdout).unwrap();
    let written = disk_total(&out);
    assert_eq!(
        report["projected_size"]["total_bytes"].as_u64(),
        Some(written)
    );
    assert_eq!(report["size"]["total_bytes"].as_u64(), Some(written));
    let refused = format!("the export would be {},", size_text(written));
    assert!(message.contains(&refused), "{refused} not in {message}");
}

/// How sizes print: `5.2 KB (5,181 bytes)`.
fn size_text(bytes: u64) -> String {
    servegraph::size::decimal_and_exact(bytes)
}

#[test]
fn a_max_size_equal_to_the_export_is_enough() {
    let root = tempfile::tempdir().unwrap();
    let probe = root.path().join("probe");
    assert!(export_tiny(&probe, &[]).status.success());
    let exact = disk_total(&probe).to_string();
    let out = root.path().join("out");
    let output = export_tiny(&out, &["--max-size", &exact]);
    assert!(output.status.success(), "{}", stderr(&output));
    let one_less = (disk_total(&probe) - 1).to_string();
    let refused = export_tiny(&root.path().join("other"), &["--max-size", &one_less]);
    assert!(!refused.status.success());
}

#[test]
fn a_max_size_that_is_not_a_size_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    for bad in ["5 parsecs", "1.5", "MB", "-3GB"] {
        let output = export_tiny(&out, &[&format!("--max-size={bad}")]);
        assert!(!output.status.success(), "{bad} accepted");
        let message = stderr(&output);
        assert!(message.contains("--max-size"), "{message}");
        assert!(message.contains(&format!("{bad:?}")), "{message}");
        assert!(!out.exists());
    }
}

#[test]
fn the_export_report_has_the_size_section() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let output = export_tiny(&out, &["--verbose"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let total = disk_total(&out);
    assert!(
        text.contains(&format!("size of {}: {}", out.display(), size_text(total))),
        "{text}"
    );
    assert!(text.contains("largest contributors"), "{text}");
    assert!(text.contains("variable hidden/kernel 48 bytes"), "{text}");

    let json = export_tiny(&root.path().join("json"), &["--json"]);
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    // The fields that were there before stay as they were: saved_model.pb,
    // the variables' data and the assets.
    let index = fs::metadata(out.join("variables/variables.index"))
        .unwrap()
        .len();
    assert_eq!(report["total_bytes"].as_u64(), Some(total - index));
    assert_eq!(report["fits_mls1"], true);
    assert_eq!(report["fits_n1"], true);
    assert_eq!(report["size"]["limits"].as_array().unwrap().len(), 4);
}

/// A file of `bytes` that takes no disk space.
fn sparse_file(path: &Path, bytes: u64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

#[test]
fn files_beside_the_model_count_and_are_advised_away_when_over() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    assert!(export_tiny(&out, &[]).status.success());
    let model_bytes = disk_total(&out);
    sparse_file(&out.join("assets.extra/big.bin"), 600_000_000);
    let report = size_json(&out);
    assert_eq!(
        report["total_bytes"].as_u64(),
        Some(model_bytes + 600_000_000)
    );
    assert_eq!(report["other_bytes"].as_u64(), Some(600_000_000));
    assert_eq!(report["under_every_limit"], false);
    assert_eq!(report["limits"][0]["limit"], "mls1");
    assert_eq!(report["limits"][0]["standing"], "over");
    let advice = report["advice"].as_array().unwrap();
    let remove = advice
        .iter()
        .find(|a| a["remedy"] == "remove_files")
        .expect("leaving the file out is advised");
    assert_eq!(remove["files"][0], "assets.extra/big.bin");
    assert_eq!(remove["saves_bytes"].as_u64(), Some(600_000_000));
    assert_eq!(remove["projected_bytes"].as_u64(), Some(model_bytes));
    assert_eq!(remove["brings_under"], true);
    assert_eq!(remove["precision_of_figures"], "exact");
    let contributors = report["contributors"].as_array().unwrap();
    assert_eq!(contributors[0]["name"], "assets.extra/big.bin");

    let text = String::from_utf8(servegraph(&["size", path_str(&out)]).stdout).unwrap();
    assert!(
        text.contains("total OVER the 500 MB MLS1 limit by"),
        "{text}"
    );
    assert!(
        text.contains("advice for the 500 MB MLS1 limit (total):"),
        "{text}"
    );
    assert!(
        text.contains("leaving out assets.extra/big.bin saves 600.0 MB"),
        "{text}"
    );
}

#[test]
fn symlinks_count_only_inside_the_directory() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    assert!(export_tiny(&out, &[]).status.success());
    let model_bytes = disk_total(&out);
    let outside = root.path().join("outside.bin");
    fs::write(&outside, vec![1u8; 5000]).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("escape")).unwrap();
    std::os::unix::fs::symlink(root.path(), out.join("escape_dir")).unwrap();
    std::os::unix::fs::symlink(out.join("saved_model.pb"), out.join("inside")).unwrap();
    let report = size_json(&out);
    let pb = fs::metadata(out.join("saved_model.pb")).unwrap().len();
    assert_eq!(report["total_bytes"].as_u64(), Some(model_bytes + pb));
    let notes = report["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("escape:"))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("escape_dir:"))
    );
}

#[test]
fn size_of_something_that_is_not_a_directory_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("file");
    fs::write(&file, b"x").unwrap();
    let output = servegraph(&["size", path_str(&file)]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not a directory"),
        "{}",
        stderr(&output)
    );
    let missing = servegraph(&["size", path_str(&root.path().join("missing"))]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("missing"), "{}", stderr(&missing));
}

#[test]
fn a_broken_index_still_counts_every_file_and_says_why_it_cannot_break_down() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    assert!(export_tiny(&out, &[]).status.success());
    let index = out.join("variables/variables.index");
    let bytes = fs::read(&index).unwrap();
    fs::write(&index, &bytes[..bytes.len() / 2]).unwrap();
    let report = size_json(&out);
    assert_eq!(report["total_bytes"].as_u64(), Some(disk_total(&out)));
    assert_eq!(contributors_sum(&report), disk_total(&out));
    let contributors = report["contributors"].as_array().unwrap();
    assert!(contributors.iter().all(|c| c["kind"] != "variable"));
    assert!(contributors.iter().any(|c| c["kind"] == "variables_data"));
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("variables not broken down by key")),
        "{notes:?}"
    );
}

#[test]
fn a_data_file_shorter_than_the_index_claims_is_not_broken_down() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    assert!(export_tiny(&out, &[]).status.success());
    let data = out.join("variables/variables.data-00000-of-00001");
    fs::write(&data, b"short").unwrap();
    let report = size_json(&out);
    assert_eq!(report["total_bytes"].as_u64(), Some(disk_total(&out)));
    assert_eq!(report["variables_data_bytes"].as_u64(), Some(5));
    let contributors = report["contributors"].as_array().unwrap();
    assert!(contributors.iter().all(|c| c["kind"] != "variable"));
}

/// A SavedModel directory written by hand: a [64, 32] float kernel and a
/// [32] bias in `variables/`, a graph holding a [1024] float constant.
fn hand_made_saved_model(dir: &Path) {
    use prost::Message;
    use servegraph::bundle::BundleWriter;
    use servegraph::proto::{
        AttrValue, DataType, GraphDef, MetaGraphDef, NodeDef, SavedModel, TensorProto,
        attr_value::Value,
    };
    fs::create_dir_all(dir.join("variables")).unwrap();
    let mut writer = BundleWriter::create(dir.join("variables/variables")).unwrap();
    writer
        .add("dense/kernel", DataType::DtFloat, &[64, 32], &[0u8; 8192])
        .unwrap();
    writer
        .add("dense/bias", DataType::DtFloat, &[32], &[0u8; 128])
        .unwrap();
    writer.finish().unwrap();
    let constant = TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(servegraph::typing::shape_proto(&[1024])),
        tensor_content: vec![0u8; 4096].into(),
        ..TensorProto::default()
    };
    let node = NodeDef {
        name: "table".into(),
        op: "Const".into(),
        attr: [(
            "value".to_string(),
            AttrValue {
                value: Some(Value::Tensor(Box::new(constant))),
            },
        )]
        .into(),
        ..NodeDef::default()
    };
    let saved_model = SavedModel {
        saved_model_schema_version: 1,
        meta_graphs: vec![MetaGraphDef {
            graph_def: Some(GraphDef {
                node: vec![node],
                ..GraphDef::default()
            }),
            ..MetaGraphDef::default()
        }],
    };
    fs::write(dir.join("saved_model.pb"), saved_model.encode_to_vec()).unwrap();
}

#[test]
fn advice_is_the_bytes_each_flag_takes_off_the_tensors_on_disk() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("model");
    hand_made_saved_model(&dir);
    let model_bytes = disk_total(&dir);
    // An asset that takes the total 1,000 bytes over 500 MB.
    sparse_file(&dir.join("assets/big.bin"), 500_001_000 - model_bytes);
    let report = size_json(&dir);
    assert_eq!(report["total_bytes"].as_u64(), Some(500_001_000));
    assert_eq!(report["limits"][0]["standing"], "over");
    let advice = report["advice"].as_array().unwrap();
    let remedy = |remedy: &str, precision: Option<&str>| {
        advice
            .iter()
            .find(|a| {
                a["limit"] == "mls1"
                    && a["remedy"] == remedy
                    && precision.is_none_or(|p| a["precision"] == p)
                    && (precision.is_some() || a["precision"].is_null())
            })
            .unwrap_or_else(|| panic!("no {remedy} {precision:?} in {advice:?}"))
    };
    // f16: the kernel (2,048 elements) and the constant (1,024) halve; the
    // 32-element bias stays float32.
    let f16 = remedy("weights", Some("f16"));
    assert_eq!(f16["saves_bytes"].as_u64(), Some(2048 * 2 + 1024 * 2));
    assert_eq!(f16["brings_under"], true);
    assert_eq!(f16["precision_of_figures"], "at_most");
    // int8: a byte per element plus 4 per scale (32 for the kernel, 1 for the constant).
    let int8 = remedy("weights", Some("int8"));
    let int8_saves = (8192 - (2048 + 32 * 4)) + (4096 - (1024 + 4));
    assert_eq!(int8["saves_bytes"].as_u64(), Some(int8_saves));
    // A freeze only saves the index: not enough.
    let index = fs::metadata(dir.join("variables/variables.index"))
        .unwrap()
        .len();
    let freeze = remedy("freeze", None);
    assert_eq!(freeze["saves_bytes"].as_u64(), Some(index));
    assert_eq!(freeze["brings_under"], false);
    assert_eq!(freeze["precision_of_figures"], "about");
    let contributors = report["contributors"].as_array().unwrap();
    let kernel = contributors
        .iter()
        .find(|c| c["name"] == "dense/kernel")
        .unwrap();
    assert_eq!(kernel["bytes"].as_u64(), Some(8192));
}

#[test]
fn a_directory_without_saved_model_pb_is_refused_with_exit_1() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("notes.txt"), b"hello").unwrap();
    let output = servegraph(&["size", path_str(root.path()), "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error: Value = serde_json::from_slice(&output.stdout).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("is not a SavedModel directory"), "{error}");
}

/// What `--weights int8` saves on tensors an export stored as float16: one
/// byte per element, less a 4-byte scale per last-axis entry (one for a
/// vector), and nothing where that would not be smaller.
fn int8_savings_from_f16(shape: &[i64], f16_bytes: u64) -> u64 {
    let elements: i64 = shape.iter().product();
    let scales = match shape {
        [_, .., last] => *last,
        _ => 1,
    };
    let int8 = (elements + 4 * scales) as u64;
    f16_bytes.saturating_sub(int8)
}

#[test]
fn an_export_stored_as_f16_is_advised_int8_from_what_it_stored_and_never_f16() {
    let dir = tempfile::tempdir().unwrap();
    let name = "mlp_queue";
    let source = common::testdata("fixtures").join(name);
    let options = {
        let mut custom = common::fixture_options(name);
        custom.storage.set_conversion(StorageOptions {
            weights: WeightPrecision::F16,
            min_elements: 0,
            narrow_int64: false,
        });
        custom
    };
    let out = dir.path().join("f16");
    let report = servegraph::export_serving_model(&source, &out, &options).unwrap();
    let storage = report.storage.as_ref().unwrap();
    let expected: u64 = storage
        .converted
        .iter()
        .map(|t| int8_savings_from_f16(&t.shape, t.bytes_after))
        .sum();
    assert!(expected > 0, "{:?}", storage.converted);

    // The same export with a --max-size one byte short is refused with the
    // advice the projection gives; the written directory measured against
    // that limit gives the same.
    let limit = report.projected_size.total_bytes - 1;
    let again = {
        let mut custom = options.clone();
        custom.output.max_size = Some(limit);
        custom
    };
    let err =
        servegraph::export_serving_model(&source, dir.path().join("again"), &again).unwrap_err();
    let servegraph::Error::Size(SizeError::OverBudget { advice, .. }) = err else {
        panic!("{err}");
    };
    let max_size = Limit {
        kind: LimitKind::MaxSize,
        bytes: limit,
    };
    let measured = size::measure_export(
        &out,
        StoredWeights::of(&options.storage.conversion()),
        &[max_size],
    )
    .unwrap()
    .assessment
    .advice;
    for advice in [advice, measured] {
        let remedies: Vec<String> = advice.iter().map(|a| a.remedy.to_string()).collect();
        assert!(remedies.iter().all(|r| !r.contains("f16")), "{remedies:?}");
        let int8 = advice.iter().find(|a| {
            a.remedy
                == Remedy::Weights {
                    precision: Precision::Int8,
                }
        });
        assert_eq!(int8.map(|a| a.saves_bytes), Some(expected), "{remedies:?}");
    }
}
