//! Filtered search: a query restricted to a set of candidate ids (see [`FilterStrategy`]).

use crate::chunks::Chunks;

/// How a query restricted to a set of candidate ids is answered.
///
/// Two ways answer it. The **graph** way runs the usual HNSW search but only lets
/// candidates into the results; every node, candidate or not, is still traversed, on every
/// layer, so the search can cross regions where few nodes qualify. The **exact scan**
/// computes the distance to every candidate. `Auto` picks the cheaper by
/// an estimate of the distances each computes:
///
/// - exact scan: `c`, the number of candidates;
/// - graph: a best-first search pops about `ef / s` nodes before it holds `ef` candidates,
///   where `s = c / n` is the share of items that qualify, and each pop computes the
///   distances of its unvisited neighbours, about half its degree: `ef / s * d / 2`, with
///   `d` the index's mean layer-0 degree, plus the greedy descent of the upper layers
///   (`max_level * m`).
///
/// With n = 98,000, ef = 64 and d = 20 the switch falls near s = 8 %: below it the scan is
/// cheaper (and exact), above it the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterStrategy {
    /// Pick the cheaper of the two by the estimate above.
    #[default]
    Auto,
    /// Always search the graph, letting only candidates into the results.
    Graph,
    /// Always compute the distance to every candidate (exact results).
    ExactScan,
}

impl FilterStrategy {
    /// Whether to scan, for `candidates` of `items` at `ef`, in a graph of mean layer-0
    /// degree `degree`, `max_level` upper layers of `m` links.
    pub(crate) fn scans(
        self,
        candidates: u64,
        items: u64,
        ef: usize,
        degree: f64,
        max_level: u8,
        m: u16,
    ) -> bool {
        match self {
            FilterStrategy::Graph => false,
            FilterStrategy::ExactScan => true,
            FilterStrategy::Auto => {
                let share = candidates as f64 / items.max(1) as f64;
                let graph =
                    ef as f64 / share * (degree / 2.0) + f64::from(max_level) * f64::from(m);
                (candidates as f64) <= graph
            }
        }
    }
}

/// The slot of every live item, sorted by item id, and the mean layer-0 degree.
pub(crate) struct SlotIndex {
    by_id: Vec<(u32, u32)>,
    pub(crate) mean_degree: f64,
}

impl SlotIndex {
    pub(crate) fn build<B: AsRef<[u8]>>(chunks: &Chunks<B>, slot_count: u32) -> SlotIndex {
        let mut by_id = Vec::new();
        let mut degrees = 0u64;
        for slot in 0..slot_count {
            if let Some(record) = chunks.record0(slot)
                && record.level().is_some()
            {
                by_id.push((record.item(), slot));
                degrees += record.degree() as u64;
            }
        }
        by_id.sort_unstable();
        let mean_degree = degrees as f64 / by_id.len().max(1) as f64;
        SlotIndex { by_id, mean_degree }
    }

    /// The slot of item `id`.
    pub(crate) fn slot(&self, id: u32) -> Option<u32> {
        let at = self
            .by_id
            .binary_search_by_key(&id, |&(item, _)| item)
            .ok()?;
        Some(self.by_id[at].1)
    }
}

#[cfg(test)]
mod tests {
    use super::FilterStrategy;

    #[test]
    fn auto_scans_only_small_filters() {
        let scans = |c| FilterStrategy::Auto.scans(c, 98_000, 64, 20.0, 3, 16);
        assert!(scans(98), "0.1% scans");
        assert!(scans(980), "1% scans");
        assert!(!scans(9_800), "10% searches the graph");
        assert!(!scans(49_000), "50% searches the graph");
        assert!(FilterStrategy::ExactScan.scans(49_000, 98_000, 64, 20.0, 3, 16));
        assert!(!FilterStrategy::Graph.scans(1, 98_000, 64, 20.0, 3, 16));
    }
}
