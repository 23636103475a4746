//! A value holding one u32 for each present id of a group of 64 consecutive ids (format
//! version 4: the slot map and the pending changes). The key holds `id >> 6`; the value
//! is a 64-bit mask (u64 LE) whose bit `id & 63` says the id is present, then the u32s of
//! the present ids in id order (LE each), then (as every value) the checksum trailer.
//!
//! One entry per id cost LMDB a leaf node (header, key and a pointer) for 4 bytes, and
//! those pages stayed half full: these keys sit in the middle of the index's key range,
//! where a page split halves the page. A group of dense ids costs about 4.3 bytes per id.
//!
//! The decoders check the structure (a non-empty mask, a length the mask agrees with);
//! what the u32s mean, and their ranges, is the caller's to check.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use crate::error::{Error, Result};
use crate::format::{GROUPS_SINCE, Metadata, key};
use crate::store::ReadTxn;

/// log2 of the ids per group.
const GROUP_BITS: u32 = 6;

/// The bytes of a group's mask.
const MASK_LEN: usize = 8;

/// Whether `meta`'s index keeps its slot map and pending changes in groups of ids.
pub fn grouped(meta: &Metadata) -> bool {
    meta.version >= GROUPS_SINCE
}

/// The key under `tag` holding item `id`'s value in `meta`'s index: its group's, or (versions
/// 1 to 3) its own.
pub fn key_of(index: u16, tag: key::Tag, id: u32, meta: &Metadata) -> [u8; key::HEADER_LEN + 4] {
    match grouped(meta) {
        true => key::item(index, tag, group_of(id)),
        false => key::item(index, tag, id),
    }
}

/// The number of the group holding `id` (the key's payload).
pub fn group_of(id: u32) -> u32 {
    id >> GROUP_BITS
}

/// The position of `id` in its group: its bit in the mask.
fn low_of(id: u32) -> u32 {
    id & ((1 << GROUP_BITS) - 1)
}

/// The value of `id` in a group's payload stored under `key`, if present; the structure
/// is checked, the value is not.
///
/// # Errors
/// [`StoreError::Corrupted`](crate::store::StoreError::Corrupted) for a damaged payload.
pub fn lookup(payload: &[u8], key: &[u8], id: u32) -> Result<Option<u32>> {
    let mask = checked_mask(payload, key)?;
    let bit = 1u64 << low_of(id);
    if mask & bit == 0 {
        return Ok(None);
    }
    let at = MASK_LEN + 4 * (mask & (bit - 1)).count_ones() as usize;
    // In bounds: the length was checked against the mask, and `id`'s bit is in it.
    let bytes: [u8; 4] = payload[at..at + 4]
        .try_into()
        .map_err(|_| Error::corrupted("id group value is not 4 bytes", key))?;
    Ok(Some(u32::from_le_bytes(bytes)))
}

/// The u32s of one group's ids, by the low bits of the ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    mask: u64,
    values: Vec<u32>,
}

impl Group {
    /// Decodes a group's payload (checksum removed) stored under `key`.
    ///
    /// # Errors
    /// [`StoreError::Corrupted`](crate::store::StoreError::Corrupted): an empty mask, a
    /// length other than the mask says.
    pub fn decode(payload: &[u8], key: &[u8]) -> Result<Group> {
        let mask = checked_mask(payload, key)?;
        let values = payload[MASK_LEN..]
            .chunks_exact(4)
            .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            .collect();
        Ok(Group { mask, values })
    }

    /// The payload to store.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MASK_LEN + 4 * self.values.len());
        out.extend_from_slice(&self.mask.to_le_bytes());
        for value in &self.values {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Whether no id of the group is present (such a group is deleted, never stored).
    pub fn is_empty(&self) -> bool {
        self.mask == 0
    }

    /// The position of `id`'s value in `values`, and whether it is present.
    fn position(&self, id: u32) -> (usize, bool) {
        let bit = 1u64 << low_of(id);
        (
            (self.mask & (bit - 1)).count_ones() as usize,
            self.mask & bit != 0,
        )
    }

    /// Sets the value of `id` (which must belong to this group).
    pub fn insert(&mut self, id: u32, value: u32) {
        match self.position(id) {
            (at, true) => self.values[at] = value,
            (at, false) => {
                self.values.insert(at, value);
                self.mask |= 1 << low_of(id);
            }
        }
    }

    /// Removes `id`, if present.
    pub fn remove(&mut self, id: u32) {
        if let (at, true) = self.position(id) {
            self.values.remove(at);
            self.mask &= !(1 << low_of(id));
        }
    }

    /// `(id, value)` of every present id, in id order, for the group numbered `number`.
    pub fn iter(&self, number: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let mut mask = self.mask;
        let base = number << GROUP_BITS;
        self.values.iter().map(move |&value| {
            let low = mask.trailing_zeros();
            mask &= mask - 1;
            (base | low, value)
        })
    }
}

/// The number of a group from its key's payload, which must be a group's.
///
/// # Errors
/// [`StoreError::Corrupted`](crate::store::StoreError::Corrupted) for a number past the
/// last id's group.
pub fn checked_number(number: u32, key: &[u8]) -> Result<u32> {
    match number <= group_of(u32::MAX) {
        true => Ok(number),
        false => Err(Error::corrupted("id group number is past the last id", key)),
    }
}

/// The mask of a group payload, after checking the payload's length agrees with it.
fn checked_mask(payload: &[u8], key: &[u8]) -> Result<u64> {
    let mask = payload
        .get(..MASK_LEN)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| Error::corrupted("id group is shorter than its mask", key))?;
    if mask == 0 {
        return Err(Error::corrupted("id group is empty", key));
    }
    if payload.len() != MASK_LEN + 4 * mask.count_ones() as usize {
        return Err(Error::corrupted(
            "id group's length disagrees with its mask",
            key,
        ));
    }
    Ok(mask)
}

/// Writes of whole values: `(key, Some(payload))` to put (not sealed yet), `(key, None)` to
/// delete.
pub type ValueWrites = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// The writes that apply `changes` (`(id, Some(value))` to set, `(id, None)` to remove;
/// the later of two for one id winning) to the groups stored under `tag`: each group
/// touched is read once and written whole, or deleted when it empties.
///
/// # Errors
/// [`StoreError::Corrupted`](crate::store::StoreError::Corrupted) for a damaged group;
/// store errors.
pub fn updated<T: ReadTxn>(
    txn: &T,
    index: u16,
    tag: key::Tag,
    meta: &Metadata,
    changes: impl IntoIterator<Item = (u32, Option<u32>)>,
) -> Result<ValueWrites> {
    let mut groups: BTreeMap<u32, Group> = BTreeMap::new();
    for (id, change) in changes {
        let number = group_of(id);
        let group = match groups.entry(number) {
            Entry::Occupied(group) => group.into_mut(),
            Entry::Vacant(place) => {
                let group_key = key::item(index, tag, number);
                place.insert(match txn.get(&group_key)? {
                    Some(value) => {
                        Group::decode(meta.unseal(&group_key, value.as_ref())?, &group_key)?
                    }
                    None => Group::default(),
                })
            }
        };
        match change {
            Some(value) => group.insert(id, value),
            None => group.remove(id),
        }
    }
    Ok(groups
        .into_iter()
        .map(|(number, group)| {
            let group_key = key::item(index, tag, number).to_vec();
            (group_key, (!group.is_empty()).then(|| group.encode()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_roundtrip_insert_remove_lookup() {
        let base = 5 << GROUP_BITS;
        let mut group = Group::default();
        for (low, value) in [(63, 7), (0, 3), (17, 9), (17, 11), (5, 1)] {
            group.insert(base + low, value);
        }
        let expected = [(0, 3), (5, 1), (17, 11), (63, 7)].map(|(low, v)| (base + low, v));
        assert_eq!(group.iter(5).collect::<Vec<_>>(), expected);
        let bytes = group.encode();
        assert_eq!(bytes.len(), MASK_LEN + 16);
        assert_eq!(Group::decode(&bytes, b"k").unwrap(), group);
        for low in 0..64 {
            let found = expected
                .iter()
                .find(|(id, _)| *id == base + low)
                .map(|e| e.1);
            assert_eq!(lookup(&bytes, b"k", base + low).unwrap(), found);
        }
        // A length the mask does not say, a short value, an empty mask.
        for bad in [&bytes[..bytes.len() - 1], &bytes[..4], &[0; MASK_LEN][..]] {
            assert!(Group::decode(bad, b"k").is_err());
            assert!(lookup(bad, b"k", base).is_err());
        }
        for low in [0, 5, 17, 63, 40] {
            group.remove(base + low);
        }
        assert!(group.is_empty());
        assert!(checked_number(group_of(u32::MAX), b"k").is_ok());
        assert!(checked_number(group_of(u32::MAX) + 1, b"k").is_err());
    }
}
