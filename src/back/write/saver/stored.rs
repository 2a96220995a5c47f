//! The saver's conversions for a variable stored in another dtype than the
//! graph's: the save half turns the value into its stored form before
//! `SaveV2`, the restore half turns what `RestoreV2` read back into the
//! graph's dtype before the assignment. Plain TensorFlow ops only (`Cast`,
//! `Mul`, `Abs`, `Max`, `RealDiv`, `DivNoNan`, `Round`), which TF 2.x, the
//! TF1 loader and TensorFlow Serving's C++ loader all run on CPU and GPU;
//! `Dequantize` would need the `qint8` dtype and its min/max-range
//! convention instead of a plain int8 and scales.
//!
//! int8 in the save half recomputes the scales from the current value
//! exactly as the export did (`max|x|` over all but the last axis, `/127`,
//! `DivNoNan`, `Round` to even), so a save/restore round trip stores what a
//! fresh export would.

use super::nodes::{NodeBuilder, bool_attr, node, type_attr};
use crate::format::proto::{AttrValue, DataType, NodeDef};
use crate::format::tensor::{Tensor, Values};

/// How a variable is stored in `variables/`; its graph dtype never changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Storage {
    /// In the graph's dtype.
    #[default]
    AsIs,
    /// In another dtype, `Cast` back on restore (float16, int32).
    Cast(DataType),
    /// As int8 with float32 scales under `scales_key` (one per slice along
    /// the last axis of a tensor of rank `rank`, or one for rank 0 and 1).
    Int8 { scales_key: String, rank: usize },
}

impl Storage {
    /// The dtype in the bundle of a variable whose graph dtype is `dtype`.
    pub fn stored_dtype(&self, dtype: DataType) -> DataType {
        match self {
            Storage::AsIs => dtype,
            Storage::Cast(stored) => *stored,
            Storage::Int8 { .. } => DataType::DtInt8,
        }
    }
}

/// What the save half writes for one variable: its (converted) value, and
/// its scales for int8.
pub struct SaveInputs {
    pub nodes: Vec<NodeDef>,
    pub value: String,
    pub scales: Option<String>,
}

/// The save-half nodes, under `prefix`, turning `read` (the variable's
/// value, of `dtype`) into its stored form.
pub fn to_stored(prefix: &str, read: &str, dtype: DataType, storage: &Storage) -> SaveInputs {
    let n = |suffix: &str| format!("{prefix}/{suffix}");
    match storage {
        Storage::AsIs => SaveInputs {
            nodes: Vec::new(),
            value: read.to_string(),
            scales: None,
        },
        Storage::Cast(stored) => SaveInputs {
            nodes: vec![cast(&n("Cast"), read, dtype, *stored)],
            value: n("Cast"),
            scales: None,
        },
        Storage::Int8 { rank, .. } => quantize(prefix, read, *rank),
    }
}

/// `round(x / (max|x| / 127))` as int8, with `max` over every axis but the
/// last (all axes for rank 0 and 1).
fn quantize(prefix: &str, read: &str, rank: usize) -> SaveInputs {
    let n = |suffix: &str| format!("{prefix}/{suffix}");
    let float = || type_attr(DataType::DtFloat);
    let axes = reduced_axes(rank);
    let nodes = vec![
        node("Abs", &n("Abs"), [read]).attr("T", float()).build(),
        const_node(
            &n("axes"),
            &Tensor {
                dtype: DataType::DtInt32,
                shape: vec![axes.len() as i64],
                values: Values::I32(axes),
            },
        ),
        node("Max", &n("MaxAbs"), [n("Abs"), n("axes")])
            .attr("T", float())
            .attr("Tidx", type_attr(DataType::DtInt32))
            .attr("keep_dims", bool_attr(false))
            .build(),
        const_node(
            &n("levels"),
            &Tensor {
                dtype: DataType::DtFloat,
                shape: Vec::new(),
                values: Values::F32(vec![127.0]),
            },
        ),
        binary("RealDiv", &n("scales"), &n("MaxAbs"), &n("levels")),
        binary("DivNoNan", &n("DivNoNan"), read, &n("scales")),
        node("Round", &n("Round"), [n("DivNoNan")])
            .attr("T", float())
            .build(),
        cast(&n("Cast"), &n("Round"), DataType::DtFloat, DataType::DtInt8),
    ];
    SaveInputs {
        nodes,
        value: n("Cast"),
        scales: Some(n("scales")),
    }
}

/// The axes the max-abs runs over: all but the last for rank >= 2, the
/// only one of a vector, none of a scalar.
fn reduced_axes(rank: usize) -> Vec<i32> {
    let count = match rank {
        0 | 1 => rank,
        _ => rank - 1,
    };
    (0..count).map(|a| a as i32).collect()
}

/// The restore-half nodes, under `prefix`, turning `restored` (and the
/// restored `scales` for int8) back into `dtype`; returns them and the
/// tensor to assign.
pub fn from_stored(
    prefix: &str,
    restored: &str,
    scales: Option<&str>,
    dtype: DataType,
    storage: &Storage,
) -> (Vec<NodeDef>, String) {
    let n = |suffix: &str| format!("{prefix}/{suffix}");
    match (storage, scales) {
        (Storage::AsIs, _) => (Vec::new(), restored.to_string()),
        (Storage::Cast(stored), _) => (vec![cast(&n("Cast"), restored, *stored, dtype)], n("Cast")),
        (Storage::Int8 { .. }, scales) => {
            let cast = cast(&n("Cast"), restored, DataType::DtInt8, DataType::DtFloat);
            let mut nodes = vec![cast];
            let Some(scales) = scales else {
                return (nodes, n("Cast"));
            };
            nodes.push(binary("Mul", &n("Mul"), &n("Cast"), scales));
            (nodes, n("Mul"))
        }
    }
}

fn cast(name: &str, input: &str, from: DataType, to: DataType) -> NodeDef {
    node("Cast", name, [input])
        .attr("SrcT", type_attr(from))
        .attr("DstT", type_attr(to))
        .attr("Truncate", bool_attr(false))
        .build()
}

/// A float32 binary op.
fn binary(op: &str, name: &str, x: &str, y: &str) -> NodeDef {
    node(op, name, [x, y])
        .attr("T", type_attr(DataType::DtFloat))
        .build()
}

fn const_node(name: &str, value: &Tensor) -> NodeDef {
    let builder: NodeBuilder = node("Const", name, std::iter::empty::<String>());
    builder
        .attr("dtype", type_attr(value.dtype))
        .attr(
            "value",
            AttrValue {
                value: Some(crate::format::proto::attr_value::Value::Tensor(Box::new(
                    value.to_proto(),
                ))),
            },
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::super::{SavedVariable, VariableKind, build_saver};
    use super::*;
    use crate::format::proto::attr_value::Value;

    fn dtypes(node: &NodeDef) -> Vec<DataType> {
        match node.attr.get("dtypes").and_then(|a| a.value.as_ref()) {
            Some(Value::List(list)) => list
                .r#type
                .iter()
                .map(|&t| DataType::try_from(t).unwrap())
                .collect(),
            _ => panic!("{} has no dtypes", node.name),
        }
    }

    fn saved(node: &str, storage: Storage) -> SavedVariable {
        SavedVariable {
            node: node.into(),
            kind: VariableKind::Resource,
            dtype: DataType::DtFloat,
            checkpoint_key: node.into(),
            slice_spec: String::new(),
            read_tensor: format!("{node}/Read/ReadVariableOp"),
            storage,
        }
    }

    fn find<'a>(nodes: &'a [NodeDef], name: &str) -> &'a NodeDef {
        nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    #[test]
    fn the_max_abs_reduces_every_axis_but_the_last() {
        assert_eq!(reduced_axes(0), Vec::<i32>::new());
        assert_eq!(reduced_axes(1), [0]);
        assert_eq!(reduced_axes(2), [0]);
        assert_eq!(reduced_axes(4), [0, 1, 2]);
    }

    #[test]
    fn the_restore_reads_stored_dtypes_and_converts_before_assigning() {
        let int8 = Storage::Int8 {
            scales_key: "w/int8_scales".into(),
            rank: 2,
        };
        let vars = [
            saved("w", int8),
            saved("b", Storage::Cast(DataType::DtHalf)),
        ];
        let saver = build_saver::<String>(&vars, &Default::default());
        let restore = find(&saver.nodes, "save/RestoreV2");
        // Sorted by key: b (half), w (int8), w/int8_scales (float).
        assert_eq!(
            dtypes(restore),
            [DataType::DtHalf, DataType::DtInt8, DataType::DtFloat]
        );
        let mul = find(&saver.nodes, "save/from_stored/w/Mul");
        assert_eq!(mul.input, ["save/from_stored/w/Cast", "save/RestoreV2:2"]);
        assert_eq!(
            find(&saver.nodes, "save/from_stored/w/Cast").input,
            ["save/RestoreV2:1"]
        );
        let cast_b = find(&saver.nodes, "save/from_stored/b/Cast");
        assert_eq!(cast_b.input, ["save/RestoreV2"]);
        let save = find(&saver.nodes, "save/SaveV2");
        assert_eq!(
            save.input[3..],
            [
                "save/to_stored/b/Cast",
                "save/to_stored/w/Cast",
                "save/to_stored/w/scales"
            ]
        );
        assert_eq!(dtypes(find(&saver.nodes, "save/SaveV2")), dtypes(restore));
        let max = find(&saver.nodes, "save/to_stored/w/MaxAbs");
        assert_eq!(max.input, ["save/to_stored/w/Abs", "save/to_stored/w/axes"]);
    }
}
