//! Byte counts as users write them (`500MB`, `10GB`, `1.5GiB`, `750000000`)
//! and as reports print them. The prediction services count decimal bytes
//! (1 MB = 1,000,000 bytes), so decimal suffixes mean powers of 1000 and the
//! `i` suffixes powers of 1024, as usual.

use std::fmt::{self, Display, Formatter};
use std::str::FromStr;

use serde::Serialize;

/// Human-readable byte counts: `1.5 MB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A number of bytes parsed from `--max-size`-style text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ByteSize(pub u64);

/// Why a size could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    #[error(
        "size {text:?} does not start with a number: write e.g. 500MB, 10GB, 1.5GiB or 750000000"
    )]
    NoNumber { text: String },
    #[error(
        "size {text:?} has unknown unit {unit:?}: use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
    )]
    UnknownUnit { text: String, unit: String },
    #[error("size {text:?} is not a whole number of bytes")]
    FractionOfAByte { text: String },
    #[error("size {text:?} is too large (more than 2^64 - 1 bytes)")]
    TooLarge { text: String },
}

/// The units a size may carry, with their value in bytes.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    // K, M, G and T alone are the decimal units, as KB, MB, GB and TB.
    ("k", 1_000),
    ("m", 1_000_000),
    ("g", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    /// A decimal number (`1.5`, `750000000`), optionally a space, then an
    /// optional unit, case-insensitive. The result must be whole bytes.
    fn from_str(text: &str) -> Result<ByteSize, ByteSizeError> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let (numerator, denominator) =
            parse_decimal(number).ok_or_else(|| ByteSizeError::NoNumber { text: text.into() })?;
        let unit = unit.trim_start().to_ascii_lowercase();
        let multiplier = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, bytes)| *bytes)
            .ok_or_else(|| ByteSizeError::UnknownUnit {
                text: text.into(),
                unit: unit.clone(),
            })?;
        let scaled = numerator
            .checked_mul(u128::from(multiplier))
            .ok_or_else(|| ByteSizeError::TooLarge { text: text.into() })?;
        if scaled % denominator != 0 {
            return Err(ByteSizeError::FractionOfAByte { text: text.into() });
        }
        u64::try_from(scaled / denominator)
            .map(ByteSize)
            .map_err(|_| ByteSizeError::TooLarge { text: text.into() })
    }
}

/// `digits[.digits]` as numerator / 10^fraction digits; `None` unless
/// there is at least one digit and at most one point.
fn parse_decimal(number: &str) -> Option<(u128, u128)> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    // 30 digits stay far inside u128 even after the unit's multiplier.
    if whole.len() + fraction.len() > 30 {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let numerator = digits.parse::<u128>().ok()?;
    let denominator = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    Some((numerator, denominator))
}

impl Display for ByteSize {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&decimal_and_exact(self.0))
    }
}

/// `1.2 MB (1,234,567 bytes)`: decimal units, as the services count, and
/// the exact figure (a byte count alone below 1,000).
pub fn decimal_and_exact(bytes: u64) -> String {
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    format!("{} ({} bytes)", format_bytes(bytes), thousands_u64(bytes))
}

/// `1073741824` as `1,073,741,824`.
pub fn thousands_u64(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<u64, ByteSizeError> {
        text.parse::<ByteSize>().map(|size| size.0)
    }

    #[test]
    fn decimal_suffixes_are_powers_of_1000() {
        assert_eq!(parse("500MB"), Ok(500_000_000));
        assert_eq!(parse("10GB"), Ok(10_000_000_000));
        assert_eq!(parse("2kb"), Ok(2_000));
        assert_eq!(parse("1 TB"), Ok(1_000_000_000_000));
        assert_eq!(parse("7B"), Ok(7));
        assert_eq!(parse("500M"), Ok(500_000_000));
        assert_eq!(parse("2k"), Ok(2_000));
        assert_eq!(parse("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse("3 mib"), Ok(3 << 20));
    }

    #[test]
    fn binary_suffixes_are_powers_of_1024() {
        assert_eq!(parse("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(parse("1KiB"), Ok(1024));
        assert_eq!(parse("2MiB"), Ok(2 * 1024 * 1024));
    }

    #[test]
    fn a_bare_number_is_bytes() {
        assert_eq!(parse("750000000"), Ok(750_000_000));
        assert_eq!(parse(" 1000 "), Ok(1000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("2.5KB"), Ok(2_500));
        assert_eq!(parse(".5KB"), Ok(500));
    }

    #[test]
    fn anything_else_is_a_clear_error() {
        assert!(matches!(parse(""), Err(ByteSizeError::NoNumber { .. })));
        assert!(matches!(parse("MB"), Err(ByteSizeError::NoNumber { .. })));
        assert!(matches!(
            parse("1.2.3MB"),
            Err(ByteSizeError::NoNumber { .. })
        ));
        assert!(matches!(parse("-5MB"), Err(ByteSizeError::NoNumber { .. })));
        let unknown = parse("5 parsecs").unwrap_err();
        assert!(unknown.to_string().contains("\"parsecs\""), "{unknown}");
        assert!(matches!(
            parse("10GBs"),
            Err(ByteSizeError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse("1.5"),
            Err(ByteSizeError::FractionOfAByte { .. })
        ));
        assert!(matches!(
            parse("0.0001KB"),
            Err(ByteSizeError::FractionOfAByte { .. })
        ));
        assert!(matches!(
            parse("20000000TiB"),
            Err(ByteSizeError::TooLarge { .. })
        ));
        assert!(matches!(
            parse("18446744073709551616"),
            Err(ByteSizeError::TooLarge { .. })
        ));
        assert_eq!(parse("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn sizes_print_decimal_units_and_the_exact_count() {
        assert_eq!(decimal_and_exact(999), "999 bytes");
        assert_eq!(
            decimal_and_exact(500_000_000),
            "500.0 MB (500,000,000 bytes)"
        );
        assert_eq!(
            ByteSize(1 << 30).to_string(),
            "1.1 GB (1,073,741,824 bytes)"
        );
    }
}
