//! The ops servegraph computes itself on constant tensors (for
//! `fold_constants` and the batch-norm folds): elementwise arithmetic with
//! NumPy broadcasting, a few unary functions, `Reshape`, `Cast` and
//! `Identity`, on float32, float64, int32 and int64. Anything else is left
//! to TensorFlow.

use crate::format::tensor::{Tensor, Values};
use crate::ir::{AttrExt, DataType, Node, TensorProto};

/// Every op the constant folder evaluates itself (see `fold_constants`).
pub const FOLDED_OPS: &[&str] = &[
    "Identity",
    "Add",
    "AddV2",
    "Sub",
    "Mul",
    "RealDiv",
    "Maximum",
    "Minimum",
    "SquaredDifference",
    "Neg",
    "Square",
    "Sqrt",
    "Rsqrt",
    "Reciprocal",
    "Reshape",
    "Cast",
];

/// Largest tensor a fold may produce, so a broadcast cannot blow up memory.
const MAX_FOLDED_ELEMENTS: usize = 1 << 24;

/// Numbers of one of the dtypes evaluated here.
#[derive(Debug, Clone, PartialEq)]
pub enum Numbers {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

/// A tensor as [`evaluate`] works on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub dtype: DataType,
    pub shape: Vec<i64>,
    pub numbers: Numbers,
}

impl Dense {
    pub fn from_proto(proto: &TensorProto) -> Result<Dense, String> {
        let tensor = Tensor::from_proto(proto).map_err(|e| e.to_string())?;
        let numbers = match tensor.values {
            Values::F32(v) => Numbers::Float(v.into_iter().map(f64::from).collect()),
            Values::F64(v) => Numbers::Float(v),
            Values::I32(v) => Numbers::Int(v.into_iter().map(i64::from).collect()),
            Values::I64(v) => Numbers::Int(v),
            _ => {
                return Err(format!(
                    "dtype {} is not evaluated",
                    tensor.dtype.as_str_name()
                ));
            }
        };
        Ok(Dense {
            dtype: tensor.dtype,
            shape: tensor.shape,
            numbers,
        })
    }

    /// The values as float64, whatever the dtype.
    pub fn floats(&self) -> Vec<f64> {
        match &self.numbers {
            Numbers::Float(v) => v.clone(),
            Numbers::Int(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    pub fn element_count(&self) -> usize {
        match &self.numbers {
            Numbers::Float(v) => v.len(),
            Numbers::Int(v) => v.len(),
        }
    }

    /// A tensor of `dtype` and `shape` holding `numbers` (cast to the dtype).
    pub fn new(dtype: DataType, shape: Vec<i64>, numbers: Numbers) -> Dense {
        Dense {
            dtype,
            shape,
            numbers,
        }
    }

    pub fn to_proto(&self) -> TensorProto {
        let values = match (&self.numbers, self.dtype) {
            (Numbers::Float(v), DataType::DtFloat) => {
                Values::F32(v.iter().map(|&x| x as f32).collect())
            }
            (Numbers::Float(v), DataType::DtDouble) => Values::F64(v.clone()),
            (Numbers::Int(v), DataType::DtInt32) => {
                Values::I32(v.iter().map(|&x| x as i32).collect())
            }
            (Numbers::Int(v), _) => Values::I64(v.clone()),
            (Numbers::Float(v), _) => Values::F64(v.clone()),
        };
        Tensor {
            dtype: self.dtype,
            shape: self.shape.clone(),
            values,
        }
        .to_proto()
    }
}

/// Computes `node` on constant `inputs`; an error says why it cannot.
pub fn evaluate(node: &Node, inputs: &[Dense]) -> Result<Dense, String> {
    let unary = |f: fn(f64) -> f64| -> Result<Dense, String> {
        let x = inputs.first().ok_or("no input")?;
        float_only(x)?;
        Ok(map_floats(x, f))
    };
    match node.op.as_str() {
        "Identity" => inputs.first().cloned().ok_or_else(|| "no input".into()),
        "Neg" => match inputs.first().ok_or("no input")? {
            Dense {
                numbers: Numbers::Int(v),
                dtype,
                shape,
            } => Ok(Dense::new(
                *dtype,
                shape.clone(),
                Numbers::Int(v.iter().map(|x| x.wrapping_neg()).collect()),
            )),
            x => Ok(map_floats(x, |v| -v)),
        },
        "Square" => unary(|x| x * x),
        "Sqrt" => unary(f64::sqrt),
        "Rsqrt" => unary(|x| 1.0 / x.sqrt()),
        "Reciprocal" => unary(|x| 1.0 / x),
        "Reshape" => reshape(inputs),
        "Cast" => cast(node, inputs),
        op => binary(op, inputs),
    }
}

fn float_only(x: &Dense) -> Result<(), String> {
    match x.numbers {
        Numbers::Float(_) => Ok(()),
        Numbers::Int(_) => Err(format!(
            "{} inputs are not evaluated",
            x.dtype.as_str_name()
        )),
    }
}

fn map_floats(x: &Dense, f: fn(f64) -> f64) -> Dense {
    Dense::new(
        x.dtype,
        x.shape.clone(),
        Numbers::Float(x.floats().into_iter().map(f).collect()),
    )
}

fn binary(op: &str, inputs: &[Dense]) -> Result<Dense, String> {
    let [a, b] = inputs else {
        return Err(format!("{op} takes two inputs"));
    };
    if a.dtype != b.dtype {
        return Err("the inputs' dtypes differ".into());
    }
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    let (ia, ib) = (
        broadcast_index(&a.shape, &shape)?,
        broadcast_index(&b.shape, &shape)?,
    );
    let numbers = match (&a.numbers, &b.numbers) {
        (Numbers::Float(x), Numbers::Float(y)) => {
            let f = float_op(op)?;
            Numbers::Float(
                pairs(x, y, &ia, &ib)
                    .map(|(p, q)| f(p, q))
                    .collect::<Option<_>>()
                    .ok_or("index out of range")?,
            )
        }
        (Numbers::Int(x), Numbers::Int(y)) => {
            let f = int_op(op)?;
            Numbers::Int(
                pairs(x, y, &ia, &ib)
                    .map(|(p, q)| f(p, q))
                    .collect::<Option<_>>()
                    .ok_or("index out of range")?,
            )
        }
        _ => return Err("mixed number kinds".into()),
    };
    Ok(Dense::new(a.dtype, shape, numbers))
}

/// The elements of `x` and `y` at each pair of broadcast indices.
fn pairs<'a, T: Copy>(
    x: &'a [T],
    y: &'a [T],
    ia: &'a [usize],
    ib: &'a [usize],
) -> impl Iterator<Item = (Option<T>, Option<T>)> + 'a {
    ia.iter()
        .zip(ib)
        .map(|(&i, &j)| (x.get(i).copied(), y.get(j).copied()))
}

type FloatOp = fn(Option<f64>, Option<f64>) -> Option<f64>;
type IntOp = fn(Option<i64>, Option<i64>) -> Option<i64>;

fn float_op(op: &str) -> Result<FloatOp, String> {
    Ok(match op {
        "Add" | "AddV2" => |a, b| Some(a? + b?),
        "Sub" => |a, b| Some(a? - b?),
        "Mul" => |a, b| Some(a? * b?),
        "RealDiv" => |a, b| Some(a? / b?),
        "Maximum" => |a, b| Some(a?.max(b?)),
        "Minimum" => |a, b| Some(a?.min(b?)),
        "SquaredDifference" => |a, b| Some((a? - b?) * (a? - b?)),
        other => return Err(format!("op {other} is not evaluated")),
    })
}

fn int_op(op: &str) -> Result<IntOp, String> {
    Ok(match op {
        "Add" | "AddV2" => |a, b| Some(a?.wrapping_add(b?)),
        "Sub" => |a, b| Some(a?.wrapping_sub(b?)),
        "Mul" => |a, b| Some(a?.wrapping_mul(b?)),
        "Maximum" => |a, b| Some(a?.max(b?)),
        "Minimum" => |a, b| Some(a?.min(b?)),
        other => return Err(format!("op {other} is not evaluated on integers")),
    })
}

/// NumPy's broadcast of two shapes.
pub fn broadcast_shape(a: &[i64], b: &[i64]) -> Result<Vec<i64>, String> {
    let rank = a.len().max(b.len());
    let dim = |s: &[i64], i: usize| {
        let pad = rank - s.len();
        if i < pad {
            1
        } else {
            s.get(i - pad).copied().unwrap_or(1)
        }
    };
    let shape: Vec<i64> = (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?));
    match count {
        Some(n) if n <= MAX_FOLDED_ELEMENTS => Ok(shape),
        _ => Err(format!("a result of shape {shape:?} is too large to fold")),
    }
}

/// For each element of `out` (row-major), the index of the element of a
/// tensor of shape `from` that broadcasts to it.
fn broadcast_index(from: &[i64], out: &[i64]) -> Result<Vec<usize>, String> {
    let pad = out.len() - from.len();
    let dims: Vec<usize> = out.iter().map(|&d| d.max(0) as usize).collect();
    let total: usize = dims.iter().product();
    let mut strides = vec![0usize; out.len()];
    let mut stride = 1usize;
    for i in (0..from.len()).rev() {
        let d = from.get(i).copied().unwrap_or(1).max(0) as usize;
        if let Some(s) = strides.get_mut(i + pad) {
            *s = if d == 1 { 0 } else { stride };
        }
        stride = stride.saturating_mul(d);
    }
    let mut index = Vec::with_capacity(total);
    let mut position = vec![0usize; out.len()];
    for _ in 0..total {
        index.push(position.iter().zip(&strides).map(|(p, s)| p * s).sum());
        for axis in (0..out.len()).rev() {
            position[axis] += 1;
            if position[axis] < dims[axis] {
                break;
            }
            position[axis] = 0;
        }
    }
    Ok(index)
}

fn reshape(inputs: &[Dense]) -> Result<Dense, String> {
    let [x, shape] = inputs else {
        return Err("Reshape takes two inputs".into());
    };
    let Numbers::Int(dims) = &shape.numbers else {
        return Err("the shape is not integers".into());
    };
    let known: i64 = dims.iter().filter(|&&d| d != -1).product();
    let unknown = dims.iter().filter(|&&d| d == -1).count();
    let count = x.element_count() as i64;
    let dims: Vec<i64> = match unknown {
        0 if known == count => dims.clone(),
        1 if known > 0 && count % known == 0 => dims
            .iter()
            .map(|&d| if d == -1 { count / known } else { d })
            .collect(),
        _ => {
            return Err(format!(
                "cannot reshape {} elements to {dims:?}",
                x.element_count()
            ));
        }
    };
    Ok(Dense::new(x.dtype, dims, x.numbers.clone()))
}

fn cast(node: &Node, inputs: &[Dense]) -> Result<Dense, String> {
    let x = inputs.first().ok_or("no input")?;
    let to = node.attr_type("DstT").map_err(|e| e.to_string())?;
    let numbers = match to {
        DataType::DtFloat | DataType::DtDouble => Numbers::Float(x.floats()),
        DataType::DtInt32 | DataType::DtInt64 => match &x.numbers {
            Numbers::Int(v) => Numbers::Int(v.clone()),
            Numbers::Float(v) => Numbers::Int(v.iter().map(|&f| f.trunc() as i64).collect()),
        },
        other => {
            return Err(format!(
                "casts to {} are not evaluated",
                other.as_str_name()
            ));
        }
    };
    Ok(Dense::new(to, x.shape.clone(), numbers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(shape: &[i64], v: &[f64]) -> Dense {
        Dense::new(
            DataType::DtFloat,
            shape.to_vec(),
            Numbers::Float(v.to_vec()),
        )
    }

    #[test]
    fn binary_ops_broadcast_like_numpy() {
        let a = floats(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = floats(&[3], &[10.0, 20.0, 30.0]);
        let sum = evaluate(&Node::new("s", "AddV2"), &[a.clone(), b]).unwrap();
        assert_eq!(sum.shape, [2, 3]);
        assert_eq!(
            sum.numbers,
            Numbers::Float(vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0])
        );
        let column = floats(&[2, 1], &[2.0, 3.0]);
        let product = evaluate(&Node::new("m", "Mul"), &[a, column]).unwrap();
        assert_eq!(
            product.numbers,
            Numbers::Float(vec![2.0, 4.0, 6.0, 12.0, 15.0, 18.0])
        );
        let bad = evaluate(
            &Node::new("m", "Mul"),
            &[floats(&[2], &[1.0, 2.0]), floats(&[3], &[1.0, 2.0, 3.0])],
        );
        assert!(bad.unwrap_err().contains("do not broadcast"));
    }

    #[test]
    fn reshape_infers_one_dimension_and_round_trips_through_protos() {
        let x = floats(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let shape = Dense::new(DataType::DtInt32, vec![2], Numbers::Int(vec![-1, 1]));
        let y = evaluate(&Node::new("r", "Reshape"), &[x, shape]).unwrap();
        assert_eq!(y.shape, [4, 1]);
        assert_eq!(Dense::from_proto(&y.to_proto()).unwrap(), y);
        let r = evaluate(&Node::new("q", "Rsqrt"), &[floats(&[], &[4.0])]).unwrap();
        assert_eq!(r.numbers, Numbers::Float(vec![0.5]));
    }
}
