//! Which lookup tables a vocabulary asset fills, how the serving graph uses
//! them, and whether the tables may lose their last entries. Works on the IR
//! alone (no files, no protos), by op semantics.
//!
//! A table may lose entries when a key it no longer holds is treated exactly
//! like a key it never held:
//! - a `LookupTableFind` returns its default value for both;
//! - the out-of-vocabulary bucket structure (`StaticVocabularyTable`,
//!   `index_table_from_file(num_oov_buckets > 0)`) sends both to
//!   `hash(key) % buckets + size`, provided `size` stays the original
//!   table's size: the `LookupTableSize` feeding that offset is reported so
//!   it can be frozen.
//!
//! Everything else that reads a table (its size elsewhere, an export, a
//! mutation, a table whose keys are line numbers, an op not understood)
//! refuses the trim, naming the table, the asset and the use.

use std::collections::BTreeMap;

use crate::format::limits::MAX_IDENTITY_HOPS;
use crate::ir::constants::{FORWARDING_OPS, through_identities};
use crate::ir::{AttrExt, Graph, NodeId, TensorRef};

/// `key_index` / `value_index` meaning "the line number".
const LINE_NUMBER: i64 = -1;

/// A table filled from the asset, and what must change when it is trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VocabTable {
    /// The `HashTable` / `HashTableV2` node.
    pub table: String,
    /// The text-file initializer filling it from the asset.
    pub initializer: String,
    /// The initializer's `vocab_size` attr; `None` for -1 (every line).
    pub vocab_size: Option<u64>,
    /// `LookupTableSize` nodes whose only use is the out-of-vocabulary
    /// bucket offset: frozen to the original size when the table shrinks.
    pub oov_offsets: Vec<String>,
    /// `LookupTableFind` nodes reading the table.
    pub lookups: Vec<String>,
}

/// Why an asset's tables may not lose entries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// The table, when the refusal concerns one.
    pub table: Option<String>,
    /// The node holding the asset's file name.
    pub asset_node: String,
    /// The node whose use of the table (or the file) is the obstacle.
    pub use_node: String,
    /// Its op.
    pub use_op: String,
    pub reason: String,
}

/// The tables the asset held by `asset_node` fills, each checked to be
/// trimmable; the first obstacle found otherwise.
pub fn analyse_asset(graph: &Graph, asset_node: NodeId) -> Result<Vec<VocabTable>, Refusal> {
    let asset = graph.name(asset_node).to_string();
    let mut initializers: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
    for (reader, slot) in readers(graph, TensorRef::new(asset_node, 0)) {
        let table = table_filled_by(graph, reader, slot).map_err(|reason| Refusal {
            table: None,
            asset_node: asset.clone(),
            use_node: graph.name(reader).into(),
            use_op: graph.op(reader).into(),
            reason,
        })?;
        initializers.entry(table).or_default().push(reader);
    }
    let analyse = |(table, inits): (NodeId, Vec<NodeId>)| {
        TableCheck {
            graph,
            table,
            asset: &asset,
        }
        .run(&inits)
    };
    initializers.into_iter().map(analyse).collect()
}

/// The table a reader of the asset's file name fills: the reader must be a
/// text-file initializer taking the name as its file name.
fn table_filled_by(graph: &Graph, reader: NodeId, slot: usize) -> Result<NodeId, String> {
    if !is_text_file_initializer(graph.op(reader)) || slot != 1 {
        return Err("it reads the file other than as a table initializer's file name".into());
    }
    graph
        .data_input(reader, 0)
        .map(|handle| through_identities(graph, handle).node)
        .ok_or_else(|| "the initializer has no table input".into())
}

/// One table's checks, with what a refusal names.
struct TableCheck<'a> {
    graph: &'a Graph,
    table: NodeId,
    asset: &'a str,
}

impl TableCheck<'_> {
    fn run(&self, initializers: &[NodeId]) -> Result<VocabTable, Refusal> {
        let graph = self.graph;
        let table_op = graph.op(self.table);
        if table_op != "HashTable" && table_op != "HashTableV2" {
            let why = "only a HashTable filled once from a file is understood";
            return Err(self.refuse(self.table, why.into()));
        }
        let [initializer] = initializers else {
            let second = initializers.get(1).copied().unwrap_or(self.table);
            return Err(self.refuse(second, "the file initializes the table twice".into()));
        };
        let vocab_size = self.initializer_checks(*initializer)?;
        let mut table = VocabTable {
            table: graph.name(self.table).into(),
            initializer: graph.name(*initializer).into(),
            vocab_size,
            oov_offsets: Vec::new(),
            lookups: Vec::new(),
        };
        for (user, slot) in readers(graph, TensorRef::new(self.table, 0)) {
            if user != *initializer {
                self.classify_use(user, slot, &mut table)?;
            }
        }
        Ok(table)
    }

    /// The initializer's keys are words (not line numbers); returns its `vocab_size`.
    fn initializer_checks(&self, initializer: NodeId) -> Result<Option<u64>, Refusal> {
        let node = self.graph.node(initializer);
        let attr = |key: &str| {
            node.attr_int(key)
                .map_err(|e| self.refuse(initializer, e.to_string()))
        };
        if attr("key_index")? == LINE_NUMBER {
            let why = "its keys are line numbers (an id-to-string table): ids past the kept \
                       lines would map to the default instead of their entry";
            return Err(self.refuse(initializer, why.into()));
        }
        match attr("vocab_size")? {
            -1 => Ok(None),
            n if n > 0 => Ok(Some(n as u64)),
            n => Err(self.refuse(initializer, format!("its vocab_size {n} is not understood"))),
        }
    }

    /// Accepts a lookup or an out-of-vocabulary offset; refuses anything else.
    fn classify_use(
        &self,
        user: NodeId,
        slot: usize,
        table: &mut VocabTable,
    ) -> Result<(), Refusal> {
        let graph = self.graph;
        let name = graph.name(user).to_string();
        match graph.op(user) {
            "LookupTableFind" | "LookupTableFindV2" if slot == 0 => table.lookups.push(name),
            "LookupTableSize" | "LookupTableSizeV2" => {
                if !is_oov_offset(graph, user, self.table) {
                    let why = "it reads the table's size, which trimming changes, other than \
                               as an out-of-vocabulary bucket offset";
                    return Err(self.refuse(user, why.into()));
                }
                table.oov_offsets.push(name);
            }
            "LookupTableExport" | "LookupTableExportV2" => {
                let why = "it exports the table's entries, which trimming changes";
                return Err(self.refuse(user, why.into()));
            }
            op if op.starts_with("InitializeTable") || op.starts_with("LookupTableImport") => {
                let why = "it fills the table too, so its entries are not the file's lines";
                return Err(self.refuse(user, why.into()));
            }
            op => {
                let why = format!("{op} is not a use of a table that trimming is known to keep");
                return Err(self.refuse(user, why));
            }
        }
        Ok(())
    }

    fn refuse(&self, user: NodeId, reason: String) -> Refusal {
        Refusal {
            table: Some(self.graph.name(self.table).into()),
            asset_node: self.asset.into(),
            use_node: self.graph.name(user).into(),
            use_op: self.graph.op(user).into(),
            reason,
        }
    }
}

fn is_text_file_initializer(op: &str) -> bool {
    op == "InitializeTableFromTextFile" || op == "InitializeTableFromTextFileV2"
}

/// Whether every use of the table size `size` is the offset of the
/// out-of-vocabulary buckets: `Select(NotEqual(find, default), find,
/// hash_bucket(keys) + size)`, `find` looking `keys` up in `table` with
/// that `default`. Then a key missing from the table lands in
/// `hash % buckets + size`, whatever the reason it is missing.
fn is_oov_offset(graph: &Graph, size: NodeId, table: NodeId) -> bool {
    let adds = readers(graph, TensorRef::new(size, 0));
    !adds.is_empty()
        && adds.iter().all(|&(add, slot)| {
            matches!(graph.op(add), "Add" | "AddV2")
                && hashed_keys(graph, add, 1 - slot.min(1)).is_some_and(|keys| {
                    let selects = readers(graph, TensorRef::new(add, 0));
                    !selects.is_empty()
                        && selects
                            .iter()
                            .all(|&(select, slot)| selects_oov(graph, select, slot, table, keys))
                })
        })
}

/// The keys hashed into buckets by the op feeding input `slot` of `add`
/// (through `AsString` for non-string keys).
fn hashed_keys(graph: &Graph, add: NodeId, slot: usize) -> Option<TensorRef> {
    let hash = through_identities(graph, graph.data_input(add, slot)?);
    let hashing = matches!(
        graph.op(hash.node),
        "StringToHashBucketFast" | "StringToHashBucketStrong" | "StringToHashBucket"
    );
    if !hashing || hash.port != 0 {
        return None;
    }
    let keys = through_identities(graph, graph.data_input(hash.node, 0)?);
    if graph.op(keys.node) == "AsString" {
        return Some(through_identities(graph, graph.data_input(keys.node, 0)?));
    }
    Some(keys)
}

/// Whether `select` reads the bucket at `slot` 2 (the "else" branch) and
/// otherwise takes a lookup of `keys` in `table`, when it differs from
/// that lookup's default.
fn selects_oov(graph: &Graph, select: NodeId, slot: usize, table: NodeId, keys: TensorRef) -> bool {
    if !matches!(graph.op(select), "Select" | "SelectV2") || slot != 2 {
        return false;
    }
    let input = |node: NodeId, slot: usize| {
        graph
            .data_input(node, slot)
            .map(|t| through_identities(graph, t))
    };
    let (Some(condition), Some(found)) = (input(select, 0), input(select, 1)) else {
        return false;
    };
    let is_find = matches!(
        graph.op(found.node),
        "LookupTableFind" | "LookupTableFindV2"
    );
    if !is_find
        || found.port != 0
        || input(found.node, 0).map(|t| t.node) != Some(table)
        || input(found.node, 1) != Some(keys)
    {
        return false;
    }
    let default = input(found.node, 2);
    graph.op(condition.node) == "NotEqual"
        && condition.port == 0
        && compares(
            input(condition.node, 0),
            input(condition.node, 1),
            Some(found),
            default,
        )
}

/// Whether the pair `(a, b)` is `(x, y)` in either order.
fn compares(
    a: Option<TensorRef>,
    b: Option<TensorRef>,
    x: Option<TensorRef>,
    y: Option<TensorRef>,
) -> bool {
    a.is_some() && b.is_some() && ((a == x && b == y) || (a == y && b == x))
}

/// The (node, slot) pairs reading `tensor`, seen through forwarding ops
/// (`Identity` and the like), which are not listed themselves.
fn readers(graph: &Graph, tensor: TensorRef) -> Vec<(NodeId, usize)> {
    let mut found = Vec::new();
    let mut pending = vec![tensor];
    let mut hops = 0;
    while let Some(tensor) = pending.pop() {
        for (user, slot) in graph.data_consumers(tensor) {
            let forwards = slot == 0 && FORWARDING_OPS.contains(&graph.op(user));
            if forwards && hops < MAX_IDENTITY_HOPS {
                hops += 1;
                pending.push(TensorRef::new(user, 0));
            } else {
                found.push((user, slot));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::constants::string_const;
    use crate::passes::testing::{TestNode, graph, node};

    fn initializer(key_index: i64, vocab_size: i64) -> TestNode {
        let mut init = node("init", "InitializeTableFromTextFileV2", &["table", "vocab"]);
        init.set_attr_int("key_index", key_index);
        init.set_attr_int("value_index", LINE_NUMBER);
        init.set_attr_int("vocab_size", vocab_size);
        init
    }

    /// A table filled from `vocab.txt`, the keys a placeholder, plus `uses`.
    fn table_graph(init: TestNode, uses: Vec<TestNode>) -> Graph {
        let mut nodes = vec![
            string_const("vocab", b"vocab.txt").into(),
            node("table", "HashTableV2", &[]),
            init,
            node("keys", "Placeholder", &[]),
            node("default", "Const", &[]),
        ];
        nodes.extend(uses);
        graph(nodes)
    }

    /// `StaticVocabularyTable.lookup` as TensorFlow builds it.
    fn oov_buckets() -> Vec<TestNode> {
        vec![
            node("bucket", "StringToHashBucketFast", &["keys"]),
            node("find", "LookupTableFindV2", &["table", "keys", "default"]),
            node("size", "LookupTableSizeV2", &["table"]),
            node("add", "AddV2", &["bucket", "size"]),
            node("found", "NotEqual", &["find", "default"]),
            node("ids", "SelectV2", &["found", "find", "add"]),
        ]
    }

    fn analyse(graph: &Graph) -> Result<Vec<VocabTable>, Refusal> {
        analyse_asset(graph, graph.find("vocab").unwrap())
    }

    #[test]
    fn a_table_with_a_default_value_is_trimmable() {
        let find = node("ids", "LookupTableFindV2", &["table", "keys", "default"]);
        let g = table_graph(initializer(-2, -1), vec![find]);
        let tables = analyse(&g).unwrap();
        assert_eq!(
            tables,
            [VocabTable {
                table: "table".into(),
                initializer: "init".into(),
                vocab_size: None,
                oov_offsets: Vec::new(),
                lookups: vec!["ids".into()],
            }]
        );
    }

    #[test]
    fn out_of_vocabulary_buckets_are_trimmable_with_their_offset_frozen() {
        let g = table_graph(initializer(-2, 16), oov_buckets());
        let tables = analyse(&g).unwrap();
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].oov_offsets, ["size"]);
        assert_eq!(tables[0].lookups, ["find"]);
        assert_eq!(tables[0].vocab_size, Some(16));
    }

    #[test]
    fn the_offset_is_recognised_through_identities_and_as_string() {
        let mut uses = oov_buckets();
        uses[0] = node("bucket", "StringToHashBucketStrong", &["as_string"]);
        uses[2] = node("size", "LookupTableSize", &["table_ref"]);
        uses.push(node("as_string", "AsString", &["keys"]));
        uses.push(node("table_ref", "Identity", &["table"]));
        let tables = analyse(&table_graph(initializer(-2, -1), uses)).unwrap();
        assert_eq!(tables[0].oov_offsets, ["size"]);
    }

    #[test]
    fn a_size_read_elsewhere_is_refused_naming_table_asset_and_use() {
        let mut uses = oov_buckets();
        uses.push(node("depth", "Cast", &["size"]));
        let refusal = analyse(&table_graph(initializer(-2, -1), uses)).unwrap_err();
        assert_eq!(refusal.table.as_deref(), Some("table"));
        assert_eq!(refusal.asset_node, "vocab");
        assert_eq!(refusal.use_node, "size");
        assert_eq!(refusal.use_op, "LookupTableSizeV2");
        assert!(refusal.reason.contains("size"), "{}", refusal.reason);
    }

    #[test]
    fn a_bucket_offset_over_other_keys_is_not_the_oov_structure() {
        let mut uses = oov_buckets();
        uses[0] = node("bucket", "StringToHashBucketFast", &["other_keys"]);
        uses.push(node("other_keys", "Placeholder", &[]));
        let refusal = analyse(&table_graph(initializer(-2, -1), uses)).unwrap_err();
        assert_eq!(refusal.use_node, "size");
    }

    #[test]
    fn an_export_of_the_table_is_refused() {
        let export = node("export", "LookupTableExportV2", &["table"]);
        let refusal = analyse(&table_graph(initializer(-2, -1), vec![export])).unwrap_err();
        assert_eq!(refusal.use_node, "export");
        assert!(refusal.reason.contains("exports"), "{}", refusal.reason);
    }

    #[test]
    fn line_number_keys_are_refused() {
        let find = node("words", "LookupTableFindV2", &["table", "keys", "default"]);
        let refusal = analyse(&table_graph(initializer(LINE_NUMBER, -1), vec![find])).unwrap_err();
        assert_eq!(refusal.use_node, "init");
        assert!(
            refusal.reason.contains("line numbers"),
            "{}",
            refusal.reason
        );
    }

    #[test]
    fn a_file_read_other_than_by_an_initializer_is_refused() {
        let read = node("contents", "ReadFile", &["vocab"]);
        let refusal = analyse(&table_graph(initializer(-2, -1), vec![read])).unwrap_err();
        assert_eq!(refusal.table, None);
        assert_eq!(refusal.use_node, "contents");
    }

    #[test]
    fn an_unknown_use_and_a_mutable_table_are_refused() {
        let unknown = node("odd", "CustomTableOp", &["table"]);
        let refusal = analyse(&table_graph(initializer(-2, -1), vec![unknown])).unwrap_err();
        assert_eq!(refusal.use_node, "odd");
        let mut g = table_graph(initializer(-2, -1), Vec::new());
        let table = g.find("table").unwrap();
        g.node_mut(table).op = "MutableHashTableV2".into();
        assert_eq!(analyse(&g).unwrap_err().use_node, "table");
    }
}
