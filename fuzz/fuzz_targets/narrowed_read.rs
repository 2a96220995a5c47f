//! Fuzz target: see `servegraph_fuzz::narrowed_read`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::narrowed_read(data);
});
