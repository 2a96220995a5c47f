//! Extra MetaGraphDefs written beside the served one: the same graph and the
//! same `variables/` and `assets/`, under another tag set, with the training
//! graph's device placements kept (the served graph has them cleared so it
//! loads on any machine; a variant is for the machine that has the devices).

use std::collections::BTreeSet;
use std::str::FromStr;

use serde::Serialize;

use crate::model::SERVE_TAG;

/// The variant names known without `NAME=TAG,TAG`, and the tag set each adds
/// to `serve`. There is no `cpu`: the served graph, devices cleared, is
/// already the graph for any CPU.
const KNOWN: &[(&str, &str)] = &[("gpu", "gpu")];

/// One more MetaGraphDef: a name for reports and its tag set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    pub name: String,
    pub tags: Vec<String>,
}

/// A variant that cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VariantError {
    #[error("unknown variant `{name}` (known: {known}; or give NAME=TAG,TAG)")]
    Unknown { name: String, known: String },
    #[error("variant `{spec}` has {problem}")]
    Malformed { spec: String, problem: &'static str },
    #[error("variant `{name}` has the tag set [{tags}], the same as {other}")]
    DuplicateTags {
        name: String,
        tags: String,
        other: String,
    },
}

impl FromStr for Variant {
    type Err = VariantError;

    /// `gpu` (a known name) or `NAME=TAG,TAG`.
    fn from_str(spec: &str) -> Result<Variant, VariantError> {
        match spec.split_once('=') {
            Some((name, tags)) => explicit(spec, name, tags),
            None => known(spec),
        }
    }
}

/// `NAME=TAG,TAG`: a non-empty name and at least one non-empty tag.
fn explicit(spec: &str, name: &str, tags: &str) -> Result<Variant, VariantError> {
    let malformed = |problem| VariantError::Malformed {
        spec: spec.into(),
        problem,
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(malformed("no name before `=`"));
    }
    let tags: Vec<String> = tags.split(',').map(|t| t.trim().to_string()).collect();
    if tags.iter().any(String::is_empty) {
        return Err(malformed("an empty tag"));
    }
    Ok(Variant {
        name: name.into(),
        tags,
    })
}

/// A known variant name: `serve` plus the name's tag.
fn known(name: &str) -> Result<Variant, VariantError> {
    let Some((_, tag)) = KNOWN.iter().find(|(known, _)| *known == name) else {
        let known = KNOWN.iter().map(|(name, _)| *name).collect::<Vec<_>>();
        return Err(VariantError::Unknown {
            name: name.into(),
            known: known.join(", "),
        });
    };
    Ok(Variant {
        name: name.into(),
        tags: vec![SERVE_TAG.into(), (*tag).into()],
    })
}

/// Every variant's tag set differs from the served graph's `tags` and from
/// every other variant's (a loader picks a MetaGraphDef by its tag set, so
/// two alike would leave one unreachable). Tag order and repeats do not count.
pub fn check_distinct(tags: &[String], variants: &[Variant]) -> Result<(), VariantError> {
    let mut seen = vec![(tag_set(tags), "the served graph".to_string())];
    for variant in variants {
        let set = tag_set(&variant.tags);
        if let Some((_, other)) = seen.iter().find(|(earlier, _)| *earlier == set) {
            return Err(VariantError::DuplicateTags {
                name: variant.name.clone(),
                tags: variant.tags.join(","),
                other: other.clone(),
            });
        }
        seen.push((set, format!("variant `{}`", variant.name)));
    }
    Ok(())
}

fn tag_set(tags: &[String]) -> BTreeSet<&str> {
    tags.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve() -> Vec<String> {
        vec![SERVE_TAG.into()]
    }

    #[test]
    fn gpu_adds_the_gpu_tag_to_serve() {
        let variant: Variant = "gpu".parse().unwrap();
        assert_eq!(variant.name, "gpu");
        assert_eq!(variant.tags, ["serve", "gpu"]);
    }

    #[test]
    fn name_equals_tags_gives_that_tag_set() {
        let variant: Variant = "tpu=serve, tpu".parse().unwrap();
        assert_eq!(variant.name, "tpu");
        assert_eq!(variant.tags, ["serve", "tpu"]);
    }

    #[test]
    fn an_unknown_name_is_named_with_the_known_ones() {
        let error = "cpu".parse::<Variant>().unwrap_err();
        assert_eq!(
            error,
            VariantError::Unknown {
                name: "cpu".into(),
                known: "gpu".into()
            }
        );
        assert!(error.to_string().contains("`cpu`"));
    }

    #[test]
    fn an_empty_name_or_tag_is_malformed() {
        for spec in ["=serve", "x=", "x=serve,,gpu"] {
            let error = spec.parse::<Variant>().unwrap_err();
            assert!(
                matches!(error, VariantError::Malformed { .. }),
                "{spec}: {error:?}"
            );
        }
    }

    #[test]
    fn a_tag_set_like_the_served_one_is_refused() {
        let variant: Variant = "again=serve".parse().unwrap();
        let error = check_distinct(&serve(), &[variant]).unwrap_err();
        assert!(error.to_string().contains("`again`"), "{error}");
        assert!(error.to_string().contains("the served graph"), "{error}");
    }

    #[test]
    fn two_variants_with_one_tag_set_in_any_order_are_refused() {
        let gpu: Variant = "gpu".parse().unwrap();
        let other: Variant = "other=gpu,serve".parse().unwrap();
        let error = check_distinct(&serve(), &[gpu.clone(), other]).unwrap_err();
        assert_eq!(
            error,
            VariantError::DuplicateTags {
                name: "other".into(),
                tags: "gpu,serve".into(),
                other: "variant `gpu`".into(),
            }
        );
        assert!(check_distinct(&serve(), &[gpu]).is_ok());
    }
}
