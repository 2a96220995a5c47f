//! Embedding servegraph's passes in a tool: the staged API (read → Pipeline
//! → write) with a pass of our own inserted after pruning. This one renames
//! nothing and removes nothing; it counts the ops of the serving graph and
//! reports them, which is how a real pass explains itself too. After the
//! write it prints what an export's report would: the checkpoint tensors
//! left out and the size against the services' limits.
//!
//!     cargo run --example custom_pass [SOURCE OUT_DIR]

use std::collections::BTreeMap;
use std::path::PathBuf;

use servegraph::{
    Model, Overwrite, Pass, PassContext, PassError, PassReport, Pipeline, ServingSpec,
    StorageOptions, dropped_variables, read_model, size_verdict, write_saved_model,
};

/// Reports the op histogram of the graph as it stands.
struct OpCensus;

impl Pass for OpCensus {
    fn name(&self) -> &'static str {
        "op-census"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for id in model.graph.node_ids() {
            *counts.entry(model.graph.op(id).to_string()).or_default() += 1;
        }
        let mut report = PassReport::default();
        report.note(
            counts
                .iter()
                .map(|(op, n)| format!("{op} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        Ok(report)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let source = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("testdata/fixtures/mlp_queue"));
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/servegraph-example/custom_pass"));

    let mut model = read_model(&source, None, &[])?;
    let spec = ServingSpec {
        outputs: vec!["probabilities=probabilities:0".parse()?],
        ..ServingSpec::default()
    };
    let mut pipeline = Pipeline::serving(&spec);
    pipeline.insert_after("prune", OpCensus)?;
    println!("passes: {}", pipeline.names().join(" -> "));
    for report in pipeline.run(&mut model, &mut PassContext::new())? {
        println!(
            "{:<15} removed {:>3}, rewired {}, {}",
            report.pass,
            report.removed_count(),
            report.rewired.len(),
            report.notes.join("; ")
        );
    }
    let tags = ["serve".to_string()];
    let written = write_saved_model(&model, &tags, &out_dir, Overwrite::Replace)?;
    println!(
        "wrote {} ({} variables)",
        written.path.display(),
        written.variables.len()
    );
    for variable in dropped_variables(&model, &written)? {
        println!(
            "dropped {} ({} B): {}",
            variable.key, variable.bytes, variable.reason
        );
    }
    print!("{}", size_verdict(&written, &StorageOptions::default())?);
    Ok(())
}
