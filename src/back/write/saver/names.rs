//! Names for the saver's nodes and functions that never collide with the
//! graph's own, picked the way TensorFlow would pick them.

use std::collections::{BTreeMap, HashSet};

/// `save`, or `save_1`, `save_2`, ... when a node already lives under that scope.
pub(crate) fn free_scope<S: AsRef<str>>(existing: &HashSet<S>) -> String {
    let taken = |scope: &str| {
        existing.iter().map(AsRef::as_ref).any(|name| {
            name == scope || name.strip_prefix(scope).is_some_and(|r| r.starts_with('/'))
        })
    };
    let mut scope = "save".to_string();
    let mut suffix = 0;
    while taken(&scope) {
        suffix += 1;
        scope = format!("save_{suffix}");
    }
    scope
}

/// `base` if nobody has it, else `base_1`, `base_2`, ...
pub(crate) fn free_name(base: &str, taken: &HashSet<String>) -> String {
    if !taken.contains(base) {
        return base.to_string();
    }
    (1..)
        .map(|n| format!("{base}_{n}"))
        .find(|name| !taken.contains(name))
        .unwrap_or_else(|| base.to_string())
}

/// TF's name uniquifier: `X`, `X_1`, `X_2`, ... counted per base name.
#[derive(Default)]
pub(crate) struct Counters(BTreeMap<&'static str, usize>);

impl Counters {
    pub(crate) fn next(&mut self, base: &'static str) -> String {
        let count = self.0.entry(base).or_insert(0);
        let name = if *count == 0 {
            base.to_string()
        } else {
            format!("{base}_{count}")
        };
        *count += 1;
        name
    }
}
