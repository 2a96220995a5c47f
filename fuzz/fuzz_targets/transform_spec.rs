//! Fuzz target: see `servegraph_fuzz::transform_spec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::transform_spec(data);
});
