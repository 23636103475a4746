//! The small values, each one's read beside its write: pending changes, roaring bitmaps
//! (item set, free set). Written once here, used by the reader, the writer and the check.
//! Each is checked against its checksum trailer (when the index has them) where it is read,
//! and sealed with it where it is written.

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::format::id_group::{self, Group};
use crate::format::{Metadata, key};
use crate::store::{ReadTxn, WriteTxn};

/// A pending change of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Added or replaced; the new vector is in this slot.
    Upsert(u32),
    /// Deleted.
    Delete,
}

impl Pending {
    /// The stored value: the slot (u32 LE), or nothing for a delete.
    pub fn encode(self) -> Vec<u8> {
        match self {
            Pending::Upsert(slot) => slot.to_le_bytes().to_vec(),
            Pending::Delete => Vec::new(),
        }
    }

    /// The u32 standing for the change in a group of pending changes: the slot, or
    /// `u32::MAX` for a delete (never a slot: slots lie below a u32 slot count).
    pub fn to_raw(self) -> u32 {
        match self {
            Pending::Upsert(slot) => slot,
            Pending::Delete => u32::MAX,
        }
    }

    /// The change a group's u32 stands for ([`to_raw`](Self::to_raw)), stored under
    /// `key`; a slot must lie below `slot_count`.
    pub fn from_raw(raw: u32, key: &[u8], slot_count: u32) -> Result<Pending> {
        match raw {
            u32::MAX => Ok(Pending::Delete),
            slot if slot < slot_count => Ok(Pending::Upsert(slot)),
            slot => Err(Error::corrupted(
                format!("pending slot {slot} is past the last slot"),
                key,
            )),
        }
    }

    /// Decodes the value stored under `key` (one id's, versions 1 to 3); a slot must lie
    /// below `slot_count`.
    pub fn decode(value: &[u8], key: &[u8], slot_count: u32) -> Result<Pending> {
        match value {
            [] => Ok(Pending::Delete),
            [a, b, c, d] => match u32::from_le_bytes([*a, *b, *c, *d]) {
                slot if slot < slot_count => Ok(Pending::Upsert(slot)),
                slot => Err(Error::corrupted(
                    format!("pending slot {slot} is past the last slot"),
                    key,
                )),
            },
            _ => Err(Error::corrupted(
                "pending value is neither empty nor a slot",
                key,
            )),
        }
    }
}

/// The item id at the end of a per-item key (`[index][tag][id]`).
pub fn item_of_key(key: &[u8]) -> Result<u32> {
    key::trailing_u32(key, key::HEADER_LEN + 4)
        .ok_or_else(|| Error::corrupted("per-item key has a bad length", key))
}

/// One value's write: its key, and the payload to put there (not sealed yet), or `None` to
/// delete the key (as each of [`id_group::ValueWrites`]).
pub type ValueWrite = (Vec<u8>, Option<Vec<u8>>);

/// Performs `write` in `txn`, sealing the payload as `meta` says.
pub fn apply<T: WriteTxn>(txn: &mut T, meta: &Metadata, write: ValueWrite) -> Result<()> {
    let (key, payload) = write;
    match payload {
        Some(payload) => txn.put(&key, &meta.seal(&key, payload))?,
        None => {
            txn.delete(&key)?;
        }
    }
    Ok(())
}

/// The prefix of every key holding pending changes of `index` (a build deletes them all).
pub fn pending_prefix(index: u16) -> [u8; key::HEADER_LEN] {
    key::prefix(index, key::Tag::Pending)
}

/// The key holding item `id`'s pending change: its own (versions 1 to 3) or its group's.
pub fn pending_key(index: u16, id: u32, meta: &Metadata) -> [u8; key::HEADER_LEN + 4] {
    id_group::key_of(index, key::Tag::Pending, id, meta)
}

/// Every pending change of `index` (whose slots lie below the slot count), in id order.
pub fn pending_changes<T: ReadTxn>(
    txn: &T,
    index: u16,
    meta: &Metadata,
) -> Result<Vec<(u32, Pending)>> {
    let mut changes = Vec::new();
    for entry in txn.prefix(&pending_prefix(index))? {
        let (key, value) = entry?;
        let key = key.as_ref();
        let value = meta.unseal(key, value.as_ref())?;
        let number = item_of_key(key)?;
        if !id_group::grouped(meta) {
            changes.push((number, Pending::decode(value, key, meta.slot_count)?));
            continue;
        }
        let number = id_group::checked_number(number, key)?;
        for (id, raw) in Group::decode(value, key)?.iter(number) {
            changes.push((id, Pending::from_raw(raw, key, meta.slot_count)?));
        }
    }
    Ok(changes)
}

/// The pending change of item `id`, if any (its slot lies below the slot count).
pub fn pending_change<T: ReadTxn>(
    txn: &T,
    index: u16,
    id: u32,
    meta: &Metadata,
) -> Result<Option<Pending>> {
    let pending_key = pending_key(index, id, meta);
    let Some(value) = txn.get(&pending_key)? else {
        return Ok(None);
    };
    let value = meta.unseal(&pending_key, value.as_ref())?;
    if !id_group::grouped(meta) {
        return Pending::decode(value, &pending_key, meta.slot_count).map(Some);
    }
    id_group::lookup(value, &pending_key, id)?
        .map(|raw| Pending::from_raw(raw, &pending_key, meta.slot_count))
        .transpose()
}

/// Records `change` as the pending change of item `id`.
pub fn write_pending<T: WriteTxn>(
    txn: &mut T,
    index: u16,
    id: u32,
    meta: &Metadata,
    change: Pending,
) -> Result<()> {
    write_pendings(txn, index, meta, &[(id, Some(change))])
}

/// Records each `(id, change)` of `changes` (`None`: the id has no pending change any
/// more), the later of two for one id winning. In groups, each group is read once and
/// written once.
pub fn write_pendings<T: WriteTxn>(
    txn: &mut T,
    index: u16,
    meta: &Metadata,
    changes: &[(u32, Option<Pending>)],
) -> Result<()> {
    if !id_group::grouped(meta) {
        for &(id, change) in changes {
            let pending_key = pending_key(index, id, meta).to_vec();
            apply(txn, meta, (pending_key, change.map(Pending::encode)))?;
        }
        return Ok(());
    }
    let raw = changes
        .iter()
        .map(|&(id, change)| (id, change.map(Pending::to_raw)));
    for write in id_group::updated(txn, index, key::Tag::Pending, meta, raw)? {
        apply(txn, meta, write)?;
    }
    Ok(())
}

/// The roaring bitmap stored under `key` (empty when absent); `what` names it in errors.
pub fn read_bitmap<T: ReadTxn>(
    txn: &T,
    key: &[u8],
    meta: &Metadata,
    what: &str,
) -> Result<RoaringBitmap> {
    match txn.get(key)? {
        Some(bytes) => RoaringBitmap::deserialize_from(meta.unseal(key, bytes.as_ref())?)
            .map_err(|e| Error::corrupted(format!("{what} does not decode: {e}"), key)),
        None => Ok(RoaringBitmap::new()),
    }
}

/// The portable serialization of `bitmap`.
pub fn encode_bitmap(bitmap: &RoaringBitmap) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(bitmap.serialized_size());
    bitmap
        .serialize_into(&mut bytes)
        .map_err(|e| Error::corrupted(format!("bitmap does not encode: {e}"), &[]))?;
    Ok(bytes)
}

/// The item set of `index` as of its last build, which must hold the item count of `meta`.
pub fn read_items<T: ReadTxn>(txn: &T, index: u16, meta: &Metadata) -> Result<RoaringBitmap> {
    let item_count = meta.item_count;
    let items_key = key::prefix(index, key::Tag::Items);
    let items = read_bitmap(txn, &items_key, meta, "item set")?;
    if items.len() != u64::from(item_count) {
        return Err(Error::corrupted(
            format!(
                "the item set holds {} items, the metadata counts {item_count}",
                items.len()
            ),
            &items_key,
        ));
    }
    Ok(items)
}

/// The write storing `items` as the item set of `index` (stored even when empty).
pub fn items_write(index: u16, items: &RoaringBitmap) -> Result<ValueWrite> {
    let items_key = key::prefix(index, key::Tag::Items).to_vec();
    Ok((items_key, Some(encode_bitmap(items)?)))
}

/// The free slots of `index`, which must lie below the slot count.
pub fn read_free<T: ReadTxn>(txn: &T, index: u16, meta: &Metadata) -> Result<RoaringBitmap> {
    let free_key = key::prefix(index, key::Tag::FreeSlots);
    let free = read_bitmap(txn, &free_key, meta, "free slot set")?;
    if let Some(slot) = free.max().filter(|&slot| slot >= meta.slot_count) {
        return Err(Error::corrupted(
            format!("free slot {slot} is past the last slot"),
            &free_key,
        ));
    }
    Ok(free)
}

/// The write storing `free` as the free set of `index`: its bitmap, or (an empty set) the
/// key's deletion.
pub fn free_write(index: u16, free: &RoaringBitmap) -> Result<ValueWrite> {
    let free_key = key::prefix(index, key::Tag::FreeSlots).to_vec();
    match free.is_empty() {
        true => Ok((free_key, None)),
        false => Ok((free_key, Some(encode_bitmap(free)?))),
    }
}

/// Writes `free` as the free set of `index` ([`free_write`]).
pub fn write_free<T: WriteTxn>(
    txn: &mut T,
    index: u16,
    meta: &Metadata,
    free: &RoaringBitmap,
) -> Result<()> {
    apply(txn, meta, free_write(index, free)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_roundtrip_and_garbage() {
        for change in [
            Pending::Upsert(7),
            Pending::Upsert(u32::MAX - 1),
            Pending::Delete,
        ] {
            assert_eq!(
                Pending::decode(&change.encode(), b"k", u32::MAX).unwrap(),
                change
            );
        }
        assert!(Pending::decode(&[1, 2], b"k", u32::MAX).is_err());
        // A slot at or past the slot count is refused where it is decoded.
        assert_eq!(
            Pending::decode(&Pending::Upsert(9).encode(), b"k", 10).unwrap(),
            Pending::Upsert(9)
        );
        let err = Pending::decode(&Pending::Upsert(10).encode(), b"k", 10).unwrap_err();
        assert!(err.to_string().contains("past the last slot"), "{err}");
        assert!(item_of_key(&[0, 0, 2, 0, 0]).is_err());
        assert_eq!(
            item_of_key(&key::item(3, key::Tag::Pending, 99)).unwrap(),
            99
        );
    }

    #[test]
    fn bitmap_roundtrip() {
        let bitmap: RoaringBitmap = [1u32, 5, u32::MAX].into_iter().collect();
        let bytes = encode_bitmap(&bitmap).unwrap();
        assert_eq!(RoaringBitmap::deserialize_from(&bytes[..]).unwrap(), bitmap);
    }
}
