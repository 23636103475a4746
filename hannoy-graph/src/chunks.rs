//! The chunks of one index, resolved from a transaction once, then read in place.
//!
//! Loading does one ordered scan per chunk kind and checks every chunk's length, so that
//! afterwards a node's vector and links are found by two array indexings, with no B-tree
//! descent per visited node. The chunk values stay borrowed from the transaction (LMDB: the
//! memory map), so nothing is copied.

use crate::error::{Error, Result};
use crate::format::links::{self, Record0};
use crate::format::{Geometry, Metadata, key};
use crate::store::ReadTxn;

/// Chunk values of one index, indexed by chunk number.
pub struct Chunks<B> {
    pub(crate) vectors: Vec<Option<B>>,
    pub(crate) layer0: Vec<Option<B>>,
    /// `upper[l - 1]` holds layer `l`'s chunks.
    pub(crate) upper: Vec<Vec<Option<B>>>,
    encoded_len: usize,
    geometry: Geometry,
    m: usize,
    m0: usize,
}

impl<B: AsRef<[u8]>> Chunks<B> {
    /// Loads and checks every chunk of `index` described by `meta`.
    pub fn load<'t, T>(txn: &'t T, index: u16, meta: &Metadata, encoded_len: usize) -> Result<Self>
    where
        T: ReadTxn<Bytes<'t> = B>,
    {
        let geometry = meta.geometry;
        let link_chunks = geometry.link_chunks(meta.slot_count);
        let m = usize::from(meta.m);
        let m0 = usize::from(meta.m0);

        let vector_chunk_len = geometry.vector_slots as usize * encoded_len;
        let vector_chunks = geometry.vector_chunks(meta.slot_count);
        let vectors = load_kind(
            txn,
            &key::prefix(index, key::Tag::Vectors),
            vector_chunks,
            |_, len| len == vector_chunk_len,
        )?;
        let chunk0_len = links::chunk0_len(geometry.link_slots, m0);
        let layer0 = load_kind(txn, &key::links_layer(index, 0), link_chunks, |_, len| {
            len == chunk0_len
        })?;
        let mut upper = Vec::with_capacity(usize::from(meta.max_level));
        for layer in 1..=meta.max_level {
            let prefix = key::links_layer(index, layer);
            upper.push(load_kind(txn, &prefix, link_chunks, |bytes, len| {
                len >= links::MASK_LEN && len == links::upper_chunk_len(links::upper_mask(bytes), m)
            })?);
        }
        let chunks = Chunks {
            vectors,
            layer0,
            upper,
            encoded_len,
            geometry,
            m,
            m0,
        };
        chunks.check_records(meta, index)?;
        Ok(chunks)
    }

    /// Checks every used layer-0 record: degree within m0, level within the graph, links to
    /// existing slots. Upper-layer links are checked when read.
    fn check_records(&self, meta: &Metadata, index: u16) -> Result<()> {
        let geometry = self.geometry;
        for slot in 0..meta.slot_count {
            let Some(record) = self.record0(slot) else {
                continue;
            };
            let Some(level) = record.level() else {
                continue;
            };
            let chunk_key = key::links(index, 0, geometry.link_place(slot).0);
            if record.degree() > self.m0 || level > meta.max_level {
                return Err(Error::corrupted(
                    format!("slot {slot} has a bad level or degree"),
                    &chunk_key,
                ));
            }
            if self.vector(slot).is_none() {
                return Err(Error::corrupted(
                    format!("slot {slot} has links but no vector"),
                    &chunk_key,
                ));
            }
            if record.links().any(|link| link >= meta.slot_count) {
                return Err(Error::corrupted(
                    format!("slot {slot} links past the last slot"),
                    &chunk_key,
                ));
            }
        }
        Ok(())
    }

    /// The encoded vector in `slot`, if its chunk exists.
    #[inline]
    pub fn vector(&self, slot: u32) -> Option<&[u8]> {
        let (chunk, offset) = self.geometry.vector_place(slot);
        let chunk = self.vectors.get(chunk as usize)?.as_ref()?.as_ref();
        let start = offset * self.encoded_len;
        chunk.get(start..start + self.encoded_len)
    }

    /// The layer-0 record of `slot`, if its chunk exists.
    #[inline]
    pub fn record0(&self, slot: u32) -> Option<Record0<'_>> {
        let (chunk, offset) = self.geometry.link_place(slot);
        let chunk = self.layer0.get(chunk as usize)?.as_ref()?.as_ref();
        Some(Record0::at(chunk, offset, self.m0))
    }

    /// The links of `slot` on `layer` >= 1, or `None` when the slot is not on that layer.
    #[inline]
    pub fn upper_links(&self, slot: u32, layer: u8) -> Option<impl Iterator<Item = u32> + '_> {
        let chunks = self.upper.get(usize::from(layer).checked_sub(1)?)?;
        let (chunk, offset) = self.geometry.link_place(slot);
        let chunk = chunks.get(chunk as usize)?.as_ref()?.as_ref();
        links::upper_links(chunk, offset, self.m)
    }
}

/// Loads the chunks under `prefix` into a table of `chunk_count` places, checking each
/// key's shape, each chunk number's range and each value's length.
fn load_kind<'t, T: ReadTxn>(
    txn: &'t T,
    prefix: &[u8],
    chunk_count: usize,
    length_ok: impl Fn(&[u8], usize) -> bool,
) -> Result<Vec<Option<T::Bytes<'t>>>> {
    let mut table: Vec<Option<T::Bytes<'t>>> = (0..chunk_count).map(|_| None).collect();
    for entry in txn.prefix(prefix)? {
        let (key, value) = entry?;
        let key = key.as_ref();
        let chunk = key::trailing_u32(key, prefix.len() + 4)
            .ok_or_else(|| Error::corrupted("chunk key has a bad length", key))?;
        let bytes = value.as_ref();
        if !length_ok(bytes, bytes.len()) {
            return Err(Error::corrupted(
                format!("chunk value has a bad length ({})", bytes.len()),
                key,
            ));
        }
        let place = table
            .get_mut(chunk as usize)
            .ok_or_else(|| Error::corrupted("chunk past the last slot", key))?;
        *place = Some(value);
    }
    Ok(table)
}
