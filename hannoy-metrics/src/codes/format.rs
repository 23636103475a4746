//! The stored form of a [`Quantizer`]: versioned, little-endian, checked field by field.
//!
//! | Bytes | Field |
//! |-------|-------|
//! | 4 | magic `b"HNQZ"` |
//! | 2 | format version, `u16` LE ([`VERSION`]; independent of the crate version) |
//! | 1 + n | scheme name: length `n` (`u8`), then ASCII ([`Scheme::name`], e.g. `"sq8"`) |
//! | 1 + n | metric name: length `n` (`u8`), then ASCII (`"euclidean"`, `"cosine"`, `"dot"`) |
//! | 4 | dimensions `d`, `u32` LE, at most [`MAX_DIMENSIONS`] |
//! | 8 | rotation seed, `u64` LE |
//! | 4·d | the centre, `d` finite `f32` LE |
//!
//! Nothing may follow. The rotation is not stored: it is a function of `(d, seed)` fixed
//! by this format version (SplitMix64 signs, four FHT-Kac rounds).

use super::error::corrupted;
use super::{CodeError, MAX_DIMENSIONS, Quantizer, Scheme, Space};

/// The magic bytes that open a stored quantizer.
const MAGIC: [u8; 4] = *b"HNQZ";

/// The format version written by [`write`] and the only one [`read`] accepts.
pub(crate) const VERSION: u16 = 1;

/// The bytes of `quantizer`.
pub(crate) fn write(quantizer: &Quantizer) -> Vec<u8> {
    let scheme = quantizer.scheme.name().as_bytes();
    let metric = quantizer.space.name().as_bytes();
    let mut out = Vec::with_capacity(24 + scheme.len() + metric.len() + 4 * quantizer.dims);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    for name in [scheme, metric] {
        // Names are short constants of this crate.
        out.push(name.len() as u8);
        out.extend_from_slice(name);
    }
    // At most MAX_DIMENSIONS (checked by `fit` and `read`).
    out.extend_from_slice(&(quantizer.dims as u32).to_le_bytes());
    out.extend_from_slice(&quantizer.seed.to_le_bytes());
    for m in &quantizer.mean {
        out.extend_from_slice(&m.to_le_bytes());
    }
    out
}

/// A reader that hands out checked slices of the input.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The next `n` bytes, or `Corrupted` naming `what` was cut short.
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], CodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.at..end];
                self.at = end;
                Ok(slice)
            }
            None => Err(corrupted(format!(
                "truncated {what} at byte {} ({} bytes in all)",
                self.at,
                self.bytes.len()
            ))),
        }
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], CodeError> {
        let slice = self.take(N, what)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    /// A name: one length byte, then that many ASCII bytes.
    fn name(&mut self, what: &str) -> Result<&'a str, CodeError> {
        let [len] = self.array::<1>(what)?;
        let bytes = self.take(usize::from(len), what)?;
        match std::str::from_utf8(bytes) {
            Ok(name) if name.is_ascii() => Ok(name),
            _ => Err(corrupted(format!("{what} is not ASCII"))),
        }
    }
}

/// The quantizer stored in `bytes` (see the module documentation for every check).
pub(crate) fn read(bytes: &[u8]) -> Result<Quantizer, CodeError> {
    let mut cursor = Cursor { bytes, at: 0 };
    if cursor.array::<4>("magic")? != MAGIC {
        return Err(corrupted("bad magic: not a hannoy quantizer"));
    }
    let version = u16::from_le_bytes(cursor.array("format version")?);
    if version != VERSION {
        return Err(corrupted(format!(
            "format version {version}, this build reads version {VERSION}"
        )));
    }
    // A well-formed name this build does not know is corrupt too (the spec's contract:
    // `Corrupted` on anything off), with the name in the message.
    let name = cursor.name("scheme name")?;
    let scheme =
        Scheme::from_name(name).ok_or_else(|| corrupted(format!("unknown scheme {name:?}")))?;
    let name = cursor.name("metric name")?;
    let space =
        Space::from_name(name).map_err(|_| corrupted(format!("metric {name:?} takes no codes")))?;
    let dims = u32::from_le_bytes(cursor.array("dimensions")?) as usize;
    if dims > MAX_DIMENSIONS {
        return Err(corrupted(format!(
            "{dims} dimensions, more than {MAX_DIMENSIONS}"
        )));
    }
    let seed = u64::from_le_bytes(cursor.array("seed")?);
    let mut mean = Vec::with_capacity(dims);
    for index in 0..dims {
        let m = f32::from_le_bytes(cursor.array("centre")?);
        if !m.is_finite() {
            return Err(corrupted(format!("centre component {index} is {m}")));
        }
        mean.push(m);
    }
    if cursor.at != bytes.len() {
        return Err(corrupted(format!(
            "{} trailing bytes after the centre",
            bytes.len() - cursor.at
        )));
    }
    Ok(Quantizer::from_parts(scheme, space, dims, seed, mean))
}
