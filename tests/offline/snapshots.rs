//! Blessable snapshots of every fixture's serving graph after the pipeline
//! (the IR's stable text form) and of the per-pass report, so a change to a
//! pass shows up as a readable diff. `BLESS=1 cargo test --test offline snapshots::`
//! rewrites them.

use crate::common;

use servegraph::passes::{PassContext, Pipeline, ServingSpec};

fn snapshot(name: &str) -> String {
    let options = common::fixture_options(name);
    let mut model =
        servegraph::read::read_model(common::testdata("fixtures").join(name), None, &[]).unwrap();
    let spec = ServingSpec {
        inputs: options.serving.inputs,
        outputs: options.serving.outputs,
        ..ServingSpec::default()
    };
    let reports = Pipeline::serving(&spec)
        .run(&mut model, &mut PassContext::new())
        .unwrap();
    let mut text = format!("# {name}: the serving graph after the pipeline\n");
    for report in &reports {
        let removed: Vec<String> = report
            .removed
            .iter()
            .map(|(why, nodes)| format!("{why} {}", nodes.len()))
            .collect();
        text.push_str(&format!(
            "# {}: removed [{}], added {:?}, rewired {}\n",
            report.pass,
            removed.join(", "),
            report.added,
            report.rewired.len()
        ));
    }
    text.push_str(&model.graph.to_string());
    text
}

#[test]
fn serving_graphs_match_their_snapshots() {
    let bless = std::env::var_os("BLESS").is_some();
    let dir = common::testdata("snapshots");
    let mut stale = Vec::new();
    for name in common::fixture_names() {
        let actual = snapshot(&name);
        let path = dir.join(format!("{name}.txt"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing; run with BLESS=1", path.display()));
        if expected != actual {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "serving graphs changed for {stale:?}; inspect with `git diff` after BLESS=1 cargo test --test offline snapshots::"
    );
}
