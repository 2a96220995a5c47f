//! What a pass changed, for the CLI to explain and for tests to check.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Serialize, Serializer};

use crate::ops::training::TrainingCategory;

/// Why a pass removed a node: its training-only category, or the pass's own
/// reason. Reports and JSON spell it as a word (`gradient`, `dead-branch`),
/// and order, compare and look it up by that word, so keys sort as text.
#[derive(Debug, Clone, Copy)]
pub enum Removal {
    /// A training-only op, or a helper feeding only training-only ops.
    Training(TrainingCategory),
    /// Nothing the serving signatures need reads it.
    Unused,
    /// A library function no serving node calls.
    UnusedFunction,
    /// A training-flag cond folded to its inference branch.
    FoldedCond,
    /// Only the training branch of a folded cond read it.
    DeadBranch,
    /// A graph transform's rule removed it; the word names the rule
    /// (`removed-op`, `duplicate`, `folded-constant`, ...).
    Rule(&'static str),
}

impl Removal {
    pub fn as_str(self) -> &'static str {
        match self {
            Removal::Training(category) => category.as_str(),
            Removal::Unused => "unused",
            Removal::UnusedFunction => "unused-function",
            Removal::FoldedCond => "folded-cond",
            Removal::DeadBranch => "dead-branch",
            Removal::Rule(rule) => rule,
        }
    }
}

impl From<TrainingCategory> for Removal {
    fn from(category: TrainingCategory) -> Removal {
        Removal::Training(category)
    }
}

impl fmt::Display for Removal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Removal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq for Removal {
    fn eq(&self, other: &Removal) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Removal {}

impl Ord for Removal {
    fn cmp(&self, other: &Removal) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Removal {
    fn partial_cmp(&self, other: &Removal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Removal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// Lets `report.removed["gradient"]` find the key: equality and order are the word's.
impl Borrow<str> for Removal {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

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
    /// Removed node names, by reason.
    pub removed: BTreeMap<Removal, Vec<String>>,
    pub added: Vec<String>,
    pub rewired: Vec<Rewire>,
    /// Nodes the pass changed in place, kept under their names with
    /// another value or attribute (a batch constant rewritten, a training
    /// flag or `is_training` set to false, a device cleared), once each.
    pub edited: Vec<String>,
    /// Decisions worth telling the user (an input chosen, a flag found).
    pub notes: Vec<String>,
    /// Wall time of the pass.
    pub micros: u64,
}

impl PassReport {
    pub fn removed(&mut self, reason: impl Into<Removal>, node: impl Into<String>) {
        self.removed
            .entry(reason.into())
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

    /// Records that the pass changed `node` in place (once per node).
    pub fn edited(&mut self, node: impl Into<String>) {
        let node = node.into();
        if !self.edited.contains(&node) {
            self.edited.push(node);
        }
    }

    pub fn removed_count(&self) -> usize {
        self.removed.values().map(Vec::len).sum()
    }

    /// True when the pass left the model as it was.
    pub fn is_unchanged(&self) -> bool {
        self.removed.is_empty()
            && self.added.is_empty()
            && self.rewired.is_empty()
            && self.edited.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_keys_serialize_and_sort_as_their_words() {
        let mut report = PassReport::default();
        report.removed(Removal::Unused, "a");
        report.removed(TrainingCategory::VariableUpdate, "b");
        report.removed(Removal::DeadBranch, "c");
        report.removed(TrainingCategory::Gradient, "d");
        let json = serde_json::to_string(&report.removed).unwrap();
        assert_eq!(
            json,
            r#"{"dead-branch":["c"],"gradient":["d"],"unused":["a"],"variable-update":["b"]}"#
        );
        assert_eq!(report.removed["variable-update"], ["b"]);
        let words: Vec<String> = report.removed.keys().map(|r| r.to_string()).collect();
        assert_eq!(
            words,
            ["dead-branch", "gradient", "unused", "variable-update"]
        );
    }
}
