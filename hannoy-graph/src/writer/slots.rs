//! Slots: reserving one for a new vector, releasing it, and reading or writing the vector
//! in its chunk.
//!
//! A vector is written once, into its final chunk, when it is added: the build then links
//! it in place, with no second copy (which would leave the store holding both).

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::format::{Metadata, key, values};
use crate::store::{ReadTxn, WriteTxn};

/// Reserves a slot for a new vector: the lowest free slot, else a new one past the end.
/// Writes the metadata (whose slot count may grow) and the free set.
pub fn reserve<T: WriteTxn>(txn: &mut T, index: u16, meta: &mut Metadata) -> Result<u32> {
    let mut free = values::read_free(txn, index)?;
    let slot = match free.min() {
        Some(slot) => {
            free.remove(slot);
            write_free(txn, index, &free)?;
            slot
        }
        None => {
            let slot = meta.slot_count;
            meta.slot_count = slot
                .checked_add(1)
                .filter(|&count| count < u32::MAX)
                .ok_or_else(|| {
                    Error::invalid_parameter("the index has no free slot left (2^32 - 1 slots)")
                })?;
            slot
        }
    };
    txn.put(&key::prefix(index, key::Tag::Metadata), &meta.encode())?;
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
    let mut free = values::read_free(txn, index)?;
    free.insert(slot);
    write_free(txn, index, &free)
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
    let (chunk, offset) = meta.geometry.vector_place(slot);
    let chunk_key = key::vectors(index, chunk);
    let chunk_len = meta.geometry.vector_slots as usize * encoded.len();
    let mut bytes = match txn.get(&chunk_key)? {
        Some(stored) if stored.as_ref().len() == chunk_len => stored.as_ref().to_vec(),
        Some(_) => {
            return Err(Error::corrupted(
                "vector chunk has a bad length",
                &chunk_key,
            ));
        }
        None => vec![0; chunk_len],
    };
    let start = offset * encoded.len();
    bytes[start..start + encoded.len()].copy_from_slice(encoded);
    txn.put(&chunk_key, &bytes)?;
    Ok(())
}

/// A copy of the encoded vector in `slot`.
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
    let start = offset * len;
    stored
        .as_ref()
        .get(start..start + len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| Error::corrupted("vector chunk is too short", &chunk_key))
}

fn write_free<T: WriteTxn>(txn: &mut T, index: u16, free: &RoaringBitmap) -> Result<()> {
    let free_key = key::prefix(index, key::Tag::FreeSlots);
    if free.is_empty() {
        txn.delete(&free_key)?;
    } else {
        txn.put(&free_key, &values::encode_bitmap(free)?)?;
    }
    Ok(())
}
