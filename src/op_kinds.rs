//! What an op is, decided by its type alone: facts that reading, typing,
//! passes and writing all need about the same ops, written down once so
//! the stages cannot disagree.

/// Ops whose node is a variable: it holds state that a saver restores from
/// the checkpoint. The union of the variable ops TensorFlow's saver accepts:
/// `VariableV2`, the older `Variable` and `AutoReloadVariable` (reference
/// variables), and `VarHandleOp` (a resource variable's handle).
pub fn is_variable_op(op: &str) -> bool {
    matches!(
        op,
        "VariableV2" | "Variable" | "AutoReloadVariable" | "VarHandleOp"
    )
}

/// A variable read through a resource handle (`ReadVariableOp`), not a
/// reference (`Identity`).
pub fn is_resource_variable_op(op: &str) -> bool {
    op == "VarHandleOp"
}

/// The ops of a TF1 while loop's frame: a value enters, leaves, or goes
/// round again, unchanged.
pub fn is_frame_op(op: &str) -> bool {
    matches!(
        op,
        "Enter" | "RefEnter" | "Exit" | "RefExit" | "NextIteration" | "RefNextIteration"
    )
}

/// The ops TF1 control flow (`tf.cond`, `tf.while_loop`) is made of.
pub fn is_control_flow_op(op: &str) -> bool {
    is_frame_op(op)
        || matches!(
            op,
            "Switch" | "RefSwitch" | "Merge" | "RefMerge" | "LoopCond"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_op_and_nothing_that_only_reads_one() {
        for op in [
            "VariableV2",
            "Variable",
            "AutoReloadVariable",
            "VarHandleOp",
        ] {
            assert!(is_variable_op(op), "{op}");
        }
        for op in [
            "ReadVariableOp",
            "Identity",
            "Assign",
            "VariableShape",
            "Const",
        ] {
            assert!(!is_variable_op(op), "{op}");
        }
        assert!(is_resource_variable_op("VarHandleOp"));
        assert!(!is_resource_variable_op("VariableV2"));
    }
}
