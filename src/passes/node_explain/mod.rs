//! Why each node went or stayed: the passes' reports, read against the graph
//! before them, turned into one record per removed or rewired node (its op,
//! its inputs before and after, the rule that fired) and, for one node asked
//! about, the verdict with its reason — the signature output that needs it
//! and the path there, or the pass and training category that removed it.
//!
//! Works from [`PassReport`]s alone, so any caller that ran passes (the
//! export pipeline, a transform) explains them the same way. Not to be
//! confused with `back::explain`, AI Platform's explanation metadata.

mod causes;
mod changes;
mod rule;
mod story;
mod text;

use serde::Serialize;

pub use changes::NodeChange;
pub use rule::Rule;
pub use story::{NodeStory, OutputPath, Verdict};

use crate::ir::Graph;
use crate::model::Model;
use crate::passes::PassReport;

/// What to explain: every change, or one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainScope {
    /// Every node a pass removed or rewired.
    Every,
    /// One node, by name: why it was kept, removed or added.
    Node(String),
}

/// A signature output, as the kept-node paths name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServedOutput {
    pub signature: String,
    pub key: String,
    /// `node:port`.
    pub tensor: String,
}

/// Every output of every signature of `model`, in key order.
pub fn served_outputs(model: &Model) -> Vec<ServedOutput> {
    let signatures = model.signatures.iter();
    signatures
        .flat_map(|(signature, s)| {
            s.outputs.iter().map(move |(key, spec)| ServedOutput {
                signature: signature.clone(),
                key: key.clone(),
                tensor: spec.name.clone(),
            })
        })
        .collect()
}

/// The explanation of a run of passes: the changes (all of them, or the
/// asked node's only) and, when one node was asked about, its story.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub changes: Vec<NodeChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeStory>,
}

/// A node asked about that no graph holds.
#[derive(Debug, thiserror::Error)]
pub enum NodeExplainError {
    #[error(
        "no node {node:?} to explain: not in the graph before or after the passes{}",
        suggestion_text(.suggestions)
    )]
    UnknownNode {
        node: String,
        suggestions: Vec<String>,
    },
}

fn suggestion_text(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

/// Explains what `reports` did to `before`, which became `after`.
/// `outputs` are the served tensors (in `after`) a kept node's path leads to.
pub fn explain(
    before: &Graph,
    after: &Graph,
    outputs: &[ServedOutput],
    reports: &[PassReport],
    scope: &ExplainScope,
) -> Result<Explanation, NodeExplainError> {
    match scope {
        ExplainScope::Every => Ok(Explanation {
            changes: changes::node_changes(before, after, reports, None),
            node: None,
        }),
        ExplainScope::Node(name) => {
            let changes = changes::node_changes(before, after, reports, Some(name));
            let story = story::node_story(before, after, outputs, reports, &changes, name)?;
            Ok(Explanation {
                changes,
                node: Some(story),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::TensorRef;
    use crate::ops::training::TrainingCategory;
    use crate::passes::testing::{graph, node};
    use crate::passes::{PassReport, Removal};

    /// A layer `out = Relu(Mul(mm, noise))` whose noise multiply a pass
    /// bypasses, and an optimizer slot the prune pass removes.
    fn before() -> Graph {
        graph(vec![
            node("x", "Placeholder", &[]),
            node("w", "VariableV2", &[]),
            node("w/read", "Identity", &["w"]),
            node("mm", "MatMul", &["x", "w/read"]),
            node("noise", "RandomUniform", &[]),
            node("mask", "Mul", &["mm", "noise"]),
            node("out", "Relu", &["mask"]),
            node("slot", "VariableV2", &[]),
            node("apply", "ApplyMomentum", &["w", "slot", "^out"]),
            node("served", "Identity", &["out", "^noise"]),
        ])
    }

    /// `before` after the bypass and the prune, with the reports saying so.
    fn after_passes(before: &Graph) -> (Graph, Vec<PassReport>) {
        let mut after = before.clone();
        let find = |g: &Graph, name: &str| g.find(name).unwrap();
        let (mask, mm) = (find(&after, "mask"), find(&after, "mm"));
        after.rewire(TensorRef::new(mask, 0), TensorRef::new(mm, 0));
        let mut bypass = PassReport {
            pass: "bypass".into(),
            ..PassReport::default()
        };
        bypass.rewired("mask:0", "mm:0", "noise is off at inference");
        let mut prune = PassReport {
            pass: "prune".into(),
            ..PassReport::default()
        };
        for name in ["apply", "slot", "mask", "noise"] {
            after.remove_node(find(&after, name));
        }
        prune.removed(Removal::Unused, "mask");
        prune.removed(Removal::Unused, "noise");
        prune.removed(TrainingCategory::Optimizer, "slot");
        prune.removed(TrainingCategory::Optimizer, "apply");
        (after, vec![bypass, prune])
    }

    fn outputs() -> Vec<ServedOutput> {
        vec![ServedOutput {
            signature: "serving_default".into(),
            key: "y".into(),
            tensor: "out:0".into(),
        }]
    }

    fn explained(scope: ExplainScope) -> Result<Explanation, NodeExplainError> {
        let before = before();
        let (after, reports) = after_passes(&before);
        explain(&before, &after, &outputs(), &reports, &scope)
    }

    fn change<'e>(explanation: &'e Explanation, node: &str) -> &'e NodeChange {
        let found = explanation.changes.iter().find(|c| c.node == node);
        found.unwrap_or_else(|| panic!("no change for {node}: {explanation:#?}"))
    }

    #[test]
    fn a_bypassed_subgraph_names_the_rewire_that_left_it_unused() {
        let all = explained(ExplainScope::Every).unwrap();
        let noise = change(&all, "noise");
        let removed = noise.removed_by.as_ref().unwrap();
        assert_eq!(
            (removed.pass.as_str(), removed.rule.as_str()),
            ("prune", "unused")
        );
        assert_eq!(noise.rewires.len(), 1, "{noise:?}");
        assert_eq!(noise.rewires[0].pass, "bypass");
        assert!(noise.rewires[0].why.contains("mask:0 → mm:0"));
        assert_eq!(noise.op.as_deref(), Some("RandomUniform"));
        assert_eq!(change(&all, "mask").inputs_before, ["mm", "noise"]);
    }

    #[test]
    fn a_rewired_node_shows_its_inputs_before_and_after_and_the_rule() {
        let all = explained(ExplainScope::Every).unwrap();
        let out = change(&all, "out");
        assert_eq!(out.inputs_before, ["mask"]);
        assert_eq!(out.inputs_after.as_deref(), Some(&["mm".to_string()][..]));
        assert!(out.removed_by.is_none());
        assert_eq!(out.rewires[0].pass, "bypass");
        // A node whose inputs did not change is not listed.
        assert!(all.changes.iter().all(|c| c.node != "w/read"));
        let served = change(&all, "served");
        assert_eq!(
            served.inputs_after.as_deref(),
            Some(&["out".to_string()][..])
        );
        assert_eq!(served.rewires[0].rule, "control-dropped");
        assert_eq!(served.rewires[0].pass, "prune");
    }

    #[test]
    fn a_training_only_node_says_its_category_and_what_it_fed() {
        let story = explained(ExplainScope::Node("slot".into()))
            .unwrap()
            .node
            .unwrap();
        assert_eq!(story.verdict, Verdict::Removed);
        let rule = story.change.unwrap().removed_by.unwrap();
        assert_eq!(
            (rule.pass.as_str(), rule.rule.as_str()),
            ("prune", "optimizer")
        );
        assert!(rule.why.contains("apply"), "{}", rule.why);
        let apply = explained(ExplainScope::Node("apply".into())).unwrap();
        let why = &apply.changes[0].removed_by.as_ref().unwrap().why;
        assert!(why.contains("its op ApplyMomentum"), "{why}");
    }

    #[test]
    fn a_kept_node_names_the_output_and_the_path_to_it() {
        let explanation = explained(ExplainScope::Node("w".into())).unwrap();
        let story = explanation.node.unwrap();
        assert_eq!(story.verdict, Verdict::Kept);
        assert_eq!(story.needed_by.len(), 1);
        assert_eq!(story.needed_by[0].output, "y");
        assert_eq!(story.needed_by[0].path, ["w", "w/read", "mm", "out"]);
        assert!(explanation.changes.is_empty());
        let text = explained(ExplainScope::Node("w".into()))
            .unwrap()
            .to_string();
        assert!(text.contains("w → w/read → mm → out"), "{text}");
    }

    #[test]
    fn an_unknown_node_is_an_error_naming_close_ones() {
        let error = explained(ExplainScope::Node("w/reed".into())).unwrap_err();
        let NodeExplainError::UnknownNode { node, suggestions } = &error;
        assert_eq!(node, "w/reed");
        assert!(
            suggestions.contains(&"w/read".to_string()),
            "{suggestions:?}"
        );
        assert!(error.to_string().contains("did you mean w/read"), "{error}");
    }

    #[test]
    fn a_removal_no_pass_recorded_is_said_to_be_unrecorded() {
        let before = before();
        let (mut after, reports) = after_passes(&before);
        after.remove_node(after.find("x").unwrap());
        let all = explain(&before, &after, &outputs(), &reports, &ExplainScope::Every).unwrap();
        assert_eq!(
            change(&all, "x").removed_by.as_ref().unwrap().rule,
            "unrecorded"
        );
    }

    #[test]
    fn one_node_gets_the_change_the_full_explanation_gives_it() {
        let all = explained(ExplainScope::Every).unwrap();
        for node in ["noise", "mask", "out", "slot", "served"] {
            let one = explained(ExplainScope::Node(node.into())).unwrap();
            assert_eq!(one.changes, [change(&all, node).clone()], "{node}");
        }
    }

    #[test]
    fn chained_rewires_are_each_a_rule() {
        let before = graph(vec![
            node("a", "Const", &[]),
            node("b", "Const", &[]),
            node("c", "Const", &[]),
            node("use", "Identity", &["a"]),
        ]);
        let mut after = before.clone();
        let (a, c, user) = (
            after.find("a").unwrap(),
            after.find("c").unwrap(),
            after.find("use").unwrap(),
        );
        after.rewire(TensorRef::new(a, 0), TensorRef::new(c, 0));
        let mut first = PassReport {
            pass: "one".into(),
            ..PassReport::default()
        };
        first.rewired("a:0", "b:0", "first");
        let mut second = PassReport {
            pass: "two".into(),
            ..PassReport::default()
        };
        second.rewired("b", "c:0", "second");
        let all = explain(&before, &after, &[], &[first, second], &ExplainScope::Every).unwrap();
        let rules: Vec<&str> = change(&all, "use")
            .rewires
            .iter()
            .map(|r| r.pass.as_str())
            .collect();
        assert_eq!(rules, ["one", "two"]);
        assert!(after.contains(user));
    }
}
