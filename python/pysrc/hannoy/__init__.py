"""hannoy: an approximate-nearest-neighbour index (HNSW) whose graph and vectors live in a
transactional store (LMDB, redb or memory). See ``Database``.

The classes and errors come from the compiled extension ``hannoy._hannoy``;
``hannoy.cluster`` (with the ``ray`` extra) serves a sharded index from Ray actors.
"""

from ._hannoy import (
    DEFAULT_EF_SEARCH,
    MISSING_ID,
    AlreadyOpenError,
    CancelledError,
    CorruptedError,
    Database,
    ForeignFormatError,
    HannoyError,
    IndexMismatchError,
    InternalError,
    Metric,
    MissingIndexError,
    Reader,
    StoreError,
    StoreFullError,
    VersionMismatchError,
    Writer,
    WriterBusyError,
    WriterClosedError,
    __version__,
)

__all__ = [
    "DEFAULT_EF_SEARCH",
    "MISSING_ID",
    "AlreadyOpenError",
    "CancelledError",
    "CorruptedError",
    "Database",
    "ForeignFormatError",
    "HannoyError",
    "IndexMismatchError",
    "InternalError",
    "Metric",
    "MissingIndexError",
    "Reader",
    "StoreError",
    "StoreFullError",
    "VersionMismatchError",
    "Writer",
    "WriterBusyError",
    "WriterClosedError",
    "__version__",
]
