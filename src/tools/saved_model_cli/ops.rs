//! The ops a MetaGraphDef uses, counted the way saved_model_cli counts them:
//! every node's op, and the ops of each library function a node runs either
//! as its op or through the `f` of a `PartitionedCall` /
//! `StatefulPartitionedCall`, transitively. Functions reached only through
//! other attributes (a `While` body, an `If` branch) are not entered, and
//! function names are not ops.

use std::collections::{BTreeMap, BTreeSet};

use crate::format::proto::{FunctionDef, GraphDef, NodeDef, attr_value};

/// The library's functions by name.
pub fn functions_by_name(graph: &GraphDef) -> BTreeMap<&str, &FunctionDef> {
    graph
        .library
        .iter()
        .flat_map(|library| &library.function)
        .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
        .collect()
}

/// The ops `graph` uses, sorted, without the names of library functions.
pub fn ops_used(graph: &GraphDef) -> Vec<String> {
    let functions = functions_by_name(graph);
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let mut pending: Vec<&FunctionDef> = Vec::new();
    for node in &graph.node {
        visit_node(node, &functions, &mut used, &mut pending);
    }
    while let Some(function) = pending.pop() {
        for node in &function.node_def {
            visit_node(node, &functions, &mut used, &mut pending);
        }
    }
    used.into_iter()
        .filter(|op| !functions.contains_key(op))
        .map(str::to_string)
        .collect()
}

/// Marks the names `node` uses.
fn visit_node<'a>(
    node: &'a NodeDef,
    functions: &BTreeMap<&str, &'a FunctionDef>,
    used: &mut BTreeSet<&'a str>,
    pending: &mut Vec<&'a FunctionDef>,
) {
    for op in ops_of_node(node) {
        mark_used(op, functions, used, pending);
    }
}

/// A name `node` counts as used: its op, and the function a call op runs.
fn ops_of_node(node: &NodeDef) -> impl Iterator<Item = &str> {
    let called = matches!(
        node.op.as_str(),
        "PartitionedCall" | "StatefulPartitionedCall"
    )
    .then(|| called_function(node, "f"))
    .flatten();
    std::iter::once(node.op.as_str()).chain(called)
}

/// The function named by `node`'s func-valued attribute `attr`, if it has one.
pub fn called_function<'a>(node: &'a NodeDef, attr: &str) -> Option<&'a str> {
    match node.attr.get(attr)?.value.as_ref()? {
        attr_value::Value::Func(func) => Some(func.name.as_str()),
        _ => None,
    }
}

/// Records `op` as used; a library function seen for the first time is queued.
fn mark_used<'a>(
    op: &'a str,
    functions: &BTreeMap<&str, &'a FunctionDef>,
    used: &mut BTreeSet<&'a str>,
    pending: &mut Vec<&'a FunctionDef>,
) {
    if used.insert(op)
        && let Some(function) = functions.get(op)
    {
        pending.push(function);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{AttrValue, FunctionDefLibrary, NameAttrList, OpDef};

    fn node(name: &str, op: &str) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            ..Default::default()
        }
    }

    fn function(name: &str, nodes: Vec<NodeDef>) -> FunctionDef {
        FunctionDef {
            signature: Some(OpDef {
                name: name.into(),
                ..Default::default()
            }),
            node_def: nodes,
            ..Default::default()
        }
    }

    fn with_func_attr(mut node: NodeDef, attr: &str, name: &str) -> NodeDef {
        let value = attr_value::Value::Func(NameAttrList {
            name: name.into(),
            ..Default::default()
        });
        node.attr
            .insert(attr.into(), AttrValue { value: Some(value) });
        node
    }

    #[test]
    fn follows_calls_but_not_loop_bodies() {
        let graph = GraphDef {
            node: vec![
                with_func_attr(node("call", "StatefulPartitionedCall"), "f", "outer"),
                with_func_attr(node("loop", "While"), "body", "body"),
            ],
            library: Some(FunctionDefLibrary {
                function: vec![
                    function("outer", vec![node("m", "MatMul"), node("i", "inner")]),
                    function("inner", vec![node("r", "ReadFile")]),
                    function("body", vec![node("w", "WriteFile")]),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            ops_used(&graph),
            ["MatMul", "ReadFile", "StatefulPartitionedCall", "While"]
        );
    }
}
