//! The opened store of a `Database`, shared by its readers and writers.
//!
//! An LMDB environment or a redb file can be open once per process. Opening the same path
//! again (another `Database` object) shares the store that is open already, when the
//! settings agree, and raises `AlreadyOpenError` when they do not: never silently with the
//! other settings. The registry is keyed by backend and canonical path and holds weak
//! references: the store closes when the last `Database`, reader and writer using it are gone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use hannoy::storage::MemoryStore;
use hannoy::storage::lmdb::{DEFAULT_MAP_SIZE, LmdbOptions, LmdbStore};
use hannoy::storage::redb::RedbStore;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use crate::errors::{AlreadyOpenError, WriterBusyError, store_to_py, value_error};

/// Which storage backend a database uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// LMDB: a directory, memory-mapped.
    Lmdb,
    /// redb: one file.
    Redb,
    /// In memory; nothing persists.
    Memory,
}

impl Backend {
    /// The backend named `name`.
    pub fn parse(name: &str) -> PyResult<Backend> {
        match name.to_ascii_lowercase().as_str() {
            "lmdb" => Ok(Backend::Lmdb),
            "redb" => Ok(Backend::Redb),
            "memory" => Ok(Backend::Memory),
            _ => Err(value_error(format!(
                "unknown backend {name:?}: use \"lmdb\", \"redb\" or \"memory\""
            ))),
        }
    }

    /// The backend's name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Lmdb => "lmdb",
            Backend::Redb => "redb",
            Backend::Memory => "memory",
        }
    }
}

/// An open store of one of the backends.
pub enum Store {
    /// LMDB.
    Lmdb(LmdbStore),
    /// redb.
    Redb(RedbStore),
    /// Memory.
    Memory(MemoryStore),
}

/// A store with what this process knows about it.
pub struct Shared {
    /// The store.
    pub store: Store,
    /// The canonical path, for persistent backends.
    pub path: Option<PathBuf>,
    /// The LMDB map size in bytes.
    pub map_size: Option<usize>,
    /// Whether a writer is open (a second one would wait forever for the first).
    writer_open: AtomicBool,
}

impl Shared {
    /// Marks the store as having an open writer, until the returned guard is dropped.
    ///
    /// # Errors
    /// `WriterBusyError` when a writer is open already.
    pub fn claim_writer(self: &Arc<Self>) -> PyResult<WriterClaim> {
        if self
            .writer_open
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(WriterBusyError::new_err(
                "a writer is open on this database already (in this process): commit or abort \
                 it first",
            ));
        }
        Ok(WriterClaim(Arc::clone(self)))
    }
}

/// The open-writer mark of a store; dropping it lets another writer open.
pub struct WriterClaim(Arc<Shared>);

impl Drop for WriterClaim {
    fn drop(&mut self) {
        self.0.writer_open.store(false, Ordering::Release);
    }
}

type Registry = HashMap<(Backend, PathBuf), Weak<Shared>>;

static OPEN: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

/// Opens the store of `backend` at `path`, or shares the one this process has open there.
///
/// # Errors
/// `ValueError` for a path or map size the backend does not take; `AlreadyOpenError` when the
/// store is open with another map size; `OSError` and store errors from opening.
pub fn open(
    backend: Backend,
    path: Option<&Path>,
    map_size: Option<usize>,
) -> PyResult<Arc<Shared>> {
    if backend != Backend::Lmdb && map_size.is_some() {
        return Err(value_error(format!(
            "map_size applies to the lmdb backend only, not {}",
            backend.name()
        )));
    }
    let Some(path) = path else {
        return match backend {
            Backend::Memory => Ok(Arc::new(Shared {
                store: Store::Memory(MemoryStore::new()),
                path: None,
                map_size: None,
                writer_open: AtomicBool::new(false),
            })),
            _ => Err(value_error(format!(
                "the {} backend needs a path",
                backend.name()
            ))),
        };
    };
    if backend == Backend::Memory {
        return Err(value_error(
            "the memory backend keeps nothing on disk: pass path=None",
        ));
    }
    let canonical = canonical_path(backend, path)?;
    let mut registry = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    registry.retain(|_, shared| shared.strong_count() > 0);
    let key = (backend, canonical.clone());
    if let Some(shared) = registry.get(&key).and_then(Weak::upgrade) {
        if map_size.is_some() && map_size != shared.map_size {
            return Err(AlreadyOpenError::new_err(format!(
                "{} is open in this process with map_size={}, not {}: use the same map_size, \
                 or drop every Database, reader and writer on it first",
                canonical.display(),
                shared.map_size.unwrap_or(DEFAULT_MAP_SIZE),
                map_size.unwrap_or(DEFAULT_MAP_SIZE),
            )));
        }
        return Ok(shared);
    }
    let (store, map_size) = match backend {
        Backend::Lmdb => {
            let map_size = map_size.unwrap_or(DEFAULT_MAP_SIZE);
            let store = LmdbOptions::default()
                .map_size(map_size)
                .open(&canonical)
                .map_err(|e| store_to_py(&e))?;
            (Store::Lmdb(store), Some(map_size))
        }
        _ => (
            Store::Redb(RedbStore::open(&canonical).map_err(|e| store_to_py(&e))?),
            None,
        ),
    };
    let shared = Arc::new(Shared {
        store,
        path: Some(canonical),
        map_size,
        writer_open: AtomicBool::new(false),
    });
    registry.insert(key, Arc::downgrade(&shared));
    Ok(shared)
}

/// The path the registry knows a store by: the canonical directory (LMDB, created if
/// missing) or the canonical parent directory joined with the file name (redb).
fn canonical_path(backend: Backend, path: &Path) -> PyResult<PathBuf> {
    let io = |e: std::io::Error| {
        let message = format!("{}: {e}", path.display());
        match e.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, message)),
            None => PyOSError::new_err(message),
        }
    };
    if backend == Backend::Lmdb {
        std::fs::create_dir_all(path).map_err(io)?;
        return path.canonicalize().map_err(io);
    }
    let name = path
        .file_name()
        .ok_or_else(|| value_error(format!("{} is not a file path", path.display())))?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Ok(parent.canonicalize().map_err(io)?.join(name))
}
