//! The `--max-vocab` section of the export report: per vocabulary asset its
//! entries and bytes before and after, and each refusal with its reason.

use std::fmt::{self, Display, Formatter};

use serde::Serialize;

use super::Refusal;
use crate::format::units::format_bytes;

/// What `--max-vocab` did to each vocabulary asset, and what it refused.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct VocabReport {
    /// The N of `--max-vocab N`: entries (lines) a vocabulary keeps.
    pub max_entries: u64,
    /// Every asset whose tables may be trimmed, changed or not.
    pub assets: Vec<AssetTrim>,
    /// Assets left whole, with the table and the use that forbids trimming.
    pub refused: Vec<RefusedAsset>,
}

/// One vocabulary asset: its entries and bytes before and after.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssetTrim {
    /// Its name in `assets/`.
    pub filename: String,
    /// The node holding its file name.
    pub node: String,
    /// The tables filled from it.
    pub tables: Vec<String>,
    pub entries_before: u64,
    pub entries_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub bytes_dropped: u64,
    /// `LookupTableSize` nodes made constants holding the original size.
    pub frozen_sizes: Vec<String>,
    /// Initializers whose `vocab_size` attr became the kept count.
    pub resized_initializers: Vec<String>,
}

/// An asset copied whole because trimming it could change the model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RefusedAsset {
    pub filename: String,
    #[serde(flatten)]
    pub refusal: Refusal,
}

impl Display for VocabReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "vocabularies (at most {} entries):", self.max_entries)?;
        for asset in &self.assets {
            write_asset(f, asset)?;
        }
        for refused in &self.refused {
            write_refused(f, refused)?;
        }
        if self.assets.is_empty() && self.refused.is_empty() {
            writeln!(f, "  no vocabulary asset")?;
        }
        Ok(())
    }
}

fn write_asset(f: &mut Formatter<'_>, asset: &AssetTrim) -> fmt::Result {
    if asset.entries_after == asset.entries_before {
        return writeln!(
            f,
            "  {}: {} entries, kept whole (tables {})",
            asset.filename,
            asset.entries_before,
            asset.tables.join(", ")
        );
    }
    writeln!(
        f,
        "  {}: {} -> {} entries, {} -> {} ({} dropped; tables {})",
        asset.filename,
        asset.entries_before,
        asset.entries_after,
        format_bytes(asset.bytes_before),
        format_bytes(asset.bytes_after),
        format_bytes(asset.bytes_dropped),
        asset.tables.join(", ")
    )?;
    for size in &asset.frozen_sizes {
        writeln!(
            f,
            "      {size}: the out-of-vocabulary offset keeps the original size"
        )?;
    }
    for initializer in &asset.resized_initializers {
        writeln!(
            f,
            "      {initializer}: vocab_size set to {}",
            asset.entries_after
        )?;
    }
    Ok(())
}

fn write_refused(f: &mut Formatter<'_>, refused: &RefusedAsset) -> fmt::Result {
    let r = &refused.refusal;
    if r.use_op.is_empty() {
        return writeln!(f, "  {}: kept whole: {}", refused.filename, r.reason);
    }
    let table = r
        .table
        .as_ref()
        .map_or(String::new(), |t| format!("table {t}, "));
    writeln!(
        f,
        "  {}: kept whole, not trimmed: {table}used by {} ({}): {}",
        refused.filename, r.use_node, r.use_op, r.reason
    )
}
