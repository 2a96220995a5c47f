//! The default export report: one screen, whatever the graph's size. First
//! what was written and how to call it (each signature's inputs and outputs
//! with dtypes and shapes), then one line per pass that changed something,
//! the variables kept and dropped on one line each, the size verdict on one
//! line and what to run next. No line is longer than [`WIDTH`]; lists are
//! cut to a few names and `… and N more`. `--verbose` prints every detail
//! ([`super::text`]).

use std::fmt::{self, Formatter};

use super::ExportReport;
use crate::format::units::format_bytes;
use crate::model::Signature;
use crate::model::method_rules::shape_text;
use crate::passes::PassReport;
use crate::typing::dtype_name;

/// The widest line the summary prints, in characters.
pub const WIDTH: usize = 120;
/// Signature inputs or outputs listed one a line before the rest are counted.
const TENSORS_SHOWN: usize = 6;

/// Writes the one-screen report of `report`.
pub fn write_summary(f: &mut Formatter<'_>, report: &ExportReport) -> fmt::Result {
    let mut lines = Lines(Vec::new());
    lines.push(format!(
        "exported {} -> {}",
        report.source.display(),
        report.output.display()
    ));
    for (key, signature) in &report.signatures {
        signature_lines(&mut lines, key, signature);
    }
    pass_lines(&mut lines, report);
    variable_lines(&mut lines, report);
    extra_lines(&mut lines, report);
    lines.push(size_line(report));
    for warning in &report.written.warnings {
        lines.push(format!("warning: {warning}"));
    }
    lines.push(format!(
        "next: servegraph validate {}   (details: --verbose; everything: --json)",
        report.output.display()
    ));
    for line in &lines.0 {
        writeln!(f, "{}", clip(line))?;
    }
    Ok(())
}

/// `n` with thousands separators.
fn thousands(n: usize) -> String {
    crate::format::units::thousands_u64(n as u64)
}

/// What `write` writes, without its newline.
fn rendered(write: impl Fn(&mut Formatter<'_>) -> fmt::Result) -> String {
    struct Render<F>(F);
    impl<F: Fn(&mut Formatter<'_>) -> fmt::Result> fmt::Display for Render<F> {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            (self.0)(f)
        }
    }
    Render(write).to_string().trim_end().to_string()
}

/// The lines so far.
struct Lines(Vec<String>);

impl Lines {
    fn push(&mut self, line: String) {
        self.0.push(line);
    }
}

/// `line` cut to [`WIDTH`] characters, ending in `…` when cut.
fn clip(line: &str) -> String {
    if line.chars().count() <= WIDTH {
        return line.to_string();
    }
    let kept: String = line.chars().take(WIDTH - 1).collect();
    format!("{kept}…")
}

fn signature_lines(lines: &mut Lines, key: &str, signature: &Signature) {
    lines.push(format!("signature {key:?} ({})", signature.method_name));
    for (direction, tensors) in [("input", &signature.inputs), ("output", &signature.outputs)] {
        for (name, t) in tensors.iter().take(TENSORS_SHOWN) {
            let shape = t
                .shape
                .as_deref()
                .map_or("<unknown rank>".into(), shape_text);
            let dtype = dtype_name(t.dtype as i32);
            lines.push(format!(
                "  {direction} {name}: {dtype} {shape} ({})",
                t.name
            ));
        }
        if tensors.len() > TENSORS_SHOWN {
            lines.push(format!(
                "  … and {} more {direction}s",
                thousands(tensors.len() - TENSORS_SHOWN)
            ));
        }
    }
}

/// The node counts, then one line per pass that changed something: its
/// removals, additions and rewirings, or, for a pass that only edited
/// nodes in place (a batch constant rewritten, a flag set to false: its
/// `edited` nodes), how many and the first thing it says it did
/// (`--verbose` lists them).
fn pass_lines(lines: &mut Lines, report: &ExportReport) {
    lines.push(format!(
        "graph: {} nodes -> {} nodes",
        thousands(report.nodes_before),
        thousands(report.nodes_after)
    ));
    for pass in &report.graph.passes {
        if changed(pass) {
            lines.push(format!("  {:<15} {}", pass.pass, pass_changes(pass)));
        } else if !pass.edited.is_empty() {
            let line = format!("  {:<15} {}", pass.pass, edits_in_place(pass));
            lines.push(clip(&line));
        } else if !HAS_OWN_LINE.contains(&pass.pass.as_str())
            && let Some(decision) = decisions(pass)
        {
            lines.push(clip(&format!("  {:<15} {decision}", pass.pass)));
        }
    }
}

/// Passes whose outcome the summary gives a line of its own (the moving
/// averages served or available), so their notes are not repeated.
const HAS_OWN_LINE: [&str; 1] = ["moving-averages"];

/// What a pass that changed nothing decided (why a batch stays fixed, what
/// metadata it dropped): its first note, with how many more follow.
fn decisions(pass: &PassReport) -> Option<String> {
    let first = pass.notes.first()?;
    Some(match pass.notes.len() - 1 {
        0 => first.clone(),
        more => format!("(+{more} more) {first}"),
    })
}

/// A pass that only edited nodes in place: how many, and its first note
/// (or first node) as an example, `--verbose` lists them all.
fn edits_in_place(pass: &PassReport) -> String {
    let edited = format!("edited {} in place", thousands(pass.edited.len()));
    match pass.notes.first().or(pass.edited.first()) {
        Some(first) => format!("{edited}: {first}"),
        None => edited,
    }
}

/// Whether the pass removed, added or rewired anything.
fn changed(pass: &PassReport) -> bool {
    !(pass.removed.is_empty() && pass.added.is_empty() && pass.rewired.is_empty())
}

/// `removed 138 (40 optimizer, 31 variable-update, …); rewired 1`.
fn pass_changes(pass: &PassReport) -> String {
    let mut parts = Vec::new();
    if !pass.removed.is_empty() {
        let mut reasons: Vec<(usize, String)> = pass
            .removed
            .iter()
            .map(|(reason, nodes)| (nodes.len(), reason.to_string()))
            .collect();
        reasons.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let total: usize = reasons.iter().map(|r| r.0).sum();
        let each: Vec<String> = reasons
            .iter()
            .map(|(n, reason)| format!("{} {reason}", thousands(*n)))
            .collect();
        parts.push(format!(
            "removed {} ({})",
            thousands(total),
            each.join(", ")
        ));
    }
    if !pass.added.is_empty() {
        parts.push(format!("added {}", thousands(pass.added.len())));
    }
    if !pass.rewired.is_empty() {
        parts.push(format!("rewired {}", thousands(pass.rewired.len())));
    }
    if !pass.edited.is_empty() {
        parts.push(format!("edited {}", thousands(pass.edited.len())));
    }
    parts.join("; ")
}

/// The kept and the dropped variables, one line each: count, bytes and the
/// largest few by name. A partitioned variable counts once.
fn variable_lines(lines: &mut Lines, report: &ExportReport) {
    let logical = crate::model::logical_variables(&report.kept);
    let kept = logical.iter().map(|v| (v.first.bytes, v.first.key.clone()));
    lines.push(named_total("variables kept", kept.collect()));
    if !report.dropped.is_empty() {
        let dropped = report
            .dropped
            .iter()
            .map(|v| (v.bytes, format!("{} ({})", v.key, v.reason)))
            .collect();
        lines.push(named_total("variables dropped", dropped));
    }
}

/// `TITLE: N (BYTES): a, b, c …`, the largest first.
fn named_total(title: &str, mut items: Vec<(u64, String)>) -> String {
    let bytes: u64 = items.iter().map(|(b, _)| b).sum();
    items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let names: Vec<&str> = items.iter().map(|(_, name)| name.as_str()).collect();
    let mut line = format!(
        "{title}: {} ({})",
        thousands(items.len()),
        format_bytes(bytes)
    );
    if !names.is_empty() {
        line.push_str(": ");
        line.push_str(&names.join(", "));
    }
    line
}

/// One line for each option that changed what was written.
fn extra_lines(lines: &mut Lines, report: &ExportReport) {
    if let Some(averages) = &report.graph.moving_averages {
        lines.push(rendered(|f| {
            super::one_line::write_moving_averages(f, averages, |pairs| pairs.join(", "))
        }));
    }
    storage_lines(lines, report);
    output_lines(lines, report);
}

/// The lean route's and the storage conversion's one line each.
fn storage_lines(lines: &mut Lines, report: &ExportReport) {
    if let Some(lean) = &report.lean {
        lines.push(format!(
            "lean: dropped {} objects, {} functions, {} signatures; {} -> {}",
            thousands(lean.dropped_objects.len()),
            thousands(lean.dropped_functions.len()),
            thousands(lean.dropped_signatures.len()),
            format_bytes(lean.bytes_before),
            format_bytes(lean.bytes_after)
        ));
    }
    if let Some(storage) = report.storage.as_ref().filter(|s| s.converted.is_empty()) {
        lines.push(format!(
            "storage: no tensor converted ({} left as they were, see --verbose)",
            thousands(storage.skipped.len())
        ));
    }
    if let Some(storage) = report.storage.as_ref().filter(|s| !s.converted.is_empty()) {
        lines.push(format!(
            "storage: {} tensors converted, {} -> {}, worst error {:.3e}",
            thousands(storage.converted.len()),
            format_bytes(storage.bytes_before),
            format_bytes(storage.bytes_after),
            storage.error.max_abs_error
        ));
    }
}

/// What else was written or left: frozen variables, variants, warm-up,
/// explanation metadata, the training directory's other files, assets.
fn output_lines(lines: &mut Lines, report: &ExportReport) {
    if let Some(frozen) = &report.graph.frozen {
        lines.push(format!(
            "frozen: {} variables became constants in saved_model.pb",
            thousands(frozen.variables.len())
        ));
    }
    for variant in &report.graph.variants {
        lines.push(format!(
            "variant {:?}: tags {}, device placement kept on {} nodes",
            variant.name,
            variant.tags.join(","),
            thousands(variant.placed_nodes)
        ));
    }
    if let Some(warmup) = &report.graph.warmup {
        lines.push(rendered(|f| super::one_line::write_warmup(f, warmup)));
    }
    if let Some(explanation) = &report.graph.explanation {
        lines.push(rendered(|f| {
            super::one_line::write_explanation(f, explanation)
        }));
    }
    if let Some(left) = report
        .graph
        .left_behind
        .as_ref()
        .filter(|l| !l.files.is_empty())
    {
        lines.push(format!(
            "left behind in {}: {} entries ({}); the output holds only the model",
            left.directory.display(),
            thousands(left.files.len()),
            format_bytes(left.files.iter().map(|file| file.bytes).sum())
        ));
    }
    if !report.written.assets.is_empty() {
        lines.push(format!("assets: {}", report.written.assets.join(", ")));
    }
}

/// The size verdict in one line: the size, and either that it fits every
/// limit or which it passes or comes close to.
fn size_line(report: &ExportReport) -> String {
    let Some(size) = &report.size else {
        return format!("size: {} (not measured)", format_bytes(report.total_bytes));
    };
    let total = format!("size: {}", format_bytes(size.total_bytes));
    if size.assessment.under_every_limit {
        return format!(
            "{total}, under every serving limit (500 MB MLS1, 10 GB N1, 1 GiB saved_model.pb)"
        );
    }
    let standing: Vec<String> = size
        .assessment
        .limits
        .iter()
        .filter(|l| l.bytes * 10 >= l.limit_bytes * 9)
        .map(|l| {
            format!(
                "{} of the {} limit",
                format_bytes(l.bytes),
                format_bytes(l.limit_bytes)
            )
        })
        .collect();
    format!(
        "{total}; near or over: {} (see servegraph size)",
        standing.join(", ")
    )
}
