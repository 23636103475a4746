"""Soak: eight reader threads search while one writer thread adds, replaces, deletes,
builds and commits, on every backend, for HANNOY_SOAK_SECONDS (default 3) each.

Each commit holds one marker item, id MARKER_BASE + its commit number, and the writer
records the commit's sorted ids before committing; so a reader knows from its snapshot's
marker the exact ids it must see. Every batch of results must be made of those ids,
closest first, min(k, items) per row, at the distance of the vectors the snapshot holds.
Six readers open a reader per loop and close it; two hold one for several batches (its
ids must not change while the writer commits), then refresh() it.

Documented soak, 60 s per backend:
HANNOY_SOAK_SECONDS=60 python -m pytest python/tests/test_soak.py -s
"""

import os
import sys
import threading
import time

import numpy as np

import hannoy

SECONDS = float(os.environ.get("HANNOY_SOAK_SECONDS", "3"))
DIMS = 16
K = 10
READERS = 8
HOLDING_READERS = 2
HELD_BATCHES = 20
MARKER_BASE = 1 << 30
# Far from every query and item (components in [-1, 1)): never among the closest.
MARKER_VECTOR = np.full(DIMS, 100.0, dtype=np.float32)
MAX_ITEMS = 2000
# The writer goes on past the deadline until it has committed this many times.
MIN_COMMITS = 5


def check_snapshot(reader, recorded, rng, tally):
    """Checks one snapshot of `reader` against the ids recorded for its commit; returns the
    commit number."""
    ids = reader.ids()
    assert len(ids) >= 1 and ids[-1] >= MARKER_BASE, "a snapshot without a commit marker"
    assert len(ids) == 1 or ids[-2] < MARKER_BASE, "a snapshot with two commit markers"
    commit = int(ids[-1]) - MARKER_BASE
    expected = recorded.get(commit)
    assert expected is not None, f"commit {commit} was never recorded"
    assert np.array_equal(ids, expected), f"the ids of commit {commit} are not the ones committed"

    queries = rng.uniform(-1.0, 1.0, size=(4, DIMS)).astype(np.float32)
    found, distances = reader.search_batch(queries, k=K, ef_search=32)
    tally["searches"] += len(queries)
    tally["commits"].add(commit)
    for row in range(len(queries)):
        valid = found[row] != hannoy.MISSING_ID
        assert valid.sum() == min(K, len(ids)), (
            f"commit {commit}: {valid.sum()} results of {len(ids)} items")
        assert not valid[valid.sum():].any(), "padding before a result"
        row_ids, row_distances = found[row][valid], distances[row][valid]
        assert np.isin(row_ids, ids).all(), f"commit {commit}: a result not in the commit"
        assert (np.diff(row_distances) >= 0).all(), f"commit {commit}: results out of order"
    # The first row's distances are those of the snapshot's vectors.
    row_ids = found[0][found[0] != hannoy.MISSING_ID]
    vectors = np.stack([reader.item_vector(int(i)) for i in row_ids])
    exact = np.sqrt(((vectors.astype(np.float64) - queries[0]) ** 2).sum(axis=1))
    np.testing.assert_allclose(distances[0][: len(row_ids)], exact, rtol=1e-4, atol=1e-4)
    return commit


def soak(db):
    recorded = {}
    stop = threading.Event()
    errors = []
    tallies = [{"searches": 0, "snapshots": 0, "refreshes": 0, "commits": set()}
               for _ in range(READERS)]
    rng = np.random.default_rng(7)
    live = set()
    next_id = 0
    commits = 0

    def commit_one(adds, replaces, deletes):
        nonlocal next_id, commits
        with db.writer(DIMS) as writer:
            ids = np.arange(next_id, next_id + adds, dtype=np.uint32)
            writer.add_items(ids, rng.uniform(-1, 1, size=(adds, DIMS)).astype(np.float32))
            next_id += adds
            live.update(ids.tolist())
            chosen = rng.choice(sorted(live), size=replaces + deletes)
            # Replaced ids are distinct: add_items keeps the last row of a repeated id.
            replaced = np.unique(chosen[:replaces]).astype(np.uint32)
            writer.add_items(
                replaced, rng.uniform(-1, 1, size=(len(replaced), DIMS)).astype(np.float32))
            for i in chosen[replaces:]:
                writer.del_item(int(i))
                live.discard(int(i))
            if commits:
                assert writer.del_item(MARKER_BASE + commits)
            commits += 1
            writer.add_item(MARKER_BASE + commits, MARKER_VECTOR)
            assert len(writer) == len(live) + 1
            recorded[commits] = np.array(sorted(live) + [MARKER_BASE + commits], dtype=np.uint32)
            writer.build(threads=1)
            writer.commit()

    def read(number):
        tally = tallies[number]
        rng = np.random.default_rng(100 + number)
        try:
            if number < HOLDING_READERS:
                reader = db.reader()
                while not stop.is_set():
                    commit = check_snapshot(reader, recorded, rng, tally)
                    for _ in range(HELD_BATCHES - 1):
                        again = check_snapshot(reader, recorded, rng, tally)
                        assert again == commit, f"a held reader moved from {commit} to {again}"
                    tally["snapshots"] += 1
                    reader.refresh()
                    tally["refreshes"] += 1
                reader.close()
                assert reader.closed
            else:
                while not stop.is_set():
                    reader = db.reader()
                    check_snapshot(reader, recorded, rng, tally)
                    tally["snapshots"] += 1
                    reader.close()
        except BaseException as error:  # reported by the main thread
            errors.append((number, repr(error)))
            stop.set()

    commit_one(500, 0, 0)
    threads = [threading.Thread(target=read, args=(n,)) for n in range(READERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        while ((time.perf_counter() - started < SECONDS or commits < MIN_COMMITS)
               and not stop.is_set()):
            if len(live) > MAX_ITEMS:
                commit_one(20, 10, 120)
            else:
                commit_one(60, 10, 20)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - started
    searches = sum(t["searches"] for t in tallies)
    seen = len(set().union(*(t["commits"] for t in tallies)))
    snapshots = sum(t["snapshots"] for t in tallies)
    refreshes = sum(t["refreshes"] for t in tallies)
    print(f"python soak on {db.backend}: {elapsed:.1f} s, {commits} commits "
          f"({seen} seen by readers), {searches} searches on {snapshots} snapshots, "
          f"{refreshes} refreshes, {len(errors)} errors")
    assert not errors, errors
    assert seen >= 2, f"the readers saw {seen} of {commits} commits: not beside the writer"
    for number, tally in enumerate(tallies):
        assert tally["searches"] > 0, f"reader {number} never searched"


def test_eight_readers_and_a_writer(make_db):
    # Each call of the writer releases the GIL and waits for it again, behind eight
    # readers: a shorter switch interval keeps it from waiting 5 ms per call.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        soak(make_db("euclidean"))
    finally:
        sys.setswitchinterval(interval)
