//! The fitted quantizer: validation, centring, rotation, and the hand-over to a scheme.

use std::borrow::Cow;
use std::sync::Arc;

use super::centres::{self, MAX_CENTRES};
use super::query::CentreTerms;
use super::rotation::Rotation;
use super::{CodeError, MAX_DIMENSIONS, QueryCode, QueryDigits, Scheme, Space, format};
use crate::VectorError;
use crate::error::check_finite;

/// A fitted quantizer: scheme, metric, dimensions, rotation seed, centre (mean), and
/// optionally several centres a code is taken from (see `centres.rs`).
#[derive(Clone, Debug, PartialEq)]
pub struct Quantizer {
    pub(super) scheme: Scheme,
    pub(super) space: Space,
    pub(super) dims: usize,
    pub(super) seed: u64,
    pub(super) mean: Vec<f32>,
    /// `k·dims` components when `k >= 2` centres: a code is then taken from its vector's
    /// nearest centre and names it in 2 bytes after the scheme's bytes. Empty: one centre,
    /// the mean.
    pub(super) centres: Arc<[f32]>,
    /// What a query combines with centre `i` (see [`CentreTerms`]): `cᵢ - mean` under
    /// Euclidean, the centres themselves (the same allocation) under dot and cosine; and
    /// its squared norm.
    basis: Arc<[f32]>,
    basis_norms: Arc<[f64]>,
    rotation: Rotation,
}

impl Quantizer {
    /// Fits the centre on `sample` (rows of `dims` `f32`; for cosine each row normalized
    /// first), summed in `f64` in row order (deterministic), and, where they pay, more
    /// centres (one per 128 rows, at most 256, none below 256 rows; kept when the vectors
    /// lie at least twice as close to them as to the mean, see
    /// [`Quantizer::fit_with_centres`]). `metric` is a
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
        Quantizer::fit_with_centres(scheme, metric, dims, seed, None, sample)
    }

    /// [`Quantizer::fit`] with `centres` centres (`None`: chosen from the sample's size).
    /// With 2 or more, each code is taken from its vector's nearest centre (k-means on up
    /// to 32 rows per centre of the sample, seeded by `seed`, the same bits on every
    /// instruction set) and names it in 2 more bytes: codes of clustered data far from its
    /// mean keep their precision for what tells neighbours apart. `Some(0)` and `Some(1)`
    /// give the mean alone; never more centres than rows.
    ///
    /// # Errors
    /// As [`Quantizer::fit`]; [`CodeError::DimensionMismatch`] for more than 65,536
    /// centres.
    ///
    /// ```
    /// use hannoy_metrics::codes::{Quantizer, Scheme};
    ///
    /// // Two tight clusters far apart.
    /// let rows: Vec<Vec<f32>> = (0..600)
    ///     .map(|i| vec![(i % 2) as f32 * 1000.0 + (i % 7) as f32 * 0.01, 1.0])
    ///     .collect();
    /// let q = Quantizer::fit_with_centres(
    ///     Scheme::Sq8, "euclidean", 2, 7, Some(2), rows.iter().map(|r| &r[..]),
    /// )?;
    /// assert_eq!(q.centres(), 2);
    /// let mut code = Vec::new();
    /// q.encode(&rows[3], &mut code)?;
    /// let back = q.decode(&code)?;
    /// assert!((back[0] - rows[3][0]).abs() < 0.001);
    /// # Ok::<(), hannoy_metrics::codes::CodeError>(())
    /// ```
    pub fn fit_with_centres<'a>(
        scheme: Scheme,
        metric: &str,
        dims: usize,
        seed: u64,
        centres: Option<usize>,
        sample: impl IntoIterator<Item = &'a [f32]>,
    ) -> Result<Quantizer, CodeError> {
        let space = Space::from_name(metric)?;
        if dims > MAX_DIMENSIONS {
            return Err(CodeError::DimensionMismatch {
                expected: MAX_DIMENSIONS,
                found: dims,
            });
        }
        if let Some(k) = centres.filter(|&k| k > MAX_CENTRES) {
            return Err(CodeError::DimensionMismatch {
                expected: MAX_CENTRES,
                found: k,
            });
        }
        let mut sum = vec![0.0f64; dims];
        let mut rows: Vec<&[f32]> = Vec::new();
        for row in sample {
            let checked = validated(space, dims, row)?;
            for (s, &x) in sum.iter_mut().zip(checked.iter()) {
                *s += f64::from(x);
            }
            rows.push(row);
        }
        let mean: Vec<f32> = sum
            .iter()
            .map(|&s| {
                if rows.is_empty() {
                    0.0
                } else {
                    (s / rows.len() as f64) as f32
                }
            })
            .collect();
        let k = centres
            .unwrap_or_else(|| centres::auto_count(rows.len()))
            .min(rows.len());
        let fitted = if k >= 2 {
            // At most SAMPLE_PER_CENTRE rows per centre, drawn by a seeded shuffle (a
            // stride could alias with a period of the rows' order).
            let picked = centres::sample(rows.len(), k * centres::SAMPLE_PER_CENTRE, seed);
            let mut flat = Vec::with_capacity(picked.len() * dims);
            for &row in &picked {
                flat.extend_from_slice(&validated(space, dims, rows[row])?);
            }
            let fitted = centres::fit(&flat, dims, k, seed);
            // Chosen by the fit: kept only where they pay (see `centres::pays`).
            match centres.is_some() || centres::pays(&flat, dims, &fitted, &mean) {
                true => fitted,
                false => Vec::new(),
            }
        } else {
            Vec::new()
        };
        Ok(Quantizer::from_parts(
            scheme, space, dims, seed, mean, fitted,
        ))
    }

    /// The quantizer of these parts (`mean` has `dims` finite components, `centres` none
    /// or at least 2 times `dims`).
    pub(super) fn from_parts(
        scheme: Scheme,
        space: Space,
        dims: usize,
        seed: u64,
        mean: Vec<f32>,
        centres: Vec<f32>,
    ) -> Self {
        let centres: Arc<[f32]> = centres.into();
        let basis: Arc<[f32]> = match space {
            Space::Euclidean => centres
                .chunks_exact(dims.max(1))
                .flat_map(|c| c.iter().zip(&mean).map(|(&c, &m)| c - m))
                .collect(),
            _ => Arc::clone(&centres),
        };
        let basis_norms = basis
            .chunks_exact(dims.max(1))
            .map(|w| w.iter().map(|&x| f64::from(x) * f64::from(x)).sum())
            .collect::<Vec<f64>>();
        Quantizer {
            scheme,
            space,
            dims,
            seed,
            mean,
            centres,
            basis,
            basis_norms: basis_norms.into(),
            rotation: Rotation::new(dims, seed),
        }
    }

    /// The number of centres codes are taken from (1: the mean alone).
    pub fn centres(&self) -> usize {
        (self.centres.len() / self.dims.max(1)).max(1)
    }

    /// Centre `i`'s components (`i < centres()` when there are several).
    fn centre(&self, i: usize) -> &[f32] {
        &self.centres[i * self.dims..(i + 1) * self.dims]
    }

    /// Bytes of the scheme's part of a code (all of it with one centre).
    fn scheme_len(&self) -> usize {
        self.scheme.code_len(self.rotation.padded())
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
        let id = if self.centres.is_empty() {
            0
        } else {
            centres::ID_LEN
        };
        self.scheme_len() + id
    }

    /// Validates `vector` (dims, finite, nonzero under cosine) and appends exactly
    /// [`code_len`](Quantizer::code_len) bytes to `out` (nothing appended on error).
    ///
    /// # Errors
    /// [`CodeError::DimensionMismatch`] or [`CodeError::Vector`], as for [`Quantizer::fit`].
    pub fn encode(&self, vector: &[f32], out: &mut Vec<u8>) -> Result<(), CodeError> {
        let x = validated(self.space, self.dims, vector)?;
        out.reserve(self.code_len());
        if self.centres.is_empty() {
            let cross = dot64(&x, &self.mean, |v, m| v - m) as f32;
            let x = self.transformed(x.into_owned(), &self.mean);
            self.scheme.encode(&x, cross, out);
            return Ok(());
        }
        let id = centres::nearest(&self.centres, self.dims, &x);
        let centre = self.centre(id);
        // The code's constant (see `query.rs`, `CentreTerms`): 2<u, cᵢ - mean> under
        // Euclidean, <u, mean> under dot and cosine, with u = x - cᵢ.
        let (scale, against) = match self.space {
            Space::Euclidean => (2.0, &self.basis[id * self.dims..(id + 1) * self.dims]),
            _ => (1.0, &self.mean[..]),
        };
        let cross = scale
            * x.iter()
                .zip(centre)
                .zip(against)
                .map(|((&v, &c), &a)| f64::from(v - c) * f64::from(a))
                .sum::<f64>();
        let cross = cross as f32;
        let u = self.transformed(x.into_owned(), centre);
        self.scheme.encode(&u, cross, out);
        // At most MAX_CENTRES centres: the index fits in a u16.
        out.extend_from_slice(&(id as u16).to_le_bytes());
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
        let (body, centre) = match self.centre_of(code) {
            Some((body, id)) => (body, self.centre(id)),
            None if self.centres.is_empty() => (code, &self.mean[..]),
            None => return Err(super::error::corrupted("a code names no centre")),
        };
        let mut v = vec![0.0; self.rotation.padded()];
        if !self.scheme.decode(body, &mut v) {
            return Err(CodeError::NotDecodable {
                scheme: self.scheme.name(),
            });
        }
        self.rotation.invert(&mut v);
        v.truncate(self.dims);
        for (x, &m) in v.iter_mut().zip(centre) {
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
        // v = q̃ - mean: rotated, the query the scheme prepares.
        let mut v = q_tilde.to_vec();
        for (x, &m) in v.iter_mut().zip(&self.mean) {
            *x -= m;
        }
        let centres = (!self.centres.is_empty()).then(|| {
            // The query's side of each centre's terms: v under Euclidean, q̃ under dot and
            // cosine.
            let query = match self.space {
                Space::Euclidean => v.clone(),
                _ => q_tilde.into_owned(),
            };
            CentreTerms::new(
                self.space,
                Arc::clone(&self.basis),
                Arc::clone(&self.basis_norms),
                query,
            )
        });
        let q = self.rotation.rotate(&v);
        let norm_sq: f64 = q.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        // Around the mean, a query far from its codes' centres may need finer levels.
        let digits = if self.centres.is_empty() {
            QueryDigits::One
        } else {
            self.scheme.digits_with_centres()
        };
        let prepared = self.scheme.prepare(&q, digits);
        Ok(QueryCode {
            arch: crate::kernels::arch(),
            space: self.space,
            code_len: self.code_len(),
            scheme_len: self.scheme_len(),
            norm_sq,
            norm: norm_sq.sqrt(),
            offset,
            centres,
            prepared,
        })
    }

    /// `R(x̃ - centre)` of a validated vector `x̃`.
    fn transformed(&self, mut x: Vec<f32>, centre: &[f32]) -> Vec<f32> {
        for (v, &m) in x.iter_mut().zip(centre) {
            *v -= m;
        }
        self.rotation.rotate(&x)
    }

    /// The scheme's part of a code of [`code_len`](Self::code_len) bytes and the centre it
    /// names, when the quantizer has several centres and the name is one of them.
    pub(super) fn centre_of<'c>(&self, code: &'c [u8]) -> Option<(&'c [u8], usize)> {
        if self.centres.is_empty() {
            return None;
        }
        centres::split_code(code, self.scheme_len(), self.centres())
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

/// `Σ f(aᵢ, bᵢ)·bᵢ` in `f64`, in component order.
fn dot64(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> f64) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f(f64::from(x), f64::from(y)) * f64::from(y))
        .sum()
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
