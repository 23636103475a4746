//! The error type returned when a vector cannot be encoded or decoded.

/// Why a vector was rejected by [`Metric::encode`](crate::Metric::encode) or
/// [`Metric::decode`](crate::Metric::decode).
///
/// The enum is `#[non_exhaustive]`: later metrics may add reasons.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    /// A component is NaN, `+inf` or `-inf`; every metric requires finite components.
    #[error("component {index} is not a finite number (NaN or infinity)")]
    NonFinite {
        /// Position of the first offending component.
        index: usize,
    },
    /// The vector has norm zero, so it has no direction and no cosine distance.
    #[error("the zero vector has no direction and cannot be used with the cosine metric")]
    ZeroNorm,
    /// A binary (Hamming) vector has a component that is neither `0.0` nor `1.0`.
    #[error("component {index} is {value} but binary vectors accept only 0.0 and 1.0")]
    NotBinary {
        /// Position of the first offending component.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// An encoded vector does not have the byte length its dimension count requires.
    #[error("encoded vector has {found} bytes but {expected} were expected")]
    WrongLength {
        /// Bytes the metric's encoding of that many dimensions occupies.
        expected: usize,
        /// Bytes actually given.
        found: usize,
    },
}

/// Returns the index of the first non-finite component, if any.
pub(crate) fn check_finite(vector: &[f32]) -> Result<(), VectorError> {
    match vector.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(VectorError::NonFinite { index }),
        None => Ok(()),
    }
}

/// Checks that `encoded` is exactly `expected` bytes long.
pub(crate) fn check_len(encoded: &[u8], expected: usize) -> Result<(), VectorError> {
    if encoded.len() == expected {
        Ok(())
    } else {
        Err(VectorError::WrongLength {
            expected,
            found: encoded.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        assert_eq!(
            VectorError::NonFinite { index: 3 }.to_string(),
            "component 3 is not a finite number (NaN or infinity)"
        );
        assert!(VectorError::ZeroNorm.to_string().contains("zero vector"));
        assert_eq!(
            VectorError::NotBinary {
                index: 1,
                value: 0.5
            }
            .to_string(),
            "component 1 is 0.5 but binary vectors accept only 0.0 and 1.0"
        );
        assert_eq!(
            VectorError::WrongLength {
                expected: 8,
                found: 7
            }
            .to_string(),
            "encoded vector has 7 bytes but 8 were expected"
        );
    }

    #[test]
    fn finite_check_reports_first_bad_index() {
        assert_eq!(check_finite(&[1.0, 2.0]), Ok(()));
        assert_eq!(check_finite(&[]), Ok(()));
        assert_eq!(
            check_finite(&[1.0, f32::INFINITY, f32::NAN]),
            Err(VectorError::NonFinite { index: 1 })
        );
    }
}
