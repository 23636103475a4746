//! The Euclidean (L2) metric.

use crate::kernels::{self, Simd, simd};
use crate::metric::not_nan;
use crate::raw::{decode_raw, encode_raw, raw_len};
use crate::{Metric, VectorError};

/// Euclidean distance, `"euclidean"`.
///
/// * Stored: the `d` components as little-endian `f32` (`4·d` bytes).
/// * Internal distance: the squared L2 distance `Σ (aᵢ - bᵢ)²` (no square root
///   on the hot path; it ranks like the L2 distance).
/// * User distance: `sqrt(internal)`, the true L2 distance. Smaller is closer.
/// * `d = 0`: zero bytes, distance `0`.
///
/// Squared differences above `f32::MAX` (components beyond about `1e19`)
/// overflow to `f32::INFINITY`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Euclidean;

impl Metric for Euclidean {
    const NAME: &'static str = "euclidean";

    fn encoded_len(dimensions: usize) -> usize {
        raw_len(dimensions)
    }

    fn encode(vector: &[f32], out: &mut Vec<u8>) -> Result<(), VectorError> {
        encode_raw(vector, out)
    }

    fn decode(encoded: &[u8], dimensions: usize) -> Result<Vec<f32>, VectorError> {
        decode_raw(encoded, dimensions)
    }

    #[inline]
    fn distance(a: &[u8], b: &[u8]) -> f32 {
        not_nan(kernels::l2_squared(a, b))
    }

    #[inline(always)]
    fn distance_in<S: Simd>(simd: S, a: &[u8], b: &[u8]) -> f32 {
        not_nan(simd::l2_squared(simd, a, b))
    }

    #[inline]
    fn user_distance(internal: f32, _dimensions: usize) -> f32 {
        internal.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{enc, nan_bytes};

    #[test]
    fn known_answer() {
        let a = enc::<Euclidean>(&[1.0, 2.0, 3.0]);
        let b = enc::<Euclidean>(&[4.0, 6.0, 3.0]);
        assert_eq!(a.len(), Euclidean::encoded_len(3));
        let d = Euclidean::distance(&a, &b);
        assert_eq!(d, 25.0);
        assert_eq!(Euclidean::user_distance(d, 3), 5.0);
        assert_eq!(Euclidean::distance(&a, &a), 0.0);
    }

    #[test]
    fn roundtrip_and_errors() {
        let v = [0.5, -1.25, 1e30, -0.0];
        assert_eq!(Euclidean::decode(&enc::<Euclidean>(&v), 4).unwrap(), v);
        let mut out = vec![7];
        for (bad, index) in [(f32::NAN, 0), (f32::INFINITY, 1), (f32::NEG_INFINITY, 2)] {
            let mut v = vec![1.0; 3];
            v[index] = bad;
            assert_eq!(
                Euclidean::encode(&v, &mut out),
                Err(VectorError::NonFinite { index })
            );
        }
        assert_eq!(out, vec![7]);
        assert_eq!(
            Euclidean::decode(&[0; 5], 1),
            Err(VectorError::WrongLength {
                expected: 4,
                found: 5
            })
        );
    }

    #[test]
    fn zero_dimensions_and_nan_bytes() {
        let e = enc::<Euclidean>(&[]);
        assert!(e.is_empty());
        assert_eq!(Euclidean::distance(&e, &e), 0.0);
        assert_eq!(Euclidean::user_distance(0.0, 0), 0.0);
        let a = nan_bytes(3);
        assert_eq!(
            Euclidean::distance(&a, &enc::<Euclidean>(&[1.0; 3])),
            f32::INFINITY
        );
    }
}
