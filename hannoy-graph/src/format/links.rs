//! Link records: fixed-width, so a node's links are a slice of its chunk, read in place.
//!
//! Layer 0: every slot of a chunk has a record of `8 + 4 * m0` bytes:
//! `[item id: u32][level: u8][degree: u8][0u8; 2][links: u32; m0]` (little-endian; unused link
//! places are zero; a free slot has level [`FREE`]).
//!
//! Layers above 0: a chunk starts with a 128-bit presence mask (u128 LE, bit `i` set when
//! the chunk's slot `i` lives on the layer), followed by one entry of `4 + 4 * m` bytes per
//! present slot, in slot order: `[degree: u8][0u8; 3][links: u32; m]`.

/// The level byte of a free (unused) slot.
pub const FREE: u8 = 0xff;

/// Bytes of a layer-0 record's header.
pub const RECORD0_HEADER: usize = 8;

/// Bytes of an upper-layer chunk's presence mask.
pub const MASK_LEN: usize = 16;

/// Bytes of a layer-0 record.
pub fn record0_len(m0: usize) -> usize {
    RECORD0_HEADER + 4 * m0
}

/// Bytes of a layer-0 chunk of `slots` slots.
pub fn chunk0_len(slots: u32, m0: usize) -> usize {
    slots as usize * record0_len(m0)
}

/// Bytes of an upper-layer entry.
pub fn upper_entry_len(m: usize) -> usize {
    4 + 4 * m
}

/// The links stored in `bytes` (`degree` little-endian u32s).
#[inline]
pub fn decode_links(bytes: &[u8], degree: usize) -> impl Iterator<Item = u32> + '_ {
    bytes[..4 * degree]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A layer-0 record, read in place.
#[derive(Clone, Copy)]
pub struct Record0<'a> {
    bytes: &'a [u8],
}

impl<'a> Record0<'a> {
    /// The record of `offset` (slot within chunk) in a layer-0 chunk whose length was
    /// checked to be [`chunk0_len`].
    #[inline]
    pub fn at(chunk: &'a [u8], offset: usize, m0: usize) -> Record0<'a> {
        let len = record0_len(m0);
        Record0 {
            bytes: &chunk[offset * len..(offset + 1) * len],
        }
    }

    /// The record's bytes (header and links).
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The item stored in the slot.
    #[inline]
    pub fn item(&self) -> u32 {
        u32::from_le_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
    }

    /// The node's top layer, or `None` for a free slot.
    #[inline]
    pub fn level(&self) -> Option<u8> {
        match self.bytes[4] {
            FREE => None,
            level => Some(level),
        }
    }

    /// How many links the node has on layer 0 (at most m0, checked when chunks load).
    #[inline]
    pub fn degree(&self) -> usize {
        usize::from(self.bytes[5])
    }

    /// The node's layer-0 links.
    #[inline]
    pub fn links(&self) -> impl Iterator<Item = u32> + 'a {
        let bytes = self.bytes;
        decode_links(&bytes[RECORD0_HEADER..], usize::from(bytes[5]))
    }
}

/// Checks a layer-0 record, used or free, once when its chunk loads: a degree within `m0`
/// and links below `slot_count`, so that reading it later needs no check. Returns what is
/// wrong.
pub fn check_record0(record: Record0<'_>, m0: usize, slot_count: u32) -> Result<(), String> {
    if record.degree() > m0 {
        return Err(format!("degree {} exceeds m0 = {m0}", record.degree()));
    }
    match record.links().find(|&link| link >= slot_count) {
        Some(link) => Err(format!("link to slot {link} is past the last slot")),
        None => Ok(()),
    }
}

/// Checks every entry of an upper-layer chunk whose length matches its mask
/// ([`upper_chunk_len`]), once when it loads: degrees within `m` and links below
/// `slot_count`. Returns what is wrong.
pub fn check_upper_chunk(chunk: &[u8], m: usize, slot_count: u32) -> Result<(), String> {
    let entries = chunk.get(MASK_LEN..).unwrap_or_default();
    for (rank, entry) in entries.chunks_exact(upper_entry_len(m)).enumerate() {
        let degree = usize::from(entry[0]);
        if degree > m {
            return Err(format!(
                "entry {rank} has degree {degree}, more than m = {m}"
            ));
        }
        if let Some(link) = decode_links(&entry[4..], degree).find(|&link| link >= slot_count) {
            return Err(format!(
                "entry {rank} links to slot {link}, past the last slot"
            ));
        }
    }
    Ok(())
}

/// Writes a layer-0 record into `out` (exactly [`record0_len`] bytes).
pub fn write_record0(out: &mut [u8], item: u32, level: Option<u8>, links: &[u32]) {
    out.fill(0);
    out[..4].copy_from_slice(&item.to_le_bytes());
    out[4] = level.unwrap_or(FREE);
    out[5] = links.len() as u8;
    for (place, link) in out[RECORD0_HEADER..].chunks_exact_mut(4).zip(links) {
        place.copy_from_slice(&link.to_le_bytes());
    }
}

/// The presence mask of an upper-layer chunk (length checked on load).
#[inline]
pub fn upper_mask(chunk: &[u8]) -> u128 {
    let mut mask = [0; MASK_LEN];
    mask.copy_from_slice(&chunk[..MASK_LEN]);
    u128::from_le_bytes(mask)
}

/// The expected length of an upper-layer chunk with this mask.
pub fn upper_chunk_len(mask: u128, m: usize) -> usize {
    MASK_LEN + mask.count_ones() as usize * upper_entry_len(m)
}

/// The links of slot `offset` in an upper-layer chunk, or `None` if the slot is not on the
/// layer.
#[inline]
pub fn upper_links(
    chunk: &[u8],
    offset: usize,
    m: usize,
) -> Option<impl Iterator<Item = u32> + '_> {
    let mask = upper_mask(chunk);
    if mask & (1u128 << offset) == 0 {
        return None;
    }
    let rank = (mask & ((1u128 << offset) - 1)).count_ones() as usize;
    let start = MASK_LEN + rank * upper_entry_len(m);
    let entry = &chunk[start..start + upper_entry_len(m)];
    Some(decode_links(&entry[4..], usize::from(entry[0])))
}

/// Builds an upper-layer chunk from `(offset, links)` pairs sorted by offset.
pub fn encode_upper_chunk<'a>(
    entries: impl IntoIterator<Item = (usize, &'a [u32])>,
    m: usize,
) -> Vec<u8> {
    let mut mask = 0u128;
    let mut body = Vec::new();
    for (offset, links) in entries {
        mask |= 1u128 << offset;
        let start = body.len();
        body.resize(start + upper_entry_len(m), 0);
        body[start] = links.len() as u8;
        for (place, link) in body[start + 4..].chunks_exact_mut(4).zip(links) {
            place.copy_from_slice(&link.to_le_bytes());
        }
    }
    let mut out = Vec::with_capacity(MASK_LEN + body.len());
    out.extend_from_slice(&mask.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record0_roundtrip() {
        let m0 = 4;
        let mut chunk = vec![0; chunk0_len(16, m0)];
        let len = record0_len(m0);
        write_record0(&mut chunk[3 * len..4 * len], 77, Some(2), &[5, 6, 7]);
        write_record0(&mut chunk[4 * len..5 * len], 0, None, &[]);
        let record = Record0::at(&chunk, 3, m0);
        assert_eq!(
            (record.item(), record.level(), record.degree()),
            (77, Some(2), 3)
        );
        assert_eq!(record.links().collect::<Vec<_>>(), vec![5, 6, 7]);
        assert_eq!(Record0::at(&chunk, 4, m0).level(), None);
    }

    #[test]
    fn damaged_records_are_found_not_sliced() {
        let m0 = 4;
        let len = record0_len(m0);
        let mut chunk = vec![0; chunk0_len(2, m0)];
        write_record0(&mut chunk[..len], 7, Some(0), &[1, 2]);
        write_record0(&mut chunk[len..], 0, None, &[]);
        for offset in 0..2 {
            assert_eq!(
                check_record0(Record0::at(&chunk, offset, m0), m0, 3),
                Ok(())
            );
        }
        // A link past the slot count, then a degree past m0, on a used and a free slot.
        assert!(check_record0(Record0::at(&chunk, 0, m0), m0, 2).is_err());
        for offset in 0..2 {
            let mut damaged = chunk.clone();
            damaged[offset * len + 5] = 255;
            let err = check_record0(Record0::at(&damaged, offset, m0), m0, 3).unwrap_err();
            assert!(err.contains("degree 255"), "{err}");
        }
    }

    #[test]
    fn damaged_upper_chunks_are_found_not_sliced() {
        let m = 3;
        let chunk = encode_upper_chunk([(0, &[1u32, 2][..]), (5, &[9u32][..])], m);
        assert_eq!(check_upper_chunk(&chunk, m, 10), Ok(()));
        let err = check_upper_chunk(&chunk, m, 9).unwrap_err();
        assert!(err.contains("entry 1 links to slot 9"), "{err}");
        let mut damaged = chunk.clone();
        damaged[MASK_LEN + upper_entry_len(m)] = 200;
        let err = check_upper_chunk(&damaged, m, 10).unwrap_err();
        assert!(err.contains("entry 1 has degree 200"), "{err}");
        assert_eq!(check_upper_chunk(&[], m, 10), Ok(()));
    }

    #[test]
    fn upper_chunk_roundtrip() {
        let m = 3;
        let a = [1u32, 2];
        let b = [9u32, 8, 7];
        let chunk = encode_upper_chunk([(0, &a[..]), (127, &b[..])], m);
        assert_eq!(chunk.len(), upper_chunk_len(upper_mask(&chunk), m));
        assert_eq!(upper_links(&chunk, 0, m).unwrap().collect::<Vec<_>>(), a);
        assert_eq!(upper_links(&chunk, 127, m).unwrap().collect::<Vec<_>>(), b);
        assert!(upper_links(&chunk, 5, m).is_none());
    }
}
