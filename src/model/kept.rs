//! The variables an export kept, as its report lists them (one entry per
//! variable node), and taken together as the logical variables every tool
//! counts: a partitioned variable's slices are one variable.

use serde::Serialize;

/// One variable kept in the export.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeptVariable {
    pub node: String,
    pub key: String,
    pub dtype: String,
    /// The shape of this variable: of its slice, when it is one slice of a
    /// partitioned variable.
    pub shape: Vec<i64>,
    /// The bytes stored under `key` in the export's `variables/` (an int8
    /// tensor's scales included): the whole tensor, also when this variable
    /// is one of its slices (each slice reports the same bytes). What
    /// `show`, `size` and `validate` count for it.
    pub bytes: u64,
    /// The dtype `variables/` stores it in: `dtype`, or the one `--weights`
    /// or `--narrow-int64` converted it to (`int8`: with float32 scales).
    pub stored_dtype: String,
    /// The bytes the source held under `key`, before any conversion.
    pub source_bytes: u64,
    /// The whole tensor's shape when this variable is one slice of a
    /// partitioned variable (its slices share `key`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_shape: Option<Vec<i64>>,
}

/// One logical variable: the slices of a partitioned variable (the kept
/// variables sharing one checkpoint key) taken together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogicalVariable<'a> {
    pub first: &'a KeptVariable,
    /// How many kept variables share its key (1 for a whole variable).
    pub slices: usize,
}

impl LogicalVariable<'_> {
    /// The whole tensor's shape.
    pub fn shape(&self) -> &[i64] {
        self.first.full_shape.as_ref().unwrap_or(&self.first.shape)
    }

    /// The tensors stored for it: its own, and one scales entry per stored
    /// piece for int8.
    pub fn stored_tensors(&self) -> usize {
        match self.first.stored_dtype.as_str() {
            "int8" => 1 + self.slices,
            _ => 1,
        }
    }
}

/// The kept variables as logical variables, in order of first appearance:
/// a partitioned variable is one, with its whole shape and its bytes once.
pub fn logical_variables(kept: &[KeptVariable]) -> Vec<LogicalVariable<'_>> {
    let mut logical: Vec<LogicalVariable<'_>> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for v in kept {
        match index.get(v.key.as_str()) {
            Some(&i) => logical[i].slices += 1,
            None => {
                index.insert(v.key.as_str(), logical.len());
                logical.push(LogicalVariable {
                    first: v,
                    slices: 1,
                });
            }
        }
    }
    logical
}

/// The kept variables counted as `show`, `size` and `validate` count the
/// written `variables/`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct KeptTotals {
    /// Logical variables: a partitioned one, or an int8 one with its
    /// scales, counts once (`validate`'s `variables`).
    pub count: usize,
    /// Their bytes in `variables/` (`size`'s `variables_data_bytes`).
    pub bytes: u64,
    /// The tensors stored for them: each variable and its int8 scales
    /// (`validate`'s `stored_tensors`).
    pub stored_tensors: usize,
}

impl KeptTotals {
    pub fn of(kept: &[KeptVariable]) -> KeptTotals {
        let logical = logical_variables(kept);
        KeptTotals {
            count: logical.len(),
            bytes: logical.iter().map(|v| v.first.bytes).sum(),
            stored_tensors: logical.iter().map(LogicalVariable::stored_tensors).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(node: &str, key: &str, stored_dtype: &str, bytes: u64) -> KeptVariable {
        KeptVariable {
            node: node.into(),
            key: key.into(),
            dtype: "float32".into(),
            shape: vec![2, 4],
            bytes,
            stored_dtype: stored_dtype.into(),
            source_bytes: 32,
            full_shape: None,
        }
    }

    #[test]
    fn slices_count_once_and_int8_scales_are_stored_beside() {
        let variables = vec![
            kept("emb/part_0", "emb", "int8", 100),
            kept("bias", "bias", "float32", 32),
            kept("emb/part_1", "emb", "int8", 100),
        ];
        let logical = logical_variables(&variables);
        assert_eq!(logical.len(), 2);
        assert_eq!(logical[0].slices, 2);
        let totals = KeptTotals::of(&variables);
        assert_eq!(
            totals,
            KeptTotals {
                count: 2,
                bytes: 132,
                stored_tensors: 4,
            }
        );
    }
}
