//! A warm-up file's JSON as a compact tree. A `serde_json::Value` costs 32
//! bytes per number, so a file at the limits (16 Mi values) would take over
//! half a gigabyte before it is checked; here a list whose entries are all
//! numbers keeps them packed, 8 bytes and 2 bits each, so the same file
//! stays near 140 MB (one allocation a list). Numbers keep serde_json's three kinds (non-negative
//! integer, negative integer, float): `1` and `1.0` convert differently.

use std::collections::BTreeMap;
use std::fmt::{self, Formatter};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    /// A list with an entry that is not a number (or an empty list).
    Array(Vec<Json>),
    /// A non-empty list of numbers only, packed.
    Numbers(NumberList),
    /// Keys in sorted order, as `serde_json::Map` keeps them.
    Object(BTreeMap<String, Json>),
}

/// Numbers packed in one allocation: each one's bits, then their kinds,
/// 2 bits each, 32 to a word.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NumberList {
    words: Box<[u64]>,
    len: usize,
}

/// A [`NumberList`] being filled.
#[derive(Default)]
struct NumberListBuilder {
    bits: Vec<u64>,
    kinds: Vec<u64>,
}

/// Which of serde_json's number kinds a packed number is.
const POSITIVE: u64 = 0;
const NEGATIVE: u64 = 1;
const FLOAT: u64 = 2;

/// Kinds per word.
const KINDS_PER_WORD: usize = 32;

impl NumberListBuilder {
    fn push(&mut self, number: &Number) {
        let (bits, kind) = if let Some(x) = number.as_u64() {
            (x, POSITIVE)
        } else if let Some(x) = number.as_i64() {
            (x as u64, NEGATIVE)
        } else {
            (number.as_f64().unwrap_or_default().to_bits(), FLOAT)
        };
        let index = self.bits.len();
        self.bits.push(bits);
        if index.is_multiple_of(KINDS_PER_WORD) {
            self.kinds.push(0);
        }
        if let Some(word) = self.kinds.last_mut() {
            *word |= kind << (2 * (index % KINDS_PER_WORD));
        }
    }

    fn len(&self) -> usize {
        self.bits.len()
    }

    fn finish(mut self) -> NumberList {
        let len = self.bits.len();
        self.bits.reserve_exact(self.kinds.len());
        self.bits.extend_from_slice(&self.kinds);
        NumberList {
            words: self.bits.into_boxed_slice(),
            len,
        }
    }
}

impl NumberList {
    pub fn len(&self) -> usize {
        self.len
    }

    /// The number at `index`, as serde_json would have given it.
    fn get(&self, index: usize) -> Option<Number> {
        if index >= self.len {
            return None;
        }
        let bits = *self.words.get(index)?;
        let word = self.words.get(self.len + index / KINDS_PER_WORD)?;
        match (word >> (2 * (index % KINDS_PER_WORD))) & 3 {
            POSITIVE => Some(Number::from(bits)),
            NEGATIVE => Some(Number::from(bits as i64)),
            _ => Number::from_f64(f64::from_bits(bits)),
        }
    }

    /// Each number, as a leaf value.
    pub fn iter(&self) -> impl Iterator<Item = Json> + '_ {
        (0..self.len()).filter_map(|i| self.get(i).map(Json::Number))
    }
}

impl Json {
    /// Parses `text`, one JSON value.
    pub fn parse(text: &[u8]) -> Result<Json, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let value = Build.deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }

    /// How many entries a list has; `None` for anything else.
    pub fn list_len(&self) -> Option<usize> {
        match self {
            Json::Array(entries) => Some(entries.len()),
            Json::Numbers(numbers) => Some(numbers.len()),
            _ => None,
        }
    }

    /// The first entry of a list.
    pub fn first(&self) -> Option<Json> {
        match self {
            Json::Array(entries) => entries.first().cloned(),
            Json::Numbers(numbers) => numbers.get(0).map(Json::Number),
            _ => None,
        }
    }

    /// A list's entries, each unpacked.
    pub fn into_entries(self) -> Option<Vec<Json>> {
        match self {
            Json::Array(entries) => Some(entries),
            Json::Numbers(numbers) => Some(numbers.iter().collect()),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&BTreeMap<String, Json>> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Json::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn is_list(&self) -> bool {
        self.list_len().is_some()
    }
}

/// Builds a [`Json`] from serde's events.
struct Build;

impl<'de> DeserializeSeed<'de> for Build {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build {
    type Value = Json;

    fn expecting(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E: serde::de::Error>(self, x: i64) -> Result<Json, E> {
        Ok(Json::Number(x.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, x: u64) -> Result<Json, E> {
        Ok(Json::Number(x.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Json, E> {
        Ok(Number::from_f64(x).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Json, E> {
        Ok(Json::String(text.into()))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Json, E> {
        Ok(Json::String(text))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut numbers = NumberListBuilder::default();
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element_seed(Build)? {
            match entry {
                Json::Number(n) if entries.is_empty() => numbers.push(&n),
                other => {
                    if entries.is_empty() {
                        entries.extend(std::mem::take(&mut numbers).finish().iter());
                    }
                    entries.push(other);
                }
            }
        }
        if numbers.len() > 0 {
            return Ok(Json::Numbers(numbers.finish()));
        }
        entries.shrink_to_fit();
        Ok(Json::Array(entries))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Build)?;
            fields.insert(key, value);
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The tree's entries, turned back into a `serde_json::Value`.
    fn to_value(tree: &Json) -> Value {
        match tree {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(_) | Json::Numbers(_) => {
                let entries = tree.clone().into_entries().unwrap_or_default();
                Value::Array(entries.iter().map(to_value).collect())
            }
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), to_value(v)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn numbers_keep_their_kind_through_packing() {
        let text = br#"{"a": [0, -1, 1.0, 18446744073709551615, -9223372036854775808, 2.5e-3],
                        "b": [1, "x", 2], "c": [], "d": [[1], {"e": null}], "f": true}"#;
        let tree = Json::parse(text).unwrap();
        let expected: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(to_value(&tree), expected);
        assert_eq!(to_value(&tree).to_string(), expected.to_string());
        let fields = tree.as_object().unwrap();
        assert!(matches!(fields["a"], Json::Numbers(_)), "{:?}", fields["a"]);
        assert!(matches!(fields["b"], Json::Array(_)), "{:?}", fields["b"]);
        assert_eq!(fields["a"].list_len(), Some(6));
        assert_eq!(fields["a"].first(), Some(Json::Number(0.into())));
        assert_eq!(to_value(&fields["c"]), json!([]));
    }

    #[test]
    fn text_that_is_not_one_json_value_is_an_error() {
        assert!(Json::parse(b"[1, 2").is_err());
        assert!(Json::parse(b"[1] [2]").is_err());
    }
}
