//! Transforms that edit what nodes say about themselves, not the graph's
//! shape: `remove_device`, `set_device`, `remove_attribute`,
//! `rename_attribute`.

use super::super::registry::{ArgSpec, PassArgs, PassEntry};
use super::super::{Pass, PassContext, PassError, PassReport};
use super::{Built, IGNORE_ERRORS, OP_NAME, text};
use crate::model::Model;

pub(super) fn entries() -> Vec<PassEntry> {
    vec![
        PassEntry {
            name: "remove_device",
            doc: "clears every node's device placement",
            args: &[IGNORE_ERRORS],
            build: |_, _| -> Built { Ok(Box::new(RemoveDevice)) },
        },
        PassEntry {
            name: "set_device",
            doc: "places every node on one device",
            args: {
                const ARGS: &[ArgSpec] = &[
                    text("device", "the device, as /device:CPU:0").required(),
                    ArgSpec::optional(
                        "if_default",
                        super::ArgKind::Bool,
                        "only nodes with no device yet",
                    )
                    .default("false"),
                    IGNORE_ERRORS,
                ];
                ARGS
            },
            build: |args, _| -> Built { Ok(Box::new(SetDevice::new(args)?)) },
        },
        PassEntry {
            name: "remove_attribute",
            doc: "removes an attr from every node (of one op)",
            args: {
                const ARGS: &[ArgSpec] = &[
                    text("attribute_name", "the attr to remove").required(),
                    OP_NAME,
                    IGNORE_ERRORS,
                ];
                ARGS
            },
            build: |args, _| -> Built { Ok(Box::new(RemoveAttribute::new(args)?)) },
        },
        PassEntry {
            name: "rename_attribute",
            doc: "renames an attr on every node (of one op)",
            args: {
                const ARGS: &[ArgSpec] = &[
                    text("old_attribute_name", "the attr's name now").required(),
                    text("new_attribute_name", "its new name").required(),
                    OP_NAME,
                    IGNORE_ERRORS,
                ];
                ARGS
            },
            build: |args, _| -> Built { Ok(Box::new(RenameAttribute::new(args)?)) },
        },
    ]
}

/// `op_name=*` matches every op.
fn op_matches(filter: &str, op: &str) -> bool {
    filter == "*" || filter == op
}

pub struct RemoveDevice;

impl Pass for RemoveDevice {
    fn name(&self) -> &'static str {
        "remove_device"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let cleared = model
            .graph
            .node_ids()
            .into_iter()
            .filter(|&id| !std::mem::take(&mut model.graph.node_mut(id).device).is_empty())
            .count();
        report.note(format!("device cleared on {cleared} nodes"));
        Ok(report)
    }
}

pub struct SetDevice {
    device: String,
    if_default: bool,
}

impl SetDevice {
    fn new(args: &PassArgs) -> Result<SetDevice, PassError> {
        Ok(SetDevice {
            device: args.required_text("device")?.to_string(),
            if_default: args.bool("if_default", false)?,
        })
    }
}

impl Pass for SetDevice {
    fn name(&self) -> &'static str {
        "set_device"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut set = 0;
        for id in model.graph.node_ids() {
            let node = model.graph.node_mut(id);
            if self.if_default && !node.device.is_empty() {
                continue;
            }
            node.device = self.device.clone();
            set += 1;
        }
        report.note(format!("{set} nodes placed on {:?}", self.device));
        Ok(report)
    }
}

pub struct RemoveAttribute {
    attr: String,
    op: String,
}

impl RemoveAttribute {
    fn new(args: &PassArgs) -> Result<RemoveAttribute, PassError> {
        Ok(RemoveAttribute {
            attr: args.required_text("attribute_name")?.to_string(),
            op: args.text("op_name").unwrap_or("*").to_string(),
        })
    }
}

impl Pass for RemoveAttribute {
    fn name(&self) -> &'static str {
        "remove_attribute"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut removed = 0;
        for id in model.graph.node_ids() {
            let node = model.graph.node_mut(id);
            if op_matches(&self.op, &node.op) && node.attrs.remove(&self.attr).is_some() {
                removed += 1;
            }
        }
        report.note(format!("attr {:?} removed from {removed} nodes", self.attr));
        Ok(report)
    }
}

pub struct RenameAttribute {
    old: String,
    new: String,
    op: String,
}

impl RenameAttribute {
    fn new(args: &PassArgs) -> Result<RenameAttribute, PassError> {
        Ok(RenameAttribute {
            old: args.required_text("old_attribute_name")?.to_string(),
            new: args.required_text("new_attribute_name")?.to_string(),
            op: args.text("op_name").unwrap_or("*").to_string(),
        })
    }
}

impl Pass for RenameAttribute {
    fn name(&self) -> &'static str {
        "rename_attribute"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut renamed = 0;
        for id in model.graph.node_ids() {
            let node = model.graph.node_mut(id);
            if !op_matches(&self.op, &node.op) {
                continue;
            }
            if let Some(value) = node.attrs.remove(&self.old) {
                node.attrs.insert(self.new.clone(), value);
                renamed += 1;
            }
        }
        report.note(format!(
            "attr {:?} renamed {:?} on {renamed} nodes",
            self.old, self.new
        ));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::registry::{BuildContext, Registry};
    use super::*;
    use crate::ir::{AttrExt, Graph, Node};

    fn model() -> Model {
        let mut graph = Graph::new();
        let mut a = Node::new("a", "Const");
        a.device = "/device:GPU:0".into();
        a.set_attr_int("keep", 1);
        graph.add_node(a).unwrap();
        let mut b = Node::new("b", "Identity");
        b.set_attr_int("keep", 2);
        graph.add_node(b).unwrap();
        Model::from_graph(graph)
    }

    fn run(name: &str, args: &[(&str, &str)], model: &mut Model) {
        let args: Vec<(String, Option<String>)> = args
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect();
        Registry::standard()
            .build(name, &args, &BuildContext::default())
            .unwrap()
            .run(model, &mut PassContext::new())
            .unwrap();
    }

    fn node<'a>(model: &'a Model, name: &str) -> &'a crate::ir::Node {
        model.graph.node(model.graph.require(name).unwrap())
    }

    #[test]
    fn devices_are_set_only_where_unset_with_if_default_and_cleared() {
        let mut m = model();
        run(
            "set_device",
            &[("device", "/cpu:0"), ("if_default", "true")],
            &mut m,
        );
        assert_eq!(node(&m, "a").device, "/device:GPU:0");
        assert_eq!(node(&m, "b").device, "/cpu:0");
        run("remove_device", &[], &mut m);
        assert!(node(&m, "a").device.is_empty() && node(&m, "b").device.is_empty());
    }

    #[test]
    fn attributes_are_renamed_and_removed_for_the_op_asked() {
        let mut m = model();
        run(
            "rename_attribute",
            &[
                ("old_attribute_name", "keep"),
                ("new_attribute_name", "kept"),
                ("op_name", "Const"),
            ],
            &mut m,
        );
        assert_eq!(node(&m, "a").attr_int("kept").unwrap(), 1);
        assert_eq!(node(&m, "b").attr_int("keep").unwrap(), 2);
        run("remove_attribute", &[("attribute_name", "keep")], &mut m);
        assert!(node(&m, "b").attrs.is_empty());
        assert_eq!(node(&m, "a").attr_int("kept").unwrap(), 1);
    }
}
