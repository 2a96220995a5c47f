//! `Shown` printed line for line as saved_model_cli prints it.

use std::fmt::{self, Write as _};

use super::python::{str_list_repr, str_repr, str_set_repr};
use super::{MetaGraphView, Shown, SignatureView, TensorView, functions};

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match self {
            Shown::TagSets { tag_sets } => write_tag_sets(&mut out, tag_sets),
            Shown::SignatureKeys {
                tags,
                ops,
                signature_keys,
            } => {
                write_listed_ops(&mut out, tags, ops.as_deref());
                write_signature_keys(&mut out, signature_keys);
            }
            Shown::Signature {
                tags,
                ops,
                signature,
                ..
            } => {
                write_listed_ops(&mut out, tags, ops.as_deref());
                write_signature(&mut out, signature, 0);
            }
            Shown::All {
                meta_graphs,
                concrete_functions,
            } => {
                for meta in meta_graphs {
                    write_meta_graph(&mut out, meta);
                }
                if let Some(section) = concrete_functions {
                    out.push_str(&functions::render(section));
                }
            }
        }
        f.write_str(&out)
    }
}

fn write_tag_sets(out: &mut String, tag_sets: &[Vec<String>]) {
    out.push_str("The given SavedModel contains the following tag-sets:\n");
    for tags in tag_sets {
        let _ = writeln!(out, "{}", str_repr(&tags.join(", ")));
    }
}

fn write_signature_keys(out: &mut String, keys: &[String]) {
    out.push_str(
        "The given SavedModel MetaGraphDef contains SignatureDefs with the following keys:\n",
    );
    for key in keys {
        let _ = writeln!(out, "SignatureDef key: \"{key}\"");
    }
}

/// `--list_ops`'s line, when asked for.
fn write_listed_ops(out: &mut String, tags: &[String], ops: Option<&[String]>) {
    if let Some(ops) = ops {
        write_ops_line(out, tags, ops);
    }
}

fn write_ops_line(out: &mut String, tags: &[String], ops: &[String]) {
    let _ = writeln!(
        out,
        "The MetaGraph with tag set {} contains the following ops: {}",
        str_list_repr(tags),
        str_set_repr(ops)
    );
}

fn write_meta_graph(out: &mut String, meta: &MetaGraphView) {
    let _ = writeln!(
        out,
        "\nMetaGraphDef with tag-set: '{}' contains the following SignatureDefs:",
        meta.tags.join(", ")
    );
    for (key, signature) in &meta.signature_defs {
        let _ = writeln!(out, "\nsignature_def['{key}']:");
        write_signature(out, signature, 1);
    }
    write_ops_line(out, &meta.tags, &meta.ops);
}

/// A signature's inputs, outputs and method, each line indented by `level`
/// steps of two spaces.
fn write_signature(out: &mut String, signature: &SignatureView, level: usize) {
    let indent = "  ".repeat(level);
    let _ = writeln!(
        out,
        "{indent}The given SavedModel SignatureDef contains the following input(s):"
    );
    for (key, tensor) in &signature.inputs {
        let _ = writeln!(out, "{indent}  inputs['{key}'] tensor_info:");
        write_tensor(out, tensor, level + 1);
    }
    let _ = writeln!(
        out,
        "{indent}The given SavedModel SignatureDef contains the following output(s):"
    );
    for (key, tensor) in &signature.outputs {
        let _ = writeln!(out, "{indent}  outputs['{key}'] tensor_info:");
        write_tensor(out, tensor, level + 1);
    }
    let _ = writeln!(out, "{indent}Method name is: {}", signature.method_name);
}

fn write_tensor(out: &mut String, tensor: &TensorView, level: usize) {
    let indent = "  ".repeat(level);
    let shape = match &tensor.shape {
        None => "unknown_rank".to_string(),
        Some(dims) => {
            let dims: Vec<String> = dims.iter().map(i64::to_string).collect();
            format!("({})", dims.join(", "))
        }
    };
    let _ = writeln!(out, "{indent}    dtype: {}", tensor.dtype);
    let _ = writeln!(out, "{indent}    shape: {shape}");
    let _ = writeln!(out, "{indent}    name: {}", tensor.name);
}
