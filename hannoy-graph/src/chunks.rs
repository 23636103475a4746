//! The chunks of one index, read in place from the transaction.
//!
//! A node's vector and links are found by two table indexings, with no B-tree descent per
//! visited node. How the tables fill depends on the transaction:
//! - one that several threads may read at once ([`ReadTxn::shared_get`]: the stores' own
//!   read transactions) leaves them empty at open, which then costs the same at any index
//!   size; each chunk is looked up and checked on its first use, by whichever search needs
//!   it;
//! - any other (a write transaction, an application's own) fills them at open, with one
//!   ordered scan per chunk kind, checking every chunk.
//!
//! The chunk values stay borrowed from the transaction (LMDB: the memory map), so nothing
//! is copied. A link chunk's checksum and records are checked when it is resolved: reads of
//! it afterwards need no check. A vector chunk's checksum is checked on the chunk's first
//! use ([`Chunks::checked_vector`]): a bit per vector chunk remembers it was checked, so the
//! search loop pays one relaxed load and a branch per vector it reads.

use std::ops::Bound;

use crate::error::{Error, Result};
use crate::format::links::{self, Record0};
use crate::format::{CodesInfo, Geometry, Metadata, checksum, key};
use crate::held::Held;
use crate::item_chunks::{ItemChunks, Source};
use crate::lazy_table::LazyTable;
use crate::store::ReadTxn;

/// A table of link chunks of one layer.
type LinkTable<B> = LazyTable<Option<Held<B>>>;

/// Chunk values of one index, indexed by chunk number. Values are kept as stored, trailer
/// included; the accessors return what lies before it.
pub struct Chunks<'t, B> {
    vectors: ItemChunks<'t, B>,
    source: Source<'t, B>,
    index: u16,
    checksums: bool,
    slot_count: u32,
    max_level: u8,
    layer0: LinkTable<B>,
    /// `upper[l - 1]` holds layer `l`'s chunks.
    upper: Vec<LinkTable<B>>,
    geometry: Geometry,
    m: usize,
    m0: usize,
}

impl<'t, B: AsRef<[u8]>> Chunks<'t, B> {
    /// The chunks of `index` described by `meta`, whose chunk sizes were checked against
    /// `encoded_len` ([`Metadata::validate_chunk_bytes`]): left to resolve on first use when
    /// the transaction offers a [shared get](ReadTxn::shared_get), else all loaded and
    /// checked now.
    ///
    /// Every slot below the slot count had its vector chunk written when it was reserved,
    /// so the vector chunks present must be exactly those the slot count needs (the last
    /// one stored, none past it): that ties the slot count to bytes that exist before a
    /// search's visited set or a build's graph is sized from it. In a codes-only index the
    /// code chunks and the vector chunks of items added since the last build cover the
    /// slots together.
    pub fn load<T>(txn: &'t T, index: u16, meta: &Metadata, encoded_len: usize) -> Result<Self>
    where
        T: ReadTxn<Bytes<'t> = B>,
    {
        let source = txn.shared_get();
        let lazy = source.is_some();
        let geometry = meta.geometry;
        let on = meta.checksums();
        let link_chunks = geometry.link_chunks(meta.slot_count);
        let mut chunks = Chunks {
            vectors: ItemChunks::new(
                LazyTable::new(geometry.vector_chunks(meta.slot_count)),
                source.clone(),
                index,
                key::Tag::Vectors,
                on,
                geometry.vector_slots,
                encoded_len,
            ),
            source,
            index,
            checksums: on,
            slot_count: meta.slot_count,
            max_level: meta.max_level,
            layer0: LazyTable::new(link_chunks),
            upper: (0..meta.max_level)
                .map(|_| LazyTable::new(link_chunks))
                .collect(),
            geometry,
            m: usize::from(meta.m),
            m0: usize::from(meta.m0),
        };
        match lazy {
            true => chunks.check_slot_count(txn, meta)?,
            false => chunks.load_all(txn, meta, encoded_len)?,
        }
        Ok(chunks)
    }

    /// Whether chunks are looked up on first use (the transaction offered a shared get).
    pub fn resolves_lazily(&self) -> bool {
        self.source.is_some()
    }

    /// Ties the slot count to the chunks stored, in a few lookups: the chunk of the last
    /// slot is stored and no vector chunk lies past it.
    fn check_slot_count<T>(&self, txn: &'t T, meta: &Metadata) -> Result<()>
    where
        T: ReadTxn<Bytes<'t> = B>,
    {
        let index = self.index;
        let vector_chunks = self.geometry.vector_chunks(meta.slot_count);
        let metadata_key = key::prefix(index, key::Tag::Metadata);
        if let Some(last) = meta.slot_count.checked_sub(1) {
            let vector = self.vectors.get(last).is_some();
            let code = match meta.codes.as_ref().filter(|_| meta.codes_only()) {
                Some(codes) => txn
                    .get(&key::item(index, key::Tag::Codes, codes.place(last).0))?
                    .is_some(),
                None => false,
            };
            if !vector && !code {
                return Err(Error::corrupted(
                    format!(
                        "slot count {} needs {vector_chunks} vector chunks, the last is not stored",
                        meta.slot_count
                    ),
                    &metadata_key,
                ));
            }
        }
        let past = key::vectors(index, vector_chunks as u32);
        let prefix = key::prefix(index, key::Tag::Vectors);
        let first_past = match vector_chunks <= u32::MAX as usize {
            true => txn.range(Bound::Included(&past), Bound::Unbounded)?.next(),
            false => None,
        };
        if let Some(entry) = first_past {
            let (chunk_key, _) = entry?;
            if chunk_key.as_ref().starts_with(&prefix) {
                return Err(Error::corrupted(
                    "chunk past the last slot",
                    chunk_key.as_ref(),
                ));
            }
        }
        Ok(())
    }

    /// Loads and checks every chunk (a transaction that only one thread may read).
    fn load_all<T>(&mut self, txn: &'t T, meta: &Metadata, encoded_len: usize) -> Result<()>
    where
        T: ReadTxn<Bytes<'t> = B>,
    {
        let index = self.index;
        let geometry = self.geometry;
        let vector_chunk_len =
            checksum::stored_len(self.checksums, geometry.vector_slots as usize * encoded_len);
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
        fill(self.vectors_table(), stored, |chunk| {
            key::vectors(index, chunk).to_vec()
        })?;

        let chunk0_len = links::chunk0_len(geometry.link_slots, self.m0);
        let prefix = key::links_layer(index, 0);
        let stored = scan_kind(txn, &prefix, |key, bytes| {
            let payload = meta.unseal(key, bytes)?;
            length_ok(payload.len() == chunk0_len, bytes)
        })?;
        fill(&self.layer0, stored, |chunk| layer_key(&prefix, chunk))?;
        for (layer, table) in (1..=meta.max_level).zip(&self.upper) {
            let prefix = key::links_layer(index, layer);
            let m = self.m;
            let stored = scan_kind(txn, &prefix, |key, bytes| {
                let payload = meta.unseal(key, bytes)?;
                length_ok(
                    payload.len() >= links::MASK_LEN
                        && payload.len() == links::upper_chunk_len(links::upper_mask(payload), m),
                    bytes,
                )
            })?;
            fill(table, stored, |chunk| layer_key(&prefix, chunk))?;
        }
        self.check_records(meta)?;
        self.check_upper(meta)
    }

    /// The vector chunks' table (filled by [`load_all`](Self::load_all)).
    fn vectors_table(&self) -> &LazyTable<Option<Held<B>>> {
        self.vectors.table()
    }

    /// Checks every layer-0 chunk's records, and that every used slot has its vector (a
    /// codes-only index: its code, checked where codes load).
    fn check_records(&self, meta: &Metadata) -> Result<()> {
        for chunk in 0..self.layer0.len() {
            let Some(Some(bytes)) = self.layer0.get(chunk) else {
                continue;
            };
            self.check_chunk0(chunk as u32, bytes.as_ref())?;
        }
        if meta.codes_only() {
            return Ok(());
        }
        for slot in 0..meta.slot_count {
            let live = self
                .record0(slot)?
                .is_some_and(|record| record.level().is_some());
            if live && self.vector(slot).is_none() {
                return Err(Error::corrupted(
                    format!("slot {slot} has links but no vector"),
                    &key::links(self.index, 0, self.geometry.link_place(slot).0),
                ));
            }
        }
        Ok(())
    }

    /// Checks every record of layer-0 chunk `chunk`, used or free: degree within m0, links
    /// to existing slots; and for a used one, its level within the graph.
    fn check_chunk0(&self, chunk: u32, bytes: &[u8]) -> Result<()> {
        let link_slots = self.geometry.link_slots;
        let first = u64::from(chunk) * u64::from(link_slots);
        let end = (first + u64::from(link_slots)).min(u64::from(self.slot_count));
        let chunk_key = || key::links(self.index, 0, chunk);
        for (offset, slot) in (first..end).enumerate() {
            let record = Record0::at(bytes, offset, self.m0);
            links::check_record0(record, self.m0, self.slot_count)
                .map_err(|what| Error::corrupted(format!("slot {slot}: {what}"), &chunk_key()))?;
            if let Some(level) = record.level()
                && level > self.max_level
            {
                return Err(Error::corrupted(
                    format!("slot {slot} has level {level}, above the top layer"),
                    &chunk_key(),
                ));
            }
        }
        Ok(())
    }

    /// Checks every entry of every upper-layer chunk: degree within m, links to existing
    /// slots. Searches then read upper links without a check.
    fn check_upper(&self, meta: &Metadata) -> Result<()> {
        for (layer, chunks) in (1..=meta.max_level).zip(&self.upper) {
            for chunk in 0..chunks.len() {
                let Some(Some(bytes)) = chunks.get(chunk) else {
                    continue;
                };
                self.check_upper_chunk(layer, chunk as u32, bytes.as_ref())?;
            }
        }
        Ok(())
    }

    /// Checks upper-layer chunk `chunk` of `layer` (stored bytes, length already checked).
    fn check_upper_chunk(&self, layer: u8, chunk: u32, bytes: &[u8]) -> Result<()> {
        let payload = checksum::payload(self.checksums, bytes).unwrap_or_default();
        links::check_upper_chunk(payload, self.m, self.slot_count).map_err(|what| {
            let chunk_key = key::links(self.index, layer, chunk);
            Error::corrupted(format!("upper-layer chunk: {what}"), &chunk_key)
        })
    }

    /// Link chunk `chunk` of `layer` (stored bytes), looked up and checked on first use.
    #[inline(always)]
    fn link_chunk(&self, layer: u8, chunk: u32) -> Result<Option<&[u8]>> {
        let table = match layer {
            0 => &self.layer0,
            _ => match self.upper.get(usize::from(layer) - 1) {
                Some(table) => table,
                None => return Ok(None),
            },
        };
        match table.get(chunk as usize) {
            Some(held) => Ok(held.as_ref().map(Held::as_ref)),
            None => self.resolve_links(table, layer, chunk),
        }
    }

    /// Looks link chunk `chunk` of `layer` up in the source and checks it whole.
    #[cold]
    #[inline(never)]
    fn resolve_links<'a>(
        &'a self,
        table: &'a LinkTable<B>,
        layer: u8,
        chunk: u32,
    ) -> Result<Option<&'a [u8]>> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let chunk_key = key::links(self.index, layer, chunk);
        let held = table.get_or_try_set(chunk as usize, || {
            let Some(bytes) = source(&chunk_key)? else {
                return Ok(None);
            };
            let payload = checksum::unseal(self.checksums, &chunk_key, bytes.as_ref())?;
            let length = match layer {
                0 => links::chunk0_len(self.geometry.link_slots, self.m0),
                _ if payload.len() < links::MASK_LEN => usize::MAX,
                _ => links::upper_chunk_len(links::upper_mask(payload), self.m),
            };
            if payload.len() != length {
                return Err(Error::corrupted(
                    format!("chunk value has a bad length ({})", bytes.as_ref().len()),
                    &chunk_key,
                ));
            }
            match layer {
                0 => self.check_chunk0(chunk, bytes.as_ref())?,
                _ => self.check_upper_chunk(layer, chunk, bytes.as_ref())?,
            }
            Ok(Some(Held::Store(bytes)))
        })?;
        Ok(held.and_then(Option::as_ref).map(Held::as_ref))
    }

    /// Resolves every link chunk, and every vector chunk if `vectors`.
    fn link_tables(&self) -> impl Iterator<Item = (u8, &LinkTable<B>)> {
        std::iter::once((0, &self.layer0)).chain((1..).zip(&self.upper))
    }

    /// Every link chunk's bytes, each looked up (and checked) if it was not yet.
    fn all_links(&self) -> Result<Vec<&[u8]>> {
        let mut all = Vec::new();
        for (layer, table) in self.link_tables() {
            for chunk in 0..table.len() {
                all.extend(self.link_chunk(layer, chunk as u32)?);
            }
        }
        Ok(all)
    }

    /// Looks up and checks every chunk ([`Reader::check`](crate::Reader::check)).
    pub fn resolve_all(&self) -> Result<()> {
        self.all_links()?;
        self.vectors.resolve_all()
    }

    /// Copies every link chunk into owned memory (each checked as it resolves); returns
    /// the bytes copied.
    pub fn copy_links_in(&mut self) -> Result<usize> {
        self.all_links()?;
        let layer0 = self.layer0.values_mut();
        let upper = self.upper.iter_mut().flat_map(LazyTable::values_mut);
        Ok(layer0.chain(upper).flatten().map(Held::copy_in).sum())
    }

    /// Reads the pages of every link chunk, and of every vector chunk if `vectors`, ahead
    /// ([`touch_pages`](crate::held::touch_pages)); returns the bytes spanned.
    ///
    /// # Errors
    /// A chunk that cannot be looked up, or a link chunk that fails its checks.
    pub fn touch(&self, vectors: bool) -> Result<u64>
    where
        B: Sync,
    {
        let links = crate::held::touch_pages(&self.all_links()?);
        Ok(links + if vectors { self.vectors.touch()? } else { 0 })
    }

    /// The encoded vector in `slot`, after checking its chunk's checksum if this is the
    /// chunk's first use ([`ItemChunks::checked`]).
    ///
    /// # Errors
    /// [`StoreError::Corrupted`](crate::StoreError::Corrupted): no vector chunk, or a
    /// checksum mismatch.
    #[inline(always)]
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
    ///
    /// # Errors
    /// A chunk that cannot be looked up or fails its checks.
    #[inline]
    pub fn record0(&self, slot: u32) -> Result<Option<Record0<'_>>> {
        let (chunk, offset) = self.geometry.link_place(slot);
        let Some(bytes) = self.link_chunk(0, chunk)? else {
            return Ok(None);
        };
        Ok(Some(Record0::at(bytes, offset, self.m0)))
    }

    /// The links of `slot` on `layer` >= 1, or `None` when the slot is not on that layer.
    ///
    /// # Errors
    /// As [`record0`](Self::record0).
    #[inline]
    pub fn upper_links(
        &self,
        slot: u32,
        layer: u8,
    ) -> Result<Option<impl Iterator<Item = u32> + '_>> {
        if layer == 0 {
            return Ok(None);
        }
        let (chunk, offset) = self.geometry.link_place(slot);
        let Some(bytes) = self.link_chunk(layer, chunk)? else {
            return Ok(None);
        };
        Ok(links::upper_links(bytes, offset, self.m))
    }
}

/// The key of chunk `chunk` under the link-layer `prefix`.
fn layer_key(prefix: &[u8], chunk: u32) -> Vec<u8> {
    let mut chunk_key = prefix.to_vec();
    chunk_key.extend_from_slice(&chunk.to_be_bytes());
    chunk_key
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
) -> Result<ItemChunks<'t, T::Bytes<'t>>> {
    let on = meta.checksums();
    let code_len = codes.code_len as usize;
    let chunk_len = checksum::stored_len(on, codes.code_slots as usize * code_len);
    let table = LazyTable::new(codes.chunks(meta.slot_count));
    let source = txn.shared_get();
    if source.is_none() {
        let prefix = key::prefix(index, key::Tag::Codes);
        let stored = scan_kind(txn, &prefix, |_, bytes| {
            length_ok(bytes.len() == chunk_len, bytes)
        })?;
        fill(&table, stored, |chunk| layer_key(&prefix, chunk))?;
    }
    Ok(ItemChunks::new(
        table,
        source,
        index,
        key::Tag::Codes,
        on,
        codes.code_slots,
        code_len,
    ))
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

/// Places the scanned chunks into `table` (`chunk_key` names a chunk past the end in the
/// error).
fn fill<V>(
    table: &LazyTable<Option<V>>,
    stored: Vec<(u32, V)>,
    chunk_key: impl Fn(u32) -> Vec<u8>,
) -> Result<()> {
    for (chunk, value) in stored {
        if chunk as usize >= table.len() {
            return Err(Error::corrupted(
                "chunk past the last slot",
                &chunk_key(chunk),
            ));
        }
        table.set(chunk as usize, Some(value));
    }
    Ok(())
}
