//! The export report as text. A summary stays a screenful whatever the
//! graph's size: per list a count and a few examples, then `… and 1,190
//! more`. [`Detail::Full`] lists every name (the JSON form always does).

use std::fmt::{self, Display, Formatter};

use super::left_behind::{Category, LeftBehind, LeftFile};
use super::one_line::{write_explanation, write_moving_averages, write_warmup};
use super::report::MovingAveragesReport;
use super::{ExportReport, VariantReport};
use crate::back::write::saved_model::VariableReport;
use crate::format::units::format_bytes;
use crate::model::Signature;
use crate::model::method_rules::shape_text;
use crate::model::{LogicalVariable, logical_variables};
use crate::passes::PassReport;
use crate::passes::examples::Feature;
use crate::passes::freeze::FreezeReport;
use crate::storage::{ConvertedTensor, StorageReport};
use crate::typing::dtype_name;

/// How much of each list the text shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Counts and a few examples per list (the default).
    #[default]
    Summary,
    /// Every name.
    Full,
}

/// Examples a summary shows per pass list: each category of removed nodes,
/// added nodes, rewires, notes.
const PASS_EXAMPLES: usize = 5;
/// Variables a summary shows of the kept and of the dropped ones, and assets.
const VARIABLE_EXAMPLES: usize = 10;

/// An [`ExportReport`] rendered with a [`Detail`]; see [`ExportReport::text`].
pub struct ReportText<'a> {
    report: &'a ExportReport,
    detail: Detail,
}

impl ExportReport {
    /// The report as text at `detail`; `Display` gives [`Detail::Summary`].
    pub fn text(&self, detail: Detail) -> ReportText<'_> {
        ReportText {
            report: self,
            detail,
        }
    }
}

impl Display for ExportReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.text(Detail::Summary).fmt(f)
    }
}

impl Display for ReportText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let report = self.report;
        if self.detail == Detail::Summary {
            return super::summary::write_summary(f, report);
        }
        write_header(f, report)?;
        for pass in &report.graph.passes {
            self.write_pass(f, pass)?;
        }
        for (key, signature) in &report.signatures {
            write_signature(f, key, signature)?;
        }
        if let Some(features) = &report.graph.examples {
            write_examples(f, features)?;
        }
        for variant in &report.graph.variants {
            write_variant(f, variant)?;
        }
        self.write_kept(f)?;
        if let Some(averages) = &report.graph.moving_averages {
            self.write_moving_averages(f, averages)?;
        }
        if let Some(frozen) = &report.graph.frozen {
            self.write_frozen(f, frozen)?;
        }
        if let Some(storage) = &report.storage {
            self.write_storage(f, storage)?;
        }
        self.write_dropped(f)?;
        self.write_assets(f)?;
        if let Some(vocab) = &report.graph.vocab {
            vocab.fmt(f)?;
        }
        if let Some(warmup) = &report.graph.warmup {
            write_warmup(f, warmup)?;
        }
        if let Some(explanation) = &report.graph.explanation {
            write_explanation(f, explanation)?;
        }
        if let Some(left) = &report.graph.left_behind {
            self.write_left_behind(f, left)?;
        }
        if let Some(lean) = &report.lean {
            lean.fmt(f)?;
        }
        write_size(f, report)?;
        for warning in &report.written.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

impl ReportText<'_> {
    /// How many of a list to show: all of it at full detail.
    fn limit(&self, summary: usize) -> Option<usize> {
        match self.detail {
            Detail::Summary => Some(summary),
            Detail::Full => None,
        }
    }

    /// One pass: a headline with counts, then examples of each list.
    fn write_pass(&self, f: &mut Formatter<'_>, pass: &PassReport) -> fmt::Result {
        writeln!(f, "  {:<15} {}", pass.pass, pass_headline(pass))?;
        let limit = self.limit(PASS_EXAMPLES);
        for (reason, nodes) in &pass.removed {
            write_list(f, &format!("      {reason}: "), nodes, limit)?;
        }
        if !pass.added.is_empty() {
            write_list(f, "      added: ", &pass.added, limit)?;
        }
        if !pass.edited.is_empty() {
            write_list(f, "      edited: ", &pass.edited, limit)?;
        }
        let (rewires, rest) = shown(&pass.rewired, limit);
        for rewire in rewires {
            writeln!(f, "      {} -> {} ({})", rewire.from, rewire.to, rewire.why)?;
        }
        write_more(f, "      ", rest, "rewires")?;
        let (notes, rest) = shown(&pass.notes, limit);
        for note in notes {
            writeln!(f, "      {note}")?;
        }
        write_more(f, "      ", rest, "notes")
    }

    fn write_kept(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let kept = &self.report.kept;
        let rows: Vec<(u64, String)> = logical_variables(kept).iter().map(kept_row).collect();
        self.write_variables(f, "variables kept", rows)
    }

    /// One line: the weights served by their moving averages, or that the
    /// checkpoint holds averages the option would serve.
    fn write_moving_averages(
        &self,
        f: &mut Formatter<'_>,
        averages: &MovingAveragesReport,
    ) -> fmt::Result {
        write_moving_averages(f, averages, |pairs| {
            examples(pairs, self.limit(PASS_EXAMPLES))
        })
    }

    /// The variables that became constants: their values moved from
    /// `variables/` into `saved_model.pb`.
    fn write_frozen(&self, f: &mut Formatter<'_>, frozen: &FreezeReport) -> fmt::Result {
        let rows = frozen.variables.iter().map(|v| {
            let line = format!(
                "{} {} {:?} {}",
                v.node,
                v.dtype,
                v.shape,
                format_bytes(v.bytes)
            );
            (v.bytes, line)
        });
        self.write_variables(f, "variables frozen into saved_model.pb", rows.collect())
    }

    fn write_dropped(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let rows = self.report.dropped.iter().map(|v| {
            let line = format!("{} {} ({})", v.key, format_bytes(v.bytes), v.reason);
            (v.bytes, line)
        });
        self.write_variables(f, "variables dropped", rows.collect())
    }

    /// A list of variables as `(bytes, line)`: a summary shows the largest
    /// few and totals the rest.
    fn write_variables(
        &self,
        f: &mut Formatter<'_>,
        title: &str,
        mut rows: Vec<(u64, String)>,
    ) -> fmt::Result {
        let bytes: u64 = rows.iter().map(|(b, _)| b).sum();
        let count = thousands(rows.len());
        let limit = self.limit(VARIABLE_EXAMPLES);
        let truncated = limit.is_some_and(|n| rows.len() > n);
        if truncated {
            rows.sort_by_key(|row| std::cmp::Reverse(row.0));
            writeln!(
                f,
                "{title}: {count} ({}), largest first",
                format_bytes(bytes)
            )?;
        } else {
            writeln!(f, "{title}: {count} ({})", format_bytes(bytes))?;
        }
        let (shown_rows, rest) = shown(&rows, limit);
        for (_, line) in shown_rows {
            writeln!(f, "  {line}")?;
        }
        if rest > 0 {
            let rest_bytes: u64 = rows.iter().skip(shown_rows.len()).map(|(b, _)| b).sum();
            writeln!(f, "  {} ({})", more(rest), format_bytes(rest_bytes))?;
        }
        Ok(())
    }

    fn write_assets(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let assets = &self.report.written.assets;
        if assets.is_empty() {
            return Ok(());
        }
        let limit = self.limit(VARIABLE_EXAMPLES);
        writeln!(f, "assets: {}", examples(assets, limit))
    }
}

impl ReportText<'_> {
    /// What was stored in another dtype (largest first when truncated, with
    /// bytes and worst errors) and what was left alone, with the reason.
    fn write_storage(&self, f: &mut Formatter<'_>, storage: &StorageReport) -> fmt::Result {
        writeln!(
            f,
            "storage: {} converted, {} -> {}, worst error {:.3e} (relative {:.3e})",
            thousands(storage.converted.len()),
            format_bytes(storage.bytes_before),
            format_bytes(storage.bytes_after),
            storage.error.max_abs_error,
            storage.error.max_rel_error
        )?;
        let mut converted: Vec<&ConvertedTensor> = storage.converted.iter().collect();
        converted.sort_by_key(|t| std::cmp::Reverse(t.bytes_before));
        let limit = self.limit(VARIABLE_EXAMPLES);
        let (shown_rows, rest) = shown(&converted, limit);
        for t in shown_rows {
            writeln!(
                f,
                "  {} {} -> {} {:?} {} -> {}, error {:.3e} (relative {:.3e})",
                t.name,
                t.from,
                t.to,
                t.shape,
                format_bytes(t.bytes_before),
                format_bytes(t.bytes_after),
                t.error.max_abs_error,
                t.error.max_rel_error
            )?;
        }
        write_more(f, "  ", rest, "converted")?;
        if storage.skipped.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "  left as they were: {}",
            thousands(storage.skipped.len())
        )?;
        let (skipped, rest) = shown(&storage.skipped, limit);
        for t in skipped {
            writeln!(f, "    {} ({}): {}", t.name, t.dtype, t.reason)?;
        }
        write_more(f, "    ", rest, "left as they were")
    }

    /// The training directory's files the export left behind: per category
    /// a count, the bytes and a few names.
    fn write_left_behind(&self, f: &mut Formatter<'_>, left: &LeftBehind) -> fmt::Result {
        writeln!(
            f,
            "left behind in {}: {} entries ({}); the output holds only the model",
            left.directory.display(),
            thousands(left.files.len()),
            format_bytes(left.files.iter().map(|file| file.bytes).sum())
        )?;
        let limit = self.limit(VARIABLE_EXAMPLES);
        for (category, files) in by_category(&left.files) {
            let names: Vec<String> = files.iter().map(|file| file.name.clone()).collect();
            writeln!(
                f,
                "  {}: {} ({}{}): {}",
                category.label(),
                thousands(files.len()),
                if files.iter().any(|file| file.at_least) {
                    "at least "
                } else {
                    ""
                },
                format_bytes(files.iter().map(|file| file.bytes).sum()),
                examples(&names, limit)
            )?;
        }
        writeln!(
            f,
            "  source checkpoint tensors not kept: {} (the variables dropped)",
            format_bytes(left.checkpoint_bytes_not_kept)
        )
    }
}

/// `files` grouped by category, in the category order.
fn by_category(files: &[LeftFile]) -> std::collections::BTreeMap<Category, Vec<&LeftFile>> {
    let mut groups: std::collections::BTreeMap<Category, Vec<&LeftFile>> = Default::default();
    for file in files {
        groups.entry(file.category).or_default().push(file);
    }
    groups
}

fn write_header(f: &mut Formatter<'_>, report: &ExportReport) -> fmt::Result {
    writeln!(
        f,
        "exported {} -> {}",
        report.source.display(),
        report.output.display()
    )?;
    writeln!(
        f,
        "graph: {} nodes -> {} nodes",
        thousands(report.nodes_before),
        thousands(report.nodes_after)
    )
}

/// `removed 3 dropout; added 2; rewired 1`, or `no change`.
fn pass_headline(pass: &PassReport) -> String {
    let mut parts: Vec<String> = pass
        .removed
        .iter()
        .map(|(reason, nodes)| format!("removed {} {reason}", thousands(nodes.len())))
        .collect();
    if !pass.added.is_empty() {
        parts.push(format!("added {}", thousands(pass.added.len())));
    }
    if !pass.rewired.is_empty() {
        parts.push(format!("rewired {}", thousands(pass.rewired.len())));
    }
    if !pass.edited.is_empty() {
        parts.push(format!("edited {}", thousands(pass.edited.len())));
    }
    if parts.is_empty() && pass.notes.is_empty() {
        parts.push("no change".into());
    }
    parts.join("; ")
}

fn write_signature(f: &mut Formatter<'_>, key: &str, signature: &Signature) -> fmt::Result {
    writeln!(f, "signature {key:?} ({})", signature.method_name)?;
    for (direction, tensors) in [("input", &signature.inputs), ("output", &signature.outputs)] {
        for (name, t) in tensors {
            let shape = t
                .shape
                .as_ref()
                .map_or("<unknown rank>".to_string(), |d| shape_text(d));
            let dtype = dtype_name(t.dtype as i32);
            writeln!(f, "  {direction} {name}: {} {dtype} {shape}", t.name)?;
        }
    }
    Ok(())
}

/// The tf.Example features parsed, one a line.
fn write_examples(f: &mut Formatter<'_>, features: &[Feature]) -> fmt::Result {
    writeln!(f, "tf.Example features ({}):", features.len())?;
    for feature in features {
        writeln!(f, "  {feature}")?;
    }
    Ok(())
}

fn write_variant(f: &mut Formatter<'_>, variant: &VariantReport) -> fmt::Result {
    writeln!(
        f,
        "variant {:?}: tags {}, device placement kept on {} nodes",
        variant.name,
        variant.tags.join(","),
        thousands(variant.placed_nodes)
    )
}

fn kept_row(v: &LogicalVariable<'_>) -> (u64, String) {
    let first = v.first;
    let mut line = format!(
        "{} {} {} {}",
        first.key,
        stored_as(first),
        shape_text(v.shape()),
        format_bytes(first.bytes)
    );
    if v.slices > 1 {
        line.push_str(&format!(" ({} slices)", v.slices));
    }
    (first.bytes, line)
}

/// The variable's dtype, and what it is stored as when converted:
/// `float32 as int8 + scales`.
fn stored_as(v: &VariableReport) -> String {
    match v.stored_dtype.as_str() {
        stored if stored == v.dtype => v.dtype.clone(),
        "int8" => format!("{} as int8 + scales", v.dtype),
        stored => format!("{} as {stored}", v.dtype),
    }
}

/// The measured size section, or the totals alone when the output could
/// not be measured.
fn write_size(f: &mut Formatter<'_>, report: &ExportReport) -> fmt::Result {
    if let Some(size) = &report.size {
        return write!(f, "{size}");
    }
    let verdict = |fits: bool| if fits { "fits" } else { "EXCEEDS" };
    writeln!(
        f,
        "size: {} ({} the 500 MB MLS1 limit, {} the 10 GB N1 limit)",
        format_bytes(report.total_bytes),
        verdict(report.fits_mls1),
        verdict(report.fits_n1)
    )
}

/// The first `limit` items (all without a limit) and how many are left out.
fn shown<T>(items: &[T], limit: Option<usize>) -> (&[T], usize) {
    let n = limit.map_or(items.len(), |l| l.min(items.len()));
    (items.get(..n).unwrap_or(items), items.len() - n)
}

/// `a, b, c … and 1,190 more`.
/// The widest line a full list is wrapped to.
const WRAP_WIDTH: usize = 120;

/// `head` and the names (a few, or all at full detail), wrapped at
/// [`WRAP_WIDTH`] with continuation lines indented under the first name.
fn write_list(
    f: &mut Formatter<'_>,
    head: &str,
    names: &[String],
    limit: Option<usize>,
) -> fmt::Result {
    let text = examples(names, limit);
    let indent = " ".repeat(head.chars().count());
    let mut line = head.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        let fits = line.chars().count() + 1 + word.chars().count() <= WRAP_WIDTH;
        if !empty && !fits {
            writeln!(f, "{}", line.trim_end())?;
            line = indent.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    writeln!(f, "{}", line.trim_end())
}

pub fn examples(names: &[String], limit: Option<usize>) -> String {
    let (names, rest) = shown(names, limit);
    let mut line = names.join(", ");
    if rest > 0 {
        line.push(' ');
        line.push_str(&more(rest));
    }
    line
}

fn write_more(f: &mut Formatter<'_>, indent: &str, rest: usize, what: &str) -> fmt::Result {
    if rest == 0 {
        return Ok(());
    }
    writeln!(f, "{indent}{} {what}", more(rest))
}

/// `… and 1,190 more`.
fn more(rest: usize) -> String {
    format!("… and {} more", thousands(rest))
}

/// `1190` as `1,190`.
pub fn thousands(n: usize) -> String {
    crate::back::size::thousands_u64(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::training::TrainingCategory;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("gradients/n{i}")).collect()
    }

    #[test]
    fn thousands_groups_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_190), "1,190");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }

    #[test]
    fn a_long_list_shows_five_examples_and_counts_the_rest() {
        let line = examples(&names(1_195), Some(PASS_EXAMPLES));
        assert_eq!(
            line,
            "gradients/n0, gradients/n1, gradients/n2, gradients/n3, gradients/n4 \
             … and 1,190 more"
        );
    }

    #[test]
    fn a_short_list_or_full_detail_shows_every_name() {
        assert_eq!(examples(&names(2), Some(5)), "gradients/n0, gradients/n1");
        assert_eq!(examples(&names(5), Some(5)).matches(", ").count(), 4);
        let all = examples(&names(1_195), None);
        assert!(!all.contains("more"), "{all}");
        assert_eq!(all.matches(", ").count(), 1_194);
    }

    #[test]
    fn a_pass_headline_counts_each_category() {
        let mut pass = PassReport::default();
        assert_eq!(pass_headline(&pass), "no change");
        for name in names(1_195) {
            pass.removed(TrainingCategory::Gradient, name);
        }
        pass.removed(TrainingCategory::Optimizer, "Adam");
        pass.rewired("a:0", "b:0", "identity");
        assert_eq!(
            pass_headline(&pass),
            "removed 1,195 gradient; removed 1 optimizer; rewired 1"
        );
    }
}
