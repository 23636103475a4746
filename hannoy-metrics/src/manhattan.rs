//! The Manhattan (L1) metric.

use crate::kernels::{self, Simd, simd};
use crate::metric::not_nan;
use crate::raw::{decode_raw, encode_raw, raw_len};
use crate::{Metric, VectorError};

/// Manhattan distance, `"manhattan"`.
///
/// * Stored: the `d` components as little-endian `f32` (`4·d` bytes).
/// * Internal and user distance: `Σ |aᵢ - bᵢ|`. Smaller is closer.
/// * `d = 0`: zero bytes, distance `0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Manhattan;

impl Metric for Manhattan {
    const NAME: &'static str = "manhattan";

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
        not_nan(kernels::l1(a, b))
    }

    #[inline(always)]
    fn distance_in<S: Simd>(simd: S, a: &[u8], b: &[u8]) -> f32 {
        not_nan(simd::l1(simd, a, b))
    }

    #[inline]
    fn user_distance(internal: f32, _dimensions: usize) -> f32 {
        internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{enc, nan_bytes};

    #[test]
    fn known_answer() {
        let a = enc::<Manhattan>(&[1.0, 2.0, 3.0]);
        let b = enc::<Manhattan>(&[4.0, -6.0, 3.0]);
        assert_eq!(Manhattan::distance(&a, &b), 11.0);
        assert_eq!(Manhattan::user_distance(11.0, 3), 11.0);
    }

    #[test]
    fn roundtrip_and_errors() {
        let v = [1.0, 2.0, -3.0];
        assert_eq!(Manhattan::decode(&enc::<Manhattan>(&v), 3).unwrap(), v);
        assert_eq!(
            Manhattan::encode(&[f32::INFINITY], &mut Vec::new()),
            Err(VectorError::NonFinite { index: 0 })
        );
        assert_eq!(
            Manhattan::decode(&[0; 3], 1),
            Err(VectorError::WrongLength {
                expected: 4,
                found: 3
            })
        );
    }

    #[test]
    fn zero_dimensions_and_nan_bytes() {
        assert_eq!(Manhattan::distance(&[], &[]), 0.0);
        let a = nan_bytes(5);
        assert_eq!(
            Manhattan::distance(&a, &enc::<Manhattan>(&[0.0; 5])),
            f32::INFINITY
        );
    }
}
