//! HNSW traversal, shared by the reader (over stored chunks) and the builder (over the
//! graph being built): the greedy descent of the upper layers and the best-first search of
//! one layer with a candidate list of size `ef` (the paper's SEARCH-LAYER).
//!
//! Each traversal runs under one [`kernels::arch`] dispatch: the distance kernels of the
//! detected instruction set are inlined into its loop ([`GraphView::distance_in`]) instead
//! of being dispatched per distance (a cached-`Arch` load, a match and a call into a
//! non-inlined target-feature function for every one of the hundreds of distances of a
//! query). The kernels are the same, so the distances are the same bits.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use hannoy_metrics::kernels::{self, Simd, WithSimd};

use crate::error::Result;
use crate::stop::{Never, Stop};

/// A node with its distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The internal distance (smaller is closer, never NaN).
    pub dist: f32,
    /// The node's slot.
    pub slot: u32,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.slot.cmp(&other.slot))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What a traversal needs from a graph.
pub trait GraphView {
    /// The distance between the (encoded) query and the vector in `slot`.
    fn distance(&self, query: &[u8], slot: u32) -> Result<f32>;

    /// [`distance`](GraphView::distance) with the kernels of `simd` inlined, for the
    /// traversals that dispatch once; the same bits. The default calls `distance`.
    #[inline(always)]
    fn distance_in<S: Simd>(&self, simd: S, query: &[u8], slot: u32) -> Result<f32> {
        let _ = simd;
        self.distance(query, slot)
    }

    /// Calls `f` with every neighbour of `slot` on `layer`.
    fn for_each_neighbour(&self, slot: u32, layer: u8, f: impl FnMut(u32)) -> Result<()>;

    /// One more than the largest slot (the size of the visited set).
    fn slot_bound(&self) -> u32;

    /// Hints that the vector in `slot` is about to be read.
    #[inline]
    fn prefetch(&self, _slot: u32) {}

    /// Hints that the links of `slot` on `layer` are about to be read.
    #[inline]
    fn prefetch_links(&self, _slot: u32, _layer: u8) {}
}

/// A graph whose distance computations are counted (what a search reports).
pub struct Counting<'g, G> {
    graph: &'g G,
    count: std::cell::Cell<u64>,
}

impl<'g, G> Counting<'g, G> {
    /// Counts the distances computed on `graph`, from zero.
    pub fn new(graph: &'g G) -> Self {
        Counting {
            graph,
            count: std::cell::Cell::new(0),
        }
    }

    /// The distances computed so far.
    pub fn count(&self) -> u64 {
        self.count.get()
    }
}

impl<G: GraphView> GraphView for Counting<'_, G> {
    #[inline]
    fn distance(&self, query: &[u8], slot: u32) -> Result<f32> {
        self.count.set(self.count.get() + 1);
        self.graph.distance(query, slot)
    }

    #[inline(always)]
    fn distance_in<S: Simd>(&self, simd: S, query: &[u8], slot: u32) -> Result<f32> {
        self.count.set(self.count.get() + 1);
        self.graph.distance_in(simd, query, slot)
    }

    #[inline]
    fn for_each_neighbour(&self, slot: u32, layer: u8, f: impl FnMut(u32)) -> Result<()> {
        self.graph.for_each_neighbour(slot, layer, f)
    }

    fn slot_bound(&self) -> u32 {
        self.graph.slot_bound()
    }

    #[inline]
    fn prefetch(&self, slot: u32) {
        self.graph.prefetch(slot);
    }

    #[inline]
    fn prefetch_links(&self, slot: u32, layer: u8) {
        self.graph.prefetch_links(slot, layer);
    }
}

/// A set of visited slots, cleared in O(1) by bumping an epoch.
#[derive(Default)]
pub struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    /// Empties the set and makes room for slots below `bound`.
    pub fn reset(&mut self, bound: u32) {
        if self.marks.len() < bound as usize {
            self.marks.resize(bound as usize, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Whether `slot` is in the set (slots past the bound count as visited).
    #[inline]
    pub fn contains(&self, slot: u32) -> bool {
        self.marks
            .get(slot as usize)
            .is_none_or(|&mark| mark == self.epoch)
    }

    /// Adds `slot`; returns whether it was new. Slots past the bound count as visited.
    #[inline]
    pub fn insert(&mut self, slot: u32) -> bool {
        match self.marks.get_mut(slot as usize) {
            Some(mark) if *mark != self.epoch => {
                *mark = self.epoch;
                true
            }
            _ => false,
        }
    }
}

/// Reusable buffers of one search, kept per thread so a search allocates nothing once warm.
#[derive(Default)]
pub struct Scratch {
    pub(crate) visited: Visited,
    candidates: BinaryHeap<Reverse<Candidate>>,
    results: BinaryHeap<Candidate>,
    /// The unvisited neighbours of the node being expanded.
    fresh: Vec<u32>,
    /// The neighbours a two-hop expansion reaches past (not kept).
    passed: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers (fresh ones if they are already in use).
pub fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Follows the closest neighbour on `layer` until none is closer (ef = 1).
pub fn greedy_closest<G: GraphView>(
    graph: &G,
    query: &[u8],
    start: Candidate,
    layer: u8,
) -> Result<Candidate> {
    kernels::arch().dispatch(Greedy {
        graph,
        query,
        start,
        layer,
    })
}

/// The arguments of [`greedy_closest`], run under one dispatch.
struct Greedy<'a, G> {
    graph: &'a G,
    query: &'a [u8],
    start: Candidate,
    layer: u8,
}

impl<G: GraphView> WithSimd for Greedy<'_, G> {
    type Output = Result<Candidate>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Result<Candidate> {
        let Greedy {
            graph,
            query,
            start,
            layer,
        } = self;
        let mut best = start;
        // The neighbours are gathered first, so the distances run in this function (with
        // the dispatched kernels inlined), not in the closure.
        let mut neighbours = Vec::new();
        loop {
            neighbours.clear();
            graph.for_each_neighbour(best.slot, layer, |slot| neighbours.push(slot))?;
            let mut improved = None;
            for &slot in &neighbours {
                let candidate = Candidate {
                    dist: graph.distance_in(simd, query, slot)?,
                    slot,
                };
                if candidate < improved.unwrap_or(best) {
                    improved = Some(candidate);
                }
            }
            match improved {
                Some(closer) => best = closer,
                None => return Ok(best),
            }
        }
    }
}

/// Best-first search of `layer` from `entries`, keeping the `ef` closest nodes found; they
/// are returned sorted, closest first. Only nodes accepted by `keep` enter the results, but
/// every node is traversed.
pub fn search_layer<G: GraphView>(
    graph: &G,
    query: &[u8],
    entries: &[Candidate],
    ef: usize,
    layer: u8,
    scratch: &mut Scratch,
    keep: impl Fn(u32) -> bool,
) -> Result<Vec<Candidate>> {
    search_layer_until(graph, query, entries, ef, layer, scratch, keep, &Never)
}

/// [`search_layer_until`] for a filter that keeps few nodes (ACORN's two-hop expansion):
/// only nodes accepted by `keep` get a distance and enter the queue; a neighbour that is
/// not kept is passed through to its own neighbours, so the walk crosses the nodes the
/// filter rejects without paying their distances.
#[allow(clippy::too_many_arguments)]
pub fn search_layer_two_hop<G: GraphView>(
    graph: &G,
    query: &[u8],
    entries: &[Candidate],
    ef: usize,
    layer: u8,
    scratch: &mut Scratch,
    keep: impl Fn(u32) -> bool,
    stop: &impl Stop,
) -> Result<Vec<Candidate>> {
    kernels::arch().dispatch(SearchLayer::<_, _, _, true> {
        graph,
        query,
        entries,
        ef,
        layer,
        scratch,
        keep,
        stop,
    })
}

/// [`search_layer`] that asks `stop` before each node expansion and, once it says so,
/// returns the nodes found so far (sorted, closest first).
#[allow(clippy::too_many_arguments)]
pub fn search_layer_until<G: GraphView>(
    graph: &G,
    query: &[u8],
    entries: &[Candidate],
    ef: usize,
    layer: u8,
    scratch: &mut Scratch,
    keep: impl Fn(u32) -> bool,
    stop: &impl Stop,
) -> Result<Vec<Candidate>> {
    kernels::arch().dispatch(SearchLayer::<_, _, _, false> {
        graph,
        query,
        entries,
        ef,
        layer,
        scratch,
        keep,
        stop,
    })
}

/// The arguments of [`search_layer_until`] (or, `TWO_HOP`, [`search_layer_two_hop`]), run
/// under one dispatch.
struct SearchLayer<'a, G, K, P, const TWO_HOP: bool> {
    graph: &'a G,
    query: &'a [u8],
    entries: &'a [Candidate],
    ef: usize,
    layer: u8,
    scratch: &'a mut Scratch,
    keep: K,
    stop: &'a P,
}

impl<G: GraphView, K: Fn(u32) -> bool, P: Stop, const TWO_HOP: bool> WithSimd
    for SearchLayer<'_, G, K, P, TWO_HOP>
{
    type Output = Result<Vec<Candidate>>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Result<Vec<Candidate>> {
        let SearchLayer {
            graph,
            query,
            entries,
            ef,
            layer,
            scratch,
            keep,
            stop,
        } = self;
        search_layer_in::<S, G, TWO_HOP>(
            simd, graph, query, entries, ef, layer, scratch, keep, stop,
        )
    }
}

/// [`search_layer`]'s body, with the kernels of `simd`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn search_layer_in<S: Simd, G: GraphView, const TWO_HOP: bool>(
    simd: S,
    graph: &G,
    query: &[u8],
    entries: &[Candidate],
    ef: usize,
    layer: u8,
    scratch: &mut Scratch,
    keep: impl Fn(u32) -> bool,
    stop: &impl Stop,
) -> Result<Vec<Candidate>> {
    let Scratch {
        visited,
        candidates,
        results,
        fresh,
        passed,
    } = scratch;
    visited.reset(graph.slot_bound());
    candidates.clear();
    results.clear();
    for &entry in entries {
        if visited.insert(entry.slot) {
            candidates.push(Reverse(entry));
            if keep(entry.slot) {
                results.push(entry);
            }
        }
    }
    while results.len() > ef {
        results.pop();
    }

    while let Some(Reverse(current)) = candidates.pop() {
        if stop.due() {
            break;
        }
        if results.len() >= ef
            && results
                .peek()
                .is_some_and(|worst| current.dist > worst.dist)
        {
            break;
        }
        // The closest remaining candidate is likely the next one expanded: start loading its
        // links now, so they have arrived when it is popped.
        if let Some(Reverse(next)) = candidates.peek() {
            graph.prefetch_links(next.slot, layer);
        }
        // Gather the unvisited neighbours and hint their vectors first, so their memory
        // latencies overlap, then compute the distances.
        fresh.clear();
        if TWO_HOP {
            // As many kept nodes as the node has neighbours (ACORN's truncation to M): the
            // direct ones first, then those two hops away through the rejected ones.
            passed.clear();
            let mut degree = 0;
            graph.for_each_neighbour(current.slot, layer, |slot| {
                degree += 1;
                if visited.insert(slot) {
                    match keep(slot) {
                        true => {
                            graph.prefetch(slot);
                            fresh.push(slot);
                        }
                        false => passed.push(slot),
                    }
                }
            })?;
            for &through in passed.iter() {
                if fresh.len() >= degree {
                    break;
                }
                graph.for_each_neighbour(through, layer, |slot| {
                    if !visited.contains(slot) && keep(slot) {
                        visited.insert(slot);
                        graph.prefetch(slot);
                        fresh.push(slot);
                    }
                })?;
            }
        } else {
            graph.for_each_neighbour(current.slot, layer, |slot| {
                if visited.insert(slot) {
                    graph.prefetch(slot);
                    fresh.push(slot);
                }
            })?;
        }
        for &slot in fresh.iter() {
            let dist = graph.distance_in(simd, query, slot)?;
            let full = results.len() >= ef;
            if full && results.peek().is_some_and(|worst| dist >= worst.dist) {
                continue;
            }
            let candidate = Candidate { dist, slot };
            if candidates
                .peek()
                .is_none_or(|Reverse(best)| candidate < *best)
            {
                // It will be expanded next (unless a closer one follows): load its links.
                graph.prefetch_links(slot, layer);
            }
            candidates.push(Reverse(candidate));
            // A two-hop walk only gathers kept nodes.
            if TWO_HOP || keep(slot) {
                results.push(candidate);
                if results.len() > ef {
                    results.pop();
                }
            }
        }
    }
    let mut found: Vec<Candidate> = results.drain().collect();
    found.sort_unstable();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visited_resets_and_wraps() {
        let mut visited = Visited::default();
        visited.reset(4);
        assert!(visited.insert(1));
        assert!(!visited.insert(1));
        assert!(!visited.insert(9), "out of bound counts as visited");
        for _ in 0..70_000 {
            visited.reset(4);
        }
        assert!(
            visited.insert(1),
            "a reset forgets, across epoch wrap-around"
        );
    }

    /// A path graph 0 - 1 - 2 - ... with the query near the far end.
    struct Path(u32);

    impl GraphView for Path {
        fn distance(&self, query: &[u8], slot: u32) -> Result<f32> {
            Ok((f32::from(query[0]) - slot as f32).abs())
        }
        fn for_each_neighbour(&self, slot: u32, _: u8, mut f: impl FnMut(u32)) -> Result<()> {
            if slot > 0 {
                f(slot - 1);
            }
            if slot + 1 < self.0 {
                f(slot + 1);
            }
            Ok(())
        }
        fn slot_bound(&self) -> u32 {
            self.0
        }
    }

    #[test]
    fn search_walks_to_the_query() {
        let graph = Path(50);
        let start = Candidate {
            dist: 40.0,
            slot: 0,
        };
        assert_eq!(greedy_closest(&graph, &[40], start, 0).unwrap().slot, 40);
        let mut scratch = Scratch::default();
        let found = search_layer(&graph, &[40], &[start], 3, 0, &mut scratch, |_| true).unwrap();
        let slots: Vec<u32> = found.iter().map(|c| c.slot).collect();
        assert_eq!(slots, vec![40, 39, 41]);
        let odd =
            search_layer(&graph, &[40], &[start], 2, 0, &mut scratch, |s| s % 2 == 1).unwrap();
        assert_eq!(odd.iter().map(|c| c.slot).collect::<Vec<_>>(), vec![39, 41]);
    }
}
