//! The checksum trailer of every stored value (format version 2).
//!
//! A value is its payload followed by 8 bytes: the xxh3-64 of the payload, seeded with the
//! xxh3-64 of the key, little-endian. xxh3 is specified (the xxHash spec, XXH3_64bits with a
//! seed) and gives the same bits on every platform and version, which a checksum stored on
//! disk needs. Seeding with the key binds a value to its key: a value moved under another
//! key (a swapped or misplaced value) fails like a damaged one. The trailer is at the end so
//! a chunk's vectors and records keep their offsets.
//!
//! Checksums find damage that still decodes (a flipped bit in an f32 changes a distance, not
//! a length); the decoders' checks of lengths and ranges stay, for version-1 values and for
//! values whose checksum was made over bad bytes.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::error::{Error, Result};

/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 8;

/// The checksum of `payload` stored under `key`.
#[inline]
pub fn checksum(key: &[u8], payload: &[u8]) -> u64 {
    xxh3_64_with_seed(payload, xxh3_64(key))
}

/// Appends the trailer of `payload` (stored under `key`) when `on`, and returns the value to
/// store.
pub fn seal(on: bool, key: &[u8], mut payload: Vec<u8>) -> Vec<u8> {
    if on {
        let sum = checksum(key, &payload);
        payload.extend_from_slice(&sum.to_le_bytes());
    }
    payload
}

/// The payload of `value` (stored under `key`) after checking its trailer when `on`.
///
/// # Errors
/// [`StoreError::Corrupted`](crate::StoreError::Corrupted) naming `key`: "checksum
/// mismatch" when the trailer does not match, or a value too short to hold one.
#[inline]
pub fn unseal<'a>(on: bool, key: &[u8], value: &'a [u8]) -> Result<&'a [u8]> {
    if !on {
        return Ok(value);
    }
    let Some(split) = value.len().checked_sub(TRAILER_LEN) else {
        return Err(Error::corrupted(
            format!(
                "checksum mismatch: a {}-byte value has no room for its checksum",
                value.len()
            ),
            key,
        ));
    };
    let (payload, trailer) = value.split_at(split);
    let stored = u64::from_le_bytes(trailer.try_into().unwrap_or_default());
    let computed = checksum(key, payload);
    if stored != computed {
        return Err(Error::corrupted(
            format!("checksum mismatch (stored {stored:016x}, computed {computed:016x})"),
            key,
        ));
    }
    Ok(payload)
}

/// The payload of `value` without checking its trailer (`None` when it is too short); for
/// reads whose chunk is checked once elsewhere.
#[inline]
pub fn payload(on: bool, value: &[u8]) -> Option<&[u8]> {
    match on {
        true => value.get(..value.len().checked_sub(TRAILER_LEN)?),
        false => Some(value),
    }
}

/// Bytes a value of `payload_len` bytes takes when stored.
#[inline]
pub fn stored_len(on: bool, payload_len: usize) -> usize {
    payload_len + if on { TRAILER_LEN } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    fn assert_mismatch(result: Result<&[u8]>, key: &[u8]) {
        match result {
            Err(Error::Store(StoreError::Corrupted { what, key: at })) => {
                assert!(what.contains("checksum mismatch"), "{what}");
                assert_eq!(at, key);
            }
            other => panic!("expected a checksum mismatch, got {other:?}"),
        }
    }

    #[test]
    fn roundtrip_and_every_flipped_bit() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let value = seal(true, b"key", bytes.clone());
        assert_eq!(value.len(), stored_len(true, bytes.len()));
        assert_eq!(unseal(true, b"key", &value).unwrap(), &bytes[..]);
        assert_eq!(payload(true, &value).unwrap(), &bytes[..]);
        for bit in 0..value.len() * 8 {
            let mut damaged = value.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert_mismatch(unseal(true, b"key", &damaged), b"key");
        }
        // Every truncation, down to nothing.
        for len in 0..value.len() {
            assert_mismatch(unseal(true, b"key", &value[..len]), b"key");
        }
    }

    #[test]
    fn bound_to_the_key() {
        let value = seal(
            true,
            b"\x00\x01\x03\x00\x00\x00\x07",
            5u32.to_le_bytes().to_vec(),
        );
        assert_mismatch(
            unseal(true, b"\x00\x01\x03\x00\x00\x00\x08", &value),
            b"\x00\x01\x03\x00\x00\x00\x08",
        );
        // An empty payload (a pending delete) still carries its key's checksum.
        let delete = seal(true, b"a", Vec::new());
        assert_eq!(delete.len(), TRAILER_LEN);
        assert_eq!(unseal(true, b"a", &delete).unwrap(), b"");
        assert_mismatch(unseal(true, b"b", &delete), b"b");
    }

    #[test]
    fn off_is_the_identity() {
        assert_eq!(seal(false, b"k", vec![1, 2, 3]), vec![1, 2, 3]);
        assert_eq!(unseal(false, b"k", &[1, 2, 3]).unwrap(), &[1, 2, 3]);
        assert_eq!(payload(false, &[]).unwrap(), b"");
        assert_eq!(payload(true, &[1, 2]), None);
    }

    #[test]
    fn stable_bits() {
        // The on-disk bits: a change of hash, seed or byte order fails here, not in a store.
        // Expected values from the C reference (libxxhash 0.8.1, XXH3_64bits_withSeed with
        // seed XXH3_64bits(key)), computed outside this crate.
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(
            checksum(&[0, 0, 3, 0, 0, 0, 7], &5u32.to_le_bytes()),
            0x788a_bc56_bdd9_0b18
        );
        let chunk: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            checksum(&[0, 0, 0x10, 0, 0, 0, 0], &chunk),
            0x5dbc_ae58_e1fe_6ca3
        );
        assert_eq!(
            checksum(b"", b""),
            xxh3_64_with_seed(b"", 0x2d06_8005_38d3_94c2)
        );
        assert_eq!(
            seal(true, &[0, 0, 0], vec![1, 2, 3, 4])[4..],
            checksum(&[0, 0, 0], &[1, 2, 3, 4]).to_le_bytes()
        );
    }
}
