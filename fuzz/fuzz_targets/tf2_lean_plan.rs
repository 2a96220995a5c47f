//! Fuzz target: see `servegraph_fuzz::tf2_lean_plan`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::tf2_lean_plan(data);
});
