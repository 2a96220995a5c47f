//! Which ops exist and how many outputs a node of each has, for graphs with
//! or without their own op list. The source's `stripped_op_list` is preferred,
//! then the functions of the graph's library (a node may call one as its op),
//! then TensorFlow's own registry: `tensorflow_ops.txt`, generated from the
//! tensorflow-cpu wheel by `tools/generate_op_registry.py`, which keeps per op
//! only its name and its output arguments.

pub mod attr_defaults;
pub mod shapes;
pub mod training;
pub mod training_step;

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use crate::format::proto::OpDef;
use crate::format::proto::op_def::ArgDef;
use crate::ir::{Graph, Node};
use crate::model::Model;
use crate::typing;

const TENSORFLOW_OPS: &str = include_str!("tensorflow_ops.txt");

/// TensorFlow's ops, each an `OpDef` holding only its name and output arguments.
static REGISTRY: LazyLock<HashMap<&'static str, OpDef>> = LazyLock::new(|| {
    parse_registry(TENSORFLOW_OPS).expect("the embedded op registry is well-formed (unit-tested)")
});

/// The registry's definition of a TensorFlow op (output arguments only).
pub fn tensorflow_op(name: &str) -> Option<&'static OpDef> {
    REGISTRY.get(name)
}

/// Parses the registry: one op per line, its name then one token per output
/// argument (`ARG`, `ARG:n:NUMBER_ATTR` or `ARG:l:TYPE_LIST_ATTR`); `#` starts
/// a comment line.
fn parse_registry(text: &'static str) -> Result<HashMap<&'static str, OpDef>, String> {
    let mut ops = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut tokens = line.split(' ');
        let name = tokens.next().unwrap_or_default();
        let output_arg = tokens
            .map(output_arg)
            .collect::<Result<Vec<ArgDef>, String>>()
            .map_err(|token| format!("op {name}: bad output token {token:?}"))?;
        let def = OpDef {
            name: name.to_string(),
            output_arg,
            ..OpDef::default()
        };
        if ops.insert(name, def).is_some() {
            return Err(format!("op {name} is listed twice"));
        }
    }
    Ok(ops)
}

fn output_arg(token: &str) -> Result<ArgDef, String> {
    let is_word =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut parts = token.split(':');
    let name = parts.next().filter(|n| is_word(n)).ok_or(token)?;
    let mut arg = ArgDef {
        name: name.into(),
        ..ArgDef::default()
    };
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => {}
        (Some("n"), Some(attr), None) if is_word(attr) => arg.number_attr = attr.into(),
        (Some("l"), Some(attr), None) if is_word(attr) => arg.type_list_attr = attr.into(),
        _ => return Err(token.into()),
    }
    Ok(arg)
}

/// Op definitions as one graph sees them: its source's op list, its function
/// library, then TensorFlow's registry.
pub struct OpSignatures<'a> {
    source: &'a BTreeMap<String, OpDef>,
    functions: HashMap<&'a str, &'a OpDef>,
}

impl<'a> OpSignatures<'a> {
    /// The ops `graph` may use, given the op list its source carried.
    pub fn new(source: &'a BTreeMap<String, OpDef>, graph: &'a Graph) -> OpSignatures<'a> {
        let functions = graph
            .library
            .iter()
            .flat_map(|library| &library.function)
            .filter_map(|function| function.signature.as_ref())
            .map(|signature| (signature.name.as_str(), signature))
            .collect();
        OpSignatures { source, functions }
    }

    /// The ops of a model's graph.
    pub fn of(model: &'a Model) -> OpSignatures<'a> {
        OpSignatures::new(&model.op_defs, &model.graph)
    }

    /// The definition of `op`, or `None` when no one defines it.
    pub fn get(&self, op: &str) -> Option<&'a OpDef> {
        self.source
            .get(op)
            .or_else(|| self.functions.get(op).copied())
            .or_else(|| tensorflow_op(op))
    }

    /// How many outputs `node` has; `None` when its op is unknown or the count
    /// depends on an attr the node does not have.
    pub fn output_count(&self, node: &Node) -> Option<usize> {
        typing::output_count(self.get(&node.op)?, &node.attrs).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::attr_map::AttrMap;
    use crate::format::proto::AttrValue;
    use crate::format::proto::attr_value::{ListValue, Value};

    fn int_attr(n: i64) -> AttrValue {
        AttrValue {
            value: Some(Value::I(n)),
        }
    }

    #[test]
    fn the_embedded_registry_parses_and_knows_common_ops() {
        let registry = parse_registry(TENSORFLOW_OPS).unwrap();
        assert!(registry.len() > 1000, "{} ops", registry.len());
        for op in ["Const", "MatMul", "Placeholder", "RestoreV2", "NoOp"] {
            assert!(registry.contains_key(op), "{op} missing");
        }
        assert!(tensorflow_op("NoSuchOpAnywhere").is_none());
    }

    #[test]
    fn counts_come_from_number_and_type_list_attrs() {
        let split = tensorflow_op("Split").unwrap();
        let attrs: AttrMap = [("num_split".to_string(), int_attr(2))].into();
        assert_eq!(typing::output_count(split, &attrs).ok(), Some(2));
        assert_eq!(typing::output_count(split, &AttrMap::new()).ok(), None);

        let next = tensorflow_op("IteratorGetNext").unwrap();
        let types = AttrValue {
            value: Some(Value::List(Box::new(ListValue {
                r#type: vec![1, 9, 7],
                ..ListValue::default()
            }))),
        };
        let attrs: AttrMap = [("output_types".to_string(), types)].into();
        assert_eq!(typing::output_count(next, &attrs).ok(), Some(3));

        let batch_norm = tensorflow_op("FusedBatchNormV3").unwrap();
        assert_eq!(typing::output_count(batch_norm, &AttrMap::new()), Ok(6));
        let no_op = tensorflow_op("NoOp").unwrap();
        assert_eq!(typing::output_count(no_op, &AttrMap::new()).ok(), Some(0));
    }

    #[test]
    fn malformed_registry_lines_are_refused() {
        assert!(parse_registry("Op y x:attr\n").is_err());
        assert!(parse_registry("Op y:n:\n").is_err());
        assert!(parse_registry("Op y:n:N:M\n").is_err());
        assert!(parse_registry("Op y\nOp y\n").is_err());
        let ops = parse_registry("# comment\nOp y z:n:N w:l:T\n").unwrap();
        let names: Vec<&str> = ops["Op"]
            .output_arg
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, ["y", "z", "w"]);
        assert_eq!(ops["Op"].output_arg[1].number_attr, "N");
        assert_eq!(ops["Op"].output_arg[2].type_list_attr, "T");
    }

    #[test]
    fn the_source_op_list_and_functions_come_before_the_registry() {
        let mut graph = Graph::new();
        let function = crate::format::proto::FunctionDef {
            signature: Some(OpDef {
                name: "my_function".into(),
                output_arg: vec![ArgDef::default(), ArgDef::default()],
                ..OpDef::default()
            }),
            ..Default::default()
        };
        graph.library = Some(crate::format::proto::FunctionDefLibrary {
            function: vec![function],
            ..Default::default()
        });
        let mut source = BTreeMap::new();
        source.insert(
            "Const".to_string(),
            OpDef {
                name: "Const".into(),
                ..OpDef::default()
            },
        );
        let ops = OpSignatures::new(&source, &graph);
        assert_eq!(ops.output_count(&Node::new("c", "Const")), Some(0));
        assert_eq!(ops.output_count(&Node::new("f", "my_function")), Some(2));
        assert_eq!(ops.output_count(&Node::new("m", "MatMul")), Some(1));
        assert_eq!(ops.output_count(&Node::new("x", "NotAnOp")), None);
    }
}
