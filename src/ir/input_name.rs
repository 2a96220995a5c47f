//! NodeDef input strings: `"x"` (port 0), `"x:2"`, `"^x"` (control).

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
    match input.rsplit_once(':') {
        None if input.is_empty() => Err(malformed("empty input")),
        None => Ok(InputName::Data {
            node: input,
            port: 0,
        }),
        Some((node, port)) => {
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

/// Writes an input back as TensorFlow does: port 0 without a suffix.
pub fn format_input(input: &InputName<'_>) -> String {
    match input {
        InputName::Data { node, port: 0 } => (*node).to_string(),
        InputName::Data { node, port } => format!("{node}:{port}"),
        InputName::Control { node } => format!("^{node}"),
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
    fn rejects_malformed_inputs() {
        for bad in ["", "x:abc", ":1", "^", "^x:1", "x:-1"] {
            let err = parse_input("consumer", bad).unwrap_err();
            assert!(err.to_string().contains("consumer"), "{err}");
        }
    }
}
