//! Build parameters and their limits.

use crate::error::{Error, Result};

/// The largest M0 (the degree is stored in one byte).
pub const MAX_M0: u16 = 255;

/// The number of layers a graph may have (levels 0 to 15). With M = 16 a 16th level is
/// reached by one node in 16^15; the level draw is capped there.
pub const MAX_LEVELS: usize = 16;

/// HNSW construction parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildParams {
    /// Links per node on layers above 0 (the paper's M). Default 16.
    pub m: u16,
    /// Links per node on layer 0 (the paper's M_max0). Default 2 * M.
    pub m0: u16,
    /// Candidate list size while inserting (the paper's efConstruction). Default 100.
    pub ef_construction: u32,
}

impl Default for BuildParams {
    fn default() -> Self {
        BuildParams {
            m: 16,
            m0: 32,
            ef_construction: 100,
        }
    }
}

impl BuildParams {
    /// Checks `2 <= m <= m0 <= 255` and `ef_construction >= m`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the rule that failed.
    pub fn validate(&self) -> Result<()> {
        if self.m < 2 {
            return Err(Error::invalid_parameter(format!(
                "m = {} must be at least 2",
                self.m
            )));
        }
        if self.m > self.m0 {
            return Err(Error::invalid_parameter(format!(
                "m = {} must not exceed m0 = {}",
                self.m, self.m0
            )));
        }
        if self.m0 > MAX_M0 {
            return Err(Error::invalid_parameter(format!(
                "m0 = {} exceeds {MAX_M0}",
                self.m0
            )));
        }
        if self.ef_construction < u32::from(self.m) {
            return Err(Error::invalid_parameter(format!(
                "ef_construction = {} must be at least m = {}",
                self.ef_construction, self.m
            )));
        }
        Ok(())
    }

    /// The level multiplier m_L = 1 / ln(M) of the paper.
    pub fn level_multiplier(&self) -> f64 {
        1.0 / f64::from(self.m).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(BuildParams::default().validate().is_ok());
        let bad = |m, m0, ef| {
            BuildParams {
                m,
                m0,
                ef_construction: ef,
            }
            .validate()
            .is_err()
        };
        assert!(bad(1, 32, 100));
        assert!(bad(33, 32, 100));
        assert!(bad(16, 256, 100));
        assert!(bad(16, 32, 15));
        assert!(!bad(2, 2, 2));
    }
}
