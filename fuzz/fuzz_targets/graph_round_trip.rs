//! Fuzz target: see `servegraph_fuzz::graph_round_trip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::graph_round_trip(data);
});
