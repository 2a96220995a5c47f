//! `show` and `scan` against real `saved_model_cli`, byte for byte, for every
//! flag combination, on every fixture export and on SavedModels TensorFlow
//! wrote itself (a TF1 `Builder` export, a TF2 `tf.Module`, a tf_keras
//! `model.save()`).
//!
//! Two things saved_model_cli prints do not repeat from run to run, so both
//! sides are put in one order before comparing: Python sets (the ops of a
//! MetaGraphDef, the denylist), whose order follows string hashes seeded per
//! process; and the options of one polymorphic function, sorted by names
//! TensorFlow numbers afresh on every load.

use crate::common;

use std::path::Path;

use common::{path_str, servegraph};

/// One saved_model_cli run: its arguments and what it printed.
#[derive(serde::Deserialize)]
struct Expected {
    args: Vec<String>,
    stdout: String,
}

#[test]
fn show_and_scan_match_saved_model_cli() {
    let Some(python) = common::tensorflow_python("saved_model_cli::show_and_scan") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut models = write_tensorflow_models(&python, dir.path());
    models.extend(export_fixtures(dir.path()));
    let expected = saved_model_cli_outputs(&python, &models);
    assert!(
        expected.len() >= 6 * models.len(),
        "{} runs",
        expected.len()
    );
    for run in &expected {
        let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
        let output = servegraph(&args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            common::stderr(&output)
        );
        let ours = String::from_utf8(output.stdout).expect("UTF-8 output");
        match args.first() {
            Some(&"scan") => assert_scan_matches(&args, &run.stdout, &ours),
            _ => assert_eq!(normalize(&ours), normalize(&run.stdout), "{args:?}"),
        }
    }
    assert_tensorflow_specifics(&expected);
}

/// The TensorFlow-written SavedModels.
fn write_tensorflow_models(python: &Path, dir: &Path) -> Vec<String> {
    common::run_python(
        python,
        "tests/interop/write_saved_models.py",
        &[dir.as_os_str()],
    );
    ["tf1_builder", "tf2_module", "tf_keras"]
        .iter()
        .map(|name| path_str(&dir.join(name)).to_string())
        .collect()
}

/// Every fixture exported with the CLI, as the other tests export them.
fn export_fixtures(dir: &Path) -> Vec<String> {
    common::fixture_names()
        .iter()
        .map(|fixture| {
            let out = dir.join(format!("export_{fixture}"));
            let output = common::export_fixture_cli(fixture, &out, &[]);
            assert!(
                output.status.success(),
                "{fixture}: {}",
                common::stderr(&output)
            );
            path_str(&out).to_string()
        })
        .collect()
}

fn saved_model_cli_outputs(python: &Path, models: &[String]) -> Vec<Expected> {
    let args: Vec<&std::ffi::OsStr> = models.iter().map(std::ffi::OsStr::new).collect();
    let json = common::run_python(python, "tests/interop/saved_model_cli_outputs.py", &args);
    serde_json::from_str(&json).expect("the driver prints JSON")
}

/// saved_model_cli's lines come first, unchanged; every further line is one
/// of servegraph's findings about that SavedModel.
fn assert_scan_matches(args: &[&str], expected: &str, ours: &str) {
    let expected = normalize(expected);
    let ours = normalize(ours);
    let Some(extra) = ours.strip_prefix(&expected) else {
        panic!("{args:?}: saved_model_cli printed\n{expected}\nservegraph printed\n{ours}");
    };
    for line in extra.lines() {
        assert!(
            line.starts_with("MetaGraph with tag set [") && line.contains("]: node '"),
            "{args:?}: unexpected line {line:?}"
        );
    }
}

/// The comparisons covered what they are meant to: a TF2 model's concrete
/// functions with Python values, a denylisted op found inside a function,
/// and a TF1 model whose PyFunc servegraph reports after saved_model_cli's line.
fn assert_tensorflow_specifics(runs: &[Expected]) {
    let printed = |needle: &str| runs.iter().any(|run| run.stdout.contains(needle));
    assert!(printed("  Function Name: 'scaled'\n"));
    assert!(printed("          DType: bool\n          Value: False\n"));
    assert!(printed("Named Argument #1\n          scale\n"));
    assert!(printed(
        "contains the following denylisted ops: {'PrintV2'}"
    ));
    assert!(printed(
        "contains the following denylisted ops: {'ReadFile'}"
    ));
    assert!(printed("does not contain the default denylisted ops"));
    let tf1_scan = runs
        .iter()
        .find(|run| {
            run.args.first().is_some_and(|a| a == "scan") && run.args[2].ends_with("tf1_builder")
        })
        .expect("the TF1 model was scanned");
    let args: Vec<&str> = tf1_scan.args.iter().map(String::as_str).collect();
    let ours = String::from_utf8(servegraph(&args).stdout).unwrap();
    assert!(
        ours.contains("node 'doubled' runs Python (PyFunc); TensorFlow Serving cannot run it"),
        "{ours}"
    );
}

/// Python sets sorted, and each function's options in one order.
fn normalize(text: &str) -> String {
    let lines: Vec<String> = text.split_inclusive('\n').map(sort_set_literal).collect();
    sort_function_options(&lines.concat())
}

/// A line ending in a Python set of quoted names (`: {'B', 'A'}`), with the
/// names sorted.
fn sort_set_literal(line: &str) -> String {
    let body = line.trim_end_matches('\n');
    let newline = &line[body.len()..];
    let Some(start) = body.rfind(": {'") else {
        return line.to_string();
    };
    let Some(set) = body[start + 2..]
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
    else {
        return line.to_string();
    };
    let mut items: Vec<&str> = set.split(", ").collect();
    items.sort();
    format!("{}: {{{}}}{newline}", &body[..start], items.join(", "))
}

/// Within each `Function Name:` block, the `Option #N` blocks sorted (their
/// numbers dropped, since they follow the order).
fn sort_function_options(text: &str) -> String {
    let Some((head, functions)) = text.split_once("\nConcrete Functions:") else {
        return text.to_string();
    };
    let blocks: Vec<String> = functions
        .split("\n  Function Name: ")
        .map(|block| {
            let mut parts: Vec<String> = block
                .split("    Option #")
                .map(|part| {
                    part.trim_start_matches(|c: char| c.is_ascii_digit())
                        .to_string()
                })
                .collect();
            if parts.len() > 1 {
                parts[1..].sort();
            }
            parts.join("    Option #")
        })
        .collect();
    format!(
        "{head}\nConcrete Functions:{}",
        blocks.join("\n  Function Name: ")
    )
}

#[test]
fn normalizing_sorts_sets_and_options_only() {
    assert_eq!(
        sort_set_literal("ops: {'B', 'A'}\n"),
        "ops: {'A', 'B'}\n".to_string()
    );
    assert_eq!(sort_set_literal("name: x\n"), "name: x\n");
    let a = "x\nConcrete Functions:\n  Function Name: 'f'\n    Option #1\n      b\n    Option #2\n      a\n";
    let b = "x\nConcrete Functions:\n  Function Name: 'f'\n    Option #1\n      a\n    Option #2\n      b\n";
    assert_eq!(normalize(a), normalize(b));
    let c = "x\nConcrete Functions:\n  Function Name: 'f'\n    Option #1\n      a\n    Option #2\n      c\n";
    assert_ne!(normalize(a), normalize(c));
}
