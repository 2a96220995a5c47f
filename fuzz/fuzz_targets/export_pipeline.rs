//! Fuzz target: see `servegraph_fuzz::export_pipeline`.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use servegraph_fuzz::Fixture;

fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures");
        servegraph_fuzz::export_fixtures(&dir)
            .unwrap_or_else(|error| panic!("cannot load the export fixtures: {error}"))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = servegraph_fuzz::export_pipeline(fixtures(), data);
});
