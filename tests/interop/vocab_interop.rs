//! `--max-vocab` judged by real TensorFlow through all three loaders: the
//! trimmed export maps every dropped word exactly as the original export
//! maps a word it never saw (computed by TensorFlow on both), and words it
//! kept give unchanged outputs; the asset is the original's first lines.

use crate::common;

use std::ffi::OsStr;
use std::path::Path;

use servegraph::vocab::AssetTrim;

const KEPT: u64 = 8;

fn export(name: &str, out: &Path, max_vocab: Option<u64>) -> servegraph::ExportReport {
    let options = {
        let mut custom = common::fixture_options(name);
        custom.storage.max_vocab = max_vocab;
        custom
    };
    let source = common::testdata("fixtures").join(name);
    servegraph::export_serving_model(&source, out, &options)
        .unwrap_or_else(|e| panic!("export of {name} failed: {e}"))
}

/// The one asset the fixture declares, as the trimmed report gives it; the
/// written file is the source's first `KEPT` lines, byte for byte.
fn check_trimmed_asset(name: &str, report: &servegraph::ExportReport, trimmed: &Path) -> AssetTrim {
    let vocab = report.graph.vocab.as_ref().expect("a vocab report");
    assert!(vocab.refused.is_empty(), "{name}: {:?}", vocab.refused);
    let [asset] = vocab.assets.as_slice() else {
        panic!("{name}: one vocabulary asset expected: {:?}", vocab.assets);
    };
    let source = std::fs::read(
        common::testdata("fixtures")
            .join(name)
            .join(&asset.filename),
    )
    .unwrap();
    let written = std::fs::read(trimmed.join("assets").join(&asset.filename)).unwrap();
    let source_lines = source.split_inclusive(|b| *b == b'\n').count() as u64;
    let prefix: Vec<u8> = source
        .split_inclusive(|b| *b == b'\n')
        .take(KEPT as usize)
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        written, prefix,
        "{name}: the asset is not the first {KEPT} lines"
    );
    assert!(written.len() < source.len(), "{name}: asset not smaller");
    assert_eq!(asset.entries_before, source_lines);
    assert_eq!(asset.entries_after, KEPT);
    assert_eq!(asset.bytes_before, source.len() as u64);
    assert_eq!(asset.bytes_after, written.len() as u64);
    assert_eq!(asset.bytes_dropped, (source.len() - written.len()) as u64);
    eprintln!(
        "{name}: {} {} -> {} entries, {} -> {} bytes",
        asset.filename,
        asset.entries_before,
        asset.entries_after,
        asset.bytes_before,
        asset.bytes_after
    );
    asset.clone()
}

/// Runs `export` on `inputs` with all three loaders, optionally checking
/// against `expected`; returns the TF2 loader's outputs.
fn run(python: &Path, export: &Path, inputs: &Path, expected: Option<&Path>) -> serde_json::Value {
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let mut request = serde_json::json!({
        "export_dir": export,
        "inputs": read(inputs),
        "loaders": "tf2,tf1,capi",
        "tolerance": 1e-6,
    });
    if let Some(expected) = expected {
        request["expected"] = read(expected);
    }
    let answer = common::judge::run_saved_model(python, request);
    assert!(
        answer.ok,
        "{}: loaders failed or disagree:\n{}",
        export.display(),
        answer.describe()
    );
    let verdict = answer.result;
    verdict["tf2"]["outputs"].clone()
}

/// The fixture's test rows that hold at least one word the trim dropped.
fn rows_with_dropped(name: &str, vocabulary: &Path) -> Vec<bool> {
    let text = std::fs::read_to_string(vocabulary).unwrap();
    let dropped: Vec<&str> = text.lines().skip(KEPT as usize).collect();
    let tokens = &common::fixture_json(name)["test_inputs"]["tokens"];
    let width = tokens["shape"][1].as_u64().unwrap() as usize;
    let values: Vec<&str> = tokens["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    values
        .chunks(width)
        .map(|row| row.iter().any(|w| dropped.contains(w)))
        .collect()
}

fn logits(outputs: &serde_json::Value) -> Vec<Vec<f64>> {
    let width = outputs["logits"]["shape"][1].as_u64().unwrap() as usize;
    let values: Vec<f64> = outputs["logits"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    values.chunks(width).map(<[f64]>::to_vec).collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn check_fixture(name: &str, buckets: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (original, trimmed) = (dir.path().join("original"), dir.path().join("trimmed"));
    export(name, &original, None);
    let report = export(name, &trimmed, Some(KEPT));
    let asset = check_trimmed_asset(name, &report, &trimmed);
    let Some(python) = common::tensorflow_python(&format!("vocab_interop::{name}")) else {
        return;
    };
    let fixture = common::fixture_json(name);
    let inputs = dir.path().join("inputs.json");
    std::fs::write(&inputs, fixture["test_inputs"].to_string()).unwrap();
    let vocabulary = original.join("assets").join(&asset.filename);
    let substituted = dir.path().join("substituted.json");
    let chosen = common::run_python(
        &python,
        "tests/interop/vocab_substitutes.py",
        &[
            inputs.as_os_str(),
            vocabulary.as_os_str(),
            OsStr::new(&KEPT.to_string()),
            substituted.as_os_str(),
            OsStr::new("--buckets"),
            OsStr::new(&buckets.to_string()),
        ],
    );
    eprintln!(
        "{name}: dropped words replaced by unseen ones: {}",
        chosen.trim()
    );

    // What the original model computes when the dropped words are unseen words.
    let unseen = run(&python, &original, &substituted, None);
    let expected = dir.path().join("expected.json");
    std::fs::write(
        &expected,
        serde_json::json!({"logits": unseen["logits"]}).to_string(),
    )
    .unwrap();
    // The trimmed model on the real words must compute exactly that.
    let trimmed_outputs = run(&python, &trimmed, &inputs, Some(&expected));

    let with_dropped = rows_with_dropped(name, &vocabulary);
    let seen = logits(&run(&python, &original, &inputs, None));
    let (unseen, trimmed_rows) = (logits(&unseen), logits(&trimmed_outputs));
    assert!(
        with_dropped.contains(&true) && with_dropped.contains(&false),
        "{name}: the batch must mix"
    );
    for (row, dropped) in with_dropped.iter().enumerate() {
        let change = max_diff(&seen[row], &trimmed_rows[row]);
        if *dropped {
            // Not vacuous: the dropped words did matter to the original model.
            assert!(
                change > 1e-4,
                "{name}: row {row} holds dropped words yet its output did not change"
            );
        } else {
            assert!(
                change <= 1e-6,
                "{name}: row {row} holds only kept words yet changed by {change}"
            );
        }
        assert!(max_diff(&unseen[row], &trimmed_rows[row]) <= 1e-6);
    }
}

#[test]
fn a_default_value_table_maps_dropped_words_to_its_default() {
    check_fixture("vocab_lookup", 0);
}

#[test]
fn oov_buckets_take_dropped_words_like_unseen_ones() {
    let buckets = common::fixture_json("vocab_oov")["oov_buckets"]
        .as_u64()
        .unwrap();
    check_fixture("vocab_oov", buckets);
}

/// TensorFlow 1's `index_table_from_file` with buckets over string keys
/// (fast hash) and over int64 keys (strong hash of the keys as strings) are
/// trimmed; `index_to_string_table_from_file` (line numbers as keys) is
/// refused and its asset copied whole.
#[test]
fn tensorflow_1_tables_trim_their_buckets_and_refuse_line_number_keys() {
    let Some(python) = common::tensorflow_python("vocab_interop::tensorflow_1_tables") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kept = 5;
    let chosen = common::run_python(
        &python,
        "tests/interop/vocab_tables.py",
        &[dir.path().as_os_str(), OsStr::new(&kept.to_string())],
    );
    eprintln!(
        "keys past line {kept} replaced by unseen ones: {}",
        chosen.trim()
    );
    let source = dir.path().join("source/graph.pb");
    let options = |max_vocab| {
        let mut custom = servegraph::ExportOptions::default();
        custom.serving.outputs = ["ids=ids:0", "int_ids=int_ids:0", "words=words:0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        custom.storage.max_vocab = max_vocab;
        custom
    };
    let (original, trimmed) = (dir.path().join("original"), dir.path().join("trimmed"));
    servegraph::export_serving_model(&source, &original, &options(None)).unwrap();
    let report = servegraph::export_serving_model(&source, &trimmed, &options(Some(kept))).unwrap();

    let vocab = report.graph.vocab.unwrap();
    let trimmed_assets: Vec<(&str, u64, u64)> = vocab
        .assets
        .iter()
        .map(|a| (a.filename.as_str(), a.entries_before, a.entries_after))
        .collect();
    assert_eq!(
        trimmed_assets,
        [("words.txt", 20, kept), ("ints.txt", 20, kept)]
    );
    let [refused] = vocab.refused.as_slice() else {
        panic!("one refusal expected: {:?}", vocab.refused);
    };
    assert_eq!(refused.refusal.use_op, "InitializeTableFromTextFileV2");
    assert!(
        refused.refusal.reason.contains("line numbers"),
        "{}",
        refused.refusal.reason
    );
    let whole = std::fs::read(dir.path().join("source/words.txt")).unwrap();
    assert_eq!(
        std::fs::read(trimmed.join("assets").join(&refused.filename)).unwrap(),
        whole
    );
    assert_eq!(
        std::fs::read(trimmed.join("assets/words.txt")).unwrap(),
        b"w0\nw1\nw2\nw3\nw4\n"
    );

    let inputs = dir.path().join("inputs.json");
    let substituted = dir.path().join("substituted.json");
    let unseen = run(&python, &original, &substituted, None);
    let seen = run(&python, &original, &inputs, None);
    for key in ["ids", "int_ids"] {
        assert_ne!(seen[key], unseen[key], "{key}: no input key was dropped");
    }
    let expected = dir.path().join("expected.json");
    std::fs::write(&expected, unseen.to_string()).unwrap();
    run(&python, &trimmed, &inputs, Some(&expected));
}
