//! Names of source nodes a reader skipped because serving does not need
//! them. They still count: a pass must not give a new node one of their
//! names, so that what it adds is named as it would be with the whole graph
//! decoded; and the prune pass reports them removed, each with the reason it
//! would have given. Kept in one string — no string is allocated per name.

use std::hash::BuildHasher;
use std::ops::Range;

use bytes::Bytes;
use foldhash::fast::FixedState;

/// A set of names, each with the reason the prune pass gives for removing
/// its node: all of them in one string, so no string is allocated per name.
#[derive(Debug, Clone, Default)]
pub struct UndecodedNames {
    /// Every name, one after another, in graph order.
    names: String,
    /// (where the name ends in `names`, removal reason), in graph order.
    nodes: Vec<(usize, &'static str)>,
    /// (hash of the name, its index in `nodes`), sorted.
    entries: Vec<(u64, usize)>,
}

/// Undecoded names still borrowed from the source, their lookup already
/// worked out: a reader makes this beside its other work, and copies the
/// names out ([`PendingNames::into_names`]) once what else it held of the
/// source is freed, so that the copy adds nothing to its peak.
#[derive(Debug, Default)]
pub struct PendingNames<'a> {
    nodes: Vec<(&'a str, &'static str)>,
    entries: Vec<(u64, usize)>,
}

impl<'a> PendingNames<'a> {
    /// The names given, in graph order, with their removal reasons.
    pub fn new(nodes: impl IntoIterator<Item = (&'a str, &'static str)>) -> PendingNames<'a> {
        let nodes: Vec<(&'a str, &'static str)> = nodes.into_iter().collect();
        let hasher = FixedState::default();
        let mut entries: Vec<(u64, usize)> = nodes
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (hasher.hash_one(name.as_bytes()), i))
            .collect();
        entries.sort_unstable();
        PendingNames { nodes, entries }
    }

    /// The names copied into a string of their own.
    pub fn into_names(self) -> UndecodedNames {
        let total = self.nodes.iter().map(|(name, _)| name.len()).sum();
        let mut names = String::with_capacity(total);
        let nodes = self
            .nodes
            .into_iter()
            .map(|(name, reason)| {
                names.push_str(name);
                (names.len(), reason)
            })
            .collect();
        UndecodedNames {
            names,
            nodes,
            entries: self.entries,
        }
    }
}

impl UndecodedNames {
    /// The names at the ranges of `buffer` given, in graph order, with their
    /// removal reasons; ranges outside the buffer or not UTF-8 are ignored.
    pub fn new(
        buffer: Bytes,
        nodes: impl IntoIterator<Item = (Range<usize>, &'static str)>,
    ) -> UndecodedNames {
        let named = nodes.into_iter().filter_map(|(range, reason)| {
            let name = std::str::from_utf8(buffer.get(range)?).ok()?;
            Some((name, reason))
        });
        PendingNames::new(named).into_names()
    }

    /// The name of node `i` (in graph order).
    fn name(&self, i: usize) -> Option<&str> {
        let start = match i.checked_sub(1) {
            Some(before) => self.nodes.get(before)?.0,
            None => 0,
        };
        self.names.get(start..self.nodes.get(i)?.0)
    }

    /// Each name and its removal reason, in graph order.
    pub fn removals(&self) -> impl Iterator<Item = (&str, &'static str)> {
        let starts = std::iter::once(0).chain(self.nodes.iter().map(|(end, _)| *end));
        starts
            .zip(&self.nodes)
            .filter_map(|(start, (end, reason))| Some((self.names.get(start..*end)?, *reason)))
    }

    /// Each name's removal reason, in graph order: what [`removals`] gives
    /// without the names, so a caller can size its lists first.
    ///
    /// [`removals`]: UndecodedNames::removals
    pub fn reasons(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.nodes.iter().map(|(_, reason)| *reason)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        let hash = FixedState::default().hash_one(name.as_bytes());
        let first = self.entries.partition_point(|(h, _)| *h < hash);
        self.entries
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|(h, _)| *h == hash)
            .any(|(_, i)| self.name(*i) == Some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_names_given() {
        let buffer = Bytes::from_static(b"alpha beta gamma\xff");
        let ranges = [
            (0..5, "gradient"),
            (11..16, "unused"),
            (16..17, "x"),
            (9..40, "y"),
        ];
        let names = UndecodedNames::new(buffer, ranges);
        assert_eq!(names.len(), 2);
        assert!(names.contains("alpha") && names.contains("gamma"));
        assert!(!names.contains("beta") && !names.contains("alph") && !names.contains(""));
        let removals: Vec<_> = names.removals().collect();
        assert_eq!(removals, [("alpha", "gradient"), ("gamma", "unused")]);

        let pending = PendingNames::new([("alpha", "gradient"), ("gamma", "unused")]);
        let copied = pending.into_names();
        assert_eq!(copied.names, "alphagamma");
        assert!(copied.contains("alpha") && copied.contains("gamma"));
        assert!(!copied.contains("beta") && !copied.contains("alphagamma"));
        assert!(copied.removals().eq(names.removals()));
        assert!(names.reasons().eq(["gradient", "unused"]));
    }
}
