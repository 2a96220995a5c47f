//! The staged library API — read the source, run `ExportOptions::phases`
//! in `ExportOptions::pass_context`, check, write with
//! `ExportOptions::write_options` — writes byte for byte what the one call
//! `export_serving_model` writes, on every fixture and every option that
//! rewrites the graph or its storage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use servegraph::check::check_model;
use servegraph::read::{Wanted, locate_with_checkpoint, read_source_for};
use servegraph::timings::Timings;
use servegraph::write::saved_model::write_variants;
use servegraph::{ExportOptions, FreezeLimits, WeightPrecision, export_serving_model};

use super::common;

/// A change to a fixture's options.
type Change = fn(&mut ExportOptions);

/// Each option set, named, as a change to a fixture's options.
fn option_sets() -> Vec<(&'static str, Change)> {
    vec![
        ("plain", |_| {}),
        ("f16", |o| {
            o.storage.weights = WeightPrecision::F16;
            o.storage.min_elements = 0;
        }),
        ("int8", |o| {
            o.storage.weights = WeightPrecision::Int8;
            o.storage.min_elements = 0;
        }),
        ("narrow-int64", |o| {
            o.storage.narrow_int64 = true;
            o.storage.min_elements = 0;
        }),
        ("freeze", |o| {
            o.storage.freeze = Some(FreezeLimits::default())
        }),
        ("freeze-f16", |o| {
            o.storage.freeze = Some(FreezeLimits::default());
            o.storage.weights = WeightPrecision::F16;
            o.storage.min_elements = 0;
        }),
        ("variant", |o| {
            o.serving.variants = vec!["gpu".parse().expect("variant")]
        }),
        ("max-vocab", |o| o.storage.max_vocab = Some(10)),
    ]
}

/// The staged API's export of `source` to `out`.
fn staged(source: &Path, out: &Path, options: &ExportOptions) -> Result<(), String> {
    let checkpoint = options.source.checkpoint.as_deref();
    let located = locate_with_checkpoint(source, checkpoint).map_err(|e| e.to_string())?;
    let wanted: Wanted = options.wanted();
    let tags = &options.source.tags;
    let mut model = read_source_for(&located, checkpoint, tags, &wanted, &mut Timings::new())
        .map_err(|e| e.to_string())?;
    let mut cx = options.pass_context();
    options
        .phases()
        .run(&mut model, &mut cx)
        .map_err(|e| e.to_string())?;
    check_model(&model).map_err(|e| e.to_string())?;
    let variants = options.meta_graph_variants(&model, cx.placed.as_ref());
    write_variants(&variants, out, options.write_options()).map_err(|e| e.to_string())?;
    Ok(())
}

/// Every file under `dir`, by its path inside it, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).expect("listable output") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("readable output");
                files.insert(path.strip_prefix(dir).expect("inside").to_path_buf(), bytes);
            }
        }
    }
    files
}

#[test]
fn the_staged_api_writes_what_the_one_call_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut compared, mut refused) = (0, 0);
    for fixture in common::fixture_names() {
        let source = common::testdata("fixtures").join(&fixture);
        for (name, change) in option_sets() {
            let mut options = common::fixture_options(&fixture);
            change(&mut options);
            let case = format!("{fixture} {name}");
            let one = dir.path().join(format!("{fixture}-{name}-one"));
            let two = dir.path().join(format!("{fixture}-{name}-staged"));
            let by_one_call = export_serving_model(&source, &one, &options);
            let by_stages = staged(&source, &two, &options);
            match (by_one_call, by_stages) {
                (Ok(_), Ok(())) => {
                    let (one, two) = (files(&one), files(&two));
                    assert_eq!(
                        one.keys().collect::<Vec<_>>(),
                        two.keys().collect::<Vec<_>>(),
                        "{case}: the same files"
                    );
                    for (path, bytes) in &one {
                        assert!(bytes == &two[path], "{case}: {} differs", path.display());
                    }
                    compared += 1;
                }
                // An option a fixture cannot take (say --max-vocab without
                // a vocabulary) must be refused by both, with the same words.
                (Err(one), Err(two)) => {
                    assert_eq!(one.to_string(), two, "{case}: the same refusal");
                    refused += 1;
                }
                (one, two) => panic!("{case}: one call {one:?}, stages {two:?}"),
            }
        }
    }
    eprintln!("staged API: {compared} exports identical, {refused} refused by both");
    assert!(
        compared >= 8 * common::fixture_names().len() / 2,
        "{compared} compared"
    );
}
