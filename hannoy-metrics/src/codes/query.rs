//! A prepared query and the estimates it gives: the metric's distance and lower bound
//! from a scheme's estimate of `<x', q'>`.

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
    /// `‖q'‖²` and `‖q'‖`.
    pub(super) norm_sq: f64,
    pub(super) norm: f64,
    /// `<mean, q̃>` for dot and cosine (`q̃` normalized under cosine), 0 for Euclidean.
    pub(super) offset: f64,
    pub(super) prepared: Prepared,
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
        self.finish(self.prepared.inner_product(simd, code))
            .distance
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
        // Rounding of the stored f32 factors and of the f32 inputs, far above the rounding
        // of these f64 formulas.
        let slack = 1e-5 * ip.norm * self.norm + 1e-6 * (ip.error + ip.cross.abs());
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
