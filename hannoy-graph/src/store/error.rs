//! The one error type every store backend reports.

use std::fmt;

/// A boxed error from a backend, kept as the `source` of a [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// An error from a key-value store or from decoding what it holds.
///
/// Backends map their own errors into these cases; the original error stays reachable
/// through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store has no room left for the write (LMDB: the map is full; memory: the
    /// configured byte budget is used up; redb: the disk is full). The write transaction
    /// that hit it can only be dropped; committed data is untouched.
    #[error("the {backend} store is full{hint}")]
    Full {
        /// Which backend filled up.
        backend: &'static str,
        /// What to do about it, from the backend, starting with `": "` (empty when it has
        /// no advice), e.g. `": reopen it with a larger map size"`.
        hint: &'static str,
        /// The backend's own error, when it gave one.
        #[source]
        source: Option<BoxError>,
    },
    /// Stored bytes do not decode: a short or garbled value, an unknown tag, a foreign
    /// database.
    #[error("corrupted store: {what}{}", KeyHex(key))]
    Corrupted {
        /// What did not decode, and why.
        what: String,
        /// The key whose value is bad (empty when the problem is not tied to one key).
        key: Vec<u8>,
    },
    /// The store was written in an on-store format version this build cannot read.
    #[error(
        "on-store format version {found} is not supported (this build reads version {supported})"
    )]
    VersionMismatch {
        /// The version found in the store.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The keys of the index were written by another library (hannoy 0.3, arroy) whose
    /// layout shares the store's key space: this build neither reads nor writes them.
    /// Detected by [`format::foreign`](crate::format::foreign) before anything is written.
    #[error(
        "the index was written by {format}, a foreign format this build does not read or write{}",
        KeyHex(key)
    )]
    ForeignFormat {
        /// The library (and version, when stored) that wrote the keys.
        format: String,
        /// The first foreign key found.
        key: Vec<u8>,
    },
    /// The store is already open in this process and the backend cannot open it twice.
    #[error("the {backend} store at {path} is already open in this process")]
    AlreadyOpen {
        /// Which backend refused.
        backend: &'static str,
        /// The path that was asked for.
        path: String,
    },
    // Misuse of a write transaction: every backend reports these two the same way (the
    // contract is on `KvStore::write_txn` and `WriteTxn`).
    /// This thread already has the store's write transaction open. Opening a second one on
    /// the same thread would wait for the first forever; another thread simply waits.
    #[error(
        "this thread already has a write transaction open on the {backend} store: commit or drop it first"
    )]
    WriteTxnBusy {
        /// Which backend refused.
        backend: &'static str,
    },
    /// An earlier write of this transaction failed, so the transaction holds an unknown part
    /// of its writes: it refuses every further operation, `commit` included, and can only be
    /// dropped (which leaves the committed data as it was).
    #[error(
        "the {backend} write transaction is unusable since its {operation} failed ({cause}): drop it"
    )]
    WriteTxnPoisoned {
        /// Which backend refused.
        backend: &'static str,
        /// The write that failed first (`"put"`, `"delete"`, `"delete_range"`).
        operation: &'static str,
        /// That write's error message.
        cause: String,
    },
    /// An I/O error under the backend (a missing directory, a permission, a read error),
    /// with its [`std::io::ErrorKind`] and OS error number reachable through `source`.
    #[error("{backend}: {operation} failed")]
    Io {
        /// Which backend failed.
        backend: &'static str,
        /// What it was doing (`"open"`, `"commit"`, ...).
        operation: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of the backend.
    #[error("{backend}: {operation} failed")]
    Backend {
        /// Which backend failed.
        backend: &'static str,
        /// What it was doing (`"open"`, `"get"`, `"put"`, `"commit"`, ...).
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// Builds a [`StoreError::Corrupted`] for the value at `key`.
    pub fn corrupted(what: impl Into<String>, key: &[u8]) -> Self {
        StoreError::Corrupted {
            what: what.into(),
            key: key.to_vec(),
        }
    }

    /// Builds a [`StoreError::Backend`] from any backend error.
    pub fn backend(
        backend: &'static str,
        operation: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        StoreError::Backend {
            backend,
            operation,
            source: source.into(),
        }
    }

    /// Whether this is [`StoreError::WriteTxnPoisoned`]: the write transaction can only be
    /// dropped.
    pub fn is_poisoned(&self) -> bool {
        matches!(self, StoreError::WriteTxnPoisoned { .. })
    }

    /// Whether this is the "store is full" case.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Full { .. })
    }

    /// Builds a [`StoreError::Io`].
    pub fn io(backend: &'static str, operation: &'static str, source: std::io::Error) -> Self {
        StoreError::Io {
            backend,
            operation,
            source,
        }
    }

    /// The I/O error behind this one, if it is [`StoreError::Io`] (or a full store the
    /// operating system reported, such as a full disk).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::Full {
                source: Some(source),
                ..
            } => source.downcast_ref::<std::io::Error>(),
            _ => None,
        }
    }
}

struct KeyHex<'a>(&'a [u8]);

impl fmt::Display for KeyHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str(" (key 0x")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let full = StoreError::Full {
            backend: "lmdb",
            hint: ": reopen it with a larger map size",
            source: None,
        };
        assert_eq!(
            full.to_string(),
            "the lmdb store is full: reopen it with a larger map size"
        );
        assert!(full.is_full());

        let corrupted = StoreError::corrupted("item vector is 3 bytes long", &[0, 1, 0xab]);
        assert_eq!(
            corrupted.to_string(),
            "corrupted store: item vector is 3 bytes long (key 0x0001ab)"
        );
        assert!(!corrupted.is_full());

        let io = std::io::Error::other("disk on fire");
        let backend = StoreError::backend("redb", "commit", io);
        assert_eq!(backend.to_string(), "redb: commit failed");
        let source = std::error::Error::source(&backend).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));
        assert!(backend.io_error().is_none());

        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let io = StoreError::io("lmdb", "open", denied);
        assert_eq!(io.to_string(), "lmdb: open failed");
        assert_eq!(
            io.io_error().map(std::io::Error::kind),
            Some(std::io::ErrorKind::PermissionDenied)
        );
    }
}
