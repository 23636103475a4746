//! Recognising indexes written by other libraries in the same key space: the published
//! hannoy 0.3 crate and arroy, which it descends from.
//!
//! Both lay an index out under 8-byte keys `[index: u16 BE][mode: u8][id: u32 BE][u8]`
//! (hannoy 0.3, read from its source: mode 0 metadata (id 0) and version (id 1), 1 updated,
//! 2 links (the last byte is the layer), 3 items; arroy's older layout, read from its
//! source: 0 items, 1 trees, 2 metadata, a zero last byte; later arroy releases use hannoy
//! 0.3's modes, as hannoy 0.3's conversion from arroy reads them with its own key codec).
//! Our keys under
//! the tags 0 to 3 are 3 bytes (metadata, item set) or 7 bytes (pending, slot map) long,
//! never 8, so the first keys of those four tags tell the layouts apart without reading a
//! value. The name in the error is refined from what is stored:
//!
//! - a version key `[index][0][1][0]` of three big-endian u32s `(0, 3, patch)`: hannoy 0.3;
//!   another version: arroy or another hannoy release, with the version;
//! - an 8-byte key under mode 0 with an id past 1: arroy's older layout (items under mode 0);
//! - otherwise (an index never built: no metadata nor version yet) both are possible and
//!   the error says so; their unbuilt layouts are the same bytes.

use std::ops::Bound;

use crate::error::Result;
use crate::format::key;
use crate::store::{ReadTxn, StoreError};

/// The length of a hannoy 0.3 / arroy key.
const FOREIGN_KEY_LEN: usize = 8;

/// How many keys of each tag are looked at: ours come first under tags 0 and 1 (a 3-byte
/// key sorts before any longer one), so two show a foreign key written beside ours.
const KEYS_PER_TAG: usize = 2;

/// The tags whose keys are looked at (the foreign modes 0 to 3).
const TAGS: [key::Tag; 4] = [
    key::Tag::Metadata,
    key::Tag::Items,
    key::Tag::Pending,
    key::Tag::Slot,
];

/// Refuses index `index` when its keys have a foreign layout.
///
/// # Errors
/// [`StoreError::ForeignFormat`] naming the library; store errors.
pub fn refuse_foreign<T: ReadTxn>(txn: &T, index: u16) -> Result<()> {
    for tag in TAGS {
        let prefix = key::prefix(index, tag);
        for entry in txn.prefix(&prefix)?.take(KEYS_PER_TAG) {
            let (found, _) = entry?;
            let found = found.as_ref();
            if found.len() == FOREIGN_KEY_LEN {
                let format = name_foreign(txn, index)?;
                return Err(StoreError::ForeignFormat {
                    format,
                    key: found.to_vec(),
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Which library wrote the foreign keys of `index` (see the module docs).
fn name_foreign<T: ReadTxn>(txn: &T, index: u16) -> Result<String> {
    let foreign_key = |mode: key::Tag, id: u32| {
        let mut bytes = [0; FOREIGN_KEY_LEN];
        bytes[..key::HEADER_LEN].copy_from_slice(&key::prefix(index, mode));
        bytes[key::HEADER_LEN..key::HEADER_LEN + 4].copy_from_slice(&id.to_be_bytes());
        bytes
    };
    // Mode 0 holds ids 0 (metadata) and 1 (version) only, but for arroy's older layout.
    let items_from = foreign_key(key::Tag::Metadata, 2);
    let next_tag = key::prefix(index, key::Tag::Items);
    let mut past_version = txn.range(
        Bound::Included(&items_from[..]),
        Bound::Excluded(&next_tag[..]),
    )?;
    if let Some(entry) = past_version.next().transpose()?
        && entry.0.as_ref().len() == FOREIGN_KEY_LEN
    {
        return Ok("arroy (its older layout, items under mode 0)".into());
    }
    if let Some(value) = txn.get(&foreign_key(key::Tag::Metadata, 1))?
        && let Some([major, minor, patch]) = decode_version(value.as_ref())
    {
        return Ok(match (major, minor) {
            (0, 3) => format!("hannoy 0.3 (v{major}.{minor}.{patch})"),
            _ => format!("arroy or another hannoy release (v{major}.{minor}.{patch})"),
        });
    }
    Ok("hannoy 0.3 or arroy (their shared 8-byte keys; no version stored yet)".into())
}

/// Three big-endian u32s: major, minor, patch.
fn decode_version(bytes: &[u8]) -> Option<[u32; 3]> {
    let bytes: &[u8; 12] = bytes.try_into().ok()?;
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Some([word(0), word(4), word(8)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_decode_only_from_twelve_bytes() {
        let mut bytes = Vec::new();
        for word in [0u32, 3, 1] {
            bytes.extend_from_slice(&word.to_be_bytes());
        }
        assert_eq!(decode_version(&bytes), Some([0, 3, 1]));
        assert_eq!(decode_version(&bytes[..11]), None);
        assert_eq!(decode_version(&[]), None);
    }
}
