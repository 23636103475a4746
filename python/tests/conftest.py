"""Fixtures shared by the hannoy tests: databases of every backend, vectors per metric,
exact nearest neighbours, and the real dataset."""

import gc
import os
from pathlib import Path

import numpy as np
import pytest

import hannoy

BACKENDS = ["lmdb", "redb", "memory"]
METRICS = [metric.value for metric in hannoy.Metric.all()]


def open_db(tmp_path: Path, backend: str, metric="cosine", name="db", **kwargs):
    """A database of `backend` kept under `tmp_path` (nothing on disk for memory)."""
    if backend == "memory":
        return hannoy.Database(None, metric, backend="memory", **kwargs)
    path = tmp_path / (name + (".redb" if backend == "redb" else ""))
    return hannoy.Database(path, metric, backend=backend, **kwargs)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def make_db(tmp_path, backend):
    """Opens databases of the test's backend; closes them all at the end."""

    def make(metric="cosine", name="db", **kwargs):
        return open_db(tmp_path, backend, metric, name, **kwargs)

    yield make
    gc.collect()


def vectors_for(metric: str, n: int, dims: int, seed: int = 0) -> np.ndarray:
    """`n` random float32 vectors the metric accepts (0/1 components for hamming)."""
    rng = np.random.default_rng(seed)
    if metric == "hamming":
        return rng.integers(0, 2, size=(n, dims)).astype(np.float32)
    return rng.normal(size=(n, dims)).astype(np.float32)


def reference_distances(metric: str, query: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The metric's user-facing distance from `query` to each row of `items`, in float64."""
    q = query.astype(np.float64)
    x = items.astype(np.float64)
    dims = x.shape[1]
    if metric == "euclidean":
        return np.sqrt(((x - q) ** 2).sum(axis=1))
    if metric == "cosine":
        return 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    if metric == "dot":
        return -(x @ q)
    if metric == "manhattan":
        return np.abs(x - q).sum(axis=1)
    if metric == "hamming":
        return (x != q).sum(axis=1).astype(np.float64)
    differing = ((x > 0) != (q > 0)).sum(axis=1).astype(np.float64)
    if metric == "bq_cosine":
        return 2.0 * differing / dims
    if metric == "bq_euclidean":
        return 2.0 * np.sqrt(differing)
    if metric == "bq_manhattan":
        return 2.0 * differing
    raise ValueError(metric)


def build_index(db, vectors: np.ndarray, ids=None, **writer_args):
    """Adds `vectors` (as `ids`, default 0..n) to index 0 of `db`, builds and commits."""
    ids = np.arange(len(vectors), dtype=np.uint32) if ids is None else ids
    with db.writer(vectors.shape[1], **writer_args) as writer:
        writer.add_items(ids, vectors)
    return db.reader(writer_args.get("index", 0))


DATASET = Path(
    os.environ.get(
        "HANNOY_DATASET",
        Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "debian-minilm-384",
    )
)


def read_vecs(path: Path, dtype) -> np.ndarray:
    """An .fvecs or .ivecs file: each row is its length (int32) then its components."""
    raw = np.fromfile(path, dtype=np.int32)
    dims = int(raw[0])
    rows = raw.reshape(-1, dims + 1)
    if not (rows[:, 0] == dims).all():
        raise ValueError(f"{path}: rows of different lengths")
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


@pytest.fixture(scope="session")
def dataset():
    """(base, queries, ground truth) of the real dataset; skipped when it is missing, except
    in CI (CI=true), where a missing dataset fails."""
    files = [DATASET / name for name in ("base.fvecs", "queries.fvecs", "groundtruth.ivecs")]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        message = f"dataset missing: {', '.join(missing)} (set HANNOY_DATASET)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    base = read_vecs(files[0], np.float32)
    queries = read_vecs(files[1], np.float32)
    truth = read_vecs(files[2], np.int32)
    return base, queries, truth
