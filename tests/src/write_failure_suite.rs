//! A write or a commit that fails, at every point of a fresh build, an update, and the
//! delete of the entry point: the store keeps its previous commit byte for byte, and the
//! same work, run again without failure, succeeds and leaves a valid index, the same bytes
//! as a run that never failed.
//!
//! Each scenario is two write transactions (the changes, then the build), run through a
//! [`FailingStore`] that fails the Nth put/delete ([`FailingStore::failing_write`]) or the
//! Nth commit ([`FailingStore::failing_commit`]), for every N the scenario reaches. When a
//! scenario makes more than [`MAX_POINTS`] writes, N is sampled deterministically: the
//! first and last 25, and an even stride between (the test prints how many it ran).

use hannoy_graph::format::key::{self, Tag};
use hannoy_graph::format::slot_map;
use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{Reader, Result, Writer};
use hannoy_metrics::Euclidean;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Backend;
use crate::failpoint::{Counted, FailingStore};
use crate::items::random_vectors;
use crate::store_suite::{Entries, all, fresh};

/// The most failure points tried per scenario and kind; beyond, they are sampled.
pub const MAX_POINTS: u64 = 300;

const DIMENSIONS: usize = 4;

/// One change of a scenario's transaction.
#[derive(Debug, Clone)]
enum Op {
    Add(u32, Vec<f32>),
    Del(u32),
    Build(u64),
}

fn writer() -> Writer<Euclidean> {
    Writer::new(0, DIMENSIONS)
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool")
}

/// Runs `ops` in one write transaction of `store` and commits it.
fn run_txn<S: KvStore>(store: &S, ops: &[Op], pool: &rayon::ThreadPool) -> Result<()> {
    let writer = writer();
    let mut wtxn = store.write_txn()?;
    for op in ops {
        match op {
            Op::Add(id, vector) => writer.add_item(&mut wtxn, *id, vector)?,
            Op::Del(id) => {
                writer.del_item(&mut wtxn, *id)?;
            }
            Op::Build(seed) => {
                writer
                    .builder(&mut StdRng::seed_from_u64(*seed))
                    .m(4)
                    .m0(8)
                    .thread_pool(pool)
                    .build(&mut wtxn)?;
            }
        }
    }
    wtxn.commit()?;
    Ok(())
}

fn load<S: KvStore>(store: &S, entries: &Entries) {
    let mut wtxn = store.write_txn().unwrap();
    for (key, value) in entries {
        wtxn.put(key, value).unwrap();
    }
    wtxn.commit().unwrap();
}

fn assert_valid_index<T: ReadTxn>(txn: &T, context: &str) {
    let reader = Reader::<Euclidean, _>::open(txn, 0).unwrap_or_else(|e| panic!("{context}: {e}"));
    let report = reader.check(txn).unwrap();
    assert!(report.is_valid(), "{context}: invalid graph: {report}");
}

/// The failure points tried out of `total`: all, or a deterministic sample.
fn failure_points(total: u64) -> Vec<u64> {
    if total <= MAX_POINTS {
        return (0..total).collect();
    }
    let edge = 25;
    let inner = MAX_POINTS - 2 * edge;
    let mut points: Vec<u64> = (0..edge).collect();
    points.extend((0..inner).map(|i| edge + i * (total - 2 * edge) / inner));
    points.extend(total - edge..total);
    points.dedup();
    points
}

/// Runs `txns` on a store holding `base`, failing each reachable write, then each commit;
/// checks the store after each failure and after the work is run again.
fn every_failure_point<B: Backend>(base: &Entries, txns: &[Vec<Op>]) {
    let pool = pool();
    // The reference run: the state after each commit, and how many writes and commits.
    let (_dir, store) = fresh::<B>();
    load(&store, base);
    let mut states = vec![all(&store.read_txn().unwrap())];
    let writes = FailingStore::failing_write(store, u64::MAX - 1);
    for ops in txns {
        run_txn(&writes, ops, &pool).expect("the scenario runs without failure");
        states.push(all(&writes.inner().read_txn().unwrap()));
    }
    assert_valid_index(&writes.inner().read_txn().unwrap(), "reference run");
    let total_writes = writes.steps();
    let final_state = states.last().unwrap().clone();
    assert_ne!(states[0], final_state, "the scenario changes nothing");

    for (counted, total) in [
        (Counted::Writes, total_writes),
        (Counted::Commits, txns.len() as u64),
    ] {
        let points = failure_points(total);
        println!(
            "{}: {counted:?}: {} failure points of {total}",
            std::any::type_name::<B>(),
            points.len()
        );
        for fail_at in points {
            let context = format!("{counted:?} number {fail_at} of {total} fails");
            let (_dir, store) = fresh::<B>();
            load(&store, base);
            let failing = FailingStore::counting(store, counted, fail_at);
            let failed = txns
                .iter()
                .position(|ops| run_txn(&failing, ops, &pool).is_err())
                .unwrap_or_else(|| panic!("{context}: but every transaction succeeded"));
            assert!(
                failing.has_failed(),
                "{context}: another error than the injected one"
            );
            let store = failing.into_inner();
            assert!(
                all(&store.read_txn().unwrap()) == states[failed],
                "{context}: the store does not hold its previous commit (transaction {failed})"
            );
            // The same work again, without failure.
            for ops in &txns[failed..] {
                run_txn(&store, ops, &pool)
                    .unwrap_or_else(|e| panic!("{context}: the run after it fails: {e}"));
            }
            let rtxn = store.read_txn().unwrap();
            assert_valid_index(&rtxn, &context);
            assert!(
                all(&rtxn) == final_state,
                "{context}: the run after it leaves other bytes than a run without failure"
            );
        }
    }
}

fn items(range: std::ops::Range<u32>, seed: u64) -> Vec<Op> {
    let vectors = random_vectors(range.len(), DIMENSIONS, seed);
    range
        .zip(vectors)
        .map(|(i, vector)| Op::Add(i * 2 + 1, vector))
        .collect()
}

/// The built index the update scenarios start from.
fn built_base<B: Backend>() -> Entries {
    let (_dir, store) = fresh::<B>();
    run_txn(&store, &items(0..40, 1), &pool()).unwrap();
    run_txn(&store, &[Op::Build(2)], &pool()).unwrap();
    all(&store.read_txn().unwrap())
}

pub fn failed_writes_of_a_fresh_build_leave_the_previous_commit<B: Backend>() {
    every_failure_point::<B>(&Vec::new(), &[items(0..40, 1), vec![Op::Build(2)]]);
}

pub fn failed_writes_of_an_update_leave_the_previous_commit<B: Backend>() {
    let base = built_base::<B>();
    let mut changes = items(40..50, 3);
    // Replacements of built items.
    changes.extend(
        random_vectors(4, DIMENSIONS, 4)
            .into_iter()
            .zip([1, 11, 21, 31])
            .map(|(vector, id)| Op::Add(id, vector)),
    );
    changes.extend([5, 15, 25, 35, 45].map(Op::Del));
    every_failure_point::<B>(&base, &[changes, vec![Op::Build(5)]]);
}

pub fn failed_writes_of_an_entry_point_delete_leave_the_previous_commit<B: Backend>() {
    let base = built_base::<B>();
    // The item in the entry point's slot, found through the slot map.
    let (_dir, store) = fresh::<B>();
    load(&store, &base);
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    let entry = reader.metadata().entry_point.expect("an entry point");
    let meta = reader.metadata();
    let entry_item = rtxn
        .prefix(&key::prefix(0, Tag::Slot))
        .unwrap()
        .map(|e| e.unwrap())
        .flat_map(|(k, v)| {
            let payload = meta.unseal(k.as_ref(), v.as_ref()).unwrap();
            slot_map::decode_entry(meta, k.as_ref(), payload).unwrap()
        })
        .find(|&(_, slot)| slot == entry)
        .map(|(id, _)| id)
        .expect("the entry point's item");
    drop(reader);
    drop(rtxn);
    every_failure_point::<B>(&base, &[vec![Op::Del(entry_item)], vec![Op::Build(6)]]);

    // And the run without failure did remove it.
    run_txn(&store, &[Op::Del(entry_item), Op::Build(6)], &pool()).unwrap();
    let rtxn = store.read_txn().unwrap();
    let reader = Reader::<Euclidean, _>::open(&rtxn, 0).unwrap();
    assert!(!reader.contains_item(entry_item));
    assert_ne!(reader.metadata().entry_point, Some(entry));
}
