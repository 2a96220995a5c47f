//! Names of source nodes a reader skipped because serving does not need
//! them. They still count: a pass must not give a new node one of their
//! names, so that what it adds is named as it would be with the whole graph
//! decoded; and the prune pass reports them removed, each with the reason it
//! would have given. Kept as ranges of the source buffer — no string is
//! allocated per name.

use std::hash::BuildHasher;
use std::ops::Range;

use bytes::Bytes;
use foldhash::fast::FixedState;

/// A set of names held in the source's bytes, each with the reason the
/// prune pass gives for removing its node.
#[derive(Debug, Clone, Default)]
pub struct UndecodedNames {
    buffer: Bytes,
    /// (range of the name in `buffer`, removal reason), in graph order.
    nodes: Vec<(Range<usize>, &'static str)>,
    /// (hash of the name, its index in `nodes`), sorted.
    entries: Vec<(u64, usize)>,
}

impl UndecodedNames {
    /// The names at the ranges of `buffer` given, in graph order, with their
    /// removal reasons; ranges outside the buffer or not UTF-8 are ignored.
    pub fn new(
        buffer: Bytes,
        nodes: impl IntoIterator<Item = (Range<usize>, &'static str)>,
    ) -> UndecodedNames {
        // Collected in place when given a vector (a hundred thousand names).
        let mut nodes: Vec<(Range<usize>, &'static str)> = nodes.into_iter().collect();
        nodes.retain(|(range, _)| {
            buffer
                .get(range.clone())
                .is_some_and(|name| std::str::from_utf8(name).is_ok())
        });
        let hasher = FixedState::default();
        let mut entries: Vec<(u64, usize)> = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, (range, _))| Some((hasher.hash_one(buffer.get(range.clone())?), i)))
            .collect();
        entries.sort_unstable();
        UndecodedNames {
            buffer,
            nodes,
            entries,
        }
    }

    /// The names copied out of the source's buffer into one of their own
    /// (a few megabytes where the source may be tens), so that the source's
    /// buffer is not kept alive for them.
    pub fn copy_names(&mut self) {
        let total = self.nodes.iter().map(|(range, _)| range.len()).sum();
        let mut names = Vec::with_capacity(total);
        for (range, _) in &mut self.nodes {
            let start = names.len();
            names.extend_from_slice(self.buffer.get(range.clone()).unwrap_or_default());
            *range = start..names.len();
        }
        self.buffer = Bytes::from(names);
    }

    /// Each name and its removal reason, in graph order.
    pub fn removals(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.nodes.iter().filter_map(|(range, reason)| {
            let name = std::str::from_utf8(self.buffer.get(range.clone())?).ok()?;
            Some((name, *reason))
        })
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
            .filter_map(|(_, i)| self.nodes.get(*i))
            .any(|(range, _)| self.buffer.get(range.clone()) == Some(name.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_names_given() {
        let buffer = Bytes::from_static(b"alpha beta gamma");
        let names = UndecodedNames::new(buffer, [(0..5, "gradient"), (11..16, "unused")]);
        assert_eq!(names.len(), 2);
        assert!(names.contains("alpha") && names.contains("gamma"));
        assert!(!names.contains("beta") && !names.contains("alph") && !names.contains(""));
        let removals: Vec<_> = names.removals().collect();
        assert_eq!(removals, [("alpha", "gradient"), ("gamma", "unused")]);

        let mut copied = names.clone();
        copied.copy_names();
        assert_eq!(copied.buffer.as_ref(), b"alphagamma");
        assert!(copied.contains("alpha") && copied.contains("gamma"));
        assert!(!copied.contains("beta") && !copied.contains("alphagamma"));
        assert!(copied.removals().eq(names.removals()));
        assert!(names.reasons().eq(["gradient", "unused"]));
    }
}
