//! The random orthogonal transform applied to every vector before it is quantized.
//!
//! # Why a rotation
//!
//! Both codes of this module quantize each component on its own. Real embeddings put very
//! different energy into different components; after a random rotation every component is
//! a well-mixed combination of all of them, so one step size fits every component (SQ8)
//! and the sign pattern of the unit vector is an unbiased sketch of it (RaBitQ: the error
//! bound of the paper assumes exactly this random orthogonal `P`).
//!
//! # Why a randomized Hadamard transform (FHT-Kac), not a dense matrix
//!
//! A dense random orthogonal matrix costs `D²` multiply-adds per vector and `4·D²` bytes
//! (590 kB for 384 dimensions) and needs a QR decomposition whose rounding depends on the
//! library. The fast Walsh–Hadamard transform (FWHT) costs `D·log₂ D` additions, needs only
//! random signs, and is computed with a fixed sequence of IEEE additions, subtractions and
//! one multiplication per component: the same bits on every machine. But it exists only
//! for power-of-two lengths, and embedding widths often are not (384 = 256 + 128). So the
//! vector is padded with zeros to `D` = the dimension count rounded up to a multiple of 64
//! (at least 64), `t` is the largest power of two `<= D`, and each of [`ROUNDS`] rounds does
//!
//! 1. flip the sign of every component by a seeded random `±1`,
//! 2. FWHT on `[0, t)`, scaled by `1/√t`,
//! 3. flip signs again with fresh random `±1`,
//! 4. FWHT on `[D - t, D)`, scaled by `1/√t`.
//!
//! Every step is orthogonal on the `D` components (a sign flip is, a scaled Hadamard block
//! is, and the identity on the untouched components is), so the whole transform is: norms
//! and inner products are preserved up to rounding. For 384 the blocks `[0, 256)` and
//! `[128, 384)` overlap, so each round mixes every component with every other. The name and
//! the four rounds follow the "FHT + Kac's walk" rotator that RaBitQ-Library uses by
//! default; the tests of the estimators' error rates (`tests/codes.rs`) are what show four
//! rounds are random enough here. When `D` is a power of two the two blocks coincide and each round is
//! two randomized Hadamard transforms.
//!
//! The signs come from [`SplitMix64`] seeded with the quantizer's seed, so the same seed
//! gives the same transform on every machine and in every version of this format.

/// Sign flips and Hadamard pairs per transform.
pub(crate) const ROUNDS: usize = 4;

/// The smallest padded length, and the granularity of padding.
const PAD: usize = 64;

/// SplitMix64 (Steele, Lea & Flood, 2014): a tiny, fully specified generator; the
/// rotation's signs are part of the stored format, so they must not depend on a crate.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose first output is the mix of `seed + γ`.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `dims` rounded up to a multiple of 64, at least 64: the length of rotated vectors.
pub(crate) fn padded_len(dims: usize) -> usize {
    dims.max(1).div_ceil(PAD) * PAD
}

/// A seeded randomized Hadamard rotation of `dims` components padded to `padded_len(dims)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rotation {
    dims: usize,
    padded: usize,
    /// Largest power of two `<= padded`: the Hadamard block length.
    block: usize,
    /// `2·ROUNDS` sign masks of `padded` components each: `0` keeps a component,
    /// `0x8000_0000` flips its sign bit (an exact `· ±1`).
    signs: Vec<u32>,
}

impl Rotation {
    /// The rotation of `dims` components drawn from `seed`.
    pub(crate) fn new(dims: usize, seed: u64) -> Self {
        let padded = padded_len(dims);
        let block = 1usize << padded.ilog2();
        let mut rng = SplitMix64::new(seed);
        let mut signs = Vec::with_capacity(2 * ROUNDS * padded);
        // `padded` is a multiple of 64: one generator output per 64 signs.
        for _ in 0..2 * ROUNDS * padded / 64 {
            let bits = rng.next_u64();
            signs.extend((0..64).map(|k| ((bits >> k) as u32 & 1) << 31));
        }
        Rotation {
            dims,
            padded,
            block,
            signs,
        }
    }

    /// Components of the rotated vectors (`dims` rounded up to a multiple of 64).
    pub(crate) fn padded(&self) -> usize {
        self.padded
    }

    /// Writes the rotation of `x` (its first `dims` components, zero-padded) into `out`
    /// (`padded` components).
    pub(crate) fn apply(&self, x: &[f32], out: &mut [f32]) {
        debug_assert_eq!(out.len(), self.padded);
        let n = x.len().min(self.dims);
        out[..n].copy_from_slice(&x[..n]);
        out[n..].fill(0.0);
        // 1/√t is correctly rounded (IEEE square root), so the same on every machine.
        let scale = (1.0 / (self.block as f64).sqrt()) as f32;
        let tail = self.padded - self.block;
        for flips in self.signs.chunks_exact(2 * self.padded) {
            let (first, second) = flips.split_at(self.padded);
            flip(out, first);
            fwht(&mut out[..self.block], scale);
            flip(out, second);
            fwht(&mut out[tail..], scale);
        }
    }

    /// Undoes [`apply`](Self::apply) in place on `v` (`padded` components): the rounds in
    /// reverse order, each step its own inverse (a sign flip, a normalized Hadamard
    /// transform). The first `dims` components then hold the vector.
    pub(crate) fn invert(&self, v: &mut [f32]) {
        debug_assert_eq!(v.len(), self.padded);
        let scale = (1.0 / (self.block as f64).sqrt()) as f32;
        let tail = self.padded - self.block;
        for flips in self.signs.chunks_exact(2 * self.padded).rev() {
            let (first, second) = flips.split_at(self.padded);
            fwht(&mut v[tail..], scale);
            flip(v, second);
            fwht(&mut v[..self.block], scale);
            flip(v, first);
        }
    }

    /// The rotation of `x` as a new vector.
    pub(crate) fn rotate(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; self.padded];
        self.apply(x, &mut out);
        out
    }
}

/// Flips the sign bit of `v[i]` where `mask[i]` says so.
fn flip(v: &mut [f32], mask: &[u32]) {
    for (x, &m) in v.iter_mut().zip(mask) {
        *x = f32::from_bits(x.to_bits() ^ m);
    }
}

/// In-place fast Walsh–Hadamard transform of a power-of-two slice, then `· scale`.
///
/// Butterflies `(a, b) -> (a + b, a - b)` at distances 1, 2, 4, …: each output is one
/// fixed sequence of additions, so the bits do not depend on how the loop is vectorized.
fn fwht(v: &mut [f32], scale: f32) {
    let n = v.len();
    let mut h = 1;
    while h < n {
        for pair in v.chunks_exact_mut(2 * h) {
            let (lo, hi) = pair.split_at_mut(h);
            for (a, b) in lo.iter_mut().zip(hi) {
                let (x, y) = (*a, *b);
                *a = x + y;
                *b = x - y;
            }
        }
        h *= 2;
    }
    for x in v {
        *x *= scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian(rng: &mut SplitMix64, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let v = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let r = (-2.0 * (1.0 - u).ln()).sqrt();
                (r * (std::f64::consts::TAU * v).cos()) as f32 * scale
            })
            .collect()
    }

    fn dot64(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum()
    }

    #[test]
    fn padding_and_block() {
        assert_eq!(padded_len(0), 64);
        assert_eq!(padded_len(1), 64);
        assert_eq!(padded_len(64), 64);
        assert_eq!(padded_len(65), 128);
        assert_eq!(padded_len(384), 384);
        let r = Rotation::new(384, 7);
        assert_eq!((r.padded(), r.block), (384, 256));
        let r = Rotation::new(100, 7);
        assert_eq!((r.padded(), r.block), (128, 128));
    }

    #[test]
    fn splitmix_known_answer() {
        // First output for seed 0 of the reference implementation.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn preserves_norms_and_inner_products() {
        let mut rng = SplitMix64::new(42);
        for dims in [1, 3, 64, 100, 128, 200, 384, 768, 1000] {
            let rot = Rotation::new(dims, 0xabc ^ dims as u64);
            for _ in 0..8 {
                let a = gaussian(&mut rng, dims, 3.0);
                let b = gaussian(&mut rng, dims, 0.5);
                let (ra, rb) = (rot.rotate(&a), rot.rotate(&b));
                let (na, nra) = (dot64(&a, &a), dot64(&ra, &ra));
                assert!((na - nra).abs() <= 1e-5 * na, "dims {dims}: {na} vs {nra}");
                let (ab, rab) = (dot64(&a, &b), dot64(&ra, &rb));
                let scale = (na * dot64(&b, &b)).sqrt();
                assert!(
                    (ab - rab).abs() <= 1e-5 * scale,
                    "dims {dims}: {ab} vs {rab}"
                );
            }
        }
    }

    #[test]
    fn mixes_every_component() {
        // A basis vector spreads over all 384 outputs (the overlapping blocks reach the
        // components a single 256-block would leave alone).
        let rot = Rotation::new(384, 1);
        for i in [0, 200, 383] {
            let mut e = vec![0.0; 384];
            e[i] = 1.0;
            let r = rot.rotate(&e);
            assert!(r.iter().all(|&x| x != 0.0), "basis {i}");
            let max = r.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!(max < 0.5, "basis {i}: {max}");
        }
    }

    #[test]
    fn invert_undoes_apply() {
        for dims in [1, 64, 100, 384, 1000] {
            let rotation = Rotation::new(dims, 11);
            let x = gaussian(&mut SplitMix64::new(dims as u64), dims, 1.0);
            let mut v = rotation.rotate(&x);
            rotation.invert(&mut v);
            for (a, b) in x.iter().zip(&v) {
                assert!((a - b).abs() < 1e-5, "dims {dims}: {a} vs {b}");
            }
            assert!(
                v[dims..].iter().all(|p| p.abs() < 1e-5),
                "padding back to zero"
            );
        }
    }

    #[test]
    fn deterministic_per_seed() {
        let x: Vec<f32> = (0..384).map(|i| (i as f32 * 0.37).sin()).collect();
        let a = Rotation::new(384, 9).rotate(&x);
        let b = Rotation::new(384, 9).rotate(&x);
        assert_eq!(
            a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_ne!(a, Rotation::new(384, 10).rotate(&x));
        assert_eq!(Rotation::new(384, 9), Rotation::new(384, 9));
    }
}
