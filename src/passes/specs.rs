//! The `--input` and `--output KEY=TENSOR` specs a user gives, parsed into
//! what the inputs pass needs.
//!
//! An input is `KEY=TENSOR[:shape=D0,D1,...][:default=V]`, or, for a
//! SparseTensor fed as its three components, `KEY=INDICES,VALUES,DENSE_SHAPE`
//! (tensor names never hold a comma, so the comma is unambiguous).

use std::str::FromStr;

use super::PassError;

/// `--input KEY=TENSOR[:shape=D0,D1,...][:default=V]` or
/// `--input KEY=INDICES,VALUES,DENSE_SHAPE`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InputSpec {
    pub key: String,
    /// The tensor replaced; for a sparse input, its values.
    pub tensor: String,
    /// Overrides the shape found in the graph; `-1` for unknown dimensions.
    pub shape: Option<Vec<i64>>,
    /// The value a parsed tf.Example feature takes when an example lacks
    /// it (`:default=V`, as written; parsed against the input's dtype where
    /// it is used). `None`: the feature is required.
    pub default: Option<String>,
    /// The other two components when the input is a SparseTensor.
    pub sparse: Option<SparseParts>,
}

/// The components of a SparseTensor besides its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseParts {
    /// int64 `[N, rank]`.
    pub indices: String,
    /// int64 `[rank]`.
    pub dense_shape: String,
}

/// `--output KEY=TENSOR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    pub key: String,
    pub tensor: String,
}

fn split_key<'a>(what: &'static str, spec: &'a str) -> Result<(&'a str, &'a str), PassError> {
    let bad = |reason: &str| PassError::BadSpec {
        what,
        spec: spec.into(),
        reason: reason.into(),
    };
    let (key, tensor) = spec.split_once('=').ok_or_else(|| {
        bad(&format!(
            "expected KEY=TENSOR; did you mean --{what} {}={spec}?",
            suggested_key(spec)
        ))
    })?;
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(bad("the key must be letters, digits, '_', '-' or '.'"));
    }
    if tensor.is_empty() {
        return Err(bad("no tensor after '='"));
    }
    Ok((key, tensor))
}

/// A signature key for a tensor named without one: the last scope of its
/// node's name (`logits:0` → `logits`, `head/probabilities:0` →
/// `probabilities`), with characters a key may not hold made `_`.
fn suggested_key(tensor: &str) -> String {
    let node = tensor.split(':').next().unwrap_or(tensor);
    let last = node.rsplit('/').next().unwrap_or(node);
    let key: String = last
        .chars()
        .map(|c| {
            let allowed = c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
            if allowed { c } else { '_' }
        })
        .collect();
    if key.is_empty() { "KEY".into() } else { key }
}

impl FromStr for InputSpec {
    type Err = PassError;

    fn from_str(spec: &str) -> Result<InputSpec, PassError> {
        let bad = |reason: &str| PassError::BadSpec {
            what: "input",
            spec: spec.into(),
            reason: reason.into(),
        };
        let (key, rest) = split_key("input", spec)?;
        let (rest, default) = match rest.split_once(":default=") {
            None => (rest, None),
            Some((rest, value)) => (rest, Some(value.to_string())),
        };
        let (tensor, shape) =
            match rest.split_once(":shape=") {
                None => (rest, None),
                Some((tensor, dims)) => (
                    tensor,
                    Some(parse_dims(dims).map_err(|()| {
                        bad("shape dimensions must be non-negative integers or -1")
                    })?),
                ),
            };
        let parts: Vec<&str> = tensor.split(',').collect();
        let (tensor, sparse) = match parts.as_slice() {
            [_] => (tensor, None),
            [indices, values, dense_shape] => {
                if [indices, values, dense_shape].iter().any(|t| t.is_empty()) {
                    return Err(bad(
                        "a sparse input is INDICES,VALUES,DENSE_SHAPE, none empty",
                    ));
                }
                if shape.is_some() || default.is_some() {
                    return Err(bad(
                        "a sparse input takes no :shape= or :default= (its examples may hold any number of values)",
                    ));
                }
                let sparse = SparseParts {
                    indices: indices.to_string(),
                    dense_shape: dense_shape.to_string(),
                };
                (*values, Some(sparse))
            }
            _ => {
                return Err(bad(
                    "expected one tensor, or three (INDICES,VALUES,DENSE_SHAPE) for a sparse input",
                ));
            }
        };
        Ok(InputSpec {
            key: key.into(),
            tensor: tensor.into(),
            shape,
            default,
            sparse,
        })
    }
}

/// `D0,D1,...` with `?`, `-1` or `None` for an unknown dimension.
fn parse_dims(dims: &str) -> Result<Vec<i64>, ()> {
    dims.split(',')
        .filter(|d| !d.is_empty())
        .map(|d| match d.trim() {
            "?" | "-1" | "None" => Ok(-1),
            d => d.parse::<i64>().ok().filter(|v| *v >= 0).ok_or(()),
        })
        .collect()
}

impl FromStr for OutputSpec {
    type Err = PassError;

    fn from_str(spec: &str) -> Result<OutputSpec, PassError> {
        let (key, tensor) = split_key("output", spec)?;
        Ok(OutputSpec {
            key: key.into(),
            tensor: tensor.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_input_specs_with_shapes() {
        let spec: InputSpec = "images=IteratorGetNext:0:shape=-1,28,28".parse().unwrap();
        assert_eq!(spec.key, "images");
        assert_eq!(spec.tensor, "IteratorGetNext:0");
        assert_eq!(spec.shape, Some(vec![-1, 28, 28]));
        let spec: InputSpec = "x=batch".parse().unwrap();
        assert_eq!(spec.shape, None);
        assert!("noequals".parse::<InputSpec>().is_err());
        assert!("x=t:shape=a,b".parse::<InputSpec>().is_err());
        assert!("bad key=t".parse::<OutputSpec>().is_err());
    }

    #[test]
    fn parses_defaults_and_sparse_inputs() {
        let spec: InputSpec = "age=IteratorGetNext:0:shape=-1,1:default=-1.5"
            .parse()
            .unwrap();
        assert_eq!(spec.tensor, "IteratorGetNext:0");
        assert_eq!(spec.shape, Some(vec![-1, 1]));
        assert_eq!(spec.default.as_deref(), Some("-1.5"));
        let spec: InputSpec = "city=it:1:default=a:b=c".parse().unwrap();
        assert_eq!(
            (spec.tensor.as_str(), spec.default.as_deref()),
            ("it:1", Some("a:b=c"))
        );
        let spec: InputSpec = "tags=it:2,it:3,it:4".parse().unwrap();
        assert_eq!(spec.tensor, "it:3");
        let sparse = spec.sparse.unwrap();
        assert_eq!(
            (sparse.indices.as_str(), sparse.dense_shape.as_str()),
            ("it:2", "it:4")
        );
        assert!("tags=a,b".parse::<InputSpec>().is_err());
        assert!("tags=a,,c".parse::<InputSpec>().is_err());
        assert!("tags=a,b,c:default=x".parse::<InputSpec>().is_err());
    }
}
