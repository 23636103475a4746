//! The index inside the application's own redb transactions: [`HostReadTxn`] and
//! [`HostWriteTxn`] open the index's table in a transaction the application began, so that
//! its own tables and the index commit or abort together.

use std::marker::PhantomData;
use std::ops::Bound;
use std::panic::{self, AssertUnwindSafe};

use ::redb::{ReadOnlyTable, ReadTransaction, TableDefinition, TableError, WriteTransaction};
use hannoy_graph::store::{ReadTxn, StoreResult, WriteTxn};

use super::guarded::{RedbBytes, RedbIter, guarded, table_get, table_range};
use super::{
    BACKEND, Table, closed, map_err, read_txn_through, redb_stored_len, table_delete,
    table_delete_range, table_put,
};
use crate::write_guard::WriteGuard;

/// The index read inside a read transaction the application began. A table that does not
/// exist yet reads as empty (no index in it).
///
/// ```
/// use hannoy_graph::store::{ReadTxn, WriteTxn};
/// use hannoy_storage::redb::{HostReadTxn, HostWriteTxn, TABLE};
/// use redb::{ReadableDatabase, TableDefinition};
///
/// const DOCUMENTS: TableDefinition<&str, &str> = TableDefinition::new("documents");
///
/// let dir = tempfile::tempdir()?;
/// let db = redb::Database::create(dir.path().join("app.redb"))?;
/// let wtxn = db.begin_write()?;
/// wtxn.open_table(DOCUMENTS)?.insert("doc-1", "a document")?;
/// {
///     let mut index_txn = HostWriteTxn::new(&wtxn, TABLE)?;
///     index_txn.put(b"key", b"value")?;
///     index_txn.commit()?; // checks and closes the table; the commit below writes both
/// }
/// wtxn.commit()?;
///
/// let rtxn = db.begin_read()?;
/// let index_txn = HostReadTxn::new(&rtxn, TABLE)?;
/// assert_eq!(index_txn.get(b"key")?.as_ref().map(|v| v.as_ref()), Some(&b"value"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HostReadTxn<'a> {
    /// `None`: the table does not exist in this snapshot.
    table: Option<ReadOnlyTable<&'static [u8], &'static [u8]>>,
    _txn: PhantomData<&'a ReadTransaction>,
}

impl<'a> HostReadTxn<'a> {
    /// The index in `table`, read through the application's transaction `txn`.
    ///
    /// # Errors
    /// A table of that name with other key or value types, and redb's other errors
    /// ([`StoreError::Corrupted`](hannoy_graph::store::StoreError::Corrupted) when redb
    /// panics on a damaged page).
    pub fn new(
        txn: &'a ReadTransaction,
        table: TableDefinition<'_, &'static [u8], &'static [u8]>,
    ) -> StoreResult<Self> {
        let table = guarded("open", || match txn.open_table(table) {
            Ok(table) => Ok(Some(table)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(other) => Err(map_err("open", other)),
        })?;
        Ok(HostReadTxn {
            table,
            _txn: PhantomData,
        })
    }
}

/// The index written inside the application's write transaction: the application's tables
/// and the index are committed, or aborted, together ([`HostReadTxn`] has an example).
///
/// The index needs a table of its own, of byte keys and byte values ([`TABLE`] is the one a
/// [`RedbStore`](super::RedbStore) uses). What the store's own transactions do and this one
/// does not:
///
/// - [`commit`](WriteTxn::commit) commits nothing: it only checks that no write of the
///   index failed. Drop the `HostWriteTxn` (which closes the index's table), then commit or
///   abort the application's transaction.
/// - When an index operation returns an error, the index's part of the transaction is
///   unknown: abort the application's transaction, as you would drop the store's own.
/// - redb opens a table once at a time per transaction: while a `HostWriteTxn` is alive, the
///   application cannot open the index's table itself (redb's `TableAlreadyOpen`).
///
/// Every call into redb runs under `catch_unwind`, as in the store's own transactions (see
/// [A damaged file](super#a-damaged-file)).
///
/// [`TABLE`]: super::TABLE
pub struct HostWriteTxn<'a> {
    /// `None` once closed (or while being dropped).
    table: Option<Table<'a>>,
    guard: WriteGuard,
}

impl<'a> HostWriteTxn<'a> {
    /// The index in `table` (created if missing), written through the application's
    /// transaction `txn`.
    ///
    /// # Errors
    /// The table open already in `txn`, of other key or value types, and redb's other
    /// errors.
    pub fn new(
        txn: &'a WriteTransaction,
        table: TableDefinition<'_, &'static [u8], &'static [u8]>,
    ) -> StoreResult<Self> {
        let table = guarded("open", || {
            txn.open_table(table).map_err(|e| map_err("open", e))
        })?;
        Ok(HostWriteTxn {
            table: Some(table),
            guard: WriteGuard::unclaimed(BACKEND),
        })
    }

    /// The table, unless poisoned.
    fn table(&self) -> StoreResult<&Table<'a>> {
        self.guard.check()?;
        self.table.as_ref().ok_or_else(closed)
    }

    /// Runs a write on the table: guarded against panics, and poisoning the transaction when
    /// it fails.
    fn write<T>(
        &mut self,
        operation: &'static str,
        write: impl FnOnce(&mut Table<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let table = &mut self.table;
        self.guard.write(operation, || {
            let table = table.as_mut().ok_or_else(closed)?;
            guarded(operation, || write(table))
        })
    }
}

impl Drop for HostWriteTxn<'_> {
    fn drop(&mut self) {
        // Closing the table writes its root into the transaction, which a damaged page can
        // make panic.
        if let Some(table) = self.table.take() {
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(table)));
        }
    }
}

read_txn_through!(HostReadTxn<'_>, this => (this.table.as_ref(), None));
read_txn_through!(HostWriteTxn<'_>, this => (Some(this.table()?), Some(&this.guard)));

impl WriteTxn for HostWriteTxn<'_> {
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

    /// Commits nothing: checks that no write of the index failed
    /// ([`StoreError::WriteTxnPoisoned`](hannoy_graph::store::StoreError::WriteTxnPoisoned)
    /// otherwise) and closes the index's table. The application commits its own transaction.
    fn commit(self) -> StoreResult<()> {
        self.guard.check()
    }
}
