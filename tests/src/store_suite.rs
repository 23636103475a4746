//! Behaviour of the `KvStore` traits that every backend must show.

use std::ops::Bound::{self, Excluded, Included, Unbounded};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};
use tempfile::TempDir;

use crate::failpoint::FailingStore;
use crate::{Backend, BoundedBackend, PersistentBackend};

/// An owned `(key, value)` list, for comparisons.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A fresh store of backend `B` in its own temporary directory.
pub fn fresh<B: Backend>() -> (TempDir, B::Store) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = B::create(dir.path());
    (dir, store)
}

/// The value under `key`, copied out.
pub fn get<T: ReadTxn>(txn: &T, key: &[u8]) -> Option<Vec<u8>> {
    txn.get(key)
        .expect("get")
        .map(|value| value.as_ref().to_vec())
}

/// Every entry between the bounds, copied out.
pub fn range<T: ReadTxn>(txn: &T, start: Bound<&[u8]>, end: Bound<&[u8]>) -> Entries {
    collect(txn.range(start, end).expect("range"))
}

/// Every entry of the store.
pub fn all<T: ReadTxn>(txn: &T) -> Entries {
    range(txn, Unbounded, Unbounded)
}

/// Collects a store iterator into owned entries.
pub fn collect<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    iter: impl Iterator<Item = hannoy_graph::StoreResult<(K, V)>>,
) -> Entries {
    iter.map(|entry| {
        let (key, value) = entry.expect("iterate");
        (key.as_ref().to_vec(), value.as_ref().to_vec())
    })
    .collect()
}

fn keys(entries: &Entries) -> Vec<Vec<u8>> {
    entries.iter().map(|(key, _)| key.clone()).collect()
}

fn put_all<W: WriteTxn>(wtxn: &mut W, keys: &[&[u8]]) {
    for key in keys {
        wtxn.put(key, &[key.len() as u8]).expect("put");
    }
}

pub fn put_get_overwrite_delete<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    assert_eq!(get(&wtxn, b"a"), None);
    wtxn.put(b"a", b"first").unwrap();
    assert_eq!(get(&wtxn, b"a").as_deref(), Some(&b"first"[..]));
    wtxn.put(b"a", b"second, longer").unwrap();
    assert_eq!(get(&wtxn, b"a").as_deref(), Some(&b"second, longer"[..]));
    assert!(wtxn.contains_key(b"a").unwrap());
    assert!(
        wtxn.delete(b"a").unwrap(),
        "deleting a present key reports it"
    );
    assert!(
        !wtxn.delete(b"a").unwrap(),
        "deleting an absent key reports it"
    );
    assert_eq!(get(&wtxn, b"a"), None);
    wtxn.put(b"b", b"kept").unwrap();
    wtxn.commit().unwrap();

    let rtxn = store.read_txn().unwrap();
    assert_eq!(get(&rtxn, b"a"), None);
    assert_eq!(get(&rtxn, b"b").as_deref(), Some(&b"kept"[..]));
    assert!(!rtxn.contains_key(b"c").unwrap());
}

pub fn keys_iterate_in_byte_order<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    // Inserted out of order; includes a key that is a prefix of others and 0xff bytes.
    let inserted: [&[u8]; 8] = [
        b"b",
        &[0xff],
        b"a\x00",
        b"ab",
        b"a",
        &[0, 0, 1],
        &[0, 1],
        &[0xff, 0],
    ];
    put_all(&mut wtxn, &inserted);
    wtxn.commit().unwrap();

    let mut expected: Vec<Vec<u8>> = inserted.iter().map(|key| key.to_vec()).collect();
    expected.sort();
    let rtxn = store.read_txn().unwrap();
    assert_eq!(keys(&all(&rtxn)), expected);
    let values: Vec<u8> = all(&rtxn).iter().map(|(_, value)| value[0]).collect();
    let lengths: Vec<u8> = expected.iter().map(|key| key.len() as u8).collect();
    assert_eq!(values, lengths, "each value travels with its key");
}

pub fn range_bounds_are_exact<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    put_all(&mut wtxn, &[b"a", b"b", b"ba", b"c", b"d"]);
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();

    let case = |start: Bound<&[u8]>, end: Bound<&[u8]>| keys(&range(&rtxn, start, end));
    let k = |keys: &[&[u8]]| keys.iter().map(|key| key.to_vec()).collect::<Vec<_>>();
    assert_eq!(
        case(Included(b"b"), Included(b"c")),
        k(&[b"b", b"ba", b"c"])
    );
    assert_eq!(case(Included(b"b"), Excluded(b"c")), k(&[b"b", b"ba"]));
    assert_eq!(case(Excluded(b"b"), Included(b"c")), k(&[b"ba", b"c"]));
    assert_eq!(case(Excluded(b"b"), Excluded(b"c")), k(&[b"ba"]));
    assert_eq!(case(Unbounded, Excluded(b"b")), k(&[b"a"]));
    assert_eq!(case(Excluded(b"c"), Unbounded), k(&[b"d"]));
    // Bounds that are not stored keys.
    assert_eq!(case(Included(b"aa"), Included(b"bb")), k(&[b"b", b"ba"]));
    assert_eq!(case(Included(b"e"), Unbounded), k(&[]));
    assert_eq!(case(Included(b"c"), Included(b"c")), k(&[b"c"]));
}

pub fn prefix_iteration_includes_ff_edges<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    put_all(
        &mut wtxn,
        &[
            &[1],
            &[1, 0],
            &[1, 0xff],
            &[1, 0xff, 0xff],
            &[2],
            &[0xff],
            &[0xff, 0xff],
            &[0xff, 1],
        ],
    );
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    let prefix = |p: &[u8]| keys(&collect(rtxn.prefix(p).unwrap()));
    assert_eq!(
        prefix(&[1]),
        vec![vec![1], vec![1, 0], vec![1, 0xff], vec![1, 0xff, 0xff]]
    );
    assert_eq!(prefix(&[1, 0xff]), vec![vec![1, 0xff], vec![1, 0xff, 0xff]]);
    assert_eq!(
        prefix(&[0xff]),
        vec![vec![0xff], vec![0xff, 1], vec![0xff, 0xff]]
    );
    assert_eq!(prefix(&[0xff, 0xff]), vec![vec![0xff, 0xff]]);
    assert_eq!(prefix(&[3]), Vec::<Vec<u8>>::new());
    assert_eq!(prefix(&[]).len(), 8, "the empty prefix selects everything");
}

pub fn crossed_bounds_select_nothing<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    put_all(&mut wtxn, &[b"a", b"b", b"c"]);
    assert!(range(&wtxn, Included(b"c"), Included(b"a")).is_empty());
    assert!(range(&wtxn, Excluded(b"b"), Excluded(b"b")).is_empty());
    assert_eq!(
        wtxn.delete_range(Included(b"c"), Excluded(b"a")).unwrap(),
        0
    );
    assert_eq!(all(&wtxn).len(), 3);
}

pub fn write_txn_sees_its_own_writes<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    put_all(&mut wtxn, &[b"a", b"b"]);
    wtxn.commit().unwrap();

    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"c", b"new").unwrap();
    wtxn.put(b"a", b"changed").unwrap();
    wtxn.delete(b"b").unwrap();
    assert_eq!(get(&wtxn, b"a").as_deref(), Some(&b"changed"[..]));
    assert_eq!(get(&wtxn, b"b"), None);
    assert_eq!(
        all(&wtxn),
        vec![
            (b"a".to_vec(), b"changed".to_vec()),
            (b"c".to_vec(), b"new".to_vec())
        ]
    );
    assert_eq!(
        keys(&collect(wtxn.prefix(b"c").unwrap())),
        vec![b"c".to_vec()]
    );
}

pub fn commit_makes_writes_visible_to_new_readers_only<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let before = store.read_txn().unwrap();
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"k", b"v").unwrap();
    {
        let during = store.read_txn().unwrap();
        assert_eq!(
            get(&during, b"k"),
            None,
            "uncommitted writes are invisible to readers"
        );
    }
    wtxn.commit().unwrap();
    assert_eq!(
        get(&before, b"k"),
        None,
        "a reader opened before the commit keeps its view"
    );
    let after = store.read_txn().unwrap();
    assert_eq!(get(&after, b"k").as_deref(), Some(&b"v"[..]));
}

pub fn dropped_or_aborted_write_txn_discards<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"kept", b"1").unwrap();
    wtxn.commit().unwrap();

    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"dropped", b"1").unwrap();
    wtxn.delete(b"kept").unwrap();
    drop(wtxn);

    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"aborted", b"1").unwrap();
    wtxn.delete_range(Unbounded, Unbounded).unwrap();
    wtxn.abort();

    let rtxn = store.read_txn().unwrap();
    assert_eq!(all(&rtxn), vec![(b"kept".to_vec(), b"1".to_vec())]);
}

pub fn reader_keeps_its_snapshot<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    put_all(&mut wtxn, &[b"a", b"b"]);
    wtxn.commit().unwrap();

    let old = store.read_txn().unwrap();
    let snapshot = all(&old);
    for round in 0..3u8 {
        let mut wtxn = store.write_txn().unwrap();
        wtxn.put(b"a", &[round; 64]).unwrap();
        wtxn.delete(b"b").unwrap();
        wtxn.put(&[b'z', round], b"added").unwrap();
        wtxn.commit().unwrap();
        assert_eq!(
            all(&old),
            snapshot,
            "round {round}: the old reader sees what it saw"
        );
    }
    let new = store.read_txn().unwrap();
    assert_eq!(get(&new, b"a"), Some(vec![2; 64]));
    assert_eq!(all(&new).len(), 4);
}

/// Readers in several threads check what the writer keeps true in every commit: keys `x`
/// and `y` always hold the same counter (no reader sees half a commit), and a reader sees at
/// least the counter whose commit had returned before the reader was opened.
///
/// It does not ask that two readers opened one after the other see ever newer states: LMDB
/// can, in a narrow race, give a reader the state of the commit in flight, and the next
/// reader the one before it.
pub fn readers_in_threads_while_writer_commits<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    const COMMITS: u64 = 200;
    let committed = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut reads = 0u64;
                    while !done.load(Ordering::SeqCst) || reads == 0 {
                        let floor = committed.load(Ordering::SeqCst);
                        let rtxn = store.read_txn().unwrap();
                        let counter = |key: &[u8]| {
                            get(&rtxn, key).map(|v| u64::from_be_bytes(v.try_into().unwrap()))
                        };
                        let (x, y) = (counter(b"x"), counter(b"y"));
                        assert_eq!(x, y, "a reader saw half a commit");
                        let now = x.unwrap_or(0);
                        assert!(
                            now >= floor,
                            "a reader missed a finished commit: {now} < {floor}"
                        );
                        assert!(now <= COMMITS);
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for counter in 1..=COMMITS {
            let mut wtxn = store.write_txn().unwrap();
            wtxn.put(b"x", &counter.to_be_bytes()).unwrap();
            wtxn.put(b"y", &counter.to_be_bytes()).unwrap();
            wtxn.commit().unwrap();
            committed.store(counter, Ordering::SeqCst);
        }
        done.store(true, Ordering::SeqCst);
        for reader in readers {
            assert!(reader.join().expect("reader thread") > 0);
        }
    });
    let rtxn = store.read_txn().unwrap();
    assert_eq!(get(&rtxn, b"x"), Some(COMMITS.to_be_bytes().to_vec()));
}

pub fn read_txn_moves_to_another_thread<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"k", b"v").unwrap();
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    std::thread::scope(|scope| {
        let value = scope
            .spawn(move || get(&rtxn, b"k"))
            .join()
            .expect("thread");
        assert_eq!(value.as_deref(), Some(&b"v"[..]));
    });
}

pub fn one_read_txn_shared_by_threads<B: Backend>()
where
    for<'s> <B::Store as KvStore>::ReadTxn<'s>: Sync,
{
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    for i in 0u32..100 {
        wtxn.put(&i.to_be_bytes(), &i.to_le_bytes()).unwrap();
    }
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let rtxn = &rtxn;
                scope.spawn(move || {
                    (0u32..100)
                        .filter(|i| i % 4 == t)
                        .all(|i| get(rtxn, &i.to_be_bytes()) == Some(i.to_le_bytes().to_vec()))
                })
            })
            .collect();
        for handle in handles {
            assert!(handle.join().expect("thread"));
        }
    });
}

pub fn empty_and_large_values<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let large: Vec<u8> = (0..(3 << 20) + 17).map(|i: u32| (i % 251) as u8).collect();
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"empty", b"").unwrap();
    wtxn.put(b"large", &large).unwrap();
    wtxn.put(b"mib", &large[..1 << 20]).unwrap();
    assert_eq!(get(&wtxn, b"empty"), Some(Vec::new()));
    wtxn.commit().unwrap();

    let rtxn = store.read_txn().unwrap();
    assert_eq!(
        get(&rtxn, b"empty"),
        Some(Vec::new()),
        "an empty value is not a missing one"
    );
    assert!(get(&rtxn, b"large").as_deref() == Some(&large[..]));
    assert!(get(&rtxn, b"mib").as_deref() == Some(&large[..1 << 20]));
}

pub fn delete_range_and_prefix<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut wtxn = store.write_txn().unwrap();
    put_all(&mut wtxn, &[b"a1", b"a2", b"a3", b"b1", b"b2", b"c"]);
    assert_eq!(
        wtxn.delete_range(Excluded(b"a1"), Included(b"b1")).unwrap(),
        3
    );
    assert_eq!(
        keys(&all(&wtxn)),
        vec![b"a1".to_vec(), b"b2".to_vec(), b"c".to_vec()]
    );
    assert_eq!(wtxn.delete_prefix(b"b").unwrap(), 1);
    assert_eq!(wtxn.delete_prefix(b"zz").unwrap(), 0);
    wtxn.commit().unwrap();
    let rtxn = store.read_txn().unwrap();
    assert_eq!(keys(&all(&rtxn)), vec![b"a1".to_vec(), b"c".to_vec()]);
}

/// Fails each write operation of a transaction in turn: the store then holds exactly what
/// it held before that transaction, never part of it.
pub fn failed_write_or_commit_leaves_store_unchanged<B: Backend>() {
    // put, put, delete, delete_range, commit: five operations, any of which may fail.
    for fail_at in 0..5 {
        let (_dir, store) = fresh::<B>();
        let mut wtxn = store.write_txn().unwrap();
        put_all(&mut wtxn, &[b"old1", b"old2", b"old3"]);
        wtxn.commit().unwrap();
        let before = all(&store.read_txn().unwrap());

        let failing = FailingStore::new(store, fail_at);
        let outcome = (|| {
            let mut wtxn = failing.write_txn()?;
            wtxn.put(b"new1", b"x")?;
            wtxn.put(b"old1", b"changed")?;
            wtxn.delete(b"old2")?;
            wtxn.delete_range(Included(b"old3"), Unbounded)?;
            wtxn.commit()
        })();
        assert!(outcome.is_err(), "operation {fail_at} was told to fail");
        assert!(failing.has_failed());
        let after = all(&failing.inner().read_txn().unwrap());
        assert_eq!(
            after, before,
            "failure at operation {fail_at} left a partial write"
        );
    }
}

/// A second write transaction asked for on the thread that holds one is refused (waiting
/// would be a deadlock); dropping the first lets it through; another thread just waits.
pub fn second_write_txn_on_one_thread_is_refused<B: Backend>() {
    let (_dir, store) = fresh::<B>();
    let mut first = store.write_txn().unwrap();
    first.put(b"a", b"dropped").unwrap();
    let busy = store
        .write_txn()
        .err()
        .expect("a second write txn on one thread");
    assert!(
        matches!(busy, StoreError::WriteTxnBusy { .. }),
        "expected WriteTxnBusy, got {busy:?}"
    );
    // The refusal changes nothing for the first one.
    first.put(b"b", b"dropped").unwrap();
    drop(first);

    let mut second = store.write_txn().expect("the first one was dropped");
    second.put(b"a", b"1").unwrap();
    let committed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            let mut wtxn = store
                .write_txn()
                .expect("another thread waits, then gets it");
            assert!(committed.load(Ordering::SeqCst), "it waited for the commit");
            assert_eq!(get(&wtxn, b"a").as_deref(), Some(&b"1"[..]));
            wtxn.put(b"c", b"3").unwrap();
            wtxn.commit().unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!other.is_finished(), "another thread's write_txn waits");
        committed.store(true, Ordering::SeqCst);
        second.commit().unwrap();
        other.join().unwrap();
    });
    assert_eq!(
        all(&store.read_txn().unwrap()),
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"c".to_vec(), b"3".to_vec())
        ]
    );
}

pub fn reopen_keeps_committed_data_only<B: PersistentBackend>() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = B::create(dir.path());
        let mut wtxn = store.write_txn().unwrap();
        wtxn.put(b"committed", b"yes").unwrap();
        wtxn.put(b"large", &vec![7u8; 100_000]).unwrap();
        wtxn.commit().unwrap();
        let mut wtxn = store.write_txn().unwrap();
        wtxn.put(b"uncommitted", b"no").unwrap();
        wtxn.delete(b"committed").unwrap();
        drop(wtxn);
    }
    let store = B::reopen(dir.path());
    let rtxn = store.read_txn().unwrap();
    assert_eq!(
        all(&rtxn),
        vec![
            (b"committed".to_vec(), b"yes".to_vec()),
            (b"large".to_vec(), vec![7u8; 100_000])
        ]
    );
}

pub fn full_store_reports_full_and_keeps_committed_data<B: BoundedBackend>() {
    let dir = tempfile::tempdir().unwrap();
    let store = B::create_bounded(dir.path(), 1 << 20);
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"committed", b"yes").unwrap();
    wtxn.commit().unwrap();

    let value = vec![1u8; 64 << 10];
    let mut wtxn = store.write_txn().unwrap();
    let mut error = None;
    for i in 0u32..64 {
        if let Err(e) = wtxn.put(&i.to_be_bytes(), &value) {
            error = Some(e);
            break;
        }
    }
    let error = match error {
        Some(error) => {
            drop(wtxn);
            error
        }
        // Some backends only notice at commit time.
        None => wtxn
            .commit()
            .expect_err("4 MiB cannot fit in a 1 MiB store"),
    };
    assert!(
        error.is_full(),
        "expected the distinct full error, got {error:?}"
    );

    let rtxn = store.read_txn().unwrap();
    assert_eq!(all(&rtxn), vec![(b"committed".to_vec(), b"yes".to_vec())]);
    drop(rtxn);
    // The store still takes a write that fits.
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"small", b"fits").unwrap();
    wtxn.commit().unwrap();
    assert_eq!(all(&store.read_txn().unwrap()).len(), 2);
}

/// A write that failed (here with `Full`) poisons its transaction: every later call, commit
/// included, is `WriteTxnPoisoned`, and the store keeps exactly its previous commit.
pub fn failed_write_poisons_the_write_txn<B: BoundedBackend>() {
    let dir = tempfile::tempdir().unwrap();
    let store = B::create_bounded(dir.path(), 1 << 20);
    let mut wtxn = store.write_txn().unwrap();
    put_all(&mut wtxn, &[b"a", b"bb", b"ccc"]);
    wtxn.commit().unwrap();
    let before = all(&store.read_txn().unwrap());

    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"a", b"changed").unwrap();
    assert!(wtxn.delete(b"bb").unwrap());
    let value = vec![1u8; 64 << 10];
    let full = (0u32..64)
        .find_map(|i| wtxn.put(&i.to_be_bytes(), &value).err())
        .expect("4 MiB cannot fit in a 1 MiB store");
    assert!(full.is_full(), "expected Full, got {full:?}");

    let poisoned = |result: Result<(), StoreError>, call: &str| {
        let error = result.expect_err(call);
        assert!(
            error.is_poisoned(),
            "{call}: expected WriteTxnPoisoned, got {error:?}"
        );
    };
    poisoned(wtxn.put(b"small", b"fits").map(drop), "put");
    poisoned(wtxn.delete(b"ccc").map(drop), "delete");
    poisoned(wtxn.delete_prefix(b"c").map(drop), "delete_range");
    poisoned(wtxn.get(b"a").map(drop), "get");
    poisoned(wtxn.range(Unbounded, Unbounded).map(drop), "range");
    poisoned(wtxn.commit(), "commit");

    assert_eq!(all(&store.read_txn().unwrap()), before);
    // The next transaction starts clean.
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"small", b"fits").unwrap();
    wtxn.commit().unwrap();
    assert_eq!(all(&store.read_txn().unwrap()).len(), before.len() + 1);
}
