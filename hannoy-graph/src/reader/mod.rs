//! Reading an index: metadata, items, vectors, and nearest-neighbour queries.

mod check;
mod codes;
mod filter;
mod query;

pub use check::CheckReport;
pub use filter::{FilterStrategy, GRAPH_DISTANCE_WEIGHT};
pub use query::{QueryBuilder, SearchStats, Searched};

use std::marker::PhantomData;
use std::sync::OnceLock;

use hannoy_metrics::Metric;
use roaring::RoaringBitmap;

use crate::chunks::Chunks;
use crate::error::{Error, Result};
use crate::format::metadata::read_metadata;
use crate::format::values::{self, Pending};
use crate::format::{Metadata, key, slot_map};
use crate::search::GraphView;
use crate::store::ReadTxn;

/// What [`Reader::prefetch`] reads ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    /// What a search walks: the links, and the codes of an index that keeps them (else the
    /// full vectors).
    Walk,
    /// The links, the codes and the full vectors.
    All,
}

/// The ef_search used when a query does not set one.
pub const DEFAULT_EF_SEARCH: usize = 64;

/// A read-only view of one index in one transaction.
///
/// On a store's own read transaction, opening reads the metadata and the item set and a
/// few keys that bound the slot count, whatever the index's size (about 10 µs): each chunk
/// of vectors and links is looked up, checked, and kept borrowed from the transaction the
/// first time a search needs it ([`ReadTxn::shared_get`]). On a transaction that several
/// threads may not share (an application's own, see `hannoy_storage`'s host adapters),
/// opening resolves every chunk at once (one ordered scan per chunk kind). Either way,
/// searches read vectors and links in place, with no store lookup per visited node once
/// its chunk is resolved. A `Reader` is `Send + Sync` on every backend: share one across
/// threads, or use [`QueryBuilder::by_vectors`] to spread a batch over rayon. Opening one
/// per request is cheap; a long-lived one has every chunk it used resolved already.
///
/// It shows the index as of its last build, less the items deleted since (a search between
/// `del_item` and `build` never returns a deleted item); items added or replaced since are
/// not seen until the next build.
pub struct Reader<'t, M: Metric, T: ReadTxn + 't> {
    index: u16,
    meta: Metadata,
    chunks: Chunks<'t, T::Bytes<'t>>,
    /// The compact codes, when the index keeps them.
    codes: Option<codes::ReaderCodes<'t, T::Bytes<'t>>>,
    items: RoaringBitmap,
    /// Whether some built items are hidden (deleted since the build).
    hides_items: bool,
    /// Built on the first filtered query.
    slots_by_id: OnceLock<filter::SlotIndex>,
    _metric: PhantomData<fn() -> M>,
}

impl<'t, M: Metric, T: ReadTxn + 't> Reader<'t, M, T> {
    /// Opens index `index`.
    ///
    /// # Errors
    /// [`Error::MissingIndex`] if it was never built; [`Error::MetricMismatch`] if it was
    /// built with another metric; [`Error::Store`] with `VersionMismatch` or `Corrupted` for
    /// bytes this build cannot read (every stored value is checked here, once, so searches
    /// trust them), or `ForeignFormat` for an index written by another library.
    pub fn open(txn: &'t T, index: u16) -> Result<Self> {
        let meta = read_metadata::<M, T>(txn, index)?.ok_or(Error::MissingIndex(index))?;
        let chunks = Chunks::load(txn, index, &meta, M::encoded_len(meta.dimensions as usize))?;
        let codes = codes::ReaderCodes::load(txn, index, &meta)?;
        let lazy = chunks.resolves_lazily();
        if let Some(codes) = codes.as_ref().filter(|_| meta.codes_only() && !lazy) {
            codes.check_present(&chunks, meta.slot_count)?;
        }
        let mut items = values::read_items(txn, index, &meta)?;
        let pending = values::pending_changes(txn, index, &meta)?;
        if lazy {
            check_slot_accounting(txn, index, &meta, &items, &pending)?;
        }
        let mut hides_items = false;
        for (id, change) in pending {
            if change == Pending::Delete {
                hides_items |= items.remove(id);
            }
        }
        Ok(Reader {
            index,
            meta,
            chunks,
            codes,
            items,
            hides_items,
            slots_by_id: OnceLock::new(),
            _metric: PhantomData,
        })
    }

    /// The index number.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Components per vector.
    pub fn dimensions(&self) -> usize {
        self.meta.dimensions as usize
    }

    /// The number of items a search can return.
    pub fn len(&self) -> u64 {
        self.items.len()
    }

    /// Whether a search returns nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items a search can return.
    pub fn item_ids(&self) -> &RoaringBitmap {
        &self.items
    }

    /// Whether a search can return `id`.
    pub fn contains_item(&self, id: u32) -> bool {
        self.items.contains(id)
    }

    /// The build parameters and graph shape, as stored (with the compact codes, if any, in
    /// [`Metadata::codes`]).
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The quantizer of the index's compact codes, if it keeps them: searches then walk the
    /// graph on codes and rescore with the full vectors ([`QueryBuilder::rescore`]).
    pub fn quantizer(&self) -> Option<&hannoy_metrics::Quantizer> {
        self.codes.as_ref().map(|codes| &codes.quantizer)
    }

    /// Copies what a walk on compact codes reads (every link chunk, and the code chunks
    /// when the index keeps codes) out of the store into memory this reader owns, checking
    /// the codes' checksums on the way; the full vectors stay in the store. Returns the
    /// bytes copied (0 on a second call).
    ///
    /// For a process whose memory limit is smaller than its store but larger than its links
    /// and codes: the page cache evicts whatever was read least recently, so the rescoring's
    /// reads of full vectors push the walk's links and codes out, and every query then
    /// faults them back in; a reader's own memory is not evicted (without swap). It costs
    /// one pass over those bytes here, and their size in memory for the reader's lifetime
    /// (about 150 B per item of links at m = 16, plus a code: a byte per dimension for
    /// sq8), where the store's pages would have cost it only while they stayed cached.
    ///
    /// # Errors
    /// [`StoreError::Corrupted`](crate::StoreError::Corrupted) for a code chunk whose
    /// checksum does not match (the reader then still reads every chunk from the store).
    pub fn hold_in_memory(&mut self) -> Result<usize> {
        let codes = match self.codes.as_mut() {
            Some(codes) => codes.chunks.copy_in()?,
            None => 0,
        };
        Ok(codes + self.chunks.copy_links_in()?)
    }

    /// Reads the index's pages ahead, so that the first searches of a freshly started
    /// process find them in memory instead of faulting them in one random read at a time:
    /// what a search walks (every link chunk, and the code chunks of an index that keeps
    /// codes, or else the vector chunks) with [`Prefetch::Walk`], and the full vectors too
    /// with [`Prefetch::All`]. Reads one byte per 4 KiB page, in parallel on the current
    /// rayon pool (LMDB's map and redb's pages alike); returns the bytes spanned. On a warm
    /// store it costs a pass over the page tables and changes nothing.
    ///
    /// Measured on 1M × 128 vectors after dropping the page cache: see
    /// `docs/benchmarks.md` (cold start). A store larger than the memory it may use gains
    /// nothing from [`Prefetch::All`]: prefetch what fits ([`Prefetch::Walk`] with codes).
    pub fn prefetch(&self, what: Prefetch) -> Result<u64>
    where
        T::Bytes<'t>: Sync,
    {
        let codes = match self.codes.as_ref() {
            Some(codes) => codes.chunks.touch()?,
            None => 0,
        };
        let vectors = what == Prefetch::All || (self.codes.is_none() && !self.meta.codes_only());
        Ok(codes + self.chunks.touch(vectors)?)
    }

    /// The vector of item `id` as stored (a quantized metric gives its reconstruction, a
    /// codes-only index the vector its code stands for, normalized under cosine), or
    /// `None` if the item is not in the index.
    ///
    /// # Errors
    /// Store errors; `Corrupted` if the stored vector does not decode.
    pub fn item_vector(&self, txn: &T, id: u32) -> Result<Option<Vec<f32>>> {
        let Some(slot) = self.slot_of(txn, id)? else {
            return Ok(None);
        };
        if let Some(codes) = self.codes_only() {
            return codes.stand_in(slot).map(Some);
        }
        let bytes = self.stored_vector(slot)?;
        let vector = M::decode(bytes, self.dimensions())
            .map_err(|e| Error::corrupted(format!("vector of item {id}: {e}"), &[]))?;
        Ok(Some(vector))
    }

    /// Every `(id, vector)` pair, in id order.
    pub fn iter<'r>(&'r self, txn: &'r T) -> impl Iterator<Item = Result<(u32, Vec<f32>)>> + 'r {
        self.items.iter().map(move |id| {
            let vector = self.item_vector(txn, id)?.ok_or(Error::ItemNotFound(id))?;
            Ok((id, vector))
        })
    }

    /// A nearest-neighbour query for the `k` closest items.
    pub fn nns(&self, k: usize) -> QueryBuilder<'_, 't, M, T> {
        QueryBuilder::new(self, k)
    }

    /// The slot of a visible item.
    fn slot_of(&self, txn: &T, id: u32) -> Result<Option<u32>> {
        if !self.items.contains(id) {
            return Ok(None);
        }
        let slot_key = slot_map::key_of(self.index, id, &self.meta);
        let slot = slot_map::read_slot(txn, self.index, id, &self.meta)?
            .ok_or_else(|| Error::corrupted("item has no slot", &slot_key))?;
        Ok(Some(slot))
    }

    /// The encoded vector in `slot`; its chunk's checksum is checked on the chunk's first
    /// use.
    #[inline]
    fn stored_vector(&self, slot: u32) -> Result<&[u8]> {
        self.chunks.checked_vector(slot)
    }

    /// The codes, when the index keeps nothing else (see [`CodesInfo::only`]).
    ///
    /// [`CodesInfo::only`]: crate::format::CodesInfo::only
    fn codes_only(&self) -> Option<&codes::ReaderCodes<'t, T::Bytes<'t>>> {
        self.codes.as_ref().filter(|_| self.meta.codes_only())
    }

    /// The encoded vector of `slot`: the stored one, or in a codes-only index the one its
    /// code stands for.
    fn vector_bytes(&self, slot: u32) -> Result<std::borrow::Cow<'_, [u8]>> {
        let Some(codes) = self.codes_only() else {
            return self.stored_vector(slot).map(std::borrow::Cow::Borrowed);
        };
        let vector = codes.stand_in(slot)?;
        let mut encoded = Vec::with_capacity(M::encoded_len(self.dimensions()));
        M::encode(&vector, &mut encoded)
            .map_err(|e| Error::corrupted(format!("code of slot {slot}: {e}"), &[]))?;
        Ok(std::borrow::Cow::Owned(encoded))
    }

    /// The slot of every live item, sorted by id (built once, on the first filtered query).
    fn slot_index(&self) -> Result<&filter::SlotIndex> {
        if let Some(index) = self.slots_by_id.get() {
            return Ok(index);
        }
        let index = filter::SlotIndex::build(&self.chunks, self.meta.slot_count)?;
        Ok(self.slots_by_id.get_or_init(|| index))
    }

    /// The item stored in `slot`, if it is used.
    ///
    /// # Errors
    /// A link chunk that cannot be looked up or fails its checks.
    fn item_of(&self, slot: u32) -> Result<Option<u32>> {
        let record = self.chunks.record0(slot)?;
        Ok(record.and_then(|record| record.level().map(|_| record.item())))
    }

    /// Whether `slot` holds an item that `keep` accepts (a chunk that fails to resolve
    /// holds none: the walk reports it when it reads the chunk's links).
    #[inline]
    fn item_in(&self, slot: u32, keep: impl FnOnce(u32) -> bool) -> bool {
        self.item_of(slot).ok().flatten().is_some_and(keep)
    }
}

/// Bounds the slot count by what the store accounts for, where the chunks were not all
/// loaded to bound it: every slot holds a built item, is free, or was reserved by an add
/// since the build. A slot count past that would size a search's visited set from a
/// number no stored bytes back.
fn check_slot_accounting<T: ReadTxn>(
    txn: &T,
    index: u16,
    meta: &Metadata,
    built: &RoaringBitmap,
    pending: &[(u32, Pending)],
) -> Result<()> {
    let free = values::read_free(txn, index, meta)?;
    let added = pending
        .iter()
        .filter(|(_, change)| matches!(change, Pending::Upsert(_)))
        .count() as u64;
    let accounted = built.len() + free.len() + added;
    if u64::from(meta.slot_count) > accounted {
        return Err(Error::corrupted(
            format!(
                "slot count {} is more than the {accounted} slots of the built items, the free slots and the items added since",
                meta.slot_count
            ),
            &key::prefix(index, key::Tag::Metadata),
        ));
    }
    Ok(())
}

impl<'t, M: Metric, T: ReadTxn + 't> GraphView for Reader<'t, M, T> {
    #[inline]
    fn distance(&self, query: &[u8], slot: u32) -> Result<f32> {
        Ok(M::distance(query, self.stored_vector(slot)?))
    }

    #[inline(always)]
    fn distance_in<S: hannoy_metrics::kernels::Simd>(
        &self,
        simd: S,
        query: &[u8],
        slot: u32,
    ) -> Result<f32> {
        Ok(M::distance_in(simd, query, self.stored_vector(slot)?))
    }

    #[inline]
    fn for_each_neighbour(&self, slot: u32, layer: u8, f: impl FnMut(u32)) -> Result<()> {
        if layer == 0 {
            let record = self
                .chunks
                .record0(slot)?
                .ok_or_else(|| Error::corrupted(format!("slot {slot} has no links"), &[]))?;
            // Layer-0 links were checked against the slot count when their chunk resolved.
            record.links().for_each(f);
            return Ok(());
        }
        // Upper-layer degrees and links were checked when their chunk resolved too.
        if let Some(links) = self.chunks.upper_links(slot, layer)? {
            links.for_each(f);
        }
        Ok(())
    }

    fn slot_bound(&self) -> u32 {
        self.meta.slot_count
    }

    #[inline]
    fn prefetch_links(&self, slot: u32, layer: u8) {
        if layer == 0
            && let Ok(Some(record)) = self.chunks.record0(slot)
        {
            hannoy_metrics::prefetch(record.bytes());
        }
    }

    #[inline]
    fn prefetch(&self, slot: u32) {
        if let Some(vector) = self.chunks.vector(slot) {
            hannoy_metrics::prefetch(vector);
        }
    }
}
