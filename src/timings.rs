//! Wall time per stage of an export, so a slow export says where its time
//! went. Stages are timed only at their boundaries (one `Instant::now()` on
//! each side), which costs nothing next to the work they measure.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A step of an export, in the order an export runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Finding the source's files (a training directory's `checkpoint` state
    /// file is parsed here).
    Locate,
    /// Reading the graph file and decoding its bytes into protobuf messages.
    Decode,
    /// Protobuf messages → the [`Graph`](crate::Graph) IR and the model around it.
    IrBuild,
    /// Checking the graph before the passes (every op defined, every input
    /// naming a real output) and the signatures after them.
    Check,
    /// One pass of the pipeline, by its name.
    Pass(String),
    /// Checking the graph's invariants after every phase, and between
    /// passes in debug builds.
    Validate,
    /// Checking variables against the checkpoint and building the saver's restore subgraph.
    RestoreBuild,
    /// Copying asset files into `assets/`.
    AssetCopy,
    /// Copying variables by byte range into `variables/`.
    VariableCopy,
    /// IR → MetaGraphDef → bytes, and writing `saved_model.pb`.
    Encode,
    /// Syncing the staged directory to disk and renaming it into place.
    Fsync,
    /// The whole export, from the first check to the report.
    Total,
}

/// The part of the export a stage belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Read,
    Pass,
    Write,
    Total,
}

impl Stage {
    /// The stage's name in reports: a pass's own name, else a fixed word.
    pub fn name(&self) -> &str {
        match self {
            Stage::Locate => "locate",
            Stage::Decode => "decode",
            Stage::IrBuild => "ir build",
            Stage::Check => "check",
            Stage::Pass(name) => name,
            Stage::Validate => "validate",
            Stage::RestoreBuild => "restore build",
            Stage::AssetCopy => "asset copy",
            Stage::VariableCopy => "variable copy",
            Stage::Encode => "encode",
            Stage::Fsync => "fsync",
            Stage::Total => "total",
        }
    }

    pub fn phase(&self) -> Phase {
        match self {
            Stage::Locate | Stage::Decode | Stage::IrBuild => Phase::Read,
            Stage::Check | Stage::Pass(_) | Stage::Validate => Phase::Pass,
            Stage::Total => Phase::Total,
            _ => Phase::Write,
        }
    }
}

impl Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// How long one stage took (summed when a stage runs more than once, as
/// when several MetaGraphDefs are written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageTiming {
    pub stage: Stage,
    pub phase: Phase,
    pub micros: u64,
}

/// Stage timings in the order the stages first ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Timings {
    stages: Vec<StageTiming>,
}

impl Timings {
    pub fn new() -> Timings {
        Timings::default()
    }

    /// Adds `elapsed` to `stage`, appending the stage if it is new.
    pub fn record(&mut self, stage: Stage, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.record_micros(stage, micros);
    }

    fn record_micros(&mut self, stage: Stage, micros: u64) {
        match self.stages.iter_mut().find(|s| s.stage == stage) {
            Some(existing) => existing.micros = existing.micros.saturating_add(micros),
            None => self.stages.push(StageTiming {
                phase: stage.phase(),
                stage,
                micros,
            }),
        }
    }

    /// Runs `work`, recording its wall time under `stage`, and returns its result.
    pub fn time<T>(&mut self, stage: Stage, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = work();
        self.record(stage, started.elapsed());
        result
    }

    pub fn stages(&self) -> &[StageTiming] {
        &self.stages
    }

    /// The recorded total, else the sum of the stages.
    pub fn total_micros(&self) -> u64 {
        self.get(&Stage::Total)
            .unwrap_or_else(|| self.stages.iter().map(|s| s.micros).sum())
    }

    pub fn get(&self, stage: &Stage) -> Option<u64> {
        self.stages
            .iter()
            .find(|s| &s.stage == stage)
            .map(|s| s.micros)
    }
}

/// The table `servegraph export --timings` prints: milliseconds with one
/// decimal and each stage's share of the total; time between stages shows
/// as "other".
impl fmt::Display for Timings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total_micros();
        writeln!(f, "timings:")?;
        for timing in self.stages.iter().filter(|s| s.stage != Stage::Total) {
            write_row(f, timing.stage.name(), timing.micros, total)?;
        }
        let staged: u64 = self
            .stages
            .iter()
            .filter(|s| s.stage != Stage::Total)
            .map(|s| s.micros)
            .sum();
        write_row(f, "other", total.saturating_sub(staged), total)?;
        write_row(f, "total", total, total)
    }
}

fn write_row(f: &mut fmt::Formatter<'_>, name: &str, micros: u64, total: u64) -> fmt::Result {
    writeln!(
        f,
        "  {name:<16} {:>10.1} ms {:>5.1} %",
        micros as f64 / 1000.0,
        percent(micros, total)
    )
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_stages_add_up_and_keep_their_first_place() {
        let mut timings = Timings::new();
        timings.record(Stage::Decode, Duration::from_micros(10));
        timings.record(Stage::Encode, Duration::from_micros(5));
        timings.record(Stage::Decode, Duration::from_micros(7));
        let names: Vec<&str> = timings.stages().iter().map(|s| s.stage.name()).collect();
        assert_eq!(names, ["decode", "encode"]);
        assert_eq!(timings.get(&Stage::Decode), Some(17));
        assert_eq!(timings.total_micros(), 22);
    }

    #[test]
    fn the_table_shows_milliseconds_percent_and_the_unaccounted_rest() {
        let mut timings = Timings::new();
        timings.record(Stage::Decode, Duration::from_micros(1_500));
        timings.record(Stage::Pass("prune".into()), Duration::from_micros(2_500));
        timings.record(Stage::Total, Duration::from_micros(5_000));
        let table = timings.to_string();
        assert!(
            table.contains("decode") && table.contains("1.5 ms"),
            "{table}"
        );
        assert!(
            table.contains("prune") && table.contains("50.0 %"),
            "{table}"
        );
        assert!(
            table.contains("other") && table.contains("20.0 %"),
            "{table}"
        );
        assert!(
            table.contains("5.0 ms") && table.contains("100.0 %"),
            "{table}"
        );
    }

    #[test]
    fn stages_serialize_by_name_with_their_phase() {
        let mut timings = Timings::new();
        timings.record(Stage::IrBuild, Duration::from_micros(3));
        timings.record(Stage::Pass("dropout".into()), Duration::from_micros(4));
        let json = serde_json::to_value(&timings).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"stage": "ir build", "phase": "read", "micros": 3},
                {"stage": "dropout", "phase": "pass", "micros": 4},
            ])
        );
    }
}
