//! Distance metrics and vector codecs for the hannoy vector index.
//!
//! A [`Metric`] says how a vector is stored (its byte encoding, read back
//! straight from memory-mapped pages with no alignment guarantee) and how two
//! stored vectors are compared. The comparison runs on the encoded bytes with
//! SIMD kernels (AVX-512, AVX2 + FMA or NEON, chosen once at run time; see
//! [`kernels`] and [`simd_level`]). Everything in this crate is safe code.
//!
//! ```
//! use hannoy_metrics::{Euclidean, Metric};
//!
//! let mut a = Vec::new();
//! let mut b = Vec::new();
//! Euclidean::encode(&[1.0, 2.0, 3.0], &mut a)?;
//! Euclidean::encode(&[4.0, 6.0, 3.0], &mut b)?;
//!
//! let internal = Euclidean::distance(&a, &b); // squared L2: cheap, same ranking
//! assert_eq!(internal, 25.0);
//! assert_eq!(Euclidean::user_distance(internal, 3), 5.0);
//! assert_eq!(Euclidean::decode(&a, 3)?, vec![1.0, 2.0, 3.0]);
//! # Ok::<(), hannoy_metrics::VectorError>(())
//! ```
//!
//! # Metrics
//!
//! For `d` dimensions, with `h` the number of differing bits. Every metric is
//! "smaller is closer", for both the internal and the user value.
//!
//! | Type | Name | Stored bytes | Internal distance | User value |
//! |------|------|--------------|-------------------|------------|
//! | [`Euclidean`] | `euclidean` | `4d` | `Σ (aᵢ-bᵢ)²` | `√internal` (L2) |
//! | [`Cosine`] | `cosine` | `4d + 4` (norm trailer) | `1 - a·b / (‖a‖‖b‖)` | same, in `[0, 2]` |
//! | [`DotProduct`] | `dot` | `4d` | `-a·b` | same (inner-product search, not a metric space) |
//! | [`Manhattan`] | `manhattan` | `4d` | `Σ \|aᵢ-bᵢ\|` | same |
//! | [`Hamming`] | `hamming` | `⌈d/64⌉·8` | `h` | same |
//! | [`BinaryQuantizedCosine`] | `bq_cosine` | `⌈d/64⌉·8` | `h` | `2h/d` (0 if `d = 0`) |
//! | [`BinaryQuantizedEuclidean`] | `bq_euclidean` | `⌈d/64⌉·8` | `h` | `2√h` |
//! | [`BinaryQuantizedManhattan`] | `bq_manhattan` | `⌈d/64⌉·8` | `h` | `2h` |
//!
//! Full-precision encodings are the components as little-endian `f32`; bit
//! encodings pack one bit per component, least-significant bit first, into
//! little-endian `u64` words. [`Metric::distance`] never returns NaN: a NaN
//! result (only possible from corrupt bytes) becomes `f32::INFINITY`.
//!
//! # Compact codes
//!
//! The [`codes`] module writes a few bits per component (8 with [`Scheme::Sq8`], 1, 2 or 4
//! with [`Scheme::RaBitQ1`], [`Scheme::RaBitQ2`], [`Scheme::RaBitQ4`]) after centring and a
//! random rotation, and estimates the metric's
//! internal distance from them with integer kernels, with a lower bound: a first pass that
//! exact distances on the full vectors then re-rank. Euclidean, cosine and dot take codes.
//!
//! ```
//! use hannoy_metrics::{Cosine, Metric, Quantizer, Scheme};
//!
//! // 100 pseudo-random rows of 32 components.
//! let component = |k: u64| {
//!     let z = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
//!     let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
//!     let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
//!     (z >> 40) as f32 / 16_777_216.0
//! };
//! let rows: Vec<Vec<f32>> = (0..100u64)
//!     .map(|i| (0..32).map(|j| component(32 * i + j + 1) + 0.5).collect())
//!     .collect();
//! let quantizer = Quantizer::fit(Scheme::Sq8, Cosine::NAME, 32, 42, rows.iter().map(Vec::as_slice))?;
//! let mut codes = Vec::new();
//! for row in &rows {
//!     quantizer.encode(row, &mut codes)?;
//! }
//! let query = quantizer.prepare(&rows[17])?;
//! let nearest = codes
//!     .chunks_exact(quantizer.code_len())
//!     .map(|code| query.distance(code))
//!     .enumerate()
//!     .min_by(|a, b| a.1.total_cmp(&b.1))
//!     .map(|(i, _)| i);
//! assert_eq!(nearest, Some(17));
//!
//! // The quantizer is stored next to the index and read back exactly.
//! assert_eq!(Quantizer::from_bytes(&quantizer.to_bytes())?, quantizer);
//! # Ok::<(), hannoy_metrics::CodeError>(())
//! ```

// Safe code only, but for the one prefetch hint in `prefetch.rs`.
#![deny(unsafe_code)]

mod binary_quantized;
mod bits;
pub mod codes;
mod cosine;
mod dot_product;
mod error;
mod euclidean;
mod hamming;
pub mod kernels;
mod manhattan;
mod metric;
mod prefetch;
mod raw;

pub use binary_quantized::{
    BinaryQuantizedCosine, BinaryQuantizedEuclidean, BinaryQuantizedManhattan,
};
pub use codes::{CodeError, Estimate, Quantizer, QueryCode, Scheme};
pub use cosine::Cosine;
pub use dot_product::DotProduct;
pub use error::VectorError;
pub use euclidean::Euclidean;
pub use hamming::Hamming;
pub use kernels::{SimdLevel, simd_level};
pub use manhattan::Manhattan;
pub use metric::Metric;
pub use prefetch::prefetch;

#[cfg(test)]
mod test_util {
    use crate::Metric;

    /// Encodes `v` with `M`, panicking on error.
    pub(crate) fn enc<M: Metric>(v: &[f32]) -> Vec<u8> {
        let mut out = Vec::new();
        M::encode(v, &mut out).unwrap();
        assert_eq!(out.len(), M::encoded_len(v.len()));
        out
    }

    /// `n` little-endian NaN components, which no encoder produces.
    pub(crate) fn nan_bytes(n: usize) -> Vec<u8> {
        (0..n).flat_map(|_| f32::NAN.to_le_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_distinct() {
        let names = [
            Euclidean::NAME,
            Cosine::NAME,
            DotProduct::NAME,
            Manhattan::NAME,
            Hamming::NAME,
            BinaryQuantizedCosine::NAME,
            BinaryQuantizedEuclidean::NAME,
            BinaryQuantizedManhattan::NAME,
        ];
        assert_eq!(
            names,
            [
                "euclidean",
                "cosine",
                "dot",
                "manhattan",
                "hamming",
                "bq_cosine",
                "bq_euclidean",
                "bq_manhattan"
            ]
        );
    }

    // Every metric of this crate ranks "smaller is closer" (checked at compile time).
    const _: () = assert!(
        Euclidean::SMALLER_IS_CLOSER
            && Cosine::SMALLER_IS_CLOSER
            && DotProduct::SMALLER_IS_CLOSER
            && Manhattan::SMALLER_IS_CLOSER
            && Hamming::SMALLER_IS_CLOSER
            && BinaryQuantizedCosine::SMALLER_IS_CLOSER
            && BinaryQuantizedEuclidean::SMALLER_IS_CLOSER
            && BinaryQuantizedManhattan::SMALLER_IS_CLOSER
    );

    #[test]
    fn distances_work_on_unaligned_bytes() {
        let v: Vec<f32> = (0..37).map(|i| i as f32 * 0.25 - 3.0).collect();
        let w: Vec<f32> = (0..37).map(|i| (i % 5) as f32).collect();
        let mut a = vec![0u8; 3];
        let mut b = vec![0u8; 1];
        Cosine::encode(&v, &mut a).unwrap();
        Cosine::encode(&w, &mut b).unwrap();
        let aligned = (test_util::enc::<Cosine>(&v), test_util::enc::<Cosine>(&w));
        assert_eq!(
            Cosine::distance(&a[3..], &b[1..]),
            Cosine::distance(&aligned.0, &aligned.1)
        );
    }
}
