"""hannoy.cluster on the real dataset: recall, build time and batch throughput for 1, 2 and 4
shards on a local Ray instance, against one node (a plain ``hannoy.Database``) built with
the same settings, and the coordinator's merge time per query.

For each shard count: build (add_items routed to the shards, then ``build()``: every shard
in parallel), then for each ef_search the median of ``--passes`` ``search_batch`` calls over
every query (each shard gets the whole batch once) and recall@k against the ground truth.
One node runs in this process, with the same build threads.

Usage: python python/bench_cluster.py [--shards 1,2,4] [--ef-search 32,64,128]
       [--passes 3] [--threads 2] [--dataset DIR] [--limit N]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

import hannoy
from bench import DEFAULT_DATASET, read_vecs, recall  # python/bench.py, beside this file
from hannoy.cluster import ShardedIndex, _merge

def median_seconds(passes: int, run):
    run()
    seconds, result = [], None
    for _ in range(passes):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--ef-search", default="32,64,128")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="first N base vectors (0: all)")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    base = read_vecs(args.dataset / "base.fvecs", np.float32)
    queries = read_vecs(args.dataset / "queries.fvecs", np.float32)
    truth = read_vecs(args.dataset / "groundtruth.ivecs", np.int32)
    if args.limit:
        base = base[: args.limit]
        truth = np.argsort(-(queries @ base.T), axis=1)[:, : args.k]
    ids = np.arange(len(base), dtype=np.uint32)
    efs = [int(e) for e in args.ef_search.split(",")]
    k = args.k
    print(f"{len(base)} x {base.shape[1]}, {len(queries)} queries, k={k}, threads={args.threads}")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    with tempfile.TemporaryDirectory() as tmp:
        db = hannoy.Database(Path(tmp) / "single", "cosine")
        start = time.perf_counter()
        with db.writer(base.shape[1]) as writer:
            writer.add_items(ids, base)
            writer.build(threads=args.threads)
        single_build = time.perf_counter() - start
        reader = db.reader()
        print(f"\n| layout | build s | ef | recall@{k} | batch q/s |")
        print("|---|---:|---:|---:|---:|")
        for ef in efs:
            seconds, (found, _) = median_seconds(
                args.passes, lambda: reader.search_batch(queries, k=k, ef_search=ef)
            )
            print(f"| one node | {single_build:.1f} | {ef} | {recall(found, truth, k):.4f} "
                  f"| {len(queries) / seconds:,.0f} |")
        reader.close()
        for shards in [int(s) for s in args.shards.split(",")]:
            index = ShardedIndex(Path(tmp) / f"shards-{shards}", "cosine", base.shape[1], shards)
            start = time.perf_counter()
            index.add_items(ids, base)
            index.build(threads=args.threads)
            build = time.perf_counter() - start
            for ef in efs:
                seconds, (found, _) = median_seconds(
                    args.passes, lambda: index.search_batch(queries, k=k, ef_search=ef)
                )
                print(f"| {shards} shard{'s' if shards > 1 else ''} | {build:.1f} | {ef} "
                      f"| {recall(found, truth, k):.4f} | {len(queries) / seconds:,.0f} |")
            index.close()
        # The coordinator's merge alone: 4 shards' answers of k per query.
        rng = np.random.default_rng(0)
        parts = [
            (rng.integers(0, 1 << 31, (len(queries), k)).astype(np.uint32),
             rng.random((len(queries), k), dtype=np.float32),
             np.zeros(len(queries), dtype=bool))
            for _ in range(4)
        ]
        seconds, _ = median_seconds(9, lambda: _merge(parts, k, len(queries)))
        print(f"\nmerge of 4 shards' top {k}: {seconds / len(queries) * 1e6:.2f} us per query")
        # One query per call: the fan-out's fixed cost (a Ray round trip per shard).
        index = ShardedIndex(Path(tmp) / "shards-2", "cosine", base.shape[1], 2)
        seconds, _ = median_seconds(
            args.passes, lambda: [index.search(q, k=k, ef_search=64) for q in queries[:200]]
        )
        print(f"one query per call, 2 shards, ef 64: {seconds / 200 * 1e3:.2f} ms per query")
        index.close()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
