//! Adding many items at once: [`Writer::add_items`].
//!
//! A batch has the effect of calling [`Writer::add_item`] for each row in order, but every
//! vector is validated before anything is written, and every touched vector chunk is read
//! and written once instead of once per item (a chunk holds about 64 KiB of vectors).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use hannoy_metrics::Metric;

use super::{Writer, slots};
use crate::error::{Error, Result};
use crate::format::values::{self, Pending};
use crate::format::{Metadata, metadata};
use crate::params::BuildParams;
use crate::store::WriteTxn;

impl<M: Metric> Writer<M> {
    /// Records row `i` of `vectors` as item `ids[i]`, for every `i`, as many
    /// [`add_item`](Self::add_item) calls in order would. `vectors` is row-major: `ids.len()`
    /// rows of [`dimensions`](Self::dimensions) components.
    ///
    /// An id given twice in one batch takes the vector of its **last** row (as sequential
    /// calls would); its slot is the one its first row reserves. Items pending from earlier
    /// calls keep their slot; new ones take the lowest free slots first, then new slots.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `vectors.len() != ids.len() * dimensions` (or the
    /// writer has zero dimensions); [`Error::InvalidVector`] naming the first bad row's item;
    /// the settings mismatches of [`add_item`](Self::add_item); store errors. Every vector
    /// is checked before anything is written: on bad input the index is unchanged.
    pub fn add_items<T: WriteTxn>(&self, txn: &mut T, ids: &[u32], vectors: &[f32]) -> Result<()> {
        let dimensions = self.checked_dimensions()?;
        if ids.len().checked_mul(dimensions) != Some(vectors.len()) {
            return Err(Error::invalid_parameter(format!(
                "{} ids need {} components ({dimensions} per vector), got {}",
                ids.len(),
                ids.len().saturating_mul(dimensions),
                vectors.len()
            )));
        }
        if ids.is_empty() {
            return Ok(());
        }
        let len = M::encoded_len(dimensions);
        let mut encoded = Vec::with_capacity(len.saturating_mul(ids.len()));
        for (&id, vector) in ids.iter().zip(vectors.chunks_exact(dimensions)) {
            M::encode(vector, &mut encoded).map_err(|source| Error::InvalidVector {
                item: Some(id),
                source,
            })?;
        }
        let row = |i: usize| &encoded[i * len..(i + 1) * len];

        let mut meta = match self.metadata(txn)? {
            Some(meta) => meta,
            None => self.empty_metadata(txn, BuildParams::default()),
        };
        let plan = self.plan_slots(txn, ids, &mut meta)?;
        let mut writes: Vec<(u32, &[u8])> = plan
            .placed
            .iter()
            .map(|&(_, slot, last_row)| (slot, row(last_row)))
            .collect();
        slots::write_vectors(txn, self.index, &meta, len, &mut writes)?;
        let changes: Vec<(u32, Option<Pending>)> = plan
            .placed
            .iter()
            .map(|&(id, slot, _)| (id, Some(Pending::Upsert(slot))))
            .collect();
        values::write_pendings(txn, self.index, &meta, &changes)?;
        if let Some(free) = &plan.free {
            values::write_free(txn, self.index, &meta, free)?;
        }
        if plan.reserved {
            metadata::write_metadata(txn, self.index, &meta)?;
        }
        Ok(())
    }

    /// The writer's dimensions, refused when zero (no vector could be stored) or past
    /// `u32::MAX` (the metadata stores them in a u32; truncating would commit another size).
    pub(super) fn checked_dimensions(&self) -> Result<usize> {
        match self.dimensions {
            0 => Err(Error::invalid_parameter(
                "an index needs at least one dimension",
            )),
            dimensions if u32::try_from(dimensions).is_err() => {
                Err(Error::invalid_parameter(format!(
                    "{dimensions} dimensions exceed the most an index stores, {}",
                    u32::MAX
                )))
            }
            dimensions => Ok(dimensions),
        }
    }

    /// Chooses the slot of every distinct id of `ids`, in order of first appearance, without
    /// writing anything.
    fn plan_slots<T: WriteTxn>(
        &self,
        txn: &T,
        ids: &[u32],
        meta: &mut Metadata,
    ) -> Result<SlotPlan> {
        // (id, row of its last vector), in order of first appearance.
        let mut order: Vec<(u32, usize)> = Vec::with_capacity(ids.len());
        let mut position: HashMap<u32, usize> = HashMap::with_capacity(ids.len());
        for (row, &id) in ids.iter().enumerate() {
            match position.entry(id) {
                Entry::Occupied(at) => order[*at.get()].1 = row,
                Entry::Vacant(at) => {
                    at.insert(order.len());
                    order.push((id, row));
                }
            }
        }
        let mut free = values::read_free(txn, self.index, meta)?;
        let free_before = free.len();
        let mut plan = SlotPlan {
            placed: Vec::with_capacity(order.len()),
            free: None,
            reserved: false,
        };
        for (id, row) in order {
            let slot = match values::pending_change(txn, self.index, id, meta)? {
                // Added again before a build: the slot it reserved takes the new vector.
                Some(Pending::Upsert(slot)) => slot,
                _ => {
                    plan.reserved = true;
                    slots::take_slot(&mut free, meta)?
                }
            };
            plan.placed.push((id, slot, row));
        }
        if free.len() != free_before {
            plan.free = Some(free);
        }
        Ok(plan)
    }
}

/// Where a batch goes.
struct SlotPlan {
    /// `(id, slot, row of its vector)` for every distinct id.
    placed: Vec<(u32, u32, usize)>,
    /// The free set, when the batch took slots from it.
    free: Option<roaring::RoaringBitmap>,
    /// Whether a slot was reserved (the metadata must be written).
    reserved: bool,
}
