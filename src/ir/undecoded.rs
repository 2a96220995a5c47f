//! Names of source nodes a reader skipped because serving does not need
//! them. They still count: a pass must not give a new node one of their
//! names, so that what it adds is named as it would be with the whole graph
//! decoded. Kept as ranges of the source buffer, sorted by hash — no string
//! is allocated per name.

use std::hash::BuildHasher;
use std::ops::Range;

use bytes::Bytes;
use foldhash::fast::FixedState;

/// A set of names held in the source's bytes.
#[derive(Debug, Clone, Default)]
pub struct UndecodedNames {
    buffer: Bytes,
    /// (hash of the name, its range in `buffer`), sorted.
    entries: Vec<(u64, Range<usize>)>,
}

impl UndecodedNames {
    /// The names at `ranges` of `buffer`; ranges outside it are ignored.
    pub fn new(buffer: Bytes, ranges: impl IntoIterator<Item = Range<usize>>) -> UndecodedNames {
        let hasher = FixedState::default();
        let mut entries: Vec<(u64, Range<usize>)> = ranges
            .into_iter()
            .filter_map(|range| {
                let name = buffer.get(range.clone())?;
                Some((hasher.hash_one(name), range))
            })
            .collect();
        entries.sort_unstable_by_key(|(hash, range)| (*hash, range.start));
        UndecodedNames { buffer, entries }
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
            .any(|(_, range)| self.buffer.get(range.clone()) == Some(name.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_names_given() {
        let buffer = Bytes::from_static(b"alpha beta gamma");
        let names = UndecodedNames::new(buffer, [0..5, 11..16]);
        assert_eq!(names.len(), 2);
        assert!(names.contains("alpha") && names.contains("gamma"));
        assert!(!names.contains("beta") && !names.contains("alph") && !names.contains(""));
    }
}
