//! Tensor and input names: `"x"` (port 0), `"x:2"`, `"^x"` (control) in a
//! graph; `"arg"`, `"node:out_arg:index"`, `"^node"` inside a function body.
//! The one place that knows how they are spelled; everything else parses
//! and spells them through here.

use super::IrError;

/// One parsed NodeDef input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputName<'a> {
    Data { node: &'a str, port: usize },
    Control { node: &'a str },
}

/// Parses one input of node `consumer` (named only for errors).
pub fn parse_input<'a>(consumer: &str, input: &'a str) -> Result<InputName<'a>, IrError> {
    let malformed = |reason: &str| IrError::MalformedInput {
        node: consumer.into(),
        input: input.into(),
        reason: reason.into(),
    };
    if let Some(node) = input.strip_prefix('^') {
        if node.is_empty() || node.contains(':') {
            return Err(malformed("a control input names a node, without a port"));
        }
        return Ok(InputName::Control { node });
    }
    match split_port(input) {
        (_, None) if input.is_empty() => Err(malformed("empty input")),
        (node, None) => Ok(InputName::Data { node, port: 0 }),
        (node, Some(port)) => {
            if node.is_empty() {
                return Err(malformed("no node name before the port"));
            }
            let port = port
                .parse::<usize>()
                .map_err(|_| malformed("the port after ':' is not a number"))?;
            Ok(InputName::Data { node, port })
        }
    }
}

/// Parses a tensor name as signatures and specs give it: `"x"` or `"x:2"`,
/// never a control input. Errors name no consumer.
pub fn parse_tensor_name(name: &str) -> Result<(&str, usize), IrError> {
    match parse_input("", name)? {
        InputName::Data { node, port } => Ok((node, port)),
        InputName::Control { .. } => Err(IrError::MalformedInput {
            node: String::new(),
            input: name.into(),
            reason: "a tensor name has no '^'".into(),
        }),
    }
}

/// The node a tensor or input name refers to, for lookups and suggestions
/// that must not fail: `"x:2"`, `"^x"` and `"x"` all give `"x"`.
pub fn node_of(name: &str) -> &str {
    split_port(name.strip_prefix('^').unwrap_or(name)).0
}

/// `"x:2"` → `("x", Some("2"))`, `"x"` → `("x", None)`. Node names cannot
/// contain ':', so the last one separates the port.
fn split_port(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once(':') {
        Some((node, port)) => (node, Some(port)),
        None => (name, None),
    }
}

/// Writes an input back as TensorFlow does: port 0 without a suffix.
pub fn format_input(input: &InputName<'_>) -> String {
    match input {
        InputName::Data { node, port: 0 } => (*node).to_string(),
        InputName::Data { node, port } => format!("{node}:{port}"),
        InputName::Control { node } => format!("^{node}"),
    }
}

/// One input of a node inside a FunctionDef body, where outputs are named
/// by output arg rather than by port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyInput<'a> {
    /// An input arg of the function, by name: `"x"`.
    Arg { name: &'a str },
    /// Output `index` of output arg `arg` of a body node:
    /// `"node:arg:index"`, or `"node:arg"` for index 0.
    Output {
        node: &'a str,
        arg: &'a str,
        index: usize,
    },
    /// A control input: `"^node"`.
    Control { node: &'a str },
}

/// Why a function-body input does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedBodyInput {
    /// More than `node:arg:index`.
    TooManyParts,
    /// The index after the output arg is not a number.
    BadIndex,
}

/// Parses one input of a node inside a function body. A control input's
/// node is taken as written; whether it names a body node is the caller's
/// to check, as for the other forms.
pub fn parse_body_input(input: &str) -> Result<BodyInput<'_>, MalformedBodyInput> {
    if let Some(node) = input.strip_prefix('^') {
        return Ok(BodyInput::Control { node });
    }
    let mut parts = input.split(':');
    let head = parts.next().unwrap_or_default();
    let (Some(arg), index) = (parts.next(), parts.next()) else {
        return Ok(BodyInput::Arg { name: head });
    };
    if parts.next().is_some() {
        return Err(MalformedBodyInput::TooManyParts);
    }
    let index = match index {
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| MalformedBodyInput::BadIndex)?,
        None => 0,
    };
    Ok(BodyInput::Output {
        node: head,
        arg,
        index,
    })
}

/// Writes a function-body input back in the form TensorFlow writes: the
/// index always spelled.
pub fn format_body_input(input: &BodyInput<'_>) -> String {
    match input {
        BodyInput::Arg { name } => (*name).to_string(),
        BodyInput::Output { node, arg, index } => format!("{node}:{arg}:{index}"),
        BodyInput::Control { node } => format!("^{node}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_every_form() {
        for (text, parsed) in [
            ("x", InputName::Data { node: "x", port: 0 }),
            (
                "a/b:2",
                InputName::Data {
                    node: "a/b",
                    port: 2,
                },
            ),
            ("^c", InputName::Control { node: "c" }),
        ] {
            assert_eq!(parse_input("n", text).unwrap(), parsed);
            assert_eq!(format_input(&parsed), text);
        }
        assert_eq!(format_input(&parse_input("n", "x:0").unwrap()), "x");
    }

    #[test]
    fn tensor_names_and_their_nodes() {
        assert_eq!(parse_tensor_name("a/b:3").unwrap(), ("a/b", 3));
        assert_eq!(parse_tensor_name("a").unwrap(), ("a", 0));
        for bad in ["^a", "a:x", "", ":0"] {
            assert!(parse_tensor_name(bad).is_err(), "{bad}");
        }
        for name in ["a/b", "a/b:1", "^a/b"] {
            assert_eq!(node_of(name), "a/b", "{name}");
        }
    }

    #[test]
    fn parses_and_formats_body_inputs() {
        for (text, parsed) in [
            ("x", BodyInput::Arg { name: "x" }),
            (
                "split:output:1",
                BodyInput::Output {
                    node: "split",
                    arg: "output",
                    index: 1,
                },
            ),
            ("^relu", BodyInput::Control { node: "relu" }),
        ] {
            assert_eq!(parse_body_input(text).unwrap(), parsed);
            assert_eq!(format_body_input(&parsed), text);
        }
        let short = parse_body_input("add:z").unwrap();
        assert_eq!(format_body_input(&short), "add:z:0");
        assert_eq!(
            parse_body_input("a:b:0:1"),
            Err(MalformedBodyInput::TooManyParts)
        );
        assert_eq!(parse_body_input("a:b:c"), Err(MalformedBodyInput::BadIndex));
    }

    #[test]
    fn rejects_malformed_inputs() {
        for bad in ["", "x:abc", ":1", "^", "^x:1", "x:-1"] {
            let err = parse_input("consumer", bad).unwrap_err();
            assert!(err.to_string().contains("consumer"), "{err}");
        }
    }
}
