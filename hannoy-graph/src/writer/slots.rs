//! Slots: reserving them for new vectors, releasing one, and reading or writing vectors in
//! their chunks.
//!
//! A vector is written once, into its final chunk, when it is added: the build then links
//! it in place, with no second copy (which would leave the store holding both).

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::format::{Metadata, checksum, key, values};
use crate::store::{ReadTxn, WriteTxn};

/// Reserves a slot for a new vector: the lowest slot of `free` (the free set), else a new
/// one past the end (`meta`'s slot count grows). Writes nothing: the caller writes the free
/// set and the metadata once for all the slots it takes.
pub fn take_slot(free: &mut RoaringBitmap, meta: &mut Metadata) -> Result<u32> {
    if let Some(slot) = free.min() {
        free.remove(slot);
        return Ok(slot);
    }
    let slot = meta.slot_count;
    meta.slot_count = slot
        .checked_add(1)
        .filter(|&count| count < u32::MAX)
        .ok_or_else(|| {
            Error::invalid_parameter("the index has no free slot left (2^32 - 1 slots)")
        })?;
    Ok(slot)
}

/// Gives back a slot reserved by an item that was deleted before being built; its vector
/// bytes are zeroed.
pub fn release<T: WriteTxn>(
    txn: &mut T,
    index: u16,
    meta: &Metadata,
    slot: u32,
    len: usize,
) -> Result<()> {
    write_vector(txn, index, meta, slot, &vec![0; len])?;
    let mut free = values::read_free(txn, index, meta)?;
    free.insert(slot);
    values::write_free(txn, index, meta, &free)
}

/// Writes `encoded` into `slot`'s place of its vector chunk (creating the chunk, zeroed,
/// if needed).
pub fn write_vector<T: WriteTxn>(
    txn: &mut T,
    index: u16,
    meta: &Metadata,
    slot: u32,
    encoded: &[u8],
) -> Result<()> {
    write_vectors(txn, index, meta, encoded.len(), &mut [(slot, encoded)])
}

/// Writes each `(slot, encoded vector of len bytes)` into its place, reading and writing
/// every touched chunk once (chunks that do not exist yet are created, zeroed). Every
/// touched chunk's length and checksum are checked before anything is written, so a write
/// never seals damaged bytes under a fresh checksum. The slots must be distinct; `writes`
/// is sorted by slot.
pub fn write_vectors<T: WriteTxn>(
    txn: &mut T,
    index: u16,
    meta: &Metadata,
    len: usize,
    writes: &mut [(u32, &[u8])],
) -> Result<()> {
    let geometry = meta.geometry;
    let chunk_len = geometry.vector_slots as usize * len;
    writes.sort_by_key(|&(slot, _)| slot);
    let same_chunk = |a: &(u32, &[u8]), b: &(u32, &[u8])| {
        geometry.vector_place(a.0).0 == geometry.vector_place(b.0).0
    };
    for group in writes.chunk_by(same_chunk) {
        let chunk_key = key::vectors(index, geometry.vector_place(group[0].0).0);
        if let Some(stored) = txn.get(&chunk_key)? {
            checked_chunk(meta, &chunk_key, stored.as_ref(), chunk_len)?;
        }
    }
    for group in writes.chunk_by(same_chunk) {
        let chunk_key = key::vectors(index, geometry.vector_place(group[0].0).0);
        // Checked above, in this transaction.
        let mut bytes = match txn.get(&chunk_key)? {
            Some(stored) => checksum::payload(meta.checksums(), stored.as_ref())
                .unwrap_or_default()
                .to_vec(),
            None => vec![0; chunk_len],
        };
        for &(slot, encoded) in group {
            let start = geometry.vector_place(slot).1 * len;
            bytes
                .get_mut(start..start + len)
                .ok_or_else(|| Error::corrupted("vector chunk is too short", &chunk_key))?
                .copy_from_slice(encoded);
        }
        txn.put(&chunk_key, &meta.seal(&chunk_key, bytes))?;
    }
    Ok(())
}

/// The payload of the vector chunk stored under `chunk_key`, after checking its checksum and
/// that it holds `chunk_len` bytes.
fn checked_chunk<'a>(
    meta: &Metadata,
    chunk_key: &[u8],
    stored: &'a [u8],
    chunk_len: usize,
) -> Result<&'a [u8]> {
    let payload = meta.unseal(chunk_key, stored)?;
    if payload.len() != chunk_len {
        return Err(Error::corrupted("vector chunk has a bad length", chunk_key));
    }
    Ok(payload)
}

/// A copy of the encoded vector in `slot`, after checking its chunk (length and checksum:
/// this hashes the whole chunk, a few tens of microseconds).
pub fn read_vector<T: ReadTxn>(
    txn: &T,
    index: u16,
    meta: &Metadata,
    slot: u32,
    len: usize,
) -> Result<Vec<u8>> {
    if slot >= meta.slot_count {
        return Err(Error::corrupted(
            format!("slot {slot} is past the last slot"),
            &[],
        ));
    }
    let (chunk, offset) = meta.geometry.vector_place(slot);
    let chunk_key = key::vectors(index, chunk);
    let stored = txn
        .get(&chunk_key)?
        .ok_or_else(|| Error::corrupted("missing vector chunk", &chunk_key))?;
    let chunk_len = meta.geometry.vector_slots as usize * len;
    let payload = checked_chunk(meta, &chunk_key, stored.as_ref(), chunk_len)?;
    let start = offset * len;
    payload
        .get(start..start + len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| Error::corrupted("vector chunk is too short", &chunk_key))
}
