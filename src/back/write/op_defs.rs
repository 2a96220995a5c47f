//! Signatures of the ops the writer itself may add (placeholders, the
//! restore subgraph and its storage conversions, variable reads, the init
//! op, the tf.Example parse and the classify labels) and of those freezing
//! turns a variable's readers into (gathers, shapes, the value forms of
//! control flow over references and handles), so the exported
//! `stripped_op_list` names every op even when the training graph never used
//! one of them. Everything else comes from the training MetaGraphDef's list.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::format::proto::{OpDef, OpList};

const BUILTIN: &str = r#"
op { name: "Placeholder"
  output_arg { name: "output" type_attr: "dtype" }
  attr { name: "dtype" type: "type" }
  attr { name: "shape" type: "shape" default_value { shape { unknown_rank: true } } } }
op { name: "PlaceholderWithDefault"
  input_arg { name: "input" type_attr: "dtype" }
  output_arg { name: "output" type_attr: "dtype" }
  attr { name: "dtype" type: "type" }
  attr { name: "shape" type: "shape" } }
op { name: "Const"
  output_arg { name: "output" type_attr: "dtype" }
  attr { name: "value" type: "tensor" }
  attr { name: "dtype" type: "type" } }
op { name: "Identity"
  input_arg { name: "input" type_attr: "T" }
  output_arg { name: "output" type_attr: "T" }
  attr { name: "T" type: "type" } }
op { name: "NoOp" }
op { name: "ReadVariableOp"
  input_arg { name: "resource" type: DT_RESOURCE }
  output_arg { name: "value" type_attr: "dtype" }
  attr { name: "dtype" type: "type" }
  is_stateful: true }
op { name: "AssignVariableOp"
  input_arg { name: "resource" type: DT_RESOURCE }
  input_arg { name: "value" type_attr: "dtype" }
  attr { name: "dtype" type: "type" }
  is_stateful: true }
op { name: "Assign"
  input_arg { name: "ref" type_attr: "T" is_ref: true }
  input_arg { name: "value" type_attr: "T" }
  output_arg { name: "output_ref" type_attr: "T" is_ref: true }
  attr { name: "T" type: "type" }
  attr { name: "validate_shape" type: "bool" default_value { b: true } }
  attr { name: "use_locking" type: "bool" default_value { b: true } }
  allows_uninitialized_input: true }
op { name: "SaveV2"
  input_arg { name: "prefix" type: DT_STRING }
  input_arg { name: "tensor_names" type: DT_STRING }
  input_arg { name: "shape_and_slices" type: DT_STRING }
  input_arg { name: "tensors" type_list_attr: "dtypes" }
  attr { name: "dtypes" type: "list(type)" has_minimum: true minimum: 1 }
  is_stateful: true }
op { name: "RestoreV2"
  input_arg { name: "prefix" type: DT_STRING }
  input_arg { name: "tensor_names" type: DT_STRING }
  input_arg { name: "shape_and_slices" type: DT_STRING }
  output_arg { name: "tensors" type_list_attr: "dtypes" }
  attr { name: "dtypes" type: "list(type)" has_minimum: true minimum: 1 }
  is_stateful: true }
op { name: "Gather"
  input_arg { name: "params" type_attr: "Tparams" }
  input_arg { name: "indices" type_attr: "Tindices" }
  output_arg { name: "output" type_attr: "Tparams" }
  attr { name: "validate_indices" type: "bool" default_value { b: true } }
  attr { name: "Tparams" type: "type" }
  attr { name: "Tindices" type: "type"
    allowed_values { list { type: DT_INT32 type: DT_INT64 } } } }
op { name: "GatherV2"
  input_arg { name: "params" type_attr: "Tparams" }
  input_arg { name: "indices" type_attr: "Tindices" }
  input_arg { name: "axis" type_attr: "Taxis" }
  output_arg { name: "output" type_attr: "Tparams" }
  attr { name: "batch_dims" type: "int" default_value { i: 0 } }
  attr { name: "Tparams" type: "type" }
  attr { name: "Tindices" type: "type"
    allowed_values { list { type: DT_INT16 type: DT_INT32 type: DT_INT64 } } }
  attr { name: "Taxis" type: "type"
    allowed_values { list { type: DT_INT32 type: DT_INT64 } } } }
op { name: "Shape"
  input_arg { name: "input" type_attr: "T" }
  output_arg { name: "output" type_attr: "out_type" }
  attr { name: "T" type: "type" }
  attr { name: "out_type" type: "type" default_value { type: DT_INT32 }
    allowed_values { list { type: DT_INT32 type: DT_INT64 } } } }
op { name: "Enter"
  input_arg { name: "data" type_attr: "T" }
  output_arg { name: "output" type_attr: "T" }
  attr { name: "T" type: "type" }
  attr { name: "frame_name" type: "string" }
  attr { name: "is_constant" type: "bool" default_value { b: false } }
  attr { name: "parallel_iterations" type: "int" default_value { i: 10 } } }
op { name: "Exit"
  input_arg { name: "data" type_attr: "T" }
  output_arg { name: "output" type_attr: "T" }
  attr { name: "T" type: "type" } }
op { name: "Switch"
  input_arg { name: "data" type_attr: "T" }
  input_arg { name: "pred" type: DT_BOOL }
  output_arg { name: "output_false" type_attr: "T" }
  output_arg { name: "output_true" type_attr: "T" }
  attr { name: "T" type: "type" } }
op { name: "Merge"
  input_arg { name: "inputs" type_attr: "T" number_attr: "N" }
  output_arg { name: "output" type_attr: "T" }
  output_arg { name: "value_index" type: DT_INT32 }
  attr { name: "T" type: "type" }
  attr { name: "N" type: "int" has_minimum: true minimum: 1 } }
op { name: "NextIteration"
  input_arg { name: "data" type_attr: "T" }
  output_arg { name: "output" type_attr: "T" }
  attr { name: "T" type: "type" } }
op { name: "Cast"
  input_arg { name: "x" type_attr: "SrcT" }
  output_arg { name: "y" type_attr: "DstT" }
  attr { name: "SrcT" type: "type" }
  attr { name: "DstT" type: "type" }
  attr { name: "Truncate" type: "bool" default_value { b: false } } }
op { name: "Mul"
  input_arg { name: "x" type_attr: "T" }
  input_arg { name: "y" type_attr: "T" }
  output_arg { name: "z" type_attr: "T" }
  attr { name: "T" type: "type" allowed_values { list {
    type: DT_BFLOAT16 type: DT_HALF type: DT_FLOAT type: DT_DOUBLE type: DT_UINT8 type: DT_INT8
    type: DT_UINT16 type: DT_INT16 type: DT_INT32 type: DT_UINT32 type: DT_UINT64 type: DT_INT64
    type: DT_COMPLEX64 type: DT_COMPLEX128 } } }
  is_commutative: true }
op { name: "Abs"
  input_arg { name: "x" type_attr: "T" }
  output_arg { name: "y" type_attr: "T" }
  attr { name: "T" type: "type" allowed_values { list {
    type: DT_BFLOAT16 type: DT_HALF type: DT_FLOAT type: DT_DOUBLE type: DT_INT8 type: DT_INT16
    type: DT_INT32 type: DT_INT64 } } } }
op { name: "Max"
  input_arg { name: "input" type_attr: "T" }
  input_arg { name: "reduction_indices" type_attr: "Tidx" }
  output_arg { name: "output" type_attr: "T" }
  attr { name: "keep_dims" type: "bool" default_value { b: false } }
  attr { name: "T" type: "type" allowed_values { list {
    type: DT_FLOAT type: DT_DOUBLE type: DT_INT32 type: DT_UINT8 type: DT_INT16 type: DT_INT8
    type: DT_INT64 type: DT_BFLOAT16 type: DT_UINT16 type: DT_HALF type: DT_UINT32 type: DT_UINT64
    type: DT_QINT8 type: DT_QUINT8 type: DT_QINT32 type: DT_QINT16 type: DT_QUINT16 } } }
  attr { name: "Tidx" type: "type" default_value { type: DT_INT32 }
    allowed_values { list { type: DT_INT32 type: DT_INT64 } } } }
op { name: "RealDiv"
  input_arg { name: "x" type_attr: "T" }
  input_arg { name: "y" type_attr: "T" }
  output_arg { name: "z" type_attr: "T" }
  attr { name: "T" type: "type" allowed_values { list {
    type: DT_BFLOAT16 type: DT_HALF type: DT_FLOAT type: DT_DOUBLE type: DT_UINT8 type: DT_INT8
    type: DT_UINT16 type: DT_INT16 type: DT_INT32 type: DT_UINT32 type: DT_UINT64 type: DT_INT64
    type: DT_COMPLEX64 type: DT_COMPLEX128 } } } }
op { name: "DivNoNan"
  input_arg { name: "x" type_attr: "T" }
  input_arg { name: "y" type_attr: "T" }
  output_arg { name: "z" type_attr: "T" }
  attr { name: "T" type: "type" allowed_values { list {
    type: DT_HALF type: DT_FLOAT type: DT_BFLOAT16 type: DT_DOUBLE type: DT_COMPLEX64
    type: DT_COMPLEX128 } } } }
op { name: "Round"
  input_arg { name: "x" type_attr: "T" }
  output_arg { name: "y" type_attr: "T" }
  attr { name: "T" type: "type" allowed_values { list {
    type: DT_BFLOAT16 type: DT_HALF type: DT_FLOAT type: DT_DOUBLE type: DT_INT8 type: DT_INT16
    type: DT_INT32 type: DT_INT64 type: DT_COMPLEX64 type: DT_COMPLEX128 } } } }
op { name: "BroadcastTo"
  input_arg { name: "input" type_attr: "T" }
  input_arg { name: "shape" type_attr: "Tidx" }
  output_arg { name: "output" type_attr: "T" }
  attr { name: "T" type: "type" }
  attr { name: "Tidx" type: "type" default_value { type: DT_INT32 }
    allowed_values { list { type: DT_INT32 type: DT_INT64 } } } }
op { name: "ParseExampleV2"
  input_arg { name: "serialized" type: DT_STRING }
  input_arg { name: "names" type: DT_STRING }
  input_arg { name: "sparse_keys" type: DT_STRING }
  input_arg { name: "dense_keys" type: DT_STRING }
  input_arg { name: "ragged_keys" type: DT_STRING }
  input_arg { name: "dense_defaults" type_list_attr: "Tdense" }
  output_arg { name: "sparse_indices" type: DT_INT64 number_attr: "num_sparse" }
  output_arg { name: "sparse_values" type_list_attr: "sparse_types" }
  output_arg { name: "sparse_shapes" type: DT_INT64 number_attr: "num_sparse" }
  output_arg { name: "dense_values" type_list_attr: "Tdense" }
  output_arg { name: "ragged_values" type_list_attr: "ragged_value_types" }
  output_arg { name: "ragged_row_splits" type_list_attr: "ragged_split_types" }
  attr { name: "Tdense" type: "list(type)" has_minimum: true
    allowed_values { list { type: DT_FLOAT type: DT_INT64 type: DT_STRING } } }
  attr { name: "num_sparse" type: "int" has_minimum: true }
  attr { name: "sparse_types" type: "list(type)" has_minimum: true
    allowed_values { list { type: DT_FLOAT type: DT_INT64 type: DT_STRING } } }
  attr { name: "ragged_value_types" type: "list(type)" has_minimum: true
    allowed_values { list { type: DT_FLOAT type: DT_INT64 type: DT_STRING } } }
  attr { name: "ragged_split_types" type: "list(type)" has_minimum: true
    allowed_values { list { type: DT_INT32 type: DT_INT64 } } }
  attr { name: "dense_shapes" type: "list(shape)" has_minimum: true } }
"#;

/// Built-in op definitions by name.
pub fn builtin_op_defs() -> &'static BTreeMap<String, OpDef> {
    static DEFS: OnceLock<BTreeMap<String, OpDef>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let list: OpList = crate::format::text::parse_text("tensorflow.OpList", BUILTIN)
            .expect("the built-in op list is valid text format");
        list.op
            .into_iter()
            .map(|op| (op.name.clone(), op))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_every_builtin_op() {
        let defs = super::builtin_op_defs();
        assert_eq!(defs.len(), 27);
        assert!(defs["Assign"].input_arg[0].is_ref);
        assert_eq!(defs["Merge"].input_arg[0].number_attr, "N");
        assert_eq!(defs["GatherV2"].input_arg.len(), 3);
    }
}
