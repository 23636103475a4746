//! Distance kernels over encoded (little-endian, unaligned) vectors.
//!
//! The functions at this level dispatch at run time to the best instruction
//! set of the machine, detected once and cached ([`arch`], [`simd_level`]).
//! [`scalar`] holds the plain reference loops, [`simd`] the generic kernels
//! that a caller can run under its own [`pulp::Arch::dispatch`], and [`order`]
//! the summation order they all follow: the same inputs give the same bits on
//! every instruction set and at every memory offset.
//!
//! The environment variable [`SIMD_CAP_VAR`] (`HANNOY_SIMD=scalar|avx2|avx512`)
//! caps the instruction set, read once at first use: the test suite runs under
//! each level the machine has, and a comparison can measure one against another.
//!
//! Every kernel reads whole little-endian `f32` components (or raw bytes for
//! [`hamming`]) of the common prefix of its two operands: callers check the
//! lengths; mismatched inputs never read out of bounds and never panic.

pub mod order;
pub mod scalar;
pub mod simd;

use std::fmt;
use std::sync::LazyLock;

pub use pulp::{Arch, Simd, WithSimd};

/// The instruction set detected once at first use, capped by [`SIMD_CAP_VAR`].
static ARCH: LazyLock<Arch> = LazyLock::new(|| {
    let best = Arch::new();
    match std::env::var(SIMD_CAP_VAR) {
        Ok(cap) => capped(best, &cap),
        Err(_) => best,
    }
});

/// The environment variable that caps the instruction set of the dispatched kernels:
/// `scalar`, `avx2` (AVX2 + FMA) or `avx512`; a level the machine lacks falls back to
/// the best one below it, and any other value is ignored ([`simd_level`] tells what runs).
/// Results are the same bits at every level; only the speed differs.
pub const SIMD_CAP_VAR: &str = "HANNOY_SIMD";

/// `best`, lowered to at most the level named by `cap`.
fn capped(best: Arch, cap: &str) -> Arch {
    match cap.trim().to_ascii_lowercase().as_str() {
        "scalar" => Arch::Scalar,
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        "avx2" | "avx2+fma" => match best {
            Arch::V4(_) => pulp::x86::V3::try_new().map_or(Arch::Scalar, Arch::V3),
            other => other,
        },
        _ => best,
    }
}

/// The instruction set the dispatched kernels run on, detected once per process.
///
/// Use it to dispatch a whole loop once (for example once per query) and call
/// the `#[inline(always)]` kernels of [`simd`] inside it:
///
/// ```
/// use hannoy_metrics::kernels::{self, simd};
///
/// struct Closest<'a> { query: &'a [u8], items: &'a [Vec<u8>] }
/// impl pulp::WithSimd for Closest<'_> {
///     type Output = Option<usize>;
///     #[inline(always)]
///     fn with_simd<S: pulp::Simd>(self, s: S) -> Option<usize> {
///         (0..self.items.len()).min_by(|&i, &j| {
///             let di = simd::l2_squared(s, self.query, &self.items[i]);
///             let dj = simd::l2_squared(s, self.query, &self.items[j]);
///             di.total_cmp(&dj)
///         })
///     }
/// }
///
/// let items: Vec<Vec<u8>> = [[0.0f32, 0.0], [1.0, 1.0], [5.0, 5.0]]
///     .iter()
///     .map(|v| bytemuck::cast_slice(v).to_vec())
///     .collect();
/// let query: &[u8] = bytemuck::cast_slice(&[0.9f32, 1.2]);
/// assert_eq!(kernels::arch().dispatch(Closest { query, items: &items }), Some(1));
/// ```
pub fn arch() -> Arch {
    *ARCH
}

/// The code path the dispatched kernels of this module take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimdLevel {
    /// Portable scalar code (no usable SIMD, or a big-endian target).
    Scalar,
    /// x86-64 AVX2 with fused multiply-add (256-bit registers).
    Avx2Fma,
    /// x86-64 AVX-512 F/BW/CD/DQ/VL (512-bit registers).
    Avx512,
    /// aarch64 NEON (128-bit registers).
    Neon,
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2Fma => "avx2+fma",
            SimdLevel::Avx512 => "avx-512",
            SimdLevel::Neon => "neon",
        })
    }
}

/// Which path the dispatched kernels run on this machine.
pub fn simd_level() -> SimdLevel {
    if cfg!(target_endian = "big") {
        return SimdLevel::Scalar;
    }
    match arch() {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Arch::V4(_) => SimdLevel::Avx512,
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Arch::V3(_) => SimdLevel::Avx2Fma,
        #[cfg(target_arch = "aarch64")]
        Arch::Neon(_) => SimdLevel::Neon,
        _ => SimdLevel::Scalar,
    }
}

/// Declares a zero-cost [`WithSimd`] wrapper that runs one generic kernel of
/// [`simd`] under the detected instruction set (one type per kernel, so each
/// dispatched function is compiled to its own specialised code).
macro_rules! dispatched {
    ($name:ident, $kernel:ident, $out:ty) => {
        /// Arguments of one dispatched call.
        struct $name<'a> {
            a: &'a [u8],
            b: &'a [u8],
        }

        impl WithSimd for $name<'_> {
            type Output = $out;

            #[inline(always)]
            fn with_simd<S: Simd>(self, s: S) -> $out {
                simd::$kernel(s, self.a, self.b)
            }
        }
    };
}

dispatched!(DotCall, dot, f32);
dispatched!(L2SquaredCall, l2_squared, f32);
dispatched!(L1Call, l1, f32);
dispatched!(HammingCall, hamming, u32);

/// Inner product `Σ aᵢ·bᵢ` of two little-endian `f32` vectors (common prefix).
#[inline]
pub fn dot(a: &[u8], b: &[u8]) -> f32 {
    if cfg!(target_endian = "big") {
        return order::dot(a, b);
    }
    arch().dispatch(DotCall { a, b })
}

/// Squared Euclidean distance `Σ (aᵢ - bᵢ)²` of two little-endian `f32` vectors.
#[inline]
pub fn l2_squared(a: &[u8], b: &[u8]) -> f32 {
    if cfg!(target_endian = "big") {
        return order::l2_squared(a, b);
    }
    arch().dispatch(L2SquaredCall { a, b })
}

/// Manhattan distance `Σ |aᵢ - bᵢ|` of two little-endian `f32` vectors.
#[inline]
pub fn l1(a: &[u8], b: &[u8]) -> f32 {
    if cfg!(target_endian = "big") {
        return order::l1(a, b);
    }
    arch().dispatch(L1Call { a, b })
}

/// Squared L2 norm `Σ aᵢ²` of a little-endian `f32` vector.
#[inline]
pub fn norm_squared(a: &[u8]) -> f32 {
    dot(a, a)
}

/// Number of differing bits between two byte strings (common prefix), as
/// stored by the Hamming and binary-quantized metrics.
#[inline]
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    arch().dispatch(HammingCall { a, b })
}

/// [`dot`] on `f32` slices (native endianness; compares the common prefix).
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    on_native(a, b, dot, |x, y| x * y)
}

/// [`l2_squared`] on `f32` slices (native endianness; compares the common prefix).
#[inline]
pub fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
    on_native(a, b, l2_squared, |x, y| (x - y) * (x - y))
}

/// [`l1`] on `f32` slices (native endianness; compares the common prefix).
#[inline]
pub fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    on_native(a, b, l1, |x, y| (x - y).abs())
}

/// Runs a byte kernel on native `f32` slices; big-endian targets sum `term`
/// directly since their native bytes are not the little-endian encoding.
#[inline(always)]
fn on_native(
    a: &[f32],
    b: &[f32],
    kernel: fn(&[u8], &[u8]) -> f32,
    term: fn(f32, f32) -> f32,
) -> f32 {
    if cfg!(target_endian = "big") {
        return a.iter().zip(b).map(|(&x, &y)| term(x, y)).sum();
    }
    kernel(bytemuck::cast_slice(a), bytemuck::cast_slice(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_matches_detected_arch_and_is_stable() {
        let level = simd_level();
        assert_eq!(level, simd_level());
        assert!(!level.to_string().is_empty());
        let cap = std::env::var(SIMD_CAP_VAR).unwrap_or_default();
        if cap == "scalar" {
            assert_eq!(level, SimdLevel::Scalar);
        } else if cap == "avx2" && level != SimdLevel::Scalar {
            assert_eq!(level, SimdLevel::Avx2Fma);
        } else if cap.is_empty()
            && cfg!(all(target_arch = "x86_64", target_endian = "little"))
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512cd")
        {
            assert_eq!(level, SimdLevel::Avx512);
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(SimdLevel::Scalar.to_string(), "scalar");
        assert_eq!(SimdLevel::Avx2Fma.to_string(), "avx2+fma");
        assert_eq!(SimdLevel::Avx512.to_string(), "avx-512");
        assert_eq!(SimdLevel::Neon.to_string(), "neon");
    }

    #[test]
    fn every_alignment_gives_the_exact_answer() {
        // Small integers: every summation order is exact, so any difference
        // would be a bug in the head peeling, the main loop or the tail.
        let values: Vec<f32> = (0..200).map(|i| (i % 11) as f32 - 5.0).collect();
        let other: Vec<f32> = (0..200).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut buffer_a = vec![0u8; 64 + 800];
        let mut buffer_b = vec![0u8; 64 + 800];
        for len in [0, 1, 3, 15, 16, 17, 31, 64, 65, 129, 200] {
            let (a, b) = (&values[..len], &other[..len]);
            let want_dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let want_l2: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
            let want_l1: f32 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
            for offset_a in 0..64 {
                for offset_b in [0, 1, 2, 4, 16, 20, 32, 48, offset_a] {
                    let ea = &mut buffer_a[offset_a..offset_a + 4 * len];
                    ea.copy_from_slice(bytemuck::cast_slice(a));
                    let eb = &mut buffer_b[offset_b..offset_b + 4 * len];
                    eb.copy_from_slice(bytemuck::cast_slice(b));
                    let ea = &buffer_a[offset_a..offset_a + 4 * len];
                    let eb = &buffer_b[offset_b..offset_b + 4 * len];
                    let at = format!("len {len}, offsets {offset_a}/{offset_b}");
                    assert_eq!(dot(ea, eb), want_dot, "{at}");
                    assert_eq!(l2_squared(ea, eb), want_l2, "{at}");
                    assert_eq!(l1(ea, eb), want_l1, "{at}");
                }
            }
        }
    }

    #[test]
    fn every_offset_gives_the_same_bits() {
        // Random magnitudes: any change of summation order with the placement of the
        // operands would show in the last bits.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0
        };
        let values: Vec<f32> = (0..300).map(|_| next()).collect();
        let other: Vec<f32> = (0..300).map(|_| next()).collect();
        let mut buffer_a = vec![0u8; 64 + 1200];
        let mut buffer_b = vec![0u8; 64 + 1200];
        for len in [1, 7, 16, 63, 64, 65, 100, 128, 255, 300] {
            let (a, b) = (&values[..len], &other[..len]);
            let (a, b): (&[u8], &[u8]) = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
            let want = [order::dot(a, b), order::l2_squared(a, b), order::l1(a, b)];
            for offset_a in 0..64 {
                for offset_b in [0, 3, 4, 36, 60, offset_a] {
                    buffer_a[offset_a..offset_a + a.len()].copy_from_slice(a);
                    buffer_b[offset_b..offset_b + b.len()].copy_from_slice(b);
                    let ea = &buffer_a[offset_a..offset_a + a.len()];
                    let eb = &buffer_b[offset_b..offset_b + b.len()];
                    let got = [dot(ea, eb), l2_squared(ea, eb), l1(ea, eb)];
                    assert_eq!(
                        got.map(f32::to_bits),
                        want.map(f32::to_bits),
                        "len {len}, offsets {offset_a}/{offset_b}"
                    );
                }
            }
        }
    }

    #[test]
    fn cap_names_lower_or_keep_the_level() {
        let best = Arch::new();
        assert!(matches!(capped(best, "scalar"), Arch::Scalar));
        assert!(matches!(capped(best, " Scalar "), Arch::Scalar));
        let unknown = capped(best, "sse9");
        assert_eq!(
            std::mem::discriminant(&unknown),
            std::mem::discriminant(&best)
        );
    }

    #[test]
    fn dispatched_known_answers() {
        let a: Vec<f32> = (0..100).map(|i| (i % 9) as f32 - 4.0).collect();
        let b: Vec<f32> = (0..100).map(|i| (i % 4) as f32).collect();
        let (ab, bb): (&[u8], &[u8]) = (bytemuck::cast_slice(&a), bytemuck::cast_slice(&b));
        let exact_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(ab, bb), exact_dot);
        assert_eq!(dot_f32(&a, &b), exact_dot);
        assert_eq!(l2_squared(ab, bb), scalar::l2_squared(ab, bb));
        assert_eq!(l2_squared_f32(&a, &b), scalar::l2_squared(ab, bb));
        assert_eq!(l1(ab, bb), scalar::l1(ab, bb));
        assert_eq!(l1_f32(&a, &b), scalar::l1(ab, bb));
        assert_eq!(norm_squared(ab), scalar::norm_squared(ab));
        assert_eq!(hamming(ab, bb), scalar::hamming(ab, bb));
    }
}
