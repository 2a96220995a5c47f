//! Fuzz target: see `servegraph_fuzz::warmup_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::warmup_json(data);
});
