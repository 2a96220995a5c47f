//! Smaller vocabularies (`--max-vocab N`): vocabulary assets keep their
//! first N lines (vocabularies are written most frequent first) when every
//! table filled from them treats a dropped entry exactly like an entry it
//! never had (see [`analysis`]). The plan is made once on the served model
//! and applied to every model written (variants share the assets).
//!
//! Applying a plan changes the graph only where the table's size would show:
//! an initializer's `vocab_size` attr becomes the kept count (TensorFlow
//! refuses a file shorter than it), and the `LookupTableSize` feeding an
//! out-of-vocabulary offset becomes a constant holding the original size,
//! so a dropped word lands in the same bucket an unseen word does. The
//! writer copies the asset's first lines instead of the whole file.

pub mod analysis;
pub mod lines;
mod report;

use std::path::PathBuf;

pub use analysis::{Refusal, VocabTable, analyse_asset};
pub use lines::{LineCount, copy_first_lines, count_lines, prefix_len};
pub use report::{AssetTrim, RefusedAsset, VocabReport};

use crate::format::proto::attr_value::Value;
use crate::format::proto::{AttrValue, TensorProto};
use crate::ir::{DataType, IrError, Node};
use crate::model::{Asset, Model};

/// What may fail while planning or applying a trim.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("a vocabulary must keep at least one entry (the maximum given is 0)")]
    NoEntries,
    #[error("cannot read vocabulary asset {} (file name held by node {node})", path.display())]
    Read {
        path: PathBuf,
        node: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ir(#[from] IrError),
}

/// The trim of every vocabulary asset of a model, to apply to each model
/// written (they must hold the same nodes).
#[derive(Debug, Clone, Default)]
pub struct TrimPlan {
    pub report: VocabReport,
    /// Asset node → lines to keep.
    keep_lines: Vec<(String, u64)>,
    /// Initializer → its new `vocab_size`.
    vocab_sizes: Vec<(String, u64)>,
    /// `LookupTableSize` node → the original table size it stands for.
    frozen_sizes: Vec<(String, u64)>,
}

/// Plans keeping the first `max_entries` lines of `model`'s vocabulary
/// assets, then applies the plan to `model` and to `also` (a variant's
/// copy of it).
pub fn trim_vocabularies(
    model: &mut Model,
    also: Option<&mut Model>,
    max_entries: u64,
) -> Result<VocabReport, VocabError> {
    let plan = plan_trim(model, max_entries)?;
    plan.apply(model)?;
    if let Some(other) = also {
        plan.apply(other)?;
    }
    Ok(plan.report)
}

/// Analyses every asset's tables and counts the lines of those that may be
/// trimmed; nothing is changed.
pub fn plan_trim(model: &Model, max_entries: u64) -> Result<TrimPlan, VocabError> {
    if max_entries == 0 {
        return Err(VocabError::NoEntries);
    }
    let mut plan = TrimPlan {
        report: VocabReport {
            max_entries,
            ..VocabReport::default()
        },
        ..TrimPlan::default()
    };
    for asset in &model.assets {
        let id = model.graph.require(&asset.node)?;
        match analyse_asset(&model.graph, id) {
            Ok(tables) if tables.is_empty() => plan.refuse(asset, unread(asset)),
            Ok(tables) => plan.add_asset(asset, &tables)?,
            Err(refusal) => plan.refuse(asset, refusal),
        }
    }
    Ok(plan)
}

/// The refusal for an asset no table is filled from: it is not a vocabulary.
fn unread(asset: &Asset) -> Refusal {
    Refusal {
        table: None,
        asset_node: asset.node.clone(),
        use_node: asset.node.clone(),
        use_op: String::new(),
        reason: "no lookup table is filled from it".into(),
    }
}

impl TrimPlan {
    fn refuse(&mut self, asset: &Asset, refusal: Refusal) {
        self.report.refused.push(RefusedAsset {
            filename: asset.filename.clone(),
            refusal,
        });
    }

    /// Counts the asset's lines and, when it has more than the maximum,
    /// plans its trim and the graph changes its tables need.
    fn add_asset(&mut self, asset: &Asset, tables: &[VocabTable]) -> Result<(), VocabError> {
        let max = self.report.max_entries;
        let count = count_lines(&asset.source, max).map_err(|source| VocabError::Read {
            path: asset.source.clone(),
            node: asset.node.clone(),
            source,
        })?;
        let mut trim = AssetTrim {
            filename: asset.filename.clone(),
            node: asset.node.clone(),
            tables: tables.iter().map(|t| t.table.clone()).collect(),
            entries_before: count.lines,
            entries_after: count.lines.min(max),
            bytes_before: count.bytes,
            bytes_after: count.prefix_bytes,
            bytes_dropped: count.bytes - count.prefix_bytes,
            frozen_sizes: Vec::new(),
            resized_initializers: Vec::new(),
        };
        if count.lines > max {
            self.keep_lines.push((asset.node.clone(), max));
            for table in tables {
                self.shrink_table(table, count.lines, &mut trim);
            }
        }
        self.report.assets.push(trim);
        Ok(())
    }

    /// The graph changes for a table whose file keeps `max_entries` of its
    /// `lines`: only a table that really loses entries changes.
    fn shrink_table(&mut self, table: &VocabTable, lines: u64, trim: &mut AssetTrim) {
        let max = self.report.max_entries;
        let entries = table.vocab_size.unwrap_or(lines);
        if entries <= max {
            return;
        }
        if table.vocab_size.is_some() {
            self.vocab_sizes.push((table.initializer.clone(), max));
            trim.resized_initializers.push(table.initializer.clone());
        }
        for size in &table.oov_offsets {
            self.frozen_sizes.push((size.clone(), entries));
            trim.frozen_sizes.push(size.clone());
        }
    }

    /// Makes the planned changes in `model`: kept lines on its assets,
    /// `vocab_size` attrs, size constants.
    pub fn apply(&self, model: &mut Model) -> Result<(), VocabError> {
        for (node, keep) in &self.keep_lines {
            for asset in model.assets.iter_mut().filter(|a| &a.node == node) {
                asset.keep_lines = Some(*keep);
            }
        }
        for (initializer, size) in &self.vocab_sizes {
            let id = model.graph.require(initializer)?;
            model
                .graph
                .node_mut(id)
                .set_attr_int("vocab_size", *size as i64);
        }
        for (node, size) in &self.frozen_sizes {
            let id = model.graph.require(node)?;
            model.graph.truncate_data_inputs(id, 0);
            let constant = int64_const(*size as i64);
            let node = model.graph.node_mut(id);
            node.op = constant.op;
            node.attrs = constant.attrs;
        }
        Ok(())
    }
}

/// An int64 scalar `Const` (nameless: its attrs replace another node's).
fn int64_const(value: i64) -> Node {
    let tensor = TensorProto {
        dtype: DataType::DtInt64 as i32,
        tensor_shape: Some(crate::ir::constants::scalar_shape()),
        int64_val: vec![value],
        ..TensorProto::default()
    };
    Node::new("", "Const")
        .with_type("dtype", DataType::DtInt64)
        .with_attr(
            "value",
            AttrValue {
                value: Some(Value::Tensor(tensor.into())),
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AttrExt;
    use crate::ir::constants::string_const;
    use crate::passes::testing::{model, node};

    /// A model with `StaticVocabularyTable`'s lookup over `lines` words
    /// (`vocab_size` as given), its asset in `dir`.
    fn oov_model(dir: &std::path::Path, lines: usize, vocab_size: i64) -> Model {
        let path = dir.join("words.txt");
        let words: String = (0..lines).map(|i| format!("word{i}\n")).collect();
        std::fs::write(&path, words).unwrap();
        let mut init = node("init", "InitializeTableFromTextFileV2", &["table", "vocab"]);
        init.set_attr_int("key_index", -2);
        init.set_attr_int("value_index", -1);
        init.set_attr_int("vocab_size", vocab_size);
        let mut model = model(vec![
            string_const("vocab", b"words.txt").into(),
            node("table", "HashTableV2", &[]),
            init,
            node("keys", "Placeholder", &[]),
            node("default", "Const", &[]),
            node("bucket", "StringToHashBucketFast", &["keys"]),
            node("find", "LookupTableFindV2", &["table", "keys", "default"]),
            node("size", "LookupTableSizeV2", &["table"]),
            node("add", "AddV2", &["bucket", "size"]),
            node("found", "NotEqual", &["find", "default"]),
            node("ids", "SelectV2", &["found", "find", "add"]),
        ]);
        model.assets.push(Asset {
            node: "vocab".into(),
            source: path,
            filename: "words.txt".into(),
            keep_lines: None,
        });
        model
    }

    #[test]
    fn a_trim_keeps_lines_freezes_the_offset_and_sets_vocab_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut served = oov_model(dir.path(), 10, 10);
        let mut variant = served.clone();
        let report = trim_vocabularies(&mut served, Some(&mut variant), 4).unwrap();
        let trim = &report.assets[0];
        assert_eq!((trim.entries_before, trim.entries_after), (10, 4));
        assert_eq!(trim.bytes_before, 60);
        assert_eq!((trim.bytes_after, trim.bytes_dropped), (24, 36));
        for model in [&served, &variant] {
            assert_eq!(model.assets[0].keep_lines, Some(4));
            let init = model.graph.node(model.graph.find("init").unwrap());
            assert_eq!(init.attr_int("vocab_size").unwrap(), 4);
            let size = model.graph.find("size").unwrap();
            assert_eq!(model.graph.op(size), "Const");
            assert!(model.graph.data_inputs(size).is_empty());
            let value = model.graph.node(size).attr_tensor("value").unwrap();
            assert_eq!(value.int64_val, [10]);
        }
    }

    #[test]
    fn a_vocabulary_within_the_maximum_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut served = oov_model(dir.path(), 4, -1);
        let before = served.graph.to_graph_def();
        let report = trim_vocabularies(&mut served, None, 4).unwrap();
        assert_eq!(report.assets[0].entries_after, 4);
        assert_eq!(report.assets[0].bytes_dropped, 0);
        assert_eq!(served.assets[0].keep_lines, None);
        assert_eq!(served.graph.to_graph_def(), before);
    }

    #[test]
    fn a_refused_table_leaves_model_and_asset_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut served = oov_model(dir.path(), 10, -1);
        let id = served.graph.add_node(Node::new("depth", "Cast")).unwrap();
        let size = served.graph.find("size").unwrap();
        served
            .graph
            .push_data_input(id, crate::ir::TensorRef::new(size, 0));
        let before = served.graph.to_graph_def();
        let report = trim_vocabularies(&mut served, None, 4).unwrap();
        assert!(report.assets.is_empty());
        assert_eq!(report.refused[0].filename, "words.txt");
        assert_eq!(report.refused[0].refusal.use_node, "size");
        assert_eq!(served.assets[0].keep_lines, None);
        assert_eq!(served.graph.to_graph_def(), before);
        let text = report.to_string();
        assert!(
            text.contains("table table, used by size (LookupTableSizeV2)"),
            "{text}"
        );
    }

    #[test]
    fn zero_entries_and_an_unreadable_asset_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut served = oov_model(dir.path(), 10, -1);
        assert!(matches!(plan_trim(&served, 0), Err(VocabError::NoEntries)));
        served.assets[0].source = dir.path().join("gone.txt");
        let err = plan_trim(&served, 4).unwrap_err();
        assert!(err.to_string().contains("gone.txt"), "{err}");
        assert!(err.to_string().contains("vocab"), "{err}");
    }
}
