//! Size limits: the graph's proto against protobuf's 2 GiB (nothing can
//! parse a larger message) and TensorFlow Serving's 1 GiB, and the whole
//! model against the 500 MB (AI Platform MLS1) and 10 GB (N1) limits, as
//! `servegraph size` measures them.

use std::path::Path;

use super::{Findings, Rule};
use crate::back::size::{MLS1_BYTES, N1_BYTES};
use crate::format::limits::{MAX_PROTO_BYTES, MAX_SERVING_PROTO_BYTES};
use crate::format::units::format_bytes;

/// `proto-size`: an error past 2 GiB (no protobuf parser reads it, so no
/// other rule can run), a warning past 1 GiB (TensorFlow Serving and
/// TensorFlow 1 refuse it). `false` when the file is too large to read.
pub fn proto_size(file: &Path, bytes: u64, findings: &mut Findings) -> bool {
    let shown = format!("{} is {}", file.display(), format_bytes(bytes));
    if bytes > MAX_PROTO_BYTES {
        findings.error(
            Rule::ProtoSize,
            None,
            format!("{shown}, over protobuf's 2 GiB limit on one message: nothing can parse it"),
        );
        return false;
    }
    if bytes > MAX_SERVING_PROTO_BYTES {
        findings.warning(
            Rule::ProtoSize,
            None,
            format!("{shown}, over the 1 GiB TensorFlow Serving and TensorFlow 1 read it with"),
        );
    }
    true
}

/// `total-size`: a warning for each service limit the model passes.
pub fn total_size(dir: &Path, bytes: u64, findings: &mut Findings) {
    for (limit, service) in [
        (MLS1_BYTES, "500 MB limit of AI Platform's MLS1 machines"),
        (
            N1_BYTES,
            "10 GB limit of AI Platform's N1 machines and Vertex AI",
        ),
    ] {
        if bytes > limit {
            findings.warning(
                Rule::TotalSize,
                None,
                format!(
                    "{} holds {}, over the {service} (see `servegraph size`)",
                    dir.display(),
                    format_bytes(bytes)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(bytes: u64) -> Vec<(Rule, super::super::Severity)> {
        let mut findings = Findings::default();
        proto_size(Path::new("saved_model.pb"), bytes, &mut findings);
        total_size(Path::new("m"), bytes, &mut findings);
        findings.0.iter().map(|f| (f.rule, f.severity)).collect()
    }

    #[test]
    fn each_limit_fires_just_past_it() {
        use super::super::Severity::{Error, Warning};
        assert!(rules(MLS1_BYTES).is_empty());
        assert_eq!(rules(MLS1_BYTES + 1), [(Rule::TotalSize, Warning)]);
        assert_eq!(
            rules(MAX_SERVING_PROTO_BYTES + 1),
            [(Rule::ProtoSize, Warning), (Rule::TotalSize, Warning)]
        );
        assert_eq!(
            rules(MAX_PROTO_BYTES + 1),
            [(Rule::ProtoSize, Error), (Rule::TotalSize, Warning)]
        );
    }
}
