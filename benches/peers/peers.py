#!/usr/bin/env python3
"""Runs the in-memory HNSW libraries (hnswlib, faiss IndexHNSWFlat, usearch) with the
protocol of `hannoy-bench`: same data, parameters and JSON lines, so one table holds
every system.

Protocol: build with M and ef_construction on T threads (timed from the first add to a
searchable index); then, per ef_search, one warm-up pass that scores recall@k against the
ground truth, then `passes` timed passes, single-threaded, one query per call; queries/s is
the median pass, p50/p99 over every timed query. Size is the index saved to a file (saving
is not timed as part of the build). With --cold, the first pass after loading the saved
index is measured too, with the file in the page cache ("reopened") and dropped from it
("cold"), the load time reported as open_ms.

Usage: peers.py [--dataset DIR] [--systems hnswlib,faiss,usearch] [--m 16]
                [--ef-construction 100] [--ef-search 16,32,64,128,256] [--k 10]
                [--threads 2] [--passes 3] [--queries N] [--cold] [--cold-ef 64]
                [--metric cosine|l2]

`--metric l2` compares raw vectors by squared Euclidean distance (hnswlib "l2", faiss
METRIC_L2, usearch "l2sq"): the protocol of `hannoy-bench --metric euclidean`.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    return rows[:, 1:].view(dtype).copy()


def load(dataset):
    base = read_vecs(dataset / "base.fvecs", np.float32)
    queries = read_vecs(dataset / "queries.fvecs", np.float32)
    truth = read_vecs(dataset / "groundtruth.ivecs", np.int32)
    return base, queries, truth


def recall_at(k, found, truth):
    total = 0.0
    for got, want in zip(found, truth):
        want = set(int(x) for x in want[:k])
        total += len(want.intersection(int(x) for x in got[:k])) / len(want)
    return total / len(found)


def memory():
    fields = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmHWM", "RssAnon", "RssFile"):
                    fields[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return fields


def measure(search, queries, truth, k, passes):
    found = [search(q) for q in queries]
    recall = recall_at(k, found, truth)
    rates, cpu_rates, latencies = [], [], []
    for _ in range(max(passes, 1)):
        cpu = time.thread_time()
        started = time.perf_counter()
        for q in queries:
            one = time.perf_counter()
            search(q)
            latencies.append((time.perf_counter() - one) * 1e6)
        rates.append(len(queries) / (time.perf_counter() - started))
        cpu_rates.append(len(queries) / (time.thread_time() - cpu))
    rates.sort()
    cpu_rates.sort()
    # Queries per second of this thread's CPU time (robust to descheduling on a shared
    # machine), as hannoy-bench prints it; stderr, outside the table's protocol.
    print(f"CPUQPS {cpu_rates[len(cpu_rates) // 2]:.0f}", file=sys.stderr, flush=True)
    latencies.sort()
    at = lambda q: latencies[min(len(latencies) - 1, max(0, int(np.ceil(q * len(latencies))) - 1))]
    return recall, rates[len(rates) // 2], at(0.5), at(0.99)


class Hnswlib:
    """hnswlib's `Index` (space "cosine": it normalises and uses the inner product; or "l2")."""

    def __init__(self, args, dim):
        import hnswlib

        self.module, self.args, self.dim = hnswlib, args, dim
        self.space = "l2" if args.metric == "l2" else "cosine"
        self.name = f"hnswlib {version('hnswlib')}"

    def build(self, base):
        args = self.args
        self.index = self.module.Index(space=self.space, dim=self.dim)
        self.index.init_index(max_elements=len(base), M=args.m, ef_construction=args.ef_construction, random_seed=args.seed)
        self.index.set_num_threads(args.threads)
        self.index.add_items(base, np.arange(len(base)))
        self.index.set_num_threads(1)

    def save(self, path):
        self.index.save_index(str(path))

    def load(self, path):
        self.index = self.module.Index(space=self.space, dim=self.dim)
        self.index.load_index(str(path))
        self.index.set_num_threads(1)

    def searcher(self, ef):
        self.index.set_ef(ef)
        return lambda q: self.index.knn_query(q, k=self.args.k)[0][0]


class Faiss:
    """faiss `IndexHNSWFlat` over the inner product of normalised vectors (cosine)."""

    def __init__(self, args, dim):
        import faiss

        self.module, self.args, self.dim = faiss, args, dim
        self.name = f"faiss-cpu {version('faiss-cpu')} IndexHNSWFlat"

    def build(self, base):
        faiss, args = self.module, self.args
        faiss.omp_set_num_threads(args.threads)
        if args.metric == "l2":
            self.index = faiss.IndexHNSWFlat(self.dim, args.m, faiss.METRIC_L2)
            vectors = base
        else:
            self.index = faiss.IndexHNSWFlat(self.dim, args.m, faiss.METRIC_INNER_PRODUCT)
            vectors = base / np.linalg.norm(base, axis=1, keepdims=True)
        self.index.hnsw.efConstruction = args.ef_construction
        self.index.add(vectors)
        faiss.omp_set_num_threads(1)

    def save(self, path):
        self.module.write_index(self.index, str(path))

    def load(self, path):
        self.index = self.module.read_index(str(path))

    def searcher(self, ef):
        self.index.hnsw.efSearch = ef

        def search(q):
            if self.args.metric != "l2":
                q = q / np.linalg.norm(q)
            q = q.reshape(1, -1)
            return self.index.search(q, self.args.k)[1][0]

        return search


class Usearch:
    """usearch's `Index` with the cosine metric on f32."""

    def __init__(self, args, dim):
        from usearch.index import Index

        self.cls, self.args, self.dim = Index, args, dim
        self.name = f"usearch {version('usearch')}"

    def build(self, base):
        args = self.args
        self.index = self.cls(ndim=self.dim, metric="l2sq" if args.metric == "l2" else "cos", dtype="f32", connectivity=args.m, expansion_add=args.ef_construction)
        self.index.add(np.arange(len(base)), base, threads=args.threads)

    def save(self, path):
        self.index.save(str(path))

    def load(self, path):
        self.index = self.cls.restore(str(path))

    def searcher(self, ef):
        self.index.expansion_search = ef
        return lambda q: self.index.search(q, self.args.k, threads=1).keys


SYSTEMS = {"hnswlib": Hnswlib, "faiss": Faiss, "usearch": Usearch}


def first_pass(search, queries, truth, k):
    """Times the first pass over the queries (each once) and scores it."""
    found, latencies = [], []
    started = time.perf_counter()
    for q in queries:
        one = time.perf_counter()
        found.append(search(q))
        latencies.append((time.perf_counter() - one) * 1e6)
    seconds = time.perf_counter() - started
    latencies.sort()
    at = lambda q: latencies[min(len(latencies) - 1, max(0, int(np.ceil(q * len(latencies))) - 1))]
    return recall_at(k, found, truth), len(queries) / seconds, at(0.5), at(0.99)


def drop_from_page_cache(path):
    """posix_fadvise(DONTNEED) on a closed, synced file: its pages leave the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "debian-minilm-384"
    parser.add_argument("--dataset", type=Path, default=Path(os.environ.get("HANNOY_DATASET", default)))
    parser.add_argument("--systems", default="hnswlib,faiss,usearch")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef-search", default="16,32,64,128,256")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cold", action="store_true", help="also the first pass after loading the saved index, with its file cached and dropped from the page cache")
    parser.add_argument("--cold-ef", type=int, default=64)
    parser.add_argument("--metric", choices=("cosine", "l2"), default="cosine")
    args = parser.parse_args()

    base, queries, truth = load(args.dataset)
    if args.queries:
        queries, truth = queries[: args.queries], truth[: args.queries]
    efs = [int(x) for x in args.ef_search.split(",")]
    for key in args.systems.split(","):
        system = SYSTEMS[key](args, base.shape[1])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{key}.index"
            started = time.perf_counter()
            system.build(base)
            build_s = time.perf_counter() - started
            system.save(path)
            size = path.stat().st_size

            def row(ef, recall, qps, p50, p99, cache="warm", open_ms=None):
                mem = memory()
                print(json.dumps({
                    "system": system.name, "backend": "in-memory", "dataset": args.dataset.name,
                    "n": len(base), "dim": base.shape[1], "metric": "euclidean" if args.metric == "l2" else "cosine", "m": args.m,
                    "m0": 2 * args.m, "ef_construction": args.ef_construction, "threads": args.threads,
                    "build_s": build_s, "size_bytes": size, "peak_rss_bytes": mem.get("VmHWM", 0),
                    "rss_anon_bytes": mem.get("RssAnon", 0), "rss_file_bytes": mem.get("RssFile", 0),
                    "ef_search": ef, "k": args.k, "recall": recall, "qps": qps, "p50_us": p50,
                    "p99_us": p99, "peer": True, "filter_ratio": None, "churn": None,
                    "recall_fresh": None, "rebuild_s": None, "cache": cache, "open_ms": open_ms,
                }), flush=True)

            if args.cold:
                # The index is loaded from its file into memory: "reopened" with the file in
                # the page cache, "cold" after dropping it; the load counts as the opening.
                for cache in ("reopened", "cold"):
                    system.index = None
                    if cache == "cold":
                        drop_from_page_cache(path)
                    started = time.perf_counter()
                    system.load(path)
                    open_ms = (time.perf_counter() - started) * 1e3
                    figures = first_pass(system.searcher(args.cold_ef), queries, truth, args.k)
                    row(args.cold_ef, *figures, cache=cache, open_ms=open_ms)
            for ef in efs:
                row(ef, *measure(system.searcher(ef), queries, truth, args.k, args.passes))
            print(f"{system.name}: built in {build_s:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
