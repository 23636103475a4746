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

/// The size vector chunks aim at: 16 LMDB pages less the overflow page header, so a chunk
/// fills its pages with less than one vector to spare.
const VECTOR_CHUNK_TARGET: usize = 16 * 4096 - 16;

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
        let vector_slots = (VECTOR_CHUNK_TARGET / encoded_len.max(1)).max(1) as u32;
        let record = links::record0_len(m0);
        let pages = (MAX_LINK_CHUNK_SLOTS as usize * record / 4096).max(1);
        let link_slots =
            ((pages * 4096 - 16) / record).clamp(1, MAX_LINK_CHUNK_SLOTS as usize) as u32;
        Geometry {
            vector_slots,
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
        assert_eq!(g.vector_slots, 42);
        let slots = g.vector_slots as usize;
        assert!(slots * 1540 <= VECTOR_CHUNK_TARGET && (slots + 1) * 1540 > VECTOR_CHUNK_TARGET);
        assert_eq!(g.link_slots, 120);
        assert!(g.link_slots as usize * links::record0_len(32) <= 4 * 4096 - 16);
        // Huge vectors still get one per chunk; tiny link records cap at 128.
        assert_eq!(Geometry::for_sizes(1 << 20, 32).vector_slots, 1);
        assert_eq!(Geometry::for_sizes(8, 2).link_slots, 128);
        assert_eq!(g.vector_place(85), (2, 1));
        assert_eq!(g.link_chunks(241), 3);
    }
}
