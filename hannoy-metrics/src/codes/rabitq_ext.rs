//! Extended RaBitQ: `B` bits per rotated component (Gao, Gou, Xu, Yang, Long & Wong,
//! SIGMOD 2025, "Practical and asymptotically optimal quantization of high-dimensional
//! vectors"), compared with the same 4-bit query as [`RaBitQ1`](super::rabitq::RaBitQ1).
//!
//! # Code
//!
//! The unit vector `o = x'/‖x'‖` is mapped to the grid of `2ᴮ` levels
//! `yᵢ = uᵢ - c`, `uᵢ ∈ 0..2ᴮ`, `c = (2ᴮ - 1)/2`, by `uᵢ = clamp(round(t·oᵢ + c))`, with
//! the scale `t` that maximizes `<ō, o>` for `ō = y/‖y‖` (the paper's criterion). The
//! paper finds the exact maximum by sweeping the critical points of `t`; this file tries
//! [`CANDIDATES`] scales evenly spaced up to 1.5 times the scale at which the largest
//! component reaches the outer level (the smallest ones give the 1-bit sign code, so the
//! result is never worse than one bit). The estimator and its bound are RaBitQ's, with
//! this `<ō, o>`: `<x', q'> ≈ ‖x'‖ · <ō, q̄> / <ō, o>`.
//!
//! # Layout (`B·D/8 + 20` bytes; 212 for 384 dimensions and 4 bits)
//!
//! | Bytes | Field |
//! |-------|-------|
//! | `B · D/8` | bit planes: plane `k` holds bit `k` of every `uᵢ` (words `u64` LE) |
//! | 4 | `‖x'‖` (`f32` LE) |
//! | 4 | `<ō, o>` (`f32` LE) |
//! | 4 | `√(1 - <ō,o>²) / <ō,o>` (`f32` LE) |
//! | 4 | `<x - mean, mean>` (`f32` LE) |
//! | 4 | `‖y‖` (`f32` LE) |
//!
//! With the query's bit planes `v`, `<u, v> = Σₖ 2ᵏ · Σⱼ 2ʲ · popcount(uₖ & vⱼ)`: the
//! [`bitplane_dot`](super::kernels::bitplane_dot) kernel once per code plane (and query
//! digit), and
//! `<y, q̄> = qlo·Σuᵢ + qstep·<u, v> - c·(D·qlo + qstep·Σvᵢ)`.

use pulp::Simd;

use super::kernels;
use super::rabitq::{RaBitQ1, RaBitQQuery};
use super::scale_sweep::{self, Grid};
use super::{Codec, InnerProduct, QueryDigits, le_f32};

/// Scales tried per vector when fitting the grid.
pub(crate) const CANDIDATES: usize = 72;

/// Bytes of the factors after the planes.
const FACTORS: usize = 20;

/// Extended RaBitQ with `BITS` bits per component (2 to 8).
pub(crate) struct RaBitQExt<const BITS: usize>;

impl<const BITS: usize> RaBitQExt<BITS> {
    /// The centre of the levels, `(2ᴮ - 1)/2`.
    const CENTRE: f64 = ((1usize << BITS) - 1) as f64 / 2.0;

    /// The highest level, `2ᴮ - 1`.
    const TOP: f64 = ((1usize << BITS) - 1) as f64;

    /// Levels `uᵢ` of `o` at scale `t`: `round(t·oᵢ + centre)` clamped to the levels.
    fn levels(o: &[f64], t: f64, out: &mut [u8]) {
        for (u, &v) in out.iter_mut().zip(o) {
            // Levels are integers of 0..=TOP <= 255.
            *u = scale_sweep::level(t * v + Self::CENTRE, Self::TOP) as u8;
        }
    }

    /// Replaces `best` (the levels at scale 0) and `score` (theirs, `(<y, o>, ‖y‖)` in
    /// order) by those of the candidate scale whose levels fit `o` best (the largest
    /// `<y, o>/‖y‖`, the first of equals), if one beats them. Every candidate is scored by
    /// [`scale_sweep::ratios`] (exact levels, sums in lane order); the candidates within
    /// rounding of the best are scored again in order, and those scores decide and are
    /// what the code stores, so the result is the same on every instruction set.
    fn best_scale(
        o: &[f64],
        scales: &[f64; CANDIDATES],
        best: &mut Vec<u8>,
        score: &mut (f64, f64),
    ) {
        let grid = Grid {
            centre: Self::CENTRE,
            top: Self::TOP,
        };
        let ratios = scale_sweep::ratios(o, scales, grid);
        // The candidates within rounding of the best are scored again in order and
        // compared as the first encoder did (in order, a strict gain to replace), so that
        // ties (equal components give many) resolve as they did.
        let top = ratios.iter().fold(score.0 / score.1, |m, &r| m.max(r));
        let near = |r: f64| r >= top - 1e-9 * top.abs();
        let mut levels = vec![0u8; o.len()];
        for (&t, _) in scales.iter().zip(ratios).filter(|&(_, r)| near(r)) {
            Self::levels(o, t, &mut levels);
            let (dot, norm) = Self::score(o, &levels);
            // Compare dot/‖y‖ without dividing: both norms are positive.
            if dot * score.1 > score.0 * norm {
                *score = (dot, norm);
                std::mem::swap(best, &mut levels);
            }
        }
    }

    /// Appends the bit planes of the levels `u`: plane `k` holds bit `k` of every level,
    /// in `u64` LE words.
    fn planes(u: &[u8], out: &mut Vec<u8>) {
        for k in 0..BITS {
            for word in u.chunks(64) {
                let bits = word
                    .iter()
                    .enumerate()
                    .fold(0u64, |w, (i, &u)| w | (u64::from(u >> k & 1) << i));
                out.extend_from_slice(&bits.to_le_bytes());
            }
        }
    }

    /// `(<y, o>, ‖y‖)` of the levels `u`.
    fn score(o: &[f64], u: &[u8]) -> (f64, f64) {
        let (mut dot, mut norm_sq) = (0.0, 0.0);
        for (&v, &u) in o.iter().zip(u) {
            let y = f64::from(u) - Self::CENTRE;
            dot += y * v;
            norm_sq += y * y;
        }
        (dot, norm_sq.sqrt())
    }
}

impl<const BITS: usize> Codec for RaBitQExt<BITS> {
    type Query = RaBitQQuery;

    fn code_len(padded: usize) -> usize {
        BITS * padded / 8 + FACTORS
    }

    fn encode(x: &[f32], cross: f32, out: &mut Vec<u8>) {
        let norm = x
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        let o: Vec<f64> = if norm > 0.0 {
            x.iter().map(|&v| f64::from(v) / norm).collect()
        } else {
            vec![0.0; x.len()]
        };
        let max = o.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut best = vec![0u8; x.len()];
        Self::levels(&o, 0.0, &mut best);
        let mut score = Self::score(&o, &best);
        if max > 0.0 {
            let edge = (Self::CENTRE + 0.5) / max;
            let scales: [f64; CANDIDATES] =
                std::array::from_fn(|s| 1.5 * edge * (s + 1) as f64 / CANDIDATES as f64);
            Self::best_scale(&o, &scales, &mut best, &mut score);
        }
        let (best_dot, best_norm) = score;
        Self::planes(&best, out);
        let ip = if norm > 0.0 {
            (best_dot / best_norm).min(1.0)
        } else {
            1.0
        };
        let factor = (1.0 - ip * ip).max(0.0).sqrt() / ip;
        out.extend_from_slice(&(norm as f32).to_le_bytes());
        out.extend_from_slice(&(ip as f32).to_le_bytes());
        out.extend_from_slice(&(factor as f32).to_le_bytes());
        out.extend_from_slice(&cross.to_le_bytes());
        out.extend_from_slice(&(best_norm as f32).to_le_bytes());
    }

    const DIGITS_WITH_CENTRES: QueryDigits = QueryDigits::Two;

    fn prepare(q: &[f32], digits: QueryDigits) -> RaBitQQuery {
        RaBitQ1::prepare(q, digits)
    }

    #[inline(always)]
    fn inner_product<S: Simd>(simd: S, query: &RaBitQQuery, code: &[u8]) -> InnerProduct {
        let plane = query.bits_len();
        let (planes, factors) = code.split_at((BITS * plane).min(code.len()));
        let (mut uv, mut sum_u) = (0u64, 0u64);
        for (k, bits) in planes.chunks_exact(plane.max(1)).enumerate() {
            uv += query.dot(simd, bits) << k;
            sum_u += u64::from(kernels::ones(bits)) << k;
        }
        let norm = f64::from(le_f32(factors, 0));
        let ip_oo = f64::from(le_f32(factors, 4));
        let factor = f64::from(le_f32(factors, 8));
        let cross = f64::from(le_f32(factors, 12));
        let y_norm = f64::from(le_f32(factors, 16));
        let u_q = query.lo * sum_u as f64 + query.step * uv as f64;
        let sum_q = query.dims * query.lo + query.step * query.sum;
        let y_q = u_q - Self::CENTRE * sum_q;
        let scale = norm / ip_oo;
        InnerProduct {
            value: scale * y_q / y_norm,
            error: norm * factor * query.bound_per_factor + scale * query.bound_query,
            norm,
            cross,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::rotation::SplitMix64;

    fn unit(seed: u64, n: usize) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect()
    }

    /// The encoder as first written (levels by `round`, every candidate scored in order):
    /// stores written with it must keep matching the encoder (`Reader::check` compares
    /// every stored code with its vector's encoding).
    fn first_encoding<const BITS: usize>(x: &[f32]) -> Vec<u8> {
        let centre = RaBitQExt::<BITS>::CENTRE;
        let top = RaBitQExt::<BITS>::TOP;
        let norm = x
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        let o: Vec<f64> = x.iter().map(|&v| f64::from(v) / norm).collect();
        let levels = |t: f64| -> Vec<u8> {
            o.iter()
                .map(|&v| (t * v + centre).round().clamp(0.0, top) as u8)
                .collect()
        };
        let max = o.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut best = levels(0.0);
        let (mut best_dot, mut best_norm) = RaBitQExt::<BITS>::score(&o, &best);
        let edge = (centre + 0.5) / max;
        for s in 1..=CANDIDATES {
            let u = levels(1.5 * edge * s as f64 / CANDIDATES as f64);
            let (dot, y_norm) = RaBitQExt::<BITS>::score(&o, &u);
            if dot * best_norm > best_dot * y_norm {
                (best_dot, best_norm) = (dot, y_norm);
                best = u;
            }
        }
        let mut out = Vec::new();
        RaBitQExt::<BITS>::encode(x, 0.25, &mut out);
        let mut planes = Vec::new();
        RaBitQExt::<BITS>::planes(&best, &mut planes);
        let ip = (best_dot / best_norm).min(1.0);
        let factor = (1.0 - ip * ip).max(0.0).sqrt() / ip;
        for f in [
            norm as f32,
            ip as f32,
            factor as f32,
            0.25,
            best_norm as f32,
        ] {
            planes.extend_from_slice(&f.to_le_bytes());
        }
        planes
    }

    #[test]
    fn the_fast_encoder_writes_the_first_encoders_bytes() {
        let mut special: Vec<Vec<f32>> = vec![vec![1.0; 64], vec![-0.5; 128]];
        let mut one_hot = vec![0.0; 64];
        one_hot[17] = -3.0;
        special.push(one_hot);
        // Half the components zero, the rest spread over many magnitudes.
        special.push(
            (0..384)
                .map(|i| {
                    if i % 2 == 0 {
                        0.0
                    } else {
                        1.1f32.powi(i % 90) * if i % 3 == 0 { -1.0 } else { 1.0 }
                    }
                })
                .collect(),
        );
        let random = (0..600u64).map(|seed| unit(seed + 100, [64, 128, 384][seed as usize % 3]));
        for (seed, x) in special.into_iter().chain(random).enumerate() {
            let (mut two, mut four) = (Vec::new(), Vec::new());
            RaBitQExt::<2>::encode(&x, 0.25, &mut two);
            RaBitQExt::<4>::encode(&x, 0.25, &mut four);
            assert_eq!(two, first_encoding::<2>(&x), "seed {seed}");
            assert_eq!(four, first_encoding::<4>(&x), "seed {seed}");
        }
    }

    #[test]
    fn more_bits_fit_better() {
        let x = unit(1, 384);
        let ip = |code: &[u8]| le_f32(&code[code.len() - FACTORS..], 4);
        let (mut one, mut two, mut four) = (Vec::new(), Vec::new(), Vec::new());
        RaBitQ1::encode(&x, 0.0, &mut one);
        RaBitQExt::<2>::encode(&x, 0.0, &mut two);
        RaBitQExt::<4>::encode(&x, 0.0, &mut four);
        let one = le_f32(&one[one.len() - 16..], 4);
        assert!(
            one < ip(&two) && ip(&two) < ip(&four),
            "{one} {} {}",
            ip(&two),
            ip(&four)
        );
        assert!(ip(&four) > 0.99, "{}", ip(&four));
        assert_eq!(four.len(), RaBitQExt::<4>::code_len(384));
    }

    #[test]
    fn estimates_inner_products() {
        let (x, q) = (unit(2, 384), unit(3, 384));
        let exact: f64 = x
            .iter()
            .zip(&q)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let mut code = Vec::new();
        RaBitQExt::<4>::encode(&x, 0.0, &mut code);
        let ip = RaBitQExt::<4>::inner_product(
            pulp::Scalar::new(),
            &RaBitQ1::prepare(&q, QueryDigits::One),
            &code,
        );
        assert!((ip.value - exact).abs() <= ip.error, "{ip:?} vs {exact}");
    }

    #[test]
    fn zero_vector_estimates_zero() {
        let mut code = Vec::new();
        RaBitQExt::<4>::encode(&[0.0; 64], 0.0, &mut code);
        let q = RaBitQ1::prepare(&[0.25; 64], QueryDigits::One);
        let ip = RaBitQExt::<4>::inner_product(pulp::Scalar::new(), &q, &code);
        assert_eq!((ip.value, ip.error, ip.norm), (0.0, 0.0, 0.0));
    }
}
