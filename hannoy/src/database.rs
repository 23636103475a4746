//! [`Database`]: a store of one backend, holding any number of indexes.

#[cfg(any(feature = "lmdb", feature = "redb"))]
use std::path::Path;

use hannoy_graph::store::{KvStore, StoreError};
use hannoy_storage::MemoryStore;
#[cfg(feature = "lmdb")]
use hannoy_storage::lmdb::{LmdbOptions, LmdbStore};
#[cfg(feature = "redb")]
use hannoy_storage::redb::RedbStore;

/// A key-value store holding indexes (numbered by a `u16`), with its transactions.
///
/// `Database` is a thin handle: transactions come from the backend, and
/// [`Writer`](crate::Writer)s and [`Reader`](crate::Reader)s work on them.
#[cfg(feature = "lmdb")]
pub struct Database<S: KvStore = LmdbStore> {
    store: S,
}

/// A key-value store holding indexes (numbered by a `u16`), with its transactions.
#[cfg(not(feature = "lmdb"))]
pub struct Database<S: KvStore> {
    store: S,
}

#[cfg(feature = "lmdb")]
impl Database<LmdbStore> {
    /// Opens (creating it if needed) an LMDB store in directory `path`, with a 64 GiB map
    /// ([`hannoy_storage::lmdb::DEFAULT_MAP_SIZE`]; address space, not memory or disk).
    ///
    /// # Errors
    /// [`StoreError::AlreadyOpen`] when this process has it open already; I/O errors.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(Database {
            store: LmdbStore::open(path)?,
        })
    }

    /// Opens an LMDB store with the given options (map size, readers).
    ///
    /// # Errors
    /// As [`Database::open`].
    pub fn open_with(options: &LmdbOptions, path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(Database {
            store: options.open(path)?,
        })
    }
}

#[cfg(feature = "redb")]
impl Database<RedbStore> {
    /// Opens (creating it if needed) the redb file at `path`.
    ///
    /// # Errors
    /// [`StoreError::AlreadyOpen`], corruption and I/O errors.
    pub fn open_redb(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(Database {
            store: RedbStore::open(path)?,
        })
    }
}

impl Database<MemoryStore> {
    /// An empty store in memory.
    pub fn in_memory() -> Self {
        Database {
            store: MemoryStore::new(),
        }
    }
}

impl<S: KvStore> Database<S> {
    /// A database over a store opened by other means.
    pub fn from_store(store: S) -> Self {
        Database { store }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Opens a read transaction: a snapshot of the last commit.
    ///
    /// # Errors
    /// The backend's error.
    pub fn read_txn(&self) -> Result<S::ReadTxn<'_>, StoreError> {
        self.store.read_txn()
    }

    /// Opens the write transaction, waiting while another thread (or process) has it open.
    /// A write that fails poisons the transaction: it can then only be dropped (see
    /// [`WriteTxn`](crate::WriteTxn)).
    ///
    /// # Errors
    /// [`StoreError::WriteTxnBusy`] when this thread has the write transaction open
    /// already (waiting would never end); the backend's error.
    pub fn write_txn(&self) -> Result<S::WriteTxn<'_>, StoreError> {
        self.store.write_txn()
    }
}
