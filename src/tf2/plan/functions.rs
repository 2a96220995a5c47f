//! Which functions of the graph's library the kept parts call: the
//! closure, through every function-valued attr (lists and nested ones
//! included) and every node whose op is a library function, of the
//! functions the kept graph nodes and objects name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::format::proto::{AttrValue, FunctionDef, FunctionDefLibrary, NodeDef, attr_value};
use crate::tf2::Tf2Error;

/// The functions `node` calls: its op when that is a library function, and
/// every function its attrs name.
pub(super) fn called_by_node<'a>(node: &'a NodeDef, library: &FunctionIndex<'_>) -> Vec<&'a str> {
    let mut names = Vec::new();
    if library.contains(&node.op) {
        names.push(node.op.as_str());
    }
    for value in node.attr.values() {
        functions_in_attr(value, &mut names);
    }
    names
}

fn functions_in_attr<'a>(value: &'a AttrValue, names: &mut Vec<&'a str>) {
    match &value.value {
        Some(attr_value::Value::Func(func)) => {
            names.push(func.name.as_str());
            for nested in func.attr.values() {
                functions_in_attr(nested, names);
            }
        }
        Some(attr_value::Value::List(list)) => {
            for func in &list.func {
                names.push(func.name.as_str());
                for nested in func.attr.values() {
                    functions_in_attr(nested, names);
                }
            }
        }
        _ => {}
    }
}

/// The library's functions by name.
pub(super) struct FunctionIndex<'a> {
    functions: BTreeMap<&'a str, &'a FunctionDef>,
    /// function → its registered gradient function.
    gradients: BTreeMap<&'a str, &'a str>,
}

impl<'a> FunctionIndex<'a> {
    pub(super) fn new(library: Option<&'a FunctionDefLibrary>) -> Self {
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

    pub(super) fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// Every function reachable from `seeds` (each with who names it, for
    /// errors); a name the library lacks is an error.
    pub(super) fn closure(
        &self,
        source: &Path,
        seeds: impl IntoIterator<Item = (String, String)>,
    ) -> Result<BTreeSet<String>, Tf2Error> {
        let mut kept = BTreeSet::new();
        let mut queue: Vec<(String, String)> = seeds.into_iter().collect();
        while let Some((name, referrer)) = queue.pop() {
            if kept.contains(&name) {
                continue;
            }
            let Some(function) = self.functions.get(name.as_str()) else {
                return Err(Tf2Error::MissingFunction {
                    path: source.to_path_buf(),
                    referrer,
                    function: name,
                });
            };
            let here = format!("function {name:?}");
            for node in &function.node_def {
                for callee in called_by_node(node, self) {
                    queue.push((callee.to_string(), format!("{here}, node {:?}", node.name)));
                }
            }
            for value in function.attr.values() {
                let mut names = Vec::new();
                functions_in_attr(value, &mut names);
                queue.extend(names.into_iter().map(|n| (n.to_string(), here.clone())));
            }
            if let Some(gradient) = self.gradients.get(name.as_str()) {
                queue.push((gradient.to_string(), format!("gradient of {here}")));
            }
            kept.insert(name);
        }
        Ok(kept)
    }
}

/// The library cut down to `kept` (gradients of kept functions included).
pub(super) fn pruned_library(
    library: &FunctionDefLibrary,
    kept: &BTreeSet<String>,
) -> FunctionDefLibrary {
    let named = |name: &str| kept.contains(name);
    FunctionDefLibrary {
        function: library
            .function
            .iter()
            .filter(|f| f.signature.as_ref().is_some_and(|s| named(&s.name)))
            .cloned()
            .collect(),
        gradient: library
            .gradient
            .iter()
            .filter(|g| named(&g.function_name))
            .cloned()
            .collect(),
        registered_gradients: library
            .registered_gradients
            .iter()
            .filter(|g| named(&g.gradient_func))
            .cloned()
            .collect(),
    }
}

/// The library's function names not in `kept`, in library order.
pub(super) fn dropped_functions(
    library: Option<&FunctionDefLibrary>,
    kept: &BTreeSet<String>,
) -> Vec<String> {
    library
        .map(|l| {
            l.function
                .iter()
                .filter_map(|f| f.signature.as_ref().map(|s| s.name.clone()))
                .filter(|name| !kept.contains(name))
                .collect()
        })
        .unwrap_or_default()
}
