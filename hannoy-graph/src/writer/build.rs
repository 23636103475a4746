//! The build: applies every pending change to the graph.
//!
//! It runs in two phases. The first only reads: it loads the stored graph, frees the slots
//! of deleted and replaced items and repairs the links that pointed to them, inserts the new
//! vectors in parallel, makes every node reachable, and prepares every value to write. The
//! second writes them. A failure or a cancellation in the first phase leaves the store
//! untouched.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use hannoy_metrics::Metric;
use rand::{Rng, RngExt};
use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::Writer;
use super::codes::{self, CodesChoice};
use super::graph::{BuildGraph, Entry};
use super::hooks::{Hooks, Phase, Progress};
use super::persist::{Changes, WritePlan, plan_writes};
use crate::chunks::Chunks;
use crate::error::{Error, Result};
use crate::format::values::{self, Pending};
use crate::format::{Geometry, Metadata, key, slot_map};
use crate::params::{BuildParams, MAX_LEVELS};
use crate::search;
use crate::store::{ReadTxn, WriteTxn};

/// What a build did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildStats {
    /// Items inserted (new or replaced).
    pub inserted: u64,
    /// Items removed (deleted or replaced).
    pub removed: u64,
    /// Existing nodes whose links were repaired after a removal.
    pub repaired: u64,
    /// Existing nodes linked anew by a [forced rebuild](Builder::force_rebuild).
    pub relinked: u64,
    /// Links added to make unreachable nodes reachable.
    pub reconnected: u64,
    /// Nodes whose links were written.
    pub nodes_written: u64,
    /// Chunk values written.
    pub chunks_written: u64,
    /// Distance computations (the build's work, independent of the machine's speed).
    pub distances: u64,
    /// Seconds spent in the read-only phase.
    pub compute_seconds: f64,
    /// Seconds spent writing.
    pub write_seconds: f64,
}

/// A build of a [`Writer`]'s pending changes; made by [`Writer::builder`].
///
/// Parallel work runs on the current rayon thread pool, or the one given to
/// [`thread_pool`](Builder::thread_pool). With one thread, a given `rng` state gives the
/// same graph every time.
pub struct Builder<'a, M: Metric, R> {
    writer: &'a Writer<M>,
    rng: &'a mut R,
    params: BuildParams,
    alpha: f32,
    force_rebuild: bool,
    hooks: Hooks<'a>,
    codes: CodesChoice,
}

impl<'a, M: Metric, R: Rng> Builder<'a, M, R> {
    pub(super) fn new(writer: &'a Writer<M>, rng: &'a mut R) -> Self {
        Builder {
            writer,
            rng,
            params: BuildParams::default(),
            alpha: 1.0,
            force_rebuild: false,
            hooks: Hooks::default(),
            codes: CodesChoice::Keep,
        }
    }

    /// Links per node on the layers above 0 (default 16). Fixed once an index is built.
    pub fn m(mut self, m: u16) -> Self {
        self.params.m = m;
        self
    }

    /// Links per node on layer 0 (default 32). Fixed once an index is built.
    pub fn m0(mut self, m0: u16) -> Self {
        self.params.m0 = m0;
        self
    }

    /// Candidate list size while inserting (default 100); may change between builds.
    pub fn ef_construction(mut self, ef: u32) -> Self {
        self.params.ef_construction = ef;
        self
    }

    /// How far neighbour selection lets a candidate be from the links already kept
    /// (default 1.0, the HNSW paper's heuristic): a candidate is kept unless a kept
    /// neighbour is closer to it than its distance to the node divided by `alpha`. Above 1
    /// (DiskANN's Vamana suggests 1.1-1.2) it keeps more long links, at some build time;
    /// distances are the metric's internal ones (squared for Euclidean), as in hannoy's
    /// `alpha`. From 1.0 to 4.0; may change between builds.
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }

    /// Links every item anew, as a first build would (new levels, new links), instead of
    /// inserting only the items changed since the last build: for an index whose many
    /// updates have worn its graph, or to rebuild with another `alpha` or
    /// `ef_construction`. Items, ids, vectors and codes are kept as they are; M and M0 stay
    /// those the index was built with.
    pub fn force_rebuild(mut self, force: bool) -> Self {
        self.force_rebuild = force;
        self
    }

    /// Compact codes to keep beside the vectors: `Some(scheme)` makes searches walk the
    /// graph on codes of that scheme and rescore with the full vectors (see
    /// [`QueryBuilder::rescore`](crate::QueryBuilder::rescore)); `None` removes them. Not
    /// calling it keeps what the index has. The graph is linked on exact distances either
    /// way: a build with no pending change and another scheme only re-encodes the codes
    /// (the centre fitted on every live vector), without touching the graph.
    ///
    /// Euclidean, cosine and dot product take codes; other metrics fail the build with
    /// [`Error::Codes`].
    ///
    /// (The `hannoy` crate's documentation has a runnable example.)
    pub fn codes(mut self, scheme: Option<hannoy_metrics::Scheme>) -> Self {
        self.codes = match scheme {
            Some(scheme) => CodesChoice::Set(scheme),
            None => CodesChoice::Remove,
        };
        self
    }

    /// Keeps compact codes of `scheme` and no full vectors: the smallest store. The build
    /// links the graph on the exact vectors it inserts, encodes them, and deletes every
    /// stored vector; searches then rank by the codes (distances are the codes'
    /// estimates), later builds link new items against the vectors the codes stand for
    /// ([`Quantizer::decode`](hannoy_metrics::Quantizer::decode)), and `item_vector`
    /// returns those. Adds, replacements and deletes work as on any index.
    ///
    /// The scheme must decode (`sq8`); an index with full vectors can become codes-only,
    /// never the reverse, and a codes-only index keeps its scheme (it has no vectors to
    /// encode again): another scheme, or [`codes(None)`](Self::codes), fails the build with
    /// [`Error::InvalidParameter`].
    ///
    /// # Errors
    /// The build fails with [`Error::Codes`] for a scheme that does not decode or a metric
    /// that takes no codes.
    pub fn codes_only(mut self, scheme: hannoy_metrics::Scheme) -> Self {
        self.codes = CodesChoice::Only(scheme);
        self
    }

    /// Runs the parallel parts of the build on `pool` instead of the current rayon pool.
    /// (Wrapping the whole `build` call in `pool.install` does not work with stores whose
    /// write transaction cannot move between threads, such as LMDB's.)
    pub fn thread_pool(mut self, pool: &'a rayon::ThreadPool) -> Self {
        self.hooks.pool = Some(pool);
        self
    }

    /// Called with the stage and the work done, from any build thread.
    pub fn progress(mut self, progress: &'a (dyn Fn(Progress) + Sync)) -> Self {
        self.hooks.progress = Some(progress);
        self
    }

    /// Polled during the build; when it returns true the build stops with
    /// [`Error::Cancelled`] and writes nothing.
    pub fn cancel(mut self, cancel: &'a (dyn Fn() -> bool + Sync)) -> Self {
        self.hooks.cancel = Some(cancel);
        self
    }

    /// Applies every pending change. On success the index holds exactly the items added and
    /// not deleted, all searchable; on error it is unchanged.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for bad parameters (or M/M0 other than those the index was
    /// built with, or the writer's dimensions out of range); [`Error::Cancelled`]; store
    /// errors (a full store, `Corrupted` values, a `ForeignFormat` index among them).
    pub fn build<T: WriteTxn>(mut self, txn: &mut T) -> Result<BuildStats> {
        self.params.validate()?;
        if !(1.0..=4.0).contains(&self.alpha) {
            return Err(Error::invalid_parameter(format!(
                "alpha = {} must be between 1 and 4",
                self.alpha
            )));
        }
        self.writer.checked_dimensions()?;
        let started = Instant::now();
        let (plan, mut stats) = self.plan(&*txn)?;
        stats.compute_seconds = started.elapsed().as_secs_f64();
        let writing = Instant::now();
        stats.chunks_written = plan.chunk_count();
        self.hooks.report(Phase::Writing, 0, 1);
        plan.apply(txn)?;
        self.hooks.report(Phase::Writing, 1, 1);
        stats.write_seconds = writing.elapsed().as_secs_f64();
        Ok(stats)
    }

    /// The read-only phase: its steps in order, each below. Nothing is written; the
    /// level draws are taken from the rng in the order of the steps (relinked nodes, then
    /// inserted ones).
    fn plan<T: ReadTxn>(&mut self, txn: &T) -> Result<(WritePlan, BuildStats)> {
        let index = self.writer.index;
        let (stored, mut meta) = self.load_metadata(txn)?;
        let encoded_len = M::encoded_len(self.writer.dimensions);
        let chunks = Chunks::load(txn, index, &meta, encoded_len)?;
        let slot_count = meta.slot_count;
        // `meta` still holds the stored item count (0 for a new index).
        let built = values::read_items(txn, index, &meta)?;
        // A pending slot past the end is refused where it is decoded; one already live below,
        // where it is placed.
        let pending = values::pending_changes(txn, index, &meta)?;
        let mut graph = self.empty_graph(&meta);
        let stand_ins = self.stand_ins(txn, &meta, &chunks)?;
        let loaded = self.place_stored(&meta, &chunks, &stand_ins, &mut graph)?;

        let mut stats = BuildStats::default();
        let removed = self.remove(&mut graph, &pending, &built, &loaded.slot_of_item)?;
        stats.removed = removed.slots.len();
        stats.repaired = removed.repaired;
        let relinked = self.relink(&mut graph, loaded.to_relink, &removed.slots);
        stats.relinked = relinked.len() as u64;
        let inserted = self.place_inserted(&mut graph, &pending, &chunks)?;
        stats.inserted = inserted.len() as u64;
        let linking = match relinked.is_empty() {
            true => inserted.clone(),
            false => [relinked.as_slice(), &inserted].concat(),
        };
        insert_all(self.hooks, &graph, &linking)?;
        stats.reconnected = self.connect(&graph)?;

        let plan = self.plan_changes(
            txn,
            &mut meta,
            stored.as_ref(),
            &graph,
            built,
            &removed,
            &inserted,
        )?;
        stats.distances = graph.distance_count();
        stats.nodes_written = (0..slot_count).filter(|&s| graph.is_dirty(s)).count() as u64;
        Ok((plan, stats))
    }

    /// Loading, first: the stored metadata (or a new index's), with this build's parameters
    /// checked against it and set in it. M and M0 are those of the stored links, if any
    /// (other values are refused); without links, this build's, and the link chunks are
    /// sized for them. `ef_construction` is this build's; the codes choice is checked
    /// against the metric, the format version and the stored codes. Returns the stored
    /// metadata and the one the build works on.
    fn load_metadata<T: ReadTxn>(&self, txn: &T) -> Result<(Option<Metadata>, Metadata)> {
        let writer = self.writer;
        let index = writer.index;
        self.hooks.report(Phase::Loading, 0, 1);
        let stored = writer.metadata(txn)?;
        let mut meta = stored
            .clone()
            .unwrap_or_else(|| writer.empty_metadata(txn, self.params));
        let encoded_len = M::encoded_len(writer.dimensions);
        let has_links = txn
            .prefix(&key::links_layer(index, 0))?
            .next()
            .transpose()?
            .is_some();
        if has_links && (meta.m, meta.m0) != (self.params.m, self.params.m0) {
            return Err(Error::invalid_parameter(format!(
                "index {index} was built with m = {}, m0 = {}; clear it to build with m = {}, m0 = {}",
                meta.m, meta.m0, self.params.m, self.params.m0
            )));
        }
        if !has_links {
            meta.m = self.params.m;
            meta.m0 = self.params.m0;
            meta.geometry.link_slots =
                Geometry::for_sizes(encoded_len, usize::from(meta.m0), &|len| {
                    txn.stored_len(len)
                })
                .link_slots;
        }
        meta.ef_construction = self.params.ef_construction;
        codes::check_choice::<M>(self.codes, writer.dimensions, meta.version)?;
        codes::check_against_stored(self.codes, meta.codes.as_ref())?;
        Ok((stored, meta))
    }

    /// Loading: the in-memory graph of `meta`'s slots, all free, starting from the stored
    /// entry point (none for a forced rebuild, which starts from an empty graph).
    fn empty_graph<'g>(&self, meta: &Metadata) -> BuildGraph<'g, M> {
        let force = self.force_rebuild;
        let entry = Entry {
            slot: meta.entry_point.filter(|_| !force),
            level: if force { 0 } else { meta.max_level },
        };
        let mut graph = BuildGraph::<M>::new(
            meta.slot_count as usize,
            usize::from(meta.m),
            usize::from(meta.m0),
            meta.ef_construction as usize,
            entry,
            self.hooks.threads(),
        );
        graph.alpha = self.alpha;
        graph
    }

    /// Loading, in a codes-only index: the vectors the codes of the stored nodes stand for
    /// (new items are linked against them), in slot order; empty in any other index.
    fn stand_ins<T: ReadTxn, B: AsRef<[u8]>>(
        &self,
        txn: &T,
        meta: &Metadata,
        chunks: &Chunks<'_, B>,
    ) -> Result<Vec<u8>> {
        if !meta.codes_only() {
            return Ok(Vec::new());
        }
        let mut live = Vec::new();
        for slot in 0..meta.slot_count {
            if chunks.record0(slot)?.is_some_and(|r| r.level().is_some()) {
                live.push(slot);
            }
        }
        codes::stand_ins::<M, T>(txn, self.writer.index, meta, &live, self.hooks)
    }

    /// Loading, last: places every stored node in `graph` with its level and links, its
    /// vector borrowed from `chunks` (`stand_ins` in a codes-only index). A forced rebuild
    /// places none: it returns them to [`relink`](Self::relink) once the removed ones are
    /// known.
    fn place_stored<'g, B: AsRef<[u8]>>(
        &self,
        meta: &Metadata,
        chunks: &'g Chunks<'_, B>,
        stand_ins: &'g [u8],
        graph: &mut BuildGraph<'g, M>,
    ) -> Result<Stored<'g>> {
        let encoded_len = M::encoded_len(self.writer.dimensions);
        let mut stand_ins = stand_ins.chunks_exact(encoded_len.max(1));
        let mut loaded = Stored {
            slot_of_item: HashMap::new(),
            to_relink: Vec::new(),
        };
        for slot in 0..meta.slot_count {
            let Some(record) = chunks.record0(slot)? else {
                continue;
            };
            let Some(level) = record.level() else {
                continue;
            };
            // Checks the vector chunk's checksum on its first use: a build never links (and
            // seals into fresh link chunks) a damaged vector.
            let vector = match meta.codes_only() {
                true => stand_ins
                    .next()
                    .ok_or_else(|| Error::corrupted(format!("slot {slot} has no code"), &[]))?,
                false => chunks.checked_vector(slot)?,
            };
            loaded.slot_of_item.insert(record.item(), slot);
            if self.force_rebuild {
                loaded.to_relink.push((slot, record.item(), vector));
                continue;
            }
            let mut links = vec![record.links().collect::<Vec<u32>>()];
            // Degrees and links (below the slot count) were checked when the chunks loaded.
            for layer in 1..=level {
                let upper: Vec<u32> = chunks
                    .upper_links(slot, layer)?
                    .map(Iterator::collect)
                    .unwrap_or_default();
                links.push(upper);
            }
            graph.place(slot, record.item(), level, vector, links);
        }
        Ok(loaded)
    }

    /// Repairing: the built items with a pending change (deleted or replaced) leave the
    /// graph, and the nodes that linked to them are repaired (not in a forced rebuild,
    /// whose nodes have no links yet).
    fn remove(
        &self,
        graph: &mut BuildGraph<'_, M>,
        pending: &[(u32, Pending)],
        built: &RoaringBitmap,
        slot_of_item: &HashMap<u32, u32>,
    ) -> Result<Removed> {
        let mut removed = Removed {
            slots: RoaringBitmap::new(),
            ids: Vec::new(),
            repaired: 0,
        };
        for &(id, change) in pending {
            if !built.contains(id) {
                continue;
            }
            let slot = *slot_of_item
                .get(&id)
                .ok_or_else(|| Error::corrupted(format!("built item {id} has no node"), &[]))?;
            removed.slots.insert(slot);
            if change == Pending::Delete {
                removed.ids.push(id);
            }
        }
        if !removed.slots.is_empty() && !self.force_rebuild {
            self.hooks.report(Phase::Repairing, 0, removed.slots.len());
            removed.repaired = super::repair::remove_and_repair(graph, &removed.slots, self.hooks)?;
        }
        Ok(removed)
    }

    /// A forced rebuild: places the nodes that stay (`to_relink` less `removed`) with new
    /// levels and no links, and marks every slot's links to be written (those of removed
    /// nodes too: they become free). Returns the placed `(slot, id)`, to link.
    fn relink<'g>(
        &mut self,
        graph: &mut BuildGraph<'g, M>,
        to_relink: Vec<(u32, u32, &'g [u8])>,
        removed: &RoaringBitmap,
    ) -> Vec<(u32, u32)> {
        let mut relinked = Vec::new();
        for (slot, id, vector) in to_relink {
            if removed.contains(slot) {
                continue;
            }
            let level = draw_level(self.rng, self.params.level_multiplier());
            let links = vec![Vec::new(); usize::from(level) + 1];
            graph.place(slot, id, level, vector, links);
            relinked.push((slot, id));
        }
        if self.force_rebuild {
            (0..graph.vectors.len() as u32).for_each(|slot| graph.mark_dirty(slot));
        }
        relinked
    }

    /// Places the new and replaced vectors (already in their slots) with new levels and no
    /// links; a pending slot without a vector or holding a live node is refused. Returns the
    /// placed `(slot, id)`, to insert.
    fn place_inserted<'g, B: AsRef<[u8]>>(
        &mut self,
        graph: &mut BuildGraph<'g, M>,
        pending: &[(u32, Pending)],
        chunks: &'g Chunks<'_, B>,
    ) -> Result<Vec<(u32, u32)>> {
        let mut inserted = Vec::new();
        for &(id, change) in pending {
            let Pending::Upsert(slot) = change else {
                continue;
            };
            if chunks.vector(slot).is_none() || graph.is_live(slot) {
                return Err(Error::corrupted(
                    format!("pending slot {slot} of item {id} is unusable"),
                    &[],
                ));
            }
            let vector = chunks.checked_vector(slot)?;
            let level = draw_level(self.rng, self.params.level_multiplier());
            graph.place(
                slot,
                id,
                level,
                vector,
                vec![Vec::new(); usize::from(level) + 1],
            );
            inserted.push((slot, id));
        }
        Ok(inserted)
    }

    /// Connecting: links the nodes the insertions left unreachable; returns the links
    /// added. A cancellation asked for by then stops the build here.
    fn connect(&self, graph: &BuildGraph<'_, M>) -> Result<u64> {
        self.hooks.report(Phase::Connecting, 0, 1);
        let reconnected = search::with_scratch(|scratch| graph.connect_unreachable(scratch))?;
        if self.hooks.cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(reconnected)
    }

    /// Planning the writes: the item set after the build (`built` less the deleted items,
    /// plus the inserted ones), the new entry point, top level and item count in `meta`, the
    /// free set (the stored one, which must hold no live node, plus the removed slots), the
    /// compact codes, the slot map's updates, and the changed link chunks.
    #[allow(clippy::too_many_arguments)]
    fn plan_changes<T: ReadTxn>(
        &self,
        txn: &T,
        meta: &mut Metadata,
        stored: Option<&Metadata>,
        graph: &BuildGraph<'_, M>,
        built: RoaringBitmap,
        removed: &Removed,
        inserted: &[(u32, u32)],
    ) -> Result<WritePlan> {
        let index = self.writer.index;
        let mut items = built;
        for id in &removed.ids {
            items.remove(*id);
        }
        for (_, id) in inserted {
            items.insert(*id);
        }
        let entry = *graph
            .entry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        meta.entry_point = entry.slot;
        meta.max_level = if entry.slot.is_some() { entry.level } else { 0 };
        meta.item_count = items.len() as u32;
        let mut free = values::read_free(txn, index, meta)?;
        // A free slot holding a live node would hand that node's vector to the next add.
        if let Some(slot) = free.iter().find(|&slot| graph.is_live(slot)) {
            return Err(Error::corrupted(
                format!("free slot {slot} holds a live node"),
                &key::prefix(index, key::Tag::FreeSlots),
            ));
        }
        free |= &removed.slots;
        let code_writes =
            codes::plan_codes(txn, index, meta, self.codes, graph, inserted, self.hooks)?;
        let changes = Changes {
            items: &items,
            slot_map: slot_map::plan_updates(txn, index, meta, &removed.ids, inserted)?,
            free: &free,
            codes: code_writes,
        };
        plan_writes(graph, index, meta, stored, changes)
    }
}

/// The stored nodes, as [`Builder::place_stored`] found them.
struct Stored<'g> {
    /// The slot of every built item.
    slot_of_item: HashMap<u32, u32>,
    /// A forced rebuild's nodes, `(slot, id, vector)`: placed by [`Builder::relink`] once
    /// the removed ones are known.
    to_relink: Vec<(u32, u32, &'g [u8])>,
}

/// What [`Builder::remove`] took out of the graph.
struct Removed {
    /// The slots of the deleted and replaced items (free after the build).
    slots: RoaringBitmap,
    /// The deleted items (a replaced one stays in the item set).
    ids: Vec<u32>,
    /// The nodes whose links were repaired.
    repaired: u64,
}

/// Inserts the placed nodes, the first alone when the graph is empty, the rest in
/// parallel.
fn insert_all<M: Metric>(
    hooks: Hooks<'_>,
    graph: &BuildGraph<'_, M>,
    inserted: &[(u32, u32)],
) -> Result<()> {
    let total = inserted.len() as u64;
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let step = (total / 100).max(1);
    hooks.report(Phase::Inserting, 0, total);
    let insert_one = |&(slot, _): &(u32, u32)| -> Result<()> {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        if hooks.cancelled() {
            stop.store(true, Ordering::Relaxed);
            return Err(Error::Cancelled);
        }
        search::with_scratch(|scratch| graph.insert(slot, scratch))?;
        let now = done.fetch_add(1, Ordering::Relaxed) + 1;
        if now.is_multiple_of(step) || now == total {
            hooks.report(Phase::Inserting, now, total);
        }
        Ok(())
    };
    let (first, rest) = match graph
        .entry
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .slot
    {
        Some(_) => (&inserted[..0], inserted),
        None => inserted.split_at(inserted.len().min(1)),
    };
    first.iter().try_for_each(insert_one)?;
    hooks.run(|| rest.par_iter().try_for_each(insert_one))
}

/// A level from the paper's exponential rule, floor(-ln(U) * m_L), capped.
fn draw_level<R: Rng>(rng: &mut R, multiplier: f64) -> u8 {
    let uniform: f64 = rng.random();
    let level = (-(1.0 - uniform).ln() * multiplier).floor();
    level.clamp(0.0, (MAX_LEVELS - 1) as f64) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn levels_follow_the_exponential_rule() {
        let mut rng = StdRng::seed_from_u64(7);
        let multiplier = BuildParams::default().level_multiplier();
        let levels: Vec<u8> = (0..100_000)
            .map(|_| draw_level(&mut rng, multiplier))
            .collect();
        let above0 = levels.iter().filter(|&&l| l >= 1).count() as f64 / levels.len() as f64;
        let above1 = levels.iter().filter(|&&l| l >= 2).count() as f64 / levels.len() as f64;
        // P(level >= l) = M^-l with M = 16.
        assert!((above0 - 1.0 / 16.0).abs() < 0.005, "{above0}");
        assert!((above1 - 1.0 / 256.0).abs() < 0.001, "{above1}");
    }
}
