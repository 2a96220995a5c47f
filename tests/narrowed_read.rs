//! The narrowed read (skim the graph, decode only what serving needs) makes
//! the same serving model as decoding everything, for every fixture: the
//! same graph, node for node, the same signatures and checkpoint slots, and
//! the same count of source nodes.

mod common;

use servegraph::model::Model;
use servegraph::passes::{PassContext, PassReport, Pipeline, ServingSpec};
use servegraph::read::{read_model, read_model_for};

fn serve(mut model: Model, name: &str) -> (Model, Vec<PassReport>) {
    let options = common::fixture_options(name);
    let spec = ServingSpec {
        inputs: options.inputs,
        outputs: options.outputs,
        ..ServingSpec::default()
    };
    let reports = Pipeline::serving(&spec)
        .run(&mut model, &mut PassContext::new())
        .unwrap();
    (model, reports)
}

#[test]
fn every_fixture_serves_the_same_graph_read_narrowed_or_whole() {
    let mut narrowed_somewhere = false;
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

        let (whole, _) = serve(whole, &name);
        let (narrowed, _) = serve(narrowed, &name);
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
        assert_eq!(narrowed.checkpoint_slots, whole.checkpoint_slots, "{name}");
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
}
