//! Whether the frozen constants fit, decided from the checkpoint's index
//! before any value is read: `saved_model.pb` under the size TensorFlow
//! Serving and older TensorFlow load, each constant under protobuf's limit
//! on one message. A refusal names the largest variables and says which
//! `--weights` precision would fit (sizes as the storage conversion
//! computes them: f16 two bytes per element, int8 one byte per element plus
//! a four-byte scale per slice along the last axis).

use super::FreezeLimits;
use super::error::FreezeError;
use crate::ir::DataType;

pub use crate::storage::WEIGHTS_MIN_ELEMENTS;

/// Variables a refusal names.
const LARGEST_NAMED: usize = 5;

/// One constant to be, as the index describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub variable: String,
    pub dtype: DataType,
    pub shape: Vec<i64>,
    pub bytes: u64,
}

/// Refuses when one constant passes `limits.constant_bytes`, or when
/// `meta_graphs` copies of the graph (`graph_bytes` encoded, without the
/// values) plus the constants pass `limits.saved_model_bytes`.
pub fn check(
    planned: &[Planned],
    graph_bytes: u64,
    meta_graphs: u64,
    limits: &FreezeLimits,
) -> Result<(), FreezeError> {
    if let Some(too_big) = planned.iter().find(|p| p.bytes > limits.constant_bytes) {
        return Err(FreezeError::ConstantTooLarge {
            variable: too_big.variable.clone(),
            bytes: too_big.bytes,
            limit: limits.constant_bytes,
            advice: constant_advice(too_big, limits.constant_bytes),
        });
    }
    let total = projected(planned, graph_bytes, meta_graphs, |p| p.bytes);
    if total > limits.saved_model_bytes {
        return Err(FreezeError::GraphTooLarge {
            bytes: total,
            limit: limits.saved_model_bytes,
            largest: largest(planned),
            advice: graph_advice(planned, graph_bytes, meta_graphs, limits.saved_model_bytes),
        });
    }
    Ok(())
}

/// `saved_model.pb`'s size with each constant sized by `size`.
fn projected(
    planned: &[Planned],
    graph_bytes: u64,
    meta_graphs: u64,
    size: impl Fn(&Planned) -> u64,
) -> u64 {
    let constants = planned.iter().map(size).fold(0u64, u64::saturating_add);
    graph_bytes
        .saturating_add(constants)
        .saturating_mul(meta_graphs.max(1))
}

/// The largest variables, "name (N bytes)", largest first.
fn largest(planned: &[Planned]) -> Vec<String> {
    let mut by_size: Vec<&Planned> = planned.iter().collect();
    by_size.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.variable.cmp(&b.variable)));
    by_size
        .iter()
        .take(LARGEST_NAMED)
        .map(|p| format!("{} ({} bytes)", p.variable, p.bytes))
        .collect()
}

/// A `--weights` setting to project sizes for.
#[derive(Debug, Clone, Copy)]
struct Weights {
    int8: bool,
    /// Float tensors with fewer elements stay float32.
    min_elements: u64,
}

impl Weights {
    /// The settings advice tries, smallest change first.
    const TRIED: [Weights; 4] = [
        Weights::new(false, WEIGHTS_MIN_ELEMENTS),
        Weights::new(true, WEIGHTS_MIN_ELEMENTS),
        Weights::new(false, 0),
        Weights::new(true, 0),
    ];

    const fn new(int8: bool, min_elements: u64) -> Weights {
        Weights { int8, min_elements }
    }

    fn flags(self) -> String {
        let precision = if self.int8 { "int8" } else { "f16" };
        match self.min_elements {
            WEIGHTS_MIN_ELEMENTS => format!("--weights {precision}"),
            n => format!("--weights {precision} --weights-min-size {n}"),
        }
    }

    /// The constant's bytes once converted: f16 two bytes per element;
    /// int8 one byte per element plus a float32 scale per slice along the
    /// last axis (rank >= 2), one scale otherwise.
    fn bytes(self, planned: &Planned) -> u64 {
        let Some(elements) = self.converts(planned) else {
            return planned.bytes;
        };
        if !self.int8 {
            return elements.saturating_mul(2);
        }
        let scales = match planned.shape.as_slice() {
            [_, .., last] => u64::try_from(*last).unwrap_or(0),
            _ => 1,
        };
        elements.saturating_add(scales.saturating_mul(4))
    }

    /// The element count of a float32 constant this setting converts.
    fn converts(self, planned: &Planned) -> Option<u64> {
        let elements = elements(&planned.shape)?;
        let float = planned.dtype == DataType::DtFloat;
        (float && elements >= self.min_elements).then_some(elements)
    }
}

/// Which `--weights` brings the graph under `limit`, or that none does.
fn graph_advice(planned: &[Planned], graph_bytes: u64, meta_graphs: u64, limit: u64) -> String {
    let project = |w: Weights| projected(planned, graph_bytes, meta_graphs, |p| w.bytes(p));
    if let Some(fits) = Weights::TRIED.into_iter().find(|&w| project(w) <= limit) {
        return format!(
            "with {} it would be about {} bytes and fit; or export without --freeze \
             (variables/ has no such limit)",
            fits.flags(),
            project(fits)
        );
    }
    let smallest = Weights::new(true, 0);
    format!(
        "even {} would leave about {} bytes; export without --freeze \
         (variables/ has no such limit)",
        smallest.flags(),
        project(smallest)
    )
}

/// Which `--weights` brings one constant under `limit`, or that none does.
fn constant_advice(planned: &Planned, limit: u64) -> String {
    match Weights::TRIED
        .into_iter()
        .find(|w| w.bytes(planned) <= limit)
    {
        Some(fits) => format!(
            "with {} it would hold {} bytes and fit; or export without --freeze",
            fits.flags(),
            fits.bytes(planned)
        ),
        None => "no --weights precision makes it fit; export without --freeze".into(),
    }
}

fn elements(shape: &[i64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, &d| {
        u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(variable: &str, shape: &[i64]) -> Planned {
        Planned {
            variable: variable.into(),
            dtype: DataType::DtFloat,
            shape: shape.to_vec(),
            bytes: elements(shape).unwrap() * 4,
        }
    }

    fn limits(saved_model_bytes: u64, constant_bytes: u64) -> FreezeLimits {
        FreezeLimits {
            saved_model_bytes,
            constant_bytes,
        }
    }

    #[test]
    fn under_both_limits_passes() {
        let planned = [float("w", &[64, 64]), float("b", &[64])];
        check(&planned, 1000, 1, &limits(20_000, 20_000)).unwrap();
    }

    #[test]
    fn a_graph_over_the_limit_names_the_largest_and_the_weights_that_fit() {
        // 16,384 + 256 bytes of constants and 1,000 of graph: 17,640 in all.
        let planned = [float("w", &[64, 64]), float("b", &[64])];
        let err = check(&planned, 1000, 1, &limits(10_000, 1 << 30)).unwrap_err();
        let FreezeError::GraphTooLarge {
            bytes,
            largest,
            advice,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(*bytes, 17_640);
        assert_eq!(largest, &["w (16384 bytes)", "b (256 bytes)"]);
        // f16: 8,192 + 256 (b has too few elements to convert) + 1,000.
        assert!(
            advice.contains("--weights f16") && advice.contains("9448"),
            "{advice}"
        );
        let text = err.to_string();
        assert!(
            text.contains("10000-byte limit") && text.contains("w (16384"),
            "{text}"
        );
    }

    #[test]
    fn only_int8_fits_then_nothing_does() {
        let planned = [float("w", &[64, 64])];
        // int8: 4,096 + 64 scales * 4 = 4,352; f16 would be 8,192.
        let err = check(&planned, 0, 1, &limits(5_000, 1 << 30)).unwrap_err();
        assert!(
            err.to_string()
                .contains("--weights int8 it would be about 4352"),
            "{err}"
        );
        let err = check(&planned, 0, 1, &limits(4_000, 1 << 30)).unwrap_err();
        assert!(
            err.to_string()
                .contains("even --weights int8 --weights-min-size 0 would leave about 4352"),
            "{err}"
        );
    }

    #[test]
    fn small_tensors_count_only_with_a_smaller_min_size() {
        // 100 tensors of 512 floats: 204,800 bytes, none converted by default.
        let planned: Vec<Planned> = (0..100)
            .map(|i| float(&format!("w{i}"), &[8, 64]))
            .collect();
        let err = check(&planned, 0, 1, &limits(150_000, 1 << 30)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("with --weights f16 --weights-min-size 0 it would be about 102400"),
            "{text}"
        );
    }

    #[test]
    fn every_meta_graph_holds_its_own_copy() {
        let planned = [float("w", &[64, 64])];
        check(&planned, 0, 1, &limits(20_000, 1 << 30)).unwrap();
        let err = check(&planned, 0, 2, &limits(20_000, 1 << 30)).unwrap_err();
        assert!(
            matches!(err, FreezeError::GraphTooLarge { bytes: 32_768, .. }),
            "{err}"
        );
    }

    #[test]
    fn one_constant_over_the_protobuf_limit_is_refused_first() {
        let planned = [float("small", &[4]), float("huge", &[64, 64])];
        let err = check(&planned, 0, 1, &limits(1 << 30, 10_000)).unwrap_err();
        let FreezeError::ConstantTooLarge {
            variable, advice, ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(variable, "huge");
        assert!(advice.contains("--weights f16"), "{advice}");
    }
}
