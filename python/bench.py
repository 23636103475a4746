"""Speed and recall of the Python module on the real dataset, beside hnswlib.

Builds an index through Python on LMDB (add_items, then build), then, in this one process,
measures for each ef_search:

- ``search_batch`` over every query (parallel, one call), queries/s and recall@k;
- the ``search`` loop (one query per call, one thread), queries/s and recall@k;
- if hnswlib is importable: its index with the same M and ef_construction, built with the
  same threads, and ``knn_query`` on the whole batch (all threads) and one query per call
  (one thread), at the same ef.

Usage: python python/bench.py [--ef-search 32,64,128] [--threads 2] [--dataset DIR]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import hannoy

DEFAULT_DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "debian-minilm-384"


def read_vecs(path: Path, dtype) -> np.ndarray:
    """An .fvecs or .ivecs file: each row is its length (int32) then its components."""
    raw = np.fromfile(path, dtype=np.int32)
    dims = int(raw[0])
    return np.ascontiguousarray(raw.reshape(-1, dims + 1)[:, 1:]).view(dtype)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(row[:k].tolist()) & set(expected[:k].tolist()))
               for row, expected in zip(found, truth))
    return hits / (k * len(found))


def timed(passes: int, run) -> tuple[float, object]:
    """The median seconds of `passes` runs of `run()` after a warm-up, and its last result."""
    result = run()
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def row(name: str, ef: int, queries: int, seconds: float, found: np.ndarray, truth, k) -> None:
    print(f"{name:<34} {ef:>5} {queries / seconds:>12,.0f} {recall(found, truth, k):>10.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path,
                        default=Path(os.environ.get("HANNOY_DATASET", DEFAULT_DATASET)))
    parser.add_argument("--ef-search", default="64",
                        help="comma-separated ef_search values (default 64)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="build threads (default 2)")
    parser.add_argument("--passes", type=int, default=3, help="measured passes per figure")
    parser.add_argument("--limit", type=int, help="use only the first N base vectors")
    parser.add_argument("--no-hnswlib", action="store_true", help="skip hnswlib")
    args = parser.parse_args()
    efs = [int(ef) for ef in args.ef_search.split(",")]

    base = read_vecs(args.dataset / "base.fvecs", np.float32)
    queries = read_vecs(args.dataset / "queries.fvecs", np.float32)
    truth = read_vecs(args.dataset / "groundtruth.ivecs", np.int32)
    if args.limit:
        base = base[: args.limit]
        normalized = base / np.linalg.norm(base, axis=1, keepdims=True)
        scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ normalized.T
        truth = np.argsort(-scores, axis=1)[:, : args.k]
    n, dims = base.shape
    ids = np.arange(n, dtype=np.uint32)
    print(f"dataset {args.dataset.name}: {n} x {dims}, {len(queries)} queries, cosine, "
          f"k={args.k}, M={args.m}, ef_construction={args.ef_construction}, "
          f"{args.threads} build threads, {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as directory:
        db = hannoy.Database(Path(directory) / "db", "cosine")
        writer = db.writer(dims, m=args.m, ef_construction=args.ef_construction)
        start = time.perf_counter()
        writer.add_items(ids, base)
        added = time.perf_counter() - start
        stats = writer.build(threads=args.threads)
        writer.commit()
        built = time.perf_counter() - start
        print(f"hannoy: add_items {added:.2f} s, build {stats['compute_seconds'] + stats['write_seconds']:.2f} s, "
              f"total with commit {built:.2f} s")
        reader = db.reader()

        hnsw = None
        if not args.no_hnswlib:
            try:
                import hnswlib
            except ImportError:
                print("hnswlib is not importable: skipped")
            else:
                hnsw = hnswlib.Index(space="cosine", dim=dims)
                hnsw.init_index(max_elements=n, M=args.m, ef_construction=args.ef_construction,
                                random_seed=42)
                start = time.perf_counter()
                hnsw.add_items(base, ids, num_threads=args.threads)
                print(f"hnswlib: add_items (build) {time.perf_counter() - start:.2f} s")

        print(f"\n{'system / call':<34} {'ef':>5} {'queries/s':>12} {'recall@' + str(args.k):>10}")
        for ef in efs:
            seconds, (found, _) = timed(
                args.passes, lambda: reader.search_batch(queries, k=args.k, ef_search=ef))
            row("hannoy search_batch (all threads)", ef, len(queries), seconds, found, truth, args.k)

            def loop():
                return np.array([[i for i, _ in reader.search(q, k=args.k, ef_search=ef)]
                                 for q in queries])

            seconds, found = timed(args.passes, loop)
            row("hannoy search (1 thread)", ef, len(queries), seconds, found, truth, args.k)

            if hnsw is not None:
                hnsw.set_ef(ef)
                seconds, (found, _) = timed(
                    args.passes, lambda: hnsw.knn_query(queries, k=args.k, num_threads=-1))
                row("hnswlib knn_query (all threads)", ef, len(queries), seconds, found, truth,
                    args.k)

                def hnsw_loop():
                    return np.vstack([hnsw.knn_query(q, k=args.k, num_threads=1)[0]
                                      for q in queries])

                seconds, found = timed(args.passes, hnsw_loop)
                row("hnswlib knn_query (1 thread)", ef, len(queries), seconds, found, truth,
                    args.k)
        del reader, writer, db
    return 0


if __name__ == "__main__":
    sys.exit(main())
