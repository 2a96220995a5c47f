//! The explanation as text, one block per node.

use std::fmt::{self, Display, Formatter};

use super::{Explanation, NodeChange, NodeStory, Rule, Verdict};

impl Display for Explanation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(story) = &self.node {
            return story.fmt(f);
        }
        if self.changes.is_empty() {
            return writeln!(f, "explain: no pass removed or rewired a node");
        }
        writeln!(
            f,
            "explain: {} nodes removed or rewired",
            self.changes.len()
        )?;
        for change in &self.changes {
            change.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for NodeChange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let fate = if self.removed_by.is_some() {
            "removed"
        } else {
            "rewired"
        };
        writeln!(f, "{fate} {}{}", self.node, op_text(self.op.as_deref()))?;
        writeln!(f, "  inputs before: {}", list(&self.inputs_before))?;
        if let Some(after) = &self.inputs_after {
            writeln!(f, "  inputs after:  {}", list(after))?;
        }
        if let Some(rule) = &self.removed_by {
            writeln!(f, "  removed by {}", rule_text(rule))?;
        }
        let label = if self.removed_by.is_some() {
            "left unused when"
        } else {
            "rewired by"
        };
        for rule in &self.rewires {
            writeln!(f, "  {label} {}", rule_text(rule))?;
        }
        Ok(())
    }
}

impl Display for NodeStory {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Kept => "kept",
            Verdict::Removed => "removed",
            Verdict::Added => "added",
        };
        write!(f, "{} {verdict}{}", self.node, op_text(self.op.as_deref()))?;
        match &self.op_before {
            Some(old) => writeln!(f, ", was {old}")?,
            None => writeln!(f)?,
        }
        if let Some(pass) = &self.added_by {
            writeln!(f, "  added by pass {pass}")?;
        }
        for needed in &self.needed_by {
            writeln!(
                f,
                "  needed by output {:?} of signature {:?} ({}): {}",
                needed.output,
                needed.signature,
                needed.tensor,
                needed.path.join(" → ")
            )?;
        }
        if let Some(because) = &self.kept_because {
            writeln!(f, "  kept: {because}")?;
        }
        match &self.change {
            Some(change) => change.fmt(f),
            None => Ok(()),
        }
    }
}

fn op_text(op: Option<&str>) -> String {
    op.map_or_else(String::new, |op| format!(" ({op})"))
}

fn list(inputs: &[String]) -> String {
    if inputs.is_empty() {
        "none".into()
    } else {
        inputs.join(", ")
    }
}

fn rule_text(rule: &Rule) -> String {
    format!("pass {} [{}]: {}", rule.pass, rule.rule, rule.why)
}
