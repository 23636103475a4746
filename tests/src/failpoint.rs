//! A store wrapper that fails the Nth write operation (put, delete, delete_range or
//! commit), or only the Nth put/delete, or only the Nth commit, to prove that a failure
//! never leaves a half-written store or index behind.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hannoy_graph::store::{KvStore, ReadTxn, StoreError, StoreResult, WriteTxn};

/// Wraps a store; write operations of its write transactions count down a shared budget and
/// the one that finds it empty fails with an injected [`StoreError::Backend`].
pub struct FailingStore<S> {
    inner: S,
    remaining: Arc<AtomicU64>,
    steps: Arc<AtomicU64>,
    counted: Counted,
}

/// Which operations count towards the failure (and [`FailingStore::steps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Every write operation: put, delete, delete_range and commit.
    Every,
    /// Writes only: put, delete and delete_range; commits pass.
    Writes,
    /// Commits only; writes pass.
    Commits,
}

impl<S: KvStore> FailingStore<S> {
    /// Wraps `inner`; the write operation numbered `fail_at` (0-based, counted across every
    /// write transaction) fails.
    pub fn new(inner: S, fail_at: u64) -> Self {
        Self::counting(inner, Counted::Every, fail_at)
    }

    /// Wraps `inner`; the put, delete or delete_range numbered `fail_at` (0-based, across
    /// every write transaction) fails. Commits are not counted (but a transaction whose
    /// write failed cannot commit).
    pub fn failing_write(inner: S, fail_at: u64) -> Self {
        Self::counting(inner, Counted::Writes, fail_at)
    }

    /// Wraps `inner`; the commit numbered `fail_at` (0-based) fails, its transaction's
    /// writes being discarded.
    pub fn failing_commit(inner: S, fail_at: u64) -> Self {
        Self::counting(inner, Counted::Commits, fail_at)
    }

    /// Wraps `inner`; the operation of kind `counted` numbered `fail_at` (0-based) fails.
    pub fn counting(inner: S, counted: Counted, fail_at: u64) -> Self {
        FailingStore {
            inner,
            remaining: Arc::new(AtomicU64::new(fail_at)),
            steps: Arc::new(AtomicU64::new(0)),
            counted,
        }
    }

    /// Whether the injected failure has happened.
    pub fn has_failed(&self) -> bool {
        self.remaining.load(Ordering::SeqCst) == u64::MAX
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many counted operations were attempted.
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::SeqCst)
    }

    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The injected error.
pub fn injected(operation: &'static str) -> StoreError {
    StoreError::backend("failpoint", operation, "injected failure")
}

/// The write transaction of a [`FailingStore`]. After a failure it stays poisoned: its
/// commit fails too, as a real backend's would after a failed write.
pub struct FailingWriteTxn<T> {
    inner: T,
    remaining: Arc<AtomicU64>,
    steps: Arc<AtomicU64>,
    counted: Counted,
    poisoned: bool,
}

impl<T> FailingWriteTxn<T> {
    fn step(&mut self, operation: &'static str) -> StoreResult<()> {
        if self.poisoned {
            return Err(injected(operation));
        }
        let counts = match self.counted {
            Counted::Every => true,
            Counted::Writes => operation != "commit",
            Counted::Commits => operation == "commit",
        };
        if !counts {
            return Ok(());
        }
        self.steps.fetch_add(1, Ordering::SeqCst);
        let before = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                u64::MAX => None,
                0 => Some(u64::MAX),
                n => Some(n - 1),
            })
            .unwrap_or(u64::MAX);
        if before == 0 {
            self.poisoned = true;
            return Err(injected(operation));
        }
        Ok(())
    }
}

impl<S: KvStore> KvStore for FailingStore<S> {
    type ReadTxn<'s>
        = S::ReadTxn<'s>
    where
        Self: 's;
    type WriteTxn<'s>
        = FailingWriteTxn<S::WriteTxn<'s>>
    where
        Self: 's;

    fn read_txn(&self) -> StoreResult<S::ReadTxn<'_>> {
        self.inner.read_txn()
    }

    fn write_txn(&self) -> StoreResult<Self::WriteTxn<'_>> {
        Ok(FailingWriteTxn {
            inner: self.inner.write_txn()?,
            remaining: self.remaining.clone(),
            steps: self.steps.clone(),
            counted: self.counted,
            poisoned: false,
        })
    }
}

impl<T: WriteTxn> ReadTxn for FailingWriteTxn<T> {
    type Bytes<'t>
        = T::Bytes<'t>
    where
        Self: 't;
    type Iter<'t>
        = T::Iter<'t>
    where
        Self: 't;

    fn get(&self, key: &[u8]) -> StoreResult<Option<T::Bytes<'_>>> {
        self.inner.get(key)
    }

    fn stored_len(&self, len: usize) -> usize {
        self.inner.stored_len(len)
    }

    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<T::Iter<'_>> {
        self.inner.range(start, end)
    }
}

impl<T: WriteTxn> WriteTxn for FailingWriteTxn<T> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.step("put")?;
        self.inner.put(key, value)
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<bool> {
        self.step("delete")?;
        self.inner.delete(key)
    }

    fn delete_range(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<u64> {
        self.step("delete_range")?;
        self.inner.delete_range(start, end)
    }

    fn commit(mut self) -> StoreResult<()> {
        self.step("commit")?;
        self.inner.commit()
    }
}
