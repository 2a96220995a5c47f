//! The optional retyping stage of the lean TF2 export: weights stored as
//! float16 (`--weights f16`), the functions reading them given casts so
//! every signature still computes in float32.

mod f16;
mod object_wire;
pub mod resource_flow;

pub use f16::{RetypeReport, RetypedVariable, retype_weights};
pub use object_wire::bound_inputs;

#[cfg(test)]
mod tests;
