//! The text `servegraph transform` prints: what each transform changed,
//! and the list of transforms with their arguments.

use std::fmt;

use super::TransformReport;
use crate::passes::registry::Registry;

impl fmt::Display for TransformReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pass in &self.passes {
            write!(f, "{}: {} removed", pass.pass, pass.removed_count())?;
            if !pass.rewired.is_empty() {
                write!(f, ", {} rewired", pass.rewired.len())?;
            }
            if !pass.added.is_empty() {
                write!(f, ", {} added", pass.added.len())?;
            }
            writeln!(f)?;
            for note in &pass.notes {
                writeln!(f, "  {note}")?;
            }
        }
        for ignored in &self.ignored_errors {
            writeln!(f, "ignored error: {ignored}")?;
        }
        writeln!(
            f,
            "wrote {} ({}): {} nodes, {} before",
            self.output.display(),
            match self.format {
                Some(super::GraphFormat::Text) => "GraphDef, text",
                Some(super::GraphFormat::Binary) => "GraphDef, binary",
                None => "SavedModel",
            },
            self.nodes_after,
            self.nodes_before
        )
    }
}

/// Every transform `registry` knows, one line each, its arguments below.
pub fn list_transforms(registry: &Registry) -> String {
    let mut text = String::new();
    for entry in registry.entries() {
        text.push_str(&format!("{}: {}\n", entry.name, entry.doc));
        for arg in entry.args {
            let mut traits = vec![arg.kind.as_str().to_string()];
            if arg.required {
                traits.push("required".into());
            }
            if arg.repeated {
                traits.push("repeatable".into());
            }
            if let Some(default) = arg.default {
                traits.push(format!("default {default}"));
            }
            text.push_str(&format!(
                "  {} ({}): {}\n",
                arg.name,
                traits.join(", "),
                arg.doc
            ));
        }
    }
    text
}
