//! Generic SIMD kernels, written once over [`pulp::Simd`].
//!
//! Each function is `#[inline(always)]` so that, called from inside a
//! [`pulp::WithSimd::with_simd`] body (itself `#[inline(always)]`), it is
//! compiled with the target features of the instruction set `S` stands for:
//! AVX-512 registers for [`pulp::x86::V4`], AVX2 + FMA for [`pulp::x86::V3`],
//! NEON on aarch64, and plain `f32` for [`pulp::Scalar`]. A search loop can
//! therefore dispatch once per query (see [`crate::kernels::arch`]) and call
//! these kernels directly in its inner loop.
//!
//! Operands are little-endian byte slices with no alignment guarantee (they
//! come straight from memory-mapped pages). Registers are filled with
//! [`bytemuck::pod_read_unaligned`], which compiles to one unaligned vector
//! load. Every `f32` kernel adds its terms in the fixed order of
//! [`super::order`]: 64 lanes held in `64 / register lanes` accumulators (four
//! on AVX-512, eight on AVX2), each lane summed in component order with fused
//! multiply-adds, a partial register for the tail whose missing lanes are left
//! untouched, then a pairwise tree over the 64 lanes. So a distance is the same
//! bits on every instruction set and at every memory offset, and the graph a
//! build links and the results a search returns do not depend on the machine
//! or on where a backend placed a value. When the lengths differ only the common
//! prefix of whole `f32` components is compared. On big-endian targets every
//! function runs the plain form of the same order ([`super::order`]).

use core::mem::size_of;

use bytemuck::Zeroable;
use pulp::Simd;

use super::order::{self, LANES};

/// One reduction: how a pair of registers is folded into an accumulator.
trait Reduction {
    /// The plain form of the same reduction in the fixed order (big-endian targets, and
    /// register widths that do not divide [`LANES`]).
    fn ordered(a: &[u8], b: &[u8]) -> f32;
    /// Returns `acc + term(a, b)` lane by lane.
    fn step<S: Simd>(simd: S, acc: S::f32s, a: S::f32s, b: S::f32s) -> S::f32s;
}

/// `Σ aᵢ·bᵢ`.
struct Dot;
/// `Σ (aᵢ - bᵢ)²`.
struct L2Squared;
/// `Σ |aᵢ - bᵢ|`.
struct L1;

impl Reduction for Dot {
    fn ordered(a: &[u8], b: &[u8]) -> f32 {
        order::dot(a, b)
    }
    #[inline(always)]
    fn step<S: Simd>(simd: S, acc: S::f32s, a: S::f32s, b: S::f32s) -> S::f32s {
        // Fused on every instruction set (`f32::mul_add` on `Scalar`), as the fixed
        // order requires: `mul_add_e` would round the product first on `Scalar`.
        simd.mul_add_f32s(a, b, acc)
    }
}

impl Reduction for L2Squared {
    fn ordered(a: &[u8], b: &[u8]) -> f32 {
        order::l2_squared(a, b)
    }
    #[inline(always)]
    fn step<S: Simd>(simd: S, acc: S::f32s, a: S::f32s, b: S::f32s) -> S::f32s {
        let d = simd.sub_f32s(a, b);
        simd.mul_add_f32s(d, d, acc)
    }
}

impl Reduction for L1 {
    fn ordered(a: &[u8], b: &[u8]) -> f32 {
        order::l1(a, b)
    }
    #[inline(always)]
    fn step<S: Simd>(simd: S, acc: S::f32s, a: S::f32s, b: S::f32s) -> S::f32s {
        simd.add_f32s(acc, simd.abs_f32s(simd.sub_f32s(a, b)))
    }
}

/// Loads one register from exactly `size_of::<S::f32s>()` unaligned bytes.
#[inline(always)]
fn load<S: Simd>(bytes: &[u8]) -> S::f32s {
    bytemuck::pod_read_unaligned(bytes)
}

/// Loads fewer than a register's worth of bytes, zero-filling the other lanes.
///
/// Only used for the last components of a vector, fewer than a register's
/// worth. When the bytes are 4-aligned this is the instruction set's masked load
/// ([`Simd::partial_load_f32s`]); otherwise the bytes are copied into a zeroed
/// register.
#[inline(always)]
fn load_partial<S: Simd>(simd: S, bytes: &[u8]) -> S::f32s {
    if let Ok(floats) = bytemuck::try_cast_slice::<u8, f32>(bytes) {
        return simd.partial_load_f32s(floats);
    }
    let mut register = S::f32s::zeroed();
    bytemuck::bytes_of_mut(&mut register)[..bytes.len()].copy_from_slice(bytes);
    register
}

/// Lane indices `0, 1, 2, …`, enough for any register (2048 bits).
const IOTA: [u32; 64] = {
    let mut iota = [0u32; 64];
    let mut i = 0;
    while i < 64 {
        iota[i] = i as u32;
        i += 1;
    }
    iota
};

/// The register `[0, 1, 2, …]` of `S`.
#[inline(always)]
fn iota<S: Simd>() -> S::u32s {
    bytemuck::pod_read_unaligned(&bytemuck::bytes_of(&IOTA)[..size_of::<S::u32s>()])
}

/// Folds `R` over the common prefix of whole components of `a` and `b`, in the order
/// of [`super::order`].
#[inline(always)]
fn reduce<S: Simd, R: Reduction>(simd: S, a: &[u8], b: &[u8]) -> f32 {
    if cfg!(target_endian = "big") {
        return R::ordered(a, b);
    }
    let len = a.len().min(b.len()) / 4 * 4;
    let (a, b) = (&a[..len], &b[..len]);
    // One accumulator register per `width` lanes of the 64.
    match size_of::<S::f32s>() / 4 {
        1 => fold::<S, R, 64>(simd, a, b),
        4 => fold::<S, R, 16>(simd, a, b),
        8 => fold::<S, R, 8>(simd, a, b),
        16 => fold::<S, R, 4>(simd, a, b),
        _ => R::ordered(a, b),
    }
}

/// [`reduce`] with `REGS` registers of `LANES / REGS` lanes each; `a` and `b` hold the
/// same number of whole components.
#[inline(always)]
fn fold<S: Simd, R: Reduction, const REGS: usize>(simd: S, a: &[u8], b: &[u8]) -> f32 {
    let width = size_of::<S::f32s>();
    debug_assert_eq!(REGS * width, 4 * LANES);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; REGS];

    // Whole blocks of 64 components: register `r` takes lanes `r·w .. (r+1)·w`.
    let mut blocks_a = a.chunks_exact(REGS * width);
    let mut blocks_b = b.chunks_exact(REGS * width);
    for (x, y) in (&mut blocks_a).zip(&mut blocks_b) {
        for (r, acc) in acc.iter_mut().enumerate() {
            let at = r * width..(r + 1) * width;
            *acc = R::step(simd, *acc, load::<S>(&x[at.clone()]), load::<S>(&y[at]));
        }
    }

    // The last, partial block: whole registers, then one partial register whose missing
    // lanes keep their accumulator unchanged.
    let (x, y) = (blocks_a.remainder(), blocks_b.remainder());
    let full = x.len() / width;
    for (r, acc) in acc.iter_mut().enumerate().take(full) {
        let at = r * width..(r + 1) * width;
        *acc = R::step(simd, *acc, load::<S>(&x[at.clone()]), load::<S>(&y[at]));
    }
    if x.len() % width != 0 {
        let lanes = (x.len() % width) / 4;
        let (px, py) = (&x[full * width..], &y[full * width..]);
        let stepped = R::step(
            simd,
            acc[full],
            load_partial(simd, px),
            load_partial(simd, py),
        );
        let mask = simd.less_than_u32s(iota::<S>(), simd.splat_u32s(lanes as u32));
        acc[full] = simd.select_f32s(mask, stepped, acc[full]);
    }

    // The tree: registers pairwise (lane j with lane j + 32, then + 16, …) down to one,
    // then that register's lanes.
    let mut regs = REGS;
    while regs > 1 {
        regs /= 2;
        for r in 0..regs {
            acc[r] = simd.add_f32s(acc[r], acc[r + regs]);
        }
    }
    let mut lanes = [0.0f32; 16];
    let lanes = &mut lanes[..width / 4];
    lanes.copy_from_slice(bytemuck::cast_slice(core::slice::from_ref(&acc[0])));
    order::tree_sum(lanes)
}

/// Inner product `Σ aᵢ·bᵢ` of two little-endian `f32` vectors.
#[inline(always)]
pub fn dot<S: Simd>(simd: S, a: &[u8], b: &[u8]) -> f32 {
    reduce::<S, Dot>(simd, a, b)
}

/// Squared Euclidean distance `Σ (aᵢ - bᵢ)²` of two little-endian `f32` vectors.
#[inline(always)]
pub fn l2_squared<S: Simd>(simd: S, a: &[u8], b: &[u8]) -> f32 {
    reduce::<S, L2Squared>(simd, a, b)
}

/// Manhattan distance `Σ |aᵢ - bᵢ|` of two little-endian `f32` vectors.
#[inline(always)]
pub fn l1<S: Simd>(simd: S, a: &[u8], b: &[u8]) -> f32 {
    reduce::<S, L1>(simd, a, b)
}

/// Squared L2 norm `Σ aᵢ²` of a little-endian `f32` vector.
#[inline(always)]
pub fn norm_squared<S: Simd>(simd: S, a: &[u8]) -> f32 {
    reduce::<S, Dot>(simd, a, a)
}

/// Number of differing bits between the common prefix of two byte strings
/// holding packed `u64` words.
///
/// Works on 8-byte words with four independent counters; inside a dispatched
/// context `u64::count_ones` compiles to the `popcnt` instruction. A trailing
/// partial word (not produced by this crate's codecs) is counted byte by byte.
/// The count does not depend on byte order, so no big-endian fallback is needed.
#[inline(always)]
pub fn hamming<S: Simd>(simd: S, a: &[u8], b: &[u8]) -> u32 {
    let _ = simd;
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let word = |bytes: &[u8]| bytemuck::pod_read_unaligned::<u64>(bytes);

    let (mut c0, mut c1, mut c2, mut c3) = (0u32, 0u32, 0u32, 0u32);
    let mut blocks_a = a.chunks_exact(32);
    let mut blocks_b = b.chunks_exact(32);
    for (x, y) in (&mut blocks_a).zip(&mut blocks_b) {
        c0 += (word(&x[0..8]) ^ word(&y[0..8])).count_ones();
        c1 += (word(&x[8..16]) ^ word(&y[8..16])).count_ones();
        c2 += (word(&x[16..24]) ^ word(&y[16..24])).count_ones();
        c3 += (word(&x[24..32]) ^ word(&y[24..32])).count_ones();
    }
    let mut words_a = blocks_a.remainder().chunks_exact(8);
    let mut words_b = blocks_b.remainder().chunks_exact(8);
    for (x, y) in (&mut words_a).zip(&mut words_b) {
        c0 += (word(x) ^ word(y)).count_ones();
    }
    for (x, y) in words_a.remainder().iter().zip(words_b.remainder()) {
        c1 += (x ^ y).count_ones();
    }
    c0 + c1 + c2 + c3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::scalar;

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn scalar_instantiation_matches_reference_on_integers() {
        // Small integers: every order of summation is exact.
        let a: Vec<f32> = (0..37).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| (i % 5) as f32 - 2.0).collect();
        let (a, b) = (bytes(&a), bytes(&b));
        let s = pulp::Scalar::new();
        assert_eq!(dot(s, &a, &b), scalar::dot(&a, &b));
        assert_eq!(l2_squared(s, &a, &b), scalar::l2_squared(&a, &b));
        assert_eq!(l1(s, &a, &b), scalar::l1(&a, &b));
        assert_eq!(norm_squared(s, &a), scalar::norm_squared(&a));
        assert_eq!(hamming(s, &a, &b), scalar::hamming(&a, &b));
    }

    #[test]
    fn empty_and_ragged_inputs() {
        let s = pulp::Scalar::new();
        assert_eq!(dot(s, &[], &[]), 0.0);
        assert_eq!(hamming(s, &[], &[0xff]), 0);
        let a = bytes(&[2.0; 20]);
        // 7 bytes of b: only one whole component in common.
        assert_eq!(dot(s, &a, &a[..7]), 4.0);
        assert_eq!(l1(s, &a[..9], &bytes(&[1.0; 20])), 2.0);
    }
}
