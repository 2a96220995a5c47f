//! The prediction tensors of an Estimator head, offered as `--output`
//! candidates in the `KEY=TENSOR` form a user can paste.
//!
//! A canned head builds its predictions under `<head>/predictions/`:
//! `probabilities` (softmax), `logistic` (sigmoid, binary heads),
//! `class_ids` (an argmax, which `predict()` returns expanded to
//! `[batch, 1]`), and `classes`: the class ids as strings, by `AsString` or,
//! with a label vocabulary, by a lookup in an id-to-string table. The
//! `logits` are what the sigmoid (binary) or softmax reads. A regression
//! head builds no prediction op: its `predictions` are the logits, whose
//! shape it checks under `<head>/logits/`.

use crate::ir::{AttrExt, DataType, Graph, NodeId, TensorRef};

/// The prediction keys, in the order they are offered.
const ORDER: [&str; 6] = [
    "probabilities",
    "logistic",
    "class_ids",
    "classes",
    "predictions",
    "logits",
];

/// `KEY=TENSOR` for each prediction of each head in the graph.
pub fn head_candidates(graph: &Graph) -> Vec<String> {
    let mut found: Vec<(String, String)> = Vec::new();
    for head in head_scopes(graph) {
        for (key, tensor) in head_predictions(graph, &head) {
            let key = if found.iter().any(|(k, _)| *k == key) {
                format!("{}_{key}", head.replace('/', "_"))
            } else {
                key
            };
            found.push((key, graph.tensor_name(tensor)));
        }
    }
    found
        .into_iter()
        .map(|(key, tensor)| format!("{key}={tensor}"))
        .collect()
}

/// Scopes holding a `predictions` or `losses` child scope: the heads.
fn head_scopes(graph: &Graph) -> Vec<String> {
    let mut heads: Vec<String> = Vec::new();
    for id in graph.node_ids() {
        let parts: Vec<&str> = graph.name(id).split('/').collect();
        let head = parts
            .iter()
            .position(|p| matches!(*p, "predictions" | "losses"))
            .filter(|&at| at > 0 && at + 1 < parts.len())
            .and_then(|at| parts.get(..at))
            .map(|scope| scope.join("/"));
        if let Some(head) = head.filter(|h| !heads.contains(h) && !is_training_scope(h)) {
            heads.push(head);
        }
    }
    heads
}

/// Gradients and optimizer scopes mirror the head's names; they are not heads.
fn is_training_scope(scope: &str) -> bool {
    scope
        .split('/')
        .any(|p| p.starts_with("gradients") || p == "training")
}

/// The head's prediction tensors by key, in [`ORDER`].
fn head_predictions(graph: &Graph, head: &str) -> Vec<(String, TensorRef)> {
    let scope = format!("{head}/predictions/");
    let named = |key: &str| graph.find(&format!("{scope}{key}"));
    let mut found: Vec<(&str, TensorRef)> = Vec::new();
    for key in ["probabilities", "logistic"] {
        if let Some(id) = named(key) {
            found.push((key, TensorRef::new(id, 0)));
        }
    }
    if let Some(argmax) = named("class_ids") {
        let class_ids = expanded(graph, argmax, &scope);
        found.push(("class_ids", class_ids));
        if let Some(classes) = class_strings(graph, class_ids, &scope) {
            found.push(("classes", classes));
        }
    }
    let logits = ["logistic", "probabilities"]
        .iter()
        .find_map(|key| named(key))
        .filter(|&id| matches!(graph.op(id), "Sigmoid" | "Softmax"))
        .and_then(|id| graph.data_input(id, 0));
    match logits {
        Some(logits) => found.push(("logits", logits)),
        None => {
            if let Some(logits) = checked_logits(graph, head) {
                found.push(("predictions", logits));
                found.push(("logits", logits));
            }
        }
    }
    found.sort_by_key(|(key, _)| ORDER.iter().position(|k| k == key));
    found
        .into_iter()
        .map(|(key, tensor)| (key.to_string(), tensor))
        .collect()
}

/// The class ids as `predict()` returns them: the argmax's `ExpandDims`
/// in the same scope when the head adds one, else the argmax.
fn expanded(graph: &Graph, argmax: NodeId, scope: &str) -> TensorRef {
    graph
        .data_consumers(TensorRef::new(argmax, 0))
        .into_iter()
        .map(|(id, _)| id)
        .find(|&id| graph.op(id) == "ExpandDims" && graph.name(id).starts_with(scope))
        .map(|id| TensorRef::new(id, 0))
        .unwrap_or(TensorRef::new(argmax, 0))
}

/// The string classes: an `AsString` of the class ids, or a string-valued
/// table lookup keyed by them, in the predictions scope.
fn class_strings(graph: &Graph, class_ids: TensorRef, scope: &str) -> Option<TensorRef> {
    graph
        .data_consumers(class_ids)
        .into_iter()
        .find(|&(id, slot)| {
            let node = graph.node(id);
            let in_scope = node.name().starts_with(scope);
            let to_string = match node.op.as_str() {
                "AsString" => slot == 0,
                "LookupTableFindV2" | "LookupTableFind" => {
                    slot == 1 && node.attr_type("Tout").ok() == Some(DataType::DtString)
                }
                _ => false,
            };
            in_scope && to_string
        })
        .map(|(id, _)| TensorRef::new(id, 0))
}

/// The logits a head checks the shape of (`<head>/logits/Shape`), for a
/// head that builds no prediction op.
fn checked_logits(graph: &Graph, head: &str) -> Option<TensorRef> {
    let shape = graph.find(&format!("{head}/logits/Shape"))?;
    (graph.op(shape) == "Shape")
        .then(|| graph.data_input(shape, 0))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{graph, node};

    #[test]
    fn a_binary_head_offers_its_predictions_and_logits() {
        let g = graph(vec![
            node("add", "AddV2", &[]),
            node("head/predictions/logistic", "Sigmoid", &["add"]),
            node("head/predictions/two_class_logits", "ConcatV2", &["add"]),
            node(
                "head/predictions/probabilities",
                "Softmax",
                &["head/predictions/two_class_logits"],
            ),
            node(
                "head/predictions/class_ids",
                "ArgMax",
                &["head/predictions/two_class_logits"],
            ),
            node(
                "head/predictions/ExpandDims",
                "ExpandDims",
                &["head/predictions/class_ids"],
            ),
            node(
                "head/predictions/str_classes",
                "AsString",
                &["head/predictions/ExpandDims"],
            ),
            node("head/losses/Mean", "Mean", &["add"]),
            node(
                "training/gradients/head/predictions/logistic_grad",
                "SigmoidGrad",
                &[],
            ),
        ]);
        assert_eq!(
            head_candidates(&g),
            [
                "probabilities=head/predictions/probabilities:0",
                "logistic=head/predictions/logistic:0",
                "class_ids=head/predictions/ExpandDims:0",
                "classes=head/predictions/str_classes:0",
                "logits=add:0",
            ]
        );
    }

    #[test]
    fn string_classes_come_from_a_table_and_a_regression_head_from_its_logits() {
        let g = graph(vec![
            node("logits", "BiasAdd", &[]),
            node("head/predictions/probabilities", "Softmax", &["logits"]),
            node(
                "head/predictions/class_ids",
                "ArgMax",
                &["head/predictions/probabilities"],
            ),
            node("table", "HashTableV2", &[]),
            node("head/predictions/default", "Const", &[]),
            node(
                "head/predictions/hash_table_Lookup/LookupTableFindV2",
                "LookupTableFindV2",
                &[
                    "table",
                    "head/predictions/class_ids",
                    "head/predictions/default",
                ],
            )
            .with_type("Tout", DataType::DtString),
        ]);
        assert_eq!(
            head_candidates(&g),
            [
                "probabilities=head/predictions/probabilities:0",
                "class_ids=head/predictions/class_ids:0",
                "classes=head/predictions/hash_table_Lookup/LookupTableFindV2:0",
                "logits=logits:0",
            ]
        );
        let g = graph(vec![
            node("dnn/logits/BiasAdd", "BiasAdd", &[]),
            node("head/logits/Shape", "Shape", &["dnn/logits/BiasAdd"]),
            node(
                "head/losses/SquaredDifference",
                "SquaredDifference",
                &["dnn/logits/BiasAdd"],
            ),
        ]);
        assert_eq!(
            head_candidates(&g),
            [
                "predictions=dnn/logits/BiasAdd:0",
                "logits=dnn/logits/BiasAdd:0"
            ]
        );
        assert!(head_candidates(&graph(vec![node("x", "Relu", &[])])).is_empty());
    }
}
