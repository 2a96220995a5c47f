//! Help that fits a screen and speaks one vocabulary: every subcommand's
//! `--help` is at most 40 lines of at most 100 characters and ends with
//! real examples whose flags the subcommand has; tags are accepted as
//! `--tag_set A,B` and as repeated or comma-separated `--tag`; sizes in
//! K/M/G, KB/MB/GB, KiB/MiB/GiB in any case; the Vertex AI flags under
//! `--xai-*` with the old names still accepted; `--explain NODE --quiet`
//! prints only the answer.

use crate::common;

use common::{path_str, servegraph, stderr, testdata};

const SUBCOMMANDS: [&str; 6] = ["export", "validate", "size", "show", "transform", "scan"];

fn stdout(args: &[&str]) -> String {
    let output = servegraph(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_help_fits_a_screen_and_ends_with_examples_it_accepts() {
    for command in SUBCOMMANDS {
        let help = stdout(&[command, "--help"]);
        let lines: Vec<&str> = help.lines().collect();
        assert!(
            lines.len() <= 40,
            "{command} --help is {} lines:\n{help}",
            lines.len()
        );
        let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(
            widest <= 100,
            "{command} --help has a {widest}-character line"
        );
        let examples: Vec<&str> = lines
            .iter()
            .skip_while(|l| **l != "Examples:")
            .filter(|l| l.starts_with("  servegraph "))
            .copied()
            .collect();
        assert!(examples.len() >= 2, "{command}: {help}");
        // export hides its rarer flags from --help; --help-all lists them.
        let every_flag = if command == "export" {
            stdout(&[command, "--help-all"]) + &help
        } else {
            help.clone()
        };
        for example in &examples {
            assert!(
                example.starts_with(&format!("  servegraph {command} ")),
                "{example}"
            );
            for flag in example.split_whitespace().filter(|w| w.starts_with("--")) {
                assert!(
                    every_flag.contains(flag),
                    "{command}: example flag {flag} unknown"
                );
            }
        }
    }
}

fn export_tiny(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let source = testdata("fixtures/tiny_mlp");
    let mut args = vec![
        "export",
        path_str(&source),
        path_str(out),
        "--input",
        "features=IteratorGetNext:0",
        "--output",
        "logits=logits/BiasAdd:0",
    ];
    args.extend_from_slice(extra);
    servegraph(&args)
}

#[test]
fn tags_are_one_vocabulary_across_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let output = export_tiny(&out, &["--variant", "gpu", "-q"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let model = path_str(&out);
    let shown = stdout(&["show", model, "--tag", "serve,gpu"]);
    assert!(
        shown.contains("MetaGraphDef with tags [serve, gpu]"),
        "{shown}"
    );
    let shown = stdout(&["show", model, "--tag", "serve", "--tag", "gpu"]);
    assert!(shown.contains("[serve, gpu]"), "{shown}");
    stdout(&["validate", model, "--tag_set", "serve,gpu"]);
    stdout(&["scan", model, "--tag", "serve,gpu"]);
    stdout(&["scan", model, "--tag_set", "serve,gpu"]);
    let again = dir.path().join("again");
    let output = export_tiny(&again, &["--tag_set", "serve,cpu", "-q"]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&[
        "validate",
        path_str(&again),
        "--tag",
        "serve",
        "--tag",
        "cpu",
    ]);
    let transformed = dir.path().join("t");
    stdout(&[
        "transform",
        path_str(&again),
        path_str(&transformed),
        "--tag_set",
        "serve,cpu",
        "--transforms",
        "strip_unused_nodes",
    ]);
}

#[test]
fn size_units_are_accepted_in_every_spelling() {
    let dir = tempfile::tempdir().unwrap();
    for (i, size) in ["500M", "500mb", "500MB", "1g", "0.5GiB", "2000k", "100kib"]
        .iter()
        .enumerate()
    {
        let out = dir.path().join(format!("m{i}"));
        let output = export_tiny(&out, &["--max-size", size, "-q"]);
        assert!(
            output.status.success(),
            "--max-size {size}: {}",
            stderr(&output)
        );
    }
    let output = export_tiny(&dir.path().join("small"), &["--max-size", "1k", "-q"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "1k is under the model's size"
    );
}

#[test]
fn vertex_ai_flags_have_one_prefix_and_keep_their_old_names() {
    let dir = tempfile::tempdir().unwrap();
    for (i, flags) in [
        ["--xai-metadata", "--xai-output", "logits"],
        ["--explanation-metadata", "--explain-output", "logits"],
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("m{i}"));
        let mut all = flags.to_vec();
        all.push("-q");
        let output = export_tiny(&out, &all);
        assert!(output.status.success(), "{flags:?}: {}", stderr(&output));
        assert!(out.join("explanation_metadata.json").is_file());
    }
    let help = stdout(&["export", "--help-all"]);
    assert!(help.contains("--xai-baseline"), "{help}");
    assert!(
        !help.contains("--explanation-metadata"),
        "old names are hidden"
    );
}

#[test]
fn explain_with_quiet_prints_only_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let output = export_tiny(
        &dir.path().join("m"),
        &["--explain", "dropout/SelectV2", "-q"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("dropout/SelectV2 removed"), "{text}");
    assert!(!text.contains("signature"), "no report: {text}");
    assert!(text.lines().count() <= 8, "{text}");
}
