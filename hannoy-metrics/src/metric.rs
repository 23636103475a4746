//! The [`Metric`] trait every distance of the index implements.

use crate::VectorError;

/// A distance function together with the byte encoding of the vectors it compares.
///
/// The index stores each vector as the bytes [`encode`](Metric::encode)
/// produces and compares stored vectors with [`distance`](Metric::distance),
/// directly on those bytes (read from memory-mapped pages, so without any
/// alignment guarantee). [`distance`](Metric::distance) is the *internal*
/// distance, chosen to be cheap and to rank neighbours correctly;
/// [`user_distance`](Metric::user_distance) converts it into the value shown
/// to users (for example the square root of the squared Euclidean distance).
///
/// Implementations are zero-sized unit structs; see the crate documentation for
/// the table of metrics.
pub trait Metric: Copy + Default + std::fmt::Debug + Send + Sync + 'static {
    /// Stable lower-case name stored in index metadata, e.g. "cosine". Never changes once released.
    const NAME: &'static str;

    /// User-facing distance: true when a smaller value means closer (document per metric; all ours are true).
    const SMALLER_IS_CLOSER: bool = true;

    /// Bytes an encoded vector of `dimensions` components occupies.
    fn encoded_len(dimensions: usize) -> usize;

    /// Validates `vector` and appends its encoding (exactly encoded_len(vector.len()) bytes) to `out`.
    ///
    /// # Errors
    /// Any NaN/±inf component gives [`VectorError::NonFinite`] with the index
    /// of the first one; metrics add their own checks (cosine rejects the zero
    /// vector with [`VectorError::ZeroNorm`], Hamming rejects components other
    /// than `0.0`/`1.0` with [`VectorError::NotBinary`]). On error `out` is left as it was.
    fn encode(vector: &[f32], out: &mut Vec<u8>) -> Result<(), VectorError>;

    /// Decodes a stored vector of `dimensions` components (quantized metrics
    /// return their reconstruction: ±1.0 or 0/1).
    ///
    /// # Errors
    /// [`VectorError::WrongLength`] when `encoded` is not exactly
    /// [`encoded_len(dimensions)`](Metric::encoded_len) bytes long.
    fn decode(encoded: &[u8], dimensions: usize) -> Result<Vec<f32>, VectorError>;

    /// Internal distance between two encoded vectors: smaller is closer, never
    /// NaN (a NaN is mapped to `f32::INFINITY` so a poisoned value sorts last),
    /// cheap (the HNSW hot path).
    ///
    /// Both operands should have the same length; when they do not, only their
    /// common prefix is compared (never a panic nor an out-of-bounds read).
    fn distance(a: &[u8], b: &[u8]) -> f32;

    /// [`distance`](Metric::distance) with the kernels of the instruction set `simd` stands
    /// for, inlined: for a loop of many distances run once under
    /// [`kernels::arch`](crate::kernels::arch)`().dispatch(..)` (a search, once per query)
    /// instead of dispatching per call. The same bits as `distance` when `S` is the
    /// dispatched instruction set (every kernel follows [`crate::kernels::order`]). The
    /// default calls `distance`.
    #[inline(always)]
    fn distance_in<S: crate::kernels::Simd>(simd: S, a: &[u8], b: &[u8]) -> f32 {
        let _ = simd;
        Self::distance(a, b)
    }

    /// Converts an internal distance into the user-facing value.
    fn user_distance(internal: f32, dimensions: usize) -> f32;
}

/// Maps NaN to `f32::INFINITY`, so that a poisoned distance sorts last.
#[inline(always)]
pub(crate) fn not_nan(distance: f32) -> f32 {
    if distance.is_nan() {
        f32::INFINITY
    } else {
        distance
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{self, Simd, WithSimd};
    use crate::test_util::enc;
    use crate::{Cosine, DotProduct, Euclidean, Manhattan};

    /// `M::distance_in` run under one dispatch, as a search runs it.
    struct Dispatched<'a, M> {
        a: &'a [u8],
        b: &'a [u8],
        metric: std::marker::PhantomData<M>,
    }

    impl<M: Metric> WithSimd for Dispatched<'_, M> {
        type Output = f32;

        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> f32 {
            M::distance_in(simd, self.a, self.b)
        }
    }

    /// `distance_in` under the dispatched instruction set is `distance`, bit for bit, for
    /// every length and tail and at unaligned offsets.
    fn same_bits<M: Metric>() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 40.0
        };
        for len in [1, 2, 15, 16, 17, 63, 64, 65, 100, 384, 385] {
            let x: Vec<f32> = (0..len).map(|_| next()).collect();
            let y: Vec<f32> = (0..len).map(|_| next()).collect();
            let (x, y) = (enc::<M>(&x), enc::<M>(&y));
            for offset in [0, 1, 3, 4] {
                let mut shifted = vec![0u8; offset];
                shifted.extend_from_slice(&y);
                let (a, b) = (&x[..], &shifted[offset..]);
                let dispatched = kernels::arch().dispatch(Dispatched::<M> {
                    a,
                    b,
                    metric: std::marker::PhantomData,
                });
                assert_eq!(
                    dispatched.to_bits(),
                    M::distance(a, b).to_bits(),
                    "{} len {len} offset {offset}",
                    M::NAME
                );
            }
        }
    }

    #[test]
    fn distance_in_is_distance() {
        same_bits::<Euclidean>();
        same_bits::<Cosine>();
        same_bits::<DotProduct>();
        same_bits::<Manhattan>();
    }
}
