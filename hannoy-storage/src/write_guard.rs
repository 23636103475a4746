//! What every backend's write transaction adds to its backend's own: the per-thread check
//! behind [`StoreError::WriteTxnBusy`] and the memory of a failed write behind
//! [`StoreError::WriteTxnPoisoned`] (the contract is on `hannoy_graph::store::WriteTxn`).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hannoy_graph::store::{StoreError, StoreResult};

/// What tells two stores apart within a process: two handles with the same id share one
/// writer lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreId {
    /// A number handed out once per store value ([`StoreId::fresh`]).
    Unique(u64),
    /// The canonical path of a store that the backend opens at most once per process.
    #[cfg_attr(not(feature = "lmdb"), allow(dead_code))]
    Path(PathBuf),
}

impl StoreId {
    /// An id no other store of this process has.
    pub(crate) fn fresh() -> StoreId {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        StoreId::Unique(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

thread_local! {
    /// The stores whose write transaction this thread holds (rarely more than one).
    static HELD: RefCell<Vec<StoreId>> = const { RefCell::new(Vec::new()) };
}

/// The first failed write of a transaction.
struct Failure {
    operation: &'static str,
    cause: String,
}

/// Held by a write transaction from before it asks its backend for the writer lock until it
/// is committed or dropped.
///
/// Not `Send` (the per-thread registry must be cleared on the thread that filled it), but
/// `Sync` like the transactions that hold it.
pub(crate) struct WriteGuard {
    backend: &'static str,
    /// The store claimed for this thread; `None` for a transaction the application opened
    /// (its backend's own lock is all there is).
    id: Option<StoreId>,
    failure: Option<Failure>,
    /// A read panicked inside the backend (caught there): the backend's state is unknown.
    read_panicked: AtomicBool,
    _this_thread: PhantomData<MutexGuard<'static, ()>>,
}

impl WriteGuard {
    /// Claims `id` for this thread, before the backend's writer lock is taken.
    ///
    /// # Errors
    /// [`StoreError::WriteTxnBusy`] if this thread holds a write transaction on `id`.
    pub(crate) fn claim(backend: &'static str, id: &StoreId) -> StoreResult<WriteGuard> {
        HELD.with_borrow_mut(|held| {
            if held.contains(id) {
                return Err(StoreError::WriteTxnBusy { backend });
            }
            held.push(id.clone());
            Ok(())
        })?;
        let mut guard = WriteGuard::unclaimed(backend);
        guard.id = Some(id.clone());
        Ok(guard)
    }

    /// A guard that only remembers failures, for a write transaction the application opened
    /// and commits itself: nothing is claimed, since the store's handle never opened it.
    pub(crate) fn unclaimed(backend: &'static str) -> WriteGuard {
        WriteGuard {
            backend,
            id: None,
            failure: None,
            read_panicked: AtomicBool::new(false),
            _this_thread: PhantomData,
        }
    }

    /// `Ok` unless a write of the transaction failed.
    ///
    /// # Errors
    /// [`StoreError::WriteTxnPoisoned`] after a failed write.
    #[inline]
    pub(crate) fn check(&self) -> StoreResult<()> {
        if self.failure.is_none() && !self.read_panicked.load(Ordering::Relaxed) {
            return Ok(());
        }
        Err(self.poisoned())
    }

    #[cold]
    fn poisoned(&self) -> StoreError {
        let (operation, cause) = match &self.failure {
            Some(failure) => (failure.operation, failure.cause.clone()),
            None => ("read", "the backend panicked".to_owned()),
        };
        StoreError::WriteTxnPoisoned {
            backend: self.backend,
            operation,
            cause,
        }
    }

    /// Poisons the transaction after a panic inside the backend during a read (which takes
    /// `&self`): a panic may have left the backend's transaction half-changed.
    #[cfg_attr(not(feature = "redb"), allow(dead_code))]
    #[cold]
    pub(crate) fn poison_after_panic(&self) {
        self.read_panicked.store(true, Ordering::Relaxed);
    }

    /// Runs the write `operation` unless the transaction is poisoned, and poisons it if the
    /// write fails.
    ///
    /// # Errors
    /// [`StoreError::WriteTxnPoisoned`] without running `write` after an earlier failure;
    /// `write`'s own error otherwise.
    #[inline]
    pub(crate) fn write<T>(
        &mut self,
        operation: &'static str,
        write: impl FnOnce() -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.check()?;
        let result = write();
        if let Err(error) = &result {
            self.failure = Some(Failure {
                operation,
                cause: error.to_string(),
            });
        }
        result
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let Some(id) = &self.id else { return };
        // `try_with`: a transaction dropped while the thread's locals are being destroyed
        // has nothing left to clear.
        let _ = HELD.try_with(|held| {
            let mut held = held.borrow_mut();
            if let Some(at) = held.iter().position(|held| held == id) {
                held.swap_remove(at);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_per_store_and_per_thread_and_ends_on_drop() {
        let (a, b) = (StoreId::fresh(), StoreId::fresh());
        let first = WriteGuard::claim("test", &a).unwrap();
        let busy = WriteGuard::claim("test", &a).err().unwrap();
        assert!(matches!(busy, StoreError::WriteTxnBusy { backend: "test" }));
        let other_store = WriteGuard::claim("test", &b).unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(WriteGuard::claim("test", &a).is_ok()));
        });
        drop(first);
        let again = WriteGuard::claim("test", &a).unwrap();
        drop((again, other_store));
        HELD.with_borrow(|held| assert!(held.is_empty()));
    }

    #[test]
    fn the_first_failure_poisons_every_later_write() {
        let mut guard = WriteGuard::claim("test", &StoreId::fresh()).unwrap();
        assert_eq!(guard.write("put", || Ok(1)).unwrap(), 1);
        let full = guard.write("put", || -> StoreResult<()> {
            Err(StoreError::Full {
                backend: "test",
                hint: "",
                source: None,
            })
        });
        assert!(full.unwrap_err().is_full());
        let mut ran = false;
        let later = guard.write("delete", || {
            ran = true;
            Ok(())
        });
        assert!(!ran, "a poisoned transaction runs no more writes");
        let later = later.unwrap_err();
        assert!(later.is_poisoned());
        assert_eq!(
            later.to_string(),
            "the test write transaction is unusable since its put failed \
             (the test store is full): drop it"
        );
        assert!(guard.check().unwrap_err().is_poisoned());
    }
}
