//! Errors as people read them: exit codes (0 ok, 1 error, 2 usage), a path
//! that does not exist or a directory that is no model said in those words,
//! a cause chain that never repeats itself, and CLI flags named only by the
//! CLI (the library's messages stay usable from Rust).

use crate::common;

use common::{path_str, servegraph, stderr};

use std::path::Path;

#[test]
fn usage_errors_exit_2_library_errors_exit_1_help_exits_0() {
    for args in [
        &["export"][..],
        &["export", "a", "b", "--no-such-flag"],
        &["frobnicate"],
        &[],
    ] {
        let output = servegraph(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("Usage"), "{}", stderr(&output));
    }
    assert_eq!(servegraph(&["--help"]).status.code(), Some(0));
    assert_eq!(servegraph(&["export", "--help"]).status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let failed = servegraph(&["show", path_str(&dir.path().join("absent"))]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
}

#[test]
fn a_path_that_does_not_exist_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("no_such_run");
    let out = dir.path().join("model");
    for args in [
        vec![
            "export",
            path_str(&absent),
            path_str(&out),
            "--output",
            "y=x:0",
        ],
        vec!["show", path_str(&absent)],
        vec!["validate", path_str(&absent)],
    ] {
        let output = servegraph(&args);
        let message = stderr(&output);
        // validate's exit codes: 2 for errors, an unreadable path among them.
        let code = if args[0] == "validate" { 2 } else { 1 };
        assert_eq!(output.status.code(), Some(code), "{args:?}: {message}");
        assert!(
            message.contains(&format!("{} does not exist", absent.display())),
            "{args:?}: {message}"
        );
    }
    let prefix = common::testdata("fixtures/tiny_mlp/model.ckpt-99");
    let message = stderr(&servegraph(&["show", path_str(&prefix)]));
    assert!(
        message.contains("model.ckpt-99 does not exist"),
        "{message}"
    );
}

#[test]
fn show_and_validate_on_a_directory_that_is_no_model_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("todo.txt"), "not a model").unwrap();
    let shown = stderr(&servegraph(&["show", path_str(&notes)]));
    assert!(
        shown.contains("is not a SavedModel or a training directory"),
        "{shown}"
    );
    let training = common::testdata("fixtures/tiny_mlp");
    for dir in [&notes, &training] {
        let output = servegraph(&["validate", path_str(dir)]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{message}");
        assert!(
            message.contains(&format!("{} is not a SavedModel directory", dir.display())),
            "{message}"
        );
        assert!(!message.contains("No such file"), "{message}");
    }
}

/// No line of the error output repeats, or is contained in, a line before it.
fn assert_no_repeats(message: &str) {
    let lines: Vec<&str> = message
        .lines()
        .map(|l| {
            l.trim()
                .trim_start_matches("error: ")
                .trim_start_matches("caused by: ")
        })
        .collect();
    for (i, line) in lines.iter().enumerate() {
        for earlier in &lines[..i] {
            assert!(!earlier.contains(line), "{line:?} repeats:\n{message}");
        }
    }
}

#[test]
fn an_error_chain_shows_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("graph.pbtxt");
    std::fs::write(&text, "node { name: \"x\" op: ").unwrap();
    let message = stderr(&servegraph(&["show", path_str(&text)]));
    assert!(
        message.contains("graph.pbtxt is not valid text format")
            && message.contains("caused by: tensorflow.GraphDef"),
        "{message}"
    );
    assert_no_repeats(&message);

    // An index that is a directory: the read fails with an I/O error under it.
    let prefix = dir.path().join("ckpt");
    std::fs::create_dir(dir.path().join("ckpt.index")).unwrap();
    let graph = common::testdata("fixtures/tiny_mlp/model.ckpt-5.meta");
    let out = tempfile::tempdir().unwrap();
    let output = servegraph(&[
        "export",
        path_str(&graph),
        path_str(&out.path().join("model")),
        "--output",
        "logits=logits/BiasAdd:0",
        "--checkpoint",
        path_str(&prefix),
    ]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("cannot read") && message.contains("ckpt.index"),
        "{message}"
    );
    assert_eq!(
        message.matches("Is a directory").count(),
        1,
        "the cause is printed once: {message}"
    );
    assert_no_repeats(&message);
}

#[test]
fn the_cli_names_the_flag_the_library_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let source = common::testdata("fixtures/tiny_mlp");
    let output = servegraph(&["export", path_str(&source), path_str(&out)]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("logits/BiasAdd:0")
            && message.contains("hint:")
            && message.contains("--output"),
        "{message}"
    );
    let error = servegraph::export_serving_model(&source, &out, &Default::default()).unwrap_err();
    let library = servegraph::error::messages(&error).join("\n");
    assert!(
        library.contains("logits/BiasAdd:0") && !library.contains("--"),
        "{library}"
    );
}

/// The text of every `#[error("...")]` attribute in `src/` outside the binary.
fn error_attributes(dir: &Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                error_attributes(&path, found);
            }
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for (at, _) in source.match_indices("#[error(") {
            let rest = &source[at..];
            let end = rest.find(")]\n").unwrap_or(rest.len());
            found.push((path.display().to_string(), rest[..end].to_string()));
        }
    }
}

#[test]
fn library_error_messages_name_no_command_line_flags() {
    let mut attributes = Vec::new();
    error_attributes(&common::repo_root().join("src"), &mut attributes);
    assert!(
        attributes.len() > 30,
        "found only {} messages",
        attributes.len()
    );
    let naming_flags: Vec<&(String, String)> = attributes
        .iter()
        .filter(|(_, text)| {
            text.match_indices("--")
                .any(|(i, _)| text[i + 2..].starts_with(|c: char| c.is_ascii_lowercase()))
        })
        .collect();
    assert!(
        naming_flags.is_empty(),
        "library errors naming CLI flags (the CLI adds those hints): {naming_flags:#?}"
    );
}
