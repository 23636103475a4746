//! Binary-quantized metrics: one sign bit per dimension.
//!
//! All three share the codec: component `x` becomes bit `1` when `x > 0.0`
//! and bit `0` otherwise (`0.0`, `-0.0` and negatives), packed like
//! [`Hamming`](crate::Hamming) (`ceil(d / 64) · 8` bytes, least-significant bit
//! first in little-endian `u64` words). Bit `1` stands for `+1` and bit `0` for
//! `-1`, so a stored vector is a sign vector `s ∈ {-1, +1}ᵈ`, which
//! [`decode`](Metric::decode) returns. NaN and infinities are rejected.
//!
//! The internal distance of all three is the number `h` of differing bits (it
//! ranks identically for the three); the user values are exact functions of
//! `h` on the sign vectors: two differing signs are `2` apart.

use crate::bits::{pack, packed_len, unpack};
use crate::error::check_finite;
use crate::{Metric, VectorError, kernels};

/// Validates and packs the sign bits of `vector`.
fn encode_signs(vector: &[f32], out: &mut Vec<u8>) -> Result<(), VectorError> {
    check_finite(vector)?;
    pack(vector, |x| x > 0.0, out);
    Ok(())
}

/// Unpacks a stored sign vector as `±1.0`.
fn decode_signs(encoded: &[u8], dimensions: usize) -> Result<Vec<f32>, VectorError> {
    unpack(encoded, dimensions, -1.0, 1.0)
}

/// Number of differing sign bits, as `f32`.
#[inline(always)]
fn differing_bits(a: &[u8], b: &[u8]) -> f32 {
    kernels::hamming(a, b) as f32
}

/// Binary-quantized cosine distance, `"bq_cosine"`.
///
/// * Stored: one bit per dimension, `1` when the component is `> 0.0`
///   (`0.0`, `-0.0` and negatives give `0`), packed like [`Hamming`](crate::Hamming):
///   `ceil(d / 64) · 8` bytes. Bit `1` stands for `+1`, bit `0` for `-1`. NaN and
///   infinities are rejected with [`VectorError::NonFinite`].
/// * Internal distance: `h`, the number of differing bits.
/// * User distance: `2·h / d`, exactly `1 - cos` of the two `±1` sign vectors
///   (`cos = (d - 2h) / d`); in `[0, 2]`, and `0` when `d = 0`. Smaller is closer.
/// * [`decode`](Metric::decode) returns `±1.0` components.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BinaryQuantizedCosine;

/// Binary-quantized Euclidean distance, `"bq_euclidean"`.
///
/// * Stored: one bit per dimension, `1` when the component is `> 0.0`
///   (`0.0`, `-0.0` and negatives give `0`), packed like [`Hamming`](crate::Hamming):
///   `ceil(d / 64) · 8` bytes. Bit `1` stands for `+1`, bit `0` for `-1`. NaN and
///   infinities are rejected with [`VectorError::NonFinite`].
/// * Internal distance: `h`, the number of differing bits.
/// * User distance: `2·√h`, exactly the L2 distance between the two `±1` sign
///   vectors (each differing dimension contributes `2² = 4`). Smaller is closer.
/// * [`decode`](Metric::decode) returns `±1.0` components.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BinaryQuantizedEuclidean;

/// Binary-quantized Manhattan distance, `"bq_manhattan"`.
///
/// * Stored: one bit per dimension, `1` when the component is `> 0.0`
///   (`0.0`, `-0.0` and negatives give `0`), packed like [`Hamming`](crate::Hamming):
///   `ceil(d / 64) · 8` bytes. Bit `1` stands for `+1`, bit `0` for `-1`. NaN and
///   infinities are rejected with [`VectorError::NonFinite`].
/// * Internal distance: `h`, the number of differing bits.
/// * User distance: `2·h`, exactly the L1 distance between the two `±1` sign
///   vectors (each differing dimension contributes `2`). Smaller is closer.
/// * [`decode`](Metric::decode) returns `±1.0` components.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BinaryQuantizedManhattan;

/// Implements [`Metric`] for a binary-quantized metric with its user mapping.
macro_rules! binary_quantized {
    ($ty:ty, $name:literal, |$h:ident, $d:ident| $user:expr) => {
        impl Metric for $ty {
            const NAME: &'static str = $name;

            fn encoded_len(dimensions: usize) -> usize {
                packed_len(dimensions)
            }

            fn encode(vector: &[f32], out: &mut Vec<u8>) -> Result<(), VectorError> {
                encode_signs(vector, out)
            }

            fn decode(encoded: &[u8], dimensions: usize) -> Result<Vec<f32>, VectorError> {
                decode_signs(encoded, dimensions)
            }

            #[inline]
            fn distance(a: &[u8], b: &[u8]) -> f32 {
                differing_bits(a, b)
            }

            #[inline]
            fn user_distance($h: f32, $d: usize) -> f32 {
                $user
            }
        }
    };
}

binary_quantized!(BinaryQuantizedCosine, "bq_cosine", |h, d| if d == 0 {
    0.0
} else {
    2.0 * h / d as f32
});
binary_quantized!(BinaryQuantizedEuclidean, "bq_euclidean", |h, _d| 2.0
    * h.sqrt());
binary_quantized!(BinaryQuantizedManhattan, "bq_manhattan", |h, _d| 2.0 * h);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::enc;

    const A: [f32; 5] = [0.5, -1.0, 0.0, 3.0, -0.0];
    const B: [f32; 5] = [2.0, 1.0, -4.0, -3.0, 1e-30];

    /// Exact distances between the decoded sign vectors, for comparison.
    fn sign_distances(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = (a.len() as f32).sqrt();
        let l2: f32 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt();
        let l1: f32 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
        (1.0 - dot / (norm * norm), l2, l1)
    }

    #[test]
    fn sign_codec() {
        let e = enc::<BinaryQuantizedCosine>(&A);
        assert_eq!(e.len(), 8);
        assert_eq!(e[0], 0b01001);
        assert_eq!(
            BinaryQuantizedEuclidean::decode(&e, 5).unwrap(),
            vec![1.0, -1.0, -1.0, 1.0, -1.0]
        );
        assert_eq!(
            BinaryQuantizedManhattan::decode(&e, 65),
            Err(VectorError::WrongLength {
                expected: 16,
                found: 8
            })
        );
    }

    #[test]
    fn known_answers_match_sign_vectors() {
        // Signs: A = + - - + -, B = + + - - +  => h = 3 (positions 1, 3, 4).
        let (ea, eb) = (
            enc::<BinaryQuantizedCosine>(&A),
            enc::<BinaryQuantizedCosine>(&B),
        );
        let h = BinaryQuantizedCosine::distance(&ea, &eb);
        assert_eq!(h, 3.0);
        assert_eq!(BinaryQuantizedEuclidean::distance(&ea, &eb), 3.0);
        assert_eq!(BinaryQuantizedManhattan::distance(&ea, &eb), 3.0);

        assert_eq!(BinaryQuantizedCosine::user_distance(h, 5), 1.2);
        assert_eq!(
            BinaryQuantizedEuclidean::user_distance(h, 5),
            2.0 * 3.0f32.sqrt()
        );
        assert_eq!(BinaryQuantizedManhattan::user_distance(h, 5), 6.0);

        let sa = BinaryQuantizedCosine::decode(&ea, 5).unwrap();
        let sb = BinaryQuantizedCosine::decode(&eb, 5).unwrap();
        let (cos, l2, l1) = sign_distances(&sa, &sb);
        assert!((BinaryQuantizedCosine::user_distance(h, 5) - cos).abs() < 1e-6);
        assert!((BinaryQuantizedEuclidean::user_distance(h, 5) - l2).abs() < 1e-6);
        assert_eq!(BinaryQuantizedManhattan::user_distance(h, 5), l1);
    }

    #[test]
    fn errors_and_zero_dimensions() {
        let mut out = vec![1];
        assert_eq!(
            BinaryQuantizedEuclidean::encode(&[1.0, f32::INFINITY], &mut out),
            Err(VectorError::NonFinite { index: 1 })
        );
        assert_eq!(
            BinaryQuantizedCosine::encode(&[f32::NAN], &mut out),
            Err(VectorError::NonFinite { index: 0 })
        );
        assert_eq!(out, vec![1]);
        assert_eq!(
            BinaryQuantizedManhattan::decode(&[0; 7], 3),
            Err(VectorError::WrongLength {
                expected: 8,
                found: 7
            })
        );
        let e = enc::<BinaryQuantizedCosine>(&[]);
        assert!(e.is_empty());
        assert_eq!(BinaryQuantizedCosine::distance(&e, &e), 0.0);
        assert_eq!(BinaryQuantizedCosine::user_distance(0.0, 0), 0.0);
        assert_eq!(BinaryQuantizedEuclidean::user_distance(0.0, 0), 0.0);
        assert_eq!(BinaryQuantizedManhattan::user_distance(0.0, 0), 0.0);
    }

    #[test]
    fn opposite_vectors_are_maximally_far() {
        let a: Vec<f32> = (0..130)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let b: Vec<f32> = a.iter().map(|x| -x).collect();
        let h = BinaryQuantizedCosine::distance(
            &enc::<BinaryQuantizedCosine>(&a),
            &enc::<BinaryQuantizedCosine>(&b),
        );
        assert_eq!(h, 130.0);
        assert_eq!(BinaryQuantizedCosine::user_distance(h, 130), 2.0);
    }
}
