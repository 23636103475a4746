#!/usr/bin/env python3
"""Runs the in-memory HNSW libraries (hnswlib, faiss IndexHNSWFlat, usearch) with the
protocol of `hannoy-bench`: same data, parameters and JSON lines, so one table holds
every system.

Protocol: build with M and ef_construction on T threads (timed from the first add to a
searchable index); then, per ef_search, one warm-up pass that scores recall@k against the
ground truth, then `passes` timed passes, single-threaded, one query per call; queries/s is
the median pass, p50/p99 over every timed query. Size is the index saved to a file.

Usage: peers.py [--dataset DIR] [--systems hnswlib,faiss,usearch] [--m 16]
                [--ef-construction 100] [--ef-search 16,32,64,128,256] [--k 10]
                [--threads 2] [--passes 3] [--queries N]
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
    rates, latencies = [], []
    for _ in range(max(passes, 1)):
        started = time.perf_counter()
        for q in queries:
            one = time.perf_counter()
            search(q)
            latencies.append((time.perf_counter() - one) * 1e6)
        rates.append(len(queries) / (time.perf_counter() - started))
    rates.sort()
    latencies.sort()
    at = lambda q: latencies[min(len(latencies) - 1, max(0, int(np.ceil(q * len(latencies))) - 1))]
    return recall, rates[len(rates) // 2], at(0.5), at(0.99)


def build_hnswlib(base, args, path):
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=args.m, ef_construction=args.ef_construction, random_seed=args.seed)
    index.set_num_threads(args.threads)
    index.add_items(base, np.arange(len(base)))
    index.set_num_threads(1)
    index.save_index(str(path))

    def searcher(ef):
        index.set_ef(ef)
        return lambda q: index.knn_query(q, k=args.k)[0][0]

    return f"hnswlib {version('hnswlib')}", searcher


def build_faiss(base, args, path):
    import faiss

    faiss.omp_set_num_threads(args.threads)
    normalized = base / np.linalg.norm(base, axis=1, keepdims=True)
    index = faiss.IndexHNSWFlat(base.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = args.ef_construction
    index.add(normalized)
    faiss.omp_set_num_threads(1)
    faiss.write_index(index, str(path))

    def searcher(ef):
        index.hnsw.efSearch = ef

        def search(q):
            q = (q / np.linalg.norm(q)).reshape(1, -1)
            return index.search(q, args.k)[1][0]

        return search

    return f"faiss-cpu {version('faiss-cpu')} IndexHNSWFlat", searcher


def build_usearch(base, args, path):
    from usearch.index import Index

    index = Index(ndim=base.shape[1], metric="cos", dtype="f32", connectivity=args.m, expansion_add=args.ef_construction)
    index.add(np.arange(len(base)), base, threads=args.threads)
    index.save(str(path))

    def searcher(ef):
        index.expansion_search = ef
        return lambda q: index.search(q, args.k, threads=1).keys

    return f"usearch {version('usearch')}", searcher


BUILDERS = {"hnswlib": build_hnswlib, "faiss": build_faiss, "usearch": build_usearch}


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
    args = parser.parse_args()

    base, queries, truth = load(args.dataset)
    if args.queries:
        queries, truth = queries[: args.queries], truth[: args.queries]
    efs = [int(x) for x in args.ef_search.split(",")]
    for name in args.systems.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.index"
            started = time.perf_counter()
            system, searcher = BUILDERS[name](base, args, path)
            build_s = time.perf_counter() - started
            size = path.stat().st_size
            for ef in efs:
                recall, qps, p50, p99 = measure(searcher(ef), queries, truth, args.k, args.passes)
                mem = memory()
                print(json.dumps({
                    "system": system, "backend": "in-memory", "dataset": args.dataset.name,
                    "n": len(base), "dim": base.shape[1], "metric": "cosine", "m": args.m,
                    "m0": 2 * args.m, "ef_construction": args.ef_construction, "threads": args.threads,
                    "build_s": build_s, "size_bytes": size, "peak_rss_bytes": mem.get("VmHWM", 0),
                    "rss_anon_bytes": mem.get("RssAnon", 0), "rss_file_bytes": mem.get("RssFile", 0),
                    "ef_search": ef, "k": args.k, "recall": recall, "qps": qps, "p50_us": p50,
                    "p99_us": p99, "peer": True, "filter_ratio": None, "churn": None,
                    "recall_fresh": None, "rebuild_s": None,
                }), flush=True)
            print(f"{system}: built in {build_s:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
