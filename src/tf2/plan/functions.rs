//! Which functions of the graph's library the kept parts call: the
//! closure (walked by [`FunctionIndex::closure`], through every
//! function-valued attr, lists and nested ones included, every node whose
//! op is a library function, and registered gradients) of the functions the
//! kept graph nodes and objects name; and the library cut down to it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::format::proto::FunctionDefLibrary;
use crate::ir::{CalledFrom, FunctionIndex, Gradients};
use crate::tf2::Tf2Error;

/// Every function reachable from `seeds` (each with who names it, for
/// errors), gradients included; a name the library lacks is an error naming
/// who calls it.
pub(super) fn closure(
    library: &FunctionIndex<'_>,
    source: &Path,
    seeds: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeSet<String>, Tf2Error> {
    let seeds = seeds
        .into_iter()
        .map(|(name, referrer)| (name, CalledFrom::Seed(referrer)));
    library.closure(seeds, Gradients::Follow, |function, from| {
        let referrer = match from {
            CalledFrom::Seed(referrer) => referrer,
            CalledFrom::Node { function, node } => format!("function {function:?}, node {node:?}"),
            CalledFrom::Attr { function } => format!("function {function:?}"),
            CalledFrom::Gradient { function } => format!("gradient of function {function:?}"),
        };
        Err(Tf2Error::MissingFunction {
            path: source.to_path_buf(),
            referrer,
            function,
        })
    })
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
