//! "Did you mean": node names close to one that is not in the graph.

use crate::ir::Graph;

/// Up to five node names close to `wanted`: containing it, or a small edit away.
pub fn close_names(graph: &Graph, wanted: &str) -> Vec<String> {
    let names = graph.node_ids().into_iter().map(|id| graph.name(id));
    close_words(names, wanted)
}

/// Up to five of `candidates` close to `wanted` (a transform, pass or flag
/// name mistyped): containing it, or a small edit away; closest first.
pub fn close_words<'a>(candidates: impl IntoIterator<Item = &'a str>, wanted: &str) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = candidates
        .into_iter()
        .map(str::to_string)
        .map(|name| {
            let related = name.contains(wanted) || wanted.contains(name.as_str());
            (edit_distance(&name, wanted), related, name)
        })
        .filter(|(distance, related, _)| *related || *distance <= wanted.len().max(4) / 3)
        .map(|(distance, _, name)| (distance, name))
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, name)| name).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("logits", "logit"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
