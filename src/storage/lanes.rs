//! The element loops of the conversions, written so that the compiler turns
//! them into SIMD instructions: fixed-width lanes, no branch or modulo per
//! element, blocks small enough to stay in the L1 cache. Each gives, bit for
//! bit, what the per-element definitions in [`super::convert`] give; the
//! tests below hold them to it.
//!
//! Two facts make the error measures cheap without changing them: `x - x̂`
//! is exact in float32 for every stored form (x̂ is within a factor of two
//! of `x`, or zero), so its maximum can be kept in float32; and rounding is
//! monotone, so the element with the largest float64 relative error is
//! among those with the largest float32 one, which are the only ones
//! divided again in float64.

use std::ops::Range;

/// The width of the lane arrays: four SSE or two AVX registers of float32.
pub const LANES: usize = 16;

/// Elements converted between two error updates (16 KB of float32).
pub const BLOCK: usize = 4096;

/// The least period of a channel cycle: short cycles (a vector has one
/// channel, a `[3, 3, 64, 8]` kernel eight) are repeated to at least this
/// many elements so that every run is long enough to vectorise.
const MIN_PERIOD: usize = 1024;

/// Little-endian float32 bytes as values, in `out` (a trailing partial
/// element is ignored).
pub fn read_le_f32s(bytes: &[u8], out: &mut Vec<f32>) {
    let (words, _) = bytes.as_chunks::<4>();
    out.clear();
    out.extend(words.iter().map(|w| f32::from_le_bytes(*w)));
}

/// The repetition of a tensor's channels (the channel of element `i` is
/// `i % channels`), stretched to a period that is a multiple of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCycle {
    pub channels: usize,
    pub period: usize,
}

impl ChannelCycle {
    pub fn new(channels: usize) -> ChannelCycle {
        let channels = channels.max(1);
        let period = channels * MIN_PERIOD.div_ceil(channels);
        ChannelCycle { channels, period }
    }

    /// `per_channel` repeated over one period.
    pub fn stretch(&self, per_channel: &[f32]) -> Vec<f32> {
        let mut pattern = per_channel.to_vec();
        pattern.resize(self.channels, 0.0);
        pattern.repeat(self.period / self.channels)
    }

    /// `per_period` (one value per position of the period) folded to one
    /// value per channel by `max`.
    pub fn fold_max(&self, per_period: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; self.channels];
        for row in per_period.chunks(self.channels) {
            max_into(&mut out[..row.len()], row);
        }
        out
    }

    /// `len` elements starting at element `first` of the tensor, split into
    /// runs that do not wrap the period: each run's range in the elements
    /// and where it starts in the period.
    pub fn runs(&self, first: u64, len: usize) -> impl Iterator<Item = (Range<usize>, usize)> {
        let period = self.period;
        let mut at = (first % period as u64) as usize;
        let mut done = 0;
        std::iter::from_fn(move || {
            (done < len).then(|| {
                let n = (period - at).min(len - done);
                let run = (done..done + n, at);
                done += n;
                at = 0;
                run
            })
        })
    }
}

/// `acc[i] = max(acc[i], values[i])`, a NaN value leaving `acc[i]` as it is.
fn max_into(acc: &mut [f32], values: &[f32]) {
    for (m, &v) in acc.iter_mut().zip(values) {
        *m = if v > *m { v } else { *m };
    }
}

/// `acc[i] = max(acc[i], |values[i]|)`, NaNs ignored as `f32::max` ignores them.
pub fn max_abs_into(acc: &mut [f32], values: &[f32]) {
    for (m, &v) in acc.iter_mut().zip(values) {
        let a = v.abs();
        *m = if a > *m { a } else { *m };
    }
}

/// How many values are NaN or infinite (all exponent bits set).
pub fn count_non_finite(values: &[f32]) -> u64 {
    const EXPONENT: u32 = 0x7f80_0000;
    let (whole, rest) = values.as_chunks::<LANES>();
    let mut counts = [0u32; LANES];
    let mut total = 0u64;
    // A u32 lane cannot overflow within 2^31 chunks; flushed per 2^20 anyway.
    for group in whole.chunks(1 << 20) {
        for chunk in group {
            for (count, v) in counts.iter_mut().zip(chunk) {
                *count += u32::from(v.to_bits() & EXPONENT == EXPONENT);
            }
        }
        total += counts.iter().map(|&c| u64::from(c)).sum::<u64>();
        counts = [0; LANES];
    }
    total + rest.iter().filter(|v| !v.is_finite()).count() as u64
}

/// The worst errors so far, as `convert::ErrorStats` defines them.
#[derive(Debug)]
pub struct Worst<'a> {
    /// `max |x - x̂|`.
    pub abs: &'a mut f64,
    /// `max |x - x̂| / |x|` over nonzero `x`.
    pub rel: &'a mut f64,
}

/// Takes in the error of every element of `values` read back as `backs`
/// (same length), a block at a time.
pub fn observe_errors(values: &[f32], backs: &[f32], worst: &mut Worst<'_>) {
    for (x, b) in values.chunks(BLOCK).zip(backs.chunks(BLOCK)) {
        observe_block(x, b, worst);
    }
}

/// One block: the float32 maxima by lanes, then the float64 relative error
/// of only the elements that may beat the worst so far.
fn observe_block(values: &[f32], backs: &[f32], worst: &mut Worst<'_>) {
    let (abs, rel) = block_maxima(values, backs);
    *worst.abs = worst.abs.max(f64::from(abs));
    if rel > 0.0 && rel >= *worst.rel as f32 {
        for (&x, &b) in values.iter().zip(backs) {
            if relative(x, b) == rel {
                let exact = (f64::from(x) - f64::from(b)).abs() / f64::from(x).abs();
                *worst.rel = worst.rel.max(exact);
            }
        }
    }
}

/// `|x - x̂| / |x|` in float32: NaN for `x = 0` and for non-finite `x`,
/// which the comparisons then skip.
fn relative(x: f32, back: f32) -> f32 {
    (x - back).abs() / x.abs()
}

/// The largest `|x - x̂|` and `|x - x̂| / |x|` of a block, in float32.
fn block_maxima(values: &[f32], backs: &[f32]) -> (f32, f32) {
    let (xs, x_rest) = values.as_chunks::<LANES>();
    let (bs, b_rest) = backs.as_chunks::<LANES>();
    let (mut abs, mut rel) = ([0f32; LANES], [0f32; LANES]);
    for (x, b) in xs.iter().zip(bs) {
        for k in 0..LANES {
            let a = (x[k] - b[k]).abs();
            let r = a / x[k].abs();
            abs[k] = if a > abs[k] { a } else { abs[k] };
            rel[k] = if r > rel[k] { r } else { rel[k] };
        }
    }
    let (mut worst_abs, mut worst_rel) = (0f32, 0f32);
    for (&x, &b) in x_rest.iter().zip(b_rest) {
        let (a, r) = ((x - b).abs(), relative(x, b));
        worst_abs = if a > worst_abs { a } else { worst_abs };
        worst_rel = if r > worst_rel { r } else { worst_rel };
    }
    let fold = |lanes: [f32; LANES], start: f32| lanes.iter().fold(start, |m, &v| m.max(v));
    (fold(abs, worst_abs), fold(rel, worst_rel))
}

/// Adding and taking away 1.5 * 2^23 rounds a float32 of magnitude below
/// 2^22 to the nearest integer, ties to even: `round_ties_even` without a
/// library call. For an integer `q` within ±127 the sum's low byte is `q`'s
/// two's complement, so the int8 code is read off its bits.
const ROUND: f32 = 12_582_912.0;

/// One element quantized with `scale`: its code as a byte and what it reads
/// back as. Clamping to ±127 before rounding rounds as clamping after would;
/// scale 0 gives code 0 read back as 0, a NaN value code 0 read back as NaN.
#[inline(always)]
fn quantize_one(x: f32, scale: f32) -> (u8, f32) {
    let shifted = (x / scale).clamp(-127.0, 127.0) + ROUND;
    let rounded = shifted - ROUND;
    let q = if scale == 0.0 { 0.0 } else { rounded };
    let code = if !q.is_nan() {
        (q + ROUND).to_bits() as u8
    } else {
        0
    };
    (code, q * scale)
}

/// The float32 error maxima of a quantized block, the relative error of
/// the elements read back as 0 apart: for a finite nonzero `x` it is
/// `|x| / |x|`, exactly 1 in float32 and in float64 alike, so those
/// elements never need the float64 second look (int8 reads a few values of
/// almost every block back as 0). One value per lane, as separate arrays so
/// that each is one vector.
#[derive(Debug, Clone, Copy)]
struct QuantMaxima<const N: usize> {
    abs: [f32; N],
    /// Over the elements read back as nonzero.
    rel: [f32; N],
    /// Over the elements read back as 0: 1 or nothing (0).
    rel_of_zeros: [f32; N],
}

impl<const N: usize> QuantMaxima<N> {
    fn new() -> QuantMaxima<N> {
        QuantMaxima {
            abs: [0.0; N],
            rel: [0.0; N],
            rel_of_zeros: [0.0; N],
        }
    }

    /// Takes in element `x`, read back as `back`, in lane `k`.
    #[inline(always)]
    fn take(&mut self, k: usize, x: f32, back: f32) {
        let a = (x - back).abs();
        let r = a / x.abs();
        let (r, r0) = if back == 0.0 { (0.0, r) } else { (r, 0.0) };
        let lanes = [
            &mut self.abs[k],
            &mut self.rel[k],
            &mut self.rel_of_zeros[k],
        ];
        for (m, v) in lanes.into_iter().zip([a, r, r0]) {
            *m = if v > *m { v } else { *m };
        }
    }

    /// The maxima over the lanes: `(abs, rel, rel_of_zeros)`.
    fn fold(&self) -> [f32; 3] {
        let fold = |lanes: &[f32; N]| lanes.iter().fold(0f32, |m, &v| m.max(v));
        [fold(&self.abs), fold(&self.rel), fold(&self.rel_of_zeros)]
    }
}

/// int8 codes of `values` with `scales` (one per element, same length) as
/// bytes in `codes`, the error of every element taken in: quantizing and
/// measuring in one pass over fixed-width lanes, a block at a time, with
/// `backs` (the caller's, so that a run of a few elements does not clear a
/// whole block) for what each element reads back as.
pub fn quantize_observe(
    values: &[f32],
    scales: &[f32],
    codes: &mut [u8],
    backs: &mut [f32; BLOCK],
    worst: &mut Worst<'_>,
) {
    let blocks = values.chunks(BLOCK).zip(scales.chunks(BLOCK));
    for ((block, scales), codes) in blocks.zip(codes.chunks_mut(BLOCK)) {
        let backs = &mut backs[..block.len()];
        let [abs, rel, rel_of_zeros] = quantize_block(block, scales, codes, backs);
        *worst.abs = worst.abs.max(f64::from(abs));
        if rel_of_zeros > 0.0 {
            *worst.rel = worst.rel.max(f64::from(rel_of_zeros));
        }
        if rel > 0.0 && rel >= *worst.rel as f32 {
            for (&x, &b) in block.iter().zip(backs.iter()) {
                if b != 0.0 && relative(x, b) == rel {
                    let exact = (f64::from(x) - f64::from(b)).abs() / f64::from(x).abs();
                    *worst.rel = worst.rel.max(exact);
                }
            }
        }
    }
}

/// One block quantized into `codes` and `backs`, and its error maxima
/// `(abs, rel, rel_of_zeros)` as [`QuantMaxima`] defines them.
fn quantize_block(values: &[f32], scales: &[f32], codes: &mut [u8], backs: &mut [f32]) -> [f32; 3] {
    let (xs, x_rest) = values.as_chunks::<LANES>();
    let (ss, s_rest) = scales.as_chunks::<LANES>();
    let (cs, c_rest) = codes.as_chunks_mut::<LANES>();
    let (bs, b_rest) = backs.as_chunks_mut::<LANES>();
    let mut lanes = QuantMaxima::<LANES>::new();
    for (((x, s), c), b) in xs.iter().zip(ss).zip(cs).zip(bs) {
        for k in 0..LANES {
            (c[k], b[k]) = quantize_one(x[k], s[k]);
            lanes.take(k, x[k], b[k]);
        }
    }
    let mut rest = QuantMaxima::<1>::new();
    let tail = x_rest.iter().zip(s_rest).zip(c_rest.iter_mut().zip(b_rest));
    for ((&x, &s), (c, b)) in tail {
        (*c, *b) = quantize_one(x, s);
        rest.take(0, x, *b);
    }
    let (whole, rest) = (lanes.fold(), rest.fold());
    [0, 1, 2].map(|i| whole[i].max(rest[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-element definitions (`convert::ErrorStats::observe`,
    /// `convert::quantize`), restated so this module stands alone.
    fn observe(worst: &mut (f64, f64), x: f64, back: f64) {
        if x == back || (x.is_nan() && back.is_nan()) {
            return;
        }
        let abs = (x - back).abs();
        worst.0 = worst.0.max(abs);
        if x != 0.0 {
            worst.1 = worst.1.max(abs / x.abs());
        }
    }

    fn quantize(x: f32, scale: f32) -> i8 {
        if scale == 0.0 {
            return 0;
        }
        (x / scale).round_ties_even().clamp(-127.0, 127.0) as i8
    }

    /// Values that exercise every branch: zeros of both signs, ties,
    /// subnormals, float16's edges, the int8 clamp and NaN.
    fn awkward() -> Vec<f32> {
        let mut values = vec![
            0.0, -0.0, 1.0, -1.0, 65504.0, -65504.0, 6.0e-8, 3.0e-8, 1e-45,
        ];
        values.extend([
            1.0 + 2f32.powi(-11),
            2.5,
            -2.5,
            0.5,
            1e-20,
            3.4e38,
            f32::NAN,
        ]);
        let mut seed = 0x9e37_79b9u32;
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let exponent = (seed % 40) as i32 - 30;
            values.push((seed as f32 / u32::MAX as f32 - 0.5) * 2f32.powi(exponent));
        }
        values
    }

    #[test]
    fn error_maxima_match_the_per_element_definition() {
        let values = awkward();
        let backs: Vec<f32> = values
            .iter()
            .map(|&x| half::f16::from_f32(x).to_f32())
            .collect();
        let mut expected = (0.0, 0.0);
        for (&x, &b) in values.iter().zip(&backs) {
            observe(&mut expected, f64::from(x), f64::from(b));
        }
        let (mut abs, mut rel) = (0.0, 0.0);
        observe_errors(
            &values,
            &backs,
            &mut Worst {
                abs: &mut abs,
                rel: &mut rel,
            },
        );
        assert_eq!((abs, rel), expected);
        assert!(abs > 0.0 && rel > 0.0);
    }

    /// `quantize_observe` of `values` with `scales` against the definitions:
    /// every code, and the error maxima of the values read back.
    fn check_quantizing(values: &[f32], scales: &[f32]) -> (f64, f64) {
        let mut codes = vec![0u8; values.len()];
        let (mut abs, mut rel) = (0.0, 0.0);
        let mut worst = Worst {
            abs: &mut abs,
            rel: &mut rel,
        };
        quantize_observe(values, scales, &mut codes, &mut [0.0; BLOCK], &mut worst);
        let mut expected = (0.0, 0.0);
        for (i, (&x, &scale)) in values.iter().zip(scales).enumerate() {
            let q = quantize(x, scale);
            assert_eq!(codes[i] as i8, q, "element {i}: {x} / {scale}");
            let back = f32::from(q) * scale;
            if !x.is_nan() {
                observe(&mut expected, f64::from(x), f64::from(back));
            }
        }
        assert_eq!((abs, rel), expected);
        expected
    }

    #[test]
    fn quantizing_matches_the_per_element_definition() {
        let values = awkward();
        let scales: Vec<f32> = (0..values.len())
            .map(|i| [0.01, 0.0, 1e-3, 2.0][i % 4])
            .collect();
        let (abs, rel) = check_quantizing(&values, &scales);
        assert!(abs > 0.0 && rel == 1.0);
        // Within every scale's range nothing is clamped, so a relative
        // error of 1 comes only from the values read back as 0.
        let within: Vec<f32> = values
            .iter()
            .map(|&x| if x.abs() < 0.1 { x } else { 0.05 })
            .collect();
        assert_eq!(check_quantizing(&within, &scales).1, 1.0);
        // A length that ends inside a block and inside a lane array.
        let n = BLOCK + 2 * LANES + 5;
        check_quantizing(&values[..n], &scales[..n]);
    }

    #[test]
    fn quantizing_finds_the_worst_relative_error_when_nothing_reads_back_as_zero() {
        // Magnitudes from 1 to 127 scales: every code nonzero, so the worst
        // relative error is the float64 second look's alone.
        let values: Vec<f32> = awkward()
            .iter()
            .filter(|x| x.is_finite() && **x != 0.0)
            .map(|&x| (1.0 + (x.abs().log2().abs() * 7.3) % 126.0).copysign(x) * 0.37)
            .collect();
        let scales = vec![0.37f32; values.len()];
        let (_, rel) = check_quantizing(&values, &scales);
        assert!(rel > 0.0 && rel < 1.0, "{rel}");
    }

    #[test]
    fn non_finite_values_are_counted_in_lanes_and_the_rest() {
        let mut values = vec![1.0f32; 40];
        values[3] = f32::NAN;
        values[20] = f32::INFINITY;
        values[39] = f32::NEG_INFINITY;
        assert_eq!(count_non_finite(&values), 3);
    }

    #[test]
    fn runs_follow_the_channel_cycle_across_calls() {
        let cycle = ChannelCycle::new(3);
        assert_eq!(cycle.period, 1026);
        let runs: Vec<_> = cycle.runs(1020, 2000).collect();
        assert_eq!(runs, [(0..6, 1020), (6..1032, 0), (1032..2000, 0)]);
        let big = ChannelCycle::new(5000);
        assert_eq!(big.period, 5000);
        assert_eq!(big.fold_max(&big.stretch(&[2.0, 7.0])).len(), 5000);
    }
}
