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
//! | 4·d | the centre (the mean), `d` finite `f32` LE |
//! | 4 | version 2 only: the number of centres `k`, `u32` LE, 2 to [`MAX_CENTRES`] |
//! | 4·k·d | version 2 only: the centres, `k·d` finite `f32` LE |
//!
//! Nothing may follow. Version 1 is a quantizer with one centre, the mean (codes name no
//! centre); it is still what such a quantizer writes, so stores written before version 2
//! read and write the same bytes. Version 2 is one with several: each code names its own
//! (see `centres.rs`). The rotation is not stored: it is a function of `(d, seed)` fixed
//! by the format (SplitMix64 signs, four FHT-Kac rounds).

use super::centres::MAX_CENTRES;
use super::error::corrupted;
use super::{CodeError, MAX_DIMENSIONS, Quantizer, Scheme, Space};

/// The magic bytes that open a stored quantizer.
const MAGIC: [u8; 4] = *b"HNQZ";

/// The newest format version, written by [`write`] for a quantizer with several centres;
/// [`read`] accepts it and version 1 (one centre).
pub(crate) const VERSION: u16 = 2;

/// The bytes of `quantizer`.
pub(crate) fn write(quantizer: &Quantizer) -> Vec<u8> {
    let scheme = quantizer.scheme.name().as_bytes();
    let metric = quantizer.space.name().as_bytes();
    let mut out = Vec::with_capacity(24 + scheme.len() + metric.len() + 4 * quantizer.dims);
    let k = quantizer.centres();
    let version: u16 = if k >= 2 { VERSION } else { 1 };
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
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
    if k >= 2 {
        // At most MAX_CENTRES (checked by the fit and `read`).
        out.extend_from_slice(&(k as u32).to_le_bytes());
        for c in quantizer.centres.iter() {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    out
}

/// `count` finite `f32` components from `cursor`, named `what` in errors.
fn finite_components(
    cursor: &mut Cursor<'_>,
    count: usize,
    what: &str,
) -> Result<Vec<f32>, CodeError> {
    // The bytes are there before anything is sized from `count`.
    let bytes = cursor.take(
        count
            .checked_mul(4)
            .ok_or_else(|| corrupted(format!("{what} too large")))?,
        what,
    )?;
    bytes
        .chunks_exact(4)
        .enumerate()
        .map(|(index, b)| {
            let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            match v.is_finite() {
                true => Ok(v),
                false => Err(corrupted(format!("{what} component {index} is {v}"))),
            }
        })
        .collect()
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
    if version != 1 && version != VERSION {
        return Err(corrupted(format!(
            "format version {version}, this build reads versions 1 and {VERSION}"
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
    let mean = finite_components(&mut cursor, dims, "centre")?;
    let centres = if version == 1 {
        Vec::new()
    } else {
        let k = u32::from_le_bytes(cursor.array("centre count")?) as usize;
        if !(2..=MAX_CENTRES).contains(&k) {
            return Err(corrupted(format!(
                "{k} centres, outside 2 to {MAX_CENTRES}"
            )));
        }
        let count = k
            .checked_mul(dims)
            .ok_or_else(|| corrupted("centres too large"))?;
        finite_components(&mut cursor, count, "centres")?
    };
    if cursor.at != bytes.len() {
        return Err(corrupted(format!(
            "{} trailing bytes after the centre",
            bytes.len() - cursor.at
        )));
    }
    if version == VERSION && dims == 0 {
        return Err(corrupted("several centres of no dimensions"));
    }
    Ok(Quantizer::from_parts(
        scheme, space, dims, seed, mean, centres,
    ))
}
