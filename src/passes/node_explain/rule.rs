//! A rule that fired, as an explanation names it: shared by the record of
//! what happened to a node and the search for the rewire that cut it off.

use serde::Serialize;

use crate::passes::Rewire;

/// A rule that fired: the pass, the rule's word, and a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub pass: String,
    /// The removal reason (`unused`, `optimizer`, `dead-branch`, ...) or `rewire`.
    pub rule: String,
    pub why: String,
}

/// A rewire as a rule: `pass`, `rewire`, "why: from → to".
pub fn rewire_rule(pass: &str, rewire: &Rewire) -> Rule {
    Rule {
        pass: pass.into(),
        rule: "rewire".into(),
        why: format!("{}: {} → {}", rewire.why, rewire.from, rewire.to),
    }
}
