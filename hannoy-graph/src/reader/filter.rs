//! Filtered search: a query restricted to a set of candidate ids (see [`FilterStrategy`]).

use crate::chunks::Chunks;
use crate::error::Result;

/// How much more one distance of a filtered graph search costs than one of an exact scan,
/// measured on `debian-minilm-384` (384-d, 98,000 vectors, ef 64, 10 % filter): 1.59 ms for
/// about 6,400 estimated graph distances against 1.05 ms for 9,800 scanned ones.
pub const GRAPH_DISTANCE_WEIGHT: f64 = 2.3;

/// How a query restricted to a set of candidate ids is answered.
///
/// Three ways answer it. The **graph** way runs the usual HNSW search but only lets
/// candidates into the results; every node, candidate or not, is still traversed, on every
/// layer, so the search can cross regions where few nodes qualify. The **two-hop** walk
/// ([`TwoHop`](FilterStrategy::TwoHop)) scores candidates only and passes through the
/// others to their neighbours. The **exact scan** computes the distance to every
/// candidate. `Auto` picks by an estimate of the distances each computes, the two-hop walk
/// standing in for the graph below 40 % allowed (`docs/benchmarks.md`, filtered search):
///
/// - exact scan: `c`, the number of candidates;
/// - graph: a best-first search pops about `ef / s` nodes before it holds `ef` candidates,
///   where `s = c / n` is the share of items that qualify, and each pop computes the
///   distances of its unvisited neighbours, about half its degree: `ef / s * d / 2`, with
///   `d` the index's mean layer-0 degree, plus the greedy descent of the upper layers
///   (`max_level * m`); each weighs [`GRAPH_DISTANCE_WEIGHT`] scanned distances, since a
///   graph step also pays a random read, heap and visited-set work where the scan streams
///   through the candidates' vectors in slot order.
///
/// With n = 98,000, ef = 64 and d = 20 the switch falls near s = 12 %: below it the scan is
/// cheaper (and exact), above it the graph. Measured on `debian-minilm-384` (memory store,
/// ef 64): scan 1.05 ms / graph 1.59 ms at 10 %, scan 1.86 ms / graph 0.89 ms at 20 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterStrategy {
    /// Pick by the estimate above, with the two-hop walk in the middle band.
    #[default]
    Auto,
    /// Always search the graph, letting only candidates into the results.
    Graph,
    /// Always walk the graph on candidates only, passing through the others to their
    /// neighbours (ACORN's two-hop expansion): no distance is computed for a node the filter
    /// rejects, so a walk at a share `s` costs about what an unfiltered one does, plus the
    /// link reads of the rejected neighbours.
    TwoHop,
    /// Always compute the distance to every candidate (exact results).
    ExactScan,
}

/// How a filtered query is answered, as [`FilterStrategy::plan`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterPlan {
    Scan,
    Graph,
    TwoHop,
}

/// Below this share of allowed items, `Auto` walks two hops rather than through every node.
pub(crate) const TWO_HOP_BELOW: f64 = 0.4;

impl FilterStrategy {
    /// How to answer a query with `candidates` of `items` at `ef`, in a graph of mean
    /// layer-0 degree `degree`, `max_level` upper layers of `m` links.
    pub(crate) fn plan(
        self,
        candidates: u64,
        items: u64,
        ef: usize,
        degree: f64,
        max_level: u8,
        m: u16,
    ) -> FilterPlan {
        match self {
            FilterStrategy::Graph => FilterPlan::Graph,
            FilterStrategy::TwoHop => FilterPlan::TwoHop,
            FilterStrategy::ExactScan => FilterPlan::Scan,
            FilterStrategy::Auto => {
                let share = candidates as f64 / items.max(1) as f64;
                // The two-hop walk expands about as many nodes as an unfiltered one, each
                // reading the links of its rejected neighbours as well.
                let walk = match share < TWO_HOP_BELOW {
                    true => ef as f64 * (degree / 2.0) * (1.0 + (1.0 - share) * degree / 8.0),
                    false => ef as f64 / share * (degree / 2.0),
                };
                let distances = walk + f64::from(max_level) * f64::from(m);
                if (candidates as f64) <= distances * GRAPH_DISTANCE_WEIGHT {
                    FilterPlan::Scan
                } else if share < TWO_HOP_BELOW {
                    FilterPlan::TwoHop
                } else {
                    FilterPlan::Graph
                }
            }
        }
    }
}

/// The slot of every live item, sorted by item id, and the mean layer-0 degree.
pub(crate) struct SlotIndex {
    by_id: Vec<(u32, u32)>,
    /// The slot of each id below its length ([`NO_SLOT`]: none) when the ids are dense
    /// enough for a flat table (at most [`FLAT_SPREAD`] ids per item, plus a margin):
    /// one load per lookup where the sorted list costs a gallop and a binary search.
    by_id_flat: Option<Vec<u32>>,
    /// The item in each slot (`None`: free), read without touching the link chunks.
    by_slot: Vec<Option<u32>>,
    pub(crate) mean_degree: f64,
}

impl SlotIndex {
    pub(crate) fn build<B: AsRef<[u8]>>(
        chunks: &Chunks<'_, B>,
        slot_count: u32,
    ) -> Result<SlotIndex> {
        let mut by_id = Vec::new();
        let mut by_slot = vec![None; slot_count as usize];
        let mut degrees = 0u64;
        for (slot, item) in (0..slot_count).zip(by_slot.iter_mut()) {
            if let Some(record) = chunks.record0(slot)?
                && record.level().is_some()
            {
                by_id.push((record.item(), slot));
                *item = Some(record.item());
                degrees += record.degree() as u64;
            }
        }
        by_id.sort_unstable();
        let mean_degree = degrees as f64 / by_id.len().max(1) as f64;
        let by_id_flat = flat_table(&by_id);
        Ok(SlotIndex {
            by_id,
            by_id_flat,
            by_slot,
            mean_degree,
        })
    }

    /// A cursor for looking up ids in ascending order.
    /// A bit per slot below `slot_count`, set for the slots of the `allowed` ids (ids
    /// without a node are left out): O(|allowed|) to build, one load to ask.
    pub(crate) fn allowed_slots(
        &self,
        allowed: &roaring::RoaringBitmap,
        slot_count: u32,
    ) -> Vec<u64> {
        let mut bits = vec![0u64; (slot_count as usize).div_ceil(64)];
        let mut cursor = self.cursor();
        for id in allowed {
            if let Some(slot) = cursor.slot(id)
                && let Some(word) = bits.get_mut(slot as usize / 64)
            {
                *word |= 1 << (slot % 64);
            }
        }
        bits
    }

    /// Whether `slot` holds an item of `allowed`.
    #[inline]
    pub(crate) fn allows(&self, allowed: &roaring::RoaringBitmap, slot: u32) -> bool {
        self.by_slot
            .get(slot as usize)
            .copied()
            .flatten()
            .is_some_and(|id| allowed.contains(id))
    }

    pub(crate) fn cursor(&self) -> SlotCursor<'_> {
        SlotCursor {
            rest: &self.by_id,
            flat: self.by_id_flat.as_deref(),
        }
    }
}

/// A flat table's entry for an id without a slot.
const NO_SLOT: u32 = u32::MAX;

/// How many ids per item a flat id -> slot table may span (4 bytes each).
const FLAT_SPREAD: usize = 4;

/// The flat id -> slot table of `by_id` (sorted by id), when its ids are dense enough.
fn flat_table(by_id: &[(u32, u32)]) -> Option<Vec<u32>> {
    let span = by_id.last().map_or(0, |&(id, _)| id as usize + 1);
    if span > by_id.len().saturating_mul(FLAT_SPREAD).saturating_add(4096) {
        return None;
    }
    let mut flat = vec![NO_SLOT; span];
    for &(id, slot) in by_id {
        flat[id as usize] = slot;
    }
    Some(flat)
}

/// Looks up ascending ids: each lookup gallops forward from the last one, so a dense run of
/// ids costs a step each and a sparse one a binary search each.
pub(crate) struct SlotCursor<'a> {
    rest: &'a [(u32, u32)],
    /// The flat table, when the index has one: then a lookup is one load.
    flat: Option<&'a [u32]>,
}

impl SlotCursor<'_> {
    /// The slot of `id`, which must not be below the previous id looked up.
    #[inline]
    pub(crate) fn slot(&mut self, id: u32) -> Option<u32> {
        if let Some(flat) = self.flat {
            return flat
                .get(id as usize)
                .copied()
                .filter(|&slot| slot != NO_SLOT);
        }
        let mut bound = 1;
        while bound < self.rest.len() && self.rest[bound].0 < id {
            bound *= 2;
        }
        let window = &self.rest[..(bound + 1).min(self.rest.len())];
        let at = window.partition_point(|&(item, _)| item < id);
        self.rest = &self.rest[at..];
        match self.rest.first() {
            Some(&(item, slot)) if item == id => Some(slot),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FilterPlan, FilterStrategy};

    #[test]
    fn auto_scans_small_filters_and_walks_two_hops_in_the_middle() {
        let plan = |c| FilterStrategy::Auto.plan(c, 98_000, 64, 20.0, 3, 16);
        assert_eq!(plan(98), FilterPlan::Scan, "0.1% scans");
        assert_eq!(plan(980), FilterPlan::Scan, "1% scans");
        assert_eq!(plan(19_600), FilterPlan::TwoHop, "20% walks two hops");
        assert_eq!(plan(49_000), FilterPlan::Graph, "50% searches the graph");
        let forced = |strategy: FilterStrategy| strategy.plan(49_000, 98_000, 64, 20.0, 3, 16);
        assert_eq!(forced(FilterStrategy::ExactScan), FilterPlan::Scan);
        assert_eq!(forced(FilterStrategy::TwoHop), FilterPlan::TwoHop);
        assert_eq!(
            FilterStrategy::Graph.plan(1, 98_000, 64, 20.0, 3, 16),
            FilterPlan::Graph
        );
    }

    #[test]
    fn cursor_finds_ascending_ids() {
        let by_id: Vec<(u32, u32)> = (0..1000).map(|i| (i * 3, i + 7)).collect();
        let flat = super::flat_table(&by_id);
        assert!(
            flat.is_some(),
            "3 ids per item are dense enough for the table"
        );
        // The same answers through the sorted list and through the flat table.
        for by_id_flat in [None, flat] {
            let index = super::SlotIndex {
                by_id: by_id.clone(),
                by_id_flat,
                by_slot: Vec::new(),
                mean_degree: 0.0,
            };
            let mut cursor = index.cursor();
            assert_eq!(cursor.slot(0), Some(7));
            assert_eq!(cursor.slot(3), Some(8));
            assert_eq!(cursor.slot(4), None);
            assert_eq!(cursor.slot(2997), Some(1006));
            assert_eq!(cursor.slot(2998), None);
            assert_eq!(cursor.slot(u32::MAX), None);
            let mut cursor = index.cursor();
            assert_eq!(cursor.slot(1500), Some(507));
            assert_eq!(cursor.slot(1503), Some(508));
        }
    }

    #[test]
    fn sparse_ids_get_no_flat_table() {
        let sparse: Vec<(u32, u32)> = (0..1000).map(|i| (i * 1_000_000, i)).collect();
        assert!(super::flat_table(&sparse).is_none());
        assert_eq!(super::flat_table(&[]), Some(Vec::new()));
    }
}
