//! The checkpoint side: which checkpoint object each saved object is
//! (walking both graphs from the root by child names, the way
//! `tf.saved_model.load` restores), and the checkpoint's object graph cut
//! down to the objects on a path to a kept value.

use std::collections::VecDeque;

use super::objects::SavedGraph;
use crate::front::object_graph::{ObjectGraph, TrackableObject};

/// For each saved-object id, the checkpoint object id it restores from.
pub(super) fn pair_by_names(saved: &SavedGraph, checkpoint: &ObjectGraph) -> Vec<Option<usize>> {
    let mut pairs: Vec<Option<usize>> = vec![None; saved.nodes.len()];
    let mut taken = vec![false; checkpoint.objects.len()];
    if let (Some(first), Some(root)) = (pairs.first_mut(), taken.first_mut()) {
        *first = Some(0);
        *root = true;
    } else {
        return pairs;
    }
    let mut queue = VecDeque::from([(0usize, 0usize)]);
    while let Some((saved_id, checkpoint_id)) = queue.pop_front() {
        let Some(object) = checkpoint.objects.get(checkpoint_id) else {
            continue;
        };
        for (child, name) in saved.children(saved_id) {
            let Some(matched) = object.children.iter().find(|c| &c.local_name == name) else {
                continue;
            };
            let free = pairs.get(*child).is_some_and(Option::is_none)
                && taken.get(matched.object).is_some_and(|t| !t);
            if !free {
                continue;
            }
            if let Some(slot) = pairs.get_mut(*child) {
                *slot = Some(matched.object);
            }
            if let Some(flag) = taken.get_mut(matched.object) {
                *flag = true;
            }
            queue.push_back((*child, matched.object));
        }
    }
    pairs
}

/// Checkpoint objects kept: those paired with kept saved objects that hold
/// values themselves, and every object on a path from the root to one.
pub(super) fn kept_objects(
    checkpoint: &ObjectGraph,
    pairs: &[Option<usize>],
    saved_kept: &[bool],
) -> Vec<bool> {
    let count = checkpoint.objects.len();
    let mut paired_with_kept = vec![false; count];
    for (saved_id, pair) in pairs.iter().enumerate() {
        let kept = saved_kept.get(saved_id).copied().unwrap_or(false);
        if let Some(flag) = pair
            .filter(|_| kept)
            .and_then(|id| paired_with_kept.get_mut(id))
        {
            *flag = true;
        }
    }
    let holds_values = |id: usize| {
        checkpoint
            .objects
            .get(id)
            .is_some_and(|o| !o.attributes.is_empty())
    };
    let mut kept: Vec<bool> = (0..count)
        .map(|id| paired_with_kept.get(id).copied().unwrap_or(false) && holds_values(id))
        .collect();
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (id, object) in checkpoint.objects.iter().enumerate() {
        for child in &object.children {
            if let Some(list) = parents.get_mut(child.object) {
                list.push(id);
            }
        }
    }
    let mut queue: Vec<usize> = (0..count)
        .filter(|&id| kept.get(id) == Some(&true))
        .collect();
    while let Some(id) = queue.pop() {
        for &parent in parents.get(id).map_or(&[][..], Vec::as_slice) {
            let eligible = paired_with_kept.get(parent).copied().unwrap_or(false);
            if let Some(flag) = kept.get_mut(parent).filter(|f| eligible && !**f) {
                *flag = true;
                queue.push(parent);
            }
        }
    }
    if let Some(root) = kept.first_mut() {
        *root = true;
    }
    kept
}

/// The checkpoint graph cut down to `kept`, renumbered in the old order;
/// edges and slot references to dropped objects removed.
pub(super) fn pruned(checkpoint: &ObjectGraph, kept: &[bool]) -> ObjectGraph {
    let ids = super::objects::renumbering(kept);
    let new_id = |old: usize| {
        ids.get(old)
            .copied()
            .flatten()
            .and_then(|id| usize::try_from(id).ok())
    };
    let objects = checkpoint
        .objects
        .iter()
        .enumerate()
        .filter(|(id, _)| kept.get(*id).copied().unwrap_or(false))
        .map(|(_, object)| {
            let mut object: TrackableObject = object.clone();
            object
                .children
                .retain_mut(|child| match new_id(child.object) {
                    Some(id) => {
                        child.object = id;
                        true
                    }
                    None => false,
                });
            object.slot_variables.retain_mut(|slot| {
                match (new_id(slot.original), new_id(slot.slot)) {
                    (Some(original), Some(id)) => {
                        slot.original = original;
                        slot.slot = id;
                        true
                    }
                    _ => false,
                }
            });
            object
        })
        .collect();
    ObjectGraph { objects }
}
