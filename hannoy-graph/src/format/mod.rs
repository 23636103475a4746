//! The on-store layout: keys, metadata and chunk codecs. `docs/format.md` describes it in
//! one place; every decoder checks lengths, so bad bytes give
//! [`StoreError::Corrupted`](crate::store::StoreError::Corrupted), never a panic.

pub mod checksum;
pub mod codes;
pub mod foreign;
pub mod id_group;
pub mod key;
pub mod links;
pub mod metadata;
pub mod slot_map;
pub mod values;

pub use metadata::{CodesInfo, Metadata};

/// The on-store format version, independent of the crate version, written by new indexes.
/// Bump it on any change a reader of the old version would misread. Version 2 added the
/// checksum trailer ([`checksum`]) to every value; version-1 indexes stay readable and
/// writable, without checksums ([`Metadata::checksums`]). Version 3 added compact codes
/// (a block in the metadata, the quantizer and the code chunks); version-2 indexes stay
/// readable and writable, and become version 3 when codes are added to them. Version 4
/// keeps the slot map and the pending changes in groups of 64 ids ([`id_group`]);
/// version-1 to -3 indexes keep theirs per id, and stay in their version when written.
pub const FORMAT_VERSION: u32 = 4;

/// The first format version whose slot map and pending changes are kept in groups of ids
/// ([`id_group`]).
pub const GROUPS_SINCE: u32 = 4;

/// The first format version whose metadata can describe compact codes.
pub const CODES_SINCE: u32 = 3;

/// The first format version whose values carry a checksum trailer.
pub const CHECKSUMS_SINCE: u32 = 2;

/// The most slots a link chunk holds (upper-layer chunks index them with a 128-bit mask).
pub const MAX_LINK_CHUNK_SLOTS: u32 = 128;

/// The largest vector chunk of several slots a reader accepts: 16 MiB, far above the 24
/// pages chunks are sized to now (a vector too large for that holds a chunk alone, whatever
/// its size). Bounds what a damaged geometry can make a writer allocate.
pub const MAX_VECTOR_CHUNK_BYTES: usize = 1 << 24;

/// A 4 KiB page: the unit vector chunks' span is counted in (what the stores set aside
/// per value comes from each store, [`ReadTxn::stored_len`](crate::store::ReadTxn::stored_len)).
const PAGE: usize = 4096;

/// How many pages a vector chunk may span (the reader's table holds one entry per chunk; each
/// `add_item` rewrites one chunk).
const VECTOR_CHUNK_PAGES: std::ops::RangeInclusive<usize> = 12..=24;

/// Slots per vector chunk for vectors of `encoded_len` bytes: of the counts whose chunk spans
/// [`VECTOR_CHUNK_PAGES`], the one wasting the fewest bytes per vector once the store has set
/// aside `stored_len(chunk bytes + checksum trailer)` (LMDB: whole pages, redb: a power of
/// two of pages); the smallest on a tie. 1 for vectors too large to share a chunk.
fn vector_slots(encoded_len: usize, stored_len: &dyn Fn(usize) -> usize) -> u32 {
    let len = encoded_len.max(1);
    let least = (VECTOR_CHUNK_PAGES.start() * PAGE).div_ceil(len).max(1);
    let most = (VECTOR_CHUNK_PAGES.end() * PAGE - 64) / len;
    // (waste, slots) of the best count so far; compared as waste / slots.
    let mut best: Option<(usize, usize)> = None;
    for slots in least..=most {
        let bytes = slots * len;
        // The value is the vectors and the checksum trailer; what the store sets aside
        // beyond both is waste.
        let value = bytes + checksum::TRAILER_LEN;
        let waste = stored_len(value).saturating_sub(value);
        if best.is_none_or(|(w, s)| waste * s < w * slots) {
            best = Some((waste, slots));
        }
    }
    best.map_or(1, |(_, slots)| u32::try_from(slots).unwrap_or(u32::MAX))
}

/// What a chunk costs beside its value's bytes, counted when link chunks are sized: its
/// key and B-tree entry in the store, its entry in a reader's chunk table.
const CHUNK_COST: usize = 64;

/// Slots per link chunk for layer-0 records of `record` bytes: of the counts from half of
/// [`MAX_LINK_CHUNK_SLOTS`] to all of it, the one costing the fewest bytes per slot beyond
/// the records (what the store sets aside past the value, `stored_len(chunk bytes +
/// checksum trailer)`, plus [`CHUNK_COST`]); the largest on a tie. With M0 = 32 that is
/// 120 slots in four 4 KiB pages on LMDB, 119 on redb (whose 64 bytes of overhead would
/// round 120 up to eight pages), and 128 in memory, which rounds nothing up.
fn link_slots(record: usize, stored_len: &dyn Fn(usize) -> usize) -> u32 {
    let most = MAX_LINK_CHUNK_SLOTS as usize;
    // (waste, slots) of the best count so far; compared as waste / slots.
    let mut best = (usize::MAX, 1);
    for slots in (most / 2..=most).rev() {
        let value = slots * record.max(1) + checksum::TRAILER_LEN;
        let waste = stored_len(value).saturating_sub(value) + CHUNK_COST;
        if best.0 == usize::MAX || waste * best.1 < best.0 * slots {
            best = (waste, slots);
        }
    }
    u32::try_from(best.1).unwrap_or(MAX_LINK_CHUNK_SLOTS)
}

/// How slots are grouped into chunk values. Stored in the metadata, so a later version may
/// choose differently without misreading older stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Slots per vector chunk.
    pub vector_slots: u32,
    /// Slots per link chunk (at most [`MAX_LINK_CHUNK_SLOTS`]).
    pub link_slots: u32,
}

impl Geometry {
    /// The grouping for vectors of `encoded_len` bytes and M0 links per node, in a store
    /// that sets aside `stored_len(n)` bytes for an `n`-byte value
    /// ([`ReadTxn::stored_len`](crate::store::ReadTxn::stored_len)): chunks with little to
    /// spare.
    pub fn for_sizes(
        encoded_len: usize,
        m0: usize,
        stored_len: &dyn Fn(usize) -> usize,
    ) -> Geometry {
        Geometry {
            vector_slots: vector_slots(encoded_len, stored_len),
            link_slots: link_slots(links::record0_len(m0), stored_len),
        }
    }

    /// The vector chunk holding `slot`, and the slot's place in it.
    #[inline]
    pub fn vector_place(&self, slot: u32) -> (u32, usize) {
        (
            slot / self.vector_slots,
            (slot % self.vector_slots) as usize,
        )
    }

    /// The link chunk holding `slot`, and the slot's place in it.
    #[inline]
    pub fn link_place(&self, slot: u32) -> (u32, usize) {
        (slot / self.link_slots, (slot % self.link_slots) as usize)
    }

    /// Vector chunks needed for `slot_count` slots.
    pub fn vector_chunks(&self, slot_count: u32) -> usize {
        slot_count.div_ceil(self.vector_slots) as usize
    }

    /// Slots per chunk for items of `item_len` bytes in a store that sets aside
    /// `stored_len(n)` bytes for an `n`-byte value: the count [`for_sizes`](Self::for_sizes)
    /// chooses for vectors, used for compact codes too.
    pub fn slots_for_items(item_len: usize, stored_len: &dyn Fn(usize) -> usize) -> u32 {
        vector_slots(item_len, stored_len)
    }

    /// Link chunks needed for `slot_count` slots.
    pub fn link_chunks(&self, slot_count: u32) -> usize {
        slot_count.div_ceil(self.link_slots) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fill_their_pages() {
        // 384-d cosine (1540-byte vectors), M0 = 32, with LMDB's (a 16-byte overflow
        // header) and redb's allocations for large values.
        let lmdb = |len: usize| (len + 16).div_ceil(PAGE) * PAGE;
        let redb = |len: usize| (len + 64).div_ceil(PAGE).next_power_of_two() * PAGE;
        let g = Geometry::for_sizes(1540, 32, &lmdb);
        assert_eq!(g.vector_slots, 61);
        assert_eq!(
            lmdb(61 * 1540) - 61 * 1540,
            268,
            "4.4 bytes spare per vector"
        );
        // Every allowed count wastes at least as much per vector.
        for slots in 32..=63 {
            assert!(
                (lmdb(slots * 1540) - slots * 1540) * 61 >= 268 * slots,
                "{slots}"
            );
        }
        // redb rounds 23 pages up to 32: it gets 16-page chunks instead.
        let r = Geometry::for_sizes(1540, 32, &redb);
        assert_eq!(r.vector_slots, 42);
        assert_eq!(redb(42 * 1540), 16 * PAGE);
        // A store keeping values as they are: the smallest chunk of 12 pages.
        assert_eq!(Geometry::for_sizes(1540, 32, &|len| len).vector_slots, 32);
        // 128-d euclidean (512 bytes) on LMDB: a vector's worth spare per chunk whatever
        // its size, so the largest chunk, 24 pages, holds 191.
        assert_eq!(Geometry::for_sizes(512, 32, &lmdb).vector_slots, 191);
        assert_eq!(g.link_slots, 120);
        assert!(g.link_slots as usize * links::record0_len(32) + 8 <= 4 * 4096 - 16);
        // Link chunks are sized through the store too: 119 in redb's four pages (120 would
        // take eight), all 128 where nothing is rounded up, and with M0 = 8 what fills one
        // LMDB page.
        assert_eq!(r.link_slots, 119);
        assert_eq!(redb(119 * links::record0_len(32) + 8), 4 * PAGE);
        assert_eq!(redb(120 * links::record0_len(32) + 8), 8 * PAGE);
        assert_eq!(Geometry::for_sizes(1540, 32, &|len| len).link_slots, 128);
        let m0_8 = Geometry::for_sizes(1540, 8, &lmdb).link_slots as usize;
        assert_eq!(lmdb(m0_8 * links::record0_len(8) + 8), PAGE);
        assert!(lmdb((m0_8 + 1) * links::record0_len(8) + 8) > PAGE);
        // The trailer never pushes a chunk onto another page.
        assert!(lmdb(61 * 1540 + 8) == lmdb(61 * 1540));
        assert!(redb(42 * 1540 + 8) == 16 * PAGE);
        // Huge vectors still get one per chunk; tiny link records cap at 128.
        assert_eq!(Geometry::for_sizes(1 << 20, 32, &lmdb).vector_slots, 1);
        assert_eq!(Geometry::for_sizes(8, 2, &lmdb).link_slots, 128);
        assert_eq!(g.vector_place(123), (2, 1));
        assert_eq!(g.link_chunks(241), 3);
    }
}
