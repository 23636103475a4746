//! The summation order every `f32` kernel follows, so that a distance is the same bits on
//! every instruction set, at every memory placement, in every build profile.
//!
//! Floating-point addition is not associative: two kernels that add the same terms in
//! another order give different last bits, and an HNSW search that compares distances then
//! visits other nodes. So the order is fixed here, once, and every path implements exactly
//! it:
//!
//! 1. Component `i` belongs to lane `i mod` [`LANES`] (64 lanes: four AVX-512 registers,
//!    eight AVX2 registers, sixteen NEON registers or 64 scalar accumulators).
//! 2. Each lane accumulates its components in increasing `i`, starting from `+0.0`, with
//!    one operation per component: a fused multiply-add (`acc = fma(x, y, acc)` for the dot
//!    product, `acc = fma(d, d, acc)` with `d = x - y` for squared L2), or an addition
//!    (`acc + |x - y|` for L1). A lane that has no component left is not touched (not even
//!    by adding zero, which could turn a `-0.0` into `+0.0`).
//! 3. The 64 lane sums are added as a pairwise tree: `s[j] += s[j + h]` for `j < h`, with
//!    `h = 32, 16, 8, 4, 2, 1`; the result is `s[0]`.
//!
//! Nothing depends on where the operands start in memory (no alignment peeling) or on the
//! register width. The plain functions here are the executable form of this order: the
//! SIMD kernels ([`super::simd`]) are tested bit for bit against them, and big-endian
//! targets run them. As accurate as recursive summation or better (64 short sums, then a
//! tree), within the bound the tests document.

/// Lanes of the fixed summation order.
pub const LANES: usize = 64;

/// Adds `lanes` (a power of two, at most [`LANES`]) as a pairwise tree: `s[j] += s[j + h]`
/// for `h = len/2, …, 1`. Returns 0 for an empty slice.
#[inline(always)]
pub fn tree_sum(lanes: &mut [f32]) -> f32 {
    let mut half = lanes.len() / 2;
    while half > 0 {
        for j in 0..half {
            lanes[j] += lanes[j + half];
        }
        half /= 2;
    }
    lanes.first().copied().unwrap_or(0.0)
}

/// Runs `step` over the common prefix of whole little-endian components in the fixed order.
fn ordered(a: &[u8], b: &[u8], step: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    for (i, (x, y)) in super::scalar::pairs(a, b).enumerate() {
        lanes[i % LANES] = step(lanes[i % LANES], x, y);
    }
    tree_sum(&mut lanes)
}

/// `Σ aᵢ·bᵢ` in the fixed order.
pub fn dot(a: &[u8], b: &[u8]) -> f32 {
    ordered(a, b, |acc, x, y| x.mul_add(y, acc))
}

/// `Σ (aᵢ - bᵢ)²` in the fixed order.
pub fn l2_squared(a: &[u8], b: &[u8]) -> f32 {
    ordered(a, b, |acc, x, y| {
        let d = x - y;
        d.mul_add(d, acc)
    })
}

/// `Σ |aᵢ - bᵢ|` in the fixed order.
pub fn l1(a: &[u8], b: &[u8]) -> f32 {
    ordered(a, b, |acc, x, y| acc + (x - y).abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn tree_adds_pairs_at_halving_distances() {
        // 1e8 + 1 rounds to 1e8 in f32; the tree pairs lane 0 with lane 2 first.
        let mut lanes = [1e8f32, 1.0, -1e8, 1.0];
        assert_eq!(tree_sum(&mut lanes), 2.0);
        assert_eq!(tree_sum(&mut []), 0.0);
        assert_eq!(tree_sum(&mut [3.5]), 3.5);
    }

    #[test]
    fn lanes_wrap_every_64_components() {
        // Components 0, 64 and 128 share lane 0: 1e8 + 1 - 1e8 is 0 there (the 1 is
        // lost), and lane 1 holds 1.0, so the result is 1. A left-to-right sum loses both
        // ones to 1e8 and gives 0.
        let mut a = vec![0.0f32; 130];
        a[0] = 1e8;
        a[64] = 1.0;
        a[128] = -1e8;
        a[1] = 1.0;
        let ones = bytes(&[1.0; 130]);
        assert_eq!(dot(&bytes(&a), &ones), 1.0);
    }

    #[test]
    fn known_answers_and_ragged_inputs() {
        let a = bytes(&[1.0, 2.0, 3.0]);
        let b = bytes(&[4.0, -5.0, 6.0]);
        assert_eq!(dot(&a, &b), 12.0);
        assert_eq!(l2_squared(&a, &b), 67.0);
        assert_eq!(l1(&a, &b), 13.0);
        assert_eq!(dot(&a, &b[..7]), 4.0);
        assert_eq!(l1(&[], &b), 0.0);
    }
}
