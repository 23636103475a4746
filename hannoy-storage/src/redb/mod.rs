//! The redb backend: one file, pure Rust.
//!
//! Everything lives in one redb table of byte keys and byte values. Reads return redb's
//! access guards, which borrow the page they read from; in the write transaction the table
//! is opened once and kept beside the transaction, so reads there borrow too.
//!
//! # Threads
//!
//! Read transactions are `Send` and `Sync`. The write transaction stays on its thread; a
//! second one asked for on that thread is [`StoreError::WriteTxnBusy`], where redb would
//! wait forever.
//!
//! # A damaged file
//!
//! redb checks much of what it reads, but some damaged pages make it panic (an assertion
//! on the allocator state, slice bounds in a B-tree page, and in debug builds its
//! "unreachable" checks). Every call into redb therefore runs under
//! [`std::panic::catch_unwind`], and a panic comes out as [`StoreError::Corrupted`] with
//! redb's panic message in it; a write transaction in which one happened is poisoned like
//! after any failed write, so it is never committed. When nothing panics this costs
//! little: on 10,000 keys of 64-byte values, `get` ran at 370-430 ns with it and 377-411
//! ns without, range iteration at 85-118 ns per entry with it and 72-98 ns without (a
//! busy 2-core machine: within its noise). The process's panic hook still runs, so the
//! message is also
//! printed to stderr (replacing the hook is the application's choice, not a library's);
//! and in a build with `panic = "abort"` there is nothing to catch.
//!
//! # Full disk
//!
//! redb grows its file as needed; an I/O error of kind `StorageFull` (no space left on the
//! device) is reported as [`StoreError::Full`].

use std::io;
use std::ops::Bound;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use ::redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, TableDefinition, WriteTransaction,
};
use hannoy_graph::store::{
    KvStore, ReadTxn, SharedGet, StoreError, StoreResult, WriteTxn, range_is_empty, share,
};
use self_cell::self_cell;

mod guarded;
mod host;

/// The redb crate this backend is built on, for the application's own tables and
/// transactions beside the index.
pub use ::redb;
pub use guarded::{RedbBytes, RedbIter};
use guarded::{guarded, table_get, table_range};
pub use host::{HostReadTxn, HostWriteTxn};

use crate::write_guard::{StoreId, WriteGuard};

const BACKEND: &str = "redb";

/// The one table every key of a [`RedbStore`] lives in; give it to [`HostWriteTxn::new`]
/// and [`HostReadTxn::new`] to reach a `RedbStore`'s indexes from the application's own
/// transactions.
pub const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hannoy");

type Table<'txn> = ::redb::Table<'txn, &'static [u8], &'static [u8]>;

/// A store in one redb file; see the [module docs](self).
///
/// ```
/// use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
/// use hannoy_storage::redb::RedbStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = RedbStore::open(dir.path().join("index.redb"))?;
/// let mut wtxn = store.write_txn()?;
/// wtxn.put(b"key", b"value")?;
/// wtxn.commit()?;
///
/// let rtxn = store.read_txn()?;
/// assert_eq!(rtxn.get(b"key")?.as_ref().map(|v| v.as_ref()), Some(&b"value"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedbStore {
    db: Database,
    /// redb locks a file once per process, so each store value is its own writer.
    id: StoreId,
}

impl RedbStore {
    /// Opens the redb file at `path`, creating it (but not its directory) if it is missing.
    ///
    /// # Errors
    /// [`StoreError::AlreadyOpen`] if the file is open already (in this or another process);
    /// [`StoreError::Corrupted`] if it is not a redb file or is damaged (redb panicking on
    /// it included, see [A damaged file](self#a-damaged-file));
    /// [`StoreError::Io`] for I/O errors (a missing directory, a permission);
    /// [`StoreError::Backend`] for other failures.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<RedbStore> {
        let path = path.as_ref();
        let db = guarded("open", || {
            Database::create(path).map_err(|e| match e {
                ::redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
                    backend: BACKEND,
                    path: path.display().to_string(),
                },
                other => map_err("open", other),
            })
        })
        .map_err(|e| match e {
            StoreError::Corrupted { what, key } => StoreError::Corrupted {
                what: format!("{}: {what}", path.display()),
                key,
            },
            other => other,
        })?;
        Self::from_database(db)
    }

    /// A store over a redb database the caller opened; the table `"hannoy"` is created if
    /// it is missing. A write transaction the caller opens on the database directly is not
    /// seen by the [`StoreError::WriteTxnBusy`] check.
    ///
    /// # Errors
    /// As [`RedbStore::open`].
    pub fn from_database(db: Database) -> StoreResult<RedbStore> {
        guarded("open", || {
            let wtxn = db.begin_write().map_err(|e| map_err("open", e))?;
            wtxn.open_table(TABLE).map_err(|e| map_err("open", e))?;
            wtxn.commit().map_err(|e| map_err("open", e))
        })?;
        Ok(RedbStore {
            db,
            id: StoreId::fresh(),
        })
    }

    /// The redb database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Compacts the file: moves its pages down and truncates it, returning the space freed
    /// by deletes and rewrites (and the tail redb grew the file by ahead of use) to the
    /// file system. Needs every transaction of this store finished; it takes the store
    /// mutably, so none of this store's can be open. Returns whether anything moved.
    ///
    /// A store holds deleted pages for reuse; compact after large deletions or before
    /// shipping a store elsewhere (a copy of the file copies its length, holes included).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a transaction is still open, or redb fails.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hannoy_storage::RedbStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut store = RedbStore::open(dir.path().join("index.redb"))?;
    /// store.compact()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn compact(&mut self) -> StoreResult<bool> {
        let db = &mut self.db;
        guarded("compact", || {
            db.compact().map_err(|e| map_err("compact", e))
        })
    }
}

/// Maps any redb error, keeping "disk full" and corruption distinct.
fn map_err(operation: &'static str, error: impl Into<::redb::Error>) -> StoreError {
    match error.into() {
        ::redb::Error::Io(io) if io.kind() == io::ErrorKind::StorageFull => StoreError::Full {
            backend: BACKEND,
            hint: ": the disk is full",
            source: Some(io.into()),
        },
        ::redb::Error::Io(io) => StoreError::io(BACKEND, operation, io),
        ::redb::Error::Corrupted(what) => StoreError::Corrupted {
            what,
            key: Vec::new(),
        },
        other => StoreError::backend(BACKEND, operation, other),
    }
}

impl KvStore for RedbStore {
    type ReadTxn<'s> = RedbReadTxn;
    type WriteTxn<'s> = RedbWriteTxn;

    fn read_txn(&self) -> StoreResult<RedbReadTxn> {
        guarded("read_txn", || {
            let txn = self.db.begin_read().map_err(|e| map_err("read_txn", e))?;
            let table = txn.open_table(TABLE).map_err(|e| map_err("read_txn", e))?;
            Ok(RedbReadTxn { table, _txn: txn })
        })
    }

    fn write_txn(&self) -> StoreResult<RedbWriteTxn> {
        let guard = WriteGuard::claim(BACKEND, &self.id)?;
        let cell = guarded("write_txn", || {
            let txn = self.db.begin_write().map_err(|e| map_err("write_txn", e))?;
            WriteCell::try_new(txn, |txn| txn.open_table(TABLE))
                .map_err(|e| map_err("write_txn", e))
        })?;
        Ok(RedbWriteTxn {
            cell: Some(cell),
            guard,
        })
    }
}

/// A read transaction of a [`RedbStore`].
pub struct RedbReadTxn {
    // Dropped before the transaction it was opened from.
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
    _txn: ReadTransaction,
}

self_cell!(
    /// The write transaction with its table opened once.
    struct WriteCell {
        owner: WriteTransaction,
        #[covariant]
        dependent: Table,
    }
);

/// The write transaction of a [`RedbStore`].
pub struct RedbWriteTxn {
    /// `None` once committed (or while being dropped).
    cell: Option<WriteCell>,
    guard: WriteGuard,
}

impl RedbWriteTxn {
    /// The transaction and its table, unless poisoned.
    #[inline]
    fn cell(&self) -> StoreResult<&WriteCell> {
        self.guard.check()?;
        self.cell.as_ref().ok_or_else(closed)
    }
}

#[cold]
fn closed() -> StoreError {
    StoreError::backend(BACKEND, "write", "the write transaction is closed")
}

impl Drop for RedbWriteTxn {
    fn drop(&mut self) {
        // Dropping aborts the transaction, which a damaged page can make panic too. (A panic
        // here while another one unwinds aborts the process, as any double panic does.)
        if let Some(cell) = self.cell.take() {
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(cell)));
        }
    }
}

/// redb stores a large value in a leaf page of its own, allocated in a power-of-two number
/// of 4 KiB pages (its buddy allocator); the page header and the entry's key and offsets take
/// a few dozen bytes of it.
fn redb_stored_len(len: usize) -> usize {
    const PAGE: usize = 4096;
    if len <= PAGE / 2 {
        len
    } else {
        (len + 64).div_ceil(PAGE).next_power_of_two() * PAGE
    }
}

/// `ReadTxn` for a transaction type whose `$view` (an expression of `$this`, which may
/// return early with `?`) is its table (`None`: a table that does not exist, read as empty)
/// and the write transaction's guard, if it is one.
/// With `shared_get`, for a transaction several threads may read.
macro_rules! read_txn_through {
    ($ty:ty, $this:ident => $view:expr $(, $shared:ident)?) => {
        impl ReadTxn for $ty {
            type Bytes<'t>
                = RedbBytes<'t>
            where
                Self: 't;
            type Iter<'t>
                = RedbIter<'t>
            where
                Self: 't;

            fn stored_len(&self, len: usize) -> usize {
                redb_stored_len(len)
            }

            fn get(&self, key: &[u8]) -> StoreResult<Option<RedbBytes<'_>>> {
                let $this = self;
                match $view {
                    (Some(table), guard) => table_get(table, key, guard),
                    (None, _) => Ok(None),
                }
            }

            fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<RedbIter<'_>> {
                let $this = self;
                match $view {
                    (Some(table), guard) => table_range(table, start, end, guard),
                    (None, _) => Ok(RedbIter::empty()),
                }
            }

            $(
                fn $shared(&self) -> Option<SharedGet<'_, RedbBytes<'_>>> {
                    share(self)
                }
            )?
        }
    };
}
use read_txn_through;

read_txn_through!(RedbReadTxn, this => (Some(&this.table), None), shared_get);
read_txn_through!(RedbWriteTxn, this => (
    Some(this.cell()?.borrow_dependent()),
    Some(&this.guard),
));

impl RedbWriteTxn {
    /// Runs a write on the table: guarded against panics, and poisoning the transaction
    /// when it fails.
    fn write<T>(
        &mut self,
        operation: &'static str,
        write: impl FnOnce(&mut Table<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let cell = &mut self.cell;
        self.guard.write(operation, || {
            let cell = cell.as_mut().ok_or_else(closed)?;
            guarded(operation, || {
                cell.with_dependent_mut(|_, table| write(table))
            })
        })
    }
}

impl WriteTxn for RedbWriteTxn {
    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.write("put", |table| table_put(table, key, value))
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<bool> {
        self.write("delete", |table| table_delete(table, key))
    }

    fn delete_range(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<u64> {
        self.write("delete_range", |table| {
            table_delete_range(table, start, end)
        })
    }

    fn commit(mut self) -> StoreResult<()> {
        self.guard.check()?;
        let cell = self.cell.take().ok_or_else(closed)?;
        guarded("commit", || {
            // Closes the table, then commits the transaction it belonged to.
            let txn = cell.into_owner();
            txn.commit().map_err(|e| map_err("commit", e))
        })
    }
}

fn table_put(table: &mut Table<'_>, key: &[u8], value: &[u8]) -> StoreResult<()> {
    table
        .insert(key, value)
        .map(drop)
        .map_err(|e| map_err("put", e))
}

fn table_delete(table: &mut Table<'_>, key: &[u8]) -> StoreResult<bool> {
    table
        .remove(key)
        .map(|old| old.is_some())
        .map_err(|e| map_err("delete", e))
}

fn table_delete_range(
    table: &mut Table<'_>,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> StoreResult<u64> {
    if range_is_empty(start, end) {
        return Ok(0);
    }
    let removed = table
        .extract_from_if::<&[u8], _>((start, end), |_, _| true)
        .map_err(|e| map_err("delete_range", e))?;
    let mut count = 0;
    for entry in removed {
        entry.map_err(|e| map_err("delete_range", e))?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests;

// The concurrency table of `hannoy_graph::store`, checked at compile time.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<RedbStore>();
    sync::<RedbStore>();
    send::<RedbReadTxn>();
    sync::<RedbReadTxn>();
};
