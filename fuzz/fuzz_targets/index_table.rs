//! Fuzz target: see `servegraph_fuzz::index_table`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::index_table(data);
});
