//! The one-line forms of the sections the summary and the full report
//! share, written once so both say the same thing the same way.

use std::fmt::{self, Formatter};

use crate::back::explain::{ExplainedInput, ExplanationReport, Modality};
use crate::back::warmup::WarmupReport;
use crate::export::report::MovingAveragesReport;
use crate::format::units::{format_bytes, thousands_u64};

fn thousands(n: usize) -> String {
    thousands_u64(n as u64)
}

/// `warm-up: 4 records from 3 instances of requests.json, 1.2 KB in
/// assets.extra/...`.
pub fn write_warmup(f: &mut Formatter<'_>, warmup: &WarmupReport) -> fmt::Result {
    let records = match warmup.records {
        1 => "1 record".to_string(),
        n => format!("{} records", thousands(n)),
    };
    let from = match warmup.instances {
        Some(1) => "1 instance of ".to_string(),
        Some(n) => format!("{} instances of ", thousands(n)),
        None => "the \"inputs\" of ".to_string(),
    };
    writeln!(
        f,
        "warm-up: {records} from {from}{}, {} in {}",
        warmup.source.display(),
        format_bytes(warmup.bytes),
        warmup.file
    )
}

/// `explanation metadata: explanation_metadata.json (412 B) explains
/// output scores by 2 inputs: age (numeric, 1 baseline), ids (categorical)`.
pub fn write_explanation(f: &mut Formatter<'_>, explanation: &ExplanationReport) -> fmt::Result {
    let inputs: Vec<String> = explanation.inputs.iter().map(explained_input).collect();
    let count = match inputs.len() {
        1 => "1 input".to_string(),
        n => format!("{} inputs", thousands(n)),
    };
    writeln!(
        f,
        "explanation metadata: {} ({}) explains output {} by {count}: {}",
        explanation.file,
        format_bytes(explanation.bytes),
        explanation.output,
        inputs.join(", ")
    )
}

/// `age (numeric, 2 baselines)`.
fn explained_input(input: &ExplainedInput) -> String {
    let modality = match input.modality {
        Some(Modality::Numeric) => "numeric",
        Some(Modality::Categorical) => "categorical",
        Some(Modality::Text) => "text",
        None => "no modality",
    };
    match input.baselines {
        0 => format!("{} ({modality})", input.key),
        1 => format!("{} ({modality}, 1 baseline)", input.key),
        n => format!("{} ({modality}, {n} baselines)", input.key),
    }
}

/// `moving averages: 10 weights served by their averages (--moving-averages):
/// a <- a/ExponentialMovingAverage, ...`, or that the checkpoint holds
/// averages the flag would serve; `list` renders the served pairs (all of
/// them, or the first few).
pub fn write_moving_averages(
    f: &mut Formatter<'_>,
    averages: &MovingAveragesReport,
    list: impl Fn(&[String]) -> String,
) -> fmt::Result {
    let flag = crate::passes::moving_averages::FLAG;
    if averages.served.is_empty() {
        return writeln!(
            f,
            "moving averages: the checkpoint holds moving averages of {} weights, not \
             served; {flag} serves them in place of the trained values",
            thousands(averages.available.len())
        );
    }
    let pairs: Vec<String> = averages
        .served
        .iter()
        .map(|s| format!("{} <- {}", s.variable, s.average))
        .collect();
    writeln!(
        f,
        "moving averages: {} weights served by their averages ({flag}): {}",
        thousands(pairs.len()),
        list(&pairs)
    )
}
