"""hannoy.cluster on a local Ray instance: routing, results equal to single-node indexes of
the same items, recall on the real dataset, deletes, reopen and layouts, filters, replicas,
a shard killed in the middle of a query stream, and bad input.

Ray is the package's optional extra: without it these tests are skipped, except in CI
(CI=true), where a missing Ray fails."""

import _thread
import os
import threading
import time

import numpy as np
import pytest

import hannoy
from conftest import vectors_for

if os.environ.get("CI", "").lower() == "true":
    import ray  # noqa: F401 - CI installs the extra: a missing Ray fails loudly
else:
    ray = pytest.importorskip("ray")

from hannoy.cluster import (  # noqa: E402 - after the Ray check
    LayoutMismatchError,
    ShardedIndex,
    ShardUnavailableError,
    ShardWritesLostError,
    shard_of,
)

DIMS = 16
SETTINGS = dict(m=8, ef_construction=64, seed=7)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance (2 CPUs, loopback only) for the module."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def fmix64(x: int) -> int:
    """MurmurHash3's finalizer, written out in Python integers: the routing's definition."""
    mask = (1 << 64) - 1
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & mask
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & mask
    x ^= x >> 33
    return x


def single_node_top(vectors, ids, queries, k, ef, metric="cosine", candidates=None):
    """Search results of one memory index built on `ids`/`vectors` with the shards' settings
    and one build thread."""
    db = hannoy.Database(None, metric, backend="memory")
    with db.writer(vectors.shape[1], **SETTINGS) as writer:
        writer.add_items(ids, vectors)
        writer.build(threads=1)
    return db.reader().search_batch(queries, k=k, ef_search=ef, candidates=candidates)


def merged(parts, k):
    ids = np.concatenate([p[0] for p in parts], axis=1)
    distances = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((ids, distances), axis=1)[:, :k]
    return np.take_along_axis(ids, order, 1), np.take_along_axis(distances, order, 1)


def restarted(index, shard, old_pid, timeout=60.0):
    """Waits until the shard's primary runs in a new process (Ray restarted it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        index.wait_until_available(timeout=timeout)
        try:
            if index.info()[shard]["pid"] != old_pid:
                return
        except ShardUnavailableError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"shard {shard} was not restarted within {timeout} s")


def built(tmp_path, n=600, shards=2, metric="cosine", **kwargs):
    vectors = vectors_for(metric, n, DIMS, seed=3)
    ids = np.arange(1000, 1000 + n, dtype=np.uint32)
    index = ShardedIndex(tmp_path / "shards", metric, DIMS, shards, **SETTINGS, **kwargs)
    index.add_items(ids, vectors)
    index.build(threads=1)
    return index, ids, vectors


def test_routing_is_fmix64_modulo_the_shard_count():
    ids = np.array([0, 1, 2, 17, 4_294_967_295, 123_456_789], dtype=np.uint32)
    for shards in (1, 2, 3, 4, 7):
        assert shard_of(ids, shards).tolist() == [fmix64(int(i)) % shards for i in ids]
    counts = np.bincount(shard_of(np.arange(20_000), 4), minlength=4)
    assert counts.min() > 0.9 * 5_000 and counts.max() < 1.1 * 5_000, counts


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_results_equal_single_node_indexes_of_the_same_items(tmp_path, shards):
    index, ids, vectors = built(tmp_path, shards=shards)
    queries = vectors_for("cosine", 20, DIMS, seed=9)
    got_ids, got_distances = index.search_batch(queries, k=10, ef_search=32)
    route = shard_of(ids, shards)
    for shard in range(shards):
        assert sorted(index.shard_ids(shard).tolist()) == ids[route == shard].tolist()
    parts = [
        single_node_top(vectors[route == s], ids[route == s], queries, 10, 32)
        for s in range(shards)
    ]
    want_ids, want_distances = merged(parts, 10)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_array_equal(got_distances, want_distances)
    if shards == 1:
        # One shard is one node: the same index as a plain database.
        alone = single_node_top(vectors, ids, queries, 10, 32)
        np.testing.assert_array_equal(got_ids, alone[0])
    pairs = index.search(queries[0], k=5, ef_search=32)
    assert pairs == [(int(i), float(d)) for i, d in zip(want_ids[0][:5], want_distances[0][:5])]
    assert len(index) == len(ids)
    index.close()


def test_recall_on_real_data_is_at_least_the_single_nodes(tmp_path, dataset):
    base, queries, _ = dataset
    base, queries = base[:20_000], queries[:200]
    truth = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    ids = np.arange(len(base), dtype=np.uint32)
    single = single_node_top(base, ids, queries, 10, 64)[0]
    index = ShardedIndex(tmp_path / "shards", "cosine", 384, 2, m=16, ef_construction=100, seed=7)
    index.add_items(ids, base)
    index.build()
    sharded = index.search_batch(queries, k=10, ef_search=64)[0]
    index.close()

    def recall(found):
        return np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)])

    assert recall(sharded) >= recall(single) - 0.005, (recall(sharded), recall(single))
    assert recall(sharded) >= 0.95


def test_deletes_and_replacements_reach_their_shards(tmp_path):
    index, ids, vectors = built(tmp_path, n=400, shards=3)
    gone = ids[::7]
    assert index.delete_items(gone) == len(gone)
    assert index.delete_items([5]) == 0  # never added
    moved = ids[1:20:7]
    index.add_items(moved, -vectors[1:20:7])
    index.build(threads=1)
    held = np.concatenate([index.shard_ids(s) for s in range(3)])
    assert sorted(held.tolist()) == sorted(set(ids.tolist()) - set(gone.tolist()))
    found = index.search_batch(vectors[:50], k=20, ef_search=64)[0]
    assert not np.isin(found, gone).any()
    # A replaced item is found at its new vector, at distance ~0.
    pairs = index.search(-vectors[1 + 7], k=1, ef_search=64)
    assert pairs[0][0] == moved[1] and pairs[0][1] < 1e-5
    index.close()


def test_reopen_finds_the_committed_items_and_refuses_another_layout(tmp_path):
    index, ids, vectors = built(tmp_path, n=300, shards=2)
    before = index.search_batch(vectors[:10], k=5, ef_search=32)
    index.add_items([99_999], vectors[:1])  # never built: dropped by close
    index.close()
    again = ShardedIndex(tmp_path / "shards", "cosine", DIMS, 2, **SETTINGS)
    after = again.search_batch(vectors[:10], k=5, ef_search=32)
    np.testing.assert_array_equal(before[0], after[0])
    assert len(again) == len(ids)
    again.close()
    for metric, dims, shards in [("cosine", DIMS + 1, 2), ("cosine", DIMS, 3), ("euclidean", DIMS, 2)]:
        with pytest.raises(LayoutMismatchError, match="shard 0"):
            ShardedIndex(tmp_path / "shards", metric, dims, shards, **SETTINGS)


def test_candidates_are_split_per_shard(tmp_path):
    index, ids, vectors = built(tmp_path, n=500, shards=2)
    allowed = ids[::5]
    query = vectors_for("cosine", 1, DIMS, seed=11)
    got = index.search_batch(query, k=10, ef_search=200, candidates=allowed)[0][0]
    assert set(got.tolist()) <= set(allowed.tolist())
    # Exact among 100 allowed items at ef 200: the true top 10 by cosine distance.
    chosen = vectors[::5]
    cos = (chosen @ query[0]) / np.linalg.norm(chosen, axis=1) / np.linalg.norm(query[0])
    assert set(got.tolist()) == set(allowed[np.argsort(-cos)[:10]].tolist())
    one_shard = allowed[shard_of(allowed, 2) == 1][:3]
    assert {i for i, _ in index.search(query[0], k=10, candidates=one_shard)} == set(one_shard.tolist())
    index.close()


def test_replicas_answer_the_same_and_cover_a_dead_one(tmp_path):
    index, ids, vectors = built(tmp_path, n=400, shards=2, replicas=2)
    queries = vectors[:8]
    first = index.search_batch(queries, k=5, ef_search=32)
    second = index.search_batch(queries, k=5, ef_search=32)  # the other replicas' turn
    np.testing.assert_array_equal(first[0], second[0])
    ray.kill(index.actor(1, 1), no_restart=True)
    for _ in range(4):
        np.testing.assert_array_equal(index.search_batch(queries, k=5, ef_search=32)[0], first[0])
    index.close()


def test_a_shard_killed_during_a_query_stream(tmp_path):
    index, ids, vectors = built(tmp_path, n=400, shards=2)
    queries = vectors[:4]
    want = index.search_batch(queries, k=5, ef_search=32)
    outcomes, errors, stop = [], [], threading.Event()

    def stream():
        while not stop.is_set():
            try:
                got, _, missing = index.search_batch(queries, k=5, ef_search=32, allow_partial=True)
                outcomes.append((got, missing))
            except Exception as error:  # noqa: BLE001 - collected and checked below
                errors.append(error)

    worker = threading.Thread(target=stream)
    worker.start()
    time.sleep(0.3)
    victim = index.info()[1]["pid"]
    ray.kill(index.actor(1), no_restart=False)  # Ray restarts it; it reopens its store
    with pytest.raises(ShardUnavailableError) as raised:
        for _ in range(200):  # until a search meets the dead or restarting shard
            index.search_batch(queries, k=5, ef_search=32)
    assert raised.value.shards == [1]
    restarted(index, 1, victim)
    stop.set()
    worker.join()
    assert not errors, errors
    partial = [(got, missing) for got, missing in outcomes if missing]
    assert partial, "no search met the dead shard"
    shard0 = set(ids[shard_of(ids, 2) == 0].tolist())
    for got, missing in partial:
        assert missing == [1]
        assert set(got[got != hannoy.MISSING_ID].tolist()) <= shard0
    assert index.info()[1]["pid"] != victim
    np.testing.assert_array_equal(index.search_batch(queries, k=5, ef_search=32)[0], want[0])
    index.close()


def test_a_restart_between_writes_and_build_aborts_every_shard(tmp_path):
    index, ids, vectors = built(tmp_path, n=300, shards=2)
    fresh = np.arange(5000, 5100, dtype=np.uint32)
    index.add_items(fresh, vectors[:100])
    victim = index.info()[0]["pid"]
    ray.kill(index.actor(0), no_restart=False)
    restarted(index, 0, victim)
    with pytest.raises(ShardWritesLostError, match="shard 0"):
        index.build(threads=1)
    # Neither shard took the new items: shard 1's were aborted.
    held = np.concatenate([index.shard_ids(s) for s in range(2)])
    assert sorted(held.tolist()) == ids.tolist()
    index.close()


def test_an_interrupted_build_aborts_every_shard(tmp_path):
    index, ids, vectors = built(tmp_path, n=200, shards=2)
    fresh = np.arange(10_000, 40_000, dtype=np.uint32)
    index.add_items(fresh, vectors_for("cosine", len(fresh), DIMS, seed=4))
    timer = threading.Timer(0.05, _thread.interrupt_main)  # Ctrl-C while the shards build
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        index.build(threads=1)
        time.sleep(10)  # the build finished first: the interrupt lands here, and fails below
    timer.join()
    held = np.concatenate([index.shard_ids(s) for s in range(2)])
    assert sorted(held.tolist()) == ids.tolist()
    index.close()


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="shards"):
        ShardedIndex(tmp_path / "a", "cosine", DIMS, 0)
    with pytest.raises(ValueError, match="path"):
        ShardedIndex(tmp_path / "b", "cosine", DIMS, 2, backend="memory")
    with pytest.raises(ValueError, match="replicas"):
        ShardedIndex(tmp_path / "c", "cosine", DIMS, 2, backend="redb", replicas=2)
    index = ShardedIndex(tmp_path / "d", "cosine", DIMS, 2, **SETTINGS)
    with pytest.raises(hannoy.MissingIndexError):
        index.search(np.ones(DIMS), k=3)
    with pytest.raises(ValueError, match="columns"):
        index.add_items([1, 2], np.ones((2, DIMS + 1)))
    with pytest.raises(ValueError, match="finite"):
        index.add_items([1], np.full((1, DIMS), np.nan))
    with pytest.raises(ValueError, match="ids"):
        index.add_items([1, 2, 3], np.ones((2, DIMS)))
    with pytest.raises(ValueError, match="0..="):
        index.add_items([-1], np.ones((1, DIMS)))
    with pytest.raises(ValueError):
        index.add_items([1], np.zeros((1, DIMS)))  # the zero vector under cosine
    index.add_items([1, 2], np.ones((2, DIMS)))
    index.build(threads=1)
    with pytest.raises(ValueError, match="columns"):
        index.search(np.ones(DIMS - 1))
    with pytest.raises(ValueError, match="k"):
        index.search(np.ones(DIMS), k=0)
    index.close()


def test_redb_and_memory_shards(tmp_path):
    for backend, path in [("redb", tmp_path / "r"), ("memory", None)]:
        index = ShardedIndex(path, "euclidean", DIMS, 2, backend=backend, **SETTINGS)
        vectors = vectors_for("euclidean", 200, DIMS, seed=5)
        ids = np.arange(200, dtype=np.uint32)
        index.add_items(ids, vectors)
        index.build(threads=1)
        route = shard_of(ids, 2)
        parts = [
            single_node_top(vectors[route == s], ids[route == s], vectors[:5], 5, 32, "euclidean")
            for s in range(2)
        ]
        np.testing.assert_array_equal(index.search_batch(vectors[:5], k=5, ef_search=32)[0], merged(parts, 5)[0])
        index.close()
