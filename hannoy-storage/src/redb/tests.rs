//! redb files with damaged pages: every call gives a value or a typed error, none panics.

use std::fs;
use std::ops::Bound::{Included, Unbounded};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use hannoy_graph::store::{KvStore, ReadTxn, StoreError, StoreResult, WriteTxn};

use super::{RedbStore, RedbWriteTxn};

fn write_store(path: &Path) {
    let store = RedbStore::open(path).unwrap();
    for round in 0..3u32 {
        let mut wtxn = store.write_txn().unwrap();
        for i in 0..300u32 {
            let len = if i % 10 == 0 { 12_000 } else { 60 };
            wtxn.put(&i.to_be_bytes(), &vec![(round + i) as u8; len])
                .unwrap();
        }
        wtxn.delete_range(
            Included(&7u32.to_be_bytes()[..]),
            Included(&9u32.to_be_bytes()[..]),
        )
        .unwrap();
        wtxn.commit().unwrap();
    }
}

/// Whether redb panicked (and the panic was caught) to give `error`.
fn from_panic(error: &StoreError) -> bool {
    matches!(error, StoreError::Corrupted { what, .. } if what.contains("redb panicked"))
}

fn reads_and_writes(wtxn: &mut RedbWriteTxn) -> StoreResult<()> {
    for i in 0..300u32 {
        let _ = wtxn.get(&i.to_be_bytes())?.map(|v| v.as_ref().len());
    }
    wtxn.put(b"new", &[1; 5000])?;
    wtxn.delete(&3u32.to_be_bytes())?;
    wtxn.delete_range(Included(&100u32.to_be_bytes()[..]), Unbounded)?;
    for entry in wtxn.range(Unbounded, Unbounded)? {
        entry?;
    }
    Ok(())
}

/// Everything a store is asked to do: open, point reads, a scan, writes, commit, reopen.
/// A write transaction in which a write failed or redb panicked must refuse to commit.
fn exercise(path: &Path) -> StoreResult<()> {
    let store = RedbStore::open(path)?;
    {
        let rtxn = store.read_txn()?;
        for i in 0..300u32 {
            if let Some(value) = rtxn.get(&i.to_be_bytes())? {
                let _ = value.as_ref().len();
            }
        }
        for entry in rtxn.range(Unbounded, Unbounded)? {
            entry?;
        }
    }
    let mut wtxn = store.write_txn()?;
    let before = wtxn.get(b"new").ok().flatten().is_some();
    match reads_and_writes(&mut wtxn) {
        Ok(()) => wtxn.commit()?,
        Err(error) => {
            let poisoned = wtxn.get(b"k").is_err_and(|e| e.is_poisoned());
            if from_panic(&error) {
                assert!(poisoned, "a panic in a write transaction poisons it");
            }
            let commit = wtxn.commit();
            if poisoned {
                assert!(commit.is_err_and(|e| e.is_poisoned()));
                // Nothing of it was committed.
                let rtxn = store.read_txn()?;
                assert_eq!(rtxn.get(b"new").ok().flatten().is_some(), before);
            }
            return Err(error);
        }
    }
    drop(store);
    let store = RedbStore::open(path)?;
    for entry in store.read_txn()?.range(Unbounded, Unbounded)? {
        entry?;
    }
    Ok(())
}

#[test]
fn damaged_pages_give_typed_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("whole.redb");
    write_store(&original);
    let bytes = fs::read(&original).unwrap();
    exercise(&original).unwrap();

    // A fixed xorshift seed picks where to damage.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let (mut escaped, mut refused, mut caught) = (Vec::new(), 0, 0);
    for case in 0..120 {
        let mut damaged = bytes.clone();
        match case % 3 {
            // Flip bytes here and there.
            0 => {
                for _ in 0..32 {
                    let at = next(damaged.len());
                    damaged[at] ^= 0x5a;
                }
            }
            // Zero a run of 512 bytes.
            1 => {
                let at = next(damaged.len() - 512);
                damaged[at..at + 512].fill(0);
            }
            // Fill a run of 16 bytes with 0xff (huge lengths and page numbers).
            _ => {
                let at = next(damaged.len() - 16);
                damaged[at..at + 16].fill(0xff);
            }
        }
        let path = dir.path().join(format!("{case}.redb"));
        fs::write(&path, &damaged).unwrap();
        match panic::catch_unwind(AssertUnwindSafe(|| exercise(&path))) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                refused += 1;
                caught += usize::from(from_panic(&error));
            }
            Err(_) => escaped.push(case),
        }
    }
    assert!(escaped.is_empty(), "panics escaped in cases {escaped:?}");
    // With this seed, redb panics in several cases (three places in redb 4.6): this test
    // goes through the catching, not around it.
    assert!(caught >= 3, "only {caught} panics were caught");
    eprintln!("{refused} of 120 damaged files gave a typed error, {caught} from a caught panic");
}

#[test]
fn compaction_shrinks_the_file_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.redb");
    let mut store = RedbStore::open(&path).unwrap();
    let mut wtxn = store.write_txn().unwrap();
    for i in 0..400u32 {
        wtxn.put(&i.to_be_bytes(), &vec![i as u8; 20_000]).unwrap();
    }
    wtxn.commit().unwrap();
    let mut wtxn = store.write_txn().unwrap();
    wtxn.delete_range(Included(&10u32.to_be_bytes()[..]), Unbounded)
        .unwrap();
    wtxn.commit().unwrap();
    let before = fs::metadata(&path).unwrap().len();
    // redb may move pages in several rounds: until nothing moves.
    while store.compact().unwrap() {}
    let after = fs::metadata(&path).unwrap().len();
    assert!(after * 4 < before, "{before} -> {after} bytes");
    let rtxn = store.read_txn().unwrap();
    for i in 0..10u32 {
        assert_eq!(
            rtxn.get(&i.to_be_bytes())
                .unwrap()
                .map(|v| v.as_ref().to_vec()),
            Some(vec![i as u8; 20_000])
        );
    }
    assert!(rtxn.get(&10u32.to_be_bytes()).unwrap().is_none());
}

#[test]
fn io_failures_are_io_errors_with_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    match RedbStore::open(dir.path().join("missing").join("index.redb")) {
        Err(error @ StoreError::Io { .. }) => {
            let kind = error.io_error().map(std::io::Error::kind);
            assert_eq!(kind, Some(std::io::ErrorKind::NotFound), "{error}");
        }
        other => panic!("expected an I/O error, got {:?}", other.map(|_| ())),
    }
}
