//! How well each candidate scale of the extended-RaBitQ grid fits a unit vector: for every
//! scale `t`, the levels `uᵢ = round(t·oᵢ + c)` clamped to `0..=top` (halves up), their
//! `<y, o>` and `‖y‖` with `yᵢ = uᵢ - c`, and the ratio `<y, o>/‖y‖` that
//! [`RaBitQExt`](super::rabitq_ext) maximizes.
//!
//! Written once over [`pulp::Simd`] and branch-free: all candidates are scored in full
//! (72 scales x 384 components take about 70 k vector operations), which on AVX2 and
//! AVX-512 is several times faster than sweeping each component's level changes, whose
//! data-dependent branches and divisions cost more than the arithmetic they save.
//!
//! # Exactness
//! The levels are exactly those of the scalar rounding: `t·oᵢ + c` is a multiply then an
//! add (no fused multiply-add, as in the scalar code), and the rounding is exact on every
//! instruction set: adding and subtracting `2⁵²` rounds a value of `[0, 2⁵¹]` to the
//! nearest integer with ties to even, and a tie that went down (`x - n = 0.5`, exact for
//! these magnitudes) is moved up. The sums `<y, o>` and `‖y‖²` are accumulated in lane
//! order, so their last bits differ from one instruction set to another: the caller only
//! uses the ratios to find the candidates near the best and scores those again in order.

use pulp::{Simd, WithSimd};

/// `2⁵²`: `(x + 2⁵²) - 2⁵²` is `x` rounded to an integer, ties to even, for `0 ≤ x ≤ 2⁵¹`.
const ROUNDER: f64 = 4_503_599_627_370_496.0;

/// `round(x)` of `x` clamped to `[0, top]`, halves up: the scalar rounding the vector
/// lanes reproduce (and the tail uses).
#[inline(always)]
pub(super) fn level(x: f64, top: f64) -> f64 {
    let x = x.clamp(0.0, top);
    let n = (x + ROUNDER) - ROUNDER;
    if x - n == 0.5 { n + 1.0 } else { n }
}

/// The grid: levels `0..=top` centred on `centre`.
#[derive(Clone, Copy)]
pub(super) struct Grid {
    pub(super) centre: f64,
    pub(super) top: f64,
}

/// `<y, o>/‖y‖` at each scale of `scales` (`‖y‖²` floored at the smallest positive
/// number; `o` is the unit vector).
pub(super) fn ratios<const N: usize>(o: &[f64], scales: &[f64; N], grid: Grid) -> [f64; N] {
    crate::kernels::arch().dispatch(Ratios { o, scales, grid })
}

/// Arguments of one dispatched [`ratios`].
struct Ratios<'a, const N: usize> {
    o: &'a [f64],
    scales: &'a [f64; N],
    grid: Grid,
}

impl<const N: usize> WithSimd for Ratios<'_, N> {
    type Output = [f64; N];

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> [f64; N] {
        let (head, tail) = S::as_simd_f64s(self.o);
        let Grid { centre, top } = self.grid;
        let (zero, top_v, centre_v) = (
            simd.splat_f64s(0.0),
            simd.splat_f64s(top),
            simd.splat_f64s(centre),
        );
        let (rounder, half, one) = (
            simd.splat_f64s(ROUNDER),
            simd.splat_f64s(0.5),
            simd.splat_f64s(1.0),
        );
        std::array::from_fn(|s| {
            let t = self.scales[s];
            let t_v = simd.splat_f64s(t);
            let (mut dot, mut norm_sq) = (zero, zero);
            for &v in head {
                let x = simd.add_f64s(simd.mul_f64s(t_v, v), centre_v);
                let x = simd.min_f64s(simd.max_f64s(x, zero), top_v);
                let n = simd.sub_f64s(simd.add_f64s(x, rounder), rounder);
                let tie_down = simd.equal_f64s(simd.sub_f64s(x, n), half);
                let n = simd.select_f64s(tie_down, simd.add_f64s(n, one), n);
                let y = simd.sub_f64s(n, centre_v);
                dot = simd.mul_add_f64s(y, v, dot);
                norm_sq = simd.mul_add_f64s(y, y, norm_sq);
            }
            let (mut dot, mut norm_sq) = (simd.reduce_sum_f64s(dot), simd.reduce_sum_f64s(norm_sq));
            for &v in tail {
                let y = level(t * v + centre, top) - centre;
                dot += y * v;
                norm_sq += y * y;
            }
            dot / norm_sq.max(f64::MIN_POSITIVE).sqrt()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::rotation::SplitMix64;

    #[test]
    fn a_level_is_the_rounded_clamped_value() {
        let mut rng = SplitMix64::new(4);
        let mut cases = vec![
            0.49999999999999994,
            0.5,
            1.5,
            2.4999999999999996,
            2.5,
            3.5,
            4.5,
            -0.3,
            -7.0,
            14.5,
            15.0,
            15.49,
            99.0,
            0.0,
        ];
        cases.extend(
            (0..100_000).map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 49) as f64 - 1.0),
        );
        cases.extend((0..64).map(|k| f64::from(k) / 4.0));
        for x in cases {
            assert_eq!(level(x, 15.0), x.round().clamp(0.0, 15.0), "{x}");
            assert_eq!(level(x, 3.0), x.round().clamp(0.0, 3.0), "{x}");
        }
    }

    /// The ratios in order, with the scalar rounding, at every length (tails included).
    fn in_order<const N: usize>(o: &[f64], scales: &[f64; N], grid: Grid) -> [f64; N] {
        std::array::from_fn(|s| {
            let (mut dot, mut norm_sq) = (0.0, 0.0);
            for &v in o {
                let y = (scales[s] * v + grid.centre).round().clamp(0.0, grid.top) - grid.centre;
                dot += y * v;
                norm_sq += y * y;
            }
            dot / f64::max(norm_sq, f64::MIN_POSITIVE).sqrt()
        })
    }

    #[test]
    fn the_ratios_are_the_in_order_ones_up_to_rounding() {
        let mut rng = SplitMix64::new(9);
        for len in [1, 3, 4, 7, 8, 15, 16, 17, 64, 383, 384] {
            let mut o: Vec<f64> = (0..len)
                .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 0.5)
                .collect();
            // Components on exact ties of the grid at some scale: 0.25·4 + 7.5 = 8.5.
            o[0] = 0.25;
            let norm = o.iter().map(|v| v * v).sum::<f64>().sqrt();
            o.iter_mut().for_each(|v| *v /= norm);
            let scales: [f64; 12] = std::array::from_fn(|s| 4.0 * s as f64);
            for grid in [
                Grid {
                    centre: 7.5,
                    top: 15.0,
                },
                Grid {
                    centre: 1.5,
                    top: 3.0,
                },
            ] {
                let (got, want) = (ratios(&o, &scales, grid), in_order(&o, &scales, grid));
                for (g, w) in got.iter().zip(want) {
                    assert!(
                        (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                        "len {len}: {g} vs {w}"
                    );
                }
            }
        }
    }
}
