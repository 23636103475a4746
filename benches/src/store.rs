//! The store a benchmark run builds into: one backend, created afresh or reopened, with what
//! measures its size and what drops it from the page cache.

use std::path::{Path, PathBuf};

use hannoy::Database;
use hannoy::storage::{LmdbStore, MemoryStore, RedbStore};

use crate::stats;

/// A store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// LMDB through heed.
    Lmdb,
    /// redb.
    Redb,
    /// The in-memory store.
    Memory,
}

impl Backend {
    /// The backend's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Lmdb => "lmdb",
            Backend::Redb => "redb",
            Backend::Memory => "memory",
        }
    }
}

/// A store of one backend. The on-disk ones keep their path, so they can be closed and
/// reopened (for the cold-cache figures) and measured.
pub enum Store {
    /// LMDB, in a directory.
    Lmdb(Database<LmdbStore>, PathBuf),
    /// redb, in a file.
    Redb(Database<RedbStore>, PathBuf),
    /// Memory.
    Memory(Database<MemoryStore>),
}

impl Store {
    /// An empty store of `backend` named `name` under `root` (what was there is removed).
    ///
    /// # Errors
    /// I/O and store errors, as text.
    pub fn create(backend: Backend, root: &Path, name: &str) -> Result<Store, String> {
        let dir = root.join(format!("{name}-{}", backend.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = match backend {
            Backend::Redb => dir.join("index.redb"),
            Backend::Lmdb | Backend::Memory => dir,
        };
        Store::open(backend, path)
    }

    /// Opens the store of `backend` at `path` (a memory store starts empty).
    ///
    /// # Errors
    /// Store errors, as text.
    pub fn open(backend: Backend, path: PathBuf) -> Result<Store, String> {
        Ok(match backend {
            Backend::Lmdb => Store::Lmdb(Database::open(&path).map_err(|e| e.to_string())?, path),
            Backend::Redb => {
                Store::Redb(Database::open_redb(&path).map_err(|e| e.to_string())?, path)
            }
            Backend::Memory => Store::Memory(Database::in_memory()),
        })
    }

    /// The backend's name.
    pub fn name(&self) -> &'static str {
        self.backend().name()
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Lmdb(..) => Backend::Lmdb,
            Store::Redb(..) => Backend::Redb,
            Store::Memory(_) => Backend::Memory,
        }
    }

    /// Where the store lives on disk (`None` for memory).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Store::Lmdb(_, path) | Store::Redb(_, path) => Some(path),
            Store::Memory(_) => None,
        }
    }

    /// The bytes the store's live data takes: for LMDB, the size of a compacted copy (the
    /// file keeps its high-water mark: pages freed by a build, such as the vectors a
    /// codes-only build deletes in the transaction that wrote them, stay in it until
    /// reused); otherwise [`size`](Self::size).
    pub fn live_size(&self) -> Result<u64, String> {
        let Store::Lmdb(db, _) = self else {
            return Ok(self.size());
        };
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let copy = dir.path().join("compacted.mdb");
        db.store()
            .env()
            .copy_to_path(&copy, heed::CompactionOption::Enabled)
            .map_err(|e| e.to_string())?;
        Ok(stats::disk_size(&copy))
    }

    /// Bytes the store takes: on disk, or committed in memory.
    pub fn size(&self) -> u64 {
        match self {
            Store::Lmdb(_, path) | Store::Redb(_, path) => stats::disk_size(path),
            Store::Memory(db) => db.store().committed_bytes(),
        }
    }
}

/// Evaluates `$body` with `$db` bound to `$store`'s database (`&Database<S>` of its
/// backend's store type): the one place a run's code is dispatched over the backends.
#[macro_export]
macro_rules! on_database {
    ($store:expr, |$db:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Lmdb($db, _) => $body,
            $crate::store::Store::Redb($db, _) => $body,
            $crate::store::Store::Memory($db) => $body,
        }
    };
}
