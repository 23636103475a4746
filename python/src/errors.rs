//! The Python exceptions, and the mapping of `hannoy::Error` onto them.
//!
//! Bad input (shapes, dimensions, dtypes, NaN, parameters) is a `ValueError`, an unknown
//! item id a `KeyError`, an I/O failure an `OSError` (with its errno, so Python picks the
//! subclass such as `PermissionError`); everything else is a subclass of
//! `hannoy.HannoyError`.

use hannoy::Error;
use hannoy::StoreError as CoreStoreError;
use pyo3::exceptions::{PyException, PyKeyError, PyOSError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    hannoy,
    HannoyError,
    PyException,
    "The base class of hannoy's own errors."
);
pyo3::create_exception!(
    hannoy,
    MissingIndexError,
    HannoyError,
    "The index does not exist in the database: it was never built (build and commit a writer first)."
);
pyo3::create_exception!(
    hannoy,
    IndexMismatchError,
    HannoyError,
    "The index exists with another metric or other dimensions than asked for."
);
pyo3::create_exception!(
    hannoy,
    CorruptedError,
    HannoyError,
    "The database holds bytes that do not decode (a damaged or foreign file)."
);
pyo3::create_exception!(
    hannoy,
    VersionMismatchError,
    HannoyError,
    "The database was written in an on-disk format version this build cannot read."
);
pyo3::create_exception!(
    hannoy,
    StoreFullError,
    HannoyError,
    "The database has no room left (LMDB: reopen it with a larger map_size). The writer must be aborted; committed data is intact."
);
pyo3::create_exception!(
    hannoy,
    AlreadyOpenError,
    HannoyError,
    "The database is open already, in this process with other settings, or in another process that locks it (redb)."
);
pyo3::create_exception!(
    hannoy,
    WriterBusyError,
    HannoyError,
    "Another writer is open on this database, or this writer is in use by another thread."
);
pyo3::create_exception!(
    hannoy,
    WriterClosedError,
    HannoyError,
    "The writer was committed or aborted, or a failed write left its transaction unusable (abort it)."
);
pyo3::create_exception!(
    hannoy,
    CancelledError,
    HannoyError,
    "The build was cancelled; the index is unchanged."
);
pyo3::create_exception!(
    hannoy,
    StoreError,
    HannoyError,
    "The storage backend failed for a reason other than I/O."
);
pyo3::create_exception!(
    hannoy,
    ForeignFormatError,
    HannoyError,
    "The database holds another library's index (hannoy 0.3, arroy) under this index number; nothing was read or written. Import it, or use another index number."
);
pyo3::create_exception!(
    hannoy,
    InternalError,
    HannoyError,
    "A bug in hannoy: the Rust code panicked (the message says where). A writer it happened in is aborted; the database keeps its last commit."
);

/// Registers every exception class on the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("HannoyError", py.get_type::<HannoyError>())?;
    module.add("MissingIndexError", py.get_type::<MissingIndexError>())?;
    module.add("IndexMismatchError", py.get_type::<IndexMismatchError>())?;
    module.add("CorruptedError", py.get_type::<CorruptedError>())?;
    module.add(
        "VersionMismatchError",
        py.get_type::<VersionMismatchError>(),
    )?;
    module.add("StoreFullError", py.get_type::<StoreFullError>())?;
    module.add("AlreadyOpenError", py.get_type::<AlreadyOpenError>())?;
    module.add("WriterBusyError", py.get_type::<WriterBusyError>())?;
    module.add("WriterClosedError", py.get_type::<WriterClosedError>())?;
    module.add("CancelledError", py.get_type::<CancelledError>())?;
    module.add("StoreError", py.get_type::<StoreError>())?;
    module.add("ForeignFormatError", py.get_type::<ForeignFormatError>())?;
    module.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}

/// The Python exception for an index error.
pub fn to_py(error: Error) -> PyErr {
    let message = chain(&error);
    match error {
        Error::DimensionMismatch { .. } | Error::InvalidVector { .. } => {
            PyValueError::new_err(message)
        }
        Error::InvalidParameter(_) | Error::Codes(_) => PyValueError::new_err(message),
        Error::MetricMismatch { .. } | Error::IndexDimensionMismatch { .. } => {
            IndexMismatchError::new_err(message)
        }
        Error::MissingIndex(_) => MissingIndexError::new_err(message),
        Error::ItemNotFound(id) => PyKeyError::new_err(id),
        Error::Cancelled => CancelledError::new_err(message),
        Error::Store(store) => store_to_py(&store),
        _ => HannoyError::new_err(message),
    }
}

/// The Python exception for a store error.
pub fn store_to_py(error: &CoreStoreError) -> PyErr {
    let message = chain(error);
    match error {
        CoreStoreError::Full { .. } => StoreFullError::new_err(message),
        CoreStoreError::Corrupted { .. } => CorruptedError::new_err(message),
        CoreStoreError::VersionMismatch { .. } => VersionMismatchError::new_err(message),
        CoreStoreError::AlreadyOpen { .. } => AlreadyOpenError::new_err(message),
        CoreStoreError::ForeignFormat { .. } => ForeignFormatError::new_err(message),
        CoreStoreError::WriteTxnBusy { .. } => WriterBusyError::new_err(message),
        CoreStoreError::WriteTxnPoisoned { .. } => WriterClosedError::new_err(message),
        _ => match error.io_error() {
            Some(io) => match io.raw_os_error() {
                // OSError(errno, text) becomes the matching subclass (PermissionError, ...).
                Some(errno) => PyOSError::new_err((errno, message)),
                None => PyOSError::new_err(message),
            },
            None => StoreError::new_err(message),
        },
    }
}

/// Whether this error leaves the write transaction unusable (only an abort is left).
pub fn breaks_transaction(error: &Error) -> bool {
    matches!(
        error,
        Error::Store(
            CoreStoreError::Full { .. }
                | CoreStoreError::Io { .. }
                | CoreStoreError::Backend { .. }
                | CoreStoreError::WriteTxnPoisoned { .. }
        )
    )
}

/// The error's message followed by those of its sources, `": "`-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// A `ValueError` with `message`.
pub fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}
