//! A table of chunks of fixed-length items (encoded vectors, compact codes), borrowed from
//! a transaction, each chunk's checksum checked on its first use.
//!
//! Checking every chunk when a reader opens would read every vector of the store; instead a
//! bit per chunk remembers it was checked, so a search pays one relaxed load and a branch
//! per item it reads. With a [`Source`] the chunks themselves are looked up on first use
//! too (their length checked then); without one, the table was filled when it was made.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::format::{checksum, key};
use crate::held::Held;
use crate::lazy_table::LazyTable;
use crate::store::SharedGet;

/// Where chunks not in a table yet come from: the transaction, if several threads may read
/// it at once; `None` for a table filled when it was made (a place left empty is a chunk
/// that is not stored).
pub type Source<'t, B> = Option<SharedGet<'t, B>>;

/// The chunks of one kind of fixed-length item: chunk `c` holds the items of slots
/// `c·slots .. (c+1)·slots`, each `item_len` bytes, then the checksum trailer when the index
/// has them.
pub struct ItemChunks<'t, B> {
    chunks: LazyTable<Option<Held<B>>>,
    source: Source<'t, B>,
    /// The stored length of every chunk, trailer included.
    chunk_len: usize,
    /// Bit `c` set once chunk `c`'s checksum was checked (read only when there are
    /// checksums). A bit per chunk: 1 MiB of bits per 8 million chunks, made at open.
    checked: Box<[AtomicU64]>,
    index: u16,
    tag: key::Tag,
    checksums: bool,
    slots: u32,
    item_len: usize,
}

impl<'t, B: AsRef<[u8]>> ItemChunks<'t, B> {
    /// A table over `chunks` (the place of each, as loaded; lengths already checked) of
    /// index `index`, keyed under `tag`; chunks not in it are looked up in `source` on
    /// first use.
    pub fn new(
        chunks: LazyTable<Option<Held<B>>>,
        source: Source<'t, B>,
        index: u16,
        tag: key::Tag,
        checksums: bool,
        slots: u32,
        item_len: usize,
    ) -> Self {
        let checked = (0..chunks.len().div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        ItemChunks {
            chunks,
            source,
            chunk_len: checksum::stored_len(checksums, slots as usize * item_len),
            checked,
            index,
            tag,
            checksums,
            slots,
            item_len,
        }
    }

    /// The table of chunks (to fill one made without a source).
    pub fn table(&self) -> &LazyTable<Option<Held<B>>> {
        &self.chunks
    }

    /// The chunk holding `slot` and the slot's place in it.
    #[inline]
    fn place(&self, slot: u32) -> (usize, usize) {
        ((slot / self.slots) as usize, (slot % self.slots) as usize)
    }

    /// The item in `slot`, after checking its chunk's checksum if this is the chunk's first
    /// use.
    ///
    /// # Errors
    /// [`StoreError::Corrupted`](crate::StoreError::Corrupted): the slot has no chunk, or the
    /// chunk's checksum does not match ("checksum mismatch", naming its key; every later
    /// read of the chunk fails the same way).
    #[inline(always)]
    pub fn checked(&self, slot: u32) -> Result<&[u8]> {
        let (chunk, offset) = self.place(slot);
        if !self.is_checked(chunk) {
            self.check_chunk(chunk)?;
        }
        self.at(chunk, offset)?.ok_or_else(|| {
            Error::corrupted(
                format!("slot {slot} has no {}", self.what()),
                &self.chunk_key(chunk),
            )
        })
    }

    /// The item in `slot`, if its chunk exists, without checking the chunk's checksum: for
    /// prefetch hints, and reads whose chunk [`checked`](Self::checked) checked. A chunk
    /// that cannot be looked up reads as missing here (the checked read reports why).
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&[u8]> {
        let (chunk, offset) = self.place(slot);
        self.at(chunk, offset).ok().flatten()
    }

    /// The item at place `offset` of chunk `chunk`, if the chunk exists.
    #[inline(always)]
    fn at(&self, chunk: usize, offset: usize) -> Result<Option<&[u8]>> {
        let Some(chunk) = self.chunk(chunk)? else {
            return Ok(None);
        };
        let start = offset * self.item_len;
        Ok(chunk.get(start..start + self.item_len))
    }

    /// The bytes of chunk `chunk` (trailer included), looked up on its first use.
    #[inline(always)]
    fn chunk(&self, chunk: usize) -> Result<Option<&[u8]>> {
        match self.chunks.get(chunk) {
            Some(held) => Ok(held.as_ref().map(Held::as_ref)),
            None => self.resolve(chunk),
        }
    }

    /// Looks chunk `chunk` up in the source and checks its length.
    #[cold]
    #[inline(never)]
    fn resolve(&self, chunk: usize) -> Result<Option<&[u8]>> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let chunk_key = self.chunk_key(chunk);
        let held = self
            .chunks
            .get_or_try_set(chunk, || match source(&chunk_key)? {
                Some(bytes) if bytes.as_ref().len() != self.chunk_len => Err(Error::corrupted(
                    format!("chunk value has a bad length ({})", bytes.as_ref().len()),
                    &chunk_key,
                )),
                bytes => Ok(bytes.map(Held::Store)),
            })?;
        Ok(held.and_then(Option::as_ref).map(Held::as_ref))
    }

    /// Looks every chunk up (a table made with a source starts empty).
    pub fn resolve_all(&self) -> Result<()> {
        (0..self.chunks.len()).try_for_each(|chunk| self.chunk(chunk).map(drop))
    }

    /// Checks the checksum of every chunk not checked yet ([`Reader::check`]).
    ///
    /// [`Reader::check`]: crate::Reader::check
    pub fn check_all(&self) -> Result<()> {
        for chunk in 0..self.chunks.len() {
            if self.chunk(chunk)?.is_some() && !self.is_checked(chunk) {
                self.check_chunk(chunk)?;
            }
        }
        Ok(())
    }

    /// Copies every chunk into owned memory after checking its checksum (so that reads
    /// of the copy need no check); returns the bytes copied.
    ///
    /// # Errors
    /// [`StoreError::Corrupted`](crate::StoreError::Corrupted) for a checksum mismatch;
    /// nothing is copied then.
    pub fn copy_in(&mut self) -> Result<usize> {
        self.check_all()?;
        Ok(self.chunks.values_mut().flatten().map(Held::copy_in).sum())
    }

    /// Reads every chunk's pages ahead ([`touch_pages`](crate::held::touch_pages)); returns
    /// the bytes spanned.
    ///
    /// # Errors
    /// A chunk that cannot be looked up.
    pub fn touch(&self) -> Result<u64>
    where
        B: Sync,
    {
        let mut chunks = Vec::with_capacity(self.chunks.len());
        for chunk in 0..self.chunks.len() {
            chunks.extend(self.chunk(chunk)?);
        }
        Ok(crate::held::touch_pages(&chunks))
    }

    /// What the items are, for messages.
    fn what(&self) -> &'static str {
        match self.tag {
            key::Tag::Codes => "code",
            _ => "vector",
        }
    }

    /// The key of the chunk holding `slot`, for messages.
    pub fn key_of(&self, slot: u32) -> [u8; key::HEADER_LEN + 4] {
        self.chunk_key(self.place(slot).0)
    }

    fn chunk_key(&self, chunk: usize) -> [u8; key::HEADER_LEN + 4] {
        key::item(self.index, self.tag, chunk as u32)
    }

    /// Checks chunk `chunk`'s checksum and marks it checked. Several threads may check one
    /// chunk at once: the result is the same, and the bytes never change under a reader, so
    /// a relaxed mark is enough.
    #[cold]
    #[inline(never)]
    fn check_chunk(&self, chunk: usize) -> Result<()> {
        let chunk_key = self.chunk_key(chunk);
        let Some(bytes) = self.chunk(chunk)? else {
            return Err(Error::corrupted(
                format!("{} chunk {chunk} is missing", self.what()),
                &chunk_key,
            ));
        };
        checksum::unseal(self.checksums, &chunk_key, bytes)?;
        if let Some(word) = self.checked.get(chunk / 64) {
            word.fetch_or(1u64 << (chunk % 64), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Whether chunk `chunk`'s checksum was checked (or the index has none).
    #[inline(always)]
    fn is_checked(&self, chunk: usize) -> bool {
        !self.checksums
            || self
                .checked
                .get(chunk / 64)
                .is_some_and(|word| word.load(Ordering::Relaxed) & (1u64 << (chunk % 64)) != 0)
    }
}
