//! The redb backend: one file, pure Rust.
//!
//! Everything lives in one redb table of byte keys and byte values. Reads return redb's
//! access guards, which borrow the page they read from; in the write transaction the table
//! is opened once and kept beside the transaction, so reads there borrow too.
//!
//! # Threads
//!
//! Read transactions are `Send` and `Sync`. The write transaction stays on its thread.
//!
//! # Full disk
//!
//! redb grows its file as needed; an I/O error of kind `StorageFull` (no space left on the
//! device) is reported as [`StoreError::Full`].

use std::io;
use std::ops::Bound;
use std::path::Path;

use ::redb::{
    AccessGuard, Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, WriteTransaction,
};
use hannoy_graph::store::{KvStore, ReadTxn, StoreError, StoreResult, WriteTxn, range_is_empty};
use self_cell::self_cell;

const BACKEND: &str = "redb";

/// The one table every key lives in.
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hannoy");

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
}

impl RedbStore {
    /// Opens the redb file at `path`, creating it (but not its directory) if it is missing.
    ///
    /// # Errors
    /// [`StoreError::AlreadyOpen`] if the file is open already (in this or another process);
    /// [`StoreError::Corrupted`] if it is not a redb file or is damaged;
    /// [`StoreError::Backend`] for other failures.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<RedbStore> {
        let path = path.as_ref();
        let db = Database::create(path).map_err(|e| match e {
            ::redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
                backend: BACKEND,
                path: path.display().to_string(),
            },
            other => map_err("open", other),
        })?;
        let wtxn = db.begin_write().map_err(|e| map_err("open", e))?;
        wtxn.open_table(TABLE).map_err(|e| map_err("open", e))?;
        wtxn.commit().map_err(|e| map_err("open", e))?;
        Ok(RedbStore { db })
    }

    /// A store over a redb database the caller opened; the table `"hannoy"` is created if
    /// it is missing.
    ///
    /// # Errors
    /// As [`RedbStore::open`].
    pub fn from_database(db: Database) -> StoreResult<RedbStore> {
        let wtxn = db.begin_write().map_err(|e| map_err("open", e))?;
        wtxn.open_table(TABLE).map_err(|e| map_err("open", e))?;
        wtxn.commit().map_err(|e| map_err("open", e))?;
        Ok(RedbStore { db })
    }

    /// The redb database.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// Maps any redb error, keeping "disk full" and corruption distinct.
fn map_err(operation: &'static str, error: impl Into<::redb::Error>) -> StoreError {
    match error.into() {
        ::redb::Error::Io(io) if io.kind() == io::ErrorKind::StorageFull => StoreError::Full {
            backend: BACKEND,
            source: Some(io.into()),
        },
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
        let txn = self.db.begin_read().map_err(|e| map_err("read_txn", e))?;
        let table = txn.open_table(TABLE).map_err(|e| map_err("read_txn", e))?;
        Ok(RedbReadTxn { table, _txn: txn })
    }

    fn write_txn(&self) -> StoreResult<RedbWriteTxn> {
        let txn = self.db.begin_write().map_err(|e| map_err("write_txn", e))?;
        let cell = WriteCell::try_new(txn, |txn| txn.open_table(TABLE))
            .map_err(|e| map_err("write_txn", e))?;
        Ok(RedbWriteTxn { cell })
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
    cell: WriteCell,
}

/// Bytes borrowed from a redb page.
pub struct RedbBytes<'t>(AccessGuard<'t, &'static [u8]>);

impl AsRef<[u8]> for RedbBytes<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.value()
    }
}

/// An ascending iterator over a range of a redb store.
pub struct RedbIter<'t> {
    inner: Option<::redb::Range<'t, &'static [u8], &'static [u8]>>,
}

impl<'t> Iterator for RedbIter<'t> {
    type Item = StoreResult<(RedbBytes<'t>, RedbBytes<'t>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.inner.as_mut()?.next()?;
        Some(
            next.map(|(k, v)| (RedbBytes(k), RedbBytes(v)))
                .map_err(|e| map_err("range", e)),
        )
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

impl ReadTxn for RedbReadTxn {
    type Bytes<'t> = RedbBytes<'t>;
    type Iter<'t> = RedbIter<'t>;

    fn stored_len(&self, len: usize) -> usize {
        redb_stored_len(len)
    }

    fn get(&self, key: &[u8]) -> StoreResult<Option<RedbBytes<'_>>> {
        let value = self.table.get(key).map_err(|e| map_err("get", e))?;
        Ok(value.map(RedbBytes))
    }

    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<RedbIter<'_>> {
        if range_is_empty(start, end) {
            return Ok(RedbIter { inner: None });
        }
        let inner = self
            .table
            .range::<&[u8]>((start, end))
            .map_err(|e| map_err("range", e))?;
        Ok(RedbIter { inner: Some(inner) })
    }
}

impl ReadTxn for RedbWriteTxn {
    type Bytes<'t> = RedbBytes<'t>;
    type Iter<'t> = RedbIter<'t>;

    fn stored_len(&self, len: usize) -> usize {
        redb_stored_len(len)
    }

    fn get(&self, key: &[u8]) -> StoreResult<Option<RedbBytes<'_>>> {
        let value = self
            .cell
            .borrow_dependent()
            .get(key)
            .map_err(|e| map_err("get", e))?;
        Ok(value.map(RedbBytes))
    }

    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<RedbIter<'_>> {
        if range_is_empty(start, end) {
            return Ok(RedbIter { inner: None });
        }
        let table = self.cell.borrow_dependent();
        let inner = table
            .range::<&[u8]>((start, end))
            .map_err(|e| map_err("range", e))?;
        Ok(RedbIter { inner: Some(inner) })
    }
}

impl WriteTxn for RedbWriteTxn {
    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.cell.with_dependent_mut(|_, table| {
            table
                .insert(key, value)
                .map(drop)
                .map_err(|e| map_err("put", e))
        })
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<bool> {
        self.cell.with_dependent_mut(|_, table| {
            table
                .remove(key)
                .map(|old| old.is_some())
                .map_err(|e| map_err("delete", e))
        })
    }

    fn delete_range(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<u64> {
        if range_is_empty(start, end) {
            return Ok(0);
        }
        self.cell.with_dependent_mut(|_, table| {
            let removed = table
                .extract_from_if::<&[u8], _>((start, end), |_, _| true)
                .map_err(|e| map_err("delete_range", e))?;
            let mut count = 0;
            for entry in removed {
                entry.map_err(|e| map_err("delete_range", e))?;
                count += 1;
            }
            Ok(count)
        })
    }

    fn commit(self) -> StoreResult<()> {
        // Closes the table, then commits the transaction it belonged to.
        let txn = self.cell.into_owner();
        txn.commit().map_err(|e| map_err("commit", e))
    }
}

// The concurrency table of `hannoy_graph::store`, checked at compile time.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<RedbStore>();
    sync::<RedbStore>();
    send::<RedbReadTxn>();
    sync::<RedbReadTxn>();
};
