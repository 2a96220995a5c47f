//! The function library as the graph uses it: which functions its nodes
//! call, directly, through other functions or through attrs nested inside
//! attrs, and dropping the rest.

use std::collections::{BTreeMap, BTreeSet};

use super::{Graph, nested_attrs};
use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, FunctionDef, FunctionDefLibrary};

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

impl Graph {
    /// Keeps only the library functions the graph calls, directly or through
    /// other functions (a training input pipeline's dataset functions go);
    /// returns the names dropped.
    pub fn retain_called_functions(&mut self) -> Vec<String> {
        let Some(mut library) = self.library.take() else {
            return Vec::new();
        };
        let used = self.called_function_names(&library);
        let dropped = drop_uncalled(&mut library, &used);
        let empty = library.function.is_empty()
            && library.gradient.is_empty()
            && library.registered_gradients.is_empty();
        self.library = (!empty).then_some(library);
        dropped
    }

    /// The names of the library functions the graph calls, directly or
    /// through other functions.
    pub fn called_functions(&self) -> BTreeSet<String> {
        self.library
            .as_ref()
            .map(|library| self.called_function_names(library))
            .unwrap_or_default()
    }

    /// The library functions reachable from the graph's nodes, walked with
    /// an explicit stack.
    fn called_function_names(&self, library: &FunctionDefLibrary) -> BTreeSet<String> {
        let defined: BTreeMap<&str, &FunctionDef> = library
            .function
            .iter()
            .filter_map(|f| Some((f.signature.as_ref()?.name.as_str(), f)))
            .collect();
        let mut pending = Vec::new();
        for id in self.node_ids() {
            let node = self.node(id);
            pending.push(node.op.clone());
            called_functions(&node.attrs, &mut pending);
        }
        let mut used: BTreeSet<String> = BTreeSet::new();
        while let Some(name) = pending.pop() {
            let Some(function) = defined.get(name.as_str()) else {
                continue;
            };
            if used.insert(name) {
                for body_node in &function.node_def {
                    pending.push(body_node.op.clone());
                    called_functions(&body_node.attr, &mut pending);
                }
                called_functions(&function.attr, &mut pending);
            }
        }
        used
    }
}

/// Removes the functions (and their gradients) not in `used`; returns their names.
fn drop_uncalled(library: &mut FunctionDefLibrary, used: &BTreeSet<String>) -> Vec<String> {
    let mut dropped = Vec::new();
    library.function.retain(|f| match &f.signature {
        Some(s) if !used.contains(&s.name) => {
            dropped.push(s.name.clone());
            false
        }
        _ => true,
    });
    dropped.sort();
    dropped.dedup();
    library.gradient.retain(|g| used.contains(&g.function_name));
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{GraphDef, NodeDef};

    #[test]
    fn keeps_only_functions_the_graph_calls() {
        use crate::format::proto::{FunctionDef, FunctionDefLibrary, NameAttrList, OpDef};
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
        let mut graph = Graph::from_graph_def(GraphDef {
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
        let dropped = graph.retain_called_functions();
        let kept: Vec<String> = graph
            .library
            .unwrap()
            .function
            .iter()
            .map(|f| f.signature.clone().unwrap().name)
            .collect();
        assert_eq!(kept, ["outer", "inner"]);
        assert_eq!(dropped, ["dataset_fn"]);
    }

    #[test]
    fn deeply_nested_func_attrs_are_walked_without_recursion() {
        use crate::format::proto::NameAttrList;
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
