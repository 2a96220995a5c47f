//! Protobuf text format (`.pbtxt`, `saved_model.pbtxt`, the `checkpoint`
//! state file) through prost-reflect, driven by the descriptors of our own
//! `.proto` files: text → dynamic message → bytes → prost type, and back.

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, text_format::FormatOptions};

use crate::format::limits::MAX_PROTO_NESTING;
use crate::format::proto::FILE_DESCRIPTOR_SET;

/// A text-format document that does not parse as the expected message.
#[derive(Debug, thiserror::Error)]
#[error("{message}: {detail}")]
pub struct TextError {
    /// The message type that was expected.
    pub message: String,
    pub detail: String,
}

pub(crate) fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .expect("the descriptor set compiled into the binary at build time decodes")
    })
}

/// Parses `text` as the message `full_name` (e.g. `tensorflow.GraphDef`).
pub fn parse_text<M: Message + Default>(full_name: &str, text: &str) -> Result<M, TextError> {
    let error = |detail: String| TextError {
        message: full_name.into(),
        detail,
    };
    let descriptor = pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| error("no such message type".into()))?;
    if let Some(line) = line_nested_too_deep(text) {
        return Err(error(format!(
            "line {line} nests messages more than {MAX_PROTO_NESTING} deep"
        )));
    }
    let dynamic =
        DynamicMessage::parse_text_format(descriptor, text).map_err(|e| error(e.to_string()))?;
    M::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| error(e.to_string()))
}

/// The first line where `{`/`<` nesting, outside strings and comments,
/// passes [`MAX_PROTO_NESTING`]: the text parser recurses once per level and
/// has no limit of its own, so this is checked before parsing.
fn line_nested_too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '#' => {
                chars.by_ref().find(|&c| c == '\n');
                line += 1;
            }
            '"' | '\'' => skip_string(&mut chars, c),
            '{' | '<' => {
                depth += 1;
                if depth > MAX_PROTO_NESTING {
                    return Some(line);
                }
            }
            '}' | '>' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Skips to the end of a string literal opened by `quote` (escapes honoured).
fn skip_string(chars: &mut std::str::Chars, quote: char) {
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            c if c == quote => return,
            _ => {}
        }
    }
}

/// Prints `message` (of type `full_name`) as multi-line text format.
pub fn to_text<M: Message>(full_name: &str, message: &M) -> Result<String, TextError> {
    let error = |detail: String| TextError {
        message: full_name.into(),
        detail,
    };
    let descriptor = pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| error("no such message type".into()))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| error(e.to_string()))?;
    Ok(
        dynamic.to_text_format_with_options(&FormatOptions::new().pretty(true).expand_any(true))
            + "\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::{CheckpointState, GraphDef};

    #[test]
    fn graph_text_round_trips() {
        let text = r#"
            node {
              name: "c" op: "Const"
              attr { key: "dtype" value { type: DT_INT32 } }
              attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 } }
                     tensor_content: "\001\000\000\000\n\000\000\000" } } }
            }
            node { name: "i" op: "Identity" input: "c" input: "^c" device: "/device:CPU:0" }
            versions { producer: 27 }
        "#;
        let graph: GraphDef = parse_text("tensorflow.GraphDef", text).unwrap();
        assert_eq!(graph.node.len(), 2);
        assert_eq!(graph.node[1].input, ["c", "^c"]);
        let printed = to_text("tensorflow.GraphDef", &graph).unwrap();
        let again: GraphDef = parse_text("tensorflow.GraphDef", &printed).unwrap();
        assert_eq!(again, graph);
    }

    #[test]
    fn checkpoint_state_and_errors() {
        let state: CheckpointState = parse_text(
            "tensorflow.CheckpointState",
            "model_checkpoint_path: \"model.ckpt-20\"\n",
        )
        .unwrap();
        assert_eq!(state.model_checkpoint_path, "model.ckpt-20");
        let err = parse_text::<GraphDef>("tensorflow.GraphDef", "node { nam: \"x\" }").unwrap_err();
        assert!(err.to_string().contains("tensorflow.GraphDef"), "{err}");
    }

    fn nested_graph(depth: usize) -> String {
        let open = "func { name: \"g\" attr { key: \"f\" value { ".repeat(depth);
        let close = "} } } ".repeat(depth);
        format!("node {{ name: \"a\" op: \"X\" attr {{ key: \"f\" value {{ {open}{close}}} }} }}")
    }

    #[test]
    fn deep_nesting_is_an_error_before_parsing_not_a_stack_overflow() {
        let shallow: GraphDef = parse_text("tensorflow.GraphDef", &nested_graph(10)).unwrap();
        assert_eq!(shallow.node.len(), 1);
        let err = parse_text::<GraphDef>("tensorflow.GraphDef", &nested_graph(20_000)).unwrap_err();
        assert!(err.to_string().contains("more than 100 deep"), "{err}");
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        let text = format!(
            "# {}\nnode {{ name: \"{}\" op: '{}' }}\n",
            "{".repeat(500),
            "{\\\"{".repeat(200),
            "<".repeat(200)
        );
        assert_eq!(line_nested_too_deep(&text), None);
        let graph: GraphDef = parse_text("tensorflow.GraphDef", &text).unwrap();
        assert!(graph.node[0].name.starts_with("{\"{"));
        assert_eq!(line_nested_too_deep(&"{\n".repeat(101)), Some(101));
    }
}
