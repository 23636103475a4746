//! The metadata value of an index: its codec, and its read and write, shared by the
//! reader and the writer.

use hannoy_metrics::Metric;

use crate::error::{Error, Result};
use crate::format::{
    CHECKSUMS_SINCE, CODES_SINCE, FORMAT_VERSION, Geometry, MAX_LINK_CHUNK_SLOTS,
    MAX_VECTOR_CHUNK_BYTES, checksum, foreign, key,
};
use crate::store::{ReadTxn, StoreError, WriteTxn};

/// The first bytes of every metadata value: tells a hannoy index from foreign bytes.
const MAGIC: [u8; 4] = *b"hnyI";

/// What an index stores about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The format version the index is written in: [`FORMAT_VERSION`] for an index created
    /// now; 1 for one created before values carried checksums, which every write keeps (its
    /// values stay without checksums until the index is cleared and written again).
    pub version: u32,
    /// The metric's stable name ([`hannoy_metrics::Metric::NAME`]).
    pub metric: String,
    /// Components per vector.
    pub dimensions: u32,
    /// Links per node on layers above 0.
    pub m: u16,
    /// Links per node on layer 0.
    pub m0: u16,
    /// Candidate list size used while building.
    pub ef_construction: u32,
    /// The slot search starts from; `None` when the index is empty.
    pub entry_point: Option<u32>,
    /// The highest layer (the entry point's level).
    pub max_level: u8,
    /// Slots in use or free, `0..slot_count`: the high-water mark of the chunk arrays.
    /// Grows when `add_item` reserves a slot for a new vector.
    pub slot_count: u32,
    /// How slots are grouped into chunks.
    pub geometry: Geometry,
    /// Live items in the graph.
    pub item_count: u32,
    /// The compact codes kept beside the vectors, if any (format version 3).
    pub codes: Option<CodesInfo>,
}

/// What the metadata says of an index's compact codes: the scheme, one code's length and
/// how codes group into chunks. The quantizer itself (rotation seed, centre) is its own
/// value ([`Tag::Quantizer`](crate::format::key::Tag::Quantizer)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodesInfo {
    /// The scheme's stable name ([`hannoy_metrics::Scheme::name`]).
    pub scheme: String,
    /// Bytes of one code, factors included.
    pub code_len: u32,
    /// Codes per chunk.
    pub code_slots: u32,
    /// Whether the index keeps codes only, no full vectors (codes flag 2): searches rank by
    /// the codes, and builds link new items against the vectors the codes stand for
    /// ([`Quantizer::decode`](hannoy_metrics::Quantizer::decode)).
    pub only: bool,
}

impl CodesInfo {
    /// Code chunks needed for `slot_count` slots.
    pub fn chunks(&self, slot_count: u32) -> usize {
        slot_count.div_ceil(self.code_slots) as usize
    }

    /// The code chunk holding `slot`, and the slot's place in it.
    #[inline]
    pub fn place(&self, slot: u32) -> (u32, usize) {
        (slot / self.code_slots, (slot % self.code_slots) as usize)
    }
}

impl Metadata {
    /// Whether the index keeps compact codes and no full vectors ([`CodesInfo::only`]).
    #[inline]
    pub fn codes_only(&self) -> bool {
        self.codes.as_ref().is_some_and(|codes| codes.only)
    }

    /// Whether every value of the index ends with a checksum trailer
    /// ([`checksum`]): format version 2 and later.
    #[inline]
    pub fn checksums(&self) -> bool {
        self.version >= CHECKSUMS_SINCE
    }

    /// `payload` as stored under `key` in this index: with its checksum trailer when the
    /// index has them.
    pub fn seal(&self, key: &[u8], payload: Vec<u8>) -> Vec<u8> {
        checksum::seal(self.checksums(), key, payload)
    }

    /// The payload of `value`, stored under `key` in this index, after checking its
    /// checksum when the index has them.
    ///
    /// # Errors
    /// [`StoreError::Corrupted`] naming `key` ("checksum mismatch").
    pub fn unseal<'a>(&self, key: &[u8], value: &'a [u8]) -> Result<&'a [u8]> {
        checksum::unseal(self.checksums(), key, value)
    }

    /// Encodes the metadata in its [`version`](Self::version), to be stored under `key`
    /// (version 2 and later end with the checksum trailer).
    pub fn encode(&self, key: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(56 + self.metric.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.geometry.vector_slots.to_le_bytes());
        out.extend_from_slice(&self.geometry.link_slots.to_le_bytes());
        let name = self.metric.as_bytes();
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&self.dimensions.to_le_bytes());
        out.extend_from_slice(&self.m.to_le_bytes());
        out.extend_from_slice(&self.m0.to_le_bytes());
        out.extend_from_slice(&self.ef_construction.to_le_bytes());
        out.extend_from_slice(&self.entry_point.unwrap_or(u32::MAX).to_le_bytes());
        out.push(self.max_level);
        out.extend_from_slice(&self.slot_count.to_le_bytes());
        out.extend_from_slice(&self.item_count.to_le_bytes());
        if self.version >= CODES_SINCE {
            match &self.codes {
                None => out.push(0),
                Some(codes) => {
                    out.push(if codes.only { 2 } else { 1 });
                    let name = codes.scheme.as_bytes();
                    out.push(name.len() as u8);
                    out.extend_from_slice(name);
                    out.extend_from_slice(&codes.code_len.to_le_bytes());
                    out.extend_from_slice(&codes.code_slots.to_le_bytes());
                }
            }
        }
        self.seal(key, out)
    }

    /// Decodes a metadata value stored under `key`.
    ///
    /// # Errors
    /// [`StoreError::VersionMismatch`] for a format version outside 1 to
    /// [`FORMAT_VERSION`]; [`StoreError::Corrupted`] for foreign or truncated bytes, or
    /// (version 2 and later) a checksum mismatch.
    pub fn decode(bytes: &[u8], key: &[u8]) -> Result<Metadata> {
        let mut reader = Reader { bytes, key };
        if reader.take::<4>()? != MAGIC {
            return Err(Error::corrupted(
                "not a hannoy index (bad magic in metadata)",
                key,
            ));
        }
        let version = u32::from_le_bytes(reader.take()?);
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(StoreError::VersionMismatch {
                found: version,
                supported: FORMAT_VERSION,
            }
            .into());
        }
        // The version is read before the checksum is checked: it says whether there is one.
        // A damaged version byte gives VersionMismatch, or (1 <-> 2) a length or checksum
        // error below.
        let bytes = checksum::unseal(version >= CHECKSUMS_SINCE, key, bytes)?;
        let mut reader = Reader {
            bytes: bytes.get(8..).unwrap_or_default(),
            key,
        };
        if bytes.len() < 8 {
            return Err(Error::corrupted("metadata is truncated", key));
        }
        let vector_slots = u32::from_le_bytes(reader.take()?);
        let link_slots = u32::from_le_bytes(reader.take()?);
        let geometry = Geometry {
            vector_slots,
            link_slots,
        };
        let [name_len] = reader.take()?;
        let name = reader.slice(name_len as usize)?;
        let metric = std::str::from_utf8(name)
            .map_err(|_| Error::corrupted("metric name is not UTF-8", key))?
            .to_owned();
        let dimensions = u32::from_le_bytes(reader.take()?);
        let m = u16::from_le_bytes(reader.take()?);
        let m0 = u16::from_le_bytes(reader.take()?);
        let ef_construction = u32::from_le_bytes(reader.take()?);
        let entry_point = match u32::from_le_bytes(reader.take()?) {
            u32::MAX => None,
            slot => Some(slot),
        };
        let [max_level] = reader.take()?;
        let slot_count = u32::from_le_bytes(reader.take()?);
        let item_count = u32::from_le_bytes(reader.take()?);
        let codes = if version >= CODES_SINCE {
            match reader.take::<1>()? {
                [0] => None,
                [flag @ (1 | 2)] => {
                    let [name_len] = reader.take()?;
                    let name = reader.slice(name_len as usize)?;
                    let scheme = std::str::from_utf8(name)
                        .map_err(|_| Error::corrupted("code scheme name is not UTF-8", key))?
                        .to_owned();
                    let code_len = u32::from_le_bytes(reader.take()?);
                    let code_slots = u32::from_le_bytes(reader.take()?);
                    Some(CodesInfo {
                        scheme,
                        code_len,
                        code_slots,
                        only: flag == 2,
                    })
                }
                [flag] => {
                    return Err(Error::corrupted(
                        format!("unknown codes flag {flag} in metadata"),
                        key,
                    ));
                }
            }
        } else {
            None
        };
        if !reader.bytes.is_empty() {
            return Err(Error::corrupted("metadata has trailing bytes", key));
        }
        let metadata = Metadata {
            version,
            metric,
            dimensions,
            m,
            m0,
            ef_construction,
            entry_point,
            max_level,
            slot_count,
            geometry,
            item_count,
            codes,
        };
        metadata.validate(key)?;
        Ok(metadata)
    }

    /// The byte length of a vector chunk of vectors `encoded_len` bytes long (what the
    /// metric encodes [`dimensions`](Self::dimensions) into), checked once when the metadata
    /// is read with its metric: it must be a number, and a chunk of several slots at most
    /// [`MAX_VECTOR_CHUNK_BYTES`], so a damaged geometry can neither overflow a byte count
    /// nor make a writer allocate a huge zeroed chunk.
    ///
    /// # Errors
    /// [`StoreError::Corrupted`] naming `key`.
    pub fn validate_chunk_bytes(&self, encoded_len: usize, key: &[u8]) -> Result<usize> {
        let slots = self.geometry.vector_slots as usize;
        encoded_len
            .checked_mul(slots)
            .filter(|&bytes| bytes <= isize::MAX as usize)
            .filter(|&bytes| slots == 1 || bytes <= MAX_VECTOR_CHUNK_BYTES)
            .ok_or_else(|| {
                Error::corrupted(
                    format!(
                        "vector chunks of {slots} slots of {encoded_len} bytes are out of range"
                    ),
                    key,
                )
            })
    }

    /// Checks the invariants every decoder downstream relies on.
    fn validate(&self, key: &[u8]) -> Result<()> {
        let bad = |what: String| Err(Error::corrupted(what, key));
        if self.m < 2 || self.m > self.m0 || self.m0 > crate::params::MAX_M0 {
            return bad(format!(
                "link counts m = {}, m0 = {} are out of range",
                self.m, self.m0
            ));
        }
        let Geometry {
            vector_slots,
            link_slots,
        } = self.geometry;
        if vector_slots == 0 || link_slots == 0 || link_slots > MAX_LINK_CHUNK_SLOTS {
            return bad(format!(
                "chunk sizes {vector_slots} / {link_slots} are out of range"
            ));
        }
        if self.dimensions == 0 {
            return bad("zero dimensions".into());
        }
        if self.entry_point.is_some_and(|slot| slot >= self.slot_count) {
            return bad("entry point is past the last slot".into());
        }
        if self.entry_point.is_none() && self.item_count != 0 {
            return bad("items but no entry point".into());
        }
        if self.item_count > self.slot_count {
            return bad("more items than slots".into());
        }
        if usize::from(self.max_level) >= crate::params::MAX_LEVELS {
            return bad(format!("max level {} is out of range", self.max_level));
        }
        if let Some(codes) = &self.codes {
            let Some(scheme) = hannoy_metrics::Scheme::from_name(&codes.scheme) else {
                return bad(format!("unknown code scheme {:?}", codes.scheme));
            };
            if codes.only && !scheme.decodes() {
                return bad(format!("a codes-only index of {scheme} codes"));
            }
            let slots = codes.code_slots as usize;
            let fits = (codes.code_len as usize)
                .checked_mul(slots)
                .is_some_and(|bytes| slots == 1 || bytes <= MAX_VECTOR_CHUNK_BYTES);
            if codes.code_len == 0 || slots == 0 || !fits {
                return bad(format!(
                    "code chunks of {slots} codes of {} bytes are out of range",
                    codes.code_len
                ));
            }
        }
        Ok(())
    }
}

/// Reads and checks the metadata of `index`, if it exists: refuses an index written by
/// another library, and checks the stored metric is `M` and its vector chunks' size.
///
/// # Errors
/// [`StoreError::ForeignFormat`]; [`Error::MetricMismatch`]; as [`Metadata::decode`] and
/// [`Metadata::validate_chunk_bytes`]; store errors.
pub(crate) fn read_metadata<M: Metric, T: ReadTxn>(
    txn: &T,
    index: u16,
) -> Result<Option<Metadata>> {
    foreign::refuse_foreign(txn, index)?;
    let meta_key = key::prefix(index, key::Tag::Metadata);
    let Some(bytes) = txn.get(&meta_key)? else {
        return Ok(None);
    };
    let meta = Metadata::decode(bytes.as_ref(), &meta_key)?;
    if meta.metric != M::NAME {
        return Err(Error::MetricMismatch {
            index,
            stored: meta.metric,
            requested: M::NAME,
        });
    }
    meta.validate_chunk_bytes(M::encoded_len(meta.dimensions as usize), &meta_key)?;
    Ok(Some(meta))
}

/// The key and the value storing `meta` as the metadata of `index` (the value seals
/// itself: its version says whether it has a checksum).
pub(crate) fn stored_entry(index: u16, meta: &Metadata) -> (Vec<u8>, Vec<u8>) {
    let meta_key = key::prefix(index, key::Tag::Metadata);
    (meta_key.to_vec(), meta.encode(&meta_key))
}

/// Writes `meta` as the metadata of `index`.
pub(crate) fn write_metadata<T: WriteTxn>(txn: &mut T, index: u16, meta: &Metadata) -> Result<()> {
    let (meta_key, value) = stored_entry(index, meta);
    txn.put(&meta_key, &value)?;
    Ok(())
}

/// A bounds-checked cursor over a value.
struct Reader<'a> {
    bytes: &'a [u8],
    key: &'a [u8],
}

impl<'a> Reader<'a> {
    fn slice(&mut self, len: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < len {
            return Err(Error::corrupted("metadata is truncated", self.key));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let slice = self.slice(N)?;
        let mut array = [0; N];
        array.copy_from_slice(slice);
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata {
            version: FORMAT_VERSION,
            metric: "cosine".into(),
            dimensions: 384,
            m: 16,
            m0: 32,
            ef_construction: 100,
            entry_point: Some(7),
            max_level: 3,
            slot_count: 10,
            geometry: Geometry {
                vector_slots: 42,
                link_slots: 120,
            },
            item_count: 9,
            codes: Some(CodesInfo {
                scheme: "sq8".into(),
                code_len: 400,
                code_slots: 200,
                only: false,
            }),
        }
    }

    #[test]
    fn roundtrip() {
        let meta = sample();
        assert_eq!(Metadata::decode(&meta.encode(b"k"), b"k").unwrap(), meta);
        let empty = Metadata {
            entry_point: None,
            item_count: 0,
            slot_count: 0,
            ..sample()
        };
        assert_eq!(Metadata::decode(&empty.encode(b"k"), b"k").unwrap(), empty);
    }

    #[test]
    fn every_truncation_is_corrupted_not_a_panic() {
        let bytes = sample().encode(b"k");
        for len in 0..bytes.len() {
            let err = Metadata::decode(&bytes[..len], b"k").unwrap_err();
            assert!(
                matches!(err, Error::Store(StoreError::Corrupted { .. })),
                "{len}: {err}"
            );
        }
    }

    #[test]
    fn other_version_and_foreign_bytes() {
        let mut bytes = sample().encode(b"k");
        bytes[4..8].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let err = Metadata::decode(&bytes, b"k").unwrap_err();
        assert!(
            matches!(err, Error::Store(StoreError::VersionMismatch { found, .. }) if found == FORMAT_VERSION + 1)
        );
        let err = Metadata::decode(b"{\"json\": true}", b"k").unwrap_err();
        assert!(err.to_string().contains("not a hannoy index"), "{err}");
    }

    #[test]
    fn version_1_has_no_checksum_version_2_checks_it() {
        let v1 = Metadata {
            version: 1,
            codes: None,
            ..sample()
        };
        let bytes = v1.encode(b"k");
        let v2 = Metadata {
            version: 2,
            codes: None,
            ..sample()
        };
        assert_eq!(bytes.len() + checksum::TRAILER_LEN, v2.encode(b"k").len());
        assert_eq!(Metadata::decode(&v2.encode(b"k"), b"k").unwrap(), v2);
        let decoded = Metadata::decode(&bytes, b"k").unwrap();
        assert_eq!(decoded, v1);
        assert!(!decoded.checksums());
        // Version 2: any flipped bit past the version, or another key, is a mismatch.
        let bytes = sample().encode(b"k");
        assert!(Metadata::decode(&bytes, b"k").unwrap().checksums());
        for bit in 64..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let err = Metadata::decode(&damaged, b"k").unwrap_err();
            assert!(
                err.to_string().contains("checksum mismatch"),
                "{bit}: {err}"
            );
        }
        let err = Metadata::decode(&bytes, b"other").unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn codes_block_roundtrips_and_is_checked() {
        let none = Metadata {
            codes: None,
            ..sample()
        };
        assert_eq!(Metadata::decode(&none.encode(b"k"), b"k").unwrap(), none);
        assert_eq!(
            none.encode(b"k").len() + 1 + 3 + 8,
            sample().encode(b"k").len()
        );
        for bad in [
            CodesInfo {
                scheme: "pq".into(),
                code_len: 400,
                code_slots: 200,
                only: false,
            },
            CodesInfo {
                scheme: "sq8".into(),
                code_len: 0,
                code_slots: 200,
                only: false,
            },
            CodesInfo {
                scheme: "sq8".into(),
                code_len: 1 << 20,
                code_slots: 200,
                only: false,
            },
            CodesInfo {
                scheme: "rabitq1".into(),
                code_len: 64,
                code_slots: 200,
                only: true,
            },
        ] {
            let meta = Metadata {
                codes: Some(bad.clone()),
                ..sample()
            };
            let err = Metadata::decode(&meta.encode(b"k"), b"k").unwrap_err();
            assert!(
                matches!(err, Error::Store(StoreError::Corrupted { .. })),
                "{bad:?}: {err}"
            );
        }
        let only = Metadata {
            codes: Some(CodesInfo {
                only: true,
                ..sample().codes.unwrap()
            }),
            ..sample()
        };
        let encoded = only.encode(b"k");
        assert_eq!(Metadata::decode(&encoded, b"k").unwrap(), only);
        assert_eq!(encoded.len(), sample().encode(b"k").len());
        let codes = sample().codes.unwrap();
        assert_eq!(codes.chunks(401), 3);
        assert_eq!(codes.place(401), (2, 1));
    }

    #[test]
    fn chunk_bytes_are_bounded() {
        let meta = sample();
        assert_eq!(meta.validate_chunk_bytes(16, b"k").unwrap(), 42 * 16);
        assert!(meta.validate_chunk_bytes(usize::MAX / 2, b"k").is_err());
        assert!(
            meta.validate_chunk_bytes(MAX_VECTOR_CHUNK_BYTES, b"k")
                .is_err()
        );
        let alone = Metadata {
            geometry: Geometry {
                vector_slots: 1,
                link_slots: 120,
            },
            ..sample()
        };
        assert!(alone.validate_chunk_bytes(1 << 34, b"k").is_ok());
        let huge = Metadata {
            geometry: Geometry {
                vector_slots: u32::MAX,
                link_slots: 120,
            },
            ..sample()
        };
        assert!(huge.validate_chunk_bytes(1 << 34, b"k").is_err());
    }

    #[test]
    fn inconsistent_values_are_rejected() {
        let bad = Metadata {
            entry_point: Some(10),
            ..sample()
        };
        assert!(Metadata::decode(&bad.encode(b"k"), b"k").is_err());
        let bad = Metadata { m: 40, ..sample() };
        assert!(Metadata::decode(&bad.encode(b"k"), b"k").is_err());
        let bad = Metadata {
            geometry: Geometry {
                vector_slots: 1,
                link_slots: 129,
            },
            ..sample()
        };
        assert!(Metadata::decode(&bad.encode(b"k"), b"k").is_err());
    }
}
