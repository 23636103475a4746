//! The LMDB backend, through `heed`: memory-mapped and zero-copy.
//!
//! A [`LmdbStore`] is one LMDB database (by default the unnamed main database of an
//! environment opened in a directory). Reads return slices of the memory map, valid for the
//! transaction's lifetime: no copy and no allocation per `get`.
//!
//! # Map size
//!
//! LMDB reserves address space for the whole map up front; the file only grows as data is
//! written. The default map size is [`DEFAULT_MAP_SIZE`] (64 GiB on 64-bit targets), which
//! costs no memory or disk by itself. A write that does not fit fails with
//! [`StoreError::Full`]; the write transaction must then be dropped, committed data is
//! untouched, and reopening the directory with a larger [`LmdbOptions::map_size`] makes room.
//!
//! # A damaged or truncated file
//!
//! LMDB reads its pages straight from the memory map and trusts the file's length: a read
//! of a page past the end of a truncated `data.mdb` is a `SIGBUS`, which kills the process.
//! [`LmdbOptions::open`] therefore reads LMDB's two meta pages from the file before mapping
//! it, walks the page trees of the newest one with plain reads (branch and leaf pages, and
//! the header of each overflow value), and refuses, with [`StoreError::Corrupted`] naming
//! the file, a file that is not an LMDB data file, is of another LMDB data version, or
//! lacks a page its last commit uses. What it cannot catch is a file truncated *after* it
//! was checked (by another program, between the check and the mapping or while the store
//! is open): LMDB has no defence against that, and it stays a `SIGBUS`. Nor does it check
//! what pages hold (LMDB keeps no checksums): a damaged page inside a whole file reads as
//! whatever it holds, which the graph's decoders check.
//!
//! # Threads
//!
//! The environment is opened without thread-local reader slots, so read transactions are
//! `Send` (they can move to another thread) but not `Sync`: parallel readers open one
//! transaction each. The write transaction stays on the thread that opened it; a second
//! one asked for on that thread (through any handle on the same environment) is
//! [`StoreError::WriteTxnBusy`], where LMDB itself would deadlock.
//!
//! A read transaction sees every commit that returned before it was opened. Two read
//! transactions opened one after the other while a commit is in flight may, in a narrow
//! race inside LMDB, see that commit and then the state before it; each still sees one
//! whole commit.

use std::convert::Infallible;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hannoy_graph::store::{
    KvStore, ReadTxn, SharedGet, StoreError, StoreResult, WriteTxn, range_is_empty,
};
use heed::types::Bytes;
use heed::{CommitOrAbort, Env, EnvFlags, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls};

use crate::write_guard::{StoreId, WriteGuard};

pub use heed;
pub use host::{HostReadTxn, HostWriteTxn};

mod host;
mod meta;
#[cfg(test)]
mod tests;

const BACKEND: &str = "lmdb";

/// The database handle every store uses: untyped bytes both ways.
type Db = heed::Database<'static, Bytes, Bytes>;

/// The map size used when none is given: 64 GiB of address space on 64-bit targets, 1 GiB
/// elsewhere.
pub const DEFAULT_MAP_SIZE: usize = if usize::BITS >= 64 { 64 << 30 } else { 1 << 30 };

/// The number of read transactions that may be open at once when none is given.
pub const DEFAULT_MAX_READERS: u32 = 1024;

/// Options to open an [`LmdbStore`].
#[derive(Debug, Clone)]
pub struct LmdbOptions {
    map_size: usize,
    max_readers: u32,
    read_ahead: bool,
}

impl Default for LmdbOptions {
    fn default() -> Self {
        LmdbOptions {
            map_size: DEFAULT_MAP_SIZE,
            max_readers: DEFAULT_MAX_READERS,
            read_ahead: true,
        }
    }
}

impl LmdbOptions {
    /// The size of the memory map in bytes, rounded up by LMDB to a multiple of the page
    /// size: the most the store can hold.
    pub fn map_size(mut self, bytes: usize) -> Self {
        self.map_size = bytes;
        self
    }

    /// How many read transactions may be open at once, across every thread and process.
    pub fn max_readers(mut self, readers: u32) -> Self {
        self.max_readers = readers;
        self
    }

    /// Whether the kernel reads ahead around each page the map faults in (default true,
    /// LMDB's default). Turn it off (LMDB's `MDB_NORDAHEAD`) for a store larger than the
    /// memory it may use: searches then touch pages at random, and read-ahead fills the
    /// page cache with neighbours nobody asked for. Measured on 1M × 384 vectors in a
    /// 700 MiB memory cgroup: 27 to 46 times the queries per second without read-ahead
    /// (`docs/larger-than-ram.md`). When the store fits in memory it makes no difference
    /// once the pages are cached.
    pub fn read_ahead(mut self, read_ahead: bool) -> Self {
        self.read_ahead = read_ahead;
        self
    }

    /// Opens (creating it if needed) the environment in directory `path` and uses its main
    /// database.
    ///
    /// The directory's `data.mdb`, if there is one, is checked first (see [A damaged or
    /// truncated file](self#a-damaged-or-truncated-file)).
    ///
    /// # Errors
    /// [`StoreError::AlreadyOpen`] if this process has the directory open already (LMDB
    /// forbids opening one environment twice in a process: share the store instead);
    /// [`StoreError::Corrupted`] if `data.mdb` is not an LMDB data file, is of another LMDB
    /// data version, or is truncated; [`StoreError::Io`] for I/O errors (a missing
    /// parent, a permission); [`StoreError::Backend`] for LMDB's other errors.
    // The crate denies unsafe code; opening an LMDB environment is the one place it needs
    // it (heed's `open` and `flags`), with a SAFETY line at each.
    #[allow(unsafe_code)]
    pub fn open(&self, path: impl AsRef<Path>) -> StoreResult<LmdbStore> {
        let path = path.as_ref();
        std::fs::create_dir_all(path).map_err(|e| StoreError::io(BACKEND, "open", e))?;
        meta::check_data_file(&path.join("data.mdb"))?;
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options
            .map_size(self.map_size)
            .max_readers(self.max_readers);
        if !self.read_ahead {
            // SAFETY: `NO_READ_AHEAD` only changes the advice LMDB gives the kernel about the
            // map (`MADV_RANDOM`); unlike `NO_SYNC` or `NO_LOCK` it weakens no durability or
            // locking guarantee, which is what makes heed's `flags` unsafe.
            unsafe {
                options.flags(EnvFlags::NO_READ_AHEAD);
            }
        }
        // SAFETY: the map is only written through LMDB, which locks it against concurrent
        // writers in this and other processes; heed refuses to open the same directory twice
        // in one process; `check_data_file` has just seen every page the file's last commit
        // uses. What stays the caller's duty (no other program truncating or rewriting the
        // file behind LMDB's back, no network file system) is stated on `LmdbStore::open`.
        let env = unsafe { options.open(path) }.map_err(|e| match e {
            heed::Error::EnvAlreadyOpened => StoreError::AlreadyOpen {
                backend: BACKEND,
                path: path.display().to_string(),
            },
            other => map_err("open", other),
        })?;
        let wtxn = env.write_txn().map_err(|e| map_err("open", e))?;
        let created = env
            .create_databases_and_commit(wtxn, |opener, wtxn| {
                let db = opener.create_database::<Bytes, Bytes>(wtxn, None)?;
                Ok::<_, heed::Error>(CommitOrAbort::<_, Infallible>::Commit(db))
            })
            .map_err(|e| map_err("open", e))?;
        match created {
            CommitOrAbort::Commit(db) => Ok(LmdbStore::from_database(env, db)),
            CommitOrAbort::Abort(never) => match never {},
        }
    }
}

/// A store in an LMDB environment; see the [module docs](self).
///
/// ```
/// use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
/// use hannoy_storage::lmdb::LmdbStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = LmdbStore::open(dir.path())?;
/// let mut wtxn = store.write_txn()?;
/// wtxn.put(b"key", b"value")?;
/// wtxn.commit()?;
///
/// let rtxn = store.read_txn()?;
/// assert_eq!(rtxn.get(b"key")?, Some(&b"value"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LmdbStore {
    env: Env<WithoutTls>,
    db: Db,
    /// The environment's path: every handle on one environment shares its writer lock.
    id: StoreId,
}

impl LmdbStore {
    /// Opens (creating it if needed) a store in directory `path` with default options.
    ///
    /// The directory's `data.mdb` is memory-mapped: another program must not modify it
    /// except through LMDB (truncating it while it is open kills this process with
    /// `SIGBUS`), and it must not live on a network file system.
    ///
    /// # Errors
    /// As [`LmdbOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> StoreResult<LmdbStore> {
        LmdbOptions::default().open(path)
    }

    /// Options to open a store with another map size or reader count.
    pub fn options() -> LmdbOptions {
        LmdbOptions::default()
    }

    /// A store over a database of an environment the caller opened, e.g. to keep the index
    /// beside the application's own LMDB databases. The data file is not checked (see [A
    /// damaged or truncated file](self#a-damaged-or-truncated-file)); a write transaction the
    /// caller opens on `env` directly is not seen by the [`StoreError::WriteTxnBusy`] check.
    pub fn from_database(env: Env<WithoutTls>, db: Db) -> LmdbStore {
        let id = StoreId::Path(env.path().to_path_buf());
        LmdbStore { env, db, id }
    }

    /// The environment, e.g. to read its size or copy it.
    pub fn env(&self) -> &Env<WithoutTls> {
        &self.env
    }

    /// The database the store's keys live in (for example to read another library's keys
    /// in it, as the import from hannoy 0.3 does).
    pub fn database(&self) -> Db {
        self.db
    }
}

/// Maps heed errors, keeping "map full" distinct.
fn map_err(operation: &'static str, error: heed::Error) -> StoreError {
    match error {
        heed::Error::Mdb(MdbError::MapFull) => StoreError::Full {
            backend: BACKEND,
            hint: ": reopen it with a larger map size",
            source: Some(error.into()),
        },
        heed::Error::Io(io) => StoreError::io(BACKEND, operation, io),
        other => StoreError::backend(BACKEND, operation, other),
    }
}

impl KvStore for LmdbStore {
    type ReadTxn<'s> = LmdbReadTxn<'s>;
    type WriteTxn<'s> = LmdbWriteTxn<'s>;

    fn read_txn(&self) -> StoreResult<LmdbReadTxn<'_>> {
        let txn = self.env.read_txn().map_err(|e| map_err("read_txn", e))?;
        Ok(LmdbReadTxn {
            txn,
            db: self.db,
            lock: Mutex::new(()),
        })
    }

    fn write_txn(&self) -> StoreResult<LmdbWriteTxn<'_>> {
        let guard = WriteGuard::claim(BACKEND, &self.id)?;
        let txn = self.env.write_txn().map_err(|e| map_err("write_txn", e))?;
        Ok(LmdbWriteTxn {
            txn,
            db: self.db,
            guard,
        })
    }
}

/// A read transaction of an [`LmdbStore`].
///
/// Several threads may read it at once ([`ReadTxn::shared_get`]): LMDB allows a read
/// transaction opened without thread-local storage to move between threads, not to be used
/// by two at the same time, so every use of it (a get, a cursor's creation, each step and
/// its closing) holds `lock`. The values it returns live in the memory map and are read
/// without the lock. A reader looks a chunk up once, so the lock is rarely contended.
pub struct LmdbReadTxn<'s> {
    txn: RoTxn<'s, WithoutTls>,
    db: Db,
    lock: Mutex<()>,
}

// SAFETY: `RoTxn<WithoutTls>` is `Send`: LMDB lets another thread use the transaction. The
// only uses of `txn` through `&LmdbReadTxn` are the `ReadTxn` methods below and the
// iterators they return, and each holds `lock` for the whole of its call into LMDB, so no
// two threads use the transaction at once. What they return borrows the map, which LMDB
// never changes under a live read transaction.
#[allow(unsafe_code)]
unsafe impl Sync for LmdbReadTxn<'_> {}

/// Holds `lock` (a lock around nothing: a thread that panicked holding it left no state
/// half-changed).
fn hold(lock: &Mutex<()>) -> MutexGuard<'_, ()> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReadTxn for LmdbReadTxn<'_> {
    type Bytes<'t>
        = &'t [u8]
    where
        Self: 't;
    type Iter<'t>
        = LmdbIter<'t>
    where
        Self: 't;

    fn stored_len(&self, len: usize) -> usize {
        lmdb_stored_len(len)
    }

    fn get(&self, key: &[u8]) -> StoreResult<Option<&[u8]>> {
        let _held = hold(&self.lock);
        get(&self.db, &self.txn, key)
    }

    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<LmdbIter<'_>> {
        let _held = hold(&self.lock);
        let mut iter = range(&self.db, &self.txn, start, end)?;
        iter.lock = Some(&self.lock);
        Ok(iter)
    }

    fn shared_get(&self) -> Option<SharedGet<'_, &[u8]>> {
        Some(Arc::new(move |key| self.get(key)))
    }
}

/// The write transaction of an [`LmdbStore`].
pub struct LmdbWriteTxn<'s> {
    // Aborted (when not committed) before `guard` clears this thread's claim.
    txn: RwTxn<'s>,
    db: Db,
    guard: WriteGuard,
}

/// An ascending iterator over a range of an LMDB store.
pub struct LmdbIter<'t> {
    inner: Option<heed::RoRange<'t, Bytes, Bytes>>,
    /// The transaction's lock, held around each step and the cursor's closing, for a
    /// transaction that several threads share ([`LmdbReadTxn`]).
    lock: Option<&'t Mutex<()>>,
}

impl<'t> Iterator for LmdbIter<'t> {
    type Item = StoreResult<(&'t [u8], &'t [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let _held = self.lock.map(hold);
        let next = self.inner.as_mut()?.next()?;
        Some(next.map_err(|e| map_err("range", e)))
    }
}

impl Drop for LmdbIter<'_> {
    fn drop(&mut self) {
        let _held = self.lock.map(hold);
        // Closes the cursor while the lock is held.
        self.inner = None;
    }
}

fn get<'t>(
    db: &heed::Database<'_, Bytes, Bytes>,
    txn: &'t RoTxn,
    key: &[u8],
) -> StoreResult<Option<&'t [u8]>> {
    db.get(txn, key).map_err(|e| map_err("get", e))
}

/// Bounds LMDB accepts, or `None` when they select nothing. LMDB rejects a zero-length key
/// even as a bound; since stored keys are never empty, an empty start bound is the same as
/// no bound and an empty end bound selects nothing.
#[allow(clippy::type_complexity)]
fn lmdb_bounds<'a>(
    start: Bound<&'a [u8]>,
    end: Bound<&'a [u8]>,
) -> Option<(Bound<&'a [u8]>, Bound<&'a [u8]>)> {
    if range_is_empty(start, end) {
        return None;
    }
    let start = match start {
        Bound::Included([]) | Bound::Excluded([]) => Bound::Unbounded,
        other => other,
    };
    match end {
        Bound::Included([]) | Bound::Excluded([]) => None,
        end => Some((start, end)),
    }
}

fn range<'t>(
    db: &heed::Database<'_, Bytes, Bytes>,
    txn: &'t RoTxn,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> StoreResult<LmdbIter<'t>> {
    let Some((start, end)) = lmdb_bounds(start, end) else {
        return Ok(LmdbIter {
            inner: None,
            lock: None,
        });
    };
    let inner = db
        .range(txn, &(start, end))
        .map_err(|e| map_err("range", e))?;
    Ok(LmdbIter {
        inner: Some(inner),
        lock: None,
    })
}

/// LMDB keeps a value larger than about half a page in its own run of overflow pages, with
/// a 16-byte header; smaller values share leaf pages.
fn lmdb_stored_len(len: usize) -> usize {
    const PAGE: usize = 4096;
    if len <= PAGE / 2 {
        len
    } else {
        (len + 16).div_ceil(PAGE) * PAGE
    }
}

/// `ReadTxn` for a transaction type whose `$view` (an expression of `$this`, which may
/// return early with `?`) is the database and the LMDB transaction to read.
macro_rules! read_txn_through {
    ($ty:ty, $this:ident => $view:expr) => {
        impl ReadTxn for $ty {
            type Bytes<'t>
                = &'t [u8]
            where
                Self: 't;
            type Iter<'t>
                = LmdbIter<'t>
            where
                Self: 't;

            fn stored_len(&self, len: usize) -> usize {
                lmdb_stored_len(len)
            }

            fn get(&self, key: &[u8]) -> StoreResult<Option<&[u8]>> {
                let $this = self;
                let (db, txn) = $view;
                get(db, txn, key)
            }

            fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<LmdbIter<'_>> {
                let $this = self;
                let (db, txn) = $view;
                range(db, txn, start, end)
            }
        }
    };
}
use read_txn_through;

read_txn_through!(LmdbWriteTxn<'_>, this => {
    this.guard.check()?;
    (&this.db, &this.txn)
});

impl WriteTxn for LmdbWriteTxn<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        let (db, txn) = (&self.db, &mut self.txn);
        self.guard.write("put", || put(db, txn, key, value))
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<bool> {
        let (db, txn) = (&self.db, &mut self.txn);
        self.guard.write("delete", || delete(db, txn, key))
    }

    fn delete_range(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<u64> {
        let (db, txn) = (&self.db, &mut self.txn);
        self.guard
            .write("delete_range", || delete_range(db, txn, start, end))
    }

    fn commit(self) -> StoreResult<()> {
        self.guard.check()?;
        self.txn.commit().map_err(|e| map_err("commit", e))
    }
}

fn put(
    db: &heed::Database<'_, Bytes, Bytes>,
    txn: &mut RwTxn,
    key: &[u8],
    value: &[u8],
) -> StoreResult<()> {
    db.put(txn, key, value).map_err(|e| map_err("put", e))
}

fn delete(db: &heed::Database<'_, Bytes, Bytes>, txn: &mut RwTxn, key: &[u8]) -> StoreResult<bool> {
    db.delete(txn, key).map_err(|e| map_err("delete", e))
}

fn delete_range(
    db: &heed::Database<'_, Bytes, Bytes>,
    txn: &mut RwTxn,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> StoreResult<u64> {
    let Some((start, end)) = lmdb_bounds(start, end) else {
        return Ok(0);
    };
    let deleted = db
        .delete_range(txn, &(start, end))
        .map_err(|e| map_err("delete_range", e))?;
    Ok(deleted as u64)
}

// The concurrency table of `hannoy_graph::store`, checked at compile time.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<LmdbStore>();
    sync::<LmdbStore>();
    send::<LmdbReadTxn<'static>>();
};
