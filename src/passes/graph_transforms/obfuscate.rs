//! `obfuscate_names`: gives every node but the ones the run must keep a
//! short meaningless name, so the graph no longer describes the model's
//! architecture and the file shrinks. Colocation attrs (`_class`) follow.

use std::collections::{BTreeSet, HashMap};

use super::super::registry::BuildContext;
use super::super::{Pass, PassContext, PassError, PassReport};
use super::Endpoints;
use crate::ir::{AttrExt, Graph};
use crate::model::Model;

pub struct ObfuscateNames {
    endpoints: Endpoints,
}

impl ObfuscateNames {
    pub(super) fn new(cx: &BuildContext) -> ObfuscateNames {
        ObfuscateNames {
            endpoints: Endpoints::of(cx),
        }
    }
}

/// `n` written in base 36: 0 → "0", 36 → "10".
fn base36(mut n: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[n % 36]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

impl Pass for ObfuscateNames {
    fn name(&self) -> &'static str {
        "obfuscate_names"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let protected = self.endpoints.protected(model);
        let renames = rename_all(&mut model.graph, &protected)?;
        rewrite_colocations(&mut model.graph, &renames);
        report.note(format!("{} nodes renamed", renames.len()));
        Ok(report)
    }
}

/// Renames every unprotected node, in two steps so no new name meets an old one.
fn rename_all(
    graph: &mut Graph,
    protected: &BTreeSet<String>,
) -> Result<HashMap<String, String>, PassError> {
    let ids: Vec<_> = graph
        .node_ids()
        .into_iter()
        .filter(|&id| !protected.contains(graph.name(id)))
        .collect();
    let old_names: Vec<String> = ids.iter().map(|&id| graph.name(id).to_string()).collect();
    for (i, &id) in ids.iter().enumerate() {
        let temporary = graph.unique_name(&format!("__obfuscating_{i}"));
        graph.rename_node(id, &temporary)?;
    }
    let mut renames = HashMap::with_capacity(ids.len());
    let mut counter = 0;
    for (&id, old) in ids.iter().zip(old_names) {
        let fresh = loop {
            let candidate = base36(counter);
            counter += 1;
            if graph.find(&candidate).is_none() && !protected.contains(&candidate) {
                break candidate;
            }
        };
        graph.rename_node(id, &fresh)?;
        renames.insert(old, fresh);
    }
    Ok(renames)
}

/// `loc:@old` entries become `loc:@new`.
fn rewrite_colocations(graph: &mut Graph, renames: &HashMap<String, String>) {
    for id in graph.node_ids() {
        let Ok(entries) = graph.node(id).attr_list_string("_class") else {
            continue;
        };
        let rewritten: Vec<Vec<u8>> = entries
            .iter()
            .map(|entry| {
                let text = String::from_utf8_lossy(entry);
                match text.strip_prefix("loc:@").and_then(|old| renames.get(old)) {
                    Some(new) => format!("loc:@{new}").into_bytes(),
                    None => entry.to_vec(),
                }
            })
            .collect();
        graph.node_mut(id).set_attr_list_string("_class", rewritten);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{model, node};

    #[test]
    fn all_but_the_endpoints_get_short_names_and_colocations_follow() {
        let mut w = node("dense/kernel", "Const", &[]);
        w.set_attr_list_string("_class", vec![b"loc:@dense/kernel".to_vec()]);
        let mut m = model(vec![
            node("x", "Placeholder", &[]),
            w,
            node("dense/MatMul", "MatMul", &["x", "dense/kernel"]),
            node("y", "Identity", &["dense/MatMul"]),
        ]);
        let cx = BuildContext {
            inputs: vec!["x".into()],
            outputs: vec!["y:0".into()],
            ..BuildContext::default()
        };
        ObfuscateNames::new(&cx)
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        let mut names: Vec<String> = m
            .graph
            .node_ids()
            .into_iter()
            .map(|id| m.graph.name(id).to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["0", "1", "x", "y"]);
        let kernel = m.graph.node(m.graph.require("0").unwrap());
        assert_eq!(kernel.attr_list_string("_class").unwrap(), [b"loc:@0"]);
        assert_eq!(base36(36), "10");
    }
}
