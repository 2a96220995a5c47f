//! What the lean path reports beyond every export's fields: the objects,
//! functions and files left out, and the bytes before and after.

use std::fmt::{self, Display, Formatter};

use serde::Serialize;

use super::LeanPlan;
use super::write::LeanWritten;
use super::write::files::FileDecision;
use crate::format::units::format_bytes;

/// The `lean` field of the export report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeanReport {
    /// The source signatures kept (the init op's entry aside).
    pub kept_signatures: Vec<String>,
    pub dropped_signatures: Vec<String>,
    /// Object-graph nodes left out: path, kind, reason.
    pub dropped_objects: Vec<DroppedObjectReport>,
    /// Functions of the library no kept part reaches.
    pub dropped_functions: Vec<String>,
    /// `fingerprint.pb` and `keras_metadata.pb`: kept or dropped, bytes, why.
    pub files: Vec<FileDecision>,
    /// Every file of the source SavedModel directory.
    pub bytes_before: u64,
    /// Every file written.
    pub bytes_after: u64,
}

/// An object-graph node left out.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DroppedObjectReport {
    pub path: String,
    pub kind: String,
    pub reason: String,
}

impl LeanReport {
    pub fn of(plan: &LeanPlan, written: &LeanWritten, bytes_before: u64) -> LeanReport {
        let kept = plan.meta_graph.signature_def.keys();
        LeanReport {
            kept_signatures: kept
                .filter(|k| k.as_str() != "__saved_model_init_op")
                .cloned()
                .collect(),
            dropped_signatures: plan.dropped.signatures.clone(),
            dropped_objects: plan
                .dropped
                .objects
                .iter()
                .map(|o| DroppedObjectReport {
                    path: o.path.clone(),
                    kind: o.kind.clone(),
                    reason: o.reason.clone(),
                })
                .collect(),
            dropped_functions: plan.dropped.functions.clone(),
            files: written.files.clone(),
            bytes_before,
            bytes_after: written.total_bytes,
        }
    }
}

impl Display for LeanReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lean TF2 export: {} → {} ({} signature(s) kept: {})",
            format_bytes(self.bytes_before),
            format_bytes(self.bytes_after),
            self.kept_signatures.len(),
            self.kept_signatures.join(", ")
        )?;
        if !self.dropped_signatures.is_empty() {
            writeln!(
                f,
                "  dropped signatures: {}",
                self.dropped_signatures.join(", ")
            )?;
        }
        writeln!(
            f,
            "  dropped {} object(s), {} function(s)",
            self.dropped_objects.len(),
            self.dropped_functions.len()
        )?;
        let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
        for object in &self.dropped_objects {
            *reasons.entry(object.reason.as_str()).or_default() += 1;
        }
        for (reason, count) in reasons {
            writeln!(f, "      {reason}: {count}")?;
        }
        for file in &self.files {
            let verdict = if file.kept { "kept" } else { "dropped" };
            writeln!(
                f,
                "  {} ({}) {verdict}: {}",
                file.file,
                format_bytes(file.bytes),
                file.why
            )?;
        }
        Ok(())
    }
}
