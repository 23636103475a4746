//! Soak: eight reader threads search while one writer adds, replaces, deletes, builds and
//! commits, on every backend, for `HANNOY_SOAK_SECONDS` (default [`DEFAULT_SECONDS`]).
//!
//! Each commit writes its number into a one-item counter index in the same transaction,
//! and the writer records the item set of that number before committing. A reader reads
//! the number of its snapshot, so it knows the exact item set it must see: the reader's
//! items must equal it, every result must be an item of it, closest first, as many as
//! `min(k, items)`, at the distance of the vector the snapshot holds. Six readers take a
//! new read transaction per query; two hold one for [`HELD_QUERIES`] queries while the
//! writer commits, then check that a new reader on the held transaction still sees the
//! same commit. Every [`CHECK_EVERY`]th snapshot of each reader passes `check()`.
//!
//! Documented soak, 60 s per backend:
//! `HANNOY_SOAK_SECONDS=60 cargo test -p hannoy-conformance --test backends soak -- --nocapture`

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{Reader, Writer};
use hannoy_metrics::Euclidean;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use roaring::RoaringBitmap;

use crate::Backend;
use crate::damage::env_number;
use crate::items::random_vectors;
use crate::store_suite::fresh;

/// Seconds of soak per backend when `HANNOY_SOAK_SECONDS` is not set.
pub const DEFAULT_SECONDS: u64 = 3;
const READERS: usize = 8;
/// Readers that hold one read transaction for many queries.
const HOLDING_READERS: usize = 2;
/// Queries a holding reader runs on one read transaction.
pub const HELD_QUERIES: u64 = 50;
/// Each reader checks the graph of one snapshot in this many.
pub const CHECK_EVERY: u64 = 64;
const DIMENSIONS: usize = 16;
const K: usize = 10;
/// The writer goes on past the deadline until it has committed this many times.
const MIN_COMMITS: u64 = 5;
/// The writer deletes more than it adds past this many items.
const MAX_ITEMS: u64 = 2_000;

const COUNTER_INDEX: u16 = 1;

/// The commit number a snapshot holds (0 before the first commit).
fn commit_number<T: ReadTxn>(counter: &Writer<Euclidean>, txn: &T) -> u64 {
    counter
        .item_vector(txn, 0)
        .expect("read the commit counter")
        .map_or(0, |v| v[0] as u64)
}

/// What one reader thread did.
#[derive(Default)]
struct ReaderTally {
    snapshots: u64,
    searches: u64,
    checks: u64,
    held: u64,
    commits_seen: BTreeSet<u64>,
}

/// One reader thread: queries until `stop`, asserting each result against the item set the
/// writer recorded for the snapshot's commit.
fn read_until<S: KvStore>(
    store: &S,
    number: usize,
    recorded: &Mutex<HashMap<u64, RoaringBitmap>>,
    stop: &AtomicBool,
) -> ReaderTally {
    let counter = Writer::<Euclidean>::new(COUNTER_INDEX, 1);
    let holding = number < HOLDING_READERS;
    let mut rng = StdRng::seed_from_u64(0x50a4 + number as u64);
    let mut tally = ReaderTally::default();
    while !stop.load(Ordering::Relaxed) {
        let rtxn = store.read_txn().expect("read_txn");
        let commit = commit_number(&counter, &rtxn);
        let expected = recorded
            .lock()
            .expect("the record of commits")
            .get(&commit)
            .cloned()
            .unwrap_or_else(|| panic!("reader {number}: commit {commit} was never recorded"));
        let reader = Reader::<Euclidean, _>::open(&rtxn, 0).expect("open the reader");
        assert_eq!(
            reader.item_ids(),
            &expected,
            "reader {number}: the items of commit {commit} are not the ones committed"
        );
        tally.snapshots += 1;
        tally.commits_seen.insert(commit);
        let queries = if holding { HELD_QUERIES } else { 1 };
        for _ in 0..queries {
            let query: Vec<f32> = (0..DIMENSIONS)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect();
            let found = reader
                .nns(K)
                .ef_search(32)
                .by_vector(&query)
                .expect("search");
            tally.searches += 1;
            assert_eq!(
                found.len() as u64,
                expected.len().min(K as u64),
                "reader {number}, commit {commit}: {} results of {} items",
                found.len(),
                expected.len()
            );
            for window in found.windows(2) {
                assert!(
                    window[0].1 <= window[1].1,
                    "reader {number}, commit {commit}: results out of order: {found:?}"
                );
            }
            for &(id, distance) in &found {
                assert!(
                    expected.contains(id),
                    "reader {number}, commit {commit}: item {id} is not in the commit"
                );
                let vector = reader
                    .item_vector(&rtxn, id)
                    .expect("read a vector")
                    .expect("a found item has a vector");
                let exact: f32 = vector
                    .iter()
                    .zip(&query)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
                    .sqrt();
                assert!(
                    (exact - distance).abs() <= 1e-4 * exact.max(1.0),
                    "reader {number}, commit {commit}: item {id} found at {distance}, \
                     its vector is at {exact}"
                );
            }
        }
        if holding {
            // The held transaction still shows the same commit, after the writer moved on.
            let again = Reader::<Euclidean, _>::open(&rtxn, 0).expect("reopen the reader");
            assert_eq!(commit_number(&counter, &rtxn), commit);
            assert_eq!(again.item_ids(), &expected, "a held snapshot changed");
            tally.held += 1;
        }
        if tally.snapshots % CHECK_EVERY == 1 {
            let report = reader.check(&rtxn).expect("check");
            assert!(
                report.is_valid(),
                "reader {number}, commit {commit}: {report}"
            );
            tally.checks += 1;
        }
    }
    tally
}

/// The soak; see the [module docs](self).
pub fn soak_eight_readers_and_a_writer<B: Backend>() {
    let seconds = env_number("HANNOY_SOAK_SECONDS", DEFAULT_SECONDS);
    let (_dir, store) = fresh::<B>();
    let writer = Writer::<Euclidean>::new(0, DIMENSIONS);
    let counter = Writer::<Euclidean>::new(COUNTER_INDEX, 1);
    let recorded: Mutex<HashMap<u64, RoaringBitmap>> = Mutex::new(HashMap::new());
    let stop = AtomicBool::new(false);
    let mut rng = StdRng::seed_from_u64(0x50a5);
    let mut next_id = 0u32;

    // One commit of the writer: `adds` new items, `replaces` and `deletes` live ones.
    let mut commit = |number: u64, adds: u32, replaces: u32, deletes: u32| {
        let mut wtxn = store.write_txn().expect("write_txn");
        let vectors = random_vectors((adds + replaces) as usize, DIMENSIONS, number);
        for vector in &vectors[..adds as usize] {
            writer.add_item(&mut wtxn, next_id, vector).expect("add");
            next_id += 1;
        }
        let live = writer.item_ids(&wtxn).expect("items");
        for vector in &vectors[adds as usize..] {
            let id = live
                .select(rng.random_range(0..live.len() as u32))
                .expect("a live item");
            writer.add_item(&mut wtxn, id, vector).expect("replace");
        }
        for _ in 0..deletes {
            let id = live
                .select(rng.random_range(0..live.len() as u32))
                .expect("a live item");
            writer.del_item(&mut wtxn, id).expect("delete");
        }
        counter
            .add_item(&mut wtxn, 0, &[number as f32])
            .expect("count");
        counter
            .builder(&mut StdRng::seed_from_u64(number))
            .build(&mut wtxn)
            .expect("build the counter");
        writer
            .builder(&mut StdRng::seed_from_u64(number))
            .build(&mut wtxn)
            .expect("build");
        let items = writer.item_ids(&wtxn).expect("items");
        let len = items.len();
        recorded
            .lock()
            .expect("the record of commits")
            .insert(number, items);
        wtxn.commit().expect("commit");
        len
    };

    commit(1, 500, 0, 0);
    let started = Instant::now();
    let (commits, tallies) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|number| {
                let (store, recorded, stop) = (&store, &recorded, &stop);
                scope.spawn(move || read_until(store, number, recorded, stop))
            })
            .collect();
        let mut number = 1;
        let mut len = 500;
        while started.elapsed() < Duration::from_secs(seconds) || number < MIN_COMMITS {
            number += 1;
            len = if len > MAX_ITEMS {
                commit(number, 20, 10, 120)
            } else {
                commit(number, 60, 10, 20)
            };
        }
        stop.store(true, Ordering::Relaxed);
        let tallies: Vec<ReaderTally> = readers
            .into_iter()
            .map(|reader| reader.join().expect("a reader thread failed"))
            .collect();
        (number, tallies)
    });
    let total = |f: fn(&ReaderTally) -> u64| tallies.iter().map(f).sum::<u64>();
    let seen = tallies
        .iter()
        .flat_map(|t| t.commits_seen.iter().copied())
        .collect::<BTreeSet<u64>>()
        .len();
    println!(
        "soak on {}: {:.1} s, {commits} commits ({seen} seen by readers), {} searches on {} \
         snapshots ({} held), {} checks, 0 errors",
        std::any::type_name::<B>(),
        started.elapsed().as_secs_f64(),
        total(|t| t.searches),
        total(|t| t.snapshots),
        total(|t| t.held),
        total(|t| t.checks),
    );
    assert!(
        seen >= 2,
        "the readers saw {seen} of {commits} commits: they did not run beside the writer"
    );
    for (number, tally) in tallies.iter().enumerate() {
        assert!(tally.searches > 0, "reader {number} never searched");
    }
}
