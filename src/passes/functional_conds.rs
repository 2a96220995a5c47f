//! Functional training conds resolved to inference. With control flow v2
//! (TensorFlow 2.x, tf_keras in graph mode) a cond is one `If` /
//! `StatelessIf` node whose branches are library functions, or a `Case` /
//! `StatelessCase` choosing among several. Once the training flags are the
//! constant `false`, a cond whose predicate (or branch index) is constant —
//! through `Identity`-like ops, `LogicalNot` and `Cast` — is replaced by the
//! body of the branch it always takes, inlined ([`crate::ir::inline`]): its
//! outputs read the branch's results, its control consumers wait for the
//! body. The branch functions then have no caller left, and the metadata
//! pass drops them from the library.
//!
//! Only conds a signature output depends on are folded (the others, such as
//! the gradient conds of training, are pruned anyway). Inlined bodies may
//! hold conds of their own; folding repeats, at most
//! [`MAX_INLINE_ROUNDS`] times and adding at most [`MAX_INLINED_NODES`]
//! nodes. Conds whose predicate is not constant are left alone.

use std::collections::HashMap;

use super::{PassError, PassReport, Removal};
use crate::format::proto::attr_value::Value;
use crate::format::proto::{FunctionDef, NameAttrList, TensorProto};
use crate::ir::constants::FORWARDING_OPS;
use crate::ir::inline::{InlinePlan, plan_inline};
use crate::ir::{AttrExt, DataType, Graph, IrError, NodeId, TensorRef};
use crate::model::Model;
use crate::ops::OpSignatures;

/// How many times folding may find conds inside freshly inlined bodies.
pub const MAX_INLINE_ROUNDS: usize = 32;

/// How many nodes folding may add in all: branches that each hold several
/// conds of themselves would otherwise double the graph every round.
pub const MAX_INLINED_NODES: usize = 1 << 20;

/// A scalar known at export time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Bool(bool),
    Int(i64),
}

impl Scalar {
    /// TensorFlow's truth of an `If` predicate: non-zero numbers are true.
    fn truth(self) -> bool {
        match self {
            Scalar::Bool(b) => b,
            Scalar::Int(i) => i != 0,
        }
    }
}

/// A cond to fold: the node, the branch it always takes, and which one.
struct Fold {
    call: NodeId,
    branch: NameAttrList,
    taken: String,
}

/// Folds every functional cond with a constant predicate that a signature
/// output needs, reporting each (node, branch taken, nodes inlined).
pub fn fold_functional_conds(model: &mut Model, report: &mut PassReport) -> Result<(), PassError> {
    let mut inlined = 0;
    for _ in 0..MAX_INLINE_ROUNDS {
        let folds = foldable_conds(model)?;
        if folds.is_empty() {
            return Ok(());
        }
        for fold in folds {
            let call = model.graph.name(fold.call).to_string();
            let function = fold.branch.name.clone();
            inlined += inline_branch(model, fold, report)?;
            if inlined > MAX_INLINED_NODES {
                let reason = format!("folding conds would inline over {MAX_INLINED_NODES} nodes");
                return Err(IrError::Inline {
                    call,
                    function,
                    reason,
                }
                .into());
            }
        }
    }
    if !foldable_conds(model)?.is_empty() {
        report.note(format!(
            "functional conds nested deeper than {MAX_INLINE_ROUNDS} levels were left as they are"
        ));
    }
    Ok(())
}

/// The conds the signature outputs need whose branch is known.
fn foldable_conds(model: &Model) -> Result<Vec<Fold>, PassError> {
    let graph = &model.graph;
    // Most graphs have no functional cond: then there is nothing to order,
    // evaluate or trace back from the outputs.
    if !graph.node_ids().into_iter().any(|id| is_cond(graph.op(id))) {
        return Ok(Vec::new());
    }
    let order = graph.topological_order()?;
    let known = constant_scalars(graph, &order);
    let needed = graph.reachable_backwards(model.output_nodes());
    Ok(order
        .into_iter()
        .filter(|id| needed.contains(id))
        .filter_map(|id| chosen_branch(graph, id, &known))
        .collect())
}

/// The ops [`chosen_branch`] can fold.
fn is_cond(op: &str) -> bool {
    matches!(op, "If" | "StatelessIf" | "Case" | "StatelessCase")
}

/// The branch a functional cond always takes, when its selector is known.
fn chosen_branch(graph: &Graph, id: NodeId, known: &HashMap<TensorRef, Scalar>) -> Option<Fold> {
    let node = graph.node(id);
    let selector = graph.data_input(id, 0).and_then(|t| known.get(&t))?;
    let (branch, taken) = match node.op.as_str() {
        "If" | "StatelessIf" => {
            let (key, taken) = if selector.truth() {
                ("then_branch", "then")
            } else {
                ("else_branch", "else")
            };
            match node.attr_value(key).ok()? {
                Value::Func(f) => (f.clone(), taken.to_string()),
                _ => return None,
            }
        }
        "Case" | "StatelessCase" => {
            let Scalar::Int(index) = *selector else {
                return None;
            };
            let Value::List(list) = node.attr_value("branches").ok()? else {
                return None;
            };
            // Out of range runs the last branch, as TensorFlow's Case does.
            let last = list.func.len().checked_sub(1)?;
            let chosen = usize::try_from(index)
                .ok()
                .filter(|&i| i <= last)
                .unwrap_or(last);
            (list.func.get(chosen)?.clone(), format!("branch {chosen}"))
        }
        _ => return None,
    };
    Some(Fold {
        call: id,
        branch,
        taken,
    })
}

/// Replaces `fold.call` by the body of its chosen branch; returns how many
/// nodes were added.
fn inline_branch(
    model: &mut Model,
    fold: Fold,
    report: &mut PassReport,
) -> Result<usize, PassError> {
    let call_name = model.graph.name(fold.call).to_string();
    let op = model.graph.op(fold.call).to_string();
    let function = library_function(&model.graph, &call_name, &fold.branch.name)?;
    let plan = plan_branch(model, &call_name, &function, &fold)?;
    check_outputs_fit(
        &model.graph,
        fold.call,
        plan.output_count(),
        &fold.branch.name,
    )?;
    let args: Vec<TensorRef> = model
        .graph
        .data_inputs(fold.call)
        .into_iter()
        .skip(1)
        .collect();
    let inlined = model.graph.apply_inline(fold.call, &args, plan)?;
    rewire_outputs(model, &fold, &inlined.outputs, report);
    model.graph.rewire_control(fold.call, inlined.done);
    if let Some(node) = model.graph.remove_node(fold.call) {
        report.removed(Removal::FoldedCond, node.name());
    }
    let unread = drop_unread(model, &inlined.nodes, report);
    list_inlined_ops(model, &inlined.nodes);
    let kept: Vec<String> = inlined
        .nodes
        .iter()
        .filter(|&&id| model.graph.contains(id))
        .map(|&id| model.graph.name(id).to_string())
        .collect();
    let unread = match unread {
        0 => String::new(),
        n => format!("; {n} inlined nodes computed only what nothing reads and were removed"),
    };
    report.note(format!(
        "functional cond {call_name:?} ({op}) folded onto its {} branch: {} nodes of {:?} inlined{unread}",
        fold.taken,
        kept.len(),
        fold.branch.name,
    ));
    report.added.extend(kept);
    Ok(inlined.nodes.len())
}

/// The inline plan of the chosen branch `function` at `call_name`, its
/// outputs' ports found through the op signatures the model knows (the
/// graph's ops and its library's).
fn plan_branch(
    model: &Model,
    call_name: &str,
    function: &FunctionDef,
    fold: &Fold,
) -> Result<InlinePlan, PassError> {
    let ops = OpSignatures::of(model);
    let port_of = |def: &crate::format::proto::NodeDef, arg: &str, index: usize| {
        let op = ops.get(&def.op)?;
        crate::typing::output_arg_port(op, &def.attr, arg, index)
    };
    Ok(plan_inline(
        call_name,
        function,
        &fold.branch.attr,
        &port_of,
    )?)
}

/// Points every reader of the cond's outputs at the inlined branch's
/// `outputs`, reporting each rewiring.
fn rewire_outputs(model: &mut Model, fold: &Fold, outputs: &[TensorRef], report: &mut PassReport) {
    for (port, &tensor) in outputs.iter().enumerate() {
        let output = TensorRef::new(fold.call, port);
        let (from, to) = (
            model.graph.tensor_name(output),
            model.graph.tensor_name(tensor),
        );
        if model.rewire(output, tensor) > 0 {
            let why = format!("output of a cond folded onto its {} branch", fold.taken);
            report.rewired(from, to, why);
        }
    }
}

/// Ops that lived only inside library functions are missing from the
/// training graph's op list, which becomes the export's `stripped_op_list`:
/// each gets TensorFlow's registry entry for it (name and output arguments).
fn list_inlined_ops(model: &mut Model, inlined: &[NodeId]) {
    for &id in inlined.iter().filter(|&&id| model.graph.contains(id)) {
        let op = model.graph.op(id);
        if !model.op_defs.contains_key(op)
            && let Some(def) = crate::ops::tensorflow_op(op)
        {
            model.op_defs.insert(op.to_string(), def.clone());
        }
    }
}

/// Removes the inlined nodes nothing reads (branch outputs only the
/// training graph used), then what only they read among the inlined nodes;
/// returns how many.
fn drop_unread(model: &mut Model, inlined: &[NodeId], report: &mut PassReport) -> usize {
    let served = model.output_nodes();
    let candidates: std::collections::HashSet<NodeId> = inlined.iter().copied().collect();
    let mut pending: Vec<NodeId> = inlined.to_vec();
    let mut dropped = 0;
    while let Some(id) = pending.pop() {
        let unread = model.graph.contains(id)
            && model.graph.consumers(id).is_empty()
            && !served.contains(&id);
        if !unread {
            continue;
        }
        let producers = model.graph.producers(id);
        if let Some(node) = model.graph.remove_node(id) {
            report.removed(Removal::Unused, node.name());
            dropped += 1;
        }
        pending.extend(producers.into_iter().filter(|p| candidates.contains(p)));
    }
    dropped
}

/// A copy of library function `name`, or an error naming the cond.
fn library_function(graph: &Graph, call: &str, name: &str) -> Result<FunctionDef, IrError> {
    graph
        .library
        .iter()
        .flat_map(|l| &l.function)
        .find(|f| f.signature.as_ref().is_some_and(|s| s.name == name))
        .cloned()
        .ok_or_else(|| IrError::Inline {
            call: call.into(),
            function: name.into(),
            reason: "the graph's function library has no such function".into(),
        })
}

/// Every output of the cond that is read must be one the branch returns.
fn check_outputs_fit(
    graph: &Graph,
    call: NodeId,
    outputs: usize,
    function: &str,
) -> Result<(), IrError> {
    let read = graph
        .consumers(call)
        .into_iter()
        .flat_map(|c| graph.data_inputs(c))
        .filter(|t| t.node == call)
        .map(|t| t.port)
        .max();
    match read {
        Some(port) if port >= outputs => Err(IrError::Inline {
            call: graph.name(call).into(),
            function: function.into(),
            reason: format!("output {port} is read, the branch returns {outputs}"),
        }),
        _ => Ok(()),
    }
}

/// Scalar bools and ints known from constants, in topological order.
fn constant_scalars(graph: &Graph, order: &[NodeId]) -> HashMap<TensorRef, Scalar> {
    let mut known = HashMap::new();
    for &id in order {
        let node = graph.node(id);
        let input = || graph.data_input(id, 0).and_then(|t| known.get(&t).copied());
        let value = match node.op.as_str() {
            "Const" => node.attr_tensor("value").ok().and_then(scalar_of),
            op if FORWARDING_OPS.contains(&op) => input(),
            "LogicalNot" => match input() {
                Some(Scalar::Bool(b)) => Some(Scalar::Bool(!b)),
                _ => None,
            },
            "Cast" => input().and_then(|v| cast(v, node.attr_type("DstT").ok()?)),
            _ => None,
        };
        if let Some(value) = value {
            known.insert(TensorRef::new(id, 0), value);
        }
    }
    known
}

/// A `Cast` of a known scalar to bool or an integer type.
fn cast(value: Scalar, to: DataType) -> Option<Scalar> {
    use DataType::*;
    match to {
        DtBool => Some(Scalar::Bool(value.truth())),
        DtInt8 | DtInt16 | DtInt32 | DtInt64 | DtUint8 | DtUint16 | DtUint32 | DtUint64 => {
            Some(Scalar::Int(match value {
                Scalar::Bool(b) => i64::from(b),
                Scalar::Int(i) => i,
            }))
        }
        _ => None,
    }
}

/// The value of a one-element bool or int32/int64 tensor.
fn scalar_of(tensor: &TensorProto) -> Option<Scalar> {
    let dims = tensor
        .tensor_shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or(&[]);
    if dims.iter().any(|d| d.size != 1) {
        return None;
    }
    let content = &tensor.tensor_content;
    match DataType::try_from(tensor.dtype).ok()? {
        DataType::DtBool => crate::ir::constants::scalar_bool(tensor).map(Scalar::Bool),
        DataType::DtInt32 => tensor
            .int_val
            .first()
            .map(|&v| i64::from(v))
            .or_else(|| {
                Some(i64::from(i32::from_le_bytes(
                    content.get(..4)?.try_into().ok()?,
                )))
            })
            .map(Scalar::Int),
        DataType::DtInt64 => tensor
            .int64_val
            .first()
            .copied()
            .or_else(|| Some(i64::from_le_bytes(content.get(..8)?.try_into().ok()?)))
            .map(Scalar::Int),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::attr_value::ListValue;
    use crate::format::proto::op_def::ArgDef;
    use crate::format::proto::{AttrValue, FunctionDefLibrary, NodeDef, OpDef};
    use crate::passes::conds::TrainingCondsPass;
    use crate::passes::testing::{TestNode, node, serving_model};
    use crate::passes::{Pass, PassContext};

    fn func(name: &str) -> AttrValue {
        AttrValue {
            value: Some(Value::Func(NameAttrList {
                name: name.into(),
                ..Default::default()
            })),
        }
    }

    fn def(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// A one-input, one-output function: `body` then `ret`.
    fn function(name: &str, body: Vec<NodeDef>, ret: &str) -> FunctionDef {
        let arg = |n: &str| ArgDef {
            name: n.into(),
            ..Default::default()
        };
        FunctionDef {
            signature: Some(OpDef {
                name: name.into(),
                input_arg: vec![arg("x")],
                output_arg: vec![arg("y")],
                ..Default::default()
            }),
            node_def: body,
            ret: [("y".to_string(), ret.to_string())].into(),
            ..Default::default()
        }
    }

    /// Keras's dropout branch: `SelectV2(RandomUniform(Shape(x)) >= rate, x * scale, 0)`.
    fn dropout_branch(name: &str) -> FunctionDef {
        function(
            name,
            vec![
                def("scale", "Const", &[]),
                def("mul", "Mul", &["x", "scale:output:0"]),
                def("shape", "Shape", &["x"]),
                def("uniform", "RandomUniform", &["shape:output:0"]),
                def("rate", "Const", &[]),
                def(
                    "keep",
                    "GreaterEqual",
                    &["uniform:output:0", "rate:output:0"],
                ),
                def("zero", "Const", &[]),
                def(
                    "select",
                    "SelectV2",
                    &["keep:z:0", "mul:z:0", "zero:output:0"],
                ),
            ],
            "select:output:0",
        )
    }

    fn identity_branch(name: &str) -> FunctionDef {
        function(
            name,
            vec![def("Identity", "Identity", &["x"])],
            "Identity:output:0",
        )
    }

    fn cond(name: &str, op: &str, pred: &str, then: &str, otherwise: &str) -> TestNode {
        let mut n = node(name, op, &[pred, "x"]);
        n.attrs.insert("then_branch".into(), func(then));
        n.attrs.insert("else_branch".into(), func(otherwise));
        n
    }

    fn flag() -> Vec<TestNode> {
        vec![
            node("keras_learning_phase/input", "Const", &[]),
            node(
                "keras_learning_phase",
                "PlaceholderWithDefault",
                &["keras_learning_phase/input"],
            )
            .with_type("dtype", DataType::DtBool),
            node("x", "Placeholder", &[]),
        ]
    }

    fn model_with(nodes: Vec<TestNode>, functions: Vec<FunctionDef>) -> Model {
        let mut model = serving_model(nodes, "out:0");
        model.graph.library = Some(FunctionDefLibrary {
            function: functions,
            ..Default::default()
        });
        model
    }

    fn run(model: &mut Model) -> PassReport {
        TrainingCondsPass::new(vec![])
            .run(model, &mut PassContext::new())
            .unwrap()
    }

    fn ops(model: &Model) -> Vec<String> {
        let g = &model.graph;
        g.node_ids()
            .into_iter()
            .map(|id| g.op(id).to_string())
            .collect()
    }

    #[test]
    fn a_learning_phase_if_becomes_its_inlined_else_branch() {
        let mut nodes = flag();
        nodes.push(cond(
            "dropout/cond",
            "If",
            "keras_learning_phase",
            "train",
            "infer",
        ));
        nodes.push(node("dropout/cond/Identity", "Identity", &["dropout/cond"]));
        nodes.push(node("out", "Relu", &["dropout/cond/Identity"]));
        let mut model = model_with(
            nodes,
            vec![dropout_branch("train"), identity_branch("infer")],
        );
        let report = run(&mut model);
        assert!(
            !ops(&model).iter().any(|op| op == "If"),
            "{:?}",
            ops(&model)
        );
        let g = &model.graph;
        let read = g
            .data_input(g.find("dropout/cond/Identity").unwrap(), 0)
            .unwrap();
        assert_eq!(g.tensor_name(read), "dropout/cond/Identity_1:0");
        assert_eq!(g.tensor_name(g.data_input(read.node, 0).unwrap()), "x:0");
        assert_eq!(report.removed["folded-cond"], ["dropout/cond"]);
        assert_eq!(report.rewired.len(), 1, "{:?}", report.rewired);
        assert_eq!(report.rewired[0].from, "dropout/cond:0");
        assert_eq!(report.rewired[0].to, "dropout/cond/Identity_1:0");
        assert!(report.rewired[0].why.contains("else branch"));
        assert!(
            report.notes.iter().any(|n| n.contains(
                "\"dropout/cond\" (If) folded onto its else branch: 1 nodes of \"infer\""
            )),
            "{:?}",
            report.notes
        );
        // Neither branch is called any more: both go from the library.
        let mut dropped = model.graph.retain_called_functions();
        dropped.sort();
        assert_eq!(dropped, ["infer", "train"]);
        model.graph.validate().unwrap();
    }

    #[test]
    fn predicates_through_logical_not_and_cast_pick_the_then_branch() {
        let mut nodes = flag();
        nodes.push(node("not", "LogicalNot", &["keras_learning_phase"]));
        nodes.push(node("as_int", "Cast", &["not"]).with_type("DstT", DataType::DtInt32));
        nodes.push(cond("c", "StatelessIf", "as_int", "kept", "other"));
        nodes.push(node("out", "Relu", &["c"]));
        let mut model = model_with(
            nodes,
            vec![identity_branch("kept"), dropout_branch("other")],
        );
        let report = run(&mut model);
        assert!(
            report.notes.iter().any(|n| n.contains("then branch")),
            "{:?}",
            report.notes
        );
        assert!(
            !ops(&model)
                .iter()
                .any(|op| op == "StatelessIf" || op == "RandomUniform")
        );
    }

    fn case(index: i32) -> Model {
        let mut nodes = flag();
        nodes.push(crate::ir::constants::int32_const("index", index).into());
        let mut c = node("case", "Case", &["index", "x"]);
        let branches = ["b0", "b1", "b2"].iter().map(|b| match func(b).value {
            Some(Value::Func(f)) => f,
            _ => unreachable!(),
        });
        c.attrs.insert(
            "branches".into(),
            AttrValue {
                value: Some(Value::List(Box::new(ListValue {
                    func: branches.collect(),
                    ..Default::default()
                }))),
            },
        );
        nodes.push(c);
        nodes.push(node("out", "Relu", &["case"]));
        let neg = |name: &str| function(name, vec![def("n", "Neg", &["x"])], "n:y:0");
        model_with(
            nodes,
            vec![identity_branch("b0"), neg("b1"), dropout_branch("b2")],
        )
    }

    #[test]
    fn a_case_with_a_constant_index_takes_that_branch_and_the_last_when_out_of_range() {
        let mut model = case(1);
        let report = run(&mut model);
        assert!(
            report.notes.iter().any(|n| n.contains("branch 1")),
            "{:?}",
            report.notes
        );
        let g = &model.graph;
        assert_eq!(
            g.op(g.data_input(g.find("out").unwrap(), 0).unwrap().node),
            "Neg"
        );

        let mut model = case(7);
        let report = run(&mut model);
        assert!(
            report.notes.iter().any(|n| n.contains("branch 2")),
            "{:?}",
            report.notes
        );
    }

    #[test]
    fn conds_on_a_value_known_only_at_run_time_are_left_alone() {
        let mut nodes = flag();
        nodes.push(node("p", "Placeholder", &[]).with_type("dtype", DataType::DtBool));
        nodes.push(cond("c", "If", "p", "train", "infer"));
        nodes.push(node("out", "Relu", &["c"]));
        let mut model = model_with(
            nodes,
            vec![dropout_branch("train"), identity_branch("infer")],
        );
        run(&mut model);
        assert!(ops(&model).iter().any(|op| op == "If"));
    }

    #[test]
    fn an_if_nested_in_the_taken_branch_is_folded_too() {
        // The outer else branch passes the flag on to an inner If.
        let arg = |n: &str| ArgDef {
            name: n.into(),
            ..Default::default()
        };
        let mut inner = def("inner", "If", &["flag", "x"]);
        inner.attr.insert("then_branch".into(), func("train"));
        inner.attr.insert("else_branch".into(), func("infer"));
        let inner_tout = AttrValue {
            value: Some(Value::List(Box::new(ListValue {
                r#type: vec![DataType::DtFloat as i32],
                ..Default::default()
            }))),
        };
        inner.attr.insert("Tout".into(), inner_tout);
        let outer = FunctionDef {
            signature: Some(OpDef {
                name: "outer".into(),
                input_arg: vec![arg("flag"), arg("x")],
                output_arg: vec![arg("y")],
                ..Default::default()
            }),
            node_def: vec![inner],
            ret: [("y".to_string(), "inner:output:0".to_string())].into(),
            ..Default::default()
        };
        let mut nodes = flag();
        let mut c = node(
            "c",
            "If",
            &["keras_learning_phase", "keras_learning_phase", "x"],
        );
        c.attrs.insert("then_branch".into(), func("train"));
        c.attrs.insert("else_branch".into(), func("outer"));
        nodes.push(c);
        nodes.push(node("out", "Relu", &["c"]));
        let mut model = model_with(
            nodes,
            vec![outer, dropout_branch("train"), identity_branch("infer")],
        );
        let report = run(&mut model);
        assert_eq!(report.removed["folded-cond"], ["c", "c/inner"]);
        assert!(!ops(&model).iter().any(|op| op == "If"));
    }

    #[test]
    fn a_branch_missing_from_the_library_is_an_error_naming_the_cond() {
        let mut nodes = flag();
        nodes.push(cond("c", "If", "keras_learning_phase", "train", "gone"));
        nodes.push(node("out", "Relu", &["c"]));
        let mut model = model_with(nodes, vec![dropout_branch("train")]);
        let err = TrainingCondsPass::new(vec![])
            .run(&mut model, &mut PassContext::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"gone\"") && err.contains("\"c\""), "{err}");
    }
}
