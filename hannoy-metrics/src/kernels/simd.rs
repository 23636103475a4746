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
//! load. A head is peeled so that one operand's loads in the main loop are
//! aligned to the register width, and the head and the tail are summed from a
//! full register overlapping the body with the lanes already (or not yet)
//! counted zeroed; a vector shorter than one register is read with a masked
//! load or copied into a zeroed register. The main
//! loop keeps four independent accumulators and uses fused multiply-add where
//! the instruction set has it. When the lengths differ only the common prefix
//! of whole `f32` components is compared. On big-endian targets every function
//! falls back to [`crate::kernels::scalar`].
//!
//! The results equal the scalar reference up to rounding: the sum is taken in
//! a different order (per lane, then across lanes) and with fused operations.

use core::mem::size_of;

use bytemuck::Zeroable;
use pulp::Simd;

use super::scalar;

/// One reduction: how a pair of registers is folded into an accumulator.
trait Reduction {
    /// The scalar reference of the same reduction (used on big-endian targets).
    fn reference(a: &[u8], b: &[u8]) -> f32;
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
    fn reference(a: &[u8], b: &[u8]) -> f32 {
        scalar::dot(a, b)
    }
    #[inline(always)]
    fn step<S: Simd>(simd: S, acc: S::f32s, a: S::f32s, b: S::f32s) -> S::f32s {
        // `mul_add_e` is a real fused multiply-add on V3/V4/NEON and a plain
        // `a * b + c` on `Scalar` (where `mul_add` would call a slow software fma).
        simd.mul_add_e_f32s(a, b, acc)
    }
}

impl Reduction for L2Squared {
    fn reference(a: &[u8], b: &[u8]) -> f32 {
        scalar::l2_squared(a, b)
    }
    #[inline(always)]
    fn step<S: Simd>(simd: S, acc: S::f32s, a: S::f32s, b: S::f32s) -> S::f32s {
        let d = simd.sub_f32s(a, b);
        simd.mul_add_e_f32s(d, d, acc)
    }
}

impl Reduction for L1 {
    fn reference(a: &[u8], b: &[u8]) -> f32 {
        scalar::l1(a, b)
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
/// Only used for vectors shorter than one register. When the bytes are
/// 4-aligned this is the instruction set's masked load
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

/// Keeps the lanes of `x` below `end`, zeroing the others.
#[inline(always)]
fn keep_below<S: Simd>(simd: S, x: S::f32s, end: usize) -> S::f32s {
    let mask = simd.less_than_u32s(iota::<S>(), simd.splat_u32s(end as u32));
    simd.select_f32s(mask, x, simd.splat_f32s(0.0))
}

/// Keeps the lanes of `x` from `start` on, zeroing the others.
#[inline(always)]
fn keep_from<S: Simd>(simd: S, x: S::f32s, start: usize) -> S::f32s {
    let mask = simd.greater_than_or_equal_u32s(iota::<S>(), simd.splat_u32s(start as u32));
    simd.select_f32s(mask, x, simd.splat_f32s(0.0))
}

/// Folds `R` over the common prefix of whole components of `a` and `b`.
#[inline(always)]
fn reduce<S: Simd, R: Reduction>(simd: S, a: &[u8], b: &[u8]) -> f32 {
    if cfg!(target_endian = "big") {
        return R::reference(a, b);
    }
    let len = a.len().min(b.len()) / 4 * 4;
    let (a, b) = (&a[..len], &b[..len]);
    let width = size_of::<S::f32s>();
    let zero = simd.splat_f32s(0.0);

    if len < width {
        // Shorter than one register: a single partial load per operand.
        if len == 0 {
            return 0.0;
        }
        let acc = R::step(simd, zero, load_partial(simd, a), load_partial(simd, b));
        return simd.reduce_sum_f32s(acc);
    }

    let (mut acc0, mut acc1, mut acc2, mut acc3) = (zero, zero, zero, zero);

    // Peel a head so that the loads of one operand in the main loop are
    // aligned to the register width: a wide load that straddles two cache
    // lines costs two. When the other operand has the same misalignment (the
    // common case for values laid out alike) both end up aligned. Only an
    // operand whose start is 4-aligned can reach the boundary with whole
    // components, so `b` is the anchor when `a` is not 4-aligned. The head is
    // one full (unaligned) register whose lanes past the head are zeroed.
    let anchor = if a.as_ptr().addr() % 4 == 0 { a } else { b };
    let misalignment = anchor.as_ptr().addr() % width;
    let head = if misalignment % 4 == 0 {
        (width - misalignment) % width
    } else {
        0
    };
    if head != 0 {
        let lanes = head / 4;
        let x = keep_below(simd, load::<S>(&a[..width]), lanes);
        let y = keep_below(simd, load::<S>(&b[..width]), lanes);
        acc3 = R::step(simd, acc3, x, y);
    }
    let (body_a, body_b) = (&a[head..], &b[head..]);

    // Main loop: four registers per operand, one independent accumulator each.
    let mut blocks_a = body_a.chunks_exact(4 * width);
    let mut blocks_b = body_b.chunks_exact(4 * width);
    for (x, y) in (&mut blocks_a).zip(&mut blocks_b) {
        let (x0, x1) = x.split_at(2 * width);
        let (y0, y1) = y.split_at(2 * width);
        acc0 = R::step(simd, acc0, load::<S>(&x0[..width]), load::<S>(&y0[..width]));
        acc1 = R::step(simd, acc1, load::<S>(&x0[width..]), load::<S>(&y0[width..]));
        acc2 = R::step(simd, acc2, load::<S>(&x1[..width]), load::<S>(&y1[..width]));
        acc3 = R::step(simd, acc3, load::<S>(&x1[width..]), load::<S>(&y1[width..]));
    }

    // Up to three remaining whole registers.
    let mut regs_a = blocks_a.remainder().chunks_exact(width);
    let mut regs_b = blocks_b.remainder().chunks_exact(width);
    for (x, y) in (&mut regs_a).zip(&mut regs_b) {
        acc0 = R::step(simd, acc0, load::<S>(x), load::<S>(y));
    }

    // The tail: the last full register of the vectors, of which only the
    // lanes not yet summed are kept (zero lanes add nothing to any reduction).
    let tail = regs_a.remainder().len();
    if tail != 0 {
        let from = (width - tail) / 4;
        let x = keep_from(simd, load::<S>(&a[len - width..]), from);
        let y = keep_from(simd, load::<S>(&b[len - width..]), from);
        acc1 = R::step(simd, acc1, x, y);
    }

    let acc = simd.add_f32s(simd.add_f32s(acc0, acc1), simd.add_f32s(acc2, acc3));
    simd.reduce_sum_f32s(acc)
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
