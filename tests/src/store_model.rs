//! Model-based test: random operation sequences against a `BTreeMap`.

use std::collections::BTreeMap;
use std::ops::Bound::{self, Excluded, Included, Unbounded};

use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::Backend;
use crate::store_suite::{Entries, all, collect, get, range};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One step of a random history.
#[derive(Debug, Clone)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    DeleteRange(Bound<Vec<u8>>, Bound<Vec<u8>>),
    Get(Vec<u8>),
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>),
    Prefix(Vec<u8>),
    Commit,
    Abort,
    /// Opens a reader now; it is checked against the committed model at the end.
    OpenReader,
}

/// Short keys over a tiny alphabet, so operations collide and prefixes and 0xff edges occur.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![0u8, 1, 0x7f, 0xff]), 1..=3)
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Unbounded),
        key().prop_map(Included),
        key().prop_map(Excluded)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(k, v)| Op::Put(k, v)),
        2 => key().prop_map(Op::Delete),
        1 => (bound(), bound()).prop_map(|(s, e)| Op::DeleteRange(s, e)),
        2 => key().prop_map(Op::Get),
        2 => (bound(), bound()).prop_map(|(s, e)| Op::Range(s, e)),
        1 => prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 0..=2).prop_map(Op::Prefix),
        2 => Just(Op::Commit),
        1 => Just(Op::Abort),
        1 => Just(Op::OpenReader),
    ]
}

fn as_ref(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    bound.as_ref().map(Vec::as_slice)
}

fn model_range(model: &Model, start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> Entries {
    model
        .iter()
        .filter(|(key, _)| (as_ref(start), as_ref(end)).contains(key.as_slice()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

trait ContainsKey {
    fn contains(&self, key: &[u8]) -> bool;
}

impl ContainsKey for (Bound<&[u8]>, Bound<&[u8]>) {
    fn contains(&self, key: &[u8]) -> bool {
        let after_start = match self.0 {
            Included(s) => key >= s,
            Excluded(s) => key > s,
            Unbounded => true,
        };
        let before_end = match self.1 {
            Included(e) => key <= e,
            Excluded(e) => key < e,
            Unbounded => true,
        };
        after_start && before_end
    }
}

fn run_history<B: Backend>(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = B::create(dir.path());
    let mut committed = Model::new();
    let mut pending = committed.clone();
    let mut readers = Vec::new();
    let mut wtxn = Some(store.write_txn().expect("write txn"));

    for op in ops {
        let txn = wtxn.as_mut().expect("a write transaction is always open");
        match op {
            Op::Put(k, v) => {
                txn.put(k, v).expect("put");
                pending.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                let was = txn.delete(k).expect("delete");
                prop_assert_eq!(was, pending.remove(k).is_some());
            }
            Op::DeleteRange(s, e) => {
                let removed = txn
                    .delete_range(as_ref(s), as_ref(e))
                    .expect("delete_range");
                let doomed = model_range(&pending, s, e);
                for (k, _) in &doomed {
                    pending.remove(k);
                }
                prop_assert_eq!(removed, doomed.len() as u64);
            }
            Op::Get(k) => prop_assert_eq!(get(txn, k), pending.get(k).cloned()),
            Op::Range(s, e) => {
                prop_assert_eq!(
                    range(txn, as_ref(s), as_ref(e)),
                    model_range(&pending, s, e)
                );
            }
            Op::Prefix(p) => {
                let expected: Entries = pending
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(collect(txn.prefix(p).expect("prefix")), expected);
            }
            Op::Commit => {
                wtxn.take().expect("open").commit().expect("commit");
                committed = pending.clone();
                wtxn = Some(store.write_txn().expect("write txn"));
            }
            Op::Abort => {
                wtxn.take().expect("open").abort();
                pending = committed.clone();
                wtxn = Some(store.write_txn().expect("write txn"));
            }
            Op::OpenReader => {
                let entries: Entries = committed.clone().into_iter().collect();
                readers.push((store.read_txn().expect("read txn"), entries));
            }
        }
    }
    drop(wtxn);
    for (reader, expected) in &readers {
        prop_assert_eq!(&all(reader), expected, "a reader's snapshot changed");
    }
    let entries: Entries = committed.into_iter().collect();
    prop_assert_eq!(all(&store.read_txn().expect("read txn")), entries);
    Ok(())
}

pub fn random_operations_match_btreemap_model<B: Backend>() {
    let config = Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let histories = prop::collection::vec(op(), 1..120);
    if let Err(failure) = runner.run(&histories, |ops| run_history::<B>(&ops)) {
        panic!("{failure}");
    }
}
