//! Nearest-neighbour queries.

use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use hannoy_metrics::Metric;
use rayon::prelude::*;
use roaring::RoaringBitmap;

use super::codes::{self, CodeWalk};
use super::filter::FilterPlan;
use super::{DEFAULT_EF_SEARCH, FilterStrategy, Reader};
use crate::error::{Error, Result};
use crate::format::codes::code_error;
use crate::search::{self, Candidate, Counting, GraphView};
use crate::stop::{CancelCheck, Cutoff, Never, Stop};
use crate::store::ReadTxn;

/// One search's results, `(item id, distance)` closest first, and what it did.
pub type Searched = (Vec<(u32, f32)>, SearchStats);

/// A filtered walk: the allowed ids, and whether the walk passes through the others
/// ([`FilterStrategy::TwoHop`]).
#[derive(Clone, Copy)]
struct Filter<'a> {
    allowed: &'a RoaringBitmap,
    two_hop: bool,
}

/// How many items a filtered exact scan compares between two looks at its cut-off.
const SCAN_STOP_EVERY: usize = 64;

/// What one search did, from [`QueryBuilder::by_vector_with_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Distances computed while walking the graph: estimates on compact codes, or full
    /// distances when the walk runs on the vectors (an exact scan counts here too).
    pub walk_distances: u64,
    /// Bytes of stored data each walk distance reads: a code, or a full vector.
    pub bytes_per_distance: u64,
    /// Candidates rescored with their full vectors (0 when the walk ran on them).
    pub rescored: u64,
    /// The search was cut short by its [deadline](QueryBuilder::deadline),
    /// [time budget](QueryBuilder::time_budget) or
    /// [cancellation check](QueryBuilder::cancel_when): the results are the best it had
    /// found (their distances exact all the same).
    pub cut_short: bool,
}

/// A k-nearest-neighbour query, made by [`Reader::nns`].
///
/// Results are `(item id, distance)` pairs sorted by distance, closest first, with the
/// metric's user-facing distance. Fewer than `k` come back when the index holds fewer
/// items; an empty index gives an empty list.
pub struct QueryBuilder<'r, 't, M: Metric, T: ReadTxn + 't> {
    reader: &'r Reader<'t, M, T>,
    k: usize,
    ef_search: usize,
    candidates: Option<&'r RoaringBitmap>,
    strategy: FilterStrategy,
    rescore: Option<usize>,
    use_codes: bool,
    deadline: Option<Instant>,
    budget: Option<Duration>,
    cancel: Option<CancelCheck<'r>>,
    exclude_self: bool,
}

impl<'r, 't, M: Metric, T: ReadTxn + 't> QueryBuilder<'r, 't, M, T> {
    pub(super) fn new(reader: &'r Reader<'t, M, T>, k: usize) -> Self {
        QueryBuilder {
            reader,
            k,
            ef_search: DEFAULT_EF_SEARCH,
            candidates: None,
            strategy: FilterStrategy::Auto,
            rescore: None,
            use_codes: true,
            deadline: None,
            budget: None,
            cancel: None,
            exclude_self: false,
        }
    }

    /// Only these ids may be returned. Ids not in the index are ignored; an empty set gives
    /// an empty result. Recall holds at any selectivity: see [`FilterStrategy`].
    pub fn candidates(mut self, candidates: &'r RoaringBitmap) -> Self {
        self.candidates = Some(candidates);
        self
    }

    /// How a query with [`candidates`](Self::candidates) is answered (default: the cheaper
    /// of a filtered graph search and an exact scan, by an estimate).
    pub fn filter_strategy(mut self, strategy: FilterStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The size of the candidate list on layer 0 (the paper's ef). Larger finds more of the
    /// true neighbours and costs more; values below `k` are raised to `k`. Default
    /// [`DEFAULT_EF_SEARCH`].
    pub fn ef_search(mut self, ef: usize) -> Self {
        self.ef_search = ef;
        self
    }

    /// With compact codes ([`Reader::quantizer`]): how many of the walk's best candidates,
    /// by estimated distance, are rescored with their full vectors (default: all `ef` of
    /// them, which gives the recall of a walk on full vectors at the same `ef` up to the
    /// estimates' ranking errors). Fewer is faster; values below `k` are raised to `k`. A
    /// candidate whose estimate's lower bound already exceeds the `k`-th exact distance is
    /// skipped. No effect on an index without codes.
    ///
    /// # Errors
    /// A search with `rescore(0)` fails with [`Error::InvalidParameter`].
    pub fn rescore(mut self, candidates: usize) -> Self {
        self.rescore = Some(candidates);
        self
    }

    /// Whether the graph walk uses the compact codes when the index has them (default
    /// true); `false` walks on the full vectors, as an index without codes does.
    pub fn use_codes(mut self, use_codes: bool) -> Self {
        self.use_codes = use_codes;
        self
    }

    /// Stop at `deadline`: the search checks it before each node expansion of layer 0 and
    /// before each rescored candidate past the `k`-th, and returns the best results found
    /// by then, with [`SearchStats::cut_short`] set. A batch ([`by_vectors`](Self::by_vectors))
    /// stops every row at the same instant. (An example is in the `hannoy` crate's docs,
    /// "Search deadline".)
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Stop when `budget` has passed since the search began (since the call, for a batch):
    /// [`deadline`](Self::deadline) at that instant. With both, the earlier one counts.
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Stop as soon as `cancel` returns true, asked at the same points as the
    /// [`deadline`](Self::deadline) (so keep it cheap: an atomic load). Called from the
    /// searching threads.
    pub fn cancel_when(mut self, cancel: CancelCheck<'r>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Searches by item ([`by_item`](Self::by_item), [`by_items`](Self::by_items)) leave
    /// the item itself out of its results (default false: it comes first, at distance 0,
    /// unless another item has the same vector): `k` other items come back.
    pub fn exclude_self(mut self, exclude: bool) -> Self {
        self.exclude_self = exclude;
        self
    }

    /// The deadline of a search (or batch) starting now: the earlier of
    /// [`deadline`](Self::deadline) and now plus the [`time_budget`](Self::time_budget).
    fn deadline_from_now(&self) -> Option<Instant> {
        let by_budget = self
            .budget
            .and_then(|budget| Instant::now().checked_add(budget));
        match (self.deadline, by_budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The `k` items closest to `query`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] for a query of the wrong length,
    /// [`Error::InvalidVector`] for one the metric rejects (NaN, infinity, zero under
    /// cosine); [`Error::InvalidParameter`] for a [`rescore`](Self::rescore) of 0; store
    /// errors for corrupted data.
    pub fn by_vector(&self, query: &[f32]) -> Result<Vec<(u32, f32)>> {
        Ok(self.by_vector_with_stats(query)?.0)
    }

    /// [`by_vector`](Self::by_vector), with what the search did.
    ///
    /// # Errors
    /// As [`by_vector`](Self::by_vector).
    pub fn by_vector_with_stats(&self, query: &[f32]) -> Result<(Vec<(u32, f32)>, SearchStats)> {
        self.by_vector_until(query, &Cutoff::new(self.deadline_from_now(), self.cancel))
    }

    /// [`by_vector_with_stats`](Self::by_vector_with_stats) stopped by `cutoff`.
    fn by_vector_until(
        &self,
        query: &[f32],
        cutoff: &Cutoff<'_>,
    ) -> Result<(Vec<(u32, f32)>, SearchStats)> {
        let encoded = self.encode_query(query)?;
        self.search_encoded(&encoded, Some(query), self.k, cutoff)
    }

    /// The `k` items closest to item `id` (itself included, at distance 0, unless
    /// [`exclude_self`](Self::exclude_self)).
    ///
    /// # Errors
    /// [`Error::ItemNotFound`] if the reader does not see `id`; store errors.
    pub fn by_item(&self, txn: &T, id: u32) -> Result<Vec<(u32, f32)>> {
        Ok(self.by_item_with_stats(txn, id)?.0)
    }

    /// [`by_item`](Self::by_item), with what the search did.
    ///
    /// # Errors
    /// As [`by_item`](Self::by_item).
    pub fn by_item_with_stats(&self, txn: &T, id: u32) -> Result<(Vec<(u32, f32)>, SearchStats)> {
        let cutoff = Cutoff::new(self.deadline_from_now(), self.cancel);
        let slot = self.slot_of(txn, id)?;
        self.around_item(id, slot, &cutoff)
    }

    /// One [`by_item`](Self::by_item) search per id of `ids`, in that order, spread over the
    /// current rayon thread pool.
    ///
    /// # Errors
    /// [`Error::ItemNotFound`] for the first id the reader does not see (before any
    /// search); the first error of any search.
    pub fn by_items(&self, txn: &T, ids: &[u32]) -> Result<Vec<Vec<(u32, f32)>>> {
        Ok(self
            .by_items_with_stats(txn, ids)?
            .into_iter()
            .map(|(found, _)| found)
            .collect())
    }

    /// [`by_items`](Self::by_items), with what each search did. A
    /// [`time_budget`](Self::time_budget) counts from this call for every id.
    ///
    /// # Errors
    /// As [`by_items`](Self::by_items).
    pub fn by_items_with_stats(&self, txn: &T, ids: &[u32]) -> Result<Vec<Searched>> {
        let deadline = self.deadline_from_now();
        let slots = ids
            .iter()
            .map(|&id| self.slot_of(txn, id))
            .collect::<Result<Vec<u32>>>()?;
        ids.par_iter()
            .zip(slots)
            .map(|(&id, slot)| self.around_item(id, slot, &Cutoff::new(deadline, self.cancel)))
            .collect()
    }

    /// The slot of item `id`.
    fn slot_of(&self, txn: &T, id: u32) -> Result<u32> {
        self.reader.slot_of(txn, id)?.ok_or(Error::ItemNotFound(id))
    }

    /// The search around item `id`, in `slot`: itself left out if
    /// [`exclude_self`](Self::exclude_self) (one more asked for, then it is dropped).
    fn around_item(&self, id: u32, slot: u32, cutoff: &Cutoff<'_>) -> Result<Searched> {
        let query = self.reader.vector_bytes(slot)?;
        if !self.exclude_self {
            return self.search_encoded(&query, None, self.k, cutoff);
        }
        let (mut found, stats) =
            self.search_encoded(&query, None, self.k.saturating_add(1), cutoff)?;
        found.retain(|&(other, _)| other != id);
        found.truncate(self.k);
        Ok((found, stats))
    }

    /// One search per row of `queries` (row-major, `dimensions` floats per row), spread
    /// over the current rayon thread pool.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if the length is not a multiple of the dimensions;
    /// the first error of any row.
    pub fn by_vectors(&self, queries: &[f32]) -> Result<Vec<Vec<(u32, f32)>>> {
        Ok(self
            .by_vectors_with_stats(queries)?
            .into_iter()
            .map(|(found, _)| found)
            .collect())
    }

    /// [`by_vectors`](Self::by_vectors), with what each search did. A
    /// [`time_budget`](Self::time_budget) counts from this call for every row.
    ///
    /// # Errors
    /// As [`by_vectors`](Self::by_vectors).
    pub fn by_vectors_with_stats(&self, queries: &[f32]) -> Result<Vec<Searched>> {
        let dimensions = self.reader.dimensions();
        if !queries.len().is_multiple_of(dimensions) {
            return Err(Error::DimensionMismatch {
                expected: dimensions,
                found: queries.len() % dimensions,
            });
        }
        let deadline = self.deadline_from_now();
        queries
            .par_chunks_exact(dimensions)
            .map(|query| self.by_vector_until(query, &Cutoff::new(deadline, self.cancel)))
            .collect()
    }

    /// One search per row of `queries`, as [`by_vectors`](Self::by_vectors), each with its
    /// own candidate set: row `i` returns only ids of `candidates[i]` (in place of any
    /// [`candidates`](Self::candidates) of the builder), each planned on its own (a scan,
    /// a two-hop or a filtered walk, by [`filter_strategy`](Self::filter_strategy)).
    ///
    /// # Errors
    /// As [`by_vectors`](Self::by_vectors); [`Error::InvalidParameter`] when there is not
    /// one candidate set per row.
    pub fn by_vectors_with_candidates(
        &self,
        queries: &[f32],
        candidates: &[&RoaringBitmap],
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        Ok(self
            .by_vectors_with_candidates_and_stats(queries, candidates)?
            .into_iter()
            .map(|(found, _)| found)
            .collect())
    }

    /// [`by_vectors_with_candidates`](Self::by_vectors_with_candidates), with what each
    /// search did.
    ///
    /// # Errors
    /// As [`by_vectors_with_candidates`](Self::by_vectors_with_candidates).
    pub fn by_vectors_with_candidates_and_stats(
        &self,
        queries: &[f32],
        candidates: &[&RoaringBitmap],
    ) -> Result<Vec<Searched>> {
        let dimensions = self.reader.dimensions();
        if !queries.len().is_multiple_of(dimensions) {
            return Err(Error::DimensionMismatch {
                expected: dimensions,
                found: queries.len() % dimensions,
            });
        }
        let rows = queries.len() / dimensions;
        if candidates.len() != rows {
            return Err(Error::invalid_parameter(format!(
                "{} candidate sets for {rows} queries: give one per query",
                candidates.len()
            )));
        }
        let deadline = self.deadline_from_now();
        queries
            .par_chunks_exact(dimensions)
            .zip(candidates.par_iter())
            .map(|(query, &allowed)| {
                self.with_candidates(allowed)
                    .by_vector_until(query, &Cutoff::new(deadline, self.cancel))
            })
            .collect()
    }

    /// This query with `candidates` in place of its own.
    fn with_candidates<'a>(&'a self, candidates: &'a RoaringBitmap) -> QueryBuilder<'a, 't, M, T> {
        QueryBuilder {
            reader: self.reader,
            k: self.k,
            ef_search: self.ef_search,
            candidates: Some(candidates),
            strategy: self.strategy,
            rescore: self.rescore,
            use_codes: self.use_codes,
            deadline: self.deadline,
            budget: self.budget,
            cancel: self.cancel,
            exclude_self: self.exclude_self,
        }
    }

    fn encode_query(&self, query: &[f32]) -> Result<Vec<u8>> {
        let expected = self.reader.dimensions();
        if query.len() != expected {
            return Err(Error::DimensionMismatch {
                expected,
                found: query.len(),
            });
        }
        let mut encoded = Vec::with_capacity(M::encoded_len(expected));
        M::encode(query, &mut encoded)
            .map_err(|source| Error::InvalidVector { item: None, source })?;
        Ok(encoded)
    }

    /// Searches for `query`, encoded by the metric; `raw` is the query as given (a search
    /// by item decodes it from `query` when the codes need it).
    fn search_encoded(
        &self,
        query: &[u8],
        raw: Option<&[f32]>,
        k: usize,
        cutoff: &Cutoff<'_>,
    ) -> Result<(Vec<(u32, f32)>, SearchStats)> {
        let (found, mut stats) = self.search_encoded_until(query, raw, k, cutoff)?;
        stats.cut_short = cutoff.fired();
        Ok((found, stats))
    }

    /// [`search_encoded`](Self::search_encoded) without the flag.
    fn search_encoded_until(
        &self,
        query: &[u8],
        raw: Option<&[f32]>,
        k: usize,
        cutoff: &Cutoff<'_>,
    ) -> Result<(Vec<(u32, f32)>, SearchStats)> {
        codes::check_rescore(self.rescore)?;
        let reader = self.reader;
        // No more than the visible items can come back: nothing is sized by a larger `k`.
        let k = k.min(usize::try_from(reader.items.len()).unwrap_or(usize::MAX));
        let none = (Vec::new(), SearchStats::default());
        if k == 0 {
            return Ok(none);
        }
        let Some(candidates) = self.candidates else {
            return self.search_graph(query, raw, k, None, cutoff);
        };
        let allowed = candidates & &reader.items;
        if allowed.is_empty() {
            return Ok(none);
        }
        let index = reader.slot_index()?;
        let ef = self.ef_search.max(k);
        let meta = &reader.meta;
        let plan = self.strategy.plan(
            allowed.len(),
            reader.items.len(),
            ef,
            index.mean_degree,
            meta.max_level,
            meta.m,
        );
        if plan == FilterPlan::Scan {
            let mut stats = SearchStats {
                walk_distances: allowed.len(),
                bytes_per_distance: M::encoded_len(reader.dimensions()) as u64,
                ..SearchStats::default()
            };
            let Some(codes) = reader.codes_only() else {
                return Ok((self.scan(reader, query, k, &allowed, cutoff)?, stats));
            };
            // Codes only: the scan ranks by the codes too.
            let prepared = prepare::<M, _>(codes, query, raw, reader.dimensions())?;
            let walk = CodeWalk {
                reader,
                codes,
                query: &prepared,
            };
            stats.bytes_per_distance = codes.quantizer.code_len() as u64;
            Ok((self.scan(&walk, &[], k, &allowed, cutoff)?, stats))
        } else {
            let filter = Filter {
                allowed: &allowed,
                two_hop: plan == FilterPlan::TwoHop,
            };
            self.search_graph(query, raw, k, Some(filter), cutoff)
        }
    }

    /// The `k` nearest of `allowed` by `graph`'s distances (exact on the vectors; `k` at
    /// most the item count); `cutoff` is asked every [`SCAN_STOP_EVERY`] items.
    fn scan<G: GraphView>(
        &self,
        graph: &G,
        query: &[u8],
        k: usize,
        allowed: &RoaringBitmap,
        cutoff: &Cutoff<'_>,
    ) -> Result<Vec<(u32, f32)>> {
        let reader = self.reader;
        let mut slots = reader.slot_index()?.cursor();
        let mut best: BinaryHeap<(Candidate, u32)> = BinaryHeap::with_capacity(k + 1);
        for (scanned, id) in allowed.iter().enumerate() {
            if scanned % SCAN_STOP_EVERY == 0 && cutoff.due() {
                break;
            }
            let slot = slots
                .slot(id)
                .ok_or_else(|| Error::corrupted(format!("item {id} has no node"), &[]))?;
            let candidate = Candidate {
                dist: graph.distance(query, slot)?,
                slot,
            };
            if best.len() < k {
                best.push((candidate, id));
            } else if best.peek().is_some_and(|(worst, _)| candidate < *worst) {
                best.pop();
                best.push((candidate, id));
            }
        }
        let dimensions = reader.dimensions();
        let mut found: Vec<(Candidate, u32)> = best.into_vec();
        found.sort_unstable();
        Ok(found
            .into_iter()
            .map(|(c, id)| (id, M::user_distance(c.dist, dimensions)))
            .collect())
    }

    /// The graph search for the `k` nearest (at most the item count); with `allowed`, only
    /// those ids enter the results. On compact codes when the index has them (and the query
    /// does not opt out), else on the full vectors.
    fn search_graph(
        &self,
        query: &[u8],
        raw: Option<&[f32]>,
        k: usize,
        allowed: Option<Filter<'_>>,
        cutoff: &Cutoff<'_>,
    ) -> Result<(Vec<(u32, f32)>, SearchStats)> {
        let reader = self.reader;
        let ef = self.ef_search.max(k);
        let codes_only = reader.codes_only().is_some();
        if codes_only && !self.use_codes {
            return Err(Error::invalid_parameter(
                "use_codes(false) on a codes-only index: it keeps no full vectors",
            ));
        }
        let Some(codes) = reader.codes.as_ref().filter(|_| self.use_codes) else {
            let graph = Counting::new(reader);
            let found = self.walk(&graph, query, ef, allowed, cutoff)?;
            let stats = SearchStats {
                walk_distances: graph.count(),
                bytes_per_distance: M::encoded_len(reader.dimensions()) as u64,
                ..SearchStats::default()
            };
            return Ok((self.results(found.into_iter().take(k))?, stats));
        };
        let prepared = prepare::<M, _>(codes, query, raw, reader.dimensions())?;
        let walk = CodeWalk {
            reader,
            codes,
            query: &prepared,
        };
        let graph = Counting::new(&walk);
        let found = self.walk(&graph, &[], ef, allowed, cutoff)?;
        if codes_only {
            let stats = SearchStats {
                walk_distances: graph.count(),
                bytes_per_distance: codes.quantizer.code_len() as u64,
                ..SearchStats::default()
            };
            return Ok((self.results(found.into_iter().take(k))?, stats));
        }
        let rescore = self.rescore.unwrap_or(ef);
        let (best, rescored) = codes::rescore(reader, &walk, query, &found, k, rescore, cutoff)?;
        let stats = SearchStats {
            walk_distances: graph.count(),
            bytes_per_distance: codes.quantizer.code_len() as u64,
            rescored: rescored as u64,
            ..SearchStats::default()
        };
        Ok((self.results(best.into_iter())?, stats))
    }

    /// The greedy descent of the upper layers and the search of layer 0 with `ef`
    /// candidates, on `graph` (full vectors or codes), closest first.
    fn walk<G: GraphView>(
        &self,
        graph: &G,
        query: &[u8],
        ef: usize,
        allowed: Option<Filter<'_>>,
        cutoff: &Cutoff<'_>,
    ) -> Result<Vec<Candidate>> {
        let reader = self.reader;
        let Some(entry) = reader.meta.entry_point else {
            return Ok(Vec::new());
        };
        let mut current = Candidate {
            dist: graph.distance(query, entry)?,
            slot: entry,
        };
        for layer in (1..=reader.meta.max_level).rev() {
            current = search::greedy_closest(graph, query, current, layer)?;
        }
        // A search with neither deadline nor cancellation runs the loop without the check.
        if cutoff.is_active() {
            self.walk_layer0(graph, query, current, ef, allowed, cutoff)
        } else {
            self.walk_layer0(graph, query, current, ef, allowed, &Never)
        }
    }

    /// The search of layer 0 from `current`, stopped by `stop`.
    fn walk_layer0<G: GraphView>(
        &self,
        graph: &G,
        query: &[u8],
        current: Candidate,
        ef: usize,
        allowed: Option<Filter<'_>>,
        stop: &impl Stop,
    ) -> Result<Vec<Candidate>> {
        let reader = self.reader;
        let entries = [current];
        search::with_scratch(|scratch| match allowed {
            Some(Filter { allowed, two_hop }) => {
                let keep = |slot| reader.item_in(slot, |id| allowed.contains(id));
                match two_hop {
                    true => {
                        // The walk asks about many more nodes than it scores. A few allowed
                        // items go into a bit per slot (built per query, one load to ask);
                        // many are asked through the slots' items, a flat array, and the
                        // bitmap (measured on debian-minilm-384: the bits are faster below
                        // about 15 %, the array above).
                        let index = reader.slot_index()?;
                        let slot_count = reader.meta.slot_count;
                        if allowed.len() * 7 < u64::from(slot_count) {
                            let bits = index.allowed_slots(allowed, slot_count);
                            let keep = |slot: u32| {
                                bits.get(slot as usize / 64)
                                    .is_some_and(|word| word >> (slot % 64) & 1 == 1)
                            };
                            return search::search_layer_two_hop(
                                graph, query, &entries, ef, 0, scratch, keep, stop,
                            );
                        }
                        let keep = |slot| index.allows(allowed, slot);
                        search::search_layer_two_hop(
                            graph, query, &entries, ef, 0, scratch, keep, stop,
                        )
                    }
                    false => search::search_layer_until(
                        graph, query, &entries, ef, 0, scratch, keep, stop,
                    ),
                }
            }
            None if reader.hides_items => {
                let visible = |slot| reader.item_in(slot, |id| reader.items.contains(id));
                search::search_layer_until(graph, query, &entries, ef, 0, scratch, visible, stop)
            }
            None => {
                search::search_layer_until(graph, query, &entries, ef, 0, scratch, |_| true, stop)
            }
        })
    }

    /// `(item id, user distance)` of each candidate.
    fn results(&self, found: impl Iterator<Item = Candidate>) -> Result<Vec<(u32, f32)>> {
        let reader = self.reader;
        let dimensions = reader.dimensions();
        let mut results = Vec::with_capacity(self.k.min(64));
        for candidate in found {
            let id = reader.item_of(candidate.slot)?.ok_or_else(|| {
                Error::corrupted(format!("a link leads to free slot {}", candidate.slot), &[])
            })?;
            results.push((id, M::user_distance(candidate.dist, dimensions)));
        }
        Ok(results)
    }
}

/// The query prepared for the codes: `raw` as given, or decoded from the metric's encoding
/// `query` (a search by item).
fn prepare<M: Metric, B: AsRef<[u8]>>(
    codes: &codes::ReaderCodes<B>,
    query: &[u8],
    raw: Option<&[f32]>,
    dimensions: usize,
) -> Result<hannoy_metrics::QueryCode> {
    let decoded;
    let raw = match raw {
        Some(raw) => raw,
        None => {
            decoded = M::decode(query, dimensions)
                .map_err(|e| Error::corrupted(format!("query vector: {e}"), &[]))?;
            &decoded
        }
    };
    codes
        .quantizer
        .prepare(raw)
        .map_err(|error| code_error(error, None))
}
