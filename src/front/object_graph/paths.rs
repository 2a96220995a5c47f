//! Names and roles of objects: each object's path from the root (the
//! prefix of its checkpoint keys), and which objects belong to an optimizer
//! rather than to the model.

use std::collections::VecDeque;

use super::{ObjectGraph, ObjectId};

/// What an object is, judged by the graph's structure alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Reachable from the root without passing through an optimizer.
    Model,
    /// An optimizer: holds slot variables, or keeps its step counter and
    /// state in the layout of Keras optimizers (`_iterations`, `_variables`).
    Optimizer,
    /// Reachable from the root only through an optimizer (its step counter,
    /// hyperparameters, the moments it keeps as plain children).
    OptimizerState,
    /// A slot variable an optimizer keeps for `original`.
    Slot {
        optimizer: ObjectId,
        original: ObjectId,
        slot_name: String,
    },
    /// Not reachable from the root at all.
    Unreachable,
}

impl Role {
    /// Whether serving never needs the object: an optimizer, its state and slots.
    pub fn is_training_only(&self) -> bool {
        matches!(
            self,
            Role::Optimizer | Role::OptimizerState | Role::Slot { .. }
        )
    }
}

/// Children a Keras optimizer (tf_keras, Keras 3) keeps its step counter and
/// its variables list under; a child of that name is part of the format.
const KERAS_OPTIMIZER_CHILDREN: [&str; 2] = ["_iterations", "_variables"];

impl ObjectGraph {
    /// Each object's shortest path from the root (local names joined by
    /// `/`; the root's is empty). A slot variable, reachable from no parent,
    /// is named like its key: `VARIABLE/.OPTIMIZER_SLOT/OPTIMIZER/SLOT`.
    /// `None` for an object nothing names.
    pub fn object_paths(&self) -> Vec<Option<String>> {
        let mut paths = self.breadth_first(0, |_| true);
        for optimizer in self.optimizers() {
            for slot in self.slots_of(optimizer) {
                if paths.get(slot.slot).is_some_and(Option::is_some) {
                    continue;
                }
                let named = |id: ObjectId| paths.get(id).cloned().flatten();
                if let (Some(variable), Some(owner)) = (named(slot.original), named(optimizer)) {
                    let path = format!("{variable}/.OPTIMIZER_SLOT/{owner}/{}", slot.slot_name);
                    if let Some(entry) = paths.get_mut(slot.slot) {
                        *entry = Some(path);
                    }
                }
            }
        }
        paths
    }

    /// The objects that are optimizers, by structure: they hold slot
    /// variables, or they have both children of a Keras optimizer.
    pub fn optimizers(&self) -> Vec<ObjectId> {
        (0..self.objects.len())
            .filter(|&id| self.is_optimizer(id))
            .collect()
    }

    fn is_optimizer(&self, id: ObjectId) -> bool {
        let Some(object) = self.objects.get(id) else {
            return false;
        };
        let has_child = |name: &str| object.children.iter().any(|c| c.local_name == name);
        !object.slot_variables.is_empty() || KERAS_OPTIMIZER_CHILDREN.iter().all(|n| has_child(n))
    }

    fn slots_of(&self, optimizer: ObjectId) -> &[super::SlotVariable] {
        self.objects
            .get(optimizer)
            .map_or(&[], |o| o.slot_variables.as_slice())
    }

    /// Each object's [`Role`].
    pub fn roles(&self) -> Vec<Role> {
        let optimizers = self.optimizers();
        let is_optimizer = |id: ObjectId| optimizers.contains(&id);
        let model = self.breadth_first(0, |id| !is_optimizer(id));
        let all = self.breadth_first(0, |_| true);
        let mut roles: Vec<Role> = (0..self.objects.len())
            .map(|id| match (is_optimizer(id), &model[id], &all[id]) {
                (true, _, _) => Role::Optimizer,
                (false, Some(_), _) => Role::Model,
                (false, None, Some(_)) => Role::OptimizerState,
                (false, None, None) => Role::Unreachable,
            })
            .collect();
        for &optimizer in &optimizers {
            for slot in self.slots_of(optimizer) {
                if let Some(role) = roles.get_mut(slot.slot) {
                    *role = Role::Slot {
                        optimizer,
                        original: slot.original,
                        slot_name: slot.slot_name.clone(),
                    };
                }
            }
        }
        roles
    }

    /// Paths of the objects reachable from `root` through children, visiting
    /// only objects `enter` accepts (besides the root): shortest first, the
    /// first child order wins among equals.
    fn breadth_first(
        &self,
        root: ObjectId,
        enter: impl Fn(ObjectId) -> bool,
    ) -> Vec<Option<String>> {
        let mut paths: Vec<Option<String>> = vec![None; self.objects.len()];
        let Some(slot) = paths.get_mut(root) else {
            return paths;
        };
        *slot = Some(String::new());
        let mut queue = VecDeque::from([root]);
        while let Some(id) = queue.pop_front() {
            let parent = paths.get(id).cloned().flatten().unwrap_or_default();
            let children = self
                .objects
                .get(id)
                .map_or(&[][..], |o| o.children.as_slice());
            for child in children {
                let unseen = paths.get(child.object).is_some_and(Option::is_none);
                if !unseen || !enter(child.object) {
                    continue;
                }
                let path = if parent.is_empty() {
                    child.local_name.clone()
                } else {
                    format!("{parent}/{}", child.local_name)
                };
                if let Some(entry) = paths.get_mut(child.object) {
                    *entry = Some(path);
                }
                queue.push_back(child.object);
            }
        }
        paths
    }
}
