//! Compact vector codes: a few bits per component, compared with a prepared query
//! without decoding, for a fast first pass that full-precision vectors then re-rank.
//!
//! A [`Quantizer`] is fitted once per index (its centre is the mean of a sample), stored
//! with [`Quantizer::to_bytes`], and writes one code per vector with
//! [`Quantizer::encode`]. A search prepares its query once with [`Quantizer::prepare`]
//! and asks the [`QueryCode`] for the [`Estimate`] of each code.
//!
//! # Transform
//!
//! Every vector `x` (normalized first under cosine) is centred on the quantizer's mean and
//! rotated: `x' = R(x - mean)`, with `R` a seeded randomized Hadamard rotation of
//! `D` = `dims` rounded up to a multiple of 64 (see `rotation.rs` for why and how).
//! Centring makes codes of non-normalized data (or data far from the origin) as precise as
//! codes of centred data; the rotation spreads the energy over all components. The query is
//! centred and rotated the same way, `q' = R(q - mean)`, for every metric:
//!
//! * Euclidean: `‖x - q‖² = ‖x'‖² + ‖q'‖² - 2<x', q'>`;
//! * dot and cosine: `<x, q> = <x', q'> + <x - mean, mean> + <mean, q>`, where the second
//!   term is one exact number per code (stored with it) and the third one per query.
//!
//! (Comparing `R(x - mean)` with an uncentred `R(q)` would also be exact, since
//! `<x, q> = <x - mean, q> + <mean, q>`, but then the query's own quantization steps span
//! its offset `mean`, not its spread: on data far from the origin, as normalized embeddings
//! are, the estimates were an order of magnitude worse in our tests; the stored term costs
//! four bytes.) Every scheme therefore estimates the same quantity, `<x', q'>`, with an
//! error bound; this module turns it into the metric's internal distance and a lower bound.
//!
//! # Schemes
//!
//! | Scheme | Name | Bytes per code (`D` padded) | Kernel | Bound |
//! |--------|------|-----------------------------|--------|-------|
//! | [`Scheme::Sq8`] | `sq8` | `D + 20` (404 for 384 dims) | `Σ cᵢuᵢ`, `u8·u8` in `u32` | always valid, loose |
//! | [`Scheme::RaBitQ1`] | `rabitq1` | `D/8 + 16` (64 for 384 dims) | bit planes · popcount | RaBitQ's, `ε₀ = 1.9` (≈ 94 %) |
//!
//! The layouts and formulas are documented in `sq8.rs` and `rabitq.rs`. Integer kernels
//! are exact and the float corrections run in a fixed scalar order, so an estimate is the
//! same bits on every instruction set.
//!
//! Adding a scheme is one file implementing the internal `Codec` trait, one [`Scheme`]
//! variant and one prepared-query variant.

mod error;
mod format;
pub mod kernels;
mod rabitq;
mod rotation;
mod sq8;

use std::fmt;
use std::str::FromStr;

use pulp::{Arch, Simd, WithSimd};

pub use error::CodeError;
pub use rabitq::{EPSILON_0, QUERY_BOUND};

use crate::error::check_finite;
use crate::{Cosine, DotProduct, Euclidean, Metric, VectorError};
use rabitq::{RaBitQ1, RaBitQQuery};
use rotation::Rotation;
use sq8::{Sq8, Sq8Query};

/// The largest number of dimensions a quantizer accepts.
pub const MAX_DIMENSIONS: usize = 65_536;

/// Which code a quantizer writes. Stable names, stored on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// 8 bits per rotated component plus 16 bytes of factors, `"sq8"`.
    Sq8,
    /// RaBitQ, 1 bit per rotated component plus 16 bytes of factors, `"rabitq1"`.
    RaBitQ1,
}

impl Scheme {
    /// Every scheme, in a stable order.
    pub const ALL: &'static [Scheme] = &[Scheme::Sq8, Scheme::RaBitQ1];

    /// The stable lower-case name: `"sq8"` or `"rabitq1"`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sq8 => "sq8",
            Scheme::RaBitQ1 => "rabitq1",
        }
    }

    /// The scheme called `name` (exactly as [`Scheme::name`] spells it), if any.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// Bytes of one code of `padded` rotated components.
    fn code_len(self, padded: usize) -> usize {
        match self {
            Scheme::Sq8 => Sq8::code_len(padded),
            Scheme::RaBitQ1 => RaBitQ1::code_len(padded),
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = CodeError;

    fn from_str(name: &str) -> Result<Scheme, CodeError> {
        Scheme::from_name(name).ok_or_else(|| CodeError::UnknownScheme { name: name.into() })
    }
}

/// One code scheme: how a rotated centred vector becomes bytes, and how a prepared query
/// estimates `<x', q'>` from them.
pub(crate) trait Codec {
    /// The query in the form the scheme compares against.
    type Query: Clone + fmt::Debug + Send + Sync;

    /// Bytes of one code of `padded` rotated components.
    fn code_len(padded: usize) -> usize;

    /// Appends exactly `code_len(x.len())` bytes: the code of `x'` (finite components),
    /// with `cross = <x - mean, mean>` stored as a little-endian `f32` among its factors.
    fn encode(x: &[f32], cross: f32, out: &mut Vec<u8>);

    /// Prepares the rotated centred query `q'`.
    fn prepare(q: &[f32]) -> Self::Query;

    /// The estimate of `<x', q'>` from a code of exactly `code_len` bytes. Corrupt factors
    /// may give any value, NaN included (the caller maps it); never a panic.
    fn inner_product<S: Simd>(simd: S, query: &Self::Query, code: &[u8]) -> InnerProduct;
}

/// What a scheme knows about `<x', q'>` from one code.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InnerProduct {
    /// The estimate of `<x', q'>`.
    value: f64,
    /// A bound on `|value - <x', q'>|` (see each scheme for its confidence).
    error: f64,
    /// `‖x'‖`, as stored in the code.
    norm: f64,
    /// `<x - mean, mean>`, as stored in the code.
    cross: f64,
}

/// The little-endian `f32` at `at` (NaN when out of range, which the callers' length
/// checks exclude).
#[inline(always)]
pub(crate) fn le_f32(bytes: &[u8], at: usize) -> f32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(f32::NAN, f32::from_le_bytes)
}

/// The little-endian `u32` at `at` (0 when out of range).
#[inline(always)]
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The metrics that take codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Space {
    /// Squared L2.
    Euclidean,
    /// `1 - cos`.
    Cosine,
    /// `-<x, q>`.
    Dot,
}

impl Space {
    /// The space of the metric called `name`.
    pub(crate) fn from_name(name: &str) -> Result<Space, CodeError> {
        match name {
            Euclidean::NAME => Ok(Space::Euclidean),
            Cosine::NAME => Ok(Space::Cosine),
            DotProduct::NAME => Ok(Space::Dot),
            _ => Err(CodeError::UnsupportedMetric {
                metric: name.into(),
            }),
        }
    }

    /// The metric's [`Metric::NAME`].
    pub(crate) fn name(self) -> &'static str {
        match self {
            Space::Euclidean => Euclidean::NAME,
            Space::Cosine => Cosine::NAME,
            Space::Dot => DotProduct::NAME,
        }
    }
}

/// Estimated internal distance of one stored code to the query, in the metric's internal
/// units (Euclidean: squared L2; Cosine: `1 - cos`, not clamped; Dot: `-<x, q>`), never NaN
/// (NaN becomes `+inf`), with a lower bound on the true internal distance.
///
/// `lower <= distance` always. For [`Scheme::Sq8`] `lower` is a worst-case bound, valid for
/// every input (loose); for [`Scheme::RaBitQ1`] it is the paper's bound with
/// [`EPSILON_0`], which holds with probability about 94 % per code (see `rabitq.rs`).
/// A code of the wrong length gives `+inf` for both.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The estimated internal distance.
    pub distance: f32,
    /// A lower bound on the true internal distance (never above `distance`).
    pub lower: f32,
}

/// A fitted quantizer: scheme, metric, dimensions, rotation seed, centre (mean).
#[derive(Clone, Debug, PartialEq)]
pub struct Quantizer {
    scheme: Scheme,
    space: Space,
    dims: usize,
    seed: u64,
    mean: Vec<f32>,
    rotation: Rotation,
}

impl Quantizer {
    /// Fits the centre on `sample` (rows of `dims` `f32`; for cosine each row normalized
    /// first), summed in `f64` in row order (deterministic). `metric` is a
    /// [`Metric::NAME`]. An empty sample gives a zero centre.
    ///
    /// # Errors
    /// [`CodeError::UnsupportedMetric`] for a metric other than `euclidean`, `cosine` or
    /// `dot`; [`CodeError::DimensionMismatch`] for `dims > MAX_DIMENSIONS` or a row of
    /// another length; [`CodeError::Vector`] for a row with a NaN or infinite component or,
    /// under cosine, the zero vector.
    pub fn fit<'a>(
        scheme: Scheme,
        metric: &str,
        dims: usize,
        seed: u64,
        sample: impl IntoIterator<Item = &'a [f32]>,
    ) -> Result<Quantizer, CodeError> {
        let space = Space::from_name(metric)?;
        if dims > MAX_DIMENSIONS {
            return Err(CodeError::DimensionMismatch {
                expected: MAX_DIMENSIONS,
                found: dims,
            });
        }
        let mut sum = vec![0.0f64; dims];
        let mut rows = 0usize;
        for row in sample {
            let row = validated(space, dims, row)?;
            for (s, &x) in sum.iter_mut().zip(row.iter()) {
                *s += f64::from(x);
            }
            rows += 1;
        }
        let mean = sum
            .iter()
            .map(|&s| {
                if rows == 0 {
                    0.0
                } else {
                    (s / rows as f64) as f32
                }
            })
            .collect();
        Ok(Quantizer::from_parts(scheme, space, dims, seed, mean))
    }

    /// The quantizer of these parts (`mean` has `dims` finite components).
    fn from_parts(scheme: Scheme, space: Space, dims: usize, seed: u64, mean: Vec<f32>) -> Self {
        Quantizer {
            scheme,
            space,
            dims,
            seed,
            mean,
            rotation: Rotation::new(dims, seed),
        }
    }

    /// The scheme of the codes.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The [`Metric::NAME`] the quantizer was fitted for.
    pub fn metric(&self) -> &'static str {
        self.space.name()
    }

    /// Dimensions of the vectors it encodes.
    pub fn dimensions(&self) -> usize {
        self.dims
    }

    /// The seed of the rotation.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The centre subtracted before rotating (`dimensions()` components).
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Bytes of one code, everything included (codes + per-vector factors).
    pub fn code_len(&self) -> usize {
        self.scheme.code_len(self.rotation.padded())
    }

    /// Validates `vector` (dims, finite, nonzero under cosine) and appends exactly
    /// [`code_len`](Quantizer::code_len) bytes to `out` (nothing appended on error).
    ///
    /// # Errors
    /// [`CodeError::DimensionMismatch`] or [`CodeError::Vector`], as for [`Quantizer::fit`].
    pub fn encode(&self, vector: &[f32], out: &mut Vec<u8>) -> Result<(), CodeError> {
        let x = validated(self.space, self.dims, vector)?;
        let cross = x
            .iter()
            .zip(&self.mean)
            .map(|(&v, &m)| (f64::from(v) - f64::from(m)) * f64::from(m))
            .sum::<f64>() as f32;
        let x = self.transformed(x.into_owned());
        out.reserve(self.code_len());
        match self.scheme {
            Scheme::Sq8 => Sq8::encode(&x, cross, out),
            Scheme::RaBitQ1 => RaBitQ1::encode(&x, cross, out),
        }
        Ok(())
    }

    /// The query prepared once (rotated, centred, quantized); reused for every code. The
    /// instruction set of its kernels is chosen here ([`crate::kernels::arch`]).
    ///
    /// # Errors
    /// [`CodeError::DimensionMismatch`] or [`CodeError::Vector`], as for [`Quantizer::encode`].
    pub fn prepare(&self, query: &[f32]) -> Result<QueryCode, CodeError> {
        let q_tilde = validated(self.space, self.dims, query)?;
        // <mean, q̃> for dot and cosine: the part of <x, q> the centred codes leave out.
        let offset = if self.space == Space::Euclidean {
            0.0
        } else {
            self.mean
                .iter()
                .zip(q_tilde.iter())
                .map(|(&m, &v)| f64::from(m) * f64::from(v))
                .sum()
        };
        let q = self.transformed(q_tilde.into_owned());
        let norm_sq: f64 = q.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let prepared = match self.scheme {
            Scheme::Sq8 => Prepared::Sq8(Sq8::prepare(&q)),
            Scheme::RaBitQ1 => Prepared::RaBitQ1(RaBitQ1::prepare(&q)),
        };
        Ok(QueryCode {
            arch: crate::kernels::arch(),
            space: self.space,
            code_len: self.code_len(),
            norm_sq,
            norm: norm_sq.sqrt(),
            offset,
            prepared,
        })
    }

    /// `R(x̃ - mean)` of a validated vector `x̃`.
    fn transformed(&self, mut x: Vec<f32>) -> Vec<f32> {
        for (v, &m) in x.iter_mut().zip(&self.mean) {
            *v -= m;
        }
        self.rotation.rotate(&x)
    }

    /// Serialized form (little-endian, versioned, self-describing: scheme name, metric,
    /// dims, seed, mean); see `format.rs` for the layout.
    pub fn to_bytes(&self) -> Vec<u8> {
        format::write(self)
    }

    /// The strict decoder of [`Quantizer::to_bytes`]: every length and number checked,
    /// never a panic.
    ///
    /// # Errors
    /// [`CodeError::Corrupted`] on anything off (bad magic, unknown format version, wrong
    /// length, trailing bytes, more than [`MAX_DIMENSIONS`], a non-finite mean);
    /// [`CodeError::UnknownScheme`] / [`CodeError::UnsupportedMetric`] for a well-formed name
    /// this version does not know.
    pub fn from_bytes(bytes: &[u8]) -> Result<Quantizer, CodeError> {
        format::read(bytes)
    }
}

/// `vector` checked (length, finite, nonzero under cosine) and normalized under cosine.
fn validated(
    space: Space,
    dims: usize,
    vector: &[f32],
) -> Result<std::borrow::Cow<'_, [f32]>, CodeError> {
    if vector.len() != dims {
        return Err(CodeError::DimensionMismatch {
            expected: dims,
            found: vector.len(),
        });
    }
    check_finite(vector)?;
    if space != Space::Cosine {
        return Ok(vector.into());
    }
    let norm = vector
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 {
        return Err(VectorError::ZeroNorm.into());
    }
    Ok(vector
        .iter()
        .map(|&x| (f64::from(x) / norm) as f32)
        .collect::<Vec<_>>()
        .into())
}

/// The scheme-specific part of a prepared query.
#[derive(Clone, Debug)]
enum Prepared {
    Sq8(Sq8Query),
    RaBitQ1(RaBitQQuery),
}

/// A prepared query: compare it with any number of codes. `Send + Sync`; the SIMD kernel
/// was chosen when it was prepared.
#[derive(Clone, Debug)]
pub struct QueryCode {
    arch: Arch,
    space: Space,
    code_len: usize,
    /// `‖q'‖²` and `‖q'‖`.
    norm_sq: f64,
    norm: f64,
    /// `<mean, q̃>` for dot and cosine (`q̃` normalized under cosine), 0 for Euclidean.
    offset: f64,
    prepared: Prepared,
}

// The graph shares prepared queries between search threads.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<QueryCode>();
    shared::<Quantizer>();
};

/// One estimate, run under the instruction set captured at prepare time.
struct EstimateCall<'a> {
    query: &'a QueryCode,
    code: &'a [u8],
}

impl WithSimd for EstimateCall<'_> {
    type Output = InnerProduct;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> InnerProduct {
        match &self.query.prepared {
            Prepared::Sq8(q) => Sq8::inner_product(simd, q, self.code),
            Prepared::RaBitQ1(q) => RaBitQ1::inner_product(simd, q, self.code),
        }
    }
}

impl QueryCode {
    /// Estimated distance to a stored code (any bytes: a code of the wrong length gives
    /// `+inf`, corrupt factors some finite value or `+inf`; never a panic, never NaN).
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        self.estimate(code).distance
    }

    /// The [`Estimate`] (distance and lower bound) of a stored code; same guarantees as
    /// [`QueryCode::distance`].
    #[inline]
    pub fn estimate(&self, code: &[u8]) -> Estimate {
        if code.len() != self.code_len {
            return Estimate {
                distance: f32::INFINITY,
                lower: f32::INFINITY,
            };
        }
        let ip = self.arch.dispatch(EstimateCall { query: self, code });
        self.finish(ip)
    }

    /// The metric's internal distance and lower bound from an estimate of `<x', q'>`.
    #[inline(always)]
    fn finish(&self, ip: InnerProduct) -> Estimate {
        // Rounding of the stored f32 factors and of the formulas, far above f64's and f32's.
        let slack = 1e-5 * ip.norm * self.norm + 1e-6 * ip.error;
        let error = ip.error + slack;
        let (distance, lower) = match self.space {
            Space::Euclidean => {
                let d = ip.norm * ip.norm + self.norm_sq - 2.0 * ip.value;
                let slack = 1e-6 * (ip.norm * ip.norm + self.norm_sq);
                (d, d - 2.0 * error - slack)
            }
            Space::Cosine => {
                let d = 1.0 - (ip.value + ip.cross + self.offset);
                (d, d - error - 1e-6)
            }
            Space::Dot => {
                let d = -(ip.value + ip.cross + self.offset);
                (d, d - error - 1e-6 * self.offset.abs())
            }
        };
        if distance.is_nan() {
            // Corrupt factors: sort last (and never pruned as "too far" wrongly: no true
            // distance exists).
            return Estimate {
                distance: f32::INFINITY,
                lower: f32::INFINITY,
            };
        }
        // Squared L2 and 1 - cos are never negative; the estimate of squared L2 is clamped
        // too (the cosine estimate is not, as documented).
        let floor = match self.space {
            Space::Euclidean | Space::Cosine => 0.0,
            Space::Dot => f64::NEG_INFINITY,
        };
        let distance = match self.space {
            Space::Euclidean => distance.max(0.0),
            _ => distance,
        } as f32;
        let lower = if lower.is_nan() {
            f32::NEG_INFINITY
        } else {
            (lower.max(floor) as f32).min(distance)
        };
        Estimate { distance, lower }
    }
}

#[cfg(test)]
mod tests;
