//! The search on compact codes: the graph walked with estimated distances (the query
//! prepared once), then the best candidates rescored with the full vectors.

use hannoy_metrics::kernels::Simd;
use hannoy_metrics::{Metric, Quantizer, QueryCode};

use super::Reader;
use crate::chunks;
use crate::error::{Error, Result};
use crate::format::{Metadata, codes};
use crate::item_chunks::ItemChunks;
use crate::search::{Candidate, GraphView};
use crate::stop::Stop;
use crate::store::ReadTxn;

/// An index's compact codes as a reader holds them.
pub(super) struct ReaderCodes<'t, B> {
    pub(super) quantizer: Quantizer,
    pub(super) chunks: ItemChunks<'t, B>,
}

impl<'t, B: AsRef<[u8]>> ReaderCodes<'t, B> {
    /// Loads the quantizer and the code chunks of `index`, if `meta` says it has codes.
    pub(super) fn load<T>(txn: &'t T, index: u16, meta: &Metadata) -> Result<Option<Self>>
    where
        T: ReadTxn<Bytes<'t> = B>,
    {
        let Some(info) = &meta.codes else {
            return Ok(None);
        };
        let quantizer = codes::read_quantizer(txn, index, meta, info)?;
        let chunks = chunks::load_codes(txn, index, meta, info)?;
        Ok(Some(ReaderCodes { quantizer, chunks }))
    }

    /// The code of `slot`, its chunk's checksum checked on first use.
    #[inline]
    pub(super) fn code(&self, slot: u32) -> Result<&[u8]> {
        self.chunks.checked(slot)
    }

    /// The vector the code of `slot` stands for (a codes-only index has no other).
    pub(super) fn stand_in(&self, slot: u32) -> Result<Vec<f32>> {
        self.quantizer
            .decode(self.code(slot)?)
            .map_err(|error| codes::decode_error(error, &self.chunks.key_of(slot), slot))
    }

    /// Checks that every live slot of `chunks` has a code: in a codes-only index the code
    /// is all there is of an item.
    pub(super) fn check_present<C: AsRef<[u8]>>(
        &self,
        chunks: &chunks::Chunks<'_, C>,
        slot_count: u32,
    ) -> Result<()> {
        for slot in 0..slot_count {
            let live = chunks.record0(slot)?.is_some_and(|r| r.level().is_some());
            if live && self.chunks.get(slot).is_none() {
                return Err(Error::corrupted(
                    format!("slot {slot} has links but no code"),
                    &self.chunks.key_of(slot),
                ));
            }
        }
        Ok(())
    }
}

/// The graph of a reader seen through the codes: distances are estimates against a
/// prepared query; links are the reader's.
pub(super) struct CodeWalk<'a, 'r, 't, M: Metric, T: ReadTxn + 't> {
    pub(super) reader: &'r Reader<'t, M, T>,
    pub(super) codes: &'r ReaderCodes<'t, T::Bytes<'t>>,
    pub(super) query: &'a QueryCode,
}

impl<'t, M: Metric, T: ReadTxn + 't> GraphView for CodeWalk<'_, '_, 't, M, T> {
    #[inline]
    fn distance(&self, _query: &[u8], slot: u32) -> Result<f32> {
        Ok(self.query.distance(self.codes.code(slot)?))
    }

    #[inline(always)]
    fn distance_in<S: Simd>(&self, simd: S, _query: &[u8], slot: u32) -> Result<f32> {
        Ok(self.query.distance_in(simd, self.codes.code(slot)?))
    }

    #[inline]
    fn for_each_neighbour(&self, slot: u32, layer: u8, f: impl FnMut(u32)) -> Result<()> {
        self.reader.for_each_neighbour(slot, layer, f)
    }

    fn slot_bound(&self) -> u32 {
        self.reader.slot_bound()
    }

    #[inline]
    fn prefetch(&self, slot: u32) {
        // Every line of the code (a 384-d 8-bit code spans 7): the hint covers 4 lines at
        // a time, and a code is small enough to ask for all of it.
        if let Some(code) = self.codes.chunks.get(slot) {
            for part in code.chunks(256).take(4) {
                hannoy_metrics::prefetch(part);
            }
        }
    }

    #[inline]
    fn prefetch_links(&self, slot: u32, layer: u8) {
        self.reader.prefetch_links(slot, layer);
    }
}

/// Rescores `found` (sorted by estimate, closest first) with the full vectors: the first
/// `rescore` of them, in order, each unless the estimate's lower bound already exceeds the
/// `k`-th exact distance found so far (it could not enter the results). Returns the `k`
/// closest by exact distance, closest first, and how many were rescored. Once `k` are
/// rescored, `stop` is asked before each further one.
pub(super) fn rescore<M: Metric, T: ReadTxn>(
    reader: &Reader<'_, M, T>,
    walk: &CodeWalk<'_, '_, '_, M, T>,
    query: &[u8],
    found: &[Candidate],
    k: usize,
    rescore: usize,
    stop: &impl Stop,
) -> Result<(Vec<Candidate>, usize)> {
    let mut best: Vec<Candidate> = Vec::with_capacity(k + 1);
    let mut rescored = 0;
    for candidate in found.iter().take(rescore.max(k)) {
        if best.len() == k {
            // The first k are always rescored: the results' distances are exact.
            if stop.due() {
                break;
            }
            let kth = best[k - 1].dist;
            let code = walk.codes.code(candidate.slot)?;
            if walk.query.estimate(code).lower > kth {
                continue;
            }
        }
        let vector = reader.stored_vector(candidate.slot)?;
        let exact = Candidate {
            dist: M::distance(query, vector),
            slot: candidate.slot,
        };
        rescored += 1;
        let at = best.partition_point(|c| *c < exact);
        if at < k {
            best.insert(at, exact);
            best.truncate(k);
        }
    }
    Ok((best, rescored))
}

/// The index's codes settings, checked against a query's rescore count.
pub(super) fn check_rescore(rescore: Option<usize>) -> Result<()> {
    match rescore {
        Some(0) => Err(Error::invalid_parameter(
            "rescore must be at least 1 (the number of candidates rescored with full vectors)",
        )),
        _ => Ok(()),
    }
}
