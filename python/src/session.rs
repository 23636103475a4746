//! The write transaction of a `Writer`, kept on a thread of its own.
//!
//! Write transactions cannot move between threads (LMDB's is tied to the thread that opened
//! it), while a Python object can be used and dropped on any thread. So each writer owns a
//! one-thread rayon pool, and its transaction lives in a thread-local of that thread.
//! [`Session::run`] executes a closure there and waits for it with the GIL released;
//! closures may borrow the caller's data (a numpy buffer read in place), because
//! `ThreadPool::install` returns only when the closure is done. [`Session::spawn`] starts a
//! build there without waiting, so the calling thread stays free to poll for Ctrl-C.
//!
//! No `unsafe` is needed: the transaction never leaves its thread, and only `Send` values
//! cross (the closures, their borrowed slices, the results).

use std::cell::RefCell;
use std::sync::Arc;

use hannoy::storage::lmdb::LmdbWriteTxn;
use hannoy::storage::memory::MemoryWriteTxn;
use hannoy::storage::redb::RedbWriteTxn;
use hannoy::{KvStore, StoreError, WriteTxn};
use pyo3::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use self_cell::self_cell;

use crate::errors::{HannoyError, WriterClosedError, store_to_py};
use crate::guard::{Panic, caught};
use crate::store::{Shared, Store};

/// The write transaction of one of the backends.
pub enum AnyWriteTxn<'s> {
    /// LMDB.
    Lmdb(LmdbWriteTxn<'s>),
    /// redb.
    Redb(RedbWriteTxn),
    /// Memory.
    Memory(MemoryWriteTxn<'s>),
}

/// Runs `$body` with `$txn` bound to the backend's own write transaction in `$any` (an
/// `&mut AnyWriteTxn`).
macro_rules! with_write_txn {
    ($any:expr, $txn:ident => $body:expr) => {
        match $any {
            $crate::session::AnyWriteTxn::Lmdb($txn) => $body,
            $crate::session::AnyWriteTxn::Redb($txn) => $body,
            $crate::session::AnyWriteTxn::Memory($txn) => $body,
        }
    };
}

pub(crate) use with_write_txn;

impl AnyWriteTxn<'_> {
    fn commit(self) -> Result<(), StoreError> {
        match self {
            AnyWriteTxn::Lmdb(txn) => txn.commit(),
            AnyWriteTxn::Redb(txn) => txn.commit(),
            AnyWriteTxn::Memory(txn) => txn.commit(),
        }
    }
}

/// The transaction, `None` once committed or aborted.
type OpenTxn<'s> = Option<AnyWriteTxn<'s>>;

self_cell!(
    /// A write transaction with the store it borrows.
    struct TxnCell {
        owner: Arc<Shared>,
        #[not_covariant]
        dependent: OpenTxn,
    }
);

/// What the session thread keeps.
struct Active {
    txn: TxnCell,
    /// Level draws, continued from build to build.
    rng: StdRng,
}

thread_local! {
    /// The transaction of the writer whose pool runs on this thread.
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// Why a session could not run a closure.
#[derive(Debug)]
pub enum Unavailable {
    /// Committed or aborted.
    Closed,
    /// Another closure of this session is running.
    Busy,
    /// The closure panicked; the transaction was aborted with it (nothing it wrote can be
    /// committed).
    Panicked(Panic),
}

impl From<Unavailable> for PyErr {
    fn from(reason: Unavailable) -> PyErr {
        match reason {
            Unavailable::Closed => WriterClosedError::new_err("the writer is committed or aborted"),
            Unavailable::Busy => HannoyError::new_err("the writer's transaction is in use"),
            Unavailable::Panicked(panic) => panic.into(),
        }
    }
}

/// A write transaction on its own thread; see the [module docs](self).
pub struct Session {
    pool: rayon::ThreadPool,
}

impl Session {
    /// Opens the write transaction of `shared` on a new thread (waiting, with the GIL
    /// released, while another process writes).
    ///
    /// # Errors
    /// Store errors; `HannoyError` if the thread cannot start.
    pub fn open(py: Python<'_>, shared: Arc<Shared>, seed: u64) -> PyResult<Session> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "hannoy-writer".to_owned())
            // A panic in a spawned build must not abort the interpreter: its channel closes
            // and the caller reports the build as failed.
            .panic_handler(|_| {})
            .build()
            .map_err(|e| HannoyError::new_err(format!("cannot start the writer thread: {e}")))?;
        let opened = crate::guard::detach(py, || {
            pool.install(move || {
                let txn = TxnCell::try_new(shared, |shared| open_txn(&shared.store).map(Some))?;
                ACTIVE.with(|slot| {
                    slot.replace(Some(Active {
                        txn,
                        rng: StdRng::seed_from_u64(seed),
                    }))
                });
                Ok::<(), StoreError>(())
            })
        })?;
        opened.map_err(|e| store_to_py(&e))?;
        Ok(Session { pool })
    }

    /// Runs `f` on the transaction's thread and returns its result; the GIL is released
    /// meanwhile.
    ///
    /// # Errors
    /// [`Unavailable`] when the transaction is closed or busy.
    pub fn run<R, F>(&self, py: Python<'_>, f: F) -> Result<R, Unavailable>
    where
        R: Send,
        F: FnOnce(&mut AnyWriteTxn<'_>, &mut StdRng) -> R + Send,
    {
        py.detach(|| self.pool.install(|| with_active(f)))
    }

    /// Starts `f` on the transaction's thread and returns at once; `done` then receives its
    /// result, or why it did not run or finish (closed, busy, panicked).
    pub fn spawn<R, F, D>(&self, f: F, done: D)
    where
        F: FnOnce(&mut AnyWriteTxn<'_>, &mut StdRng) -> R + Send + 'static,
        D: FnOnce(Result<R, Unavailable>) + Send + 'static,
    {
        self.pool.spawn(move || done(with_active(f)));
    }

    /// Commits (`commit`) or aborts the transaction; the GIL is released meanwhile.
    ///
    /// # Errors
    /// [`Unavailable::Closed`] when it is closed already; the commit's store error.
    pub fn finish(&self, py: Python<'_>, commit: bool) -> PyResult<()> {
        let outcome =
            crate::guard::detach(py, || self.pool.install(move || finish_active(commit)))?;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(store_to_py(&e)),
            // A panic aborted it already: aborting again does nothing.
            Err(Unavailable::Closed) if !commit => Ok(()),
            Err(reason) => Err(reason.into()),
        }
    }
}

impl Drop for Session {
    /// Aborts a transaction still open, on its own thread, before the thread goes.
    fn drop(&mut self) {
        let _ = self.pool.install(|| finish_active(false));
    }
}

fn open_txn(store: &Store) -> Result<AnyWriteTxn<'_>, StoreError> {
    Ok(match store {
        Store::Lmdb(store) => AnyWriteTxn::Lmdb(store.write_txn()?),
        Store::Redb(store) => AnyWriteTxn::Redb(store.write_txn()?),
        Store::Memory(store) => AnyWriteTxn::Memory(store.write_txn()?),
    })
}

/// Runs `f` with this thread's open transaction. If `f` panics, the transaction is
/// aborted (dropped) before the panic is reported.
fn with_active<R>(
    f: impl FnOnce(&mut AnyWriteTxn<'_>, &mut StdRng) -> R,
) -> Result<R, Unavailable> {
    ACTIVE.with(|slot| {
        let mut slot = slot.try_borrow_mut().map_err(|_| Unavailable::Busy)?;
        let Active { txn, rng } = slot.as_mut().ok_or(Unavailable::Closed)?;
        let outcome = txn.with_dependent_mut(|_, txn| match txn {
            Some(txn) => Ok(caught(|| f(txn, rng))),
            None => Err(Unavailable::Closed),
        })?;
        outcome.map_err(|panic| {
            slot.take();
            Unavailable::Panicked(panic)
        })
    })
}

/// Takes this thread's transaction and commits or drops it.
fn finish_active(commit: bool) -> Result<Result<(), StoreError>, Unavailable> {
    ACTIVE.with(|slot| {
        let mut active = slot
            .try_borrow_mut()
            .map_err(|_| Unavailable::Busy)?
            .take()
            .ok_or(Unavailable::Closed)?;
        let txn = active.txn.with_dependent_mut(|_, txn| {
            txn.take()
                .map(|txn| if commit { txn.commit() } else { Ok(()) })
        });
        txn.ok_or(Unavailable::Closed)
    })
}
