//! What a bundle holds, counted by variable. Two kinds of entry are not
//! variables of their own: a TF2 checkpoint's object graph
//! ([`OBJECT_GRAPH_KEY`]), the metadata that names its objects, and int8
//! scales.
//!
//! The int8 layout of a bundle: a float32 tensor stored as int8 keeps its
//! float32 scales beside it, one entry per record (the whole tensor, or each
//! slice of a partitioned one) under `KEY/int8_scales` (`KEY/int8_scales/I`
//! for slice `I`), with `_N` appended when that name is taken. Each scales
//! entry holds one scale per entry of the tensor's last axis (one for rank 0
//! and 1).
//!
//! Whatever reads a bundle counts by variable: the scales belong to the
//! int8 tensor they scale, and are found by that structure (an int8 tensor,
//! a float32 entry named after it with the shape of its scales), so every
//! tool sees the same variables and bytes.

use super::reader::Entry;
use crate::format::proto::DataType;

/// The bundle key of a TF2 checkpoint's serialized `TrackableObjectGraph`
/// (a DT_STRING scalar).
pub const OBJECT_GRAPH_KEY: &str = "_CHECKPOINTABLE_OBJECT_GRAPH";

/// The scales' name under their tensor's key.
const SCALES: &str = "int8_scales";

/// The first name tried for the scales of `key` (of its slice `slice`,
/// when partitioned); [`scales_owner`] also accepts it with `_N` appended.
pub fn scales_key_base(key: &str, slice: Option<usize>) -> String {
    match slice {
        Some(index) => format!("{key}/{SCALES}/{index}"),
        None => format!("{key}/{SCALES}"),
    }
}

/// The shape of a scales entry of a tensor of `shape`: its last axis for
/// rank >= 2, a scalar below.
pub fn scales_shape(shape: &[i64]) -> &[i64] {
    match shape {
        [_, .., last] => std::slice::from_ref(last),
        _ => &[],
    }
}

/// The key of the int8 tensor `entry` holds the scales of, if it is a
/// scales entry: float32, named after an int8 tensor `find` knows, with its
/// scales' shape, and a slice index below its slice count.
pub fn scales_owner<'a>(
    entry: &Entry,
    find: impl Fn(&str) -> Option<&'a Entry>,
) -> Option<&'a str> {
    if entry.dtype != DataType::DtFloat {
        return None;
    }
    let marker = format!("/{SCALES}");
    let at = entry.name.rfind(&marker)?;
    let owner = find(&entry.name[..at])?;
    let rest = &entry.name[at + marker.len()..];
    let fits = owner.dtype == DataType::DtInt8
        && entry.shape == scales_shape(&owner.shape)
        && suffix_fits(rest, owner.slices);
    fits.then_some(owner.name.as_str())
}

/// What may follow `KEY/int8_scales`: nothing (or `_N`) for a whole tensor,
/// `/I` (or `/I_N`) with `I` below `slices` for a partitioned one.
fn suffix_fits(rest: &str, slices: usize) -> bool {
    let taken = |s: &str| s.is_empty() || s.strip_prefix('_').is_some_and(all_digits);
    if slices == 0 {
        return taken(rest);
    }
    let Some(index) = rest.strip_prefix('/') else {
        return false;
    };
    let (index, more) = index.split_at(index.find('_').unwrap_or(index.len()));
    all_digits(index) && index.parse::<usize>().is_ok_and(|i| i < slices) && taken(more)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// One variable of a bundle: its tensor and the scales stored with it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVariable {
    pub tensor: Entry,
    /// The int8 scales entries, for a tensor stored as int8.
    pub scales: Vec<Entry>,
}

impl StoredVariable {
    /// The tensor's bytes and its scales'.
    pub fn bytes(&self) -> u64 {
        let scales = self.scales.iter().map(|s| s.bytes);
        scales.fold(self.tensor.bytes, u64::saturating_add)
    }
}

/// A bundle's entries counted by variable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BundleVariables {
    /// Its variables, in key order.
    pub variables: Vec<StoredVariable>,
    /// The object graph entry of a TF2 checkpoint.
    pub object_graph: Option<Entry>,
    /// The entries stored for the variables: each variable's and its
    /// scales' (every entry but the object graph).
    pub stored_tensors: usize,
}

impl BundleVariables {
    /// The variables' bytes (the object graph's not included).
    pub fn variable_bytes(&self) -> u64 {
        let bytes = self.variables.iter().map(StoredVariable::bytes);
        bytes.fold(0, u64::saturating_add)
    }
}

/// The `entries` of a bundle as variables, in their order: each scales
/// entry goes with its int8 tensor instead of standing on its own, and the
/// object graph stands apart.
pub fn variables(entries: Vec<Entry>) -> BundleVariables {
    let stored_tensors = entries.len();
    let owners: Vec<Option<String>> = {
        let by_name: std::collections::HashMap<&str, &Entry> =
            entries.iter().map(|e| (e.name.as_str(), e)).collect();
        let find = |name: &str| by_name.get(name).copied();
        entries
            .iter()
            .map(|e| scales_owner(e, find).map(str::to_string))
            .collect()
    };
    let mut found = BundleVariables {
        stored_tensors,
        ..BundleVariables::default()
    };
    let mut index = std::collections::HashMap::new();
    let mut scales = Vec::new();
    for (entry, owner) in entries.into_iter().zip(owners) {
        match owner {
            Some(owner) => scales.push((owner, entry)),
            None if entry.name == OBJECT_GRAPH_KEY => found.object_graph = Some(entry),
            None => {
                index.insert(entry.name.clone(), found.variables.len());
                found.variables.push(StoredVariable {
                    tensor: entry,
                    scales: Vec::new(),
                });
            }
        }
    }
    for (owner, entry) in scales {
        if let Some(&i) = index.get(&owner) {
            found.variables[i].scales.push(entry);
        }
    }
    found.stored_tensors -= usize::from(found.object_graph.is_some());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, dtype: DataType, shape: &[i64], slices: usize) -> Entry {
        let elements: i64 = shape.iter().product();
        let size = if dtype == DataType::DtInt8 { 1 } else { 4 };
        Entry {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            bytes: (elements * size) as u64,
            slices,
        }
    }

    fn names(variables: &[StoredVariable]) -> Vec<(String, Vec<String>)> {
        let scales = |v: &StoredVariable| v.scales.iter().map(|s| s.name.clone()).collect();
        variables
            .iter()
            .map(|v| (v.tensor.name.clone(), scales(v)))
            .collect()
    }

    #[test]
    fn scales_go_with_their_int8_tensor() {
        let f32 = DataType::DtFloat;
        let entries = vec![
            entry("bias", f32, &[64], 0),
            entry("kernel", DataType::DtInt8, &[32, 64], 0),
            entry("kernel/int8_scales", f32, &[64], 0),
            entry("w", DataType::DtInt8, &[4096], 0),
            entry("w/int8_scales_1", f32, &[], 0),
        ];
        let variables = variables(entries).variables;
        assert_eq!(
            names(&variables),
            vec![
                ("bias".into(), vec![]),
                ("kernel".into(), vec!["kernel/int8_scales".into()]),
                ("w".into(), vec!["w/int8_scales_1".into()]),
            ]
        );
        assert_eq!(variables[1].bytes(), 32 * 64 + 64 * 4);
    }

    #[test]
    fn each_slice_has_its_scales() {
        let f32 = DataType::DtFloat;
        let entries = vec![
            entry("emb", DataType::DtInt8, &[3000, 8], 3),
            entry("emb/int8_scales/0", f32, &[8], 0),
            entry("emb/int8_scales/1", f32, &[8], 0),
            entry("emb/int8_scales/2_1", f32, &[8], 0),
            entry("emb/int8_scales/3", f32, &[8], 0),
        ];
        let variables = variables(entries).variables;
        assert_eq!(variables.len(), 2, "slice 3 does not exist: its own tensor");
        assert_eq!(variables[0].scales.len(), 3);
    }

    #[test]
    fn the_object_graph_is_no_variable() {
        let entries = vec![
            entry("_CHECKPOINTABLE_OBJECT_GRAPH", DataType::DtString, &[], 0),
            entry("w/.ATTRIBUTES/VARIABLE_VALUE", DataType::DtFloat, &[3], 0),
        ];
        let found = variables(entries);
        assert_eq!(found.variables.len(), 1);
        assert_eq!(found.stored_tensors, 1);
        assert!(found.object_graph.is_some());
        assert_eq!(found.variable_bytes(), 12);
    }

    #[test]
    fn a_lookalike_stands_on_its_own() {
        let f32 = DataType::DtFloat;
        let entries = vec![
            // Not int8: a float tensor's child named like scales.
            entry("a", f32, &[4, 4], 0),
            entry("a/int8_scales", f32, &[4], 0),
            // The wrong shape.
            entry("b", DataType::DtInt8, &[4, 4], 0),
            entry("b/int8_scales", f32, &[5], 0),
            // Not float32.
            entry("c", DataType::DtInt8, &[4], 0),
            entry("c/int8_scales", DataType::DtInt8, &[], 0),
            // A suffix the writer never makes.
            entry("d", DataType::DtInt8, &[4], 0),
            entry("d/int8_scales_x", f32, &[], 0),
        ];
        assert_eq!(variables(entries).variables.len(), 8);
    }
}
