//! Names detected inputs after the features they carry, and groups the three
//! components of a SparseTensor read from an iterator into one sparse input.
//!
//! An Estimator's (or a Keras `DenseFeatures` layer's) feature columns read
//! each raw feature under a scope named after the column, inside the
//! layer's scope: `.../input_layer/age/ExpandDims`,
//! `.../linear_model/age_bucketized/...`. Column names derive from the raw
//! feature's key by fixed rules (`KEY_bucketized`, `KEY_indicator`,
//! `KEY_embedding`, `A_X_B` for a cross), so the feature's own name is the
//! one name every column reading the tensor derives from. TensorFlow makes
//! a scope name unique by appending `_N` when the layer entered it before
//! (Keras feature layers build, then call), which is undone when the layer
//! shows it did so.
//!
//! A SparseTensor in a `tf.data` element crosses the iterator as one
//! variant tensor and is rebuilt by `DeserializeSparse`; its three outputs
//! (indices, values, dense_shape) are the serving input.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::specs::SparseParts;
use crate::ir::{Graph, NodeId, TensorRef};

/// Scopes of the feature-column layers whose children are column scopes.
const LAYER_SCOPES: [&str; 5] = [
    "input_layer",
    "linear_model",
    "dense_features",
    "sequence_input_layer",
    "sequence_features",
];

/// Suffixes a column name adds to the column it wraps.
const COLUMN_SUFFIXES: [&str; 4] = [
    "_bucketized",
    "_indicator",
    "_shared_embedding",
    "_embedding",
];

/// What detection makes of one input-boundary tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureInput {
    /// The feature's name, when the graph gives it away.
    pub name: Option<String>,
    /// The tensor to replace: the boundary tensor, or a sparse input's values.
    pub tensor: String,
    /// The indices and dense shape of a sparse input.
    pub sparse: Option<SparseParts>,
}

/// Each boundary tensor as a feature input, named where the feature columns
/// reading it agree on a name, a SparseTensor's components grouped.
pub fn feature_inputs(graph: &Graph, boundary: &[TensorRef]) -> Vec<FeatureInput> {
    let readers: Vec<(Vec<TensorRef>, Option<NodeId>)> = boundary
        .iter()
        .map(|&t| match sparse_rebuild(graph, t) {
            Some(rebuild) => (
                (0..3).map(|p| TensorRef::new(rebuild, p)).collect(),
                Some(rebuild),
            ),
            None => (vec![t], None),
        })
        .collect();
    let scopes: Vec<Vec<ColumnScope>> = readers
        .iter()
        .map(|(tensors, _)| column_scopes(graph, tensors))
        .collect();
    let uniquified = uniquified_layers(graph, scopes.iter().flatten());
    boundary
        .iter()
        .zip(readers)
        .zip(&scopes)
        .map(|((&tensor, (_, rebuild)), scopes)| {
            let name = feature_name(scopes, &uniquified).map(|n| key_safe(&n));
            match rebuild {
                Some(rebuild) => FeatureInput {
                    name,
                    tensor: graph.tensor_name(TensorRef::new(rebuild, 1)),
                    sparse: Some(SparseParts {
                        indices: graph.tensor_name(TensorRef::new(rebuild, 0)),
                        dense_shape: graph.tensor_name(TensorRef::new(rebuild, 2)),
                    }),
                },
                None => FeatureInput {
                    name,
                    tensor: graph.tensor_name(tensor),
                    sparse: None,
                },
            }
        })
        .collect()
}

/// The `DeserializeSparse` (or `DeserializeManySparse`) that rebuilds a
/// SparseTensor from `tensor`, when that is all `tensor` feeds.
fn sparse_rebuild(graph: &Graph, tensor: TensorRef) -> Option<NodeId> {
    let consumers = graph.data_consumers(tensor);
    let rebuilds: Vec<NodeId> = consumers
        .iter()
        .map(|&(id, _)| id)
        .filter(|&id| matches!(graph.op(id), "DeserializeSparse" | "DeserializeManySparse"))
        .collect();
    match rebuilds.as_slice() {
        [rebuild] if consumers.len() == 1 => Some(*rebuild),
        _ => None,
    }
}

/// A feature column's scope: the layer scope it sits in, and its name there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ColumnScope {
    layer: String,
    column: String,
}

/// The column scopes of the nodes reading `tensors` (through identities).
fn column_scopes(graph: &Graph, tensors: &[TensorRef]) -> Vec<ColumnScope> {
    let mut scopes = BTreeSet::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<TensorRef> = tensors.to_vec();
    while let Some(tensor) = stack.pop() {
        for (consumer, _) in graph.data_consumers(tensor) {
            if !seen.insert(consumer) {
                continue;
            }
            if graph.op(consumer) == "Identity" {
                stack.push(TensorRef::new(consumer, 0));
            } else if let Some(scope) = column_scope(graph.name(consumer)) {
                scopes.insert(scope);
            }
        }
    }
    scopes.into_iter().collect()
}

/// `(layer, column)` for a node named `.../<layer>/<column>/<op>`, taking
/// the innermost layer scope.
fn column_scope(node: &str) -> Option<ColumnScope> {
    let parts: Vec<&str> = node.split('/').collect();
    let at = parts
        .iter()
        .rposition(|p| LAYER_SCOPES.contains(&strip_uniquifier(p).0))?;
    // The column is a scope: something must follow it.
    let column = parts.get(at + 1).filter(|_| at + 2 < parts.len())?;
    Some(ColumnScope {
        layer: parts.get(..=at)?.join("/"),
        column: column.to_string(),
    })
}

/// `name` without a trailing `_N` (N digits), and N; `name` and `None` when
/// it has none.
fn strip_uniquifier(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('_') {
        Some((base, n))
            if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (base, Some(n))
        }
        _ => (name, None),
    }
}

/// The layers whose column scopes carry a uniquifying `_N`, with that N:
/// either some column appears both bare and with `_N` among the layer's
/// scopes in the graph, or at least two columns read boundary tensors in
/// the layer and all carry the same `_N`.
fn uniquified_layers<'a>(
    graph: &Graph,
    scopes: impl Iterator<Item = &'a ColumnScope>,
) -> HashMap<String, String> {
    let mut by_layer: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for scope in scopes {
        by_layer
            .entry(&scope.layer)
            .or_default()
            .insert(&scope.column);
    }
    let mut uniquified = HashMap::new();
    for (layer, columns) in by_layer {
        let suffixes: BTreeSet<Option<&str>> =
            columns.iter().map(|c| strip_uniquifier(c).1).collect();
        let shared = match suffixes.into_iter().collect::<Vec<_>>().as_slice() {
            [Some(n)] if columns.len() >= 2 => Some(n.to_string()),
            _ => None,
        };
        if let Some(n) = shared.or_else(|| suffix_beside_bare_twin(graph, layer)) {
            uniquified.insert(layer.to_string(), n);
        }
    }
    uniquified
}

/// A suffix `_N` such that the layer has a child scope both bare and with
/// `_N` (`occupation_embedding` and `occupation_embedding_1`).
fn suffix_beside_bare_twin(graph: &Graph, layer: &str) -> Option<String> {
    let prefix = format!("{layer}/");
    let children: BTreeSet<&str> = graph
        .node_ids()
        .into_iter()
        .filter_map(|id| graph.name(id).strip_prefix(&prefix))
        .filter_map(|rest| rest.split_once('/').map(|(child, _)| child))
        .collect();
    children
        .iter()
        .find_map(|child| match strip_uniquifier(child) {
            (base, Some(n)) if children.contains(base) => Some(n.to_string()),
            _ => None,
        })
}

/// The raw feature every column scope derives from, when exactly one does.
/// A column's `_N` is dropped in a layer known to add it; elsewhere the
/// column may be read either way, the literal reading preferred.
fn feature_name(scopes: &[ColumnScope], uniquified: &HashMap<String, String>) -> Option<String> {
    let mut literal: Option<BTreeSet<String>> = None;
    let mut either: Option<BTreeSet<String>> = None;
    for scope in scopes {
        let (base, n) = strip_uniquifier(&scope.column);
        let (exact, loose) = match (uniquified.get(&scope.layer), n) {
            (Some(added), Some(n)) if added == n => (raw_features(base), raw_features(base)),
            (_, Some(_)) => {
                let exact = raw_features(&scope.column);
                let loose = exact.union(&raw_features(base)).cloned().collect();
                (exact, loose)
            }
            (_, None) => (raw_features(base), raw_features(base)),
        };
        literal = Some(intersect(literal, exact));
        either = Some(intersect(either, loose));
    }
    [literal?, either?]
        .into_iter()
        .find(|names| names.len() == 1)
        .and_then(|names| names.into_iter().next())
}

fn intersect(so_far: Option<BTreeSet<String>>, names: BTreeSet<String>) -> BTreeSet<String> {
    match so_far {
        None => names,
        Some(so_far) => so_far.intersection(&names).cloned().collect(),
    }
}

/// The raw feature names a column name derives from: `age_bucketized` →
/// `age`, `education_X_occupation` → `education`, `occupation`.
fn raw_features(column: &str) -> BTreeSet<String> {
    column
        .split("_X_")
        .map(|part| {
            let mut part = part.split("_weighted_by_").next().unwrap_or(part);
            while let Some(base) = COLUMN_SUFFIXES
                .iter()
                .find_map(|suffix| part.strip_suffix(suffix))
                .filter(|base| !base.is_empty())
            {
                part = base;
            }
            part.to_string()
        })
        .collect()
}

/// A signature key from a feature name: characters a key may not hold
/// become `_`.
fn key_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{graph, node};

    const DNN: &str = "dnn/input_from_feature_columns/input_layer";
    const LINEAR: &str = "linear/linear_model/linear_model";

    /// An iterator whose outputs the named consumers read: `(port, consumer)`.
    fn reading(consumers: &[(usize, &str)]) -> Graph {
        let mut nodes = vec![node("it", "IteratorGetNext", &[])];
        for (port, name) in consumers {
            nodes.push(node(name, "ExpandDims", &[&format!("it:{port}")]));
        }
        graph(nodes)
    }

    fn names(g: &Graph, ports: usize) -> Vec<Option<String>> {
        let it = g.find("it").unwrap();
        let boundary: Vec<TensorRef> = (0..ports).map(|p| TensorRef::new(it, p)).collect();
        feature_inputs(g, &boundary)
            .into_iter()
            .map(|f| f.name)
            .collect()
    }

    #[test]
    fn a_feature_read_by_several_columns_is_named_after_their_raw_feature() {
        let g = reading(&[
            (0, &format!("{LINEAR}/age_bucketized/ExpandDims")),
            (0, &format!("{DNN}/age/ExpandDims")),
            (1, &format!("{LINEAR}/education/ExpandDims")),
            (1, &format!("{LINEAR}/education_X_occupation/ExpandDims")),
            (1, &format!("{DNN}/education_indicator/ExpandDims")),
            (2, &format!("{LINEAR}/education_X_occupation/ExpandDims_1")),
            (2, &format!("{DNN}/occupation_embedding/ExpandDims")),
            (3, "head/losses/labels/ExpandDims"),
            (4, &format!("{LINEAR}/education_X_occupation/ExpandDims_2")),
        ]);
        assert_eq!(
            names(&g, 5),
            [
                Some("age".into()),
                Some("education".into()),
                Some("occupation".into()),
                None,
                None,
            ],
            "a label read outside any column, and a cross alone, name nothing"
        );
    }

    #[test]
    fn a_layer_that_entered_each_column_scope_twice_is_recognised() {
        // Keras feature layers build, then call: every column scope in the
        // call carries `_1`.
        let g = reading(&[
            (0, &format!("{DNN}/age_1/ExpandDims")),
            (1, &format!("{DNN}/hours_per_week_1/ExpandDims")),
        ]);
        assert_eq!(
            names(&g, 2),
            [Some("age".into()), Some("hours_per_week".into())]
        );
        // One column: the `_1` stays unless a bare twin shows it is added.
        let g = reading(&[(0, &format!("{DNN}/rate_1/ExpandDims"))]);
        assert_eq!(names(&g, 1), [Some("rate_1".into())]);
        let mut g = reading(&[(0, &format!("{DNN}/rate_1/ExpandDims"))]);
        g.add_node(crate::ir::Node::new(
            format!("{DNN}/tags_embedding/embedding_weights"),
            "VariableV2",
        ))
        .unwrap();
        g.add_node(crate::ir::Node::new(
            format!("{DNN}/tags_embedding_1/Reshape"),
            "Reshape",
        ))
        .unwrap();
        assert_eq!(names(&g, 1), [Some("rate".into())]);
    }

    #[test]
    fn a_deserialized_sparse_tensor_is_one_sparse_input() {
        let g = graph(vec![
            node("it", "IteratorGetNext", &[]),
            node("DeserializeSparse", "DeserializeSparse", &["it:0"]),
            node(
                &format!("{DNN}/tags_embedding_1/tags_embedding_weights/SparseReshape"),
                "SparseReshape",
                &["DeserializeSparse:0", "DeserializeSparse:2"],
            ),
            node(
                &format!("{LINEAR}/tags/hash_table_Lookup/LookupTableFindV2"),
                "LookupTableFindV2",
                &["DeserializeSparse:1"],
            ),
            node("unstack", "Unpack", &["DeserializeSparse:2"]),
        ]);
        let it = g.find("it").unwrap();
        let found = feature_inputs(&g, &[TensorRef::new(it, 0)]);
        assert_eq!(
            found,
            [FeatureInput {
                name: Some("tags".into()),
                tensor: "DeserializeSparse:1".into(),
                sparse: Some(SparseParts {
                    indices: "DeserializeSparse:0".into(),
                    dense_shape: "DeserializeSparse:2".into(),
                }),
            }]
        );
    }

    #[test]
    fn column_names_derive_from_their_raw_features() {
        let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            raw_features("age_bucketized_X_education"),
            set(&["age", "education"])
        );
        assert_eq!(raw_features("country_embedding"), set(&["country"]));
        assert_eq!(
            raw_features("words_weighted_by_counts_indicator"),
            set(&["words"])
        );
        assert_eq!(raw_features("_embedding"), set(&["_embedding"]));
        assert_eq!(key_safe("native country/us"), "native_country_us");
    }
}
