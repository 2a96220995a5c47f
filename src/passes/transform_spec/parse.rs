//! The Graph Transform Tool's `--transforms` syntax:
//!
//! ```text
//! name name2(arg=value, arg="quoted, value") name3(arg=a, arg=b, flag)
//! ```
//!
//! A name is letters, digits and `_`; transforms are separated by
//! whitespace. Arguments go in parentheses, each `name=value`, separated by
//! a comma (and optional spaces after it); an argument may repeat. An
//! unquoted value is letters, digits and `_-./`; a quoted one runs to the
//! next unescaped `"` (`\"` and `\\` stand for `"` and `\`) and may hold
//! commas, spaces and parentheses. One extension: an argument written
//! without `=value` is a flag, read as `true`.

use std::fmt;

/// One transform and its arguments, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformCall {
    pub name: String,
    /// `(name, value)`; `None` for a bare flag.
    pub args: Vec<(String, Option<String>)>,
}

/// Where and why the text does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the transforms, at character {position}: expected {expected}, found {}", Found(.found))]
pub struct ParseError {
    /// 0-based character offset into the text.
    pub position: usize,
    pub expected: &'static str,
    /// The rest of the text from there (empty at the end).
    pub found: String,
}

struct Found<'a>(&'a str);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the end")
        } else {
            let shown: String = self.0.chars().take(30).collect();
            write!(f, "{shown:?}")
        }
    }
}

/// Parses a `--transforms` string.
pub fn parse_transforms(text: &str) -> Result<Vec<TransformCall>, ParseError> {
    let mut cursor = Cursor {
        chars: text.chars().collect(),
        at: 0,
    };
    let mut calls = Vec::new();
    loop {
        cursor.skip_spaces();
        if cursor.at_end() {
            return Ok(calls);
        }
        let name = cursor.word(is_name_char, "a transform name")?;
        let args = if cursor.eat('(') {
            cursor.arguments()?
        } else {
            Vec::new()
        };
        calls.push(TransformCall { name, args });
        if !cursor.at_end() && !cursor.peek().is_some_and(char::is_whitespace) {
            return Err(cursor.error("whitespace before the next transform"));
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_value_char(c: char) -> bool {
    is_name_char(c) || matches!(c, '-' | '.' | '/')
}

struct Cursor {
    chars: Vec<char>,
    at: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn at_end(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.at += 1;
        }
        found
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn error(&self, expected: &'static str) -> ParseError {
        ParseError {
            position: self.at,
            expected,
            found: self
                .chars
                .get(self.at..)
                .unwrap_or_default()
                .iter()
                .collect(),
        }
    }

    fn word(
        &mut self,
        allowed: fn(char) -> bool,
        what: &'static str,
    ) -> Result<String, ParseError> {
        let start = self.at;
        while self.peek().is_some_and(allowed) {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error(what));
        }
        Ok(self
            .chars
            .get(start..self.at)
            .unwrap_or_default()
            .iter()
            .collect())
    }

    /// After `(`: arguments up to and including `)`.
    fn arguments(&mut self) -> Result<Vec<(String, Option<String>)>, ParseError> {
        let mut args = Vec::new();
        loop {
            if self.eat(')') {
                return Ok(args);
            }
            if !args.is_empty() && !self.eat(',') {
                return Err(self.error("',' or ')'"));
            }
            self.skip_spaces();
            let name = self.word(is_name_char, "an argument name")?;
            let value = if self.eat('=') {
                Some(self.value()?)
            } else {
                None
            };
            args.push((name, value));
        }
    }

    fn value(&mut self) -> Result<String, ParseError> {
        if self.eat('"') {
            return self.quoted();
        }
        self.word(
            is_value_char,
            "a value (letters, digits, _-./, or \"quoted\")",
        )
    }

    /// After an opening `"`: the text up to the closing one, unescaped.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("a closing '\"'")),
                Some('"') => {
                    self.at += 1;
                    return Ok(value);
                }
                Some('\\') => {
                    self.at += 1;
                    let escaped = self
                        .peek()
                        .ok_or_else(|| self.error("a character after '\\'"))?;
                    value.push(escaped);
                    self.at += 1;
                }
                Some(c) => {
                    value.push(c);
                    self.at += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[(&str, Option<&str>)]) -> TransformCall {
        TransformCall {
            name: name.into(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(String::from)))
                .collect(),
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let text = r#"strip_unused_nodes(type=float, shape="1,299,299,3") remove_nodes(op=Identity, op=CheckNumerics) fold_old_batch_norms"#;
        assert_eq!(
            parse_transforms(text).unwrap(),
            [
                call(
                    "strip_unused_nodes",
                    &[("type", Some("float")), ("shape", Some("1,299,299,3"))]
                ),
                call(
                    "remove_nodes",
                    &[("op", Some("Identity")), ("op", Some("CheckNumerics"))]
                ),
                call("fold_old_batch_norms", &[]),
            ]
        );
    }

    #[test]
    fn quotes_hold_commas_spaces_parens_and_escapes() {
        let text = r#"  set_device(device="/job:a/replica:0 (x), y")   rename_attribute(old_attribute_name=a,new_attribute_name="say \"hi\" \\")"#;
        let calls = parse_transforms(text).unwrap();
        assert_eq!(
            calls[0].args[0].1.as_deref(),
            Some("/job:a/replica:0 (x), y")
        );
        assert_eq!(calls[1].args[1].1.as_deref(), Some(r#"say "hi" \"#));
    }

    #[test]
    fn unquoted_values_take_dashes_dots_and_slashes() {
        let calls =
            parse_transforms("quantize_weights(minimum_size=-1.5/x_y) fold_constants()").unwrap();
        assert_eq!(calls[0].args[0].1.as_deref(), Some("-1.5/x_y"));
        assert!(calls[1].args.is_empty());
    }

    #[test]
    fn flags_without_values_and_empty_quotes() {
        let calls = parse_transforms(r#"fold_constants(ignore_errors) x(a="")"#).unwrap();
        assert_eq!(calls[0], call("fold_constants", &[("ignore_errors", None)]));
        assert_eq!(calls[1], call("x", &[("a", Some(""))]));
        assert!(parse_transforms("   ").unwrap().is_empty());
    }

    #[test]
    fn malformed_text_is_an_error_saying_where() {
        let cases = [
            ("remove_nodes(op=Identity", 24, "',' or ')'"),
            ("remove_nodes(op=\"Identity)", 26, "a closing '\"'"),
            ("remove_nodes(op=Identity op=X)", 24, "',' or ')'"),
            ("remove_nodes(=x)", 13, "an argument name"),
            (
                "fold(a=)",
                7,
                "a value (letters, digits, _-./, or \"quoted\")",
            ),
            ("a(x=1)b", 6, "whitespace before the next transform"),
            ("-fold", 0, "a transform name"),
        ];
        for (text, position, expected) in cases {
            let err = parse_transforms(text).unwrap_err();
            assert_eq!(
                (err.position, err.expected),
                (position, expected),
                "{text}: {err}"
            );
        }
        let message = parse_transforms("x(a=1").unwrap_err().to_string();
        assert!(message.contains("found the end"), "{message}");
    }
}
