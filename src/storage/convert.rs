//! The arithmetic of each stored form and the error it introduces, on plain
//! slices so that constants (whole) and variables (chunk by chunk) share it.
//!
//! - float16: IEEE round to nearest, ties to even (the `half` crate), as
//!   TensorFlow's `Cast` to `DT_HALF` rounds.
//! - int8: symmetric; per channel `scale = max|x| / 127` in float32,
//!   `q = round_ties_even(x / scale)`, read back as `q * scale`. A channel
//!   whose values are all zero gets scale 0 and q 0, read back as exactly 0
//!   (the graph's save half divides with `DivNoNan`, which gives the same).
//!   The channel of element `i` is `i % channels` (the last axis).
//! - int32: exact when every value fits; otherwise the tensor stays int64.
//!
//! Errors: the worst absolute error is `max |x - x̂|`; the worst relative
//! error is `max |x - x̂| / |x|` over the elements with `x != 0` (a zero
//! stays zero in every form, so it adds no relative error). Computed in f64.

use half::f16;
use half::slice::HalfFloatSliceExt;
use serde::Serialize;

use super::lanes::{self, ChannelCycle};

/// The errors measured per key while copying.
pub type KeyErrors = std::collections::BTreeMap<String, ErrorStats>;

/// The largest finite float16.
pub const F16_MAX: f32 = 65504.0;

/// The worst errors seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ErrorStats {
    /// `max |x - x̂|`.
    pub max_abs_error: f64,
    /// `max |x - x̂| / |x|` over nonzero `x`.
    pub max_rel_error: f64,
}

impl ErrorStats {
    /// Counts one element and what it reads back as.
    pub fn observe(&mut self, x: f64, back: f64) {
        if x == back || (x.is_nan() && back.is_nan()) {
            return;
        }
        let abs = (x - back).abs();
        self.max_abs_error = self.max_abs_error.max(abs);
        if x != 0.0 {
            self.max_rel_error = self.max_rel_error.max(abs / x.abs());
        }
    }

    /// The maxima as the vectorised loops update them.
    fn worst(&mut self) -> lanes::Worst<'_> {
        lanes::Worst {
            abs: &mut self.max_abs_error,
            rel: &mut self.max_rel_error,
        }
    }

    /// The worse of two.
    pub fn merge(&mut self, other: ErrorStats) {
        self.max_abs_error = self.max_abs_error.max(other.max_abs_error);
        self.max_rel_error = self.max_rel_error.max(other.max_rel_error);
    }
}

/// Channels along the quantization axis: the last axis for rank >= 2, one
/// channel (per tensor) for a scalar or a vector.
pub fn channels(shape: &[i64]) -> usize {
    match shape {
        [_, .., last] if shape.len() >= 2 => usize::try_from(*last).unwrap_or(0).max(1),
        _ => 1,
    }
}

/// What a first pass over float values learns: the max-abs per channel and
/// whether every value is finite.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatSurvey {
    cycle: ChannelCycle,
    /// The max-abs of each position of the cycle's period.
    max_abs: Vec<f32>,
    non_finite: u64,
    seen: u64,
}

impl FloatSurvey {
    pub fn new(channels: usize) -> FloatSurvey {
        let cycle = ChannelCycle::new(channels);
        FloatSurvey {
            cycle,
            max_abs: vec![0.0; cycle.period],
            non_finite: 0,
            seen: 0,
        }
    }

    /// Takes in the next values in element order.
    pub fn observe(&mut self, values: &[f32]) {
        for (run, at) in self.cycle.runs(self.seen, values.len()) {
            let acc = &mut self.max_abs[at..at + run.len()];
            lanes::max_abs_into(acc, &values[run]);
        }
        self.non_finite += lanes::count_non_finite(values);
        self.seen += values.len() as u64;
    }

    /// The largest magnitude of any value.
    pub fn max_abs(&self) -> f32 {
        self.max_abs.iter().copied().fold(0.0, f32::max)
    }

    /// How many values are NaN or infinite.
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// One int8 scale per channel.
    pub fn scales(&self) -> Vec<f32> {
        let per_channel = self.cycle.fold_max(&self.max_abs);
        per_channel.iter().map(|&m| m / 127.0).collect()
    }
}

/// The smallest and largest of int64 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct IntRange {
    pub min: i64,
    pub max: i64,
}

impl IntRange {
    /// The range of `values`, widened by `so_far`.
    pub fn observe(so_far: Option<IntRange>, values: &[i64]) -> Option<IntRange> {
        values.iter().fold(so_far, |range, &v| {
            Some(match range {
                None => IntRange { min: v, max: v },
                Some(r) => IntRange {
                    min: r.min.min(v),
                    max: r.max.max(v),
                },
            })
        })
    }

    /// Whether every value fits in an int32.
    pub fn fits_i32(&self) -> bool {
        i32::try_from(self.min).is_ok() && i32::try_from(self.max).is_ok()
    }
}

/// float32 → float16, recording the error.
pub fn to_f16(values: &[f32], stats: &mut ErrorStats) -> Vec<f16> {
    let mut halves = vec![f16::ZERO; values.len()];
    let mut backs = [0f32; lanes::BLOCK];
    for (block, out) in values
        .chunks(lanes::BLOCK)
        .zip(halves.chunks_mut(lanes::BLOCK))
    {
        out.convert_from_f32_slice(block);
        let backs = &mut backs[..block.len()];
        out.convert_to_f32_slice(backs);
        lanes::observe_errors(block, backs, &mut stats.worst());
    }
    halves
}

/// float32 → float16 as little-endian bytes appended to `out`, recording
/// the error: [`to_f16`] for a stream, a block at a time.
pub fn f16_bytes_into(values: &[f32], out: &mut Vec<u8>, stats: &mut ErrorStats) {
    let mut halves = [f16::ZERO; lanes::BLOCK];
    let mut backs = [0f32; lanes::BLOCK];
    for block in values.chunks(lanes::BLOCK) {
        let (halves, backs) = (&mut halves[..block.len()], &mut backs[..block.len()]);
        halves.convert_from_f32_slice(block);
        halves.convert_to_f32_slice(backs);
        lanes::observe_errors(block, backs, &mut stats.worst());
        let start = out.len();
        out.resize(start + 2 * block.len(), 0);
        let (pairs, _) = out[start..].as_chunks_mut::<2>();
        for (pair, h) in pairs.iter_mut().zip(halves.iter()) {
            *pair = h.to_bits().to_le_bytes();
        }
    }
}

/// One element quantized with `scale` (0 for an all-zero channel): the
/// definition the vectorised [`Int8Codes`] keeps to.
pub fn quantize(x: f32, scale: f32) -> i8 {
    if scale == 0.0 {
        return 0;
    }
    (x / scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

/// float32 → int8 with one scale per channel, for a stream of one
/// tensor's values in chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Codes {
    cycle: ChannelCycle,
    /// The scales repeated over the cycle's period.
    pattern: Vec<f32>,
}

impl Int8Codes {
    pub fn new(scales: &[f32]) -> Int8Codes {
        let cycle = ChannelCycle::new(scales.len());
        Int8Codes {
            cycle,
            pattern: cycle.stretch(scales),
        }
    }

    /// The codes of `values`, the first being element `first` of the
    /// tensor, appended to `out` as bytes; the error recorded.
    pub fn bytes_into(
        &self,
        values: &[f32],
        first: u64,
        out: &mut Vec<u8>,
        stats: &mut ErrorStats,
    ) {
        let start = out.len();
        out.resize(start + values.len(), 0);
        let codes = &mut out[start..];
        let mut backs = [0f32; lanes::BLOCK];
        for (run, at) in self.cycle.runs(first, values.len()) {
            let (values, codes) = (&values[run.clone()], &mut codes[run]);
            let scales = &self.pattern[at..at + values.len()];
            lanes::quantize_observe(values, scales, codes, &mut backs, &mut stats.worst());
        }
    }
}

/// float32 → int8 with per-channel `scales`, starting at element `first`
/// (so chunks of one tensor continue where the last ended), recording the
/// error.
pub fn to_int8(values: &[f32], scales: &[f32], first: u64, stats: &mut ErrorStats) -> Vec<i8> {
    let mut bytes = Vec::with_capacity(values.len());
    Int8Codes::new(scales).bytes_into(values, first, &mut bytes, stats);
    bytes.into_iter().map(|b| b as i8).collect()
}

/// int64 → int32; `None` when a value does not fit.
pub fn to_i32(values: &[i64]) -> Option<Vec<i32>> {
    values.iter().map(|&v| i32::try_from(v).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float16_rounds_to_nearest_even_and_measures_the_error() {
        let mut stats = ErrorStats::default();
        // 1 + 2^-11 lies halfway between 1 and the next float16 (1 + 2^-10): ties go to 1.
        let halfway = 1.0 + 2f32.powi(-11);
        let above = 1.0 + 3.0 * 2f32.powi(-11);
        let out = to_f16(&[halfway, above, 0.0, -2.0], &mut stats);
        assert_eq!(out[0].to_f32(), 1.0);
        assert_eq!(out[1].to_f32(), 1.0 + 2.0 * 2f32.powi(-10));
        assert_eq!(out[2].to_f32(), 0.0);
        assert_eq!(out[3].to_f32(), -2.0);
        let worst = f64::from(2f32.powi(-11));
        assert_eq!(stats.max_abs_error, worst);
        assert_eq!(stats.max_rel_error, worst / f64::from(halfway));
    }

    #[test]
    fn int8_scales_per_last_axis_channel_and_keeps_zero_channels_exact() {
        // Shape [2, 3]: channels are the columns.
        let values = [1.0, -0.5, 0.0, -127.0, 0.25, 0.0];
        let mut survey = FloatSurvey::new(channels(&[2, 3]));
        survey.observe(&values[..4]);
        survey.observe(&values[4..]);
        let scales = survey.scales();
        assert_eq!(scales, [1.0, 0.5 / 127.0, 0.0]);
        let mut stats = ErrorStats::default();
        let q = to_int8(&values, &scales, 0, &mut stats);
        assert_eq!(q, [1, -127, 0, -127, 64, 0]);
        // 0.25 / (0.5/127) = 63.5 rounds to even 64: read back as 64 * 0.5/127.
        let back = 64.0 * (0.5f32 / 127.0);
        let error = f64::from(back) - 0.25;
        assert!((stats.max_abs_error - error).abs() < 1e-9, "{stats:?}");
        assert!(
            (stats.max_rel_error - error / 0.25).abs() < 1e-9,
            "{stats:?}"
        );
    }

    #[test]
    fn int8_chunks_continue_the_channel_count() {
        let values = [2.0, 4.0, -2.0, 4.0];
        let scales = [2.0 / 127.0, 4.0 / 127.0];
        let mut stats = ErrorStats::default();
        let whole = to_int8(&values, &scales, 0, &mut stats);
        let mut chunked = to_int8(&values[..1], &scales, 0, &mut stats);
        chunked.extend(to_int8(&values[1..], &scales, 1, &mut stats));
        assert_eq!(whole, chunked);
        assert_eq!(whole, [127, 127, -127, 127]);
    }

    #[test]
    fn a_scalar_or_vector_has_one_channel() {
        assert_eq!(channels(&[]), 1);
        assert_eq!(channels(&[7]), 1);
        assert_eq!(channels(&[7, 5]), 5);
        assert_eq!(channels(&[3, 3, 1, 8]), 8);
    }

    #[test]
    fn relative_error_ignores_zeros_and_non_finite_values_that_survive() {
        let mut stats = ErrorStats::default();
        stats.observe(0.0, 1e-3);
        stats.observe(f64::INFINITY, f64::INFINITY);
        stats.observe(f64::NAN, f64::NAN);
        assert_eq!(stats.max_abs_error, 1e-3);
        assert_eq!(stats.max_rel_error, 0.0);
    }

    #[test]
    fn int64_narrowing_is_exact_or_refused() {
        assert_eq!(
            to_i32(&[-3, 7, i64::from(i32::MAX)]),
            Some(vec![-3, 7, i32::MAX])
        );
        assert_eq!(to_i32(&[1, i64::from(i32::MAX) + 1]), None);
        let range = IntRange::observe(None, &[5, -9]).unwrap();
        assert_eq!(range, IntRange { min: -9, max: 5 });
        assert!(range.fits_i32());
        let wide = IntRange::observe(Some(range), &[1 << 40]).unwrap();
        assert!(!wide.fits_i32());
    }
}
