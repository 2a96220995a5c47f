//! The `--input KEY=TENSOR[:shape=...]` and `--output KEY=TENSOR` specs a
//! user gives, parsed into what the inputs pass needs.

use std::str::FromStr;

use super::PassError;

/// `--input KEY=TENSOR[:shape=D0,D1,...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub key: String,
    pub tensor: String,
    /// Overrides the shape found in the graph; `-1` for unknown dimensions.
    pub shape: Option<Vec<i64>>,
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
    let (key, tensor) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=TENSOR"))?;
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

impl FromStr for InputSpec {
    type Err = PassError;

    fn from_str(spec: &str) -> Result<InputSpec, PassError> {
        let (key, rest) = split_key("input", spec)?;
        let (tensor, shape) = match rest.split_once(":shape=") {
            None => (rest, None),
            Some((tensor, dims)) => {
                let dims = dims
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(|d| match d.trim() {
                        "?" | "-1" | "None" => Ok(-1),
                        d => d.parse::<i64>().ok().filter(|v| *v >= 0).ok_or(()),
                    })
                    .collect::<Result<Vec<i64>, ()>>()
                    .map_err(|()| PassError::BadSpec {
                        what: "input",
                        spec: spec.into(),
                        reason: "shape dimensions must be non-negative integers or -1".into(),
                    })?;
                (tensor, Some(dims))
            }
        };
        Ok(InputSpec {
            key: key.into(),
            tensor: tensor.into(),
            shape,
        })
    }
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
}
