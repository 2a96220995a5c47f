//! Fuzz target: see `servegraph_fuzz::saved_model_dir`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::saved_model_dir(data);
});
