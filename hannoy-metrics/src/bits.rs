//! The bit codec shared by [`Hamming`](crate::Hamming) and the binary-quantized
//! metrics.
//!
//! Component `i` becomes bit `i % 64` (least significant first) of word
//! `i / 64`; words are `u64` written little-endian, so byte `j` holds
//! components `8j..8j + 8` with component `8j + k` in bit `k`. The encoding
//! takes `ceil(d / 64) * 8` bytes and the padding bits of the last word are zero.

use crate::VectorError;
use crate::error::check_len;

/// Bytes of `dimensions` packed bits: whole `u64` words.
#[inline]
pub(crate) const fn packed_len(dimensions: usize) -> usize {
    dimensions.div_ceil(64) * 8
}

/// Appends the bits `bit(x)` of every component of `vector`, packed into words.
pub(crate) fn pack(vector: &[f32], bit: impl Fn(f32) -> bool, out: &mut Vec<u8>) {
    out.reserve(packed_len(vector.len()));
    for chunk in vector.chunks(64) {
        let mut word = 0u64;
        for (k, &x) in chunk.iter().enumerate() {
            word |= u64::from(bit(x)) << k;
        }
        out.extend_from_slice(&word.to_le_bytes());
    }
}

/// Unpacks exactly `dimensions` bits, mapping each to `one` or `zero`.
pub(crate) fn unpack(
    encoded: &[u8],
    dimensions: usize,
    zero: f32,
    one: f32,
) -> Result<Vec<f32>, VectorError> {
    check_len(encoded, packed_len(dimensions))?;
    Ok((0..dimensions)
        .map(|i| {
            if encoded[i / 8] >> (i % 8) & 1 == 1 {
                one
            } else {
                zero
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_lsb_first_little_endian_words() {
        let mut v = vec![0.0f32; 70];
        v[0] = 1.0;
        v[9] = 1.0;
        v[63] = 1.0;
        v[64] = 1.0;
        let mut out = Vec::new();
        pack(&v, |x| x == 1.0, &mut out);
        assert_eq!(out.len(), 16);
        let w0 = u64::from_le_bytes(out[..8].try_into().unwrap());
        let w1 = u64::from_le_bytes(out[8..].try_into().unwrap());
        assert_eq!(w0, 1 | 1 << 9 | 1 << 63);
        assert_eq!(w1, 1);
        assert_eq!(out[1], 0b10);
        assert_eq!(unpack(&out, 70, 0.0, 1.0).unwrap(), v);
    }

    #[test]
    fn lengths() {
        assert_eq!(packed_len(0), 0);
        assert_eq!(packed_len(1), 8);
        assert_eq!(packed_len(64), 8);
        assert_eq!(packed_len(65), 16);
        assert_eq!(
            unpack(&[0; 8], 65, 0.0, 1.0),
            Err(VectorError::WrongLength {
                expected: 16,
                found: 8
            })
        );
        assert_eq!(unpack(&[], 0, 0.0, 1.0).unwrap(), Vec::<f32>::new());
    }
}
