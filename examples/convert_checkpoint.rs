//! Converts the bundled training checkpoint (a small MLP trained by real
//! TensorFlow, `testdata/fixtures/tiny_mlp`) into a serving SavedModel and
//! prints what each pass did.
//!
//!     cargo run --release --example convert_checkpoint [SOURCE OUT_DIR OUTPUT...]
//!
//! Without arguments the SavedModel goes to `target/servegraph-example/tiny_mlp`
//! (replaced if present); the serving input is detected from the graph.

use std::path::PathBuf;
use std::process::ExitCode;

use servegraph::write::atomic::Overwrite;
use servegraph::{ExportOptions, export_serving_model};

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let source = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("testdata/fixtures/tiny_mlp"));
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/servegraph-example/tiny_mlp"));
    let outputs: Vec<String> = args.collect();
    let outputs = if outputs.is_empty() {
        vec!["logits=logits/BiasAdd:0".to_string()]
    } else {
        outputs
    };
    let options = {
        let mut custom = ExportOptions::default();
        custom.serving.outputs = match outputs.iter().map(|o| o.parse()).collect() {
            Ok(outputs) => outputs,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        custom.output.overwrite = Overwrite::Replace;
        custom
    };
    match export_serving_model(&source, &out_dir, &options) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
