//! Fuzz target: see `servegraph_fuzz::text_format`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::text_format(data);
});
