//! The graph being built: every node's links in memory, vectors borrowed from the write
//! transaction. Insertion is the paper's INSERT, run in parallel.
//!
//! Layer-0 links, where a build spends its time, sit in one flat array of atomics, `m0 + 1`
//! words per slot (the degree, then the links), so a search reads a node's list with one
//! cache miss and no lock, and the next node's list can be prefetched. Writers hold the
//! slot's lock (the one around its upper layers); a reader racing a writer sees a mix of
//! the old and new list, which only ever holds live slots: links are written before the
//! degree (release), and the degree read first (acquire).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hannoy_metrics::Metric;
use roaring::RoaringBitmap;

use super::prune::select_neighbours;
use crate::error::{Error, Result};
use crate::format::links::FREE;
use crate::search::{self, Candidate, GraphView, Scratch};

/// The entry point and the top layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The node searches start from.
    pub slot: Option<u32>,
    /// Its level, the graph's top layer.
    pub level: u8,
}

/// A graph in memory, shared by the insertion threads.
pub struct BuildGraph<'a, M> {
    /// Encoded vector of each slot (empty for a free slot).
    pub vectors: Vec<&'a [u8]>,
    /// Item id of each slot.
    pub items: Vec<u32>,
    /// Level of each slot, [`FREE`] for a free one.
    pub levels: Vec<u8>,
    /// Layer-0 links: `m0 + 1` words per slot, the degree then the links.
    links0: Vec<AtomicU32>,
    /// Links of each slot on layers 1 up to its level (`upper[s][l - 1]` is layer `l`). The
    /// lock also serialises writes to the slot's layer-0 words.
    upper: Vec<RwLock<Vec<Vec<u32>>>>,
    /// Slots whose links or vector changed and must be written.
    pub dirty: Vec<AtomicBool>,
    pub m: usize,
    pub m0: usize,
    pub ef_construction: usize,
    /// Neighbour selection's `alpha` ([`Builder::alpha`](super::Builder::alpha)).
    pub alpha: f32,
    pub entry: RwLock<Entry>,
    /// Distance computations, one counter per build thread (no shared cache line).
    distances: Vec<Counter>,
    _metric: std::marker::PhantomData<fn() -> M>,
}

/// A counter on its own cache line.
#[repr(align(64))]
#[derive(Default)]
struct Counter(AtomicU64);

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl<'a, M: Metric> BuildGraph<'a, M> {
    /// An empty graph of `slot_count` free slots, built by up to `threads` threads.
    pub fn new(
        slot_count: usize,
        m: usize,
        m0: usize,
        ef_construction: usize,
        entry: Entry,
        threads: usize,
    ) -> Self {
        BuildGraph {
            vectors: vec![&[][..]; slot_count],
            items: vec![0; slot_count],
            levels: vec![FREE; slot_count],
            links0: (0..slot_count * (m0 + 1))
                .map(|_| AtomicU32::new(0))
                .collect(),
            upper: (0..slot_count).map(|_| RwLock::new(Vec::new())).collect(),
            dirty: (0..slot_count).map(|_| AtomicBool::new(false)).collect(),
            m,
            m0,
            ef_construction,
            alpha: 1.0,
            entry: RwLock::new(entry),
            distances: (0..=threads).map(|_| Counter::default()).collect(),
            _metric: std::marker::PhantomData,
        }
    }

    /// Places a node (existing or new) in `slot`.
    pub fn place(
        &mut self,
        slot: u32,
        item: u32,
        level: u8,
        vector: &'a [u8],
        links: Vec<Vec<u32>>,
    ) {
        let s = slot as usize;
        self.vectors[s] = vector;
        self.items[s] = item;
        self.levels[s] = level;
        let mut layers = links.into_iter();
        self.store_links0(slot, &layers.next().unwrap_or_default());
        *self.upper[s]
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = layers.collect();
    }

    /// The layer-0 words of `slot`: its degree, then room for `m0` links.
    #[inline]
    fn words0(&self, slot: u32) -> &[AtomicU32] {
        let start = slot as usize * (self.m0 + 1);
        self.links0.get(start..start + self.m0 + 1).unwrap_or(&[])
    }

    /// Reads `slot`'s layer-0 links into `f` (no lock; see the module docs).
    #[inline]
    fn read_links0(&self, slot: u32, f: impl FnMut(u32)) {
        let Some((degree, links)) = self.words0(slot).split_first() else {
            return;
        };
        let degree = (degree.load(Ordering::Acquire) as usize).min(links.len());
        links[..degree]
            .iter()
            .map(|link| link.load(Ordering::Relaxed))
            .for_each(f);
    }

    /// Writes `slot`'s layer-0 links (at most `m0`): the caller holds the slot's lock, or
    /// has the graph to itself.
    fn store_links0(&self, slot: u32, list: &[u32]) {
        let Some((degree, links)) = self.words0(slot).split_first() else {
            return;
        };
        let list = &list[..list.len().min(links.len())];
        for (word, &link) in links.iter().zip(list) {
            word.store(link, Ordering::Relaxed);
        }
        degree.store(list.len() as u32, Ordering::Release);
    }

    /// Empties `slot`.
    pub fn free(&mut self, slot: u32) {
        self.place(slot, 0, FREE, &[], Vec::new());
        self.mark_dirty(slot);
    }

    pub fn is_live(&self, slot: u32) -> bool {
        self.levels
            .get(slot as usize)
            .is_some_and(|&level| level != FREE)
    }

    pub fn mark_dirty(&self, slot: u32) {
        self.dirty[slot as usize].store(true, Ordering::Relaxed);
    }

    pub fn is_dirty(&self, slot: u32) -> bool {
        self.dirty[slot as usize].load(Ordering::Relaxed)
    }

    /// A copy of `slot`'s links on `layer`.
    pub fn links_of(&self, slot: u32, layer: u8) -> Vec<u32> {
        if layer == 0 {
            let mut links = Vec::with_capacity(self.m0);
            self.read_links0(slot, |link| links.push(link));
            return links;
        }
        self.upper
            .get(slot as usize)
            .and_then(|lock| read(lock).get(usize::from(layer) - 1).cloned())
            .unwrap_or_default()
    }

    /// Replaces `slot`'s links on `layer` (a layer above its level is left alone).
    pub fn set_links(&self, slot: u32, layer: u8, links: Vec<u32>) {
        let Some(lock) = self.upper.get(slot as usize) else {
            return;
        };
        let mut guard = write(lock);
        if layer == 0 {
            self.store_links0(slot, &links);
        } else if let Some(list) = guard.get_mut(usize::from(layer) - 1) {
            *list = links;
        }
        drop(guard);
        self.mark_dirty(slot);
    }

    /// The distance between the vectors in two slots.
    #[inline]
    pub fn distance_between(&self, a: u32, b: u32) -> f32 {
        self.count_distance();
        M::distance(self.vectors[a as usize], self.vectors[b as usize])
    }

    #[inline]
    fn count_distance(&self) {
        let shard = rayon::current_thread_index().map_or(0, |i| i + 1);
        let counter = self.distances.get(shard).or(self.distances.first());
        if let Some(counter) = counter {
            counter.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Distance computations so far.
    pub fn distance_count(&self) -> u64 {
        self.distances
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .sum()
    }

    /// Inserts the node already placed in `slot` (level `level`) into the graph: finds its
    /// neighbours from the entry point down, links it both ways, and raises the entry point
    /// if it is the new top.
    pub fn insert(&self, slot: u32, scratch: &mut Scratch) -> Result<()> {
        let level = self.levels[slot as usize];
        let entry = *read(&self.entry);
        let Some(entry_slot) = entry.slot else {
            // The first node: it becomes the entry point.
            *write(&self.entry) = Entry {
                slot: Some(slot),
                level,
            };
            self.mark_dirty(slot);
            return Ok(());
        };
        let query = self.vectors[slot as usize];
        let mut current = Candidate {
            dist: self.distance(query, entry_slot)?,
            slot: entry_slot,
        };
        for layer in (level.saturating_add(1)..=entry.level).rev() {
            current = search::greedy_closest(self, query, current, layer)?;
        }
        let mut entries = vec![current];
        let mut chosen = Vec::with_capacity(self.m0);
        for layer in (0..=level.min(entry.level)).rev() {
            let found = search::search_layer(
                self,
                query,
                &entries,
                self.ef_construction,
                layer,
                scratch,
                |s| s != slot,
            )?;
            let max = self.max_links(layer);
            chosen.clear();
            select_neighbours(self, &found, max, &mut chosen);
            self.set_links(slot, layer, chosen.clone());
            for &neighbour in &chosen {
                self.add_link(neighbour, slot, layer);
            }
            entries = found;
        }
        self.mark_dirty(slot);
        if level > entry.level {
            let mut guard = write(&self.entry);
            if level > guard.level {
                *guard = Entry {
                    slot: Some(slot),
                    level,
                };
            }
        }
        Ok(())
    }

    /// The degree bound of `layer`.
    pub fn max_links(&self, layer: u8) -> usize {
        if layer == 0 { self.m0 } else { self.m }
    }

    /// Adds the link `from -> to` on `layer`; a list over its bound is pruned with the
    /// heuristic, the new link competing with the old ones.
    pub fn add_link(&self, from: u32, to: u32, layer: u8) {
        let max = self.max_links(layer);
        let Some(lock) = self.upper.get(from as usize) else {
            return;
        };
        let mut guard = write(lock);
        if from == to {
            return;
        }
        if layer == 0 {
            // In place: a link appended to a list with room is one store and the degree.
            let Some((degree_word, words)) = self.words0(from).split_first() else {
                return;
            };
            let degree = (degree_word.load(Ordering::Relaxed) as usize).min(words.len());
            let links = &words[..degree];
            if links.iter().any(|link| link.load(Ordering::Relaxed) == to) {
                return;
            }
            match words.get(degree) {
                Some(free) if degree < max => {
                    free.store(to, Ordering::Relaxed);
                    degree_word.store(degree as u32 + 1, Ordering::Release);
                }
                _ => {
                    let list: Vec<u32> = links.iter().map(|l| l.load(Ordering::Relaxed)).collect();
                    self.store_links0(from, &self.pruned(from, &list, to, max));
                }
            }
        } else {
            let Some(list) = guard.get_mut(usize::from(layer) - 1) else {
                return;
            };
            if list.contains(&to) {
                return;
            }
            if list.len() < max {
                list.push(to);
            } else {
                *list = self.pruned(from, list, to, max);
            }
        }
        drop(guard);
        self.mark_dirty(from);
    }

    /// `from`'s full link list `list` with `to` competing for a place: the heuristic's
    /// choice of at most `max` of them.
    fn pruned(&self, from: u32, list: &[u32], to: u32, max: usize) -> Vec<u32> {
        let mut candidates: Vec<Candidate> = list
            .iter()
            .chain(std::iter::once(&to))
            .map(|&slot| Candidate {
                dist: self.distance_between(from, slot),
                slot,
            })
            .collect();
        candidates.sort_unstable();
        let mut kept = Vec::with_capacity(max);
        select_neighbours(self, &candidates, max, &mut kept);
        kept
    }

    /// Makes every live node reachable from the entry point on layer 0: an unreachable node
    /// gets a link from its closest reachable node with room (or, failing that, from its
    /// closest reachable node in place of that node's farthest link). Returns how many
    /// links were added.
    pub fn connect_unreachable(&self, scratch: &mut Scratch) -> Result<u64> {
        let Some(entry) = read(&self.entry).slot else {
            return Ok(0);
        };
        let live: RoaringBitmap = (0..self.levels.len() as u32)
            .filter(|&s| self.is_live(s))
            .collect();
        let mut added = 0;
        for _round in 0..8 {
            let mut reachable = self.reachable(entry, RoaringBitmap::new());
            let unreachable = &live - &reachable;
            if unreachable.is_empty() {
                break;
            }
            // Links into each node: a full host gives up its farthest link, which must not
            // be the only way into that node (under the dot product a few large-norm hubs
            // are everyone's nearest, and replacing their links blindly orphans others).
            let mut in_degree = vec![0u32; self.levels.len()];
            for slot in &live {
                self.read_links0(slot, |link| {
                    if let Some(count) = in_degree.get_mut(link as usize) {
                        *count += 1;
                    }
                });
            }
            for slot in &unreachable {
                if reachable.contains(slot) {
                    continue;
                }
                let query = self.vectors[slot as usize];
                let start = Candidate {
                    dist: self.distance(query, entry)?,
                    slot: entry,
                };
                let found = search::search_layer(
                    self,
                    query,
                    &[start],
                    self.ef_construction,
                    0,
                    scratch,
                    |s| s != slot && reachable.contains(s),
                )?;
                let Some(closest) = found.first() else {
                    continue;
                };
                let spare = |c: &&Candidate| {
                    self.words0(c.slot)
                        .first()
                        .is_some_and(|d| (d.load(Ordering::Acquire) as usize) < self.m0)
                };
                let gives_up_a_spare_link = |c: &&Candidate| {
                    self.farthest_link(c.slot)
                        .is_some_and(|(_, target)| in_degree[target as usize] >= 2)
                };
                let host = match found
                    .iter()
                    .find(spare)
                    .or_else(|| found.iter().find(gives_up_a_spare_link))
                {
                    Some(host) => host.slot,
                    // Rare (hubs full of links that are the only way into their targets):
                    // the closest reachable node with room, found by a scan.
                    None => self
                        .closest_with_room(query, &reachable)?
                        .unwrap_or(closest.slot),
                };
                if let Some(removed) = self.force_link(host, slot) {
                    in_degree[removed as usize] -= 1;
                }
                in_degree[slot as usize] += 1;
                added += 1;
                reachable = self.reachable(slot, reachable);
            }
        }
        Ok(added)
    }

    /// The reachable node closest to `query` whose layer-0 list has room, by a scan.
    fn closest_with_room(&self, query: &[u8], reachable: &RoaringBitmap) -> Result<Option<u32>> {
        let mut best: Option<Candidate> = None;
        for slot in reachable {
            let has_room = self
                .words0(slot)
                .first()
                .is_some_and(|d| (d.load(Ordering::Acquire) as usize) < self.m0);
            if !has_room || !self.is_live(slot) {
                continue;
            }
            let candidate = Candidate {
                dist: self.distance(query, slot)?,
                slot,
            };
            if best.is_none_or(|b| candidate < b) {
                best = Some(candidate);
            }
        }
        Ok(best.map(|c| c.slot))
    }

    /// The place and slot of `from`'s farthest layer-0 link, when its list is full.
    fn farthest_link(&self, from: u32) -> Option<(usize, u32)> {
        let list = self.links_of(from, 0);
        if list.len() < self.m0 {
            return None;
        }
        list.iter().copied().enumerate().max_by(|a, b| {
            self.distance_between(from, a.1)
                .total_cmp(&self.distance_between(from, b.1))
        })
    }

    /// Adds `from -> to` on layer 0, replacing `from`'s farthest link when it is full;
    /// returns the link replaced.
    fn force_link(&self, from: u32, to: u32) -> Option<u32> {
        let lock = self.upper.get(from as usize)?;
        let guard = write(lock);
        let mut list = self.links_of(from, 0);
        let removed = self.farthest_link(from).map(|(i, target)| {
            list.swap_remove(i);
            target
        });
        list.push(to);
        self.store_links0(from, &list);
        drop(guard);
        self.mark_dirty(from);
        removed
    }

    /// Adds to `seen` every node reachable from `start` on layer 0.
    fn reachable(&self, start: u32, mut seen: RoaringBitmap) -> RoaringBitmap {
        let mut stack = vec![start];
        seen.insert(start);
        while let Some(slot) = stack.pop() {
            for link in self.links_of(slot, 0) {
                if seen.insert(link) {
                    stack.push(link);
                }
            }
        }
        seen
    }
}

impl<M: Metric> GraphView for BuildGraph<'_, M> {
    #[inline]
    fn distance(&self, query: &[u8], slot: u32) -> Result<f32> {
        let vector = self
            .vectors
            .get(slot as usize)
            .ok_or_else(|| Error::corrupted(format!("link to slot {slot} past the end"), &[]))?;
        self.count_distance();
        Ok(M::distance(query, vector))
    }

    #[inline(always)]
    fn distance_in<S: hannoy_metrics::kernels::Simd>(
        &self,
        simd: S,
        query: &[u8],
        slot: u32,
    ) -> Result<f32> {
        let vector = self
            .vectors
            .get(slot as usize)
            .ok_or_else(|| Error::corrupted(format!("link to slot {slot} past the end"), &[]))?;
        self.count_distance();
        Ok(M::distance_in(simd, query, vector))
    }

    #[inline]
    fn for_each_neighbour(&self, slot: u32, layer: u8, f: impl FnMut(u32)) -> Result<()> {
        if layer == 0 {
            self.read_links0(slot, f);
            return Ok(());
        }
        // Upper layers: under the node's read lock, held while the search only gathers and
        // prefetches (distances come after).
        let Some(lock) = self.upper.get(slot as usize) else {
            return Ok(());
        };
        let guard = read(lock);
        if let Some(list) = guard.get(usize::from(layer) - 1) {
            list.iter().copied().for_each(f);
        }
        Ok(())
    }

    #[inline]
    fn prefetch_links(&self, slot: u32, layer: u8) {
        if layer == 0 {
            hannoy_metrics::prefetch(self.words0(slot));
        }
    }

    fn slot_bound(&self) -> u32 {
        self.levels.len() as u32
    }

    #[inline]
    fn prefetch(&self, slot: u32) {
        if let Some(vector) = self.vectors.get(slot as usize) {
            hannoy_metrics::prefetch(vector);
        }
    }
}
