//! Crash recovery: a seeded sequence of transactions that the `crash-writer` child process
//! runs on an LMDB or redb store until it is killed with SIGKILL, and the replay that says
//! what the store must hold afterwards (`tests/crash.rs`).
//!
//! Transaction `n` (from 1) adds [`ADDS`] new items, replaces and deletes seeded earlier
//! ones, records `n` in a one-item counter index ([`COUNTER_INDEX`]) and builds both
//! indexes on one thread, all in one write transaction: so the store says itself which
//! transaction it holds, and replaying transactions `1..=n` on a fresh in-memory store
//! builds the same graph (the same search results, distances included).
//!
//! The memory backend has nothing to survive a kill (its data lives in the process), so
//! it has no crash test.
//!
//! Documented campaign, 100 kills per backend:
//! `HANNOY_CRASH_KILLS=100 cargo test -p hannoy-conformance --test crash -- --nocapture`
//! (`HANNOY_CRASH_SEED` picks another seed).

use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::Euclidean;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use roaring::RoaringBitmap;

use crate::items::random_vectors;

/// The index the sequence writes.
pub const INDEX: u16 = 0;
/// The index whose single item (id 0) holds the number of the transaction that wrote it.
pub const COUNTER_INDEX: u16 = 1;
/// Vector components of [`INDEX`].
pub const DIMENSIONS: usize = 16;
/// New items per transaction.
pub const ADDS: u32 = 200;
/// Earlier items given a new vector per transaction (drawn with repetition).
pub const REPLACES: u32 = 20;
/// Earlier items deleted per transaction (drawn with repetition; some are gone already).
pub const DELETES: u32 = 40;
/// Queries compared after recovery, and their `k` and `ef`.
const QUERIES: usize = 20;
const K: usize = 10;
const EF: usize = 64;

/// The seeded transactions, and the one-thread pool their builds run on.
pub struct Sequence {
    seed: u64,
    writer: Writer<Euclidean>,
    counter: Writer<Euclidean>,
    pool: rayon::ThreadPool,
}

/// What a store holds, as compared after a crash: the transaction it says it holds, its
/// items, their vectors (as bits) and the results of fixed queries (distances as bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub committed: u64,
    pub items: RoaringBitmap,
    pub vectors: Vec<(u32, Vec<u32>)>,
    pub results: Vec<Vec<(u32, u32)>>,
}

impl State {
    /// Where `self` and `other` differ, in words (empty when they are equal).
    pub fn difference(&self, other: &State) -> String {
        let mut parts = Vec::new();
        if self.committed != other.committed {
            parts.push(format!(
                "transaction {} vs {}",
                self.committed, other.committed
            ));
        }
        if self.items != other.items {
            parts.push(format!(
                "items: {} missing, {} extra",
                (&other.items - &self.items).len(),
                (&self.items - &other.items).len()
            ));
        }
        if self.vectors != other.vectors {
            let differing = self
                .vectors
                .iter()
                .zip(&other.vectors)
                .filter(|(a, b)| a != b)
                .count();
            parts.push(format!("{differing} vectors differ"));
        }
        if self.results != other.results {
            let differing = self
                .results
                .iter()
                .zip(&other.results)
                .filter(|(a, b)| a != b)
                .count();
            parts.push(format!("{differing} of {QUERIES} search results differ"));
        }
        parts.join(", ")
    }
}

impl Sequence {
    /// The sequence of `seed`.
    pub fn new(seed: u64) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool");
        Sequence {
            seed,
            writer: Writer::new(INDEX, DIMENSIONS),
            counter: Writer::new(COUNTER_INDEX, 1),
            pool,
        }
    }

    /// The number of the last transaction committed in `txn`'s snapshot (0 before any).
    ///
    /// # Errors
    /// Store errors, a counter index that does not decode.
    pub fn committed<T: ReadTxn>(&self, txn: &T) -> Result<u64, Error> {
        Ok(self.counter.item_vector(txn, 0)?.map_or(0, |v| v[0] as u64))
    }

    /// Runs transaction `number` (from 1) in `wtxn`, calling `building` just before the
    /// build of [`INDEX`]. The caller commits.
    ///
    /// # Errors
    /// Store errors.
    pub fn apply<T: WriteTxn>(
        &self,
        wtxn: &mut T,
        number: u64,
        building: impl FnOnce(),
    ) -> Result<(), Error> {
        assert!(number >= 1, "transactions are numbered from 1");
        let mix = self.seed ^ number.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut rng = StdRng::seed_from_u64(mix);
        let earlier = (number - 1) as u32 * ADDS;
        let vectors = random_vectors((ADDS + REPLACES) as usize, DIMENSIONS, mix);
        for (i, vector) in vectors[..ADDS as usize].iter().enumerate() {
            self.writer.add_item(wtxn, earlier + i as u32, vector)?;
        }
        if earlier > 0 {
            for vector in &vectors[ADDS as usize..] {
                let id = rng.random_range(0..earlier);
                self.writer.add_item(wtxn, id, vector)?;
            }
            for _ in 0..DELETES {
                let id = rng.random_range(0..earlier);
                self.writer.del_item(wtxn, id)?;
            }
        }
        self.counter.add_item(wtxn, 0, &[number as f32])?;
        self.counter
            .builder(&mut StdRng::seed_from_u64(number))
            .thread_pool(&self.pool)
            .build(wtxn)?;
        building();
        self.writer
            .builder(&mut StdRng::seed_from_u64(mix.rotate_left(17)))
            .thread_pool(&self.pool)
            .build(wtxn)?;
        Ok(())
    }

    /// Commits transactions `from..=to` on `store`, one write transaction each.
    ///
    /// # Errors
    /// Store errors.
    pub fn replay<S: KvStore>(&self, store: &S, from: u64, to: u64) -> Result<(), Error> {
        for number in from..=to {
            let mut wtxn = store.write_txn()?;
            self.apply(&mut wtxn, number, || {})?;
            wtxn.commit()?;
        }
        Ok(())
    }

    /// What `store` holds. A store past transaction 0 must have a graph that passes
    /// [`Reader::check`]; one at 0 must hold no item.
    ///
    /// # Errors
    /// A failed check or a store error, in words.
    pub fn observe<S: KvStore>(&self, store: &S) -> Result<State, String> {
        let rtxn = store.read_txn().map_err(|e| format!("read_txn: {e}"))?;
        let committed = self.committed(&rtxn).map_err(|e| format!("counter: {e}"))?;
        if committed == 0 {
            let items = self
                .writer
                .item_ids(&rtxn)
                .map_err(|e| format!("items: {e}"))?;
            return Ok(State {
                committed,
                items,
                vectors: Vec::new(),
                results: Vec::new(),
            });
        }
        let reader = Reader::<Euclidean, _>::open(&rtxn, INDEX)
            .map_err(|e| format!("open the reader: {e}"))?;
        let report = reader.check(&rtxn).map_err(|e| format!("check: {e}"))?;
        if !report.is_valid() {
            return Err(format!("check() fails: {report}"));
        }
        let vectors = reader
            .iter(&rtxn)
            .map(|item| item.map(|(id, v)| (id, v.iter().map(|x| x.to_bits()).collect())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("vectors: {e}"))?;
        let results = random_vectors(QUERIES, DIMENSIONS, self.seed ^ 0x51)
            .iter()
            .map(|q| {
                reader
                    .nns(K)
                    .ef_search(EF)
                    .by_vector(q)
                    .map(|found| found.into_iter().map(|(id, d)| (id, d.to_bits())).collect())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("search: {e}"))?;
        Ok(State {
            committed,
            items: reader.item_ids().clone(),
            vectors,
            results,
        })
    }
}
