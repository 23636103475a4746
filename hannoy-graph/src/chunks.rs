//! The chunks of one index, resolved from a transaction once, then read in place.
//!
//! Loading does one ordered scan per chunk kind and checks every chunk's length, so that
//! afterwards a node's vector and links are found by two array indexings, with no B-tree
//! descent per visited node. The chunk values stay borrowed from the transaction (LMDB: the
//! memory map), so nothing is copied.
//!
//! Checksums (format version 2): a link chunk's is checked when it loads, where its records
//! are read whole for their structural checks anyway. A vector chunk's is checked once, on
//! the chunk's first use ([`Chunks::checked_vector`]): checking them all here would make
//! opening read every vector of the store. A bit per vector chunk remembers it was checked,
//! so the search loop pays one relaxed load and a branch per vector it reads.

use crate::error::{Error, Result};
use crate::format::links::{self, Record0};
use crate::format::{CodesInfo, Geometry, Metadata, checksum, key};
use crate::held::Held;
use crate::item_chunks::ItemChunks;
use crate::store::ReadTxn;

/// Chunk values of one index, indexed by chunk number. Values are kept as stored, trailer
/// included; the accessors return what lies before it.
pub struct Chunks<B> {
    vectors: ItemChunks<B>,
    checksums: bool,
    layer0: Vec<Option<Held<B>>>,
    /// `upper[l - 1]` holds layer `l`'s chunks.
    upper: Vec<Vec<Option<Held<B>>>>,
    geometry: Geometry,
    m: usize,
    m0: usize,
}

impl<B: AsRef<[u8]>> Chunks<B> {
    /// Loads and checks every chunk of `index` described by `meta`, whose chunk sizes were
    /// checked against `encoded_len` ([`Metadata::validate_chunk_bytes`]).
    ///
    /// Every slot below the slot count had its vector chunk written when it was reserved,
    /// so the vector chunks present must be exactly those the slot count needs: that bounds
    /// the slot count by bytes that exist before any table (or, later, a search's visited
    /// set and a build's graph) is sized from it. In a codes-only index the code chunks
    /// and the vector chunks of items added since the last build bound it together.
    pub fn load<'t, T>(txn: &'t T, index: u16, meta: &Metadata, encoded_len: usize) -> Result<Self>
    where
        T: ReadTxn<Bytes<'t> = B>,
    {
        let geometry = meta.geometry;
        let m = usize::from(meta.m);
        let m0 = usize::from(meta.m0);

        let on = meta.checksums();
        let vector_chunk_len =
            checksum::stored_len(on, geometry.vector_slots as usize * encoded_len);
        let vector_chunks = geometry.vector_chunks(meta.slot_count);
        // Lengths only: a vector chunk's checksum is checked on its first use.
        let stored = scan_kind(txn, &key::prefix(index, key::Tag::Vectors), |_, bytes| {
            length_ok(bytes.len() == vector_chunk_len, bytes)
        })?;
        if let Some(codes) = meta.codes.as_ref().filter(|_| meta.codes_only()) {
            // Codes only: built slots have a code and no vector, slots reserved since the
            // last build a vector and no code yet. Together the chunks present must cover
            // every slot.
            let mut code_chunks = 0u64;
            for entry in txn.prefix(&key::prefix(index, key::Tag::Codes))? {
                entry?;
                code_chunks += 1;
            }
            let covered = stored.len() as u64 * u64::from(geometry.vector_slots)
                + code_chunks * u64::from(codes.code_slots);
            if covered < u64::from(meta.slot_count) {
                return Err(Error::corrupted(
                    format!(
                        "slot count {} is more than the {covered} slots of the stored code and vector chunks",
                        meta.slot_count
                    ),
                    &key::prefix(index, key::Tag::Metadata),
                ));
            }
        } else if stored.len() < vector_chunks {
            return Err(Error::corrupted(
                format!(
                    "slot count {} needs {vector_chunks} vector chunks, {} are stored",
                    meta.slot_count,
                    stored.len()
                ),
                &key::prefix(index, key::Tag::Metadata),
            ));
        }
        let vectors = into_table(stored, vector_chunks, |chunk| {
            key::vectors(index, chunk).to_vec()
        })?;

        let link_chunks = geometry.link_chunks(meta.slot_count);
        let chunk0_len = links::chunk0_len(geometry.link_slots, m0);
        let layer0 = load_kind(
            txn,
            &key::links_layer(index, 0),
            link_chunks,
            |key, bytes| {
                let payload = meta.unseal(key, bytes)?;
                length_ok(payload.len() == chunk0_len, bytes)
            },
        )?;
        let mut upper = Vec::with_capacity(usize::from(meta.max_level));
        for layer in 1..=meta.max_level {
            let prefix = key::links_layer(index, layer);
            upper.push(load_kind(txn, &prefix, link_chunks, |key, bytes| {
                let payload = meta.unseal(key, bytes)?;
                length_ok(
                    payload.len() >= links::MASK_LEN
                        && payload.len() == links::upper_chunk_len(links::upper_mask(payload), m),
                    bytes,
                )
            })?);
        }
        let vectors = ItemChunks::new(
            vectors,
            index,
            key::Tag::Vectors,
            on,
            geometry.vector_slots,
            encoded_len,
        );
        let chunks = Chunks {
            vectors,
            checksums: on,
            layer0,
            upper,
            geometry,
            m,
            m0,
        };
        chunks.check_records(meta, index)?;
        chunks.check_upper(meta, index)?;
        Ok(chunks)
    }

    /// Checks every layer-0 record, used or free: degree within m0, links to existing
    /// slots; and for a used one, its level within the graph and its vector present.
    fn check_records(&self, meta: &Metadata, index: u16) -> Result<()> {
        let geometry = self.geometry;
        for slot in 0..meta.slot_count {
            let Some(record) = self.record0(slot) else {
                continue;
            };
            let chunk_key = || key::links(index, 0, geometry.link_place(slot).0);
            links::check_record0(record, self.m0, meta.slot_count)
                .map_err(|what| Error::corrupted(format!("slot {slot}: {what}"), &chunk_key()))?;
            let Some(level) = record.level() else {
                continue;
            };
            if level > meta.max_level {
                return Err(Error::corrupted(
                    format!("slot {slot} has level {level}, above the top layer"),
                    &chunk_key(),
                ));
            }
            // A codes-only index keeps a code instead (checked where codes load).
            if !meta.codes_only() && self.vector(slot).is_none() {
                return Err(Error::corrupted(
                    format!("slot {slot} has links but no vector"),
                    &chunk_key(),
                ));
            }
        }
        Ok(())
    }

    /// Checks every entry of every upper-layer chunk: degree within m, links to existing
    /// slots. Searches then read upper links without a check.
    fn check_upper(&self, meta: &Metadata, index: u16) -> Result<()> {
        for (layer, chunks) in (1..=meta.max_level).zip(&self.upper) {
            for (chunk, bytes) in chunks.iter().enumerate() {
                let Some(bytes) = bytes else {
                    continue;
                };
                // The trailer was checked (and the length) when the chunk loaded.
                let payload = checksum::payload(self.checksums, bytes.as_ref()).unwrap_or_default();
                links::check_upper_chunk(payload, self.m, meta.slot_count).map_err(|what| {
                    let chunk_key = key::links(index, layer, chunk as u32);
                    Error::corrupted(format!("upper-layer chunk: {what}"), &chunk_key)
                })?;
            }
        }
        Ok(())
    }

    /// Copies every link chunk into owned memory (their checksums were checked when they
    /// loaded); returns the bytes copied.
    pub fn copy_links_in(&mut self) -> usize {
        let layer0 = self.layer0.iter_mut();
        let upper = self.upper.iter_mut().flat_map(|layer| layer.iter_mut());
        layer0.chain(upper).flatten().map(Held::copy_in).sum()
    }

    /// Reads the pages of every link chunk, and of every vector chunk if `vectors`, ahead
    /// ([`touch_pages`](crate::held::touch_pages)); returns the bytes spanned.
    pub fn touch(&self, vectors: bool) -> u64
    where
        B: Sync,
    {
        let links = crate::held::touch_pages(&self.layer0)
            + self.upper.iter().map(crate::held::touch_pages).sum::<u64>();
        links + if vectors { self.vectors.touch() } else { 0 }
    }

    /// The encoded vector in `slot`, after checking its chunk's checksum if this is the
    /// chunk's first use ([`ItemChunks::checked`]).
    ///
    /// # Errors
    /// [`StoreError::Corrupted`](crate::StoreError::Corrupted): no vector chunk, or a
    /// checksum mismatch.
    #[inline]
    pub fn checked_vector(&self, slot: u32) -> Result<&[u8]> {
        self.vectors.checked(slot)
    }

    /// Checks the checksum of every vector chunk not checked yet ([`Reader::check`]).
    ///
    /// [`Reader::check`]: crate::Reader::check
    pub fn check_all_vectors(&self) -> Result<()> {
        self.vectors.check_all()
    }

    /// The encoded vector in `slot`, if its chunk exists, without checking the chunk's
    /// checksum: for prefetch hints, and reads whose chunk [`checked_vector`] checked.
    ///
    /// [`checked_vector`]: Self::checked_vector
    #[inline]
    pub fn vector(&self, slot: u32) -> Option<&[u8]> {
        self.vectors.get(slot)
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

/// Loads the code chunks of `index` that `meta` describes (`codes`): lengths only, each
/// chunk's checksum is checked on its first use. Codes are written by builds, so the chunks
/// of slots reserved since the last build may be missing; a chunk past the slot count is
/// `Corrupted`.
///
/// # Errors
/// [`StoreError::Corrupted`](crate::StoreError::Corrupted) for a bad key, length or chunk
/// number; store errors.
pub fn load_codes<'t, T: ReadTxn>(
    txn: &'t T,
    index: u16,
    meta: &Metadata,
    codes: &CodesInfo,
) -> Result<ItemChunks<T::Bytes<'t>>> {
    let on = meta.checksums();
    let code_len = codes.code_len as usize;
    let chunk_len = checksum::stored_len(on, codes.code_slots as usize * code_len);
    let table = load_kind(
        txn,
        &key::prefix(index, key::Tag::Codes),
        codes.chunks(meta.slot_count),
        |_, bytes| length_ok(bytes.len() == chunk_len, bytes),
    )?;
    Ok(ItemChunks::new(
        table,
        index,
        key::Tag::Codes,
        on,
        codes.code_slots,
        code_len,
    ))
}

/// Loads the chunks under `prefix` into a table of `chunk_count` places, checking each
/// key's shape, each chunk number's range and each value's length.
fn load_kind<'t, T: ReadTxn>(
    txn: &'t T,
    prefix: &[u8],
    chunk_count: usize,
    check: impl Fn(&[u8], &[u8]) -> Result<()>,
) -> Result<Vec<Option<Held<T::Bytes<'t>>>>> {
    let stored = scan_kind(txn, prefix, check)?;
    into_table(stored, chunk_count, |chunk| {
        let mut chunk_key = prefix.to_vec();
        chunk_key.extend_from_slice(&chunk.to_be_bytes());
        chunk_key
    })
}

/// The `(chunk number, value)` of every chunk under `prefix`, in chunk order, checking each
/// key's shape and each value with `check(key, value)` (its length, and for link chunks its
/// checksum). Holds only what is stored: nothing is sized from the metadata yet.
fn scan_kind<'t, T: ReadTxn>(
    txn: &'t T,
    prefix: &[u8],
    check: impl Fn(&[u8], &[u8]) -> Result<()>,
) -> Result<Vec<(u32, Held<T::Bytes<'t>>)>> {
    let mut stored = Vec::new();
    for entry in txn.prefix(prefix)? {
        let (key, value) = entry?;
        let key = key.as_ref();
        let chunk = key::trailing_u32(key, prefix.len() + 4)
            .ok_or_else(|| Error::corrupted("chunk key has a bad length", key))?;
        check(key, value.as_ref()).map_err(|error| match error {
            // The length error is made without the key; name it here.
            Error::Store(crate::StoreError::Corrupted { what, key: at }) if at.is_empty() => {
                Error::corrupted(what, key)
            }
            other => other,
        })?;
        stored.push((chunk, Held::Store(value)));
    }
    Ok(stored)
}

/// `Ok` when `ok`, else the bad-length error of a chunk value (its key is added by
/// [`scan_kind`]).
fn length_ok(ok: bool, value: &[u8]) -> Result<()> {
    match ok {
        true => Ok(()),
        false => Err(Error::corrupted(
            format!("chunk value has a bad length ({})", value.len()),
            &[],
        )),
    }
}

/// Places the scanned chunks into a table of `chunk_count` places (`chunk_key` names a
/// chunk past the end in the error). The scan holds at most one entry per place, in key
/// order, so the table is never larger than the scan allows.
fn into_table<V>(
    stored: Vec<(u32, V)>,
    chunk_count: usize,
    chunk_key: impl Fn(u32) -> Vec<u8>,
) -> Result<Vec<Option<V>>> {
    if let Some(&(last, _)) = stored.last()
        && last as usize >= chunk_count
    {
        return Err(Error::corrupted(
            "chunk past the last slot",
            &chunk_key(last),
        ));
    }
    let mut table: Vec<Option<V>> = (0..chunk_count).map(|_| None).collect();
    for (chunk, value) in stored {
        let place = table
            .get_mut(chunk as usize)
            .ok_or_else(|| Error::corrupted("chunk past the last slot", &chunk_key(chunk)))?;
        *place = Some(value);
    }
    Ok(table)
}
