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
//! # Several centres
//!
//! On data made of tight clusters far from the mean, one centre leaves each code's steps
//! spanning its cluster's offset. A quantizer may then keep several centres (`centres.rs`:
//! k-means, kept where they pay): a code of `x` is taken from its nearest centre `cᵢ`,
//! `u' = R(x - cᵢ)`, and names `i` in 2 more bytes; the query is still prepared once
//! around the mean, and each centre adds one exact term per query, computed on first use
//! (`query.rs`, `CentreTerms`). The query's own quantization error then remains, in
//! proportion to its distance from the mean.
//!
//! # Schemes
//!
//! | Scheme | Name | Bytes per code (`D` padded) | Kernel | Bound |
//! |--------|------|-----------------------------|--------|-------|
//! | [`Scheme::Sq8`] | `sq8` | `D + 20` (404 for 384 dims) | `Σ cᵢuᵢ`, `u8·u8` in `u32` | always valid, loose |
//! | [`Scheme::RaBitQ1`] | `rabitq1` | `D/8 + 16` (64 for 384 dims) | bit planes · popcount | RaBitQ's, `ε₀ = 1.9` (≈ 94 %) |
//! | [`Scheme::RaBitQ2`] | `rabitq2` | `D/4 + 20` (116 for 384 dims) | 2 × bit planes · popcount | same, `<ō, o>` of the 2-bit grid |
//! | [`Scheme::RaBitQ4`] | `rabitq4` | `D/2 + 20` (212 for 384 dims) | 4 × bit planes · popcount | same, `<ō, o>` of the 4-bit grid |
//!
//! The layouts and formulas are documented in `sq8.rs`, `rabitq.rs` and `rabitq_ext.rs`.
//! Integer kernels are exact and the float corrections run in a fixed scalar order, so an
//! estimate is the same bits on every instruction set.
//!
//! Measured on 98 000 MiniLM embeddings of 384 dimensions under cosine (1000 queries,
//! brute force; `tests/codes.rs`, `real_data`): recall@10 of "the `R` best estimates,
//! re-ranked by the exact distance" for `R` = 10 / 20 / 40 / 100 was
//! 0.995 / 1.0 / 1.0 / 1.0 for `sq8`, 0.756 / 0.924 / 0.981 / 0.997 for `rabitq1`,
//! 0.864 / 0.988 / 0.999 / 1.0 for `rabitq2` and 0.941 / 1.0 / 1.0 / 1.0 for `rabitq4`.
//!
//! Adding a scheme is one file implementing the internal `Codec` trait and one line in the
//! `schemes!` list of this file (its variant, stable name and codec).

mod centres;
mod error;
mod format;
pub mod kernels;
mod quantizer;
mod query;
mod rabitq;
mod rabitq_ext;
mod rotation;
mod scale_sweep;
mod sq8;

use std::fmt;
use std::str::FromStr;

use pulp::Simd;

pub use centres::MAX_CENTRES;
pub use error::CodeError;
pub use quantizer::Quantizer;
pub use query::{Estimate, QueryCode};
pub use rabitq::{EPSILON_0, QUERY_BOUND};

use crate::{Cosine, DotProduct, Euclidean, Metric};
use rabitq::RaBitQ1;
use rabitq_ext::RaBitQExt;
use sq8::Sq8;

/// The largest number of dimensions a quantizer accepts.
pub const MAX_DIMENSIONS: usize = 65_536;

/// Lists every scheme once: its [`Scheme`] variant (with its documentation), its stable
/// name and the [`Codec`] that implements it. Generates [`Scheme`], the prepared-query
/// enum and the dispatch between them, so a new scheme is one file and one line here.
macro_rules! schemes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal => $codec:ty,)+) => {
        /// Which code a quantizer writes. Stable names, stored on disk.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Scheme {
            $($(#[$doc])* $variant,)+
        }

        impl Scheme {
            /// Every scheme, in a stable order.
            pub const ALL: &'static [Scheme] = &[$(Scheme::$variant),+];

            /// The stable lower-case name, e.g. `"sq8"`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Scheme::$variant => $name,)+
                }
            }

            /// Bytes of one code of `padded` rotated components.
            fn code_len(self, padded: usize) -> usize {
                match self {
                    $(Scheme::$variant => <$codec>::code_len(padded),)+
                }
            }

            /// Appends the code of the rotated centred `x`.
            fn encode(self, x: &[f32], cross: f32, out: &mut Vec<u8>) {
                match self {
                    $(Scheme::$variant => <$codec>::encode(x, cross, out),)+
                }
            }

            /// Whether a code of this scheme can stand in for its vector
            /// ([`Quantizer::decode`]): what a codes-only index needs.
            pub fn decodes(self) -> bool {
                match self {
                    $(Scheme::$variant => <$codec>::DECODES,)+
                }
            }

            /// Writes the rotated centred vector `code` approximates into `out`, if the
            /// scheme can.
            fn decode(self, code: &[u8], out: &mut [f32]) -> bool {
                match self {
                    $(Scheme::$variant => <$codec>::decode(code, out),)+
                }
            }

            /// The digits of a query around the mean of a quantizer with several centres
            /// (see [`QueryDigits`]).
            fn digits_with_centres(self) -> QueryDigits {
                match self {
                    $(Scheme::$variant => <$codec>::DIGITS_WITH_CENTRES,)+
                }
            }

            /// Prepares the rotated centred query `q` with `digits` digits.
            fn prepare(self, q: &[f32], digits: QueryDigits) -> Prepared {
                match self {
                    $(Scheme::$variant => Prepared::$variant(<$codec>::prepare(q, digits)),)+
                }
            }
        }

        /// The scheme-specific part of a prepared query.
        #[derive(Clone, Debug)]
        enum Prepared {
            $($variant(<$codec as Codec>::Query),)+
        }

        impl Prepared {
            /// The scheme's estimate of `<x', q'>` from `code`.
            #[inline(always)]
            fn inner_product<S: Simd>(&self, simd: S, code: &[u8]) -> InnerProduct {
                match self {
                    $(Prepared::$variant(q) => <$codec>::inner_product(simd, q, code),)+
                }
            }
        }
    };
}

schemes! {
    /// 8 bits per rotated component plus 20 bytes of factors, `"sq8"` (see `sq8.rs`).
    Sq8 = "sq8" => Sq8,
    /// RaBitQ, 1 bit per rotated component plus 16 bytes of factors, `"rabitq1"` (see
    /// `rabitq.rs`).
    RaBitQ1 = "rabitq1" => RaBitQ1,
    /// Extended RaBitQ, 2 bits per rotated component plus 20 bytes, `"rabitq2"` (see
    /// `rabitq_ext.rs`).
    RaBitQ2 = "rabitq2" => RaBitQExt<2>,
    /// Extended RaBitQ, 4 bits per rotated component plus 20 bytes, `"rabitq4"` (see
    /// `rabitq_ext.rs`).
    RaBitQ4 = "rabitq4" => RaBitQExt<4>,
}

impl Scheme {
    /// The scheme called `name` (exactly as [`Scheme::name`] spells it), if any.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.iter().copied().find(|s| s.name() == name)
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

    /// The digits of a query prepared around the mean of a quantizer with several centres,
    /// far from the centres of the codes it meets (one centre: always [`QueryDigits::One`]).
    const DIGITS_WITH_CENTRES: QueryDigits;

    /// Prepares the rotated centred query `q'`, its levels written in `digits` digits.
    fn prepare(q: &[f32], digits: QueryDigits) -> Self::Query;

    /// Whether [`decode`](Self::decode) gives the vector back.
    const DECODES: bool = false;

    /// Writes the rotated centred vector that a code of exactly `code_len(out.len())` bytes
    /// stands for into `out` and returns true, or returns false when the scheme keeps too
    /// little to stand in for the vector (codes-only indexes need it). Corrupt factors may
    /// give any value; never a panic.
    fn decode(code: &[u8], out: &mut [f32]) -> bool {
        let _ = (code, out);
        false
    }

    /// The estimate of `<x', q'>` from a code of exactly `code_len` bytes. Corrupt factors
    /// may give any value, NaN included (the caller maps it); never a panic.
    fn inner_product<S: Simd>(simd: S, query: &Self::Query, code: &[u8]) -> InnerProduct;
}

/// How finely a query is quantized before it meets the codes. A scheme's query has levels
/// of a fixed width (its *digit*: 8 bits for SQ8, 4 for RaBitQ) that its integer kernel
/// takes; a query of two digits has twice the bits, written as a high and a low digit of
/// that width, and its products with a code are the kernel run once per digit, combined
/// exactly as `high · 2^width + low`.
///
/// Two digits make the query's rounding `2^width` times finer at the cost of a second
/// kernel pass per code. It pays when the query sits far from the centre its codes were
/// taken around and the code is fine enough for the query's rounding to matter: a quantizer
/// with several centres prepares the query around the mean, and on a 1M x 128 Euclidean
/// mixture sq8 recall@10 at ef 64 went from 0.767 to 0.798 (0.853 walking the f32
/// vectors); on a 28.5k x 384 one, at ef 32, sq8 from 0.938 to 0.957 (6 % fewer
/// queries/s), rabitq4 from 0.48 to 0.57, while rabitq1 kept 0.22 (its one-bit code is the
/// error) and lost 10 % of its queries/s. With one centre it does not pay (the same sq8
/// recall on `debian-minilm-384`, 15 % fewer queries/s). Each scheme says which it takes
/// with several centres (`Codec::DIGITS_WITH_CENTRES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueryDigits {
    /// One digit: the scheme's own query width.
    One,
    /// Two digits: twice the width.
    Two,
}

impl QueryDigits {
    /// The number of digits.
    pub(crate) fn count(self) -> usize {
        match self {
            QueryDigits::One => 1,
            QueryDigits::Two => 2,
        }
    }

    /// The shift of each digit of `width` bits within a level, most significant first.
    pub(crate) fn shifts(self, width: usize) -> impl Iterator<Item = usize> {
        (0..self.count()).rev().map(move |d| d * width)
    }

    /// The highest level of a query of `width`-bit digits: `2^(width·count) - 1`.
    pub(crate) fn top(self, width: u32) -> f32 {
        ((1u32 << (width * self.count() as u32)) - 1) as f32
    }
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

#[cfg(test)]
mod tests;
