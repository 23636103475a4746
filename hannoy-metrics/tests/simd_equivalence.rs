//! Property tests: the SIMD kernels give exactly the bits of the fixed summation
//! order (`kernels::order`) on every instruction set and at every offset, and
//! that order agrees with the scalar reference loops up to rounding.
//!
//! Inputs cover every length `16·k + r` up to 4096 (so every tail length modulo
//! 16 and odd lengths occur), operands starting at any byte offset within a
//! 64-byte line (0 to 63 bytes of padding in front), and per-vector scales `10^e` with
//! `e ∈ -20..=17` (so sums stay far from overflow but span many orders of
//! magnitude). The dispatched kernels (AVX-512 on a machine that has it) are
//! checked, and so is the generic kernel instantiated explicitly with
//! `pulp::Scalar`, `pulp::x86::V3` (AVX2 + FMA) and `pulp::x86::V4` when the
//! machine supports them.
//!
//! # Tolerance
//!
//! The fixed order sums in 64 lanes, then a tree, with fused multiply-adds, so
//! its results differ from the left-to-right reference by rounding only. Both lie within the worst-case bound of
//! recursive summation of the exact value, so we require
//!
//! `|simd - reference| <= 2 · n · f32::EPSILON · Σᵢ |termᵢ| + f32::MIN_POSITIVE`
//!
//! with `termᵢ = aᵢ·bᵢ` for dot, `(aᵢ - bᵢ)²` for squared L2 and `|aᵢ - bᵢ|`
//! for L1, and `n` the number of components; the `f32::MIN_POSITIVE` term
//! absorbs absolute errors in the subnormal range. Hamming counts are exact.

use hannoy_metrics::kernels::{self, order, scalar, simd};
use proptest::prelude::*;
use pulp::{Simd, WithSimd};

/// Which kernel a property checks.
#[derive(Clone, Copy, Debug)]
enum Kernel {
    Dot,
    L2Squared,
    L1,
}

impl Kernel {
    const ALL: [Kernel; 3] = [Kernel::Dot, Kernel::L2Squared, Kernel::L1];

    fn reference(self, a: &[u8], b: &[u8]) -> f32 {
        match self {
            Kernel::Dot => scalar::dot(a, b),
            Kernel::L2Squared => scalar::l2_squared(a, b),
            Kernel::L1 => scalar::l1(a, b),
        }
    }

    fn ordered(self, a: &[u8], b: &[u8]) -> f32 {
        match self {
            Kernel::Dot => order::dot(a, b),
            Kernel::L2Squared => order::l2_squared(a, b),
            Kernel::L1 => order::l1(a, b),
        }
    }

    fn dispatched(self, a: &[u8], b: &[u8]) -> f32 {
        match self {
            Kernel::Dot => kernels::dot(a, b),
            Kernel::L2Squared => kernels::l2_squared(a, b),
            Kernel::L1 => kernels::l1(a, b),
        }
    }

    fn term(self, a: f32, b: f32) -> f64 {
        let (a, b) = (f64::from(a), f64::from(b));
        match self {
            Kernel::Dot => (a * b).abs(),
            Kernel::L2Squared => (a - b) * (a - b),
            Kernel::L1 => (a - b).abs(),
        }
    }
}

/// Runs one generic kernel under a given instruction set.
struct Generic<'a> {
    kernel: Kernel,
    a: &'a [u8],
    b: &'a [u8],
}

impl WithSimd for Generic<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        match self.kernel {
            Kernel::Dot => simd::dot(s, self.a, self.b),
            Kernel::L2Squared => simd::l2_squared(s, self.a, self.b),
            Kernel::L1 => simd::l1(s, self.a, self.b),
        }
    }
}

/// Runs the generic Hamming kernel under a given instruction set.
struct GenericHamming<'a> {
    a: &'a [u8],
    b: &'a [u8],
}

impl WithSimd for GenericHamming<'_> {
    type Output = u32;

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> u32 {
        simd::hamming(s, self.a, self.b)
    }
}

/// Every explicitly instantiated kernel available here, by name.
fn generic_runs(kernel: Kernel, a: &[u8], b: &[u8]) -> Vec<(&'static str, f32)> {
    let mut runs = vec![(
        "scalar",
        Simd::vectorize(pulp::Scalar::new(), Generic { kernel, a, b }),
    )];
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if let Some(v3) = pulp::x86::V3::try_new() {
            runs.push(("v3", Simd::vectorize(v3, Generic { kernel, a, b })));
        }
        if let Some(v4) = pulp::x86::V4::try_new() {
            runs.push(("v4", Simd::vectorize(v4, Generic { kernel, a, b })));
        }
    }
    runs
}

/// The documented tolerance for `kernel` on the components `a`, `b`.
fn tolerance(kernel: Kernel, a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let magnitude: f64 = a.iter().zip(b).map(|(&x, &y)| kernel.term(x, y)).sum();
    2.0 * n * f64::from(f32::EPSILON) * magnitude + f64::from(f32::MIN_POSITIVE)
}

/// Little-endian bytes of `v` preceded by `pad` bytes of padding.
fn padded(v: &[f32], pad: usize) -> Vec<u8> {
    let mut out = vec![0xA5; pad];
    out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    out
}

/// Lengths `16·k + r`, capped at 4096, so every tail length modulo 16 occurs.
fn length() -> impl Strategy<Value = usize> {
    (0usize..=256, 0usize..16).prop_map(|(k, r)| (16 * k + r).min(4096))
}

/// A vector of `len` components in `[-1, 1) · 10^e`, `e ∈ -20..=17`.
fn scaled(len: usize) -> impl Strategy<Value = Vec<f32>> {
    (prop::collection::vec(-1.0f32..1.0, len), -20i32..=17)
        .prop_map(|(v, e)| v.into_iter().map(|x| x * 10f32.powi(e)).collect())
}

/// Two equally long vectors and the padding in front of each.
fn operands() -> impl Strategy<Value = (Vec<f32>, Vec<f32>, usize, usize)> {
    length().prop_flat_map(|len| (scaled(len), scaled(len), 0usize..64, 0usize..64))
}

fn check(kernel: Kernel, a: &[f32], b: &[f32], pad_a: usize, pad_b: usize) {
    let (ba, bb) = (padded(a, pad_a), padded(b, pad_b));
    let (ba, bb) = (&ba[pad_a..], &bb[pad_b..]);
    let reference = kernel.reference(ba, bb);
    let ordered = kernel.ordered(ba, bb);
    let tol = tolerance(kernel, a, b);
    let error = (f64::from(ordered) - f64::from(reference)).abs();
    assert!(
        error <= tol,
        "{kernel:?} n={}: ordered {ordered} vs reference {reference}, error {error:e} > \
         tolerance {tol:e}",
        a.len()
    );
    let mut runs = generic_runs(kernel, ba, bb);
    runs.push(("dispatched", kernel.dispatched(ba, bb)));
    for (name, value) in runs {
        assert_eq!(
            value.to_bits(),
            ordered.to_bits(),
            "{kernel:?} {name} n={} pads=({pad_a},{pad_b}): {value} is not the fixed order's \
             {ordered}",
            a.len()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dot_matches_reference((a, b, pad_a, pad_b) in operands()) {
        check(Kernel::Dot, &a, &b, pad_a, pad_b);
    }

    #[test]
    fn l2_squared_matches_reference((a, b, pad_a, pad_b) in operands()) {
        check(Kernel::L2Squared, &a, &b, pad_a, pad_b);
    }

    #[test]
    fn l1_matches_reference((a, b, pad_a, pad_b) in operands()) {
        check(Kernel::L1, &a, &b, pad_a, pad_b);
    }

    #[test]
    fn norm_squared_is_self_dot((a, _, pad, _) in operands()) {
        let bytes = padded(&a, pad);
        let bytes = &bytes[pad..];
        prop_assert_eq!(kernels::norm_squared(bytes), kernels::dot(bytes, bytes));
        prop_assert_eq!(kernels::norm_squared(bytes).to_bits(), order::dot(bytes, bytes).to_bits());
        let error = (f64::from(kernels::norm_squared(bytes)) - f64::from(scalar::norm_squared(bytes))).abs();
        prop_assert!(error <= tolerance(Kernel::Dot, &a, &a));
    }

    #[test]
    fn hamming_is_exact(
        (a, b) in (0usize..=4096).prop_flat_map(|len| (
            prop::collection::vec(any::<u8>(), len),
            prop::collection::vec(any::<u8>(), len),
        )),
        pad_a in 0usize..=3,
        pad_b in 0usize..=3,
    ) {
        let mut pa = vec![0xFF; pad_a];
        pa.extend_from_slice(&a);
        let mut pb = vec![0x00; pad_b];
        pb.extend_from_slice(&b);
        let (sa, sb) = (&pa[pad_a..], &pb[pad_b..]);
        let reference = scalar::hamming(sa, sb);
        prop_assert_eq!(kernels::hamming(sa, sb), reference);
        prop_assert_eq!(Simd::vectorize(pulp::Scalar::new(), GenericHamming { a: sa, b: sb }), reference);
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if let Some(v3) = pulp::x86::V3::try_new() {
            prop_assert_eq!(Simd::vectorize(v3, GenericHamming { a: sa, b: sb }), reference);
        }
    }

    #[test]
    fn mismatched_lengths_compare_the_common_prefix(
        (a, b, pad_a, pad_b) in operands(),
        extra in 0usize..=70,
    ) {
        // `b` gets `extra` more bytes (whole and partial components): the
        // result must be exactly that of the common prefix.
        let (ba, mut bb) = (padded(&a, pad_a), padded(&b, pad_b));
        bb.extend((0..extra).map(|i| i as u8));
        let (sa, sb) = (&ba[pad_a..], &bb[pad_b..]);
        let prefix = &sb[..sa.len()];
        for kernel in Kernel::ALL {
            prop_assert_eq!(kernel.dispatched(sa, sb).to_bits(), kernel.dispatched(sa, prefix).to_bits());
            prop_assert_eq!(kernel.dispatched(sb, sa).to_bits(), kernel.dispatched(prefix, sa).to_bits());
        }
        prop_assert_eq!(kernels::hamming(sa, sb), kernels::hamming(sa, prefix));
    }
}
