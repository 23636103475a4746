//! The cosine metric, with the norm stored next to the components.

use crate::error::{check_finite, check_len};
use crate::kernels::{self, Simd, simd};
use crate::raw::{append_raw, raw_len, read_raw};
use crate::{Metric, VectorError};

/// Bytes of the norm trailer.
const TRAILER: usize = 4;

/// Cosine distance, `"cosine"`.
///
/// * Stored: the `d` components as little-endian `f32` followed by a 4-byte
///   little-endian `f32` trailer holding the vector's L2 norm (`4·d + 4`
///   bytes). The trailer is at the end so the components keep the alignment of
///   the start of the stored value. The norm is computed in `f64` and rounded once.
/// * Internal distance: `1 - a·b / (‖a‖·‖b‖)`, one dot-product kernel call plus
///   the two stored norms (combined in `f64`), clamped to `[0, 2]` so rounding
///   never gives a negative distance.
/// * User distance: the same `1 - cos`, in `[0, 2]`. Smaller is closer.
/// * The zero vector has no direction: [`encode`](Metric::encode) rejects it
///   with [`VectorError::ZeroNorm`], so `d = 0` cannot be encoded either.
///
/// A stored norm that is nevertheless zero, negative, NaN or infinite (corrupt
/// or legacy data) makes the distance `1.0`, as if the vectors were orthogonal:
/// never `0`, never NaN. If the dot product itself overflows `f32` (components
/// beyond about `1e19`) the distance is `f32::INFINITY`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cosine;

/// Splits an encoded vector into its components and its stored norm; a value
/// too short to hold the trailer has no components and norm zero.
#[inline(always)]
fn split(encoded: &[u8]) -> (&[u8], f32) {
    match encoded.len().checked_sub(TRAILER) {
        Some(n) => {
            let (components, norm) = encoded.split_at(n);
            (
                components,
                f32::from_le_bytes([norm[0], norm[1], norm[2], norm[3]]),
            )
        }
        None => (&[], 0.0),
    }
}

/// The components of an encoded vector (nothing when it is too short for the trailer).
#[inline(always)]
fn components(encoded: &[u8]) -> &[u8] {
    split(encoded).0
}

/// The stored norm of an encoded vector (zero when it is too short for the trailer).
#[inline(always)]
fn norm(encoded: &[u8]) -> f32 {
    split(encoded).1
}

/// `1 - dot / (norm_a · norm_b)` with the corner cases documented on [`Cosine`].
#[inline(always)]
pub(crate) fn cosine_distance(dot: f32, norm_a: f32, norm_b: f32) -> f32 {
    let denominator = f64::from(norm_a) * f64::from(norm_b);
    if !(denominator > 0.0 && denominator.is_finite()) {
        return 1.0;
    }
    let distance = 1.0 - f64::from(dot) / denominator;
    if distance.is_finite() {
        distance.clamp(0.0, 2.0) as f32
    } else {
        f32::INFINITY
    }
}

impl Metric for Cosine {
    const NAME: &'static str = "cosine";

    fn encoded_len(dimensions: usize) -> usize {
        raw_len(dimensions) + TRAILER
    }

    fn encode(vector: &[f32], out: &mut Vec<u8>) -> Result<(), VectorError> {
        check_finite(vector)?;
        let norm = vector
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            return Err(VectorError::ZeroNorm);
        }
        out.reserve(Self::encoded_len(vector.len()));
        append_raw(vector, out);
        out.extend_from_slice(&(norm as f32).to_le_bytes());
        Ok(())
    }

    fn decode(encoded: &[u8], dimensions: usize) -> Result<Vec<f32>, VectorError> {
        check_len(encoded, Self::encoded_len(dimensions))?;
        Ok(read_raw(&encoded[..raw_len(dimensions)]))
    }

    #[inline]
    fn distance(a: &[u8], b: &[u8]) -> f32 {
        // The dot product streams the components first; the norms are read after it, when
        // the stored vector's last cache line (which holds its norm) has arrived with the
        // rest, instead of a demand miss on that line before the kernel starts.
        let dot = kernels::dot(components(a), components(b));
        cosine_distance(dot, norm(a), norm(b))
    }

    #[inline(always)]
    fn distance_in<S: Simd>(simd: S, a: &[u8], b: &[u8]) -> f32 {
        let dot = simd::dot(simd, components(a), components(b));
        cosine_distance(dot, norm(a), norm(b))
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
    fn known_answers() {
        let x = enc::<Cosine>(&[1.0, 0.0]);
        let y = enc::<Cosine>(&[0.0, 3.0]);
        let neg = enc::<Cosine>(&[-2.0, 0.0]);
        let diag = enc::<Cosine>(&[1.0, 1.0]);
        assert_eq!(Cosine::distance(&x, &x), 0.0);
        assert_eq!(Cosine::distance(&x, &y), 1.0);
        assert_eq!(Cosine::distance(&x, &neg), 2.0);
        let d = Cosine::distance(&x, &diag);
        assert!(
            (d - (1.0 - std::f32::consts::FRAC_1_SQRT_2)).abs() < 1e-6,
            "{d}"
        );
        assert_eq!(Cosine::user_distance(d, 2), d);
        // Scale invariance: exactly zero for a multiple of itself.
        let v = enc::<Cosine>(&[3.0, 4.0]);
        let w = enc::<Cosine>(&[6.0, 8.0]);
        assert_eq!(Cosine::distance(&v, &w), 0.0);
    }

    #[test]
    fn layout_has_norm_trailer() {
        let e = enc::<Cosine>(&[3.0, 4.0]);
        assert_eq!(e.len(), Cosine::encoded_len(2));
        assert_eq!(e.len(), 12);
        assert_eq!(&e[8..], &5.0f32.to_le_bytes());
        assert_eq!(Cosine::decode(&e, 2).unwrap(), vec![3.0, 4.0]);
        assert_eq!(
            Cosine::decode(&e[..8], 2),
            Err(VectorError::WrongLength {
                expected: 12,
                found: 8
            })
        );
    }

    #[test]
    fn errors_leave_output_alone() {
        let mut out = vec![1];
        assert_eq!(
            Cosine::encode(&[0.0, -0.0], &mut out),
            Err(VectorError::ZeroNorm)
        );
        assert_eq!(Cosine::encode(&[], &mut out), Err(VectorError::ZeroNorm));
        assert_eq!(
            Cosine::encode(&[1.0, f32::NEG_INFINITY], &mut out),
            Err(VectorError::NonFinite { index: 1 })
        );
        assert_eq!(out, vec![1]);
        // The tiniest subnormal still has a direction.
        assert!(Cosine::encode(&[f32::from_bits(1)], &mut out).is_ok());
    }

    #[test]
    fn zero_norm_trailer_is_orthogonal_and_never_nan() {
        let good = enc::<Cosine>(&[1.0, 2.0]);
        let mut corrupt = good.clone();
        corrupt[8..].copy_from_slice(&0.0f32.to_le_bytes());
        assert_eq!(Cosine::distance(&good, &corrupt), 1.0);
        assert_eq!(Cosine::distance(&corrupt, &corrupt), 1.0);
        corrupt[8..].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(Cosine::distance(&good, &corrupt), 1.0);
        // Too short to even hold a trailer.
        assert_eq!(Cosine::distance(&[1, 2], &good), 1.0);
        assert_eq!(Cosine::distance(&[], &[]), 1.0);
    }

    #[test]
    fn nan_components_sort_last() {
        let mut a = nan_bytes(2);
        a.extend_from_slice(&1.0f32.to_le_bytes());
        let b = enc::<Cosine>(&[1.0, 1.0]);
        assert_eq!(Cosine::distance(&a, &b), f32::INFINITY);
    }

    #[test]
    fn rounding_never_goes_negative() {
        let v = [0.1f32, 0.2, 0.3, 0.7, 1e-3, 123.0];
        let e = enc::<Cosine>(&v);
        let d = Cosine::distance(&e, &e);
        assert!((0.0..1e-6).contains(&d), "{d}");
        assert_eq!(cosine_distance(1.0 + 1e-7, 1.0, 1.0), 0.0);
        assert_eq!(cosine_distance(-1.5, 1.0, 1.0), 2.0);
        assert_eq!(cosine_distance(f32::INFINITY, 1.0, 1.0), f32::INFINITY);
    }
}
