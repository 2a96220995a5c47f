//! Cleans what the graph says about itself once the passes are done:
//! `_class` colocation entries naming removed nodes, `_output_shapes` that
//! may be stale after rewiring, and the training run's collections and
//! saver, which the writer replaces with its own.

use super::{Pass, PassContext, PassError, PassReport};
use crate::ir::nested_attrs;
use crate::model::Model;
use std::collections::{BTreeMap, BTreeSet};

use crate::proto::AttrValue;
use crate::proto::attr_value::Value;

/// Drops stale metadata.
pub struct MetadataPass;

impl Pass for MetadataPass {
    fn name(&self) -> &'static str {
        "metadata"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut stale_colocations = 0;
        let mut output_shapes = 0;
        for id in model.graph.node_ids() {
            let live: Vec<bool> = match model
                .graph
                .node(id)
                .attrs
                .get("_class")
                .and_then(|a| a.value.as_ref())
            {
                Some(Value::List(list)) => list
                    .s
                    .iter()
                    .map(|s| {
                        let s = String::from_utf8_lossy(s);
                        s.strip_prefix("loc:@")
                            .is_none_or(|target| model.graph.find(target).is_some())
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let node = model.graph.node_mut(id);
            if live.contains(&false)
                && let Some(Value::List(list)) =
                    node.attrs.get_mut("_class").and_then(|a| a.value.as_mut())
            {
                let mut keep = live.iter();
                list.s.retain(|_| *keep.next().unwrap_or(&true));
                stale_colocations += 1;
                if list.s.is_empty() {
                    node.attrs.remove("_class");
                }
            }
            if node.attrs.remove("_output_shapes").is_some() {
                output_shapes += 1;
            }
        }
        if stale_colocations > 0 {
            report.note(format!(
                "{stale_colocations} colocation constraints named removed nodes and were dropped"
            ));
        }
        if output_shapes > 0 {
            report.note(format!("{output_shapes} _output_shapes attrs dropped"));
        }
        let dropped = prune_function_library(model);
        if !dropped.is_empty() {
            report.note(format!(
                "{} functions no serving node calls were dropped from the library",
                dropped.len()
            ));
            for function in dropped {
                report.removed("unused-function", function);
            }
        }
        let collections: Vec<String> = std::mem::take(&mut model.collections).into_keys().collect();
        if !collections.is_empty() {
            report.note(format!(
                "training collections dropped: {}",
                collections.join(", ")
            ));
        }
        if model.saver_def.take().is_some() {
            report.note("training saver_def dropped; a serving saver is written instead");
        }
        Ok(report)
    }
}

/// Function names the attrs refer to (`func` and `list(func)` attrs, and
/// those nested in their attrs), found without recursion.
fn called_functions<'a>(
    attrs: impl IntoIterator<Item = (&'a String, &'a AttrValue)>,
    out: &mut Vec<String>,
) {
    for (_, attr) in nested_attrs(attrs) {
        match &attr.value {
            Some(Value::Func(f)) => out.push(f.name.clone()),
            Some(Value::List(list)) => out.extend(list.func.iter().map(|f| f.name.clone())),
            _ => {}
        }
    }
}

/// Keeps only the functions the graph calls, directly or through other
/// functions (the training input pipeline's dataset functions go); returns
/// the names dropped.
fn prune_function_library(model: &mut Model) -> Vec<String> {
    let Some(mut library) = model.graph.library.take() else {
        return Vec::new();
    };
    let defined: BTreeMap<String, usize> = library
        .function
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((f.signature.as_ref()?.name.clone(), i)))
        .collect();
    let mut pending = Vec::new();
    for id in model.graph.node_ids() {
        let node = model.graph.node(id);
        pending.push(node.op.clone());
        called_functions(&node.attrs, &mut pending);
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    while let Some(name) = pending.pop() {
        let Some(&index) = defined.get(&name) else {
            continue;
        };
        if used.insert(name) {
            let function = &library.function[index];
            for body_node in &function.node_def {
                pending.push(body_node.op.clone());
                called_functions(&body_node.attr, &mut pending);
            }
            called_functions(&function.attr, &mut pending);
        }
    }
    let dropped: Vec<String> = defined
        .keys()
        .filter(|name| !used.contains(*name))
        .cloned()
        .collect();
    library
        .function
        .retain(|f| f.signature.as_ref().is_none_or(|s| used.contains(&s.name)));
    library.gradient.retain(|g| used.contains(&g.function_name));
    let empty = library.function.is_empty()
        && library.gradient.is_empty()
        && library.registered_gradients.is_empty();
    model.graph.library = (!empty).then_some(library);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::attr_value::ListValue;
    use crate::proto::{AttrValue, GraphDef, NodeDef};

    #[test]
    fn keeps_only_functions_the_graph_calls() {
        use crate::proto::{FunctionDef, FunctionDefLibrary, NameAttrList, OpDef};
        let function = |name: &str, calls: Option<&str>| FunctionDef {
            signature: Some(OpDef {
                name: name.into(),
                ..Default::default()
            }),
            node_def: calls
                .map(|c| NodeDef {
                    name: "n".into(),
                    op: c.into(),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let mut caller = NodeDef {
            name: "call".into(),
            op: "PartitionedCall".into(),
            ..Default::default()
        };
        let f = NameAttrList {
            name: "outer".into(),
            ..Default::default()
        };
        caller.attr.insert(
            "f".into(),
            AttrValue {
                value: Some(Value::Func(f)),
            },
        );
        let mut graph = crate::ir::Graph::from_graph_def(GraphDef {
            node: vec![caller],
            ..Default::default()
        })
        .unwrap();
        graph.library = Some(FunctionDefLibrary {
            function: vec![
                function("outer", Some("inner")),
                function("inner", None),
                function("dataset_fn", None),
            ],
            ..Default::default()
        });
        let mut model = Model::from_graph(graph);
        let report = MetadataPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let kept: Vec<String> = model
            .graph
            .library
            .unwrap()
            .function
            .iter()
            .map(|f| f.signature.clone().unwrap().name)
            .collect();
        assert_eq!(kept, ["outer", "inner"]);
        assert_eq!(report.removed["unused-function"], ["dataset_fn"]);
    }

    #[test]
    fn drops_colocations_with_removed_nodes_shapes_and_training_metadata() {
        let class = |names: &[&str]| AttrValue {
            value: Some(Value::List(Box::new(ListValue {
                s: names.iter().map(|n| format!("loc:@{n}").into()).collect(),
                ..Default::default()
            }))),
        };
        let mut a = NodeDef {
            name: "a".into(),
            op: "Const".into(),
            ..Default::default()
        };
        a.attr.insert("_class".into(), class(&["gone", "b"]));
        a.attr.insert("_output_shapes".into(), AttrValue::default());
        let mut b = NodeDef {
            name: "b".into(),
            op: "Const".into(),
            ..Default::default()
        };
        b.attr.insert("_class".into(), class(&["gone"]));
        let graph = crate::ir::Graph::from_graph_def(GraphDef {
            node: vec![a, b],
            ..Default::default()
        })
        .unwrap();
        let mut model = Model::from_graph(graph);
        model
            .collections
            .insert("train_op".into(), Default::default());
        model.saver_def = Some(Default::default());
        MetadataPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let a = model.graph.node(model.graph.find("a").unwrap());
        assert_eq!(a.attrs["_class"], class(&["b"]));
        assert!(!a.attrs.contains_key("_output_shapes"));
        assert!(
            !model
                .graph
                .node(model.graph.find("b").unwrap())
                .attrs
                .contains_key("_class")
        );
        assert!(model.collections.is_empty() && model.saver_def.is_none());
    }

    #[test]
    fn deeply_nested_func_attrs_are_walked_without_recursion() {
        use crate::proto::NameAttrList;
        // f0 whose attr holds f1 whose attr holds f2 ... f1999.
        let mut nested = AttrValue::default();
        for depth in (0..2000).rev() {
            let mut attr = BTreeMap::new();
            attr.insert("inner".to_string(), nested);
            nested = AttrValue {
                value: Some(Value::Func(NameAttrList {
                    name: format!("f{depth}"),
                    attr,
                })),
            };
        }
        let attrs: BTreeMap<String, AttrValue> = [("f".to_string(), nested)].into();
        // A 64 KiB stack: a recursive walk of 2,000 levels would overflow it.
        let found = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn_scoped(scope, || {
                    let mut out = Vec::new();
                    called_functions(&attrs, &mut out);
                    out
                })
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!(found.len(), 2000);
        assert!(found.contains(&"f1999".to_string()));
    }
}
