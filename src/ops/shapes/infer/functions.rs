//! Calls of library functions: a body inferred with the call's input
//! facts gives the call's outputs (`PartitionedCall`, a function used as
//! an op), the two branches' joined (`If`), or the loop variables' once
//! the body keeps them (`While`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::infer_within;
use foldhash::fast::FixedState;

use crate::format::proto::{FunctionDefLibrary, NodeDef, OpDef};
use crate::ir::function_body::FunctionBody;
use crate::ir::{FunctionIndex, TensorRef};
use crate::ops::OpSignatures;
use crate::ops::shapes::call::{Call, Facts};
use crate::ops::shapes::control::loosen;
use crate::ops::shapes::fact::{Fact, Shape};
use crate::ops::shapes::{Rule, rule};

/// How deep calls may nest before a call's outputs are left to its attrs.
const MAX_DEPTH: usize = 16;

/// Iterations of a `While` body before its variables are taken as unknown.
const MAX_LOOP_PASSES: usize = 3;

/// A function and the facts of its inputs.
type BodyKey = (String, Vec<Fact>);

/// The functions calls may name, the op definitions, and the body facts
/// already inferred (once per function and input facts).
pub struct Library<'a> {
    pub ops: &'a OpSignatures<'a>,
    index: FunctionIndex<'a>,
    cache: RefCell<HashMap<BodyKey, Option<Vec<Fact>>>>,
    depth: Cell<usize>,
    /// Each op met so far: its rule, its definition and whether it calls.
    ops_met: RefCell<HashMap<String, OpEntry<'a>, FixedState>>,
}

/// What inference needs of an op, looked up once per op.
#[derive(Clone, Copy)]
pub struct OpEntry<'a> {
    pub rule: Option<Rule>,
    pub def: Option<&'a OpDef>,
    /// Whether its nodes call a library function (see [`called`]).
    pub calls: bool,
}

impl<'a> Library<'a> {
    pub fn new(library: Option<&'a FunctionDefLibrary>, ops: &'a OpSignatures<'a>) -> Self {
        Library {
            ops,
            index: FunctionIndex::new(library),
            cache: RefCell::default(),
            depth: Cell::new(0),
            ops_met: RefCell::default(),
        }
    }

    /// What inference needs of `op`, looked up once per op.
    pub fn op(&self, op: &str) -> OpEntry<'a> {
        if let Some(&entry) = self.ops_met.borrow().get(op) {
            return entry;
        }
        let entry = OpEntry {
            rule: rule(op),
            def: self.ops.get(op),
            calls: CALL_OPS.contains(&op) || self.index.contains(op),
        };
        self.ops_met.borrow_mut().insert(op.to_string(), entry);
        entry
    }

    /// The facts of function `name`'s outputs given its inputs'; `None`
    /// when it is not defined, its body cannot be read or calls nest too deep.
    fn body(&self, name: &str, inputs: &[Fact]) -> Option<Vec<Fact>> {
        let key = (name.to_string(), inputs.to_vec());
        if let Some(known) = self.cache.borrow().get(&key) {
            return known.clone();
        }
        if self.depth.get() >= MAX_DEPTH {
            return None;
        }
        self.depth.set(self.depth.get() + 1);
        let facts = self.infer_body(name, inputs);
        self.depth.set(self.depth.get() - 1);
        self.cache.borrow_mut().insert(key, facts.clone());
        facts
    }

    fn infer_body(&self, name: &str, inputs: &[Fact]) -> Option<Vec<Fact>> {
        let function = self.index.get(name)?;
        let ops = self.ops;
        let port_of = |def: &NodeDef, arg: &str, index: usize| {
            crate::typing::output_arg_port(ops.get(&def.op)?, &def.attr, arg, index)
        };
        let body = FunctionBody::from_function(function, &port_of).ok()?;
        let seeds: HashMap<TensorRef, Fact> = body
            .args
            .iter()
            .zip(inputs)
            .map(|(&arg, fact)| (TensorRef::new(arg, 0), fact.clone()))
            .collect();
        let inference = infer_within(&body.graph, self, &seeds).ok()?;
        let signature = function.signature.as_ref()?;
        signature
            .output_arg
            .iter()
            .map(|arg| body.outputs.get(&arg.name).map(|&t| inference.fact(t)))
            .collect()
    }
}

/// The ops that call the library functions their attributes name.
const CALL_OPS: [&str; 6] = [
    "PartitionedCall",
    "StatefulPartitionedCall",
    "If",
    "StatelessIf",
    "While",
    "StatelessWhile",
];

/// The outputs' facts of a call of a library function, from its body.
pub fn called(library: &Library<'_>, call: &Call) -> Option<Vec<Fact>> {
    let owned = |facts: &[&Fact]| -> Vec<Fact> { facts.iter().map(|&f| f.clone()).collect() };
    match call.op {
        "PartitionedCall" | "StatefulPartitionedCall" => {
            library.body(call.attr_func("f")?, &owned(call.inputs))
        }
        "If" | "StatelessIf" => {
            let args = owned(call.inputs.get(1..)?);
            let then = library.body(call.attr_func("then_branch")?, &args)?;
            let other = library.body(call.attr_func("else_branch")?, &args)?;
            Some(then.iter().zip(&other).map(|(a, b)| join(a, b)).collect())
        }
        "While" | "StatelessWhile" => {
            while_loop(library, call.attr_func("body")?, &owned(call.inputs))
        }
        op if library.index.contains(op) => library.body(op, &owned(call.inputs)),
        _ => None,
    }
}

/// A `While`'s outputs: the loop variables' facts joined with what the
/// body makes of them, until the body keeps them.
fn while_loop(library: &Library<'_>, body: &str, inputs: &[Fact]) -> Option<Vec<Fact>> {
    let mut state = inputs.to_vec();
    for _ in 0..MAX_LOOP_PASSES {
        let out = library.body(body, &state)?;
        if out.len() != state.len() {
            return None;
        }
        let next: Vec<Fact> = state.iter().zip(&out).map(|(a, b)| join(a, b)).collect();
        if next == state {
            return Some(state);
        }
        state = next;
    }
    Some(
        state
            .into_iter()
            .map(|f| Fact::of(f.dtype, Shape::Unknown))
            .collect(),
    )
}

/// What two facts a tensor may have both fit: equal dimensions kept, the
/// handle's shape when both say the same, no values.
fn join(a: &Fact, b: &Fact) -> Fact {
    Fact {
        dtype: a.dtype.or(b.dtype),
        shape: loosen(&a.shape, &b.shape),
        value: None,
        handle_shape: a
            .handle_shape
            .clone()
            .filter(|_| a.handle_shape == b.handle_shape),
    }
}

/// The called body's facts where they know the shape, else the rule's
/// (attributes such as `output_shapes`).
pub fn prefer_known(called: Vec<Fact>, ruled: Facts) -> Facts {
    let mut facts = ruled;
    for (slot, fact) in facts.iter_mut().zip(called) {
        if fact.shape.rank().is_some() || fact.handle_shape.is_some() {
            let dtype = fact.dtype.or(slot.dtype);
            *slot = Fact { dtype, ..fact };
        }
    }
    facts
}
