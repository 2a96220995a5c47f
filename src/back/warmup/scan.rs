//! A first pass over a warm-up file's JSON that builds nothing: it refuses
//! a key given twice in one object (serde_json, like most parsers, would
//! keep the last silently, and TensorFlow Serving's own parser does not
//! agree on which one wins) and counts values and lists, so that a file
//! over the limits is refused before a tree of it is built in memory.

use std::collections::HashSet;
use std::fmt::{self, Formatter};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::format::limits::{MAX_WARMUP_LISTS, MAX_WARMUP_VALUES};

/// What the scan refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanProblem {
    /// `key` appears twice in the object at `at` (`(the top level)`,
    /// `"instances"[3]`, ...).
    DuplicateKey { at: String, key: String },
    /// More scalar values than [`MAX_WARMUP_VALUES`].
    TooManyValues { limit: u64 },
    /// More lists and objects than [`MAX_WARMUP_LISTS`].
    TooManyLists { limit: u64 },
}

/// One step of the path to the value being scanned.
enum Step {
    Key(String),
    Index(usize),
}

/// The scan's state: where it is, what it has counted, the first problem.
#[derive(Default)]
struct Scan {
    path: Vec<Step>,
    values: u64,
    lists: u64,
    problem: Option<ScanProblem>,
}

/// Scans `text`: `Ok(Err(problem))` for a problem the scan found, `Err`
/// for text that is not JSON.
pub fn scan(text: &[u8]) -> Result<Result<(), ScanProblem>, serde_json::Error> {
    let mut state = Scan::default();
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let outcome = (&mut state).deserialize(&mut deserializer);
    if let Some(problem) = state.problem {
        return Ok(Err(problem));
    }
    outcome?;
    deserializer.end()?;
    Ok(Ok(()))
}

impl Scan {
    /// Stops the scan at `problem` (serde needs an error to unwind; the
    /// problem itself is kept in the state).
    fn stop<E: serde::de::Error>(&mut self, problem: ScanProblem) -> E {
        self.problem = Some(problem);
        E::custom("scan stopped")
    }

    fn value<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.values += 1;
        if self.values > MAX_WARMUP_VALUES {
            return Err(self.stop(ScanProblem::TooManyValues {
                limit: MAX_WARMUP_VALUES,
            }));
        }
        Ok(())
    }

    fn list<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.lists += 1;
        if self.lists > MAX_WARMUP_LISTS {
            return Err(self.stop(ScanProblem::TooManyLists {
                limit: MAX_WARMUP_LISTS,
            }));
        }
        Ok(())
    }

    /// The path as errors print it.
    fn at(&self) -> String {
        if self.path.is_empty() {
            return "(the top level)".into();
        }
        self.path
            .iter()
            .map(|step| match step {
                Step::Key(key) => format!("{key:?}"),
                Step::Index(index) => format!("[{index}]"),
            })
            .collect()
    }
}

impl<'de> DeserializeSeed<'de> for &mut Scan {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Scan {
    type Value = ();

    fn expecting(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.value()
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.value()
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.value()
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.value()
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.value()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.value()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.list()?;
        self.path.push(Step::Index(0));
        let mut index = 0;
        loop {
            if let Some(Step::Index(at)) = self.path.last_mut() {
                *at = index;
            }
            if seq.next_element_seed(&mut *self)?.is_none() {
                break;
            }
            index += 1;
        }
        self.path.pop();
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.list()?;
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                let at = self.at();
                return Err(self.stop(ScanProblem::DuplicateKey { at, key }));
            }
            self.path.push(Step::Key(key.clone()));
            map.next_value_seed(&mut *self)?;
            self.path.pop();
            keys.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Option<ScanProblem> {
        scan(text.as_bytes()).expect("valid JSON").err()
    }

    #[test]
    fn a_key_given_twice_is_named_with_its_object() {
        assert_eq!(
            problem(r#"{"instances": [[1]], "instances": [[2]]}"#),
            Some(ScanProblem::DuplicateKey {
                at: "(the top level)".into(),
                key: "instances".into()
            })
        );
        assert_eq!(
            problem(r#"{"instances": [{"x": 1}, {"x": 1, "y": 2, "x": 3}]}"#),
            Some(ScanProblem::DuplicateKey {
                at: "\"instances\"[1]".into(),
                key: "x".into()
            })
        );
        assert_eq!(
            problem(r#"{"instances": [{"x": 1}, {"x": [{"x": 2}]}]}"#),
            None
        );
    }

    #[test]
    fn lists_and_values_are_counted_before_anything_is_built() {
        let lists = "[".to_string() + &["[0]"; 10].join(",") + "]";
        assert_eq!(problem(&lists), None);
        let values = vec!["0"; (MAX_WARMUP_VALUES + 1) as usize].join(",");
        assert_eq!(
            problem(&format!("[{values}]")),
            Some(ScanProblem::TooManyValues {
                limit: MAX_WARMUP_VALUES
            })
        );
    }

    #[test]
    fn text_that_is_not_json_is_a_parse_error() {
        assert!(scan(b"{\"instances\": [1, 2]").is_err());
        assert!(scan(b"[1] [2]").is_err());
    }
}
