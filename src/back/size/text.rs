//! The size report as text: the total in decimal units (as the services
//! count) with the exact byte count, each limit, the largest contributors
//! and the advice.

use std::fmt::{self, Display, Formatter};

use super::advice::{Advice, Figures, LimitCheck, Measure, Standing};
use super::{Contributor, ContributorKind, SizeReport};
use crate::format::units::decimal_and_exact;

/// Contributors the text lists; JSON has them all.
pub const CONTRIBUTORS_SHOWN: usize = 10;

impl Display for SizeReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "size of {}: {} (decimal units, as the services count: 1 MB = 1,000,000 bytes)",
            self.directory.display(),
            decimal_and_exact(self.total_bytes)
        )?;
        self.write_parts(f)?;
        for check in &self.assessment.limits {
            write_check(f, check)?;
        }
        self.write_contributors(f)?;
        self.write_advice(f)?;
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

impl SizeReport {
    fn write_parts(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let parts = [
            ("saved_model.pb", self.saved_model_bytes),
            ("variables index", self.variables_index_bytes),
            ("variables data", self.variables_data_bytes),
            ("assets", self.assets_bytes),
            ("other files", self.other_bytes),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter(|(name, bytes)| *bytes > 0 || *name == "saved_model.pb")
            .map(|(name, bytes)| format!("{name} {}", decimal_and_exact(*bytes)))
            .collect();
        writeln!(f, "  {}", shown.join("; "))
    }

    fn write_contributors(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let count = self.contributors.len();
        writeln!(f, "  largest contributors ({count} in all):")?;
        for contributor in self.contributors.iter().take(CONTRIBUTORS_SHOWN) {
            write_contributor(f, contributor)?;
        }
        if count > CONTRIBUTORS_SHOWN {
            let rest = self.contributors.iter().skip(CONTRIBUTORS_SHOWN);
            let bytes = rest.map(|c| c.bytes).fold(0, u64::saturating_add);
            let more = count - CONTRIBUTORS_SHOWN;
            writeln!(f, "    … and {more} more ({})", decimal_and_exact(bytes))?;
        }
        Ok(())
    }

    fn write_advice(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.assessment.under_every_limit {
            return writeln!(f, "  advice: already under every limit");
        }
        for check in &self.assessment.limits {
            if check.standing == Standing::Under {
                continue;
            }
            let advice: Vec<&Advice> = self
                .assessment
                .advice
                .iter()
                .filter(|a| a.limit == check.limit)
                .collect();
            let what = measure_name(check.measure);
            writeln!(f, "  advice for the {} ({what}):", check.limit)?;
            if advice.is_empty() {
                writeln!(f, "    no flag lowers it")?;
            }
            for a in advice {
                writeln!(f, "    {}", advice_line(a))?;
            }
        }
        Ok(())
    }
}

fn write_check(f: &mut Formatter<'_>, check: &LimitCheck) -> fmt::Result {
    let what = measure_name(check.measure);
    let limit = check.limit;
    let (bytes, limit_bytes) = (check.bytes, check.limit_bytes);
    match check.standing {
        Standing::Under => writeln!(
            f,
            "  {what} under the {limit} by {}",
            gap(bytes, limit_bytes)
        ),
        Standing::Close => writeln!(
            f,
            "  {what} CLOSE TO the {limit}: under by {}",
            gap(bytes, limit_bytes)
        ),
        Standing::Over => writeln!(
            f,
            "  {what} OVER the {limit} by {}",
            gap(bytes, limit_bytes)
        ),
    }
}

fn measure_name(measure: Measure) -> &'static str {
    match measure {
        Measure::Total => "total",
        Measure::SavedModel => "saved_model.pb",
    }
}

/// The distance between two sizes.
fn gap(a: u64, b: u64) -> String {
    decimal_and_exact(a.abs_diff(b))
}

fn write_contributor(f: &mut Formatter<'_>, contributor: &Contributor) -> fmt::Result {
    let kind = match contributor.kind {
        ContributorKind::Variable => "variable",
        ContributorKind::Graph => "graph",
        ContributorKind::VariablesIndex => "index",
        ContributorKind::VariablesData => "data",
        ContributorKind::ObjectGraph => "objects",
        ContributorKind::Asset => "asset",
        ContributorKind::Other => "other",
    };
    writeln!(
        f,
        "    {kind:<8} {} {}",
        contributor.name,
        decimal_and_exact(contributor.bytes)
    )
}

/// `under by 1.2 MB (1,234,567 bytes)` or `over by ...`.
fn margin(bytes: u64, limit: u64) -> String {
    if bytes <= limit {
        format!("under by {}", decimal_and_exact(limit - bytes))
    } else {
        format!("over by {}", decimal_and_exact(bytes - limit))
    }
}

/// `--weights f16 saves 1.0 MB (...): 4.0 MB (...), under by ...`.
pub fn advice_line(advice: &Advice) -> String {
    let qualifier = match advice.precision_of_figures {
        Figures::Exact => "",
        Figures::AtMost => "up to ",
        Figures::About => "about ",
    };
    format!(
        "{} saves {qualifier}{}: {}, {}",
        advice.remedy,
        decimal_and_exact(advice.saves_bytes),
        decimal_and_exact(advice.projected_bytes),
        margin(advice.projected_bytes, advice.limit_bytes)
    )
}

/// The `--max-size` refusal: the projected size, the limit and what would fit.
pub fn over_budget(projected: u64, limit: u64, advice: &[Advice]) -> String {
    let mut message = format!(
        "the export would be {}, over the size limit of {}; nothing was written",
        decimal_and_exact(projected),
        decimal_and_exact(limit)
    );
    let fitting: Vec<String> = advice
        .iter()
        .filter(|a| a.brings_under)
        .map(advice_line)
        .collect();
    if fitting.is_empty() {
        message.push_str("; no single flag brings it under");
        if let Some(best) = advice.iter().min_by_key(|a| a.projected_bytes) {
            message.push_str(&format!(" (the closest: {})", advice_line(best)));
        }
    } else {
        message.push_str(&format!("; it would fit with: {}", fitting.join("; ")));
    }
    message
}
