//! SQ8: 8 bits per rotated component, with per-vector bounds (LVQ-style).
//!
//! # Code layout (`D + 20` bytes, `D` the padded dimension count)
//!
//! | Bytes | Field | Meaning |
//! |-------|-------|---------|
//! | `0 .. D` | `cᵢ` (`u8`) | `round((x'ᵢ - lo) / step)` |
//! | `D .. D+4` | `lo` (`f32` LE) | `min x'ᵢ` |
//! | `D+4 .. D+8` | `step` (`f32` LE) | `(max x'ᵢ - lo) / 255` (0 when all equal) |
//! | `D+8 .. D+12` | `Σ cᵢ` (`u32` LE) | |
//! | `D+12 .. D+16` | `‖x'‖` (`f32` LE) | norm of the rotated centred vector |
//! | `D+16 .. D+20` | `<x - mean, mean>` (`f32` LE) | for dot and cosine (see the parent) |
//!
//! `x'` is the rotated, centred vector the quantizer hands over (see the module parent).
//! The query `q'` is quantized the same way into `uᵢ`, `qlo`, `qstep` (on 255 levels, or
//! 65 535 for a query of two digits, see [`QueryDigits`]), and with `x̂ᵢ = lo + step·cᵢ`,
//! `q̂ᵢ = qlo + qstep·uᵢ` the estimate is exactly `<x̂, q̂>`:
//!
//! `<x̂, q̂> = D·lo·qlo + lo·qstep·Σuᵢ + qlo·step·Σcᵢ + step·qstep·Σ cᵢuᵢ`
//!
//! one integer kernel ([`dot_u8`](super::kernels::dot_u8)) per query digit
//! (`Σ cᵢuᵢ = 2⁸·Σ cᵢ·highᵢ + Σ cᵢ·lowᵢ` with two) and four multiply-adds per code: no
//! component is decoded to a float.
//!
//! # Error bound (always valid)
//!
//! `<x', q'> - <x̂, q̂> = <x', q' - q̂> + <x' - x̂, q̂>`, and rounding to the nearest level
//! leaves `|x'ᵢ - x̂ᵢ| <= step/2`, `|q'ᵢ - q̂ᵢ| <= qstep/2`, so by Cauchy–Schwarz
//!
//! `|<x', q'> - <x̂, q̂>| <= √D/2 · (‖x'‖·qstep + step·‖q̂‖)`
//!
//! It is loose (the errors are far from aligned) but holds for every input.

use pulp::Simd;

use super::kernels::dot_u8;
use super::{Codec, InnerProduct, QueryDigits, le_f32, le_u32};

/// The highest level of a component.
const LEVELS: f32 = 255.0;

/// Bytes of the factors after the components.
const FACTORS: usize = 20;

/// The SQ8 scheme.
pub(crate) struct Sq8;

/// A query prepared for SQ8: its own levels, as one or two 8-bit digits, and bounds.
#[derive(Clone, Debug)]
pub(crate) struct Sq8Query {
    /// The levels' base-256 digits, most significant first: `digits[d][i]` is digit `d` of
    /// component `i` (see [`QueryDigits`]).
    digits: Vec<Vec<u8>>,
    lo: f64,
    step: f64,
    sum: f64,
    /// `√D/2 · qstep` and `√D/2 · ‖q̂‖`: the two halves of the error bound.
    error_per_norm: f64,
    error_per_step: f64,
}

/// `(lo, step, levels)` of `x` on the levels `0..=top` above `lo` (`top` at most 65 535),
/// rounding to nearest.
pub(crate) fn quantize(x: &[f32], top: f32) -> (f32, f32, impl Iterator<Item = u16> + '_) {
    let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let step = (hi - lo) / top;
    let (lo, step) = if step > 0.0 && step.is_finite() {
        (lo, step)
    } else {
        (if lo.is_finite() { lo } else { 0.0 }, 0.0)
    };
    let levels = x.iter().map(move |&v| {
        if step > 0.0 {
            nearest_level((v - lo) / step, top)
        } else {
            0
        }
    });
    (lo, step, levels)
}

/// `x.round().clamp(0.0, top) as u16` (`top` at most 65 535), without the `round` call
/// that the baseline instruction set makes a library call (every query's preparation
/// quantizes it): truncating `x + 0.5` rounds halves away from zero for `x >= 0`, and
/// overshoots only when that addition rounds up (x just below a half), which the exact
/// comparison with `up - 0.5` undoes.
#[inline(always)]
fn nearest_level(x: f32, top: f32) -> u16 {
    let x = x.clamp(0.0, top);
    let up = (x + 0.5) as u16;
    if x < f32::from(up) - 0.5 { up - 1 } else { up }
}

/// The 8-bit level of a code component (`quantize` on [`LEVELS`] gives at most 255).
fn byte(level: u16) -> u8 {
    u8::try_from(level).unwrap_or(u8::MAX)
}

impl Codec for Sq8 {
    type Query = Sq8Query;

    fn code_len(padded: usize) -> usize {
        padded + FACTORS
    }

    fn encode(x: &[f32], cross: f32, out: &mut Vec<u8>) {
        let (lo, step, levels) = quantize(x, LEVELS);
        let start = out.len();
        out.extend(levels.map(byte));
        let sum: u32 = out[start..].iter().map(|&c| u32::from(c)).sum();
        let norm = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        out.extend_from_slice(&lo.to_le_bytes());
        out.extend_from_slice(&step.to_le_bytes());
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&(norm.sqrt() as f32).to_le_bytes());
        out.extend_from_slice(&cross.to_le_bytes());
    }

    const DIGITS_WITH_CENTRES: QueryDigits = QueryDigits::Two;

    fn prepare(q: &[f32], digits: QueryDigits) -> Sq8Query {
        let (lo, step, levels) = quantize(q, digits.top(8));
        let levels: Vec<u16> = levels.collect();
        let (lo, step) = (f64::from(lo), f64::from(step));
        let sum: f64 = levels.iter().map(|&u| f64::from(u)).sum();
        let norm_hat = levels
            .iter()
            .map(|&u| {
                let v = lo + step * f64::from(u);
                v * v
            })
            .sum::<f64>()
            .sqrt();
        let half_root = (q.len() as f64).sqrt() / 2.0;
        let digits = digits
            .shifts(8)
            .map(|shift| levels.iter().map(|&u| (u >> shift) as u8).collect())
            .collect();
        Sq8Query {
            digits,
            lo,
            step,
            sum,
            error_per_norm: half_root * step,
            error_per_step: half_root * norm_hat,
        }
    }

    const DECODES: bool = true;

    fn decode(code: &[u8], out: &mut [f32]) -> bool {
        let (codes, factors) = code.split_at(out.len().min(code.len()));
        let lo = le_f32(factors, 0);
        let step = le_f32(factors, 4);
        for (x, &c) in out.iter_mut().zip(codes) {
            *x = lo + step * f32::from(c);
        }
        true
    }

    #[inline(always)]
    fn inner_product<S: Simd>(simd: S, query: &Sq8Query, code: &[u8]) -> InnerProduct {
        let d = query.digits.first().map_or(0, Vec::len);
        let (codes, factors) = code.split_at(d.min(code.len()));
        // Σ cᵢuᵢ, digit by digit (each pass exact in u32, see `dot_u8`).
        let mut dot = 0u64;
        for digit in &query.digits {
            dot = (dot << 8) + u64::from(dot_u8(simd, codes, digit));
        }
        let dot = dot as f64;
        let lo = f64::from(le_f32(factors, 0));
        let step = f64::from(le_f32(factors, 4));
        let sum = f64::from(le_u32(factors, 8));
        let norm = f64::from(le_f32(factors, 12));
        let cross = f64::from(le_f32(factors, 16));
        let value = d as f64 * lo * query.lo
            + lo * query.step * query.sum
            + query.lo * step * sum
            + step * query.step * dot;
        let error = norm * query.error_per_norm + step * query.error_per_step;
        InnerProduct {
            value,
            error,
            norm,
            cross,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_exact_levels() {
        let x: Vec<f32> = (0..64)
            .map(|i| -1.0 + (i * 4) as f32 / 255.0 * 2.0)
            .collect();
        let mut code = Vec::new();
        Sq8::encode(&x, 0.0, &mut code);
        assert_eq!(code.len(), Sq8::code_len(64));
        assert_eq!(code[0], 0);
        assert_eq!(code[63], 255);
        assert_eq!(code[32], 130);
        assert_eq!(le_f32(&code[64..], 0), -1.0);
        let q = Sq8::prepare(&x, QueryDigits::One);
        let ip = Sq8::inner_product(pulp::Scalar::new(), &q, &code);
        let exact: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        assert!((ip.value - exact).abs() <= ip.error, "{ip:?} vs {exact}");
        assert!((ip.value - exact).abs() < 2e-3 * exact, "{ip:?} vs {exact}");
        assert!((ip.norm - exact.sqrt()).abs() < 1e-5);
    }

    /// A query of two digits is the query on 65 535 levels, its products computed exactly,
    /// and its estimate of `<x̂, q'>` (the code against the exact query) 257 times tighter.
    #[test]
    fn two_digits_are_the_sixteen_bit_levels_exactly() {
        let mut rng = crate::codes::rotation::SplitMix64::new(5);
        let mut random = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale)
                .collect()
        };
        for dims in [64, 384, 1024] {
            let x = random(dims, 1.0);
            // A query far from the codes' centre: large components.
            let q: Vec<f32> = random(dims, 40.0).iter().map(|v| v + 30.0).collect();
            let mut code = Vec::new();
            Sq8::encode(&x, 0.0, &mut code);
            let mut decoded = vec![0.0; dims];
            assert!(Sq8::decode(&code, &mut decoded));
            let target: f64 = decoded
                .iter()
                .zip(&q)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let two = Sq8::prepare(&q, QueryDigits::Two);
            let (_, step, levels) = quantize(&q, 65535.0);
            let levels: Vec<u16> = levels.collect();
            let dot: u64 = code[..dims]
                .iter()
                .zip(&levels)
                .map(|(&c, &u)| u64::from(c) * u64::from(u))
                .sum();
            let mut product = 0u64;
            for digit in &two.digits {
                product =
                    (product << 8) + u64::from(dot_u8(pulp::Scalar::new(), &code[..dims], digit));
            }
            assert_eq!(product, dot, "{dims}");
            assert_eq!(two.step, f64::from(step));
            let one = Sq8::prepare(&q, QueryDigits::One);
            let (ip1, ip2) = (
                Sq8::inner_product(pulp::Scalar::new(), &one, &code),
                Sq8::inner_product(pulp::Scalar::new(), &two, &code),
            );
            // The query's half of the bound, against the code's own vector.
            let bound = |query: &Sq8Query| ip1.norm * query.error_per_norm * 1.0001 + 1e-9;
            assert!((ip2.value - target).abs() <= bound(&two), "{dims}");
            assert!((ip1.value - target).abs() <= bound(&one), "{dims}");
            assert!(bound(&two) * 200.0 < bound(&one), "{dims}");
        }
    }

    #[test]
    fn decode_is_within_half_a_step() {
        let x: Vec<f32> = (0..128)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let mut code = Vec::new();
        Sq8::encode(&x, 0.0, &mut code);
        let mut back = vec![0.0; 128];
        assert!(Sq8::decode(&code, &mut back));
        let step = le_f32(&code[128..], 4);
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() <= step * 0.5001, "{a} vs {b} (step {step})");
        }
    }

    #[test]
    fn constant_vector_has_zero_step() {
        let x = [0.5f32; 64];
        let mut code = Vec::new();
        Sq8::encode(&x, 0.0, &mut code);
        assert!(code[..64].iter().all(|&c| c == 0));
        assert_eq!(le_f32(&code[64..], 4), 0.0);
        let q = Sq8::prepare(&[2.0; 64], QueryDigits::One);
        let ip = Sq8::inner_product(pulp::Scalar::new(), &q, &code);
        assert_eq!(ip.value, 64.0);
    }
}

#[cfg(test)]
mod level_tests {
    use super::{LEVELS, nearest_level};

    #[test]
    fn a_level_is_the_rounded_clamped_value() {
        let mut cases = vec![
            0.499_999_97f32,
            0.5,
            1.5,
            2.499_999_8,
            2.5,
            -0.3,
            254.5,
            255.0,
            300.0,
            0.0,
        ];
        let mut state = 7u32;
        cases.extend((0..200_000).map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 * 270.0 - 5.0
        }));
        for x in cases {
            assert_eq!(
                nearest_level(x, LEVELS),
                x.round().clamp(0.0, LEVELS) as u16,
                "{x}"
            );
            let wide = x * 257.0;
            assert_eq!(
                nearest_level(wide, 65535.0),
                wide.round().clamp(0.0, 65535.0) as u16,
                "{wide}"
            );
        }
    }
}
