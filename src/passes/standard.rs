//! The standard registry: servegraph's serving passes and the Graph
//! Transform Tool's transforms, each family registering its own entries.
//! Kept apart from [`Registry`] itself, which the families build on.

use super::registry::Registry;

impl Registry {
    /// servegraph's serving passes and the Graph Transform Tool's transforms.
    pub fn standard() -> Registry {
        let mut registry = Registry::empty();
        for entry in super::registry_entries::serving_entries() {
            registry.register(entry);
        }
        for entry in super::graph_transforms::entries() {
            registry.register(entry);
        }
        registry
    }
}
