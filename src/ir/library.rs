//! The function library as the graph uses it: which functions its nodes
//! call, directly, through other functions or through attrs nested inside
//! attrs, and dropping the rest. The one place that knows how a call is
//! spelled (a node whose op is a library function, `func` and `list(func)`
//! attrs such as `f`, `then_branch`, `body`, `branches`, and the attrs of
//! the functions those name) and walks the call closure: every stage that
//! asks "which functions does this reach" asks here.

use std::collections::{BTreeMap, BTreeSet};

use super::Graph;
use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, FunctionDef, FunctionDefLibrary, NameAttrList, NodeDef};

/// Every function name `attrs` hold: `func` and `list(func)` values and,
/// nested in those, the attrs of the functions they name. The names come in
/// the order a depth-first walk meets them (a function before the ones its
/// own attrs name), walked with an explicit stack so that however deeply a
/// file nests them costs no call stack.
pub fn functions_in_attrs<'a>(
    attrs: impl IntoIterator<Item = &'a AttrValue, IntoIter: 'a>,
) -> Vec<&'a str> {
    /// Where the walk is: among a map's attr values, or among the functions
    /// one attr value names.
    enum Frame<'a> {
        Attrs(Box<dyn Iterator<Item = &'a AttrValue> + 'a>),
        Functions(std::slice::Iter<'a, NameAttrList>),
    }
    let mut names = Vec::new();
    let mut stack = vec![Frame::Attrs(Box::new(attrs.into_iter()))];
    while let Some(frame) = stack.last_mut() {
        let next = match frame {
            Frame::Attrs(values) => values.next().map(|value| match &value.value {
                Some(Value::Func(function)) => {
                    Frame::Functions(std::slice::from_ref(function).iter())
                }
                Some(Value::List(list)) => Frame::Functions(list.func.iter()),
                _ => Frame::Functions([].iter()),
            }),
            Frame::Functions(functions) => functions.next().map(|function| {
                names.push(function.name.as_str());
                Frame::Attrs(Box::new(function.attr.values()))
            }),
        };
        match next {
            Some(frame) => stack.push(frame),
            None => {
                stack.pop();
            }
        }
    }
    names
}

/// Who names a function the call closure reaches: one of the seeds, or a
/// function already reached. Borrowed from the library, so that a walk
/// that never fails spells no names; a caller that reports a missing
/// function spells this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalledFrom<'a, S> {
    /// One of the seeds, with what the caller said about it.
    Seed(S),
    /// Node `node` of `function`'s body: its op or one of its attrs.
    Node { function: &'a str, node: &'a str },
    /// One of `function`'s own attrs.
    Attr { function: &'a str },
    /// The gradient registered for `function`.
    Gradient { function: &'a str },
}

/// Whether the call closure follows the gradients the library registers:
/// the lean TF2 export keeps a kept function's gradient, the graph path
/// drops every function nothing calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gradients {
    Follow,
    Skip,
}

/// A function library indexed by name, with the gradients it registers.
pub struct FunctionIndex<'a> {
    functions: BTreeMap<&'a str, &'a FunctionDef>,
    /// function → its registered gradient function.
    gradients: BTreeMap<&'a str, &'a str>,
}

impl<'a> FunctionIndex<'a> {
    /// Indexes `library` (none is an empty library).
    pub fn new(library: Option<&'a FunctionDefLibrary>) -> Self {
        let functions = library
            .map(|l| {
                l.function
                    .iter()
                    .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
                    .collect()
            })
            .unwrap_or_default();
        let gradients = library
            .map(|l| {
                l.gradient
                    .iter()
                    .map(|g| (g.function_name.as_str(), g.gradient_func.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        FunctionIndex {
            functions,
            gradients,
        }
    }

    /// Whether the library defines `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// The function called `name`.
    pub fn get(&self, name: &str) -> Option<&'a FunctionDef> {
        self.functions.get(name).copied()
    }

    /// The functions a node with `op` and `attrs` calls: its op when that is
    /// a library function, then every function its attrs name (whether the
    /// library defines it or not: a missing one is the closure's to report).
    pub fn called_by<'n>(
        &self,
        op: &'n str,
        attrs: impl IntoIterator<Item = (&'n String, &'n AttrValue)> + 'n,
    ) -> Vec<&'n str> {
        let mut names = Vec::new();
        if self.contains(op) {
            names.push(op);
        }
        names.extend(functions_in_attrs(
            attrs.into_iter().map(|(_, value)| value),
        ));
        names
    }

    /// [`called_by`](Self::called_by) for a NodeDef.
    pub fn called_by_node<'n>(&self, node: &'n NodeDef) -> Vec<&'n str> {
        self.called_by(&node.op, &node.attr)
    }

    /// Every function reachable from `seeds` (each with who names it), each
    /// entered once: through its body's nodes, its own attrs and, with
    /// [`Gradients::Follow`], its registered gradient. A name the library
    /// lacks goes to `missing`, which may stop the walk with an error or let
    /// it go on without that name. Seeds are walked last first, the callees
    /// of a function in body order.
    pub fn closure<S, E>(
        &self,
        seeds: impl IntoIterator<Item = (String, CalledFrom<'a, S>)>,
        gradients: Gradients,
        mut missing: impl FnMut(String, CalledFrom<'a, S>) -> Result<(), E>,
    ) -> Result<BTreeSet<String>, E> {
        let mut reached = BTreeSet::new();
        let mut queue: Vec<(String, CalledFrom<'a, S>)> = seeds.into_iter().collect();
        while let Some((name, from)) = queue.pop() {
            if reached.contains(&name) {
                continue;
            }
            let Some((&function, definition)) = self.functions.get_key_value(name.as_str()) else {
                missing(name, from)?;
                continue;
            };
            for node in &definition.node_def {
                let from = || CalledFrom::Node {
                    function,
                    node: &node.name,
                };
                queue.extend(
                    self.called_by_node(node)
                        .into_iter()
                        .map(|callee| (callee.to_string(), from())),
                );
            }
            let from = || CalledFrom::Attr { function };
            queue.extend(
                functions_in_attrs(definition.attr.values())
                    .into_iter()
                    .map(|callee| (callee.to_string(), from())),
            );
            if gradients == Gradients::Follow
                && let Some(gradient) = self.gradients.get(function)
            {
                queue.push((gradient.to_string(), CalledFrom::Gradient { function }));
            }
            reached.insert(name);
        }
        Ok(reached)
    }

    /// Every library function reachable from `seeds`; names the library
    /// lacks are passed over.
    pub fn reachable(
        &self,
        seeds: impl IntoIterator<Item = String>,
        gradients: Gradients,
    ) -> BTreeSet<String> {
        let seeds = seeds.into_iter().map(|name| (name, CalledFrom::Seed(())));
        let walked = self.closure(seeds, gradients, |_, _| {
            Ok::<(), std::convert::Infallible>(())
        });
        let Ok(reached) = walked;
        reached
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

    /// The library functions reachable from the graph's nodes.
    fn called_function_names(&self, library: &FunctionDefLibrary) -> BTreeSet<String> {
        let index = FunctionIndex::new(Some(library));
        let seeds: Vec<String> = self
            .node_ids()
            .into_iter()
            .flat_map(|id| {
                let node = self.node(id);
                index.called_by(&node.op, &node.attrs)
            })
            .map(str::to_string)
            .collect();
        index.reachable(seeds, Gradients::Skip)
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
                    functions_in_attrs(attrs.values())
                        .into_iter()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!(found.len(), 2000);
        assert!(found.contains(&"f1999".to_string()));
    }
}
