//! The attr defaults of TensorFlow's ops, for graphs without their own op
//! list: `tensorflow_attr_defaults.txt`, generated from the tensorflow-cpu
//! wheel by `tools/generate_attr_defaults.py` (per line: op, attr, the
//! default `AttrValue` serialized and base64-encoded).

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use prost::Message;

use crate::format::proto::AttrValue;

const TENSORFLOW_ATTR_DEFAULTS: &str = include_str!("tensorflow_attr_defaults.txt");

/// Op → its attrs with defaults, in OpDef order.
type Defaults = HashMap<&'static str, Vec<(&'static str, AttrValue)>>;

static DEFAULTS: LazyLock<Defaults> =
    LazyLock::new(|| parse_defaults(TENSORFLOW_ATTR_DEFAULTS).unwrap_or_default());

/// The attrs op `op` gives a default, per TensorFlow's registry (empty for
/// an op it does not know).
pub fn tensorflow_attr_defaults(op: &str) -> &'static [(&'static str, AttrValue)] {
    DEFAULTS.get(op).map_or(&[], Vec::as_slice)
}

fn parse_defaults(text: &'static str) -> Result<Defaults, String> {
    let mut defaults = Defaults::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.split(' ');
        let (Some(op), Some(attr), Some(encoded), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("malformed line {line:?}"));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("{op} {attr}: {e}"))?;
        let value = AttrValue::decode(bytes.as_slice()).map_err(|e| format!("{op} {attr}: {e}"))?;
        defaults.entry(op).or_default().push((attr, value));
    }
    Ok(defaults)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::proto::attr_value::Value;

    #[test]
    fn the_embedded_table_parses_and_holds_known_defaults() {
        let parsed = parse_defaults(TENSORFLOW_ATTR_DEFAULTS).unwrap();
        assert!(parsed.len() > 500, "{} ops", parsed.len());
        let conv = tensorflow_attr_defaults("Conv2D");
        let format = conv
            .iter()
            .find(|(name, _)| *name == "data_format")
            .unwrap();
        assert_eq!(format.1.value, Some(Value::S(b"NHWC".to_vec().into())));
        assert!(tensorflow_attr_defaults("NoSuchOp").is_empty());
    }
}
