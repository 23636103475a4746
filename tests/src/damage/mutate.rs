//! What one trial does to one stored value: the kinds of damage, drawn from a seed.

use std::fmt;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A kind of damage to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// 1 to 8 bits flipped at random places.
    BitFlips,
    /// Cut to a random shorter length (possibly empty).
    Truncate,
    /// 1 to 64 random bytes appended.
    Extend,
    /// Every byte replaced by a random one, the length kept.
    RandomBytes,
    /// The value of another of the index's keys, in place of this one.
    Donor,
}

impl Kind {
    /// Every kind, in the order trials draw from.
    pub const ALL: [Kind; 5] = [
        Kind::BitFlips,
        Kind::Truncate,
        Kind::Extend,
        Kind::RandomBytes,
        Kind::Donor,
    ];
}

/// The damage of one trial: which key's value, what is done to it, and the seed that fixes
/// the places and bytes. Applying it twice to the same bytes gives the same result, so a
/// damaged value reads the same every time, like a damaged disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The key whose value is damaged.
    pub key: Vec<u8>,
    /// What is done to it.
    pub kind: Kind,
    /// For [`Kind::Donor`]: the key whose value is read instead.
    pub donor: Option<Vec<u8>>,
    /// Fixes the places and bytes.
    pub seed: u64,
}

impl Damage {
    /// The damaged form of `original`; `donor` is the donor key's value, when there is one.
    pub fn apply(&self, original: &[u8], donor: Option<&[u8]>) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut bytes = original.to_vec();
        match self.kind {
            Kind::BitFlips => {
                if !bytes.is_empty() {
                    for _ in 0..rng.random_range(1..=8) {
                        let bit = rng.random_range(0..bytes.len() * 8);
                        bytes[bit / 8] ^= 1 << (bit % 8);
                    }
                } else {
                    // Nothing to flip: an empty value gains one byte instead.
                    bytes.push(rng.random());
                }
            }
            Kind::Truncate => {
                if !bytes.is_empty() {
                    bytes.truncate(rng.random_range(0..bytes.len()));
                }
            }
            Kind::Extend => {
                for _ in 0..rng.random_range(1..=64) {
                    bytes.push(rng.random());
                }
            }
            Kind::RandomBytes => rng.fill(&mut bytes[..]),
            Kind::Donor => bytes = donor.unwrap_or_default().to_vec(),
        }
        bytes
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} of 0x{}", self.kind, hex(&self.key))?;
        if let Some(donor) = &self.donor {
            write!(f, " from 0x{}", hex(donor))?;
        }
        write!(f, " (seed {})", self.seed)
    }
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damage(kind: Kind, seed: u64) -> Damage {
        Damage {
            key: vec![0, 0, 1],
            kind,
            donor: None,
            seed,
        }
    }

    #[test]
    fn every_kind_changes_the_value_the_same_way_each_time() {
        let original: Vec<u8> = (0..=255).collect();
        for kind in Kind::ALL {
            for seed in 0..50 {
                let d = damage(kind, seed);
                let once = d.apply(&original, Some(b"donor"));
                assert_ne!(once, original, "{d}");
                assert_eq!(once, d.apply(&original, Some(b"donor")), "{d}");
                match kind {
                    Kind::BitFlips | Kind::RandomBytes => assert_eq!(once.len(), 256),
                    Kind::Truncate => assert!(once.len() < 256 && original.starts_with(&once)),
                    Kind::Extend => assert!(once.len() > 256 && once.starts_with(&original)),
                    Kind::Donor => assert_eq!(once, b"donor"),
                }
            }
        }
    }
}
