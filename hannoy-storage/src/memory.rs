//! An in-memory store: snapshot isolation through a persistent (structurally shared) B-tree.
//!
//! A read transaction takes an O(1) clone of the committed map and keeps reading it,
//! whatever is committed later. The write transaction works on its own clone, each write
//! copying only the path it touches; `commit` swaps that clone in. Nothing is persisted.
//!
//! The write transaction follows the contract of [`WriteTxn`]: a second one on the same
//! thread is refused, and once a write failed (e.g. [`StoreError::Full`]) it can only be
//! dropped.
//!
//! An optional byte budget ([`MemoryStore::with_byte_budget`]) makes the store report
//! [`StoreError::Full`] like a full LMDB map, which lets tests exercise that path cheaply.

use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hannoy_graph::store::{
    KvStore, ReadTxn, SharedGet, StoreError, StoreResult, WriteTxn, range_is_empty, share,
};
use imbl::OrdMap;
use imbl::ordmap::RangedIter;
use imbl::shared_ptr::DefaultSharedPtr;

use crate::write_guard::{StoreId, WriteGuard};

const BACKEND: &str = "memory";

type Bytes = Arc<[u8]>;
type Map = OrdMap<Bytes, Bytes>;

/// One committed (or in-progress) state of the store.
#[derive(Clone, Default)]
struct State {
    map: Map,
    /// Sum of the lengths of every key and value, checked against the byte budget.
    bytes: u64,
}

/// A store that lives in memory; see the [module docs](self).
///
/// ```
/// use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
/// use hannoy_storage::memory::MemoryStore;
///
/// let store = MemoryStore::new();
/// let mut wtxn = store.write_txn()?;
/// wtxn.put(b"key", b"value")?;
/// wtxn.commit()?;
///
/// let rtxn = store.read_txn()?;
/// assert_eq!(rtxn.get(b"key")?.as_deref(), Some(&b"value"[..]));
/// # Ok::<(), hannoy_graph::StoreError>(())
/// ```
pub struct MemoryStore {
    committed: Mutex<State>,
    writer: Mutex<()>,
    byte_budget: Option<u64>,
    id: StoreId,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            committed: Mutex::default(),
            writer: Mutex::default(),
            byte_budget: None,
            id: StoreId::fresh(),
        }
    }
}

impl MemoryStore {
    /// An empty store with no size limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that refuses writes once its keys and values add up to more than
    /// `bytes` bytes, with [`StoreError::Full`].
    pub fn with_byte_budget(bytes: u64) -> Self {
        MemoryStore {
            byte_budget: Some(bytes),
            ..Self::default()
        }
    }

    /// Bytes of keys and values in the committed state.
    pub fn committed_bytes(&self) -> u64 {
        lock(&self.committed).bytes
    }

    fn snapshot(&self) -> State {
        lock(&self.committed).clone()
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here is a plain load or store
/// of a complete value, so a panic elsewhere cannot leave the data half-written.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KvStore for MemoryStore {
    type ReadTxn<'s> = MemoryReadTxn;
    type WriteTxn<'s> = MemoryWriteTxn<'s>;

    fn read_txn(&self) -> StoreResult<MemoryReadTxn> {
        Ok(MemoryReadTxn {
            state: self.snapshot(),
        })
    }

    fn write_txn(&self) -> StoreResult<MemoryWriteTxn<'_>> {
        let guard = WriteGuard::claim(BACKEND, &self.id)?;
        let writer = lock(&self.writer);
        Ok(MemoryWriteTxn {
            store: self,
            _writer: writer,
            guard,
            state: self.snapshot(),
        })
    }
}

/// A read transaction of the [`MemoryStore`]: an owned snapshot.
pub struct MemoryReadTxn {
    state: State,
}

/// The write transaction of the [`MemoryStore`].
pub struct MemoryWriteTxn<'s> {
    store: &'s MemoryStore,
    // Released before `guard` clears this thread's claim.
    _writer: MutexGuard<'s, ()>,
    guard: WriteGuard,
    state: State,
}

impl MemoryReadTxn {
    /// A read transaction is always usable.
    #[inline]
    fn check(&self) -> StoreResult<()> {
        Ok(())
    }
}

impl MemoryWriteTxn<'_> {
    #[inline]
    fn check(&self) -> StoreResult<()> {
        self.guard.check()
    }
}

/// An ascending iterator over a range of a memory store.
pub struct MemoryIter<'t> {
    inner: Option<RangedIter<'t, Bytes, Bytes, DefaultSharedPtr>>,
}

impl<'t> Iterator for MemoryIter<'t> {
    type Item = StoreResult<(&'t [u8], &'t [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let (key, value) = self.inner.as_mut()?.next()?;
        Some(Ok((&key[..], &value[..])))
    }
}

fn owned_bound(bound: Bound<&[u8]>) -> Bound<Arc<[u8]>> {
    bound.map(Arc::from)
}

fn state_get<'t>(state: &'t State, key: &[u8]) -> Option<&'t [u8]> {
    state.map.get(key).map(|value| &value[..])
}

fn state_range<'t>(state: &'t State, start: Bound<&[u8]>, end: Bound<&[u8]>) -> MemoryIter<'t> {
    if range_is_empty(start, end) {
        // The B-tree would panic on crossed bounds.
        return MemoryIter { inner: None };
    }
    let bounds = (owned_bound(start), owned_bound(end));
    MemoryIter {
        inner: Some(state.map.range(bounds)),
    }
}

/// `ReadTxn` for a transaction type; with `shared_get` for one several threads may read.
macro_rules! impl_read_txn {
    ($ty:ty $(, $shared:ident)?) => {
        impl ReadTxn for $ty {
            type Bytes<'t>
                = &'t [u8]
            where
                Self: 't;
            type Iter<'t>
                = MemoryIter<'t>
            where
                Self: 't;

            fn get(&self, key: &[u8]) -> StoreResult<Option<&[u8]>> {
                self.check()?;
                Ok(state_get(&self.state, key))
            }

            fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<MemoryIter<'_>> {
                self.check()?;
                Ok(state_range(&self.state, start, end))
            }

            $(
                fn $shared(&self) -> Option<SharedGet<'_, &[u8]>> {
                    share(self)
                }
            )?
        }
    };
}

impl_read_txn!(MemoryReadTxn, shared_get);
impl_read_txn!(MemoryWriteTxn<'_>);

fn state_delete(state: &mut State, key: &[u8]) -> bool {
    match state.map.remove(key) {
        Some(value) => {
            state.bytes -= (key.len() + value.len()) as u64;
            true
        }
        None => false,
    }
}

impl WriteTxn for MemoryWriteTxn<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        let (state, budget) = (&mut self.state, self.store.byte_budget);
        self.guard.write("put", || {
            let old = state_get(state, key).map_or(0, |old| key.len() + old.len());
            let bytes = state.bytes - old as u64 + (key.len() + value.len()) as u64;
            if budget.is_some_and(|budget| bytes > budget) {
                return Err(StoreError::Full {
                    backend: BACKEND,
                    hint: ": its byte budget is used up",
                    source: None,
                });
            }
            state.map.insert(Arc::from(key), Arc::from(value));
            state.bytes = bytes;
            Ok(())
        })
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<bool> {
        let state = &mut self.state;
        self.guard.write("delete", || Ok(state_delete(state, key)))
    }

    fn delete_range(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<u64> {
        let state = &mut self.state;
        self.guard.write("delete_range", || {
            let keys: Vec<Arc<[u8]>> = state_range(state, start, end)
                .map(|entry| entry.map(|(k, _)| Arc::from(k)))
                .collect::<StoreResult<_>>()?;
            for key in &keys {
                state_delete(state, key);
            }
            Ok(keys.len() as u64)
        })
    }

    fn commit(self) -> StoreResult<()> {
        self.guard.check()?;
        *lock(&self.store.committed) = self.state;
        Ok(())
    }
}

// The concurrency table of `hannoy_graph::store`, checked at compile time.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<MemoryStore>();
    sync::<MemoryStore>();
    send::<MemoryReadTxn>();
    sync::<MemoryReadTxn>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_overwrites_and_deletes() {
        let store = MemoryStore::with_byte_budget(10);
        let mut wtxn = store.write_txn().unwrap();
        wtxn.put(b"ab", b"cdef").unwrap(); // 6 bytes
        wtxn.put(b"ab", b"cd").unwrap(); // overwrite: 4 bytes
        wtxn.put(b"xy", b"zw").unwrap(); // 8 bytes
        wtxn.commit().unwrap();
        assert_eq!(store.committed_bytes(), 8);
        let mut wtxn = store.write_txn().unwrap();
        assert!(wtxn.put(b"k", b"vv").unwrap_err().is_full()); // would be 11
        drop(wtxn);
        let mut wtxn = store.write_txn().unwrap();
        assert!(wtxn.delete(b"xy").unwrap()); // 4 bytes
        wtxn.put(b"k", b"vv").unwrap(); // 7 bytes
        wtxn.commit().unwrap();
        assert_eq!(store.committed_bytes(), 7);
    }

    #[test]
    fn crossed_bounds_select_nothing() {
        let store = MemoryStore::new();
        let mut wtxn = store.write_txn().unwrap();
        wtxn.put(b"a", b"").unwrap();
        wtxn.put(b"b", b"").unwrap();
        let crossed = wtxn
            .range(Bound::Included(b"b"), Bound::Excluded(b"a"))
            .unwrap();
        assert_eq!(crossed.count(), 0);
        assert_eq!(
            wtxn.delete_range(Bound::Excluded(b"a"), Bound::Excluded(b"a"))
                .unwrap(),
            0
        );
    }
}
