//! Keys: `[index: u16 BE][tag: u8][payload]`, big-endian so byte order is numeric order.
//!
//! See `docs/format.md` for the whole layout.

/// What a key holds; the byte after the index number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// The index's metadata (one key).
    Metadata = 0x00,
    /// The roaring bitmap of the items in the graph as of the last build (one key).
    Items = 0x01,
    /// A change since the last build: `[id]` → the slot holding the item's new vector, u32
    /// LE (add or replace), or nothing (delete).
    Pending = 0x02,
    /// Where a built item lives: `[id]` → its slot, u32 LE.
    Slot = 0x03,
    /// The roaring bitmap of free slots, reused by the next `add_item`s (one key).
    FreeSlots = 0x04,
    /// The fitted quantizer of the index's compact codes, when it has them (one key):
    /// [`hannoy_metrics::Quantizer::to_bytes`].
    Quantizer = 0x05,
    /// Encoded vectors of a chunk of slots: `[chunk]`.
    Vectors = 0x10,
    /// Links of a chunk of slots on one layer: `[layer: u8][chunk]`.
    Links = 0x11,
    /// Compact codes of a chunk of slots: `[chunk]`, laid out like [`Tag::Vectors`].
    Codes = 0x12,
}

/// The number of bytes every key starts with: index and tag.
pub const HEADER_LEN: usize = 3;

/// The key of a tag without payload, which is also the prefix of all keys of that tag.
pub fn prefix(index: u16, tag: Tag) -> [u8; HEADER_LEN] {
    let [a, b] = index.to_be_bytes();
    [a, b, tag as u8]
}

/// The prefix of every key of an index.
pub fn index_prefix(index: u16) -> [u8; 2] {
    index.to_be_bytes()
}

/// `[index][tag][id BE]`, for the per-item tags.
pub fn item(index: u16, tag: Tag, id: u32) -> [u8; HEADER_LEN + 4] {
    let mut key = [0; HEADER_LEN + 4];
    key[..HEADER_LEN].copy_from_slice(&prefix(index, tag));
    key[HEADER_LEN..].copy_from_slice(&id.to_be_bytes());
    key
}

/// `[index][Vectors][chunk BE]`.
pub fn vectors(index: u16, chunk: u32) -> [u8; HEADER_LEN + 4] {
    item(index, Tag::Vectors, chunk)
}

/// `[index][Codes][chunk BE]`.
pub fn codes(index: u16, chunk: u32) -> [u8; HEADER_LEN + 4] {
    item(index, Tag::Codes, chunk)
}

/// `[index][Links][layer]`: the prefix of one layer's link chunks.
pub fn links_layer(index: u16, layer: u8) -> [u8; HEADER_LEN + 1] {
    let mut key = [0; HEADER_LEN + 1];
    key[..HEADER_LEN].copy_from_slice(&prefix(index, Tag::Links));
    key[HEADER_LEN] = layer;
    key
}

/// `[index][Links][layer][chunk BE]`.
pub fn links(index: u16, layer: u8, chunk: u32) -> [u8; HEADER_LEN + 5] {
    let mut key = [0; HEADER_LEN + 5];
    key[..HEADER_LEN + 1].copy_from_slice(&links_layer(index, layer));
    key[HEADER_LEN + 1..].copy_from_slice(&chunk.to_be_bytes());
    key
}

/// Reads the trailing big-endian u32 of a key (an item id or a chunk number) after checking
/// the key has the expected length.
pub fn trailing_u32(key: &[u8], expected_len: usize) -> Option<u32> {
    if key.len() != expected_len {
        return None;
    }
    let bytes: [u8; 4] = key[expected_len - 4..].try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically() {
        assert!(item(1, Tag::Slot, 255) < item(1, Tag::Slot, 256));
        assert!(item(1, Tag::Slot, u32::MAX)[..] < prefix(2, Tag::Metadata)[..]);
        assert!(links(0, 0, 9) < links(0, 1, 0));
        assert!(links(0, 1, 7).starts_with(&links_layer(0, 1)));
        assert_eq!(
            trailing_u32(&links(3, 2, 0xdead_beef), HEADER_LEN + 5),
            Some(0xdead_beef)
        );
        assert_eq!(trailing_u32(&[1, 2], HEADER_LEN + 4), None);
    }
}
