//! Weights stored as float16 while every signature still computes in
//! float32.
//!
//! A retyped variable is float16 wherever the model declares it (its
//! `VarHandleOp`, its `SavedVariable`, the `handle_data` of every function
//! argument its handle reaches), and every op using its handle is made to
//! agree: a read (`ReadVariableOp`, `ResourceGather`, `ResourceGatherNd`)
//! reads float16 and is followed by a `Cast` to float32 that its consumers
//! read instead; an assignment (`AssignVariableOp`, and the add/sub forms)
//! gets a `Cast` to float16 on its value, so a restore function fed a
//! float32 checkpoint still works. Any other use of the handle is refused
//! with the function, node and op named.

use std::collections::{BTreeMap, BTreeSet};

use crate::format::proto::{
    AttrValue, DataType, FunctionDef, MetaGraphDef, NodeDef, attr_value, op_def::ArgDef,
    tensor_info,
};

use super::super::{KeptVariable, Tf2Error};
use super::object_wire;
use super::resource_flow::{self, ResourceFlow, Variables, data_reference, graph_reference};

/// Ops that read a variable's value through its handle (input 0), with the
/// name of their value output.
const READ_OPS: [(&str, &str); 3] = [
    ("ReadVariableOp", "value"),
    ("ResourceGather", "output"),
    ("ResourceGatherNd", "output"),
];

/// Ops that write a value (input 1) of the variable's dtype into it.
const ASSIGN_OPS: [&str; 3] = [
    "AssignVariableOp",
    "AssignAddVariableOp",
    "AssignSubVariableOp",
];

/// Ops that take a handle without touching its value's dtype.
const NEUTRAL_OPS: [&str; 4] = [
    "Identity",
    "DisableCopyOnRead",
    "VarIsInitializedOp",
    "DestroyResourceOp",
];

/// Control-flow ops, whose branches or bodies are not followed.
const CONTROL_FLOW_OPS: [&str; 6] = [
    "If",
    "StatelessIf",
    "While",
    "StatelessWhile",
    "Case",
    "StatelessCase",
];

/// What the retyping did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetypeReport {
    /// The variables now stored as float16, in the plan's order.
    pub retyped: Vec<RetypedVariable>,
    /// Float32 variables left as they are because they are smaller than the
    /// threshold.
    pub kept_float32: usize,
    /// Bytes the stored weights shrink by (2 per retyped element).
    pub bytes_saved: u64,
    /// `Cast` nodes added (one per read, one per assignment).
    pub casts_added: usize,
}

/// A variable stored as float16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetypedVariable {
    /// Its `VarHandleOp` node.
    pub node: String,
    /// Its checkpoint key.
    pub key: String,
    pub elements: u64,
}

/// The number of elements of a fully known shape.
fn element_count(shape: &[i64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |count, &dim| {
        count.checked_mul(u64::try_from(dim).ok()?)
    })
}

/// The float32 variables of `variables` with at least `min_elements`
/// elements (and at least one): what `--weights f16` retypes, values aside.
pub fn large_float_variables(variables: &[KeptVariable], min_elements: u64) -> Variables {
    variables
        .iter()
        .filter(|v| v.dtype == DataType::DtFloat)
        .filter(|v| element_count(&v.shape).is_some_and(|n| n >= min_elements.max(1)))
        .map(|v| v.node.clone())
        .collect()
}

/// Retypes to float16 every float32 variable of `variables` with at least
/// `min_elements` elements, everywhere `meta_graph` sees it (see the module
/// doc); their [`KeptVariable::dtype`] becomes `DT_HALF`. `meta_graph` is
/// only changed when the whole retyping succeeds.
pub fn retype_weights(
    meta_graph: &mut MetaGraphDef,
    variables: &mut [KeptVariable],
    min_elements: u64,
) -> Result<RetypeReport, Tf2Error> {
    let chosen = large_float_variables(variables, min_elements);
    retype_chosen(meta_graph, variables, &chosen)
}

/// Retypes the float32 variables of `variables` whose `VarHandleOp` is in
/// `chosen`, as [`retype_weights`] does; the caller chose them (by size, and
/// by values float16 can hold).
pub fn retype_chosen(
    meta_graph: &mut MetaGraphDef,
    variables: &mut [KeptVariable],
    chosen: &Variables,
) -> Result<RetypeReport, Tf2Error> {
    let mut report = RetypeReport::default();
    let mut retyped = Variables::new();
    for variable in variables.iter() {
        if variable.dtype != DataType::DtFloat {
            continue;
        }
        let elements = element_count(&variable.shape).filter(|_| chosen.contains(&variable.node));
        let Some(elements) = elements else {
            report.kept_float32 += 1;
            continue;
        };
        retyped.insert(variable.node.clone());
        report.bytes_saved += elements * 2;
        report.retyped.push(RetypedVariable {
            node: variable.node.clone(),
            key: variable.key.clone(),
            elements,
        });
    }
    if retyped.is_empty() {
        return Ok(report);
    }
    let flow = resource_flow::trace(meta_graph, variables)?;
    let retyped_args = retyped_arguments(meta_graph, &flow, &retyped)?;
    let mut edited = meta_graph.clone();
    report.casts_added += retype_graph(&mut edited, &flow, &retyped)?;
    for (name, indices) in &retyped_args {
        let tensors = flow.tensors.get(name).cloned().unwrap_or_default();
        let function = function_mut(&mut edited, name)?;
        retype_arguments(function, indices);
        report.casts_added += retype_function(function, &tensors, &retyped)?;
    }
    for variable in variables.iter().filter(|v| retyped.contains(&v.node)) {
        object_wire::set_variable_dtype(&mut edited, variable.object_id, DataType::DtHalf)?;
    }
    for variable in variables.iter_mut() {
        if retyped.contains(&variable.node) {
            variable.dtype = DataType::DtHalf;
        }
    }
    *meta_graph = edited;
    Ok(report)
}

/// `{function: argument indices}` of the arguments retyped variables reach;
/// an argument reached by both a retyped and a float32 variable is an error.
fn retyped_arguments(
    meta_graph: &MetaGraphDef,
    flow: &ResourceFlow,
    retyped: &Variables,
) -> Result<BTreeMap<String, BTreeSet<usize>>, Tf2Error> {
    let mut found: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for ((function, index), vars) in &flow.args {
        let (half, float): (Vec<&String>, Vec<&String>) =
            vars.iter().partition(|v| retyped.contains(*v));
        if half.is_empty() {
            continue;
        }
        if !float.is_empty() {
            return Err(Tf2Error::MixedVariableArgument {
                function: function.clone(),
                arg: argument_name(meta_graph, function, *index),
                retyped: half.into_iter().cloned().collect(),
                kept: float.into_iter().cloned().collect(),
            });
        }
        found.entry(function.clone()).or_default().insert(*index);
    }
    Ok(found)
}

fn argument_name(meta_graph: &MetaGraphDef, function: &str, index: usize) -> String {
    let library = meta_graph
        .graph_def
        .as_ref()
        .and_then(|g| g.library.as_ref());
    library
        .and_then(|l| {
            l.function
                .iter()
                .find(|f| f.signature.as_ref().is_some_and(|s| s.name == function))
        })
        .and_then(|f| f.signature.as_ref()?.input_arg.get(index))
        .map_or_else(|| format!("#{index}"), |arg| arg.name.clone())
}

fn function_mut<'a>(
    meta_graph: &'a mut MetaGraphDef,
    name: &str,
) -> Result<&'a mut FunctionDef, Tf2Error> {
    meta_graph
        .graph_def
        .as_mut()
        .and_then(|g| g.library.as_mut())
        .and_then(|l| {
            l.function
                .iter_mut()
                .find(|f| f.signature.as_ref().is_some_and(|s| s.name == name))
        })
        .ok_or_else(|| Tf2Error::UnsupportedResourceUse {
            function: name.to_string(),
            node: String::new(),
            op: "function".into(),
            variables: Vec::new(),
            why: "a call passes it variable handles but the library has no such function".into(),
        })
}

fn half_type() -> AttrValue {
    AttrValue {
        value: Some(attr_value::Value::Type(DataType::DtHalf as i32)),
    }
}

fn type_attr(dtype: DataType) -> AttrValue {
    AttrValue {
        value: Some(attr_value::Value::Type(dtype as i32)),
    }
}

/// Float32 becomes float16 in a `_handle_dtypes`-like list attribute.
fn retype_dtype_list(attr: &mut AttrValue) {
    if let Some(attr_value::Value::List(list)) = attr.value.as_mut() {
        for dtype in &mut list.r#type {
            if *dtype == DataType::DtFloat as i32 {
                *dtype = DataType::DtHalf as i32;
            }
        }
    }
}

/// The declared dtype of each retyped argument: its `handle_data` and any
/// `_handle_dtypes` argument attribute.
fn retype_arguments(function: &mut FunctionDef, indices: &BTreeSet<usize>) {
    let Some(signature) = function.signature.as_mut() else {
        return;
    };
    for (index, arg) in signature.input_arg.iter_mut().enumerate() {
        if indices.contains(&index) {
            retype_handle_data(arg);
        }
    }
    for (index, attrs) in function.arg_attr.iter_mut() {
        if !indices.contains(&(*index as usize)) {
            continue;
        }
        if let Some(attr) = attrs.attr.get_mut("_handle_dtypes") {
            retype_dtype_list(attr);
        }
    }
}

fn retype_handle_data(arg: &mut ArgDef) {
    for entry in &mut arg.handle_data {
        if entry.dtype == DataType::DtFloat as i32 {
            entry.dtype = DataType::DtHalf as i32;
        }
    }
}

/// How references to a node's outputs are spelled in a scope.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// The top-level graph: `node:index`.
    Graph,
    /// A function body: `node:output_arg:index`.
    Function(&'a str),
}

impl Scope<'_> {
    fn name(&self) -> &str {
        match self {
            Scope::Graph => "(graph)",
            Scope::Function(name) => name,
        }
    }

    /// The reference to output 0 (output arg `arg`) of `node`.
    fn output(&self, node: &str, arg: &str) -> String {
        match self {
            Scope::Graph => resource_flow::graph_output(node, 0),
            Scope::Function(_) => resource_flow::body_output(node, arg, 0),
        }
    }

    fn normalize(&self, input: &str) -> Option<String> {
        match self {
            Scope::Graph => graph_reference(input),
            Scope::Function(_) => data_reference(input),
        }
    }
}

/// Retypes the top-level graph: the `VarHandleOp`s themselves, then every
/// use of their handles. Returns the casts added.
fn retype_graph(
    meta_graph: &mut MetaGraphDef,
    flow: &ResourceFlow,
    retyped: &Variables,
) -> Result<usize, Tf2Error> {
    let tensors: BTreeMap<String, Variables> = flow
        .graph
        .iter()
        .map(|(node, vars)| (resource_flow::graph_output(node, 0), vars.clone()))
        .collect();
    let Some(graph_def) = meta_graph.graph_def.as_mut() else {
        return Ok(0);
    };
    for node in graph_def.node.iter_mut() {
        if node.op == "VarHandleOp" && retyped.contains(&node.name) {
            expect_float(Scope::Graph, node, "dtype")?;
            node.attr.insert("dtype".into(), half_type());
        }
    }
    let (renamed, casts) = retype_uses(Scope::Graph, &mut graph_def.node, &tensors, retyped)?;
    for signature in meta_graph.signature_def.values_mut() {
        for tensor in signature.outputs.values_mut() {
            if let Some(tensor_info::Encoding::Name(name)) = tensor.encoding.as_mut()
                && let Some(cast) = renamed.get(name.as_str())
            {
                *name = cast.clone();
            }
        }
    }
    Ok(casts)
}

/// Retypes one function body. Returns the casts added.
fn retype_function(
    function: &mut FunctionDef,
    tensors: &BTreeMap<String, Variables>,
    retyped: &Variables,
) -> Result<usize, Tf2Error> {
    let name = function
        .signature
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let scope = Scope::Function(&name);
    for (output, reference) in &function.ret {
        if let Some(vars) = tensors.get(reference).filter(|v| !v.is_disjoint(retyped)) {
            return Err(Tf2Error::UnsupportedResourceUse {
                function: name.clone(),
                node: format!("output {output}"),
                op: "return".into(),
                variables: vars.iter().cloned().collect(),
                why: "a function returning a variable handle is not retyped".into(),
            });
        }
    }
    let (renamed, casts) = retype_uses(scope, &mut function.node_def, tensors, retyped)?;
    for reference in function.ret.values_mut() {
        if let Some(cast) = renamed.get(reference) {
            *reference = cast.clone();
        }
    }
    Ok(casts)
}

const READ_CAST_SUFFIX: &str = "/to_float32";
const ASSIGN_CAST_SUFFIX: &str = "/value_to_float16";

fn expect_float(scope: Scope<'_>, node: &NodeDef, attr: &str) -> Result<(), Tf2Error> {
    let dtype = match node.attr.get(attr).and_then(|a| a.value.as_ref()) {
        Some(attr_value::Value::Type(dtype)) => *dtype,
        _ => -1,
    };
    if dtype == DataType::DtFloat as i32 {
        return Ok(());
    }
    Err(Tf2Error::UnsupportedResourceUse {
        function: scope.name().to_string(),
        node: node.name.clone(),
        op: node.op.clone(),
        variables: Vec::new(),
        why: format!("its {attr} attribute is not float32 ({dtype})"),
    })
}

/// Rewrites every node of `nodes` using a retyped handle (see the module
/// doc). Returns `{old read reference: its cast's reference}` (every
/// consumer already rewired) and the number of casts added.
fn retype_uses(
    scope: Scope<'_>,
    nodes: &mut Vec<NodeDef>,
    tensors: &BTreeMap<String, Variables>,
    retyped: &Variables,
) -> Result<(BTreeMap<String, String>, usize), Tf2Error> {
    let mut names: BTreeSet<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut added = Vec::new();
    let mut renamed = BTreeMap::new();
    for node in nodes.iter_mut() {
        let Some(vars) = retyped_handle_input(scope, node, tensors, retyped)? else {
            continue;
        };
        if let Some((_, output_arg)) = READ_OPS.iter().find(|(op, _)| *op == node.op) {
            expect_float(scope, node, "dtype")?;
            node.attr.insert("dtype".into(), half_type());
            let cast_name = unique_name(&mut names, &format!("{}{READ_CAST_SUFFIX}", node.name));
            let read = scope.output(&node.name, output_arg);
            let mut cast = cast_node(&cast_name, &read, DataType::DtHalf, DataType::DtFloat);
            if let Some(shapes) = node.attr.get("_output_shapes") {
                cast.attr.insert("_output_shapes".into(), shapes.clone());
            }
            renamed.insert(read, scope.output(&cast_name, "y"));
            added.push(cast);
        } else if ASSIGN_OPS.contains(&node.op.as_str()) {
            expect_float(scope, node, "dtype")?;
            node.attr.insert("dtype".into(), half_type());
            let cast_name = unique_name(&mut names, &format!("{}{ASSIGN_CAST_SUFFIX}", node.name));
            let Some(value) = node.input.get_mut(1) else {
                return Err(unsupported(
                    scope,
                    node,
                    &vars,
                    "an assignment without a value",
                ));
            };
            let cast = cast_node(&cast_name, value, DataType::DtFloat, DataType::DtHalf);
            *value = scope.output(&cast_name, "y");
            added.push(cast);
        }
    }
    rewire(scope, nodes, &renamed);
    let casts = added.len();
    nodes.extend(added);
    Ok((renamed, casts))
}

/// The retyped variables reaching `node` through a handle input, when any;
/// an error when the node's op is not one whose use of a handle is known.
fn retyped_handle_input(
    scope: Scope<'_>,
    node: &NodeDef,
    tensors: &BTreeMap<String, Variables>,
    retyped: &Variables,
) -> Result<Option<Variables>, Tf2Error> {
    let mut reached = Variables::new();
    let mut first_only = true;
    let data_inputs = node.input.iter().filter_map(|i| scope.normalize(i));
    for (index, input) in data_inputs.enumerate() {
        if let Some(vars) = tensors.get(&input) {
            let hit: Variables = vars.intersection(retyped).cloned().collect();
            if !hit.is_empty() {
                first_only &= index == 0;
                reached.extend(hit);
            }
        }
    }
    if reached.is_empty() {
        return Ok(None);
    }
    let op = node.op.as_str();
    let reads_or_assigns = READ_OPS.iter().any(|(o, _)| *o == op) || ASSIGN_OPS.contains(&op);
    if reads_or_assigns && first_only {
        return Ok(Some(reached));
    }
    if reads_or_assigns || NEUTRAL_OPS.contains(&op) || resource_flow::callee(node).is_some() {
        if reads_or_assigns {
            return Err(unsupported(
                scope,
                node,
                &reached,
                "a handle is passed as a value input",
            ));
        }
        return Ok(None);
    }
    let why = if CONTROL_FLOW_OPS.contains(&op) {
        "control flow with variable handles is not followed; the graph path, which inlines functions, can retype it"
    } else {
        "an op not known to only read or assign a variable"
    };
    Err(unsupported(scope, node, &reached, why))
}

fn unsupported(scope: Scope<'_>, node: &NodeDef, vars: &Variables, why: &str) -> Tf2Error {
    Tf2Error::UnsupportedResourceUse {
        function: scope.name().to_string(),
        node: node.name.clone(),
        op: node.op.clone(),
        variables: vars.iter().cloned().collect(),
        why: why.to_string(),
    }
}

fn unique_name(names: &mut BTreeSet<String>, wanted: &str) -> String {
    let mut name = wanted.to_string();
    let mut suffix = 1;
    while names.contains(&name) {
        name = format!("{wanted}_{suffix}");
        suffix += 1;
    }
    names.insert(name.clone());
    name
}

fn cast_node(name: &str, input: &str, from: DataType, to: DataType) -> NodeDef {
    let mut node = NodeDef {
        name: name.to_string(),
        op: "Cast".into(),
        input: vec![input.to_string()],
        ..Default::default()
    };
    node.attr.insert("SrcT".into(), type_attr(from));
    node.attr.insert("DstT".into(), type_attr(to));
    node.attr.insert(
        "Truncate".into(),
        AttrValue {
            value: Some(attr_value::Value::B(false)),
        },
    );
    node
}

/// Inputs naming a renamed output, however the scope spells it (`node` or
/// `node:0` in the graph, `node:arg` or `node:arg:0` in a function), now
/// name its cast.
fn rewire(scope: Scope<'_>, nodes: &mut [NodeDef], renamed: &BTreeMap<String, String>) {
    for node in nodes.iter_mut() {
        for input in &mut node.input {
            let Some(reference) = scope.normalize(input) else {
                continue;
            };
            if let Some(cast) = renamed.get(&reference) {
                *input = cast.clone();
            }
        }
    }
}
