//! What a pass changed, for the CLI to explain and for tests to check.

use std::collections::BTreeMap;

use serde::Serialize;

/// One input moved from one tensor to another, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewire {
    pub from: String,
    pub to: String,
    pub why: String,
}

/// The changes one pass made.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PassReport {
    pub pass: String,
    /// Removed node names, by reason (a training category or the pass's own word).
    pub removed: BTreeMap<String, Vec<String>>,
    pub added: Vec<String>,
    pub rewired: Vec<Rewire>,
    /// Decisions worth telling the user (an input chosen, a flag found).
    pub notes: Vec<String>,
    /// Wall time of the pass.
    pub micros: u64,
}

impl PassReport {
    pub fn removed(&mut self, reason: &str, node: impl Into<String>) {
        self.removed
            .entry(reason.to_string())
            .or_default()
            .push(node.into());
    }

    pub fn rewired(
        &mut self,
        from: impl Into<String>,
        to: impl Into<String>,
        why: impl Into<String>,
    ) {
        self.rewired.push(Rewire {
            from: from.into(),
            to: to.into(),
            why: why.into(),
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn removed_count(&self) -> usize {
        self.removed.values().map(Vec::len).sum()
    }

    /// True when the pass left the model as it was.
    pub fn is_unchanged(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && self.rewired.is_empty()
    }
}
