//! A table of chunks of fixed-length items (encoded vectors, compact codes), borrowed from
//! a transaction, each chunk's checksum checked on its first use.
//!
//! Checking every chunk when a reader opens would read every vector of the store; instead a
//! bit per chunk remembers it was checked, so a search pays one relaxed load and a branch
//! per item it reads.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::format::{checksum, key};
use crate::held::Held;

/// The chunks of one kind of fixed-length item: chunk `c` holds the items of slots
/// `c·slots .. (c+1)·slots`, each `item_len` bytes, then the checksum trailer when the index
/// has them.
pub struct ItemChunks<B> {
    chunks: Vec<Option<Held<B>>>,
    /// Bit `c` set once chunk `c`'s checksum was checked (all set when there are none).
    checked: Vec<AtomicU64>,
    index: u16,
    tag: key::Tag,
    checksums: bool,
    slots: u32,
    item_len: usize,
}

impl<B: AsRef<[u8]>> ItemChunks<B> {
    /// A table over `chunks` (the place of each, as loaded; lengths already checked) of
    /// index `index`, keyed under `tag`.
    pub fn new(
        chunks: Vec<Option<Held<B>>>,
        index: u16,
        tag: key::Tag,
        checksums: bool,
        slots: u32,
        item_len: usize,
    ) -> Self {
        let fill = if checksums { 0 } else { u64::MAX };
        let checked = (0..chunks.len().div_ceil(64))
            .map(|_| AtomicU64::new(fill))
            .collect();
        ItemChunks {
            chunks,
            checked,
            index,
            tag,
            checksums,
            slots,
            item_len,
        }
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
    #[inline]
    pub fn checked(&self, slot: u32) -> Result<&[u8]> {
        let (chunk, offset) = self.place(slot);
        if !self.is_checked(chunk) {
            self.check_chunk(chunk)?;
        }
        self.at(chunk, offset).ok_or_else(|| {
            Error::corrupted(
                format!("slot {slot} has no {}", self.what()),
                &self.chunk_key(chunk),
            )
        })
    }

    /// The item in `slot`, if its chunk exists, without checking the chunk's checksum: for
    /// prefetch hints, and reads whose chunk [`checked`](Self::checked) checked.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&[u8]> {
        let (chunk, offset) = self.place(slot);
        self.at(chunk, offset)
    }

    /// The item at place `offset` of chunk `chunk`, if the chunk exists.
    #[inline]
    fn at(&self, chunk: usize, offset: usize) -> Option<&[u8]> {
        let chunk = self.chunks.get(chunk)?.as_ref()?.as_ref();
        let start = offset * self.item_len;
        chunk.get(start..start + self.item_len)
    }

    /// Checks the checksum of every chunk not checked yet ([`Reader::check`]).
    ///
    /// [`Reader::check`]: crate::Reader::check
    pub fn check_all(&self) -> Result<()> {
        for (chunk, bytes) in self.chunks.iter().enumerate() {
            if bytes.is_some() && !self.is_checked(chunk) {
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
        Ok(self.chunks.iter_mut().flatten().map(Held::copy_in).sum())
    }

    /// Reads every chunk's pages ahead ([`touch_pages`](crate::held::touch_pages)); returns
    /// the bytes spanned.
    pub fn touch(&self) -> u64
    where
        B: Sync,
    {
        crate::held::touch_pages(&self.chunks)
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
        let Some(Some(bytes)) = self.chunks.get(chunk) else {
            return Err(Error::corrupted(
                format!("{} chunk {chunk} is missing", self.what()),
                &chunk_key,
            ));
        };
        checksum::unseal(self.checksums, &chunk_key, bytes.as_ref())?;
        if let Some(word) = self.checked.get(chunk / 64) {
            word.fetch_or(1u64 << (chunk % 64), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Whether chunk `chunk`'s checksum was checked (or the index has none).
    #[inline]
    fn is_checked(&self, chunk: usize) -> bool {
        self.checked
            .get(chunk / 64)
            .is_some_and(|word| word.load(Ordering::Relaxed) & (1u64 << (chunk % 64)) != 0)
    }
}
