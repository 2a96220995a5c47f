//! `servegraph validate` on SavedModels TensorFlow wrote: a TF1 Builder
//! model that serves as is has no finding (TensorFlow's own main op, asset
//! collection, resource and partitioned variables), and the deliberately
//! flawed models the saved_model_cli comparison uses get exactly the
//! findings their flaws call for.

use crate::common;

use std::path::Path;

use servegraph::lint::Rule;
use servegraph::validate::{Validation, validate_saved_model};

fn rules(validation: &Validation) -> Vec<Rule> {
    validation.findings.iter().map(|f| f.rule).collect()
}

fn lint(dir: &Path) -> Validation {
    validate_saved_model(dir, &[]).unwrap()
}

#[test]
fn tensorflow_written_saved_models_get_the_findings_their_flaws_call_for() {
    let Some(python) = common::tensorflow_python("lint_interop") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for script in [
        "tests/interop/write_lint_models.py",
        "tests/interop/write_saved_models.py",
    ] {
        common::run_python(&python, script, &[dir.path().as_os_str()]);
    }

    let clean = lint(&dir.path().join("tf1_clean"));
    assert_eq!(rules(&clean), [], "{clean}");
    assert_eq!(clean.variables, 2, "{clean}");
    std::fs::remove_file(dir.path().join("tf1_clean/assets/vocab.txt")).unwrap();
    let broken = lint(&dir.path().join("tf1_clean"));
    assert_eq!(rules(&broken), [Rule::AssetFile], "{broken}");

    // A classify signature whose classes are a string vector, an unknown-rank
    // and a scalar input, a scalar and an unknown-rank output, a ReadFile and
    // a PyFunc.
    use Rule::*;
    let tf1 = lint(&dir.path().join("tf1_builder"));
    assert_eq!(
        rules(&tf1),
        [
            SignatureMethod,
            BatchDimension,
            BatchDimension,
            BatchDimension,
            BatchDimension,
            DenylistedOp,
            PythonOp
        ],
        "{tf1}"
    );
    // TF2: the object graph, an unknown-rank signature, a PrintV2 in each
    // trace of a function.
    let tf2 = lint(&dir.path().join("tf2_module"));
    let found = rules(&tf2);
    assert_eq!(
        found[..3],
        [ObjectGraph, BatchDimension, BatchDimension],
        "{tf2}"
    );
    assert!(found[3..].iter().all(|r| *r == DenylistedOp), "{tf2}");
    assert!(found.len() > 3, "{tf2}");
    let keras = lint(&dir.path().join("tf_keras"));
    assert_eq!(rules(&keras), [ObjectGraph], "{keras}");
    for model in [&tf2, &keras] {
        assert_eq!(model.exit_code, 0, "{model}");
    }
    assert_eq!(tf1.exit_code, 2, "{tf1}");
}
