//! A stable text view of the graph (one node per line, the snapshot format)
//! and a Graphviz view for debugging.

use std::fmt::{self, Write as _};

use super::graph::Graph;
use crate::format::proto::attr_value::Value;

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for id in self.node_ids() {
            let def = self.node_def(id);
            write!(f, "{} = {}({})", def.name, def.op, def.input.join(", "))?;
            let attrs: Vec<String> = def
                .attr
                .iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .filter_map(|(k, v)| short_attr(v.value.as_ref()?).map(|s| format!("{k}={s}")))
                .collect();
            if !attrs.is_empty() {
                write!(f, " {{{}}}", attrs.join(", "))?;
            }
            if !def.device.is_empty() {
                write!(f, " @{}", def.device)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Scalar attrs printed in full; tensors and lists summarised.
fn short_attr(value: &Value) -> Option<String> {
    Some(match value {
        Value::Type(t) => crate::typing::dtype_name(*t),
        Value::B(b) => b.to_string(),
        Value::I(i) => i.to_string(),
        Value::F(x) => x.to_string(),
        Value::S(s) if s.len() <= 32 => format!("{:?}", String::from_utf8_lossy(s)),
        Value::Shape(s) if s.unknown_rank => "<?>".into(),
        Value::Shape(s) => format!("{:?}", s.dim.iter().map(|d| d.size).collect::<Vec<_>>()),
        Value::Tensor(t) => format!("tensor<{}>", crate::typing::dtype_name(t.dtype)),
        _ => return None,
    })
}

impl Graph {
    /// The graph in Graphviz dot syntax; control edges dashed.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph servegraph {\n  node [shape=box];\n");
        for id in self.node_ids() {
            let _ = writeln!(
                out,
                "  {:?} [label=\"{}\\n{}\"];",
                self.name(id),
                self.name(id),
                self.op(id)
            );
        }
        for id in self.node_ids() {
            for (slot, input) in self.data_inputs(id).into_iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {:?} -> {:?} [label=\"{}:{}\"];",
                    self.name(input.node),
                    self.name(id),
                    input.port,
                    slot
                );
            }
            for control in self.control_inputs(id) {
                let _ = writeln!(
                    out,
                    "  {:?} -> {:?} [style=dashed];",
                    self.name(control),
                    self.name(id)
                );
            }
        }
        out.push_str("}\n");
        out
    }
}
