//! The on-store layout: keys, metadata and chunk codecs. `docs/format.md` describes it in
//! one place; every decoder checks lengths, so bad bytes give
//! [`StoreError::Corrupted`](crate::store::StoreError::Corrupted), never a panic.

pub mod key;
pub mod links;
pub mod metadata;
pub mod values;

pub use metadata::Metadata;

/// The on-store format version, independent of the crate version. Bump it on any change a
/// reader of the old version would misread.
pub const FORMAT_VERSION: u32 = 1;

/// The most slots a link chunk holds (upper-layer chunks index them with a 128-bit mask).
pub const MAX_LINK_CHUNK_SLOTS: u32 = 128;

/// LMDB's page size, which chunk sizes are fitted to.
const PAGE: usize = 4096;

/// The header of an LMDB overflow page run (a value too large for a leaf page).
const OVERFLOW_HEADER: usize = 16;

/// How many pages a vector chunk may span: the count that wastes the fewest bytes per vector
/// is chosen (at 384-d cosine 23 pages hold 61 vectors with 4 bytes to spare per vector,
/// where 16 pages would leave 20). Bigger chunks would make each `add_item` rewrite more.
const VECTOR_CHUNK_PAGES: std::ops::RangeInclusive<usize> = 12..=24;

/// Slots per vector chunk for vectors of `encoded_len` bytes; 1 for vectors too large for
/// several to share [`VECTOR_CHUNK_PAGES`].
fn vector_slots(encoded_len: usize) -> u32 {
    let len = encoded_len.max(1);
    // (waste, slots) of the best page count so far; compared as waste / slots.
    let mut best: Option<(usize, usize)> = None;
    for pages in VECTOR_CHUNK_PAGES {
        let slots = (pages * PAGE - OVERFLOW_HEADER) / len;
        if slots == 0 {
            continue;
        }
        let used = (slots * len + OVERFLOW_HEADER).div_ceil(PAGE) * PAGE;
        let waste = used - slots * len;
        if best.is_none_or(|(w, s)| waste * s < w * slots) {
            best = Some((waste, slots));
        }
    }
    best.map_or(1, |(_, slots)| u32::try_from(slots).unwrap_or(u32::MAX))
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
    /// The grouping for vectors of `encoded_len` bytes and M0 links per node: chunks that
    /// fill whole LMDB pages (4 KiB, 16-byte overflow header) with little to spare.
    pub fn for_sizes(encoded_len: usize, m0: usize) -> Geometry {
        let record = links::record0_len(m0);
        let pages = (MAX_LINK_CHUNK_SLOTS as usize * record / PAGE).max(1);
        let link_slots = ((pages * PAGE - OVERFLOW_HEADER) / record)
            .clamp(1, MAX_LINK_CHUNK_SLOTS as usize) as u32;
        Geometry {
            vector_slots: vector_slots(encoded_len),
            link_slots,
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
        // 384-d cosine: 1540-byte vectors, M0 = 32.
        let g = Geometry::for_sizes(1540, 32);
        assert_eq!(g.vector_slots, 61);
        let bytes = g.vector_slots as usize * 1540 + OVERFLOW_HEADER;
        assert_eq!(bytes.div_ceil(PAGE), 23);
        assert!(23 * PAGE - bytes < 1540, "less than a vector to spare");
        // Every allowed page count wastes at least as much per vector.
        for pages in VECTOR_CHUNK_PAGES {
            let slots = (pages * PAGE - OVERFLOW_HEADER) / 1540;
            let waste = (slots * 1540 + OVERFLOW_HEADER).div_ceil(PAGE) * PAGE - slots * 1540;
            assert!(
                waste * 61 >= (23 * PAGE - 61 * 1540) * slots,
                "{pages} pages"
            );
        }
        // 128-d euclidean (512 bytes): one vector's worth spare per chunk whatever its
        // size, so the largest chunk, 24 pages, holds 191.
        assert_eq!(Geometry::for_sizes(512, 32).vector_slots, 191);
        assert_eq!(g.link_slots, 120);
        assert!(g.link_slots as usize * links::record0_len(32) <= 4 * 4096 - 16);
        // Huge vectors still get one per chunk; tiny link records cap at 128.
        assert_eq!(Geometry::for_sizes(1 << 20, 32).vector_slots, 1);
        assert_eq!(Geometry::for_sizes(8, 2).link_slots, 128);
        assert_eq!(g.vector_place(123), (2, 1));
        assert_eq!(g.link_chunks(241), 3);
    }
}
