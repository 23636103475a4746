//! The backends under test, as [`Backend`] implementations.

use std::path::Path;

use hannoy_storage::lmdb::LmdbStore;
use hannoy_storage::memory::MemoryStore;
use hannoy_storage::redb::RedbStore;

use crate::{Backend, BoundedBackend, PersistentBackend};

/// LMDB through heed, in a directory.
pub struct Lmdb;

impl Backend for Lmdb {
    type Store = LmdbStore;

    fn create(dir: &Path) -> LmdbStore {
        LmdbStore::open(dir).expect("open a fresh LMDB store")
    }
}

impl PersistentBackend for Lmdb {
    fn reopen(dir: &Path) -> LmdbStore {
        LmdbStore::open(dir).expect("reopen the LMDB store")
    }
}

impl BoundedBackend for Lmdb {
    fn create_bounded(dir: &Path, bytes: usize) -> LmdbStore {
        LmdbStore::options()
            .map_size(bytes)
            .open(dir)
            .expect("open a small LMDB store")
    }
}

/// redb, one file in the directory.
pub struct Redb;

impl Backend for Redb {
    type Store = RedbStore;

    fn create(dir: &Path) -> RedbStore {
        RedbStore::open(dir.join("store.redb")).expect("open a fresh redb store")
    }
}

impl PersistentBackend for Redb {
    fn reopen(dir: &Path) -> RedbStore {
        RedbStore::open(dir.join("store.redb")).expect("reopen the redb store")
    }
}

/// The in-memory store (the directory is unused).
pub struct Memory;

impl Backend for Memory {
    type Store = MemoryStore;

    fn create(_dir: &Path) -> MemoryStore {
        MemoryStore::new()
    }
}

impl BoundedBackend for Memory {
    fn create_bounded(_dir: &Path, bytes: usize) -> MemoryStore {
        MemoryStore::with_byte_budget(bytes as u64)
    }
}
