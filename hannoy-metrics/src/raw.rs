//! The raw codec shared by the full-precision metrics: each component as a
//! little-endian `f32`, in order, with nothing else.

use crate::VectorError;
use crate::error::{check_finite, check_len};

/// Bytes of `dimensions` raw components.
#[inline]
pub(crate) const fn raw_len(dimensions: usize) -> usize {
    dimensions * 4
}

/// Checks that every component is finite, then appends them as little-endian `f32`.
pub(crate) fn encode_raw(vector: &[f32], out: &mut Vec<u8>) -> Result<(), VectorError> {
    check_finite(vector)?;
    append_raw(vector, out);
    Ok(())
}

/// Appends the components as little-endian `f32` without validation.
pub(crate) fn append_raw(vector: &[f32], out: &mut Vec<u8>) {
    out.reserve(raw_len(vector.len()));
    for x in vector {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Decodes exactly `dimensions` little-endian `f32` components.
pub(crate) fn decode_raw(encoded: &[u8], dimensions: usize) -> Result<Vec<f32>, VectorError> {
    check_len(encoded, raw_len(dimensions))?;
    Ok(read_raw(encoded))
}

/// Reads every whole little-endian `f32` of `bytes`.
pub(crate) fn read_raw(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_layout() {
        let mut out = vec![9u8];
        encode_raw(&[1.0, -2.5], &mut out).unwrap();
        assert_eq!(out.len(), 1 + raw_len(2));
        assert_eq!(&out[1..5], &1.0f32.to_le_bytes());
        assert_eq!(decode_raw(&out[1..], 2).unwrap(), vec![1.0, -2.5]);
        assert_eq!(
            decode_raw(&out[1..], 3),
            Err(VectorError::WrongLength {
                expected: 12,
                found: 8
            })
        );
    }

    #[test]
    fn rejects_non_finite_and_leaves_output_alone() {
        let mut out = vec![1, 2, 3];
        assert_eq!(
            encode_raw(&[0.0, 1.0, f32::NEG_INFINITY], &mut out),
            Err(VectorError::NonFinite { index: 2 })
        );
        assert_eq!(out, vec![1, 2, 3]);
    }
}
