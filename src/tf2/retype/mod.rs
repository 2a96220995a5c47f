//! The optional retyping stage of the lean TF2 export: weights stored as
//! float16 (`--weights f16`), the functions reading them given casts so
//! every signature still computes in float32.

mod f16;
mod object_wire;
pub mod resource_flow;
mod storage;

pub use f16::{
    RetypeReport, RetypedVariable, large_float_variables, retype_chosen, retype_weights,
};
pub use object_wire::bound_inputs;
pub use storage::choose_half_variables;

#[cfg(test)]
mod tests;
