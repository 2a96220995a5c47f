//! `sort_by_execution_order`: writes the nodes producers first, so a reader
//! that needs a node's inputs before the node (some tools do) can stream it.

use super::super::{Pass, PassContext, PassError, PassReport};
use crate::model::Model;

pub struct SortByExecutionOrder;

impl Pass for SortByExecutionOrder {
    fn name(&self) -> &'static str {
        "sort_by_execution_order"
    }

    fn run(&self, model: &mut Model, _cx: &mut PassContext) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let before = model.graph.node_ids();
        let order = model.graph.topological_order()?;
        let moved = before.iter().zip(&order).filter(|(a, b)| a != b).count();
        model.graph.reorder(&order);
        report.note(format!("{moved} nodes changed place"));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::testing::{model, node};

    #[test]
    fn consumers_come_after_their_producers() {
        let mut model = model(vec![
            node("c", "Add", &["b", "a"]),
            node("b", "Neg", &["a"]),
            node("a", "Const", &[]),
        ]);
        SortByExecutionOrder
            .run(&mut model, &mut PassContext::new())
            .unwrap();
        let names: Vec<&str> = model
            .graph
            .node_ids()
            .into_iter()
            .map(|id| model.graph.name(id))
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
