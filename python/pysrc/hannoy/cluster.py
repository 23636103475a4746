"""A sharded index served by Ray actors: ``ShardedIndex``.

Each shard is an ordinary hannoy database in a directory of its own, owned by one Ray actor
(and optionally read by more, ``replicas``): items go to the shard a stable hash of their id
names (``shard_of``), a build builds every shard in parallel and commits them only when all
have built, and a search asks every shard once and merges the ``k`` closest by distance.
Ray schedules the actors, restarts one that dies (it reopens its committed store) and moves
the numpy arrays; this module is the thin layer between.

Needs the ``ray`` extra (``pip install "./python[ray]"``) and a Ray instance
(``ray.init()``, or a cluster's address)::

    import numpy as np, ray
    from hannoy.cluster import ShardedIndex

    ray.init(num_cpus=2)
    index = ShardedIndex("shards", "cosine", dims=384, shards=2)
    index.add_items(ids, vectors)           # each shard gets its part in one call
    index.build()                           # every shard in parallel; all commit, or none
    ids, distances = index.search_batch(queries, k=10, ef_search=64)

What a build does not make atomic: the shards commit one after another once all have built,
so a shard failing *between* its own commit and another's (its process killed, its disk
full at commit) leaves some shards with the new items and the rest without; the
``PartialCommitError`` raised then names both sets. Everything before that point (a shard
whose build fails, a shard restarted since it was sent its items, an interrupted build)
aborts every shard's changes.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

import hannoy

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError as error:  # pragma: no cover - exercised where ray is missing
    raise ImportError(
        'hannoy.cluster needs Ray: pip install "hannoy[ray]" (or "./python[ray]")'
    ) from error

__all__ = [
    "ClusterError",
    "LayoutMismatchError",
    "PartialCommitError",
    "ShardedIndex",
    "ShardUnavailableError",
    "ShardWritesLostError",
    "ROUTING",
    "shard_of",
]

ROUTING = "fmix64"
"""The routing recorded in every shard: ``shard_of``'s hash."""

LAYOUT_FILE = "layout.json"
"""The layout record in each shard's directory."""

LAYOUT_FORMAT = 1
MAX_SHARDS = 4096
INLINE_BATCH_BYTES = 64 * 1024


class ClusterError(hannoy.HannoyError):
    """The base class of hannoy.cluster's errors."""


class LayoutMismatchError(ClusterError):
    """A shard's directory records another layout (metric, dimensions, shard count,
    routing, backend or shard number) than the index was opened with."""


class ShardUnavailableError(ClusterError):
    """A shard's actors are dead or restarting; ``shards`` lists their numbers."""

    def __init__(self, message: str, shards: Sequence[int]):
        super().__init__(message)
        self.shards = list(shards)


class ShardWritesLostError(ClusterError):
    """A shard's actor restarted after it was sent items or deletions and before the build:
    those uncommitted changes were lost, so the build aborted every shard."""


class PartialCommitError(ClusterError):
    """Every shard built, and some committed before another failed to: ``committed`` and
    ``failed`` list the shard numbers (see the module documentation)."""

    def __init__(self, message: str, committed: Sequence[int], failed: Sequence[int]):
        super().__init__(message)
        self.committed = list(committed)
        self.failed = list(failed)


def shard_of(ids: Any, shards: int) -> np.ndarray:
    """The shard of each id: MurmurHash3's 64-bit finalizer (fmix64) of the id, modulo
    ``shards``. Stable across processes, machines and Python versions (no ``hash()``)."""
    h = np.asarray(ids, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
    return (h % np.uint64(shards)).astype(np.int64)


def _ids(ids: Any, what: str = "ids") -> np.ndarray:
    """``ids`` as a 1-D uint32 array; ``ValueError`` for anything else."""
    array = np.asarray(ids if hasattr(ids, "__len__") else list(ids))
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        return array.astype(np.uint32)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got {array.dtype}")
    if array.min() < 0 or array.max() > 0xFFFF_FFFF:
        raise ValueError(f"{what} must be in 0..=4294967295")
    return array.astype(np.uint32, copy=False)


def _matrix(rows: Any, dims: int, what: str) -> np.ndarray:
    """``rows`` as a C-contiguous float32 matrix of ``dims`` columns."""
    array = np.asarray(rows, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dims:
        raise ValueError(f"{what} must have {dims} columns, got shape {array.shape}")
    return np.ascontiguousarray(array)


class _Shard:
    """The actor behind one shard: its database, its open writer between calls, and a
    reader of the last commit. A primary (``role="primary"``) writes; a replica only reads
    the same store (LMDB allows readers in other processes)."""

    def __init__(self, layout: dict, directory: Optional[str], role: str, options: dict):
        self.layout = layout
        self.role = role
        self.options = options
        self.incarnation = uuid.uuid4().hex
        self.writer = None
        self.reader = None
        # An error while opening is kept and raised by every call: raised here, Ray would
        # only report that the actor died.
        self.failure: Optional[Exception] = None
        try:
            self.db = self._open(directory)
            self._open_reader()
        except Exception as error:  # noqa: BLE001 - raised by _ready()
            self.failure = error

    def _ready(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _open(self, directory: Optional[str]) -> hannoy.Database:
        backend = self.layout["backend"]
        if backend == "memory":
            return hannoy.Database(None, self.layout["metric"], backend="memory")
        root = Path(directory)
        record = root / LAYOUT_FILE
        if record.exists():
            stored = json.loads(record.read_text())
            for key, want in self.layout.items():
                if stored.get(key) != want:
                    raise LayoutMismatchError(
                        f"shard {self.layout['shard']} at {root}: its layout records "
                        f"{key}={stored.get(key)!r}, the index was opened with {key}={want!r}"
                    )
        elif self.role == "primary":
            root.mkdir(parents=True, exist_ok=True)
            temporary = root / (LAYOUT_FILE + ".tmp")
            temporary.write_text(json.dumps(self.layout, indent=1, sort_keys=True))
            os.replace(temporary, record)
        else:
            raise LayoutMismatchError(f"shard {self.layout['shard']} at {root}: no layout record")
        store = root / ("store.redb" if backend == "redb" else "store")
        kwargs = {"map_size": self.options["map_size"]} if self.options.get("map_size") else {}
        return hannoy.Database(str(store), self.layout["metric"], backend=backend, **kwargs)

    def _open_reader(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        try:
            self.reader = self.db.reader()
        except hannoy.MissingIndexError:
            self.reader = None

    def info(self) -> dict:
        self._ready()
        return {
            "incarnation": self.incarnation,
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "items": len(self.reader) if self.reader is not None else 0,
            "built": self.reader is not None,
        }

    def _writing(self) -> "hannoy.Writer":
        if self.role != "primary":
            raise ClusterError("a replica does not write")
        if self.writer is None:
            o = self.options
            self.writer = self.db.writer(
                dims=self.layout["dims"],
                m=o["m"],
                ef_construction=o["ef_construction"],
                seed=o["seed"],
                quantization=o["quantization"],
            )
        return self.writer

    def add_items(self, ids: np.ndarray, vectors: np.ndarray) -> str:
        self._ready()
        self._writing().add_items(ids, vectors)
        return self.incarnation

    def delete_items(self, ids: np.ndarray) -> tuple[str, int]:
        self._ready()
        writer = self._writing()
        return self.incarnation, sum(bool(writer.del_item(int(i))) for i in ids)

    def build(self, threads: Optional[int]) -> tuple[str, dict]:
        self._ready()
        stats = self._writing().build(threads=threads)
        return self.incarnation, stats

    def commit(self) -> None:
        self._ready()
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.commit()
        self._open_reader()

    def abort(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.abort()

    def refresh(self) -> None:
        self._ready()
        self._open_reader()

    def ids(self) -> np.ndarray:
        self._ready()
        if self.reader is None:
            return np.zeros(0, dtype=np.uint32)
        return self.reader.ids()

    def search_batch(self, queries, k, ef_search, candidates, rescore, timeout):
        self._ready()
        if self.reader is None:
            raise hannoy.MissingIndexError(
                f"shard {self.layout['shard']} has no built index: build the ShardedIndex first"
            )
        return self.reader.search_batch(
            queries,
            k=k,
            ef_search=ef_search,
            candidates=candidates,
            rescore=rescore,
            timeout=timeout,
            return_cut_short=True,
        )


_ShardActor = ray.remote(_Shard)


def _merge(parts: list, k: int, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` closest of every row over the shards' ``(ids, distances, cut)`` parts, by
    distance then id (ids are unique across shards, so the order is total)."""
    if not parts:
        return (
            np.full((rows, k), hannoy.MISSING_ID, dtype=np.uint32),
            np.full((rows, k), np.inf, dtype=np.float32),
            np.zeros(rows, dtype=bool),
        )
    ids = np.concatenate([p[0] for p in parts], axis=1)
    distances = np.concatenate([p[1] for p in parts], axis=1)
    cut = np.logical_or.reduce([p[2] for p in parts])
    order = np.lexsort((ids, distances), axis=1)[:, :k]
    return (
        np.take_along_axis(ids, order, axis=1),
        np.take_along_axis(distances, order, axis=1),
        cut,
    )


class ShardedIndex:
    """An index split over ``shards`` Ray actors, each owning one database of ``backend``
    in ``path/shard-NNNN`` on its node (a new one, or the one a previous ``ShardedIndex``
    with the same layout left there; another layout raises ``LayoutMismatchError``).

    ``replicas`` actors per shard read its store (LMDB only: the first also writes), and
    searches take turns among them. Shards are placed round-robin over the cluster's alive
    nodes (sorted by address; ``nodes`` gives the node ids instead) and pinned there, since
    their stores live on that node's disk; Ray restarts a dead actor in place
    (``max_restarts`` times, ``-1`` for always), and it reopens its committed store.

    ``backend="memory"`` (``path=None``) keeps nothing on disk: a memory shard whose actor
    restarts comes back empty, and nothing can be reopened (for tests and short-lived
    indexes).

    ``m``, ``ef_construction``, ``seed`` and ``quantization`` are every shard's writer
    settings (the same ``seed`` for all), ``map_size`` LMDB's size limit per shard.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike, None],
        metric: str,
        dims: int,
        shards: int = 2,
        *,
        backend: str = "lmdb",
        replicas: int = 1,
        m: int = 16,
        ef_construction: int = 100,
        seed: int = 42,
        quantization: Optional[str] = None,
        map_size: Optional[int] = None,
        nodes: Optional[Sequence[str]] = None,
        max_restarts: int = -1,
    ):
        if not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
            raise ValueError(f"shards must be an integer in 1..={MAX_SHARDS}, got {shards!r}")
        if not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"replicas must be a positive integer, got {replicas!r}")
        if not isinstance(dims, int) or dims < 1:
            raise ValueError(f"dims must be a positive integer, got {dims!r}")
        if backend not in ("lmdb", "redb", "memory"):
            raise ValueError(f"backend must be lmdb, redb or memory, got {backend!r}")
        if backend == "memory" and path is not None:
            raise ValueError("the memory backend keeps nothing on disk: path must be None")
        if backend != "memory" and path is None:
            raise ValueError(f"the {backend} backend needs a path")
        if replicas > 1 and backend != "lmdb":
            raise ValueError(f"read replicas need LMDB (the {backend} store has one process)")
        metric = hannoy.Metric.parse(metric).value
        if not ray.is_initialized():
            raise ClusterError("Ray is not initialized: call ray.init() first")
        self.metric, self.dims, self.shards = metric, dims, shards
        self.backend, self.replicas = backend, replicas
        self.path = None if path is None else Path(path).absolute()
        options = {
            "m": m,
            "ef_construction": ef_construction,
            "seed": seed,
            "quantization": quantization,
            "map_size": map_size,
        }
        placement = self._nodes(nodes)
        self._actors: list[list[Any]] = []
        self._turn = [0] * shards
        self._turn_lock = threading.Lock()
        # Incarnation of each primary when it was last sent changes (None: none pending).
        self._pending: list[Optional[str]] = [None] * shards
        try:
            for shard in range(shards):
                layout = {
                    "format": LAYOUT_FORMAT,
                    "metric": metric,
                    "dims": dims,
                    "shards": shards,
                    "shard": shard,
                    "routing": ROUTING,
                    "backend": backend,
                }
                directory = None if self.path is None else str(self.path / f"shard-{shard:04d}")
                strategy = NodeAffinitySchedulingStrategy(
                    node_id=placement[shard % len(placement)], soft=False
                )
                group = []
                for replica in range(replicas):
                    role = "primary" if replica == 0 else "replica"
                    actor = _ShardActor.options(
                        scheduling_strategy=strategy,
                        max_restarts=max_restarts,
                        num_cpus=0,
                        name=None,
                    ).remote(layout, directory, role, options)
                    group.append(actor)
                    if replica == 0:
                        # The primary writes the layout record the replicas check.
                        self._get(actor.info.remote(), shard)
                self._actors.append(group)
            self._get_all([a.info.remote() for g in self._actors for a in g[1:]])
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _nodes(nodes: Optional[Sequence[str]]) -> list[str]:
        if nodes:
            return list(nodes)
        alive = [n for n in ray.nodes() if n.get("Alive")]
        alive.sort(key=lambda n: (n.get("NodeManagerAddress", ""), n["NodeID"]))
        if not alive:
            raise ClusterError("the Ray cluster has no alive node")
        return [n["NodeID"] for n in alive]

    @staticmethod
    def _get(ref: Any, shard: int) -> Any:
        """``ray.get`` of one shard's call: an application error as itself, a dead actor as
        ``ShardUnavailableError``."""
        try:
            return ray.get(ref)
        except RayActorError as error:
            raise ShardUnavailableError(f"shard {shard} is unavailable: {error}", [shard]) from error
        except ray.exceptions.RayTaskError as error:
            raise error.cause from None

    @staticmethod
    def _get_all(refs: list) -> list:
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as error:
            raise error.cause from None

    # Writes -----------------------------------------------------------------------------

    def add_items(self, ids: Any, vectors: Any) -> None:
        """Records row ``i`` of ``vectors`` as item ``ids[i]`` on its shard (adds or
        replaces; the last row of a repeated id wins); each shard gets its rows in one call.
        Nothing is visible until ``build()``."""
        ids = _ids(ids)
        vectors = _matrix(vectors, self.dims, "vectors")
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        if not np.isfinite(vectors).all():
            raise ValueError("vectors must be finite (no NaN or infinity)")
        route = shard_of(ids, self.shards)
        calls = []
        for shard in range(self.shards):
            rows = np.flatnonzero(route == shard)
            if rows.size:
                primary = self._actors[shard][0]
                calls.append((shard, primary.add_items.remote(ids[rows], vectors[rows])))
        self._record_writes(calls)

    def delete_items(self, ids: Any) -> int:
        """Records the deletion of each id on its shard; returns how many were there."""
        ids = _ids(ids)
        route = shard_of(ids, self.shards)
        calls = []
        for shard in range(self.shards):
            mine = ids[route == shard]
            if mine.size:
                calls.append((shard, self._actors[shard][0].delete_items.remote(mine)))
        return sum(r[1] for r in self._record_writes(calls))

    def _record_writes(self, calls: list) -> list:
        results = []
        for shard, ref in calls:
            result = self._get(ref, shard)
            incarnation = result if isinstance(result, str) else result[0]
            if self._pending[shard] not in (None, incarnation):
                self._pending[shard] = "lost"
            elif self._pending[shard] is None:
                self._pending[shard] = incarnation
            results.append(result)
        return results

    def build(self, threads: Optional[int] = None) -> list[dict]:
        """Builds every shard in parallel, then commits them all; returns each shard's build
        statistics. A shard that fails, one whose actor restarted since it was sent changes,
        or an interruption (Ctrl-C) aborts every shard's changes and raises; a failure during
        the commits raises ``PartialCommitError`` (see the module documentation)."""
        primaries = [g[0] for g in self._actors]
        refs = [p.build.remote(threads) for p in primaries]
        failures: dict[int, BaseException] = {}
        stats: list[Optional[dict]] = [None] * self.shards
        try:
            for shard, ref in enumerate(refs):
                try:
                    incarnation, stats[shard] = self._get(ref, shard)
                except Exception as error:  # noqa: BLE001 - reported below, all aborted
                    failures[shard] = error
                    continue
                if self._pending[shard] not in (None, incarnation):
                    failures[shard] = ShardWritesLostError(
                        f"shard {shard} restarted after it was sent changes: they were lost"
                    )
        except BaseException:
            self._abort_all()
            raise
        if failures:
            self._abort_all()
            first = min(failures)
            message = "; ".join(f"shard {s}: {failures[s]!r}" for s in sorted(failures))
            error = failures[first]
            message = f"build aborted on every shard: {message}"
            if isinstance(error, ShardUnavailableError):
                raise ShardUnavailableError(message, sorted(failures)) from error
            if isinstance(error, ShardWritesLostError):
                raise ShardWritesLostError(message) from error
            raise ClusterError(message) from error
        committed, failed = [], []
        for shard, primary in enumerate(primaries):
            try:
                self._get(primary.commit.remote(), shard)
                committed.append(shard)
            except Exception:  # noqa: BLE001 - reported in the error below
                failed.append(shard)
        self._pending = [None] * self.shards
        if failed:
            raise PartialCommitError(
                f"shards {failed} failed to commit after shards {committed} committed",
                committed,
                failed,
            )
        self._get_all([a.refresh.remote() for g in self._actors for a in g[1:]])
        return [s for s in stats if s is not None]

    def abort(self) -> None:
        """Drops every shard's uncommitted changes."""
        self._abort_all()

    def _abort_all(self) -> None:
        refs = [g[0].abort.remote() for g in self._actors]
        for ref in refs:
            try:
                ray.get(ref)
            except Exception:  # noqa: BLE001 - a dead actor has nothing pending
                pass
        self._pending = [None] * self.shards

    # Reads ------------------------------------------------------------------------------

    def search(
        self,
        vector: Any,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Any = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        allow_partial: bool = False,
    ):
        """The ``k`` closest items over every shard as ``(id, distance)`` pairs, closest
        first, as ``Reader.search``. With ``allow_partial=True``: ``(pairs, missing)``, the
        results of the live shards and the numbers of the shards that did not answer;
        otherwise a shard that does not answer raises ``ShardUnavailableError``."""
        vector = np.asarray(vector, dtype=np.float32)
        if vector.ndim != 1:
            raise ValueError(f"a query must be one-dimensional, got shape {vector.shape}")
        ids, distances, missing = self._search(
            vector[None, :], k, ef_search, candidates, rescore, timeout, allow_partial
        )
        pairs = [
            (int(i), float(d)) for i, d in zip(ids[0], distances[0]) if i != hannoy.MISSING_ID
        ]
        return (pairs, missing) if allow_partial else pairs

    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        ef_search: Optional[int] = None,
        candidates: Any = None,
        rescore: Optional[int] = None,
        timeout: Optional[float] = None,
        allow_partial: bool = False,
    ):
        """One search per row: ``(ids, distances)`` of shape ``(n, k)`` (uint32 and float32,
        padded with ``MISSING_ID`` and ``inf``), as ``Reader.search_batch``. Each shard gets
        the whole batch once and the rows are merged by distance. ``allow_partial=True``
        adds a third element, the numbers of the shards that did not answer."""
        ids, distances, missing = self._search(
            queries, k, ef_search, candidates, rescore, timeout, allow_partial
        )
        return (ids, distances, missing) if allow_partial else (ids, distances)

    def _search(self, queries, k, ef_search, candidates, rescore, timeout, allow_partial):
        queries = _matrix(queries, self.dims, "queries")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        per_shard: list[Optional[np.ndarray]] = [None] * self.shards
        if candidates is not None:
            allowed = _ids(candidates, "candidates")
            route = shard_of(allowed, self.shards)
            per_shard = [allowed[route == s] for s in range(self.shards)]
        # A large batch goes to the object store once for every shard; a small one travels
        # inline with each call (a put costs more than it saves there).
        batch = ray.put(queries) if queries.nbytes > INLINE_BATCH_BYTES else queries
        asked = [
            s for s in range(self.shards) if per_shard[s] is None or per_shard[s].size > 0
        ]
        calls = {s: self._ask(s, batch, k, ef_search, per_shard[s], rescore, timeout) for s in asked}
        parts, missing = [], []
        for shard in asked:
            part = self._answer(shard, calls[shard], batch, k, ef_search, per_shard[shard], rescore, timeout)
            if part is None:
                missing.append(shard)
            else:
                parts.append(part)
        if missing and not allow_partial:
            raise ShardUnavailableError(
                f"shards {missing} did not answer (dead or restarting); "
                "allow_partial=True returns what the others found",
                missing,
            )
        ids, distances, _cut = _merge(parts, int(k), len(queries))
        return ids, distances, missing

    def _replica(self, shard: int) -> int:
        with self._turn_lock:
            turn = self._turn[shard]
            self._turn[shard] = (turn + 1) % self.replicas
        return turn

    def _ask(self, shard, batch, k, ef_search, candidates, rescore, timeout):
        replica = self._replica(shard)
        actor = self._actors[shard][replica]
        return replica, actor.search_batch.remote(batch, k, ef_search, candidates, rescore, timeout)

    def _answer(self, shard, call, batch, k, ef_search, candidates, rescore, timeout):
        """A shard's answer, trying its other replicas if the one asked is dead; ``None``
        when none answers."""
        replica, ref = call
        for attempt in range(self.replicas):
            try:
                return ray.get(ref)
            except RayActorError:
                if attempt + 1 == self.replicas:
                    return None
                replica = (replica + 1) % self.replicas
                actor = self._actors[shard][replica]
                ref = actor.search_batch.remote(batch, k, ef_search, candidates, rescore, timeout)
            except ray.exceptions.RayTaskError as error:
                raise error.cause from None
        return None

    # Management -------------------------------------------------------------------------

    def info(self) -> list[dict]:
        """Each shard's primary: its incarnation, node, process id, item count, whether
        built."""
        return [self._get(g[0].info.remote(), s) for s, g in enumerate(self._actors)]

    def shard_ids(self, shard: int) -> np.ndarray:
        """The ids shard ``shard`` holds as of its last commit."""
        return self._get(self._actors[shard][0].ids.remote(), shard)

    def actor(self, shard: int, replica: int = 0) -> Any:
        """The Ray actor handle of a shard's replica (0: the primary)."""
        return self._actors[shard][replica]

    def wait_until_available(self, timeout: float = 60.0) -> None:
        """Blocks until every shard actor answers (after a restart), or raises
        ``ShardUnavailableError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for shard, group in enumerate(self._actors):
            for actor in group:
                while True:
                    try:
                        ray.get(actor.info.remote(), timeout=max(0.1, deadline - time.monotonic()))
                        break
                    except (RayActorError, GetTimeoutError) as error:
                        if time.monotonic() >= deadline:
                            raise ShardUnavailableError(
                                f"shard {shard} did not come back within {timeout} s", [shard]
                            ) from error
                        time.sleep(0.1)

    def __len__(self) -> int:
        return sum(i["items"] for i in self.info())

    def close(self) -> None:
        """Stops every shard actor (uncommitted changes are dropped; committed stores stay
        for a later ``ShardedIndex`` on the same path)."""
        for group in getattr(self, "_actors", []):
            for actor in group:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        self._actors = []

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
