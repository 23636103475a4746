"""hnswlib in the larger-than-RAM run (benches/larger_than_ram.sh): builds an index from
DIR/base.fvecs and saves it to DIR/hnswlib.bin (outside the memory limit), then, in another
process (inside it), loads it and runs the queries on one thread, printing one JSON line
in the shape of `hannoy-ltr search`.

Usage: ltr_hnswlib.py build --dir DIR [--m 16] [--ef-construction 100] [--threads 2]
       ltr_hnswlib.py search --dir DIR [--ef 64] [--warm-up N] [--max-queries N]
                      [--max-seconds S]
"""

import argparse
import json
import math
import os
import resource
import sys
import time
from importlib.metadata import version

import numpy as np

K = 10


def read_fvecs(path, dtype=np.float32):
    """A TEXMEX file (int32 width, then the row) as a C-contiguous (rows, width) array."""
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        return np.zeros((0, 0), dtype=dtype)
    width = int(raw[0])
    rows = raw.reshape(-1, width + 1)
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def major_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_majflt


def build(args):
    import hnswlib

    started = time.perf_counter()
    base = read_fvecs(os.path.join(args.dir, "base.fvecs"))
    n, dim = base.shape
    # The vectors are unit vectors: "ip" is cosine, without hnswlib normalising a copy.
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=n, M=args.m, ef_construction=args.ef_construction, random_seed=args.seed)
    index.set_num_threads(args.threads)
    built = time.perf_counter()
    index.add_items(base, np.arange(n))
    build_seconds = time.perf_counter() - built
    path = os.path.join(args.dir, "hnswlib.bin")
    index.save_index(path)
    print(json.dumps({
        "step": "hnswlib-build", "system": f"hnswlib {version('hnswlib')}", "n": n, "dim": dim,
        "m": args.m, "ef_construction": args.ef_construction, "threads": args.threads,
        "build_seconds": build_seconds, "total_seconds": time.perf_counter() - started,
        "index_bytes": os.path.getsize(path),
    }), flush=True)


def run_pass(index, queries, limit, deadline, each):
    faults = major_faults()
    started = time.perf_counter()
    done = 0
    while done < min(limit, len(queries)) and time.perf_counter() - started < deadline:
        one = time.perf_counter()
        labels, _ = index.knn_query(queries[done:done + 1], k=K)
        each((time.perf_counter() - one) * 1e6, labels[0])
        done += 1
    return done, time.perf_counter() - started, major_faults() - faults


def search(args):
    import hnswlib

    queries = read_fvecs(os.path.join(args.dir, "queries.fvecs"))
    truth = read_fvecs(os.path.join(args.dir, "groundtruth.ivecs"), np.int32)
    warmup = read_fvecs(os.path.join(args.dir, "warmup.fvecs")) if args.warm_up else queries[:0]
    print(f"loading hnswlib.bin ({os.path.getsize(os.path.join(args.dir, 'hnswlib.bin')) >> 20} MiB)",
          file=sys.stderr, flush=True)
    opening = time.perf_counter()
    faults = major_faults()
    index = hnswlib.Index(space="ip", dim=queries.shape[1])
    index.load_index(os.path.join(args.dir, "hnswlib.bin"))
    index.set_num_threads(1)
    index.set_ef(args.ef)
    open_ms = (time.perf_counter() - opening) * 1e3
    open_faults = major_faults() - faults
    print(f"loaded in {open_ms:.0f} ms", file=sys.stderr, flush=True)
    deadline = args.max_seconds if args.max_seconds else float("inf")
    warm = run_pass(index, warmup, args.warm_up, deadline, lambda _l, _f: None)
    latencies, hits = [], []

    def each(micros, labels):
        latencies.append(micros)
        want = set(truth[len(hits)][:K].tolist())
        hits.append(len(want.intersection(labels.tolist())) / len(want))

    limit = args.max_queries if args.max_queries else len(queries)
    done, seconds, faults = run_pass(index, queries, limit, deadline, each)
    latencies.sort()

    def quantile(q):
        """Nearest rank, as the Rust side's `stats::quantile`."""
        if not latencies:
            return 0.0
        return latencies[min(len(latencies), max(1, math.ceil(q * len(latencies)))) - 1]

    print(json.dumps({
        "label": args.label, "mode": "hnswlib", "system": f"hnswlib {version('hnswlib')}",
        "ef": args.ef, "queries": done, "recall_at_10": sum(hits) / max(1, len(hits)),
        "qps": done / max(seconds, 1e-9), "p50_us": quantile(0.5), "p99_us": quantile(0.99),
        "major_faults": faults, "major_faults_per_query": faults / max(1, done),
        "open_ms": open_ms, "open_major_faults": open_faults, "warm_up_queries": warm[0],
        "warm_up_qps": warm[0] / max(warm[1], 1e-9), "warm_up_major_faults": warm[2],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--dir", required=True)
    b.add_argument("--m", type=int, default=16)
    b.add_argument("--ef-construction", type=int, default=100)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--seed", type=int, default=7)
    s = sub.add_parser("search")
    s.add_argument("--dir", required=True)
    s.add_argument("--ef", type=int, default=64)
    s.add_argument("--warm-up", type=int, default=0)
    s.add_argument("--max-queries", type=int)
    s.add_argument("--max-seconds", type=float)
    s.add_argument("--label", default="")
    args = parser.parse_args()
    build(args) if args.command == "build" else search(args)


if __name__ == "__main__":
    main()
