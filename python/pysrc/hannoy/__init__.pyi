"""hannoy: an approximate-nearest-neighbour index (HNSW) whose graph and vectors live in a
transactional store (LMDB, redb or memory). See ``Database``."""

import os
import pathlib
from types import TracebackType
from typing import Callable, Iterable, Literal, Optional, Sequence, Union, final, overload

import numpy as np
import numpy.typing as npt

__version__: str

MISSING_ID: int
"""The id filling the rows of ``Reader.search_batch`` past the results found: 2**32 - 1."""

DEFAULT_EF_SEARCH: int
"""The ef_search of a query that does not set one (64)."""

MetricLike = Union["Metric", str]
"""A ``Metric`` or its string form, e.g. ``"cosine"``."""

Backend = Literal["lmdb", "redb", "memory"]
Ids = Union[npt.NDArray[np.integer], Iterable[int]]
"""Item ids: a numpy integer array (uint32 is read in place) or any iterable of ints."""
Vector = Union[npt.NDArray[np.floating], Iterable[float]]
"""A 1-D vector: a float32 or float64 numpy array, or a sequence of floats."""
Matrix = Union[npt.NDArray[np.floating], Iterable[Iterable[float]]]
"""Vectors as rows of a 2-D float32 or float64 array (a C-contiguous float32 array is read
in place), or a nested sequence."""

@final
class Metric:
    """A distance metric. Every method taking a metric also takes its string form."""

    EUCLIDEAN: "Metric"
    COSINE: "Metric"
    DOT: "Metric"
    MANHATTAN: "Metric"
    HAMMING: "Metric"
    BQ_COSINE: "Metric"
    BQ_EUCLIDEAN: "Metric"
    BQ_MANHATTAN: "Metric"

    @property
    def value(self) -> str:
        """The string form, e.g. ``"cosine"``."""

    @staticmethod
    def parse(name: MetricLike) -> "Metric":
        """The metric named ``name`` (case-insensitive)."""

    @staticmethod
    def all() -> list["Metric"]:
        """Every metric, in a fixed order."""

    def __int__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Database:
    """A database of vector indexes (numbered 0 to 65535), all of metric ``metric``.

    ``backend`` is ``"lmdb"`` (``path`` is a directory), ``"redb"`` (``path`` is a file) or
    ``"memory"`` (``path`` must be ``None``). ``map_size`` is LMDB's size limit in bytes
    (default 64 GiB of address space). Opening a path this process has open already shares
    the store when ``map_size`` agrees, and raises ``AlreadyOpenError`` otherwise.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike[str], None],
        metric: MetricLike,
        backend: Backend = "lmdb",
        map_size: Optional[int] = None,
    ) -> None: ...
    def writer(
        self,
        dims: int,
        index: int = 0,
        m: int = 16,
        m0: Optional[int] = None,
        ef_construction: int = 100,
        seed: int = 42,
        quantization: Optional[Literal["sq8", "rabitq1", "rabitq2", "rabitq4", "none"]] = None,
        codes_only: bool = False,
    ) -> "Writer":
        """A writer of index ``index`` for vectors of ``dims`` components. ``quantization``:
        the compact codes its builds leave the index with (``None`` keeps what it has);
        ``codes_only=True`` (with ``"sq8"``) keeps the codes and no full vectors."""

    def reader(self, index: int = 0, hold_in_memory: bool = False) -> "Reader":
        """A reader of index ``index`` as of the last commit.

        ``hold_in_memory=True`` copies the links and compact codes into the reader's own
        memory at open and at each ``refresh()``, so that a memory-limited process keeps
        them while the page cache cycles the full vectors."""

    @property
    def metric(self) -> Metric: ...
    @property
    def backend(self) -> Backend: ...
    @property
    def path(self) -> Optional[pathlib.Path]: ...
    @property
    def map_size(self) -> Optional[int]: ...

@final
class Writer:
    """Adds, replaces and deletes items of one index and builds its graph, in one write
    transaction. As a context manager: builds and commits on a normal exit, aborts on an
    exception."""

    def add_item(self, id: int, vector: Vector) -> None:
        """Records ``vector`` as item ``id`` (adds or replaces)."""

    def add_items(self, ids: Ids, vectors: Matrix) -> None:
        """Records row ``i`` of ``vectors`` as item ``ids[i]``; the last row of a repeated id
        wins. Nothing is written if any row is refused."""

    def del_item(self, id: int) -> bool:
        """Records the deletion of item ``id``; returns whether it was there."""

    def build(
        self,
        progress: Optional[Callable[[str, int, int], object]] = None,
        threads: Optional[int] = None,
        alpha: float = 1.0,
        force_rebuild: bool = False,
    ) -> dict[str, float]:
        """Links every pending change into the graph; ``progress(phase, done, total)`` is
        called along the way. ``alpha`` (1.0 to 4.0) lets neighbour selection keep more
        long links; ``force_rebuild=True`` links every item anew. Ctrl-C cancels it and
        leaves the index unchanged."""

    def commit(self) -> None:
        """Makes every change and build visible to readers opened afterwards."""

    def abort(self) -> None:
        """Drops every change of this writer."""

    @property
    def dimensions(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def metric(self) -> Metric: ...
    @property
    def closed(self) -> bool: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object) -> bool: ...
    def __enter__(self) -> "Writer": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

@final
class Reader:
    """Nearest-neighbour queries on one index, as of the last commit before it was opened
    or refreshed. A held reader pins its snapshot: ``refresh()`` or ``close()`` it."""

    @overload
    def search(
        self,
        vector: Vector,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Optional[Ids] = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        return_cut_short: Literal[False] = False,
    ) -> list[tuple[int, float]]:
        """The ``k`` closest items as ``(id, distance)`` pairs, closest first. On an index
        with compact codes the walk runs on the codes and ``rescore`` candidates (default
        ``ef_search``) are rescored with the full vectors. ``timeout`` (seconds) cuts the
        search short when it runs out: the best results found by then come back."""
    @overload
    def search(
        self,
        vector: Vector,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Optional[Ids] = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        *,
        return_cut_short: Literal[True],
    ) -> tuple[list[tuple[int, float]], bool]:
        """``(pairs, cut_short)``: the results and whether ``timeout`` cut them short."""
    @overload
    def search_batch(
        self,
        queries: Matrix,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Optional[Ids] = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        return_cut_short: Literal[False] = False,
        row_candidates: Optional[Sequence[Ids]] = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
        """One search per row, in parallel: ``(ids, distances)`` of shape ``(n, k)``, padded
        with ``MISSING_ID`` and ``inf``. ``timeout`` (seconds) is the whole batch's budget.
        ``row_candidates`` gives each row its own candidate ids (one entry per row; not
        together with ``candidates``)."""
    @overload
    def search_batch(
        self,
        queries: Matrix,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Optional[Ids] = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        *,
        return_cut_short: Literal[True],
        row_candidates: Optional[Sequence[Ids]] = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """``(ids, distances, cut_short)``: a bool per row, whether ``timeout`` cut it short."""
    @overload
    def search_item(
        self,
        id: int,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Optional[Ids] = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        return_cut_short: Literal[False] = False,
        exclude_self: bool = False,
    ) -> list[tuple[int, float]]:
        """The ``k`` items closest to item ``id`` (itself first unless ``exclude_self``);
        ``KeyError`` if it is not in the index."""
    @overload
    def search_item(
        self,
        id: int,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Optional[Ids] = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        *,
        return_cut_short: Literal[True],
        exclude_self: bool = False,
    ) -> tuple[list[tuple[int, float]], bool]:
        """``(pairs, cut_short)``, as ``search``."""
    @overload
    def search_items(
        self,
        ids: Ids,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Optional[Ids] = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        return_cut_short: Literal[False] = False,
        exclude_self: bool = False,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
        """One ``search_item`` per id, in parallel, as the arrays of ``search_batch`` (a row
        per id, in order); ``KeyError`` for the first id not in the index."""
    @overload
    def search_items(
        self,
        ids: Ids,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Optional[Ids] = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        *,
        return_cut_short: Literal[True],
        exclude_self: bool = False,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """``(ids, distances, cut_short)``, as ``search_batch``."""
    def item_vector(self, id: int) -> npt.NDArray[np.float32]:
        """The stored vector of item ``id``; ``KeyError`` if it is not in the index."""

    def prefetch(self, vectors: bool = True) -> int:
        """Reads the index's pages ahead (the links and what the walk reads; the full
        vectors too unless ``vectors=False``) so that a fresh process's first searches are
        fast; returns the bytes spanned."""

    def ids(self) -> npt.NDArray[np.uint32]:
        """The ids of every item, sorted."""

    @property
    def quantization(self) -> Optional[str]:
        """The compact codes the index keeps (``"sq8"``, ``"rabitq1"``), or ``None``."""

    @property
    def codes_only(self) -> bool:
        """Whether the index keeps its codes only (searches rank by them)."""

    @property
    def hold_in_memory(self) -> bool:
        """Whether the reader holds the links and codes in its own memory."""

    def refresh(self) -> None:
        """Moves the reader to the latest commit (a closed reader is opened again)."""

    def close(self) -> None:
        """Releases the snapshot; searches raise ``ValueError`` until ``refresh()``."""

    @property
    def closed(self) -> bool: ...
    @property
    def dimensions(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def metric(self) -> Metric: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object) -> bool: ...
    def __enter__(self) -> "Reader": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

class HannoyError(Exception):
    """The base class of hannoy's own errors."""

class MissingIndexError(HannoyError):
    """The index was never built and committed."""

class IndexMismatchError(HannoyError):
    """The index exists with another metric or other dimensions."""

class CorruptedError(HannoyError):
    """The database holds bytes that do not decode."""

class VersionMismatchError(HannoyError):
    """The database was written in an on-disk format this build cannot read."""

class StoreFullError(HannoyError):
    """The database is full (LMDB: reopen it with a larger map_size)."""

class AlreadyOpenError(HannoyError):
    """The database is open already with other settings, or locked by another process."""

class WriterBusyError(HannoyError):
    """Another writer is open on the database, or the writer is in use by another thread."""

class WriterClosedError(HannoyError):
    """The writer is committed or aborted, or a failed write left only abort() possible."""

class CancelledError(HannoyError):
    """The build was cancelled; the index is unchanged."""

class StoreError(HannoyError):
    """The storage backend failed for a reason other than I/O."""

class ForeignFormatError(HannoyError):
    """The index number holds another library's index (hannoy 0.3, arroy)."""

class InternalError(HannoyError):
    """A bug in hannoy (a panic, with its message); a writer it happened in is aborted."""
