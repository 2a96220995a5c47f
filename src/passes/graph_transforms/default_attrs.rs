//! `add_default_attributes`: writes into each node the attrs its op gives a
//! default and the node leaves unset, so a consumer that does not know the
//! defaults (or a newer TensorFlow whose defaults moved) reads the values
//! the graph was built with. Defaults come from the source's own op list
//! when it has one, else from TensorFlow's registry as embedded.

use std::collections::BTreeMap;

use super::super::{Pass, PassContext, PassError, PassReport};
use crate::format::proto::AttrValue;
use crate::model::Model;
use crate::ops::attr_defaults::tensorflow_attr_defaults;

pub struct AddDefaultAttributes;

/// The defaulted attrs of `op`: the source's OpDef first, then TensorFlow's.
fn defaults_of(model: &Model, op: &str) -> Vec<(String, AttrValue)> {
    match model.op_defs.get(op) {
        Some(def) => def
            .attr
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.default_value.clone()?)))
            .collect(),
        None => tensorflow_attr_defaults(op)
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
    }
}

impl Pass for AddDefaultAttributes {
    fn name(&self) -> &'static str {
        "add_default_attributes"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut cache: BTreeMap<String, Vec<(String, AttrValue)>> = BTreeMap::new();
        let mut added = 0;
        for id in model.graph.node_ids() {
            let op = model.graph.op(id).to_string();
            if !cache.contains_key(&op) {
                let defaults = defaults_of(model, &op);
                cache.insert(op.clone(), defaults);
            }
            let node = model.graph.node_mut(id);
            for (name, value) in cache.get(&op).into_iter().flatten() {
                if !node.attrs.contains_key(name) {
                    node.attrs.insert(name.clone(), value.clone());
                    added += 1;
                }
            }
        }
        report.note(format!("{added} default attrs written out"));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AttrExt;
    use crate::passes::testing::{model, node};

    #[test]
    fn missing_defaults_are_written_and_set_values_kept() {
        let mut conv = node("conv", "Conv2D", &[]);
        conv.set_attr_string("data_format", b"NCHW");
        let mut m = model(vec![conv, node("bn", "FusedBatchNormV3", &[])]);
        AddDefaultAttributes
            .run(&mut m, &mut PassContext::new())
            .unwrap();
        let conv = m.graph.node(m.graph.require("conv").unwrap());
        assert_eq!(conv.attr_string("data_format").unwrap(), b"NCHW");
        assert!(conv.attr_bool("use_cudnn_on_gpu").unwrap());
        assert_eq!(conv.attr_list_int("dilations").unwrap(), [1, 1, 1, 1]);
        let bn = m.graph.node(m.graph.require("bn").unwrap());
        assert!(bn.attr_bool("is_training").unwrap());
        assert!((bn.attr_float("epsilon").unwrap() - 1e-4).abs() < 1e-9);
    }
}
