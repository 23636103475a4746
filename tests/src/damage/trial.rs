//! One trial: the operations run against a (possibly damaged) store, each under
//! `catch_unwind`, and how the index they run on is built.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, Once};

use hannoy_graph::format::key::{self, Tag};
use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{FilterStrategy, Reader, Result, Writer};
use hannoy_metrics::Cosine;
use rand::SeedableRng;
use rand::rngs::StdRng;
use roaring::RoaringBitmap;

use crate::items::random_vectors;

/// The index number every trial uses.
pub const INDEX: u16 = 0;
const DIMENSIONS: usize = 8;
const ITEMS: u32 = 300;

/// What one operation gave, before it is compared with the undamaged index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// `Ok`, summarized by a hash of the whole result.
    Ok(u64),
    /// A typed error, or problems listed by `check()`.
    Error(String),
    /// A panic: its site (`file:line`) and message.
    Panic {
        /// Where.
        site: String,
        /// What.
        message: String,
    },
}

/// The item ids of the index, spread so that ids and slots differ.
fn id(i: u32) -> u32 {
    i * 3 + 1
}

fn writer() -> Writer<Cosine> {
    Writer::new(INDEX, DIMENSIONS)
}

fn builder<'a>(
    writer: &'a Writer<Cosine>,
    rng: &'a mut StdRng,
    pool: &'a rayon::ThreadPool,
) -> hannoy_graph::Builder<'a, Cosine, StdRng> {
    writer.builder(rng).m(4).m0(8).thread_pool(pool)
}

/// A one-thread pool (builds are then deterministic) whose thread reports panics to the
/// trial instead of printing them.
pub fn quiet_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .start_handler(|_| QUIET.with(|quiet| quiet.set(true)))
        .build()
        .expect("a one-thread pool")
}

/// Builds the index every trial damages, in `store`: 300 items built with 8-bit compact
/// codes, 10 deleted and built again (so some slots are free), then, committed but not
/// built, 4 adds, 2 replacements and 3 deletes (so every key kind is present: metadata,
/// items, pending, slots, free slots, quantizer, vectors, links on several layers, codes).
///
/// # Panics
/// If the undamaged store fails.
pub fn build_fixture<S: KvStore>(store: &S, pool: &rayon::ThreadPool) {
    build_fixture_with(store, pool, false);
}

/// [`build_fixture`], with the first build making the index codes-only (sq8 codes, no
/// vectors; the later builds keep it so) when `codes_only`.
pub fn build_fixture_with<S: KvStore>(store: &S, pool: &rayon::ThreadPool, codes_only: bool) {
    let writer = writer();
    let vectors = random_vectors(ITEMS as usize + 10, DIMENSIONS, 40);
    let mut wtxn = store.write_txn().expect("write txn");
    for i in 0..ITEMS {
        writer
            .add_item(&mut wtxn, id(i), &vectors[i as usize])
            .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(1);
    let first = builder(&writer, &mut rng, pool);
    let first = match codes_only {
        true => first.codes_only(hannoy_metrics::Scheme::Sq8),
        false => first.codes(Some(hannoy_metrics::Scheme::Sq8)),
    };
    first.build(&mut wtxn).unwrap();
    wtxn.commit().unwrap();

    let mut wtxn = store.write_txn().expect("write txn");
    for i in (0..ITEMS).step_by(30) {
        writer.del_item(&mut wtxn, id(i)).unwrap();
    }
    let mut rng = StdRng::seed_from_u64(2);
    builder(&writer, &mut rng, pool).build(&mut wtxn).unwrap();
    wtxn.commit().unwrap();

    let mut wtxn = store.write_txn().expect("write txn");
    for i in ITEMS..ITEMS + 4 {
        writer
            .add_item(&mut wtxn, id(i), &vectors[i as usize])
            .unwrap();
    }
    for i in [7, 8] {
        writer
            .add_item(
                &mut wtxn,
                id(i),
                &vectors[ITEMS as usize + 4 + i as usize - 7],
            )
            .unwrap();
    }
    for i in [11, 12, 13] {
        writer.del_item(&mut wtxn, id(i)).unwrap();
    }
    wtxn.commit().unwrap();
}

/// The queries, candidates and update every trial runs, the same in every process.
pub struct Probe {
    queries: Vec<Vec<f32>>,
    candidates: RoaringBitmap,
    update: Vec<(u32, Vec<f32>)>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            queries: random_vectors(6, DIMENSIONS, 41),
            candidates: (0..ITEMS + 4).filter(|i| i % 3 == 0).map(id).collect(),
            // Two new items and a replacement; the update also deletes `id(20)`.
            update: [ITEMS + 10, ITEMS + 11, 5]
                .into_iter()
                .map(id)
                .zip(random_vectors(3, DIMENSIONS, 42))
                .collect(),
        }
    }
}

fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

fn result_hash(results: &[Vec<(u32, f32)>]) -> u64 {
    hash_of(
        results
            .iter()
            .map(|r| {
                r.iter()
                    .map(|(id, d)| (*id, d.to_bits()))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>(),
    )
}

impl Probe {
    fn search<T: ReadTxn>(&self, reader: &Reader<'_, Cosine, T>) -> Result<u64> {
        let found = self
            .queries
            .iter()
            .map(|q| reader.nns(10).ef_search(32).by_vector(q))
            .collect::<Result<Vec<_>>>()?;
        Ok(result_hash(&found))
    }

    fn filtered<T: ReadTxn>(&self, reader: &Reader<'_, Cosine, T>) -> Result<u64> {
        let mut found = Vec::new();
        for strategy in [FilterStrategy::Graph, FilterStrategy::ExactScan] {
            for q in &self.queries {
                found.push(
                    reader
                        .nns(10)
                        .ef_search(32)
                        .candidates(&self.candidates)
                        .filter_strategy(strategy)
                        .by_vector(q)?,
                );
            }
        }
        Ok(result_hash(&found))
    }

    fn check<T: ReadTxn>(reader: &Reader<'_, Cosine, T>, txn: &T) -> Result<Option<u64>> {
        let report = reader.check(txn)?;
        Ok(report
            .is_valid()
            .then(|| hash_of((report.nodes, report.links, report.reachable))))
    }

    /// Adds, replaces and deletes on a write transaction of `store`, builds, and summarizes
    /// the searches and the check of the result; the transaction is then dropped.
    fn update<S: KvStore>(&self, store: &S, pool: &rayon::ThreadPool) -> Result<Option<u64>> {
        let writer = writer();
        let mut wtxn = store.write_txn()?;
        for (id, vector) in &self.update {
            writer.add_item(&mut wtxn, *id, vector)?;
        }
        writer.del_item(&mut wtxn, id(20))?;
        let mut rng = StdRng::seed_from_u64(5);
        let stats = builder(&writer, &mut rng, pool).build(&mut wtxn)?;
        let reader = Reader::<Cosine, _>::open(&wtxn, INDEX)?;
        let searched = self.search(&reader)?;
        let Some(checked) = Self::check(&reader, &wtxn)? else {
            return Ok(None);
        };
        Ok(Some(hash_of((stats.inserted, searched, checked))))
    }

    /// Runs every operation on `store` (open, search, filtered search, iteration, check, and
    /// an update with a build on a write transaction that is then dropped), each under
    /// `catch_unwind`. When `open` fails, the operations on the reader are not run.
    pub fn observe<S: KvStore>(
        &self,
        store: &S,
        pool: &rayon::ThreadPool,
    ) -> Vec<(&'static str, Observed)> {
        install_panic_hook();
        let was_quiet = QUIET.with(|quiet| quiet.replace(true));
        let mut seen = Vec::new();
        match store.read_txn() {
            Err(e) => seen.push(("open", Observed::Error(e.to_string()))),
            Ok(rtxn) => {
                let opened = guarded(|| Reader::<Cosine, _>::open(&rtxn, INDEX));
                match opened {
                    Err(observed) => seen.push(("open", observed)),
                    Ok(reader) => {
                        let summary = hash_of((
                            reader.len(),
                            reader.dimensions(),
                            reader.item_ids().iter().collect::<Vec<_>>(),
                        ));
                        seen.push(("open", Observed::Ok(summary)));
                        seen.push(("search", observe(|| self.search(&reader))));
                        seen.push(("filtered", observe(|| self.filtered(&reader))));
                        seen.push((
                            "iter",
                            observe(|| {
                                let all = reader.iter(&rtxn).collect::<Result<Vec<_>>>()?;
                                Ok(hash_of(
                                    all.iter()
                                        .map(|(id, v)| {
                                            (*id, v.iter().map(|x| x.to_bits()).collect())
                                        })
                                        .collect::<Vec<(u32, Vec<u32>)>>(),
                                ))
                            }),
                        ));
                        seen.push(("check", observe_checked(|| Self::check(&reader, &rtxn))));
                    }
                }
            }
        }
        seen.push(("build", observe_checked(|| self.update(store, pool))));
        QUIET.with(|quiet| quiet.set(was_quiet));
        seen
    }
}

/// Runs `f` under `catch_unwind`, its panics recorded rather than printed: its value, or
/// what went wrong.
///
/// # Errors
/// The typed error `f` returned, or its panic, as an [`Observed`].
pub fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T, Observed> {
    install_panic_hook();
    let was_quiet = QUIET.with(|quiet| quiet.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(was_quiet));
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Observed::Error(error.to_string())),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string payload)".into());
            let site = SITES
                .lock()
                .ok()
                .and_then(|sites| sites.as_ref()?.get(&message).cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(Observed::Panic { site, message })
        }
    }
}

fn observe(f: impl FnOnce() -> Result<u64>) -> Observed {
    guarded(f).map_or_else(|observed| observed, Observed::Ok)
}

/// As [`observe`], for results where `None` is a check that found problems.
fn observe_checked(f: impl FnOnce() -> Result<Option<u64>>) -> Observed {
    match guarded(f) {
        Ok(Some(hash)) => Observed::Ok(hash),
        Ok(None) => Observed::Error("check: the graph breaks its rules".into()),
        Err(observed) => observed,
    }
}

thread_local! {
    /// Whether a panic on this thread is a trial's: recorded, not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Panic sites by message, filled by the hook on quiet threads (the message survives the
/// unwind to `catch_unwind`, the location does not).
static SITES: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// The hook: on a trial's thread, records the panic's site; elsewhere, the usual output.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                return previous(info);
            }
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let site = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_else(|| "unknown".into());
            if let Ok(mut sites) = SITES.lock() {
                let sites = sites.get_or_insert_with(HashMap::new);
                if sites.len() > 10_000 {
                    sites.clear();
                }
                sites.insert(message, site);
            }
        }));
    });
}

/// Every key of the index in `txn`, with its class (what it holds, for the tally and for
/// drawing a target: `metadata`, `items`, `pending`, `slot`, `free-slots`, `quantizer`, `vectors`,
/// `links-0`, `links-upper`, `codes`).
///
/// # Panics
/// If the undamaged store cannot be read.
pub fn index_keys<T: ReadTxn>(txn: &T) -> Vec<(&'static str, Vec<u8>)> {
    let prefix = key::index_prefix(INDEX);
    txn.prefix(&prefix)
        .expect("range")
        .map(|entry| {
            let key = entry.expect("iterate").0.as_ref().to_vec();
            (class_of(&key), key)
        })
        .collect()
}

/// What a key of the index holds.
pub fn class_of(key: &[u8]) -> &'static str {
    match key.get(key::HEADER_LEN - 1).copied() {
        Some(t) if t == Tag::Metadata as u8 => "metadata",
        Some(t) if t == Tag::Items as u8 => "items",
        Some(t) if t == Tag::Pending as u8 => "pending",
        Some(t) if t == Tag::Slot as u8 => "slot",
        Some(t) if t == Tag::FreeSlots as u8 => "free-slots",
        Some(t) if t == Tag::Quantizer as u8 => "quantizer",
        Some(t) if t == Tag::Codes as u8 => "codes",
        Some(t) if t == Tag::Vectors as u8 => "vectors",
        Some(t) if t == Tag::Links as u8 && key.get(key::HEADER_LEN) == Some(&0) => "links-0",
        Some(t) if t == Tag::Links as u8 => "links-upper",
        _ => "other",
    }
}
