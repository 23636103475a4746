//! RaBitQ with one bit per rotated component (Gao & Long, SIGMOD 2024).
//!
//! # Code layout (`D/8 + 16` bytes, `D` the padded dimension count, a multiple of 64)
//!
//! | Bytes | Field | Meaning |
//! |-------|-------|---------|
//! | `0 .. D/8` | `b` | bit `i` (word `i/64`, bit `i%64`, words `u64` LE) is `oᵢ >= 0` |
//! | `+0 .. +4` | `‖x'‖` (`f32` LE) | norm of the rotated centred vector; `o = x'/‖x'‖` |
//! | `+4 .. +8` | `<ō, o>` (`f32` LE) | `Σ|oᵢ| / √D`, in `(0, 1]` (1 for `x' = 0`) |
//! | `+8 .. +12` | `√(1 - <ō,o>²) / <ō,o>` (`f32` LE) | the paper's error factor, precomputed |
//! | `+12 .. +16` | `<x - mean, mean>` (`f32` LE) | for dot and cosine (see the parent) |
//!
//! `ō = (2b - 1)/√D` is the nearest vertex of the hypercube `{±1/√D}ᴰ` to `o`, the
//! quantized unit vector of the paper. For 384 dimensions a code is 64 bytes, one cache line.
//!
//! # Query and estimator
//!
//! The query `q'` (centred and rotated like the data) is quantized to 4-bit unsigned
//! levels `q̄ᵢ = qlo + qstep·uᵢ`, `uᵢ ∈ 0..=15`, stored as [`PLANES`] bit planes, so that
//! `<b, u> = Σⱼ 2ʲ·popcount(b & planeⱼ)` ([`bitplane_dot`]) and (a query of two digits,
//! see [`QueryDigits`], has 8-bit levels `uᵢ = 16·highᵢ + lowᵢ`, and the kernel runs once
//! per digit)
//!
//! `<ō, q̄> = (2·(qlo·|b| + qstep·<b, u>) - (D·qlo + qstep·Σuᵢ)) / √D`
//!
//! with `|b|` the number of set bits (counted at query time: `D/64` more `popcnt`s).
//!
//! The paper's unbiased estimator of `<o, q'>` is `<ō, q'> / <ō, o>`, so
//! `<x', q'> ≈ ‖x'‖ · <ō, q̄> / <ō, o>`.
//!
//! # Error bound
//!
//! The paper's Theorem 3.2: with probability close to one (its `ε₀` sets how close)
//!
//! `|<ō, q'>/<ō, o> - <o, q'>| <= ε₀ · √((1 - <ō,o>²) / <ō,o>²) · ‖q'‖ / √(D - 1)`
//!
//! with [`EPSILON_0`] `= 1.9`, the value the paper uses. The estimator error is close to a
//! centred normal whose standard deviation is at most `√((1 - <ō,o>²)/<ō,o>²)·‖q'‖/√(D-1)`
//! (at most, because it also carries a factor `√(1 - <o, q̂'>²)`), so the bound holds with
//! probability at least about 94 % (`P(|N(0,1)| <= 1.9) = 0.943`); the tests check this rate.
//!
//! Quantizing the query adds `<ō, q̄ - q'> / <ō, o>`. Rounding errors `fᵢ = q̄ᵢ - q'ᵢ` lie in
//! `[-qstep/2, qstep/2]`; taken as independent (the rotation scrambles the query), the sum
//! `<ō, f> = Σ ±fᵢ/√D` obeys Hoeffding's inequality `P(|<ō, f>| >= t) <= 2·exp(-2t²/qstep²)`,
//! so [`QUERY_BOUND`]`·qstep` (= `2·qstep`) bounds it with probability `1 - 2e⁻⁸ > 0.9993`.
//! The worst case, `√D·qstep/2`, would be ten times as wide for 384 dimensions.
//! Both terms are multiplied by `‖x'‖` and added: the bound on `<x', q'>`.

use pulp::Simd;

use super::kernels::{self, PLANES, bitplane_dot};
use super::{Codec, InnerProduct, QueryDigits, le_f32};

/// The paper's confidence constant of the estimator bound.
pub const EPSILON_0: f64 = 1.9;

/// The query-quantization term of the bound, in units of `qstep`.
pub const QUERY_BOUND: f64 = 2.0;

/// Bytes of the factors after the bits.
const FACTORS: usize = 16;

/// The one-bit RaBitQ scheme.
pub(crate) struct RaBitQ1;

/// A query prepared for RaBitQ: its levels as one or two 4-bit digits (see
/// [`QueryDigits`]), each digit as interleaved bit planes.
#[derive(Clone, Debug)]
pub(crate) struct RaBitQQuery {
    /// Most significant digit first; `digits[d][PLANES·w + j]`: bit `k` is bit `j` of
    /// digit `d` of `u_{64w+k}`.
    pub(super) digits: Vec<Vec<u64>>,
    pub(super) dims: f64,
    pub(super) root: f64,
    pub(super) lo: f64,
    pub(super) step: f64,
    pub(super) sum: f64,
    /// `ε₀ · ‖q'‖ / √(D - 1)`.
    pub(super) bound_per_factor: f64,
    /// `QUERY_BOUND · qstep`.
    pub(super) bound_query: f64,
}

impl RaBitQQuery {
    /// Bytes of a bit string of the query's length (one code plane).
    pub(super) fn bits_len(&self) -> usize {
        self.digits
            .first()
            .map_or(0, |planes| planes.len() / PLANES * 8)
    }

    /// `<b, u>` of the bit string `bits` and the query's levels: [`bitplane_dot`] once per
    /// digit, each pass exact in `u32`.
    #[inline(always)]
    pub(super) fn dot<S: Simd>(&self, simd: S, bits: &[u8]) -> u64 {
        let mut sum = 0u64;
        for planes in &self.digits {
            sum = (sum << PLANES) + u64::from(bitplane_dot(simd, bits, planes));
        }
        sum
    }
}

impl Codec for RaBitQ1 {
    type Query = RaBitQQuery;

    fn code_len(padded: usize) -> usize {
        padded / 8 + FACTORS
    }

    fn encode(x: &[f32], cross: f32, out: &mut Vec<u8>) {
        for word in x.chunks(64) {
            let bits = word
                .iter()
                .enumerate()
                .fold(0u64, |w, (k, &v)| w | (u64::from(v >= 0.0) << k));
            out.extend_from_slice(&bits.to_le_bytes());
        }
        let norm = x
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        let l1: f64 = x.iter().map(|&v| f64::from(v).abs()).sum();
        let root = (x.len() as f64).sqrt();
        let ip = if norm > 0.0 {
            (l1 / (norm * root)).min(1.0)
        } else {
            1.0
        };
        let factor = (1.0 - ip * ip).max(0.0).sqrt() / ip;
        out.extend_from_slice(&(norm as f32).to_le_bytes());
        out.extend_from_slice(&(ip as f32).to_le_bytes());
        out.extend_from_slice(&(factor as f32).to_le_bytes());
        out.extend_from_slice(&cross.to_le_bytes());
    }

    const DIGITS_WITH_CENTRES: QueryDigits = QueryDigits::One;

    fn prepare(q: &[f32], digits: QueryDigits) -> RaBitQQuery {
        let (lo, step, levels) = super::sq8::quantize(q, digits.top(PLANES as u32));
        let levels: Vec<u16> = levels.collect();
        let digits = digits
            .shifts(PLANES)
            .map(|shift| {
                let mut planes = vec![0u64; PLANES * q.len().div_ceil(64)];
                for (i, &u) in levels.iter().enumerate() {
                    for j in 0..PLANES {
                        planes[PLANES * (i / 64) + j] |=
                            u64::from(u >> (shift + j) & 1) << (i % 64);
                    }
                }
                planes
            })
            .collect();
        let dims = q.len() as f64;
        let norm = q
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        RaBitQQuery {
            digits,
            dims,
            root: dims.sqrt(),
            lo: f64::from(lo),
            step: f64::from(step),
            sum: levels.iter().map(|&u| f64::from(u)).sum(),
            bound_per_factor: EPSILON_0 * norm / (dims - 1.0).max(1.0).sqrt(),
            bound_query: QUERY_BOUND * f64::from(step),
        }
    }

    #[inline(always)]
    fn inner_product<S: Simd>(simd: S, query: &RaBitQQuery, code: &[u8]) -> InnerProduct {
        let (bits, factors) = code.split_at(query.bits_len().min(code.len()));
        let bu = query.dot(simd, bits) as f64;
        let ones = f64::from(kernels::ones(bits));
        let norm = f64::from(le_f32(factors, 0));
        let ip_oo = f64::from(le_f32(factors, 4));
        let factor = f64::from(le_f32(factors, 8));
        let cross = f64::from(le_f32(factors, 12));
        let b_q = query.lo * ones + query.step * bu;
        let sum_q = query.dims * query.lo + query.step * query.sum;
        let ip_obar_q = (2.0 * b_q - sum_q) / query.root;
        let scale = norm / ip_oo;
        InnerProduct {
            value: scale * ip_obar_q,
            error: norm * factor * query.bound_per_factor + scale * query.bound_query,
            norm,
            cross,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_a_known_vector() {
        let mut x = vec![1.0f32; 64];
        x[3] = -1.0;
        let mut code = Vec::new();
        RaBitQ1::encode(&x, 0.0, &mut code);
        assert_eq!(code.len(), RaBitQ1::code_len(64));
        assert_eq!(u64::from_le_bytes(code[..8].try_into().unwrap()), !(1 << 3));
        assert_eq!(le_f32(&code[8..], 0), 8.0);
        // All |oᵢ| equal: o is a hypercube vertex, <ō, o> = 1, factor 0.
        assert_eq!(le_f32(&code[8..], 4), 1.0);
        assert_eq!(le_f32(&code[8..], 8), 0.0);
        assert_eq!(kernels::ones(&code[..8]), 63);
        // Then the estimate is exact up to the query's quantization.
        let q = RaBitQ1::prepare(&x, QueryDigits::One);
        let ip = RaBitQ1::inner_product(pulp::Scalar::new(), &q, &code);
        assert!((ip.value - 64.0).abs() < 1e-4, "{}", ip.value);
    }

    #[test]
    fn two_digits_are_the_eight_bit_levels_exactly() {
        let mut rng = crate::codes::rotation::SplitMix64::new(11);
        let mut random = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                .collect()
        };
        for dims in [64, 128, 384] {
            let (x, q) = (random(dims), random(dims));
            let mut code = Vec::new();
            RaBitQ1::encode(&x, 0.0, &mut code);
            let bits = &code[..dims / 8];
            let two = RaBitQ1::prepare(&q, QueryDigits::Two);
            let (_, step, levels) = crate::codes::sq8::quantize(&q, 255.0);
            let expected: u64 = levels
                .enumerate()
                .filter(|(i, _)| bits[i / 8] >> (i % 8) & 1 == 1)
                .map(|(_, u)| u64::from(u))
                .sum();
            assert_eq!(two.dot(pulp::Scalar::new(), bits), expected, "{dims}");
            let one = RaBitQ1::prepare(&q, QueryDigits::One);
            assert_eq!(f64::from(step), two.step);
            assert!(two.bound_query * 16.0 < one.bound_query, "{dims}");
        }
    }

    #[test]
    fn zero_vector_estimates_zero() {
        let mut code = Vec::new();
        RaBitQ1::encode(&[0.0; 64], 0.0, &mut code);
        let q = RaBitQ1::prepare(&[0.25; 64], QueryDigits::One);
        let ip = RaBitQ1::inner_product(pulp::Scalar::new(), &q, &code);
        assert_eq!((ip.value, ip.error, ip.norm), (0.0, 0.0, 0.0));
    }
}
