//! Ops whose output has their input's shape (unary math, activations,
//! identities) and ops that broadcast two inputs (binary math, comparisons).

use super::call::{Call, Conflict, Facts, Outcome};
use super::fact::{Dim, Dims, Fact, Shape};
use crate::format::proto::DataType;

/// Unary ops: the output is the input, value and all for identities.
pub const SAME_AS_INPUT: &[&str] = &[
    "Abs",
    "Acos",
    "Asin",
    "Atan",
    "Ceil",
    "CheckNumerics",
    "Cos",
    "Cosh",
    "DebugIdentity",
    "Elu",
    "Erf",
    "Erfc",
    "Exp",
    "Expm1",
    "Floor",
    "Identity",
    "Inv",
    "Invert",
    "LeakyRelu",
    "Log",
    "Log1p",
    "LogSoftmax",
    "Neg",
    "OnesLike",
    "PlaceholderWithDefault",
    "PreventGradient",
    "Reciprocal",
    "Relu",
    "Relu6",
    "Rint",
    "Round",
    "Rsqrt",
    "Selu",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Snapshot",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Square",
    "StopGradient",
    "Tan",
    "Tanh",
    "ZerosLike",
    "EnsureShape",
    "Print",
    "L2Loss",
    "LRN",
    "Cumsum",
    "Cumprod",
    "ClipByValue",
    "Conj",
    "Digamma",
    "Lgamma",
    "Erfinv",
    "FakeQuantWithMinMaxArgs",
    "FakeQuantWithMinMaxVars",
];

/// Unary ops that keep the shape and give booleans.
pub const PREDICATES: &[&str] = &["IsNan", "IsInf", "IsFinite", "LogicalNot"];

/// Binary ops that broadcast their two inputs to one shape.
pub const BROADCASTING: &[&str] = &[
    "Add",
    "AddV2",
    "Atan2",
    "BiasAddGrad",
    "Div",
    "DivNoNan",
    "FloorDiv",
    "FloorMod",
    "Maximum",
    "Minimum",
    "Mod",
    "Mul",
    "MulNoNan",
    "Pow",
    "RealDiv",
    "SquaredDifference",
    "Sub",
    "TruncateDiv",
    "TruncateMod",
    "Xdivy",
    "Xlogy",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "LeftShift",
    "RightShift",
];

/// Binary broadcasting ops that give booleans.
pub const COMPARISONS: &[&str] = &[
    "Equal",
    "NotEqual",
    "Less",
    "LessEqual",
    "Greater",
    "GreaterEqual",
    "LogicalAnd",
    "LogicalOr",
];

pub fn same_as_input(call: &Call) -> Outcome {
    let input = call.input(0);
    let passes_value = matches!(
        call.op,
        "Identity"
            | "Snapshot"
            | "StopGradient"
            | "PreventGradient"
            | "CheckNumerics"
            | "PlaceholderWithDefault"
            | "EnsureShape"
            | "Print"
            | "DebugIdentity"
    );
    let mut fact = Fact {
        dtype: input.dtype,
        shape: input.shape.clone(),
        value: input.value.clone().filter(|_| passes_value),
        handle_shape: input.handle_shape.clone(),
    };
    if call.op == "L2Loss" {
        fact.shape = Shape::scalar();
    }
    if call.op == "EnsureShape" {
        fact.shape = unify_shapes(&fact.shape, &call.attr_shape("shape"))
            .ok_or_else(|| Conflict::new("EnsureShape", call.attr_shape("shape"), &fact.shape))?;
    }
    call.one(fact)
}

pub fn predicate(call: &Call) -> Outcome {
    call.one(Fact::of(
        Some(DataType::DtBool),
        call.input_shape(0).clone(),
    ))
}

pub fn broadcasting(call: &Call) -> Outcome {
    let (a, b) = (call.input(0), call.input(1));
    same_dtypes(call.op, a.dtype, b.dtype)?;
    let shape = broadcast(&a.shape, &b.shape).map_err(|(x, y)| {
        Conflict::new(
            format!("{} broadcasts its inputs", call.op),
            format!("dimensions that are equal or 1, at {x} and {y}"),
            format!("{} and {}", a.shape, b.shape),
        )
    })?;
    let dtype = if COMPARISONS.contains(&call.op) {
        Some(DataType::DtBool)
    } else {
        a.dtype.or(b.dtype)
    };
    let value = arithmetic(call.op, a, b);
    call.one(Fact {
        dtype,
        shape,
        value,
        handle_shape: None,
    })
}

/// The elements of `a op b` for small integer values (shape arithmetic).
fn arithmetic(op: &str, a: &Fact, b: &Fact) -> Option<Vec<Dim>> {
    let vector = |f: &Fact| f.shape.rank().is_some_and(|r| r <= 1);
    if !vector(a) || !vector(b) {
        return None;
    }
    let (x, y) = (a.value.as_ref()?, b.value.as_ref()?);
    let pairs: Vec<(Dim, Dim)> = match (x.len(), y.len()) {
        (n, m) if n == m => x.iter().copied().zip(y.iter().copied()).collect(),
        (1, _) => y.iter().map(|&e| (x[0], e)).collect(),
        (_, 1) => x.iter().map(|&e| (e, y[0])).collect(),
        _ => return None,
    };
    let apply = |(p, q): (Dim, Dim)| match (op, p, q) {
        ("Mul", _, _) => p.times(q),
        ("Add" | "AddV2", Dim::Known(p), Dim::Known(q)) => {
            p.checked_add(q).map_or(Dim::Unknown, Dim::Known)
        }
        ("Sub", Dim::Known(p), Dim::Known(q)) => p.checked_sub(q).map_or(Dim::Unknown, Dim::Known),
        // Floor division, which Euclid's is for a positive divisor.
        ("FloorDiv" | "RealDiv" | "Div", Dim::Known(p), Dim::Known(q)) if q > 0 => {
            p.checked_div_euclid(q).map_or(Dim::Unknown, Dim::Known)
        }
        ("Maximum", Dim::Known(p), Dim::Known(q)) => Dim::Known(p.max(q)),
        ("Minimum", Dim::Known(p), Dim::Known(q)) => Dim::Known(p.min(q)),
        _ => Dim::Unknown,
    };
    Some(pairs.into_iter().map(apply).collect())
}

/// Two inputs an op takes of one type `T` must have it: a float32 added to
/// an int32 is refused by TensorFlow when the graph is imported.
pub fn same_dtypes(op: &str, a: Option<DataType>, b: Option<DataType>) -> Result<(), Conflict> {
    let known = |d: Option<DataType>| d.filter(|d| *d != DataType::DtInvalid);
    match (known(a), known(b)) {
        (Some(a), Some(b)) if a != b => Err(Conflict::new(
            format!("{op}'s inputs are of one type"),
            crate::typing::dtype_name(a as i32),
            crate::typing::dtype_name(b as i32),
        )),
        _ => Ok(()),
    }
}

/// NumPy broadcasting; on failure the two dimensions that clash.
pub fn broadcast(a: &Shape, b: &Shape) -> Result<Shape, (Dim, Dim)> {
    let (Some(x), Some(y)) = (a.dims(), b.dims()) else {
        return Ok(Shape::Unknown);
    };
    let rank = x.len().max(y.len());
    let pad = |dims: &[Dim]| {
        let mut padded = vec![Dim::Known(1); rank - dims.len()];
        padded.extend_from_slice(dims);
        padded
    };
    let (x, y) = (pad(x), pad(y));
    let dims = x.iter().zip(&y).map(|(&p, &q)| match (p, q) {
        (Dim::Known(1), d) | (d, Dim::Known(1)) => Ok(d),
        (Dim::Unknown, d) | (d, Dim::Unknown) => match d {
            Dim::Known(_) | Dim::Batch => Ok(d),
            Dim::Unknown => Ok(Dim::Unknown),
        },
        _ => p.unify(q).ok_or((p, q)),
    });
    Ok(Shape::Ranked(dims.collect::<Result<_, _>>()?))
}

/// The one shape two shapes that must be equal can be; `None` on a clash.
pub fn unify_shapes(a: &Shape, b: &Shape) -> Option<Shape> {
    match (a.dims(), b.dims()) {
        (Some(x), Some(y)) if x.len() != y.len() => None,
        (Some(x), Some(y)) => {
            let dims: Option<Dims> = x.iter().zip(y).map(|(p, q)| p.unify(*q)).collect();
            dims.map(Shape::Ranked)
        }
        (Some(_), None) => Some(a.clone()),
        _ => Some(b.clone()),
    }
}

/// `AddN`: its inputs, all of one shape.
pub fn add_n(call: &Call) -> Outcome {
    let mut shape = Shape::Unknown;
    for input in call.inputs {
        shape = unify_shapes(&shape, &input.shape)
            .ok_or_else(|| Conflict::new("AddN's inputs", &shape, &input.shape))?;
    }
    let dtype = call.inputs.iter().find_map(|f| f.dtype);
    call.one(Fact::of(dtype, shape))
}

/// `IdentityN`: each input as it is.
pub fn identity_n(call: &Call) -> Outcome {
    let mut facts: Facts = call.inputs.iter().map(|&f| f.clone()).collect();
    facts.resize(call.outputs.max(1), Fact::unknown());
    Ok(facts)
}

/// `Cast`: the input's shape in `DstT`.
pub fn cast(call: &Call) -> Outcome {
    let input = call.input(0);
    let dtype = call.attr_type("DstT");
    let integer = matches!(dtype, Some(DataType::DtInt32 | DataType::DtInt64));
    let value = input.value.clone().filter(|_| integer);
    call.one(Fact {
        dtype,
        shape: input.shape.clone(),
        value,
        handle_shape: None,
    })
}

/// `BiasAdd`: the value's shape, the bias matching its channels.
pub fn bias_add(call: &Call) -> Outcome {
    let (value, bias) = (call.input(0), call.input(1));
    if let Some(rank) = value.shape.rank()
        && rank < 2
    {
        return Err(Conflict::new(
            "BiasAdd's value",
            "rank at least 2",
            &value.shape,
        ));
    }
    if let Some(rank) = bias.shape.rank()
        && rank != 1
    {
        return Err(Conflict::new("BiasAdd's bias", "rank 1", &bias.shape));
    }
    let channels_first = call.attr_string("data_format") == Some("NCHW");
    let axis = if channels_first { 1 } else { -1 };
    if let (Some(c), Some(b)) = (value.shape.dim(axis), bias.shape.dim(0))
        && c.unify(b).is_none()
    {
        return Err(Conflict::new(
            "BiasAdd's bias",
            format!("{c} channels"),
            &bias.shape,
        ));
    }
    call.one(Fact::of(value.dtype.or(bias.dtype), value.shape.clone()))
}

/// `Select`/`SelectV2`: the branches' shape (broadcast for `SelectV2`).
pub fn select(call: &Call) -> Outcome {
    let (cond, a, b) = (call.input(0), call.input(1), call.input(2));
    let branches = broadcast(&a.shape, &b.shape).map_err(|_| {
        Conflict::new(
            call.op,
            "branches of one shape",
            format!("{} and {}", a.shape, b.shape),
        )
    })?;
    let shape = if call.op == "SelectV2" {
        broadcast(&cond.shape, &branches).unwrap_or(Shape::Unknown)
    } else {
        branches
    };
    call.one(Fact::of(a.dtype.or(b.dtype), shape))
}
