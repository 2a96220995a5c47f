//! A node's attrs as one sorted vector of `(name, value)` pairs.
//!
//! A NodeDef's `attr` is a protobuf map; prost gives it as a `BTreeMap`, and
//! a `BTreeMap` allocates a whole eleven-slot leaf (about 800 bytes with
//! `AttrValue`) for even one entry. A graph node has two or three attrs, so
//! for a large graph that leaf was most of the IR's memory. [`AttrMap`]
//! keeps exactly its entries, sorted by name as the `BTreeMap` iterates them
//! (so what is written stays byte for byte the same), and offers the
//! `BTreeMap` methods the code uses, under the same names.

use std::collections::BTreeMap;

use crate::format::proto::AttrValue;

/// Up to how many entries a lookup compares names one by one.
const LINEAR_UP_TO: usize = 8;

/// Attrs sorted by name, each name once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttrMap {
    entries: Vec<(String, AttrValue)>,
}

/// Looking an attr up by name, whichever map holds it: the IR's
/// [`AttrMap`] or a NodeDef's `BTreeMap` (function bodies stay NodeDefs).
pub trait AttrLookup {
    fn lookup(&self, key: &str) -> Option<&AttrValue>;
}

impl AttrLookup for AttrMap {
    fn lookup(&self, key: &str) -> Option<&AttrValue> {
        self.get(key)
    }
}

impl AttrLookup for BTreeMap<String, AttrValue> {
    fn lookup(&self, key: &str) -> Option<&AttrValue> {
        self.get(key)
    }
}

impl AttrMap {
    pub fn new() -> AttrMap {
        AttrMap::default()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(name, _)| name.as_str().cmp(key))
    }

    /// Where `key` is. A node has a handful of attrs, whose names mostly
    /// differ in length: comparing each for equality (length first) is
    /// cheaper there than ordering them, which compares bytes.
    fn find(&self, key: &str) -> Option<usize> {
        if self.entries.len() <= LINEAR_UP_TO {
            self.entries.iter().position(|(name, _)| name == key)
        } else {
            self.position(key).ok()
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        let at = self.find(key)?;
        Some(&self.entries[at].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut AttrValue> {
        let at = self.find(key)?;
        Some(&mut self.entries[at].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    /// Sets `key` to `value`; the value it replaces, if any.
    pub fn insert(&mut self, key: String, value: AttrValue) -> Option<AttrValue> {
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<AttrValue> {
        let at = self.find(key)?;
        Some(self.entries.remove(at).1)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut AttrValue) -> bool) {
        self.entries.retain_mut(|(key, value)| keep(key, value));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries in name order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&String, &AttrValue)> + ExactSizeIterator {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.entries.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &AttrValue> + ExactSizeIterator {
        self.entries.iter().map(|(_, value)| value)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut AttrValue> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, value)| value)
    }

    /// The same entries as the `BTreeMap` a NodeDef holds.
    pub fn to_btree_map(&self) -> BTreeMap<String, AttrValue> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl From<BTreeMap<String, AttrValue>> for AttrMap {
    /// Already sorted and unique: moved over without a search.
    fn from(map: BTreeMap<String, AttrValue>) -> AttrMap {
        AttrMap {
            entries: map.into_iter().collect(),
        }
    }
}

impl From<AttrMap> for BTreeMap<String, AttrValue> {
    fn from(map: AttrMap) -> BTreeMap<String, AttrValue> {
        map.entries.into_iter().collect()
    }
}

impl<const N: usize> From<[(String, AttrValue); N]> for AttrMap {
    fn from(entries: [(String, AttrValue); N]) -> AttrMap {
        entries.into_iter().collect()
    }
}

impl FromIterator<(String, AttrValue)> for AttrMap {
    /// A later entry for the same name replaces an earlier one, as in a
    /// `BTreeMap` (and protobuf's map merge).
    fn from_iter<I: IntoIterator<Item = (String, AttrValue)>>(entries: I) -> AttrMap {
        let mut map = AttrMap::new();
        map.extend(entries);
        map
    }
}

impl Extend<(String, AttrValue)> for AttrMap {
    fn extend<I: IntoIterator<Item = (String, AttrValue)>>(&mut self, entries: I) {
        for (key, value) in entries {
            self.insert(key, value);
        }
    }
}

impl IntoIterator for AttrMap {
    type Item = (String, AttrValue);
    type IntoIter = std::vec::IntoIter<(String, AttrValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a AttrMap {
    type Item = (&'a String, &'a AttrValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, AttrValue)>,
        fn(&'a (String, AttrValue)) -> (&'a String, &'a AttrValue),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(key, value)| (key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::attr_value::Value;

    fn int(i: i64) -> AttrValue {
        AttrValue {
            value: Some(Value::I(i)),
        }
    }

    #[test]
    fn finds_names_in_small_and_large_maps_alike() {
        for count in [0, 1, LINEAR_UP_TO, LINEAR_UP_TO + 1, 40] {
            let map: AttrMap = (0..count)
                .map(|i| (format!("k{i}"), int(i as i64)))
                .collect();
            for i in 0..count {
                assert_eq!(map.get(&format!("k{i}")), Some(&int(i as i64)));
            }
            assert!(!map.contains_key("k") && !map.contains_key(&format!("k{count}")));
        }
    }

    #[test]
    fn keeps_btree_map_order_and_replacement() {
        let pairs = [("b", 1), ("a", 2), ("c", 3), ("a", 4)];
        let mut map = AttrMap::new();
        let mut btree = BTreeMap::new();
        for (key, value) in pairs {
            assert_eq!(
                map.insert(key.into(), int(value)),
                btree.insert(key.to_string(), int(value))
            );
        }
        assert!(map.iter().eq(btree.iter()));
        assert_eq!(map.to_btree_map(), btree);
        assert_eq!(AttrMap::from(btree.clone()), map);
        assert_eq!(map.remove("a"), btree.remove("a"));
        assert_eq!(map.remove("a"), None);
        assert!(!map.contains_key("a") && map.contains_key("c"));
        map.retain(|key, _| key != "b");
        assert_eq!(map.keys().collect::<Vec<_>>(), ["c"]);
        assert_eq!(map.lookup("c"), Some(&int(3)));
    }
}
