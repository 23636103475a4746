//! The Hamming metric on binary vectors.

use crate::bits::{pack, packed_len, unpack};
use crate::{Metric, VectorError, kernels};

/// Hamming distance between binary vectors, `"hamming"`.
///
/// * Input: every component must be exactly `0.0` or `1.0` (`-0.0` counts as
///   `0.0`); anything else is rejected with [`VectorError::NotBinary`] (NaN and
///   infinities with [`VectorError::NonFinite`]).
/// * Stored: one bit per component, packed least-significant-bit first into
///   `u64` words written little-endian: `ceil(d / 64) · 8` bytes, padding bits zero.
/// * Internal and user distance: the number of differing bits, as `f32`.
///   Smaller is closer.
/// * [`decode`](Metric::decode) returns `0.0`/`1.0` components.
/// * `d = 0`: zero bytes, distance `0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hamming;

impl Metric for Hamming {
    const NAME: &'static str = "hamming";

    fn encoded_len(dimensions: usize) -> usize {
        packed_len(dimensions)
    }

    fn encode(vector: &[f32], out: &mut Vec<u8>) -> Result<(), VectorError> {
        for (index, &value) in vector.iter().enumerate() {
            if !value.is_finite() {
                return Err(VectorError::NonFinite { index });
            }
            if value != 0.0 && value != 1.0 {
                return Err(VectorError::NotBinary { index, value });
            }
        }
        pack(vector, |x| x == 1.0, out);
        Ok(())
    }

    fn decode(encoded: &[u8], dimensions: usize) -> Result<Vec<f32>, VectorError> {
        unpack(encoded, dimensions, 0.0, 1.0)
    }

    #[inline]
    fn distance(a: &[u8], b: &[u8]) -> f32 {
        kernels::hamming(a, b) as f32
    }

    #[inline]
    fn user_distance(internal: f32, _dimensions: usize) -> f32 {
        internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::enc;

    #[test]
    fn known_answer() {
        let a = enc::<Hamming>(&[1.0, 0.0, 1.0, 1.0, 0.0]);
        let b = enc::<Hamming>(&[0.0, 0.0, 1.0, 0.0, 1.0]);
        assert_eq!(a.len(), 8);
        assert_eq!(a[0], 0b01101);
        assert_eq!(Hamming::distance(&a, &b), 3.0);
        assert_eq!(Hamming::user_distance(3.0, 5), 3.0);
        assert_eq!(Hamming::distance(&a, &a), 0.0);
    }

    #[test]
    fn long_vectors_use_every_word() {
        let a: Vec<f32> = (0..200).map(|i| (i % 3 == 0) as u8 as f32).collect();
        let b: Vec<f32> = (0..200).map(|i| (i % 2 == 0) as u8 as f32).collect();
        let expected = a.iter().zip(&b).filter(|(x, y)| x != y).count() as f32;
        let (ea, eb) = (enc::<Hamming>(&a), enc::<Hamming>(&b));
        assert_eq!(ea.len(), 32);
        assert_eq!(Hamming::distance(&ea, &eb), expected);
        assert_eq!(Hamming::decode(&ea, 200).unwrap(), a);
    }

    #[test]
    fn errors() {
        let mut out = vec![5];
        assert_eq!(
            Hamming::encode(&[1.0, 0.5], &mut out),
            Err(VectorError::NotBinary {
                index: 1,
                value: 0.5
            })
        );
        assert_eq!(
            Hamming::encode(&[0.0, 1.0, -1.0], &mut out),
            Err(VectorError::NotBinary {
                index: 2,
                value: -1.0
            })
        );
        assert_eq!(
            Hamming::encode(&[f32::NAN], &mut out),
            Err(VectorError::NonFinite { index: 0 })
        );
        assert_eq!(out, vec![5]);
        assert_eq!(
            Hamming::decode(&[0; 8], 65),
            Err(VectorError::WrongLength {
                expected: 16,
                found: 8
            })
        );
        assert!(Hamming::encode(&[-0.0], &mut out).is_ok());
    }

    #[test]
    fn zero_dimensions() {
        let e = enc::<Hamming>(&[]);
        assert!(e.is_empty());
        assert_eq!(Hamming::distance(&e, &e), 0.0);
        assert_eq!(Hamming::decode(&e, 0).unwrap(), Vec::<f32>::new());
    }
}
