//! The `Concrete Functions` section of `show --all` for a TF2 SavedModel:
//! the functions attached to the root object (polymorphic `tf.function`s and
//! bare concrete functions), sorted by attribute name, each with the input
//! signature of every concrete function traced for it — read from the object
//! graph, where saved_model_cli loads the model with TensorFlow to get them.

use std::fmt::Write as _;

use prost::Message;
use serde::Serialize;

use crate::format::proto::{
    GraphDef, MetaGraphDef, SavedConcreteFunction, SavedObject, SavedObjectGraph, saved_object,
};

use super::values::Value;

/// What the section lists: the functions, or why TensorFlow could not load them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ConcreteFunctions {
    Listed { functions: Vec<Function> },
    Unavailable { reason: String },
}

/// A function attribute of the root object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Function {
    pub name: String,
    /// One per concrete function, in the order the SavedModel lists them.
    pub options: Vec<CallOption>,
}

/// How one concrete function is called.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallOption {
    pub args: Vec<Value>,
    pub kwargs: Vec<(String, Value)>,
}

/// Why loading fails, in saved_model_cli's words.
const CUSTOM_OPS: &str = "the existence of custom ops in the SavedModel";
const UNKNOWN: &str = "unknown reasons";

/// The section for these MetaGraphDefs, or `None` when none has an object
/// graph (a TF1 SavedModel, where saved_model_cli prints no section).
pub fn concrete_functions(metas: &[MetaGraphDef]) -> Option<ConcreteFunctions> {
    metas.iter().find(|m| m.object_graph_def.is_some())?;
    let unavailable = |reason: &str| ConcreteFunctions::Unavailable {
        reason: reason.into(),
    };
    // TensorFlow's loader needs tags to choose among several MetaGraphDefs.
    let [meta] = metas else {
        return Some(unavailable(UNKNOWN));
    };
    if meta.graph_def.as_ref().is_some_and(has_unregistered_op) {
        return Some(unavailable(CUSTOM_OPS));
    }
    let objects = meta.object_graph_def.as_ref()?;
    Some(match list_functions(objects) {
        Some(functions) => ConcreteFunctions::Listed { functions },
        None => unavailable(UNKNOWN),
    })
}

/// Whether a library function runs an op TensorFlow does not register
/// (loading imports every function, which then fails).
fn has_unregistered_op(graph: &GraphDef) -> bool {
    let functions = super::ops::functions_by_name(graph);
    functions.values().any(|function| {
        function.node_def.iter().any(|node| {
            !functions.contains_key(node.op.as_str())
                && crate::ops::tensorflow_op(&node.op).is_none()
        })
    })
}

/// The root object's function children, sorted by name; `None` when the
/// object graph does not decode or names a function it does not hold.
fn list_functions(objects: &SavedObjectGraph) -> Option<Vec<Function>> {
    let root = SavedObject::decode(objects.nodes.first()?.as_ref()).ok()?;
    let mut functions = Vec::new();
    for child in &root.children {
        let bytes = objects.nodes.get(usize::try_from(child.node_id).ok()?)?;
        let object = SavedObject::decode(bytes.as_ref()).ok()?;
        let options = match object.kind {
            Some(saved_object::Kind::Function(function)) => function
                .concrete_functions
                .iter()
                .map(|name| traced_option(objects, name))
                .collect::<Option<Vec<_>>>()?,
            Some(saved_object::Kind::BareConcreteFunction(bare)) => {
                vec![bare_option(objects, &bare)?]
            }
            _ => continue,
        };
        functions.push(Function {
            name: child.local_name.clone(),
            options,
        });
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Some(functions)
}

/// The canonical input signature of concrete function `name`; `None` when the
/// SavedModel has no such function (TensorFlow's loader fails on it).
fn input_signature(objects: &SavedObjectGraph, name: &str) -> Option<Option<CallOption>> {
    let bytes = objects.concrete_functions.get(name)?;
    let function = SavedConcreteFunction::decode(bytes.as_ref()).ok()?;
    Some(
        function
            .canonicalized_input_signature
            .as_ref()
            .map(|signature| split_signature(&Value::decode(signature))),
    )
}

/// A traced function's option (no signature: nothing to show).
fn traced_option(objects: &SavedObjectGraph, name: &str) -> Option<CallOption> {
    Some(input_signature(objects, name)?.unwrap_or(CallOption {
        args: Vec::new(),
        kwargs: Vec::new(),
    }))
}

/// A bare concrete function's option: its signature, else its argument keywords.
fn bare_option(
    objects: &SavedObjectGraph,
    bare: &crate::format::proto::SavedBareConcreteFunction,
) -> Option<CallOption> {
    let keywords = || CallOption {
        args: bare
            .argument_keywords
            .iter()
            .map(|k| Value::Str { value: k.clone() })
            .collect(),
        kwargs: Vec::new(),
    };
    Some(input_signature(objects, &bare.concrete_function_name)?.unwrap_or_else(keywords))
}

/// `(args, kwargs)` from the signature tuple; anything else has neither.
fn split_signature(signature: &Value) -> CallOption {
    let (args, kwargs) = match signature {
        Value::Tuple { items } => (items.first(), items.get(1)),
        _ => (None, None),
    };
    CallOption {
        args: args.and_then(Value::iterated).unwrap_or_default(),
        kwargs: match kwargs {
            Some(Value::Dict { items }) => items.clone(),
            _ => Vec::new(),
        },
    }
}

/// The section as saved_model_cli prints it, starting with the blank line
/// before `Concrete Functions:`. With no function listed the text ends
/// without a newline, as it does there.
pub fn render(section: &ConcreteFunctions) -> String {
    let mut out = String::from("\nConcrete Functions:");
    let functions = match section {
        ConcreteFunctions::Unavailable { reason } => {
            let _ = writeln!(out, " N/A (could not be listed due to {reason})");
            return out;
        }
        ConcreteFunctions::Listed { functions } => functions,
    };
    for function in functions {
        let _ = writeln!(out, "\n  Function Name: '{}'", function.name);
        for (index, option) in function.options.iter().enumerate() {
            render_option(&mut out, index + 1, option);
        }
    }
    out
}

/// One option: its header and arguments when it has positional arguments,
/// then its keyword arguments (only their names, as saved_model_cli iterates
/// the dict).
fn render_option(out: &mut String, number: usize, option: &CallOption) {
    if !option.args.is_empty() {
        let _ = writeln!(out, "    Option #{number}");
        let _ = writeln!(out, "      Callable with:");
        render_arguments(out, "Argument", &option.args);
    }
    if !option.kwargs.is_empty() {
        let names: Vec<Value> = option
            .kwargs
            .iter()
            .map(|(name, _)| Value::Str {
                value: name.clone(),
            })
            .collect();
        render_arguments(out, "Named Argument", &names);
    }
}

const ARGUMENT_INDENT: &str = "        ";
const VALUE_INDENT: &str = "          ";

fn render_arguments(out: &mut String, label: &str, arguments: &[Value]) {
    for (index, argument) in arguments.iter().enumerate() {
        let _ = writeln!(out, "{ARGUMENT_INDENT}{label} #{}", index + 1);
        render_argument(out, argument);
    }
}

/// One argument: a string as is, a tensor spec as `name: repr`, a container
/// as its type and items (each followed by `, `, then two backspaces erase
/// the last separator on a terminal), anything else as its type and `str`.
fn render_argument(out: &mut String, argument: &Value) {
    match argument {
        Value::Str { value } => {
            let _ = writeln!(out, "{VALUE_INDENT}{value}");
        }
        Value::TensorSpec { name, .. } => {
            let name = name.as_deref().unwrap_or("None");
            let _ = writeln!(out, "{VALUE_INDENT}{name}: {}", argument.repr());
        }
        Value::Dict { items } => {
            let _ = write!(out, "{VALUE_INDENT}DType: dict\n{VALUE_INDENT}Value: {{");
            for (key, value) in items {
                let _ = write!(out, "'{key}': {}, ", quoted_str(value));
            }
            out.push_str("\u{8}\u{8}}\n");
        }
        other => match other.iterated() {
            Some(items) => {
                let _ = write!(
                    out,
                    "{VALUE_INDENT}DType: {}\n{VALUE_INDENT}Value: [",
                    other.type_name()
                );
                for item in &items {
                    let _ = write!(out, "{}, ", quoted_str(item));
                }
                out.push_str("\u{8}\u{8}]\n");
            }
            None => {
                let _ = writeln!(out, "{VALUE_INDENT}DType: {}", other.type_name());
                let _ = writeln!(out, "{VALUE_INDENT}Value: {}", other.str());
            }
        },
    }
}

/// `str(value)`, in single quotes when it is a string.
fn quoted_str(value: &Value) -> String {
    match value {
        Value::Str { value } => format!("'{value}'"),
        other => other.str(),
    }
}
