//! The slot map: where each built item lives (id → slot).
//!
//! Two layouts, chosen by the index's format version:
//! - **per id** (versions 1 to 3): `[index][Slot][id BE]` → the slot, u32 LE;
//! - **in groups** (version [`GROUPS_SINCE`](crate::format::GROUPS_SINCE) and later): `[index][Slot][id >> 6 BE]` → the
//!   slots of the group's built items ([`id_group`]).
//!
//! Every slot read is checked against the slot count, so a damaged value is `Corrupted`,
//! never a misplaced read.

use crate::error::{Error, Result};
use crate::format::id_group::{self, Group, ValueWrites, grouped};
use crate::format::{Metadata, key};
use crate::store::ReadTxn;

/// The key holding item `id`'s slot.
pub fn key_of(index: u16, id: u32, meta: &Metadata) -> [u8; key::HEADER_LEN + 4] {
    id_group::key_of(index, key::Tag::Slot, id, meta)
}

/// `slot` if it lies below `slot_count`.
fn checked_slot(slot: u32, slot_key: &[u8], slot_count: u32) -> Result<u32> {
    match slot < slot_count {
        true => Ok(slot),
        false => Err(Error::corrupted(
            format!("slot {slot} is past the last slot"),
            slot_key,
        )),
    }
}

/// The slot of built item `id`, from the slot map, if it has one (below the slot count).
///
/// # Errors
/// [`StoreError::Corrupted`](crate::store::StoreError::Corrupted) for a damaged value;
/// store errors.
pub fn read_slot<T: ReadTxn>(txn: &T, index: u16, id: u32, meta: &Metadata) -> Result<Option<u32>> {
    let slot_key = key_of(index, id, meta);
    let Some(value) = txn.get(&slot_key)? else {
        return Ok(None);
    };
    let payload = meta.unseal(&slot_key, value.as_ref())?;
    slot_in(meta, &slot_key, payload, id)
}

/// The slot of item `id` in `payload`, the checksummed value stored under its key
/// [`key_of`], checked.
///
/// # Errors
/// [`StoreError::Corrupted`](crate::store::StoreError::Corrupted) for a damaged payload.
pub fn slot_in(meta: &Metadata, slot_key: &[u8], payload: &[u8], id: u32) -> Result<Option<u32>> {
    let slot = match grouped(meta) {
        true => id_group::lookup(payload, slot_key, id)?,
        false => {
            let bytes: [u8; 4] = payload
                .try_into()
                .map_err(|_| Error::corrupted("slot value is not 4 bytes", slot_key))?;
            Some(u32::from_le_bytes(bytes))
        }
    };
    slot.map(|slot| checked_slot(slot, slot_key, meta.slot_count))
        .transpose()
}

/// `(id, slot)` of every item one slot-map entry holds (one per id, or a group's), from
/// its key and its payload (the value, checksum removed), slots checked.
///
/// # Errors
/// [`StoreError::Corrupted`](crate::store::StoreError::Corrupted) for a damaged key or
/// payload.
pub fn decode_entry(meta: &Metadata, slot_key: &[u8], payload: &[u8]) -> Result<Vec<(u32, u32)>> {
    let number = key::trailing_u32(slot_key, key::HEADER_LEN + 4)
        .ok_or_else(|| Error::corrupted("slot map key has a bad length", slot_key))?;
    if !grouped(meta) {
        let slot = slot_in(meta, slot_key, payload, number)?;
        return Ok(slot.map(|slot| (number, slot)).into_iter().collect());
    }
    let number = id_group::checked_number(number, slot_key)?;
    Group::decode(payload, slot_key)?
        .iter(number)
        .map(|(id, slot)| Ok((id, checked_slot(slot, slot_key, meta.slot_count)?)))
        .collect()
}

/// The slot-map writes of a build that removed the items `removed` and placed `inserted`
/// (`(slot, id)`; a replaced item is only there): `(key, Some(payload))` to put (not
/// sealed yet), `(key, None)` to delete. In groups, each group touched is read, changed and
/// written whole (or deleted when it empties).
///
/// # Errors
/// [`StoreError::Corrupted`](crate::store::StoreError::Corrupted) for a damaged group;
/// store errors.
pub fn plan_updates<T: ReadTxn>(
    txn: &T,
    index: u16,
    meta: &Metadata,
    removed: &[u32],
    inserted: &[(u32, u32)],
) -> Result<ValueWrites> {
    if !grouped(meta) {
        let deletes = removed
            .iter()
            .map(|&id| (key_of(index, id, meta).to_vec(), None));
        let puts = inserted.iter().map(|&(slot, id)| {
            (
                key_of(index, id, meta).to_vec(),
                Some(slot.to_le_bytes().to_vec()),
            )
        });
        return Ok(deletes.chain(puts).collect());
    }
    let changes = removed.iter().map(|&id| (id, None));
    let changes = changes.chain(inserted.iter().map(|&(slot, id)| (id, Some(slot))));
    id_group::updated(txn, index, key::Tag::Slot, meta, changes)
}
