//! Which rewire left a removed node unused. A pass that bypasses a
//! subgraph (dropout, an input pipeline, a batch statistic) only moves the
//! consumers; the prune pass removes what no longer leads to an output. The
//! rewire is the rule that fired, so it is named beside the removal.

use std::collections::{HashMap, HashSet};

use super::rule::{Rule, rewire_rule};
use crate::ir::{Graph, NodeId, node_of};
use crate::passes::PassReport;

/// For each removed node, the rewires (with the index of their pass's
/// report) whose bypassed tensor it fed, through removed nodes only.
pub fn cutting_rewires(
    before: &Graph,
    after: &Graph,
    reports: &[PassReport],
) -> HashMap<String, Vec<(usize, Rule)>> {
    let mut cut: HashMap<String, Vec<(usize, Rule)>> = HashMap::new();
    for (index, report) in reports.iter().enumerate() {
        for rewire in &report.rewired {
            let rule = rewire_rule(&report.pass, rewire);
            for id in bypassed(before, after, node_of(&rewire.from)) {
                cut.entry(before.name(id).to_string())
                    .or_default()
                    .push((index, rule.clone()));
            }
        }
    }
    cut
}

/// `from` and what it reads, walking back through nodes `after` lacks:
/// the subgraph a rewire away from `from` left behind. Empty when `from`
/// itself was kept (its other consumers still read it).
fn bypassed(before: &Graph, after: &Graph, from: &str) -> Vec<NodeId> {
    let Some(start) = before.find(from).filter(|_| after.find(from).is_none()) else {
        return Vec::new();
    };
    let mut seen: HashSet<NodeId> = HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        for producer in before.producers(id) {
            if after.find(before.name(producer)).is_none() && seen.insert(producer) {
                stack.push(producer);
            }
        }
    }
    seen.into_iter().collect()
}
