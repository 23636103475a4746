//! The index inside the application's own LMDB transactions: [`HostReadTxn`] and
//! [`HostWriteTxn`] borrow a `heed` transaction and a database handle the application
//! opened, so that its own writes and the index's commit or abort together.

use std::ops::Bound;
use std::panic::{self, AssertUnwindSafe};

use hannoy_graph::store::{ReadTxn, StoreError, StoreResult, WriteTxn};
use heed::types::Bytes;
use heed::{Database, RoTxn, RwTxn};

use super::{
    BACKEND, LmdbIter, delete, delete_range, get, lmdb_stored_len, put, range, read_txn_through,
};
use crate::write_guard::WriteGuard;

/// The index read inside a read (or write) transaction the application opened.
///
/// ```
/// use hannoy_graph::store::ReadTxn;
/// use hannoy_storage::lmdb::HostReadTxn;
/// use heed::types::Bytes;
///
/// let dir = tempfile::tempdir()?;
/// // SAFETY (of the example): nothing else touches the file while it is open.
/// let env = unsafe { heed::EnvOpenOptions::new().max_dbs(4).open(dir.path())? };
/// let index_db = env
///     .create_databases_and_commit(env.write_txn()?, |opener, wtxn| {
///         let index_db = opener.create_database::<Bytes, Bytes>(wtxn, Some("vectors"))?;
///         Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit(index_db))
///     })?
///     .unwrap_commit();
///
/// let rtxn = env.read_txn()?;
/// let index_txn = HostReadTxn::new(&rtxn, index_db)?;
/// assert!(index_txn.get(b"nothing here")?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HostReadTxn<'a, 'e> {
    txn: &'a RoTxn<'e>,
    db: Database<'a, Bytes, Bytes>,
}

impl<'a, 'e> HostReadTxn<'a, 'e> {
    /// The index in `db`, read through the application's transaction `txn` (a read
    /// transaction, or a write transaction through its `Deref`).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when `db` belongs to another environment than `txn` (heed
    /// would panic on the first read).
    pub fn new(txn: &'a RoTxn<'e>, db: Database<'a, Bytes, Bytes>) -> StoreResult<Self> {
        same_environment(&db, txn)?;
        Ok(HostReadTxn { txn, db })
    }
}

/// The index written inside the application's write transaction: the application's writes
/// and the index's are committed, or aborted, together.
///
/// The application keeps its environment, its databases and its transactions; the index
/// lives in one database of that environment (its keys do not mix with anything else, so
/// give it a database of its own, of type `Database<Bytes, Bytes>`; `remap_types` turns
/// any handle into one). What the store's own transactions do and this one does not:
///
/// - [`commit`](WriteTxn::commit) commits nothing: it only checks that no write of the
///   index failed. The application commits (or aborts) its transaction, and with it the
///   index's writes.
/// - When an index operation returns an error, the index's part of the transaction is
///   unknown: abort the application's transaction (drop it), as you would drop the store's
///   own. LMDB itself refuses to commit a transaction after a failed write (a full map).
/// - The data file is not checked for truncation before use ([`LmdbOptions::open`] does it
///   for environments it opens; see [A damaged or truncated
///   file](super#a-damaged-or-truncated-file)).
///
/// [`LmdbOptions::open`]: super::LmdbOptions::open
///
/// ```
/// use hannoy_graph::store::{ReadTxn, WriteTxn};
/// use hannoy_storage::lmdb::{HostReadTxn, HostWriteTxn};
/// use heed::types::{Bytes, Str};
///
/// let dir = tempfile::tempdir()?;
/// // SAFETY (of the example): nothing else touches the file while it is open.
/// let env = unsafe { heed::EnvOpenOptions::new().max_dbs(4).open(dir.path())? };
/// let (documents, index_db) = env
///     .create_databases_and_commit(env.write_txn()?, |opener, wtxn| {
///         let documents = opener.create_database::<Str, Str>(wtxn, Some("documents"))?;
///         let index_db = opener.create_database::<Bytes, Bytes>(wtxn, Some("vectors"))?;
///         Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit((documents, index_db)))
///     })?
///     .unwrap_commit();
///
/// // One transaction: the application's document and the index's writes.
/// let mut wtxn = env.write_txn()?;
/// documents.put(&mut wtxn, "doc-1", "a document")?;
/// let mut index_txn = HostWriteTxn::new(&mut wtxn, index_db)?;
/// index_txn.put(b"key", b"value")?;
/// index_txn.commit()?; // checks; the application's commit below writes both
/// wtxn.commit()?;
///
/// let rtxn = env.read_txn()?;
/// assert_eq!(documents.get(&rtxn, "doc-1")?, Some("a document"));
/// assert_eq!(HostReadTxn::new(&rtxn, index_db)?.get(b"key")?, Some(&b"value"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HostWriteTxn<'a, 'e> {
    txn: &'a mut RwTxn<'e>,
    db: Database<'a, Bytes, Bytes>,
    guard: WriteGuard,
}

impl<'a, 'e> HostWriteTxn<'a, 'e> {
    /// The index in `db`, written through the application's write transaction `txn`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when `db` belongs to another environment than `txn`.
    pub fn new(txn: &'a mut RwTxn<'e>, db: Database<'a, Bytes, Bytes>) -> StoreResult<Self> {
        same_environment(&db, txn)?;
        Ok(HostWriteTxn {
            txn,
            db,
            guard: WriteGuard::unclaimed(BACKEND),
        })
    }
}

/// Refuses a database handle of another environment: heed asserts that they match on every
/// call, and a failed assertion is a panic; one read here, under `catch_unwind`, turns it
/// into an error before any use.
fn same_environment(db: &Database<'_, Bytes, Bytes>, txn: &RoTxn) -> StoreResult<()> {
    match panic::catch_unwind(AssertUnwindSafe(|| get(db, txn, &[0]))) {
        Ok(read) => read.map(drop),
        Err(_) => Err(StoreError::backend(
            BACKEND,
            "open",
            "the database handle belongs to another environment than the transaction",
        )),
    }
}

read_txn_through!(HostReadTxn<'_, '_>, this => (&this.db, this.txn));
read_txn_through!(HostWriteTxn<'_, '_>, this => {
    this.guard.check()?;
    (&this.db, &**this.txn)
});

impl WriteTxn for HostWriteTxn<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        let (db, txn) = (&self.db, &mut *self.txn);
        self.guard.write("put", || put(db, txn, key, value))
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<bool> {
        let (db, txn) = (&self.db, &mut *self.txn);
        self.guard.write("delete", || delete(db, txn, key))
    }

    fn delete_range(&mut self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<u64> {
        let (db, txn) = (&self.db, &mut *self.txn);
        self.guard
            .write("delete_range", || delete_range(db, txn, start, end))
    }

    /// Commits nothing: checks that no write of the index failed
    /// ([`StoreError::WriteTxnPoisoned`] otherwise). The application commits its own
    /// transaction.
    fn commit(self) -> StoreResult<()> {
        self.guard.check()
    }
}
