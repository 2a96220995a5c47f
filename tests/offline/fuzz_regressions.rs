//! Replays, on a stable toolchain, every committed fuzz input
//! (`testdata/fuzz-regressions/TARGET/NAME`) through the very harness
//! functions the cargo-fuzz targets call: each must give `Ok` or a typed
//! error, and never panic. A name starting with `accepted` must give `Ok`,
//! one starting with `rejected-` a typed error (the rest of the name says
//! which); any other name (a crash the fuzzers found) may give either. Also checks that every seed input (made from the
//! fixtures) is accepted by its target; with `SERVEGRAPH_FUZZ_SEED_DIR` set,
//! it writes those seeds there (`fuzz/seed.sh` uses this to fill the corpus).

use crate::common;
#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

fn export_fixtures() -> Vec<harness::Fixture> {
    harness::export_fixtures(&common::testdata("fixtures")).expect("export fixtures load")
}

/// Every committed finding as (target, file).
fn regressions() -> Vec<(String, PathBuf)> {
    let root = common::testdata("fuzz-regressions");
    let mut found = Vec::new();
    for target in std::fs::read_dir(&root).expect("testdata/fuzz-regressions exists") {
        let target = target.unwrap().path();
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            harness::TARGETS.contains(&name.as_str()),
            "{} is not named after a fuzz target ({:?})",
            target.display(),
            harness::TARGETS
        );
        for input in std::fs::read_dir(&target).unwrap() {
            found.push((name.clone(), input.unwrap().path()));
        }
    }
    found.sort();
    found
}

#[test]
fn committed_fuzz_inputs_give_a_value_or_a_typed_error() {
    let fixtures = export_fixtures();
    let cases = regressions();
    assert!(!cases.is_empty(), "no committed fuzz inputs to replay");
    let mut panicked = Vec::new();
    for (target, path) in &cases {
        let data = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        match catch_unwind(AssertUnwindSafe(|| harness::run(target, &fixtures, &data))) {
            Ok(Ok(())) => {
                assert!(
                    !name.starts_with("rejected-"),
                    "{}: accepted",
                    path.display()
                );
            }
            Ok(Err(rejected)) => {
                let message = rejected.to_string();
                assert!(
                    !name.starts_with("accepted") && !message.is_empty(),
                    "{}: rejected: {message}",
                    path.display()
                );
            }
            Err(_) => panicked.push(path.display().to_string()),
        }
    }
    assert!(panicked.is_empty(), "these inputs panic: {panicked:#?}");
}

#[test]
fn every_seed_is_accepted_by_its_target() {
    let fixtures = export_fixtures();
    let seeds = harness::seeds(&common::testdata("fixtures")).expect("seeds from the fixtures");
    for target in harness::TARGETS {
        assert!(
            seeds.iter().any(|s| s.target == target),
            "no seed for {target}"
        );
    }
    for seed in &seeds {
        if let Err(rejected) = harness::run(seed.target, &fixtures, &seed.bytes) {
            panic!("{} seed {} is refused: {rejected}", seed.target, seed.name);
        }
    }
    if let Some(dir) = std::env::var_os("SERVEGRAPH_FUZZ_SEED_DIR") {
        for seed in &seeds {
            let target_dir = PathBuf::from(&dir).join(seed.target);
            std::fs::create_dir_all(&target_dir).unwrap();
            std::fs::write(target_dir.join(&seed.name), &seed.bytes).unwrap();
        }
    }
}

#[test]
fn truncated_seeds_are_refused() {
    // The harnesses must be able to say no: a seed cut to its first bytes
    // (a truncated message, table, bundle or export file) is an error, so
    // `Ok` above means something.
    let fixtures = export_fixtures();
    let seeds = harness::seeds(&common::testdata("fixtures")).expect("seeds from the fixtures");
    for seed in seeds.iter().filter(|s| s.target != "text_format") {
        let cut = &seed.bytes[..seed.bytes.len().min(9)];
        assert!(
            harness::run(seed.target, &fixtures, cut).is_err(),
            "{} seed {} cut to 9 bytes is accepted",
            seed.target,
            seed.name
        );
    }
}

#[test]
fn segments_split_what_join_segments_joined() {
    let parts: [&[u8]; 3] = [b"index", b"", b"shard one"];
    let joined = harness::join_segments(&parts);
    assert_eq!(harness::segments(&joined), parts);
    // A length past the end takes what is left.
    assert_eq!(harness::segments(&[9, 0, 0, 0, 1, 2]), [&[1u8, 2][..]]);
}
