//! The fitted quantizer: validation, centring, rotation, and the hand-over to a scheme.

use std::borrow::Cow;

use super::rotation::Rotation;
use super::{CodeError, MAX_DIMENSIONS, QueryCode, Scheme, Space, format};
use crate::VectorError;
use crate::error::check_finite;

/// A fitted quantizer: scheme, metric, dimensions, rotation seed, centre (mean).
#[derive(Clone, Debug, PartialEq)]
pub struct Quantizer {
    pub(super) scheme: Scheme,
    pub(super) space: Space,
    pub(super) dims: usize,
    pub(super) seed: u64,
    pub(super) mean: Vec<f32>,
    rotation: Rotation,
}

impl Quantizer {
    /// Fits the centre on `sample` (rows of `dims` `f32`; for cosine each row normalized
    /// first), summed in `f64` in row order (deterministic). `metric` is a
    /// [`Metric::NAME`](crate::Metric::NAME). An empty sample gives a zero centre.
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
    pub(super) fn from_parts(
        scheme: Scheme,
        space: Space,
        dims: usize,
        seed: u64,
        mean: Vec<f32>,
    ) -> Self {
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

    /// The [`Metric::NAME`](crate::Metric::NAME) the quantizer was fitted for.
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
        self.scheme.encode(&x, cross, out);
        Ok(())
    }

    /// The vector a code of this quantizer stands for, `R⁻¹(x̂') + mean` (under cosine,
    /// of the normalized vector): what a codes-only index has in place of the vector.
    ///
    /// # Errors
    /// [`CodeError::NotDecodable`] for a scheme that keeps too little of the vector (only
    /// `sq8` decodes); [`CodeError::Corrupted`] for a code of another length or one that
    /// decodes to a NaN or infinite component.
    ///
    /// ```
    /// use hannoy_metrics::codes::{Quantizer, Scheme};
    ///
    /// let rows: Vec<Vec<f32>> = (0..8).map(|i| vec![i as f32, 1.0, -2.0]).collect();
    /// let q = Quantizer::fit(Scheme::Sq8, "euclidean", 3, 7, rows.iter().map(|r| &r[..]))?;
    /// let mut code = Vec::new();
    /// q.encode(&rows[5], &mut code)?;
    /// let back = q.decode(&code)?;
    /// assert!(back.iter().zip(&rows[5]).all(|(a, b)| (a - b).abs() < 0.05));
    /// # Ok::<(), hannoy_metrics::codes::CodeError>(())
    /// ```
    pub fn decode(&self, code: &[u8]) -> Result<Vec<f32>, CodeError> {
        if code.len() != self.code_len() {
            return Err(super::error::corrupted(format!(
                "a code of {} bytes where {} were expected",
                code.len(),
                self.code_len()
            )));
        }
        let mut v = vec![0.0; self.rotation.padded()];
        if !self.scheme.decode(code, &mut v) {
            return Err(CodeError::NotDecodable {
                scheme: self.scheme.name(),
            });
        }
        self.rotation.invert(&mut v);
        v.truncate(self.dims);
        for (x, &m) in v.iter_mut().zip(&self.mean) {
            *x += m;
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(super::error::corrupted(
                "a code decodes to a non-finite value",
            ));
        }
        Ok(v)
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
        let prepared = self.scheme.prepare(&q);
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
    /// [`CodeError::Corrupted`] on anything off, naming what: bad magic, unknown format
    /// version, wrong length, trailing bytes, more than [`MAX_DIMENSIONS`], a non-finite
    /// mean, a scheme or metric name this build does not know.
    pub fn from_bytes(bytes: &[u8]) -> Result<Quantizer, CodeError> {
        format::read(bytes)
    }
}

/// `vector` checked (length, finite, nonzero under cosine) and normalized under cosine.
fn validated(space: Space, dims: usize, vector: &[f32]) -> Result<Cow<'_, [f32]>, CodeError> {
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
