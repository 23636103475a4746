//! The error type of the codes module.

use crate::VectorError;

/// Why a quantizer could not be fitted, decoded, or could not encode or prepare a vector.
///
/// The enum is `#[non_exhaustive]`: later schemes may add reasons.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// The metric has no compact code: only `euclidean`, `cosine` and `dot` take codes.
    #[error("metric {metric:?} has no compact codes (only euclidean, cosine and dot do)")]
    UnsupportedMetric {
        /// The metric name that was given.
        metric: String,
    },
    /// The scheme name is not one of [`Scheme::ALL`](super::Scheme::ALL).
    #[error("unknown code scheme {name:?} (known: sq8, rabitq1, rabitq2, rabitq4)")]
    UnknownScheme {
        /// The scheme name that was given.
        name: String,
    },
    /// [`Quantizer::from_bytes`](super::Quantizer::from_bytes) found bytes it cannot trust.
    #[error("corrupted quantizer: {what}")]
    Corrupted {
        /// What was wrong, and where.
        what: String,
    },
    /// The vector itself is unusable: a NaN or infinite component, or the zero vector
    /// under cosine.
    #[error(transparent)]
    Vector(#[from] VectorError),
    /// The scheme keeps too little of a vector to stand in for it (only `sq8` decodes):
    /// a codes-only index needs one that does.
    #[error("{scheme} codes cannot stand in for the vectors (only sq8 decodes)")]
    NotDecodable {
        /// The scheme's name.
        scheme: &'static str,
    },
    /// The vector does not have the quantizer's number of dimensions (or, when fitting,
    /// more than [`MAX_DIMENSIONS`](super::MAX_DIMENSIONS) were asked for).
    #[error("vector has {found} dimensions but {expected} were expected")]
    DimensionMismatch {
        /// Dimensions the quantizer works with (or the maximum, when fitting).
        expected: usize,
        /// Dimensions given.
        found: usize,
    },
}

/// A [`CodeError::Corrupted`] saying `what`.
pub(crate) fn corrupted(what: impl Into<String>) -> CodeError {
    CodeError::Corrupted { what: what.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let e = CodeError::UnsupportedMetric {
            metric: "hamming".into(),
        };
        assert!(e.to_string().contains("\"hamming\""));
        assert!(corrupted("short").to_string().ends_with("short"));
        assert_eq!(
            CodeError::from(VectorError::ZeroNorm).to_string(),
            VectorError::ZeroNorm.to_string()
        );
        let e = CodeError::DimensionMismatch {
            expected: 3,
            found: 2,
        };
        assert_eq!(e.to_string(), "vector has 2 dimensions but 3 were expected");
    }
}
