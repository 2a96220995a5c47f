//! How fast a checkpoint's graph is read, against a plain read of its bytes:
//! the narrowed read an export does (skim, decode only what the outputs
//! need) and the whole read (every node decoded), each the median of runs.
//!
//! cargo run --release --example read_speed -- PREFIX_OR_META OUTPUT_TENSOR... [--runs N]

use std::time::{Duration, Instant};

use servegraph::read::{Source, Wanted, locate, read_source, read_source_for};
use servegraph::timings::Timings;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs.get(runs.len() / 2).copied().unwrap_or_default()
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(f()?);
        times.push(started.elapsed());
    }
    Ok(median(times))
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 5;
    if let Some(at) = args.iter().position(|a| a == "--runs") {
        runs = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(runs);
        args.drain(at..(at + 2).min(args.len()));
    }
    let Some((source, outputs)) = args.split_first() else {
        anyhow::bail!("usage: read_speed PREFIX_OR_META OUTPUT_TENSOR... [--runs N]");
    };
    let located = locate(source)?;
    let file = match &located {
        Source::Checkpoint { meta, .. } => meta.clone(),
        Source::GraphDef { path } => path.clone(),
        Source::SavedModel { dir } => dir.join("saved_model.pb"),
    };
    let wanted = Wanted {
        tensors: outputs.to_vec(),
        ..Wanted::default()
    };
    let plain = timed(runs, || Ok(std::fs::read(&file)?))?;
    let narrowed = timed(runs, || {
        Ok(read_source_for(
            &located,
            None,
            &[],
            &wanted,
            &mut Timings::new(),
        )?)
    })?;
    let whole = timed(runs, || Ok(read_source(&located, None, &[])?))?;
    let model = read_source_for(&located, None, &[], &wanted, &mut Timings::new())?;
    let mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
    println!("{} ({mb:.1} MB), median of {runs}:", file.display());
    println!("  plain read      {:>8.1} ms", plain.as_secs_f64() * 1e3);
    println!(
        "  narrowed read   {:>8.1} ms  ({} nodes decoded, {} skimmed only)",
        narrowed.as_secs_f64() * 1e3,
        model.graph.len(),
        model.graph.undecoded().len()
    );
    println!("  whole read      {:>8.1} ms", whole.as_secs_f64() * 1e3);
    Ok(())
}
