//! The serving passes inside the library functions the serving graph still
//! calls (a non-constant functional cond's branches, a `PartitionedCall`'s
//! function, functions those call). Each body becomes a graph of its own
//! ([`FunctionBody`]) on which the dropout, batch-norm and debug-ops passes
//! run exactly as on the main graph; then what no output or control output
//! of the function needs (a bypassed dropout's `RandomUniform` mask, a
//! moving-average update with no reader) is removed, and the body written
//! back. A body that cannot be read as a graph is left as it is, with a note.
//!
//! [`check_called_functions`](super::verify::check_called_functions) is the verify pass's look inside: no
//! training-only op (the same table as for the graph: optimizer updates,
//! variable updates such as `AssignMovingAvg`'s `AssignSubVariableOp`,
//! gradients, queues, ...) and no dropout may remain in a called function.

use std::collections::HashSet;

use super::{Pass, PassContext, PassError, PassReport, Removal};
use crate::format::proto::{FunctionDef, NodeDef};
use crate::ir::function_body::FunctionBody;
use crate::ir::{DataType, IrError, Node, NodeId, TensorRef};
use crate::model::{Model, Signature, TensorSpec};
use crate::ops::OpSignatures;
use crate::ops::training::training_category;

/// Runs the serving passes inside every function the graph calls.
pub struct FunctionBodiesPass;

impl Pass for FunctionBodiesPass {
    fn name(&self) -> &'static str {
        "function-bodies"
    }

    fn run(&self, model: &mut Model, cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        for name in model.graph.called_functions() {
            let Some(function) = library_function(model, &name).cloned() else {
                continue;
            };
            let body = match read_body(model, &function) {
                Ok(body) => body,
                Err(error) => {
                    report.note(format!("function {name:?} left as it is: {error}"));
                    continue;
                }
            };
            let edited = serve_body(body, cx).map_err(|source| PassError::InFunction {
                function: name.clone(),
                source: Box::new(source),
            })?;
            if let Some((body, changes)) = edited {
                let rewritten = write_body(model, &body, &function)?;
                replace_function(model, &name, rewritten);
                merge(&mut report, &name, changes);
            }
        }
        Ok(report)
    }
}

/// The function called `name` in the graph's library.
pub(super) fn library_function<'m>(model: &'m Model, name: &str) -> Option<&'m FunctionDef> {
    model
        .graph
        .library
        .iter()
        .flat_map(|l| &l.function)
        .find(|f| f.signature.as_ref().is_some_and(|s| s.name == name))
}

fn replace_function(model: &mut Model, name: &str, function: FunctionDef) {
    let slot = model
        .graph
        .library
        .iter_mut()
        .flat_map(|l| &mut l.function)
        .find(|f| f.signature.as_ref().is_some_and(|s| s.name == name));
    if let Some(slot) = slot {
        *slot = function;
    }
}

/// `function`'s body as a graph, its ports resolved with the model's ops.
pub(super) fn read_body(model: &Model, function: &FunctionDef) -> Result<FunctionBody, IrError> {
    let ops = OpSignatures::of(model);
    let port_of = |def: &NodeDef, arg: &str, index: usize| {
        crate::typing::output_arg_port(ops.get(&def.op)?, &def.attr, arg, index)
    };
    FunctionBody::from_function(function, &port_of)
}

/// The body written back as `original` with its nodes replaced.
fn write_body(
    model: &Model,
    body: &FunctionBody,
    original: &FunctionDef,
) -> Result<FunctionDef, IrError> {
    let ops = OpSignatures::of(model);
    let arg_of = |node: &Node, port: usize| {
        crate::typing::output_arg_at(ops.get(&node.op)?, &node.attrs, port)
            .map(|(arg, index)| (arg.to_string(), index))
    };
    body.to_function(original, &arg_of)
}

/// Runs dropout, batch-norm and debug-ops on the body, then drops what
/// its outputs no longer need. `None` when nothing changed.
fn serve_body(
    mut body: FunctionBody,
    cx: &mut PassContext,
) -> Result<Option<(FunctionBody, PassReport)>, PassError> {
    let mut model = body_model(&mut body);
    let mut changes = PassReport::default();
    let passes: [&dyn Pass; 3] = [
        &super::dropout::DropoutPass,
        &super::batch_norm::BatchNormPass,
        &super::strip::DebugOpsPass,
    ];
    for pass in passes {
        let report = pass.run(&mut model, cx)?;
        changes.rewired.extend(report.rewired);
        changes.edited.extend(report.edited);
        changes.notes.extend(report.notes);
        for (reason, nodes) in report.removed {
            changes.removed.entry(reason).or_default().extend(nodes);
        }
    }
    body.outputs = body_outputs(&model, &body)?;
    prune_body(&mut model, &body, &mut changes);
    body.graph = model.graph;
    Ok((!changes.is_unchanged()).then_some((body, changes)))
}

/// A model around the body whose one signature serves its outputs, so a
/// pass rewiring an output moves it.
fn body_model(body: &mut FunctionBody) -> Model {
    let mut model = Model::from_graph(std::mem::take(&mut body.graph));
    let outputs = body
        .outputs
        .iter()
        .map(|(name, &tensor)| {
            let spec = TensorSpec {
                name: model.graph.tensor_name(tensor),
                dtype: DataType::DtInvalid,
                shape: None,
            };
            (name.clone(), spec)
        })
        .collect();
    model.signatures.insert(
        "body".into(),
        Signature {
            method_name: String::new(),
            inputs: Default::default(),
            outputs,
        },
    );
    model
}

/// The body's outputs after the passes moved them.
fn body_outputs(
    model: &Model,
    body: &FunctionBody,
) -> Result<std::collections::BTreeMap<String, TensorRef>, IrError> {
    let mut outputs = body.outputs.clone();
    if let Some(signature) = model.signatures.get("body") {
        for (name, spec) in &signature.outputs {
            outputs.insert(name.clone(), model.graph.tensor(&spec.name)?);
        }
    }
    Ok(outputs)
}

/// Removes body nodes no output, control output or arg needs.
fn prune_body(model: &mut Model, body: &FunctionBody, changes: &mut PassReport) {
    let roots = body
        .outputs
        .values()
        .map(|t| t.node)
        .chain(body.control_outputs.values().copied())
        .chain(body.args.iter().copied());
    let keep: HashSet<NodeId> = model.graph.reachable_backwards(roots);
    for id in model.graph.node_ids() {
        if keep.contains(&id) {
            continue;
        }
        let reason = training_category(model.graph.op(id)).map_or(Removal::Unused, Removal::from);
        if let Some(node) = model.graph.remove_node(id) {
            changes.removed(reason, node.name());
        }
    }
}

/// Adds a body's changes to the pass report, names prefixed `FUNCTION/`.
fn merge(report: &mut PassReport, function: &str, changes: PassReport) {
    for (reason, nodes) in changes.removed {
        for node in nodes {
            report.removed(reason, format!("{function}/{node}"));
        }
    }
    for rewire in changes.rewired {
        report.rewired(
            format!("{function}/{}", rewire.from),
            format!("{function}/{}", rewire.to),
            rewire.why,
        );
    }
    for node in changes.edited {
        report.edited(format!("{function}/{node}"));
    }
    for note in changes.notes {
        report.note(format!("function {function:?}: {note}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::attr_value::Value;
    use crate::format::proto::op_def::ArgDef;
    use crate::format::proto::{AttrValue, FunctionDefLibrary, NameAttrList, OpDef};
    use crate::passes::testing::{node, serving_model};
    use crate::passes::verify::VerifyServingPass;

    fn def(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn float(name: &str, value: f32) -> NodeDef {
        NodeDef {
            attr: crate::ir::constants::float_const(name, value).attrs.into(),
            ..def(name, "Const", &[])
        }
    }

    /// `f(x, v)`: a dropout of `x`, and (when `update`) a moving-average
    /// style `AssignSubVariableOp` on resource `v` as a control output.
    fn function(update: bool) -> FunctionDef {
        let arg = |n: &str| ArgDef {
            name: n.into(),
            ..Default::default()
        };
        let mut node_def = vec![
            float("scale", 2.0),
            def("mul", "Mul", &["x", "scale:output:0"]),
            def("shape", "Shape", &["x"]),
            def("uniform", "RandomUniform", &["shape:output:0"]),
            float("rate", 0.5),
            def(
                "keep",
                "GreaterEqual",
                &["uniform:output:0", "rate:output:0"],
            ),
            float("zero", 0.0),
            def(
                "select",
                "SelectV2",
                &["keep:z:0", "mul:z:0", "zero:output:0"],
            ),
            def("relu", "Relu", &["select:output:0"]),
        ];
        let mut control_ret = std::collections::BTreeMap::new();
        if update {
            node_def.push(def("AssignMovingAvg", "AssignSubVariableOp", &["v", "x"]));
            control_ret.insert("update".to_string(), "AssignMovingAvg".to_string());
        }
        FunctionDef {
            signature: Some(OpDef {
                name: "f".into(),
                input_arg: vec![arg("x"), arg("v")],
                output_arg: vec![arg("y")],
                ..Default::default()
            }),
            node_def,
            ret: [("y".to_string(), "relu:activations:0".to_string())].into(),
            control_ret,
            ..Default::default()
        }
    }

    fn calling_model(update: bool) -> Model {
        let mut call = node("call", "PartitionedCall", &["x", "v"]);
        call.attrs.insert(
            "f".into(),
            AttrValue {
                value: Some(Value::Func(NameAttrList {
                    name: "f".into(),
                    ..Default::default()
                })),
            },
        );
        let nodes = vec![
            node("x", "Placeholder", &[]),
            node("v", "VarHandleOp", &[]),
            call,
            node("out", "Identity", &["call"]),
        ];
        let mut model = serving_model(nodes, "out:0");
        model.graph.library = Some(FunctionDefLibrary {
            function: vec![function(update)],
            ..Default::default()
        });
        model
    }

    fn body(model: &Model) -> &FunctionDef {
        library_function(model, "f").unwrap()
    }

    #[test]
    fn dropout_inside_a_called_function_becomes_identity_and_its_mask_goes() {
        let mut model = calling_model(false);
        let report = FunctionBodiesPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let f = body(&model);
        let ops: Vec<&str> = f.node_def.iter().map(|n| n.op.as_str()).collect();
        assert_eq!(ops, ["Relu"], "{f:?}");
        assert_eq!(f.node_def[0].input, ["x"]);
        assert_eq!(f.ret["y"], "relu:activations:0");
        assert!(report.removed["unused"].contains(&"f/uniform".to_string()));
        assert_eq!(report.rewired[0].from, "f/select:0");
        VerifyServingPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
    }

    #[test]
    fn verify_names_a_dropout_left_in_a_called_function() {
        let mut model = calling_model(false);
        let err = VerifyServingPass
            .run(&mut model, &mut PassContext::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"select\"") && err.contains("dropout") && err.contains("\"f\""),
            "{err}"
        );
    }

    #[test]
    fn verify_names_a_moving_average_update_in_a_called_function() {
        let mut model = calling_model(true);
        FunctionBodiesPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        // A control output is kept (it is what the call promises to run) and reported.
        let err = VerifyServingPass
            .run(&mut model, &mut PassContext::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"AssignMovingAvg\"")
                && err.contains("AssignSubVariableOp")
                && err.contains("variable-update")
                && err.contains("\"f\""),
            "{err}"
        );
    }

    #[test]
    fn functions_nothing_calls_are_not_looked_at() {
        let mut model = calling_model(true);
        let out = model.graph.find("out").unwrap();
        let x = model.graph.find("x").unwrap();
        model
            .graph
            .set_data_input(out, 0, TensorRef::new(x, 0))
            .unwrap();
        let call = model.graph.find("call").unwrap();
        model.graph.remove_node(call);
        let report = FunctionBodiesPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        assert!(report.is_unchanged());
        VerifyServingPass
            .run(&mut model, &mut PassContext::new())
            .unwrap();
    }
}
