//! The rules of the serving lint behind `servegraph validate`. Each rule is
//! one function with a stable id ([`Rule`]), and each finding it makes has a
//! severity and a message naming the node, tensor or file at fault.
//! Errors are what stops a model from loading or serving; warnings are what
//! will make it fail later (batching, size limits) or what cannot be checked.

pub mod graph;
pub mod init;
pub mod ops;
pub mod shapes;
pub mod signatures;
pub mod size;
pub mod variables;

use serde::Serialize;

/// A lint rule, by its stable id (the `rule` of a finding in `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A MetaGraphDef with the requested tag set exists.
    TagSet,
    /// The MetaGraphDef carries a TF2 object graph.
    ObjectGraph,
    /// Node names are unique.
    DuplicateNode,
    /// Every input names a node of the graph.
    DanglingInput,
    /// Data inputs come before control inputs.
    ControlInputOrder,
    /// The graph loads: well-formed constants, no cycle outside loops.
    GraphStructure,
    /// Each signature is valid for its method.
    SignatureMethod,
    /// Each signature tensor exists.
    SignatureTensor,
    /// Each signature tensor has the dtype the signature states.
    SignatureDtype,
    /// Each signature tensor has the shape the signature states.
    SignatureShape,
    /// Each signature input and output has a leading batch dimension of -1.
    BatchDimension,
    /// Every op can take its inputs' ranks, sizes and dtypes.
    ShapeConflict,
    /// No training-only op outside the saver.
    TrainingOp,
    /// No Python function op.
    PythonOp,
    /// No op of saved_model_cli scan's denylist.
    DenylistedOp,
    /// The init op exists.
    InitOp,
    /// Every table initializer runs in the init op.
    TableInitializer,
    /// Every asset's tensor exists.
    AssetTensor,
    /// Every asset's file exists inside `assets/`.
    AssetFile,
    /// Saver and variables come together and the saver's tensors exist.
    Saver,
    /// Every variable the restore op reads is stored with its dtype and shape.
    RestoreVariable,
    /// The graph's proto fits protobuf's 2 GiB and TF Serving's 1 GiB.
    ProtoSize,
    /// The whole model against the 500 MB and 10 GB service limits.
    TotalSize,
}

impl Rule {
    /// Every rule, in the order the user guide (`docs/guide.md`) lists them.
    pub const ALL: [Rule; 23] = [
        Rule::TagSet,
        Rule::ObjectGraph,
        Rule::DuplicateNode,
        Rule::DanglingInput,
        Rule::ControlInputOrder,
        Rule::GraphStructure,
        Rule::SignatureMethod,
        Rule::SignatureTensor,
        Rule::SignatureDtype,
        Rule::SignatureShape,
        Rule::BatchDimension,
        Rule::ShapeConflict,
        Rule::TrainingOp,
        Rule::PythonOp,
        Rule::DenylistedOp,
        Rule::InitOp,
        Rule::TableInitializer,
        Rule::AssetTensor,
        Rule::AssetFile,
        Rule::Saver,
        Rule::RestoreVariable,
        Rule::ProtoSize,
        Rule::TotalSize,
    ];

    /// The stable id, as printed and in JSON.
    pub fn id(self) -> &'static str {
        match self {
            Rule::TagSet => "tag-set",
            Rule::ObjectGraph => "object-graph",
            Rule::DuplicateNode => "duplicate-node",
            Rule::DanglingInput => "dangling-input",
            Rule::ControlInputOrder => "control-input-order",
            Rule::GraphStructure => "graph-structure",
            Rule::SignatureMethod => "signature-method",
            Rule::SignatureTensor => "signature-tensor",
            Rule::SignatureDtype => "signature-dtype",
            Rule::SignatureShape => "signature-shape",
            Rule::BatchDimension => "batch-dimension",
            Rule::ShapeConflict => "shape-conflict",
            Rule::TrainingOp => "training-op",
            Rule::PythonOp => "python-op",
            Rule::DenylistedOp => "denylisted-op",
            Rule::InitOp => "init-op",
            Rule::TableInitializer => "table-initializer",
            Rule::AssetTensor => "asset-tensor",
            Rule::AssetFile => "asset-file",
            Rule::Saver => "saver",
            Rule::RestoreVariable => "restore-variable",
            Rule::ProtoSize => "proto-size",
            Rule::TotalSize => "total-size",
        }
    }
}

impl std::str::FromStr for Rule {
    type Err = String;

    /// A rule by its id (`batch-dimension`); the error lists every id.
    fn from_str(id: &str) -> Result<Rule, String> {
        Rule::ALL.into_iter().find(|r| r.id() == id).ok_or_else(|| {
            let ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
            format!("unknown rule {id:?}; the rules are {}", ids.join(", "))
        })
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// How bad a finding is: an error stops the model from loading or serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One thing a rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    /// The node at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]: {}", self.severity, self.rule, self.message)
    }
}

/// The findings of the rules run so far.
#[derive(Debug, Clone, Default)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    pub fn error(&mut self, rule: Rule, node: Option<&str>, message: impl Into<String>) {
        self.push(rule, Severity::Error, node, message.into());
    }

    pub fn warning(&mut self, rule: Rule, node: Option<&str>, message: impl Into<String>) {
        self.push(rule, Severity::Warning, node, message.into());
    }

    fn push(&mut self, rule: Rule, severity: Severity, node: Option<&str>, message: String) {
        self.0.push(Finding {
            rule,
            severity,
            message,
            node: node.map(str::to_string),
        });
    }

    /// Whether a rule found an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|f| f.severity == Severity::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_match_their_json() {
        let ids: std::collections::BTreeSet<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        assert_eq!(ids.len(), Rule::ALL.len());
        for rule in Rule::ALL {
            let json = serde_json::to_value(rule).unwrap();
            assert_eq!(json, rule.id());
        }
    }
}
