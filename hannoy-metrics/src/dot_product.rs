//! The (negated) dot product, for maximum-inner-product search.

use crate::kernels::{self, Simd, simd};
use crate::metric::not_nan;
use crate::raw::{decode_raw, encode_raw, raw_len};
use crate::{Metric, VectorError};

/// Negated inner product, `"dot"`: maximum-inner-product search.
///
/// * Stored: the `d` components as little-endian `f32` (`4·d` bytes).
/// * Internal distance: `-Σ aᵢ·bᵢ`, so that a larger inner product is closer.
/// * User distance: the same `-Σ aᵢ·bᵢ`. Smaller is closer.
/// * `d = 0`: zero bytes, distance `-0.0`.
///
/// This is **not a metric space**: the value can be negative, a vector is not
/// necessarily its own nearest neighbour, and the triangle inequality does not
/// hold, so graph search quality depends on the data (it is exact ranking by
/// inner product, e.g. for embeddings trained for it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DotProduct;

impl Metric for DotProduct {
    const NAME: &'static str = "dot";

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
        not_nan(-kernels::dot(a, b))
    }

    #[inline(always)]
    fn distance_in<S: Simd>(simd: S, a: &[u8], b: &[u8]) -> f32 {
        not_nan(-simd::dot(simd, a, b))
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
        let a = enc::<DotProduct>(&[1.0, 2.0, 3.0]);
        let b = enc::<DotProduct>(&[4.0, -5.0, 6.0]);
        assert_eq!(DotProduct::distance(&a, &b), -12.0);
        assert_eq!(DotProduct::user_distance(-12.0, 3), -12.0);
        // A longer vector in the same direction is "closer" than the vector itself.
        let c = enc::<DotProduct>(&[2.0, 4.0, 6.0]);
        assert!(DotProduct::distance(&a, &c) < DotProduct::distance(&a, &a));
    }

    #[test]
    fn roundtrip_and_errors() {
        let v = [3.5, -1.0];
        assert_eq!(DotProduct::decode(&enc::<DotProduct>(&v), 2).unwrap(), v);
        let mut out = Vec::new();
        assert_eq!(
            DotProduct::encode(&[1.0, f32::NAN], &mut out),
            Err(VectorError::NonFinite { index: 1 })
        );
        assert!(out.is_empty());
        assert_eq!(
            DotProduct::decode(&[0; 4], 2),
            Err(VectorError::WrongLength {
                expected: 8,
                found: 4
            })
        );
    }

    #[test]
    fn zero_dimensions_and_nan_bytes() {
        assert_eq!(DotProduct::distance(&[], &[]), 0.0);
        let a = nan_bytes(2);
        assert_eq!(DotProduct::distance(&a, &a), f32::INFINITY);
    }
}
