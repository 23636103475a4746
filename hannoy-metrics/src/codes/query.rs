//! A prepared query and the estimates it gives: the metric's distance and lower bound
//! from a scheme's estimate of `<x', q'>`.

use std::sync::{Arc, OnceLock};

use pulp::{Arch, Simd, WithSimd};

use super::{InnerProduct, Prepared, Space};

/// Estimated internal distance of one stored code to the query, in the metric's internal
/// units (Euclidean: squared L2; Cosine: `1 - cos`, not clamped; Dot: `-<x, q>`), never NaN
/// (NaN becomes `+inf`), with a lower bound on the true internal distance.
///
/// `lower <= distance` always. For [`Scheme::Sq8`](super::Scheme::Sq8) `lower` is a
/// worst-case bound, valid for every input (loose); for the RaBitQ schemes
/// ([`Scheme::RaBitQ1`](super::Scheme::RaBitQ1) and the extended ones) it is the paper's
/// bound with
/// [`EPSILON_0`](super::EPSILON_0), which holds with probability about 94 % per code (see
/// `rabitq.rs`). A code of the wrong length, or with factors that make the estimate NaN,
/// gives `+inf` for both.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The estimated internal distance.
    pub distance: f32,
    /// A lower bound on the true internal distance (never above `distance`).
    pub lower: f32,
}

/// A prepared query: compare it with any number of codes. `Send + Sync`; the SIMD kernel
/// was chosen when it was prepared.
#[derive(Clone, Debug)]
pub struct QueryCode {
    /// The instruction set of the kernels, captured once.
    pub(super) arch: Arch,
    pub(super) space: Space,
    pub(super) code_len: usize,
    /// Bytes of the scheme's part of a code (`code_len` less the centre's name).
    pub(super) scheme_len: usize,
    /// `‖q'‖²` and `‖q'‖`.
    pub(super) norm_sq: f64,
    pub(super) norm: f64,
    /// `<mean, q̃>` for dot and cosine (`q̃` normalized under cosine), 0 for Euclidean.
    pub(super) offset: f64,
    /// The per-centre terms, when the quantizer has several centres.
    pub(super) centres: Option<CentreTerms>,
    pub(super) prepared: Prepared,
}

/// A query's terms for each centre `i` of a quantizer with several, computed on first use
/// (a walk meets a few of them).
///
/// A code of `x` taken from centre `cᵢ` holds `u' = R(x - cᵢ)`; the query is prepared
/// once, `q' = R(q̃ - mean)`, and the scheme estimates `<u', q'>`. With `u = x - cᵢ`,
/// `v = q̃ - mean`, `wᵢ = cᵢ - mean`:
///
/// * Euclidean: `‖x - q̃‖² = ‖u‖² + ‖v‖² - 2<u, v> + 2<u, wᵢ> + (‖wᵢ‖² - 2<v, wᵢ>)`: the
///   code stores `2<u, wᵢ>`, the term here is `‖wᵢ‖² - 2<v, wᵢ>`;
/// * dot and cosine: `<x, q̃> = <u, v> + <u, mean> + <cᵢ, q̃>`: the code stores
///   `<u, mean>`, the term here is `<cᵢ, q̃>`.
///
/// Terms come from the fixed-order `f32` kernel, the same bits on every instruction set.
#[derive(Clone, Debug)]
pub(super) struct CentreTerms {
    space: Space,
    /// `wᵢ` (Euclidean) or `cᵢ`, flat.
    basis: Arc<[f32]>,
    /// `‖wᵢ‖²` or `‖cᵢ‖²` (`f64`, exact enough to need no bound of its own).
    norms: Arc<[f64]>,
    /// `v` (Euclidean) or `q̃`, and its norm.
    query: Vec<f32>,
    query_norm: f64,
    /// Each centre's term and the bound on its rounding, once computed.
    terms: Box<[OnceLock<(f64, f64)>]>,
}

impl CentreTerms {
    pub(super) fn new(space: Space, basis: Arc<[f32]>, norms: Arc<[f64]>, query: Vec<f32>) -> Self {
        let terms = (0..norms.len()).map(|_| OnceLock::new()).collect();
        let query_norm = query
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        CentreTerms {
            space,
            basis,
            norms,
            query,
            query_norm,
            terms,
        }
    }

    /// The term of centre `i` (`i` below the centre count) and a bound on its rounding
    /// error.
    #[inline(always)]
    fn term(&self, i: usize) -> (f64, f64) {
        *self.terms[i].get_or_init(|| self.compute(i))
    }

    /// The term of centre `i`: one fixed-order `f32` kernel call (the same bits on every
    /// instruction set), whose rounding is bounded by `2⁻¹⁶·‖a‖·‖b‖` at any dimension this
    /// crate takes (the kernel's partial sums keep the relative error near `√D·2⁻²⁴`).
    #[cold]
    fn compute(&self, i: usize) -> (f64, f64) {
        let dims = self.query.len();
        let b = &self.basis[i * dims..(i + 1) * dims];
        let product = f64::from(crate::kernels::dot_f32(&self.query, b));
        let rounding = self.query_norm * self.norms[i].sqrt() * (1.0 / 65536.0);
        match self.space {
            Space::Euclidean => (self.norms[i] - 2.0 * product, 2.0 * rounding),
            _ => (product, rounding),
        }
    }
}

// The graph shares prepared queries between search threads.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<QueryCode>();
    shared::<super::Quantizer>();
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
        self.query.prepared.inner_product(simd, self.code)
    }
}

impl QueryCode {
    /// Estimated distance to a stored code (any bytes: a code of the wrong length gives
    /// `+inf`, corrupt factors some finite value or `+inf`; never a panic, never NaN).
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        self.estimate(code).distance
    }

    /// [`QueryCode::distance`] inside a caller's own dispatch on `simd` (a search loop
    /// that dispatches once, see [`crate::kernels::arch`]); the same bits.
    #[inline(always)]
    pub fn distance_in<S: Simd>(&self, simd: S, code: &[u8]) -> f32 {
        if code.len() != self.code_len {
            return f32::INFINITY;
        }
        let Some((body, centre)) = self.split(code) else {
            return f32::INFINITY;
        };
        self.finish(self.prepared.inner_product(simd, body), centre)
            .distance
    }

    /// The scheme's part of a code of the right length and the centre it names (`None`:
    /// the quantizer has one centre), or `None` for a name past the centres (corrupt).
    #[inline(always)]
    fn split<'c>(&self, code: &'c [u8]) -> Option<(&'c [u8], Option<usize>)> {
        let Some(terms) = &self.centres else {
            return Some((code, None));
        };
        let (body, id) = super::centres::split_code(code, self.scheme_len, terms.terms.len())?;
        Some((body, Some(id)))
    }

    /// The [`Estimate`] (distance and lower bound) of a stored code; same guarantees as
    /// [`QueryCode::distance`].
    #[inline]
    pub fn estimate(&self, code: &[u8]) -> Estimate {
        let unusable = Estimate {
            distance: f32::INFINITY,
            lower: f32::INFINITY,
        };
        if code.len() != self.code_len {
            return unusable;
        }
        let Some((body, centre)) = self.split(code) else {
            return unusable;
        };
        let ip = self.arch.dispatch(EstimateCall {
            query: self,
            code: body,
        });
        self.finish(ip, centre)
    }

    /// The metric's internal distance and lower bound from an estimate of `<x', q'>` (or,
    /// with several centres, `<u', q'>` of a code taken from centre `centre`).
    #[inline(always)]
    fn finish(&self, ip: InnerProduct, centre: Option<usize>) -> Estimate {
        // Rounding of the stored f32 factors and of the f32 inputs, far above the rounding
        // of these f64 formulas.
        let slack = 1e-5 * ip.norm * self.norm + 1e-6 * (ip.error + ip.cross.abs());
        let error = ip.error + slack;
        // The centre's terms (see `CentreTerms`); their own rounding is bounded like the
        // rest, relative to their size.
        let (offset, centre_slack) = match (centre, &self.centres) {
            (Some(i), Some(terms)) => {
                let (term, rounding) = terms.term(i);
                let shifted = match self.space {
                    Space::Euclidean => ip.cross + term,
                    _ => term,
                };
                (shifted, rounding + 1e-5 * ip.cross.abs())
            }
            // 0 under Euclidean: with one centre, the stored constant is not used there.
            _ => (self.offset, 0.0),
        };
        let (distance, lower) = match self.space {
            Space::Euclidean => {
                let d = ip.norm * ip.norm + self.norm_sq - 2.0 * ip.value + offset;
                let slack = 1e-6 * (ip.norm * ip.norm + self.norm_sq);
                (d, d - 2.0 * error - slack - centre_slack)
            }
            Space::Cosine => {
                let d = 1.0 - (ip.value + ip.cross + offset);
                (d, d - error - 1e-6 - centre_slack)
            }
            Space::Dot => {
                let d = -(ip.value + ip.cross + offset);
                (d, d - error - 1e-6 * offset.abs() - centre_slack)
            }
        };
        if distance.is_nan() {
            // Only corrupt factors get here: the code sorts last.
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
