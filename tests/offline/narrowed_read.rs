//! The narrowed read (skim the graph, decode only what serving needs) makes
//! the same serving model as decoding everything, for every fixture: the
//! same graph, node for node, the same signatures and checkpoint slots, and
//! the same count of source nodes.

use crate::common;

use servegraph::model::Model;
use servegraph::ops::training::{is_step_increment, training_category};
use servegraph::passes::{PassContext, PassReport, Pipeline, ServingSpec};
use servegraph::read::{read_model, read_model_for};

fn serve(mut model: Model, name: &str) -> (Model, Vec<PassReport>) {
    let options = common::fixture_options(name);
    let spec = ServingSpec {
        inputs: options.serving.inputs,
        outputs: options.serving.outputs,
        ..ServingSpec::default()
    };
    let reports = Pipeline::serving(&spec)
        .run(&mut model, &mut PassContext::new())
        .unwrap();
    (model, reports)
}

/// Every removed node's name with its reason, over all passes, sorted.
fn removed_by_reason(reports: &[PassReport]) -> Vec<(String, String)> {
    let mut removed: Vec<(String, String)> = reports
        .iter()
        .flat_map(|r| &r.removed)
        .flat_map(|(reason, names)| {
            names
                .iter()
                .map(move |n| (n.clone(), reason.as_str().to_string()))
        })
        .collect();
    removed.sort();
    removed
}

#[test]
fn every_fixture_serves_the_same_graph_read_narrowed_or_whole() {
    let mut narrowed_somewhere = false;
    let mut training_skipped = false;
    for name in common::fixture_names() {
        let source = common::testdata("fixtures").join(&name);
        let wanted = common::fixture_options(&name).wanted();
        assert!(wanted.narrows(), "{name}: the fixture names its outputs");
        let whole = read_model(&source, None, &[]).unwrap();
        let narrowed = read_model_for(&source, None, &[], &wanted).unwrap();
        let skipped = narrowed.graph.undecoded().len();
        narrowed_somewhere |= skipped > 0;
        assert_eq!(
            narrowed.graph.len() + skipped,
            whole.graph.len(),
            "{name}: decoded and skipped nodes add up to the source's"
        );
        assert!(narrowed.graph.len() <= whole.graph.len());

        let ops: std::collections::HashMap<String, String> = whole
            .graph
            .node_ids()
            .into_iter()
            .map(|id| {
                (
                    whole.graph.name(id).to_string(),
                    whole.graph.op(id).to_string(),
                )
            })
            .collect();
        let skipped: Vec<(String, String)> = narrowed
            .graph
            .undecoded()
            .removals()
            .map(|(node, reason)| (node.to_string(), reason.to_string()))
            .collect();

        let (whole, whole_reports) = serve(whole, &name);
        let (narrowed, narrowed_reports) = serve(narrowed, &name);
        let (whole_removed, narrowed_removed) = (
            removed_by_reason(&whole_reports),
            removed_by_reason(&narrowed_reports),
        );
        let names = |removed: &[(String, String)]| -> Vec<String> {
            removed.iter().map(|(node, _)| node.clone()).collect()
        };
        assert_eq!(
            names(&narrowed_removed),
            names(&whole_removed),
            "{name}: every source node the serving graph lacks is reported removed once"
        );
        // A skipped node whose op is training-only is reported under its
        // op's category. (The whole read may report it otherwise: the passes
        // before prune remove some, a dead cond branch say, under their own
        // word; nodes take the category of what they feed.)
        let mut compared = 0;
        for (node, reason) in &skipped {
            // A global-step increment that runs after the apply ops goes as
            // optimizer work, not under its op's own category.
            let Some(category) = ops
                .get(node)
                .filter(|op| !is_step_increment(op))
                .and_then(|op| training_category(op))
            else {
                continue;
            };
            assert_eq!(reason, category.as_str(), "{name}: why {node} goes");
            compared += 1;
        }
        training_skipped |= compared > 0;
        assert_eq!(
            narrowed.graph.to_string(),
            whole.graph.to_string(),
            "{name}: serving graph"
        );
        assert_eq!(
            narrowed.graph.to_graph_def(),
            whole.graph.to_graph_def(),
            "{name}"
        );
        assert_eq!(narrowed.signatures, whole.signatures, "{name}: signatures");
        // Slots of the variables the serving graph keeps. (A variable no
        // saver restores and no output reads, such as a Keras metric's
        // `total`, gets a default slot from a whole read only: the narrowed
        // read never decodes it.)
        let kept_slots = |model: &Model| {
            model
                .checkpoint_slots
                .iter()
                .filter(|(node, _)| model.graph.find(node).is_some())
                .map(|(node, slot)| (node.clone(), slot.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(kept_slots(&narrowed), kept_slots(&whole), "{name}");
        assert_eq!(
            narrowed.table_initializers, whole.table_initializers,
            "{name}"
        );
        assert_eq!(narrowed.assets, whole.assets, "{name}: assets");
        assert!(
            narrowed.graph.undecoded().is_empty(),
            "{name}: prune forgets them"
        );
    }
    assert!(
        narrowed_somewhere,
        "some fixture has training nodes to skip"
    );
    assert!(
        training_skipped,
        "some skipped node is training-only by its op"
    );
}
