//! Writing an index: item changes, recorded at once, and the build that links them.
//!
//! `add_item` and `del_item` only record a *pending change* under the item's key (one
//! small write each, whatever the index size); [`Builder::build`] then applies every
//! pending change to the graph in one go.

mod batch;
mod build;
mod codes;
mod graph;
mod hooks;
mod persist;
mod prune;
mod repair;
mod slots;

pub use build::{BuildStats, Builder};
pub use hooks::{Phase, Progress};

use std::marker::PhantomData;

use hannoy_metrics::Metric;
use rand::Rng;
use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::format::metadata::read_metadata;
use crate::format::values::{self, Pending};
use crate::format::{FORMAT_VERSION, Geometry, Metadata, foreign, key, slot_map};
use crate::params::BuildParams;
use crate::store::{ReadTxn, WriteTxn};

/// Writes one index (`index` numbers the indexes of a store) of vectors of `dimensions`
/// components under metric `M`.
#[derive(Debug, Clone, Copy)]
pub struct Writer<M: Metric> {
    index: u16,
    dimensions: usize,
    _metric: PhantomData<fn() -> M>,
}

impl<M: Metric> Writer<M> {
    /// A writer for index `index` of `dimensions`-component vectors. Nothing is written until
    /// the first item is added.
    pub fn new(index: u16, dimensions: usize) -> Self {
        Writer {
            index,
            dimensions,
            _metric: PhantomData,
        }
    }

    /// The index number.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Components per vector.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Records `vector` as item `id`, adding it or replacing its vector. It becomes
    /// searchable at the next build.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidVector`] (NaN, infinity, zero vector
    /// under cosine, ...), [`Error::IndexDimensionMismatch`] / [`Error::MetricMismatch`] when
    /// the index exists with other settings; [`Error::InvalidParameter`] when the writer has
    /// zero dimensions or more than `u32::MAX`;
    /// [`StoreError::ForeignFormat`](crate::StoreError::ForeignFormat) when the index was
    /// written by another library (hannoy 0.3, arroy); store errors (`Corrupted` for
    /// damaged values). Nothing is written on bad input.
    /// [`add_items`](Self::add_items) adds many at once, faster.
    pub fn add_item<T: WriteTxn>(&self, txn: &mut T, id: u32, vector: &[f32]) -> Result<()> {
        if vector.len() != self.dimensions {
            return Err(Error::DimensionMismatch {
                expected: self.dimensions,
                found: vector.len(),
            });
        }
        self.add_items(txn, &[id], vector)
    }

    /// Records the deletion of item `id`; returns whether it was there. It stops being
    /// returned by searches at once and leaves the graph at the next build.
    ///
    /// # Errors
    /// Settings mismatches and store errors, as [`add_item`](Self::add_item).
    pub fn del_item<T: WriteTxn>(&self, txn: &mut T, id: u32) -> Result<bool> {
        let Some(meta) = self.metadata(txn)? else {
            return Ok(false);
        };
        let built = slot_map::read_slot(txn, self.index, id, &meta)?.is_some();
        match values::pending_change(txn, self.index, id, &meta)? {
            Some(Pending::Delete) => Ok(false),
            Some(Pending::Upsert(slot)) => {
                slots::release(
                    txn,
                    self.index,
                    &meta,
                    slot,
                    M::encoded_len(self.dimensions),
                )?;
                if built {
                    values::write_pending(txn, self.index, id, &meta, Pending::Delete)?;
                } else {
                    values::write_pendings(txn, self.index, &meta, &[(id, None)])?;
                }
                Ok(true)
            }
            None if built => {
                values::write_pending(txn, self.index, id, &meta, Pending::Delete)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether item `id` is in the index, counting changes not built yet.
    ///
    /// # Errors
    /// Settings mismatches and store errors.
    pub fn contains_item<T: ReadTxn>(&self, txn: &T, id: u32) -> Result<bool> {
        let Some(meta) = self.metadata(txn)? else {
            return Ok(false);
        };
        Ok(match self.lookup(txn, id, &meta)? {
            Lookup::Pending(Pending::Upsert(_)) | Lookup::Built(_) => true,
            Lookup::Pending(Pending::Delete) | Lookup::Missing => false,
        })
    }

    /// The vector of item `id`, counting changes not built yet.
    ///
    /// # Errors
    /// Settings mismatches and store errors.
    pub fn item_vector<T: ReadTxn>(&self, txn: &T, id: u32) -> Result<Option<Vec<f32>>> {
        let Some(meta) = self.metadata(txn)? else {
            return Ok(None);
        };
        let slot = match self.lookup(txn, id, &meta)? {
            Lookup::Pending(Pending::Upsert(slot)) => slot,
            Lookup::Pending(Pending::Delete) | Lookup::Missing => return Ok(None),
            // A built item of a codes-only index has its code only.
            Lookup::Built(slot) if meta.codes_only() => {
                return codes::read_stand_in(txn, self.index, &meta, slot).map(Some);
            }
            Lookup::Built(slot) => slot,
        };
        let bytes = slots::read_vector(
            txn,
            self.index,
            &meta,
            slot,
            M::encoded_len(self.dimensions),
        )?;
        let vector = M::decode(&bytes, self.dimensions)
            .map_err(|e| Error::corrupted(format!("vector of item {id}: {e}"), &[]))?;
        Ok(Some(vector))
    }

    /// The ids of every item, counting changes not built yet.
    ///
    /// # Errors
    /// Settings mismatches and store errors.
    pub fn item_ids<T: ReadTxn>(&self, txn: &T) -> Result<RoaringBitmap> {
        let Some(meta) = self.metadata(txn)? else {
            return Ok(RoaringBitmap::new());
        };
        let mut ids = values::read_items(txn, self.index, &meta)?;
        for (id, change) in values::pending_changes(txn, self.index, &meta)? {
            match change {
                Pending::Upsert(_) => ids.insert(id),
                Pending::Delete => ids.remove(id),
            };
        }
        Ok(ids)
    }

    /// The number of items, counting changes not built yet.
    ///
    /// # Errors
    /// As [`item_ids`](Self::item_ids).
    pub fn len<T: ReadTxn>(&self, txn: &T) -> Result<u64> {
        Ok(self.item_ids(txn)?.len())
    }

    /// Whether the index holds no item, counting changes not built yet.
    ///
    /// # Errors
    /// As [`item_ids`](Self::item_ids).
    pub fn is_empty<T: ReadTxn>(&self, txn: &T) -> Result<bool> {
        Ok(self.len(txn)? == 0)
    }

    /// Every `(id, vector)` pair in id order, counting changes not built yet.
    ///
    /// # Errors
    /// As [`item_ids`](Self::item_ids); then per item as [`item_vector`](Self::item_vector).
    pub fn iter<'a, T: ReadTxn>(
        &'a self,
        txn: &'a T,
    ) -> Result<impl Iterator<Item = Result<(u32, Vec<f32>)>> + 'a> {
        let ids = self.item_ids(txn)?;
        Ok(ids.into_iter().map(move |id| {
            let vector = self.item_vector(txn, id)?.ok_or(Error::ItemNotFound(id))?;
            Ok((id, vector))
        }))
    }

    /// Whether changes are waiting for a build.
    ///
    /// # Errors
    /// [`StoreError::ForeignFormat`](crate::StoreError::ForeignFormat) when the index was
    /// written by another library; store errors.
    pub fn need_build<T: ReadTxn>(&self, txn: &T) -> Result<bool> {
        foreign::refuse_foreign(txn, self.index)?;
        let mut pending = txn.prefix(&values::pending_prefix(self.index))?;
        Ok(pending.next().transpose()?.is_some())
    }

    /// Removes the whole index: items, graph and metadata.
    ///
    /// # Errors
    /// [`StoreError::ForeignFormat`](crate::StoreError::ForeignFormat) when the index was
    /// written by another library (its keys are not ours to delete); store errors.
    pub fn clear<T: WriteTxn>(&self, txn: &mut T) -> Result<()> {
        foreign::refuse_foreign(txn, self.index)?;
        txn.delete_prefix(&key::index_prefix(self.index))?;
        Ok(())
    }

    /// A build of the pending changes, with level draws taken from `rng`.
    pub fn builder<'a, R: Rng>(&'a self, rng: &'a mut R) -> Builder<'a, M, R> {
        Builder::new(self, rng)
    }

    /// Item `id` as changes not built yet leave it: its pending change if it has one, else
    /// its slot as built (the slot map is read only when there is no pending change).
    fn lookup<T: ReadTxn>(&self, txn: &T, id: u32, meta: &Metadata) -> Result<Lookup> {
        if let Some(change) = values::pending_change(txn, self.index, id, meta)? {
            return Ok(Lookup::Pending(change));
        }
        Ok(match slot_map::read_slot(txn, self.index, id, meta)? {
            Some(slot) => Lookup::Built(slot),
            None => Lookup::Missing,
        })
    }

    /// The stored metadata, checked against this writer's metric and dimensions.
    fn metadata<T: ReadTxn>(&self, txn: &T) -> Result<Option<Metadata>> {
        let meta = read_metadata::<M, T>(txn, self.index)?;
        if let Some(meta) = &meta
            && meta.dimensions as usize != self.dimensions
        {
            return Err(Error::IndexDimensionMismatch {
                index: self.index,
                stored: meta.dimensions as usize,
                requested: self.dimensions,
            });
        }
        Ok(meta)
    }

    fn empty_metadata<T: ReadTxn>(&self, txn: &T, params: BuildParams) -> Metadata {
        let geometry = Geometry::for_sizes(
            M::encoded_len(self.dimensions),
            usize::from(params.m0),
            &|len| txn.stored_len(len),
        );
        Metadata {
            version: FORMAT_VERSION,
            metric: M::NAME.to_owned(),
            dimensions: self.dimensions as u32,
            m: params.m,
            m0: params.m0,
            ef_construction: params.ef_construction,
            entry_point: None,
            max_level: 0,
            slot_count: 0,
            geometry,
            item_count: 0,
            codes: None,
        }
    }
}

/// An item as [`Writer::lookup`] finds it: a pending change over the built graph.
enum Lookup {
    /// It has a change not built yet.
    Pending(Pending),
    /// It has no pending change, and is built in this slot.
    Built(u32),
    /// It has no pending change and is not built.
    Missing,
}
