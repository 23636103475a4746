"""Snapshots: a reader sees the commit it was opened (or refreshed) at; ``refresh()`` moves
it to the latest one and ``close()`` releases it, so that a long-lived reader does not make
the store keep every page a writer has replaced since."""

import os

import numpy as np
import pytest

from conftest import open_db, vectors_for


def test_refresh_moves_a_reader_to_the_latest_commit(make_db):
    db = make_db("euclidean")
    items = vectors_for("euclidean", 300, 8, seed=1)
    with db.writer(8) as writer:
        writer.add_items(np.arange(100, dtype=np.uint32), items[:100])
    reader = db.reader()
    with db.writer(8) as writer:
        writer.add_items(np.arange(100, 300, dtype=np.uint32), items[100:])
        writer.del_item(0)
    assert len(reader) == 100 and 0 in reader
    reader.refresh()
    assert len(reader) == 299 and 0 not in reader and 250 in reader
    assert reader.search(items[250], k=1)[0][0] == 250


def test_close_releases_and_refresh_reopens(make_db):
    db = make_db("euclidean")
    items = vectors_for("euclidean", 50, 4, seed=2)
    with db.writer(4) as writer:
        writer.add_items(np.arange(50, dtype=np.uint32), items)
    with db.reader() as reader:
        assert not reader.closed
        assert reader.search(items[3], k=1)[0][0] == 3
    assert reader.closed
    for call in (lambda: reader.search(items[0]), lambda: len(reader), reader.ids):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert "closed" in repr(reader)
    reader.close()  # again: nothing happens
    reader.refresh()
    assert not reader.closed and len(reader) == 50


def lmdb_growth(tmp_path, name, refresh):
    """Bytes the LMDB file grows by over 30 commits that each replace every vector, with a
    reader held open throughout (refreshed after each commit, or not)."""
    db = open_db(tmp_path, "lmdb", "euclidean", name=name)
    n, dims = 2000, 32
    ids = np.arange(n, dtype=np.uint32)
    with db.writer(dims) as writer:
        writer.add_items(ids, vectors_for("euclidean", n, dims, seed=0))
    reader = db.reader()
    start = os.path.getsize(tmp_path / name / "data.mdb")
    for round in range(1, 31):
        with db.writer(dims) as writer:
            writer.add_items(ids, vectors_for("euclidean", n, dims, seed=round))
        if refresh:
            reader.refresh()
    assert len(reader) == n
    return os.path.getsize(tmp_path / name / "data.mdb") - start


def test_a_refreshed_reader_lets_lmdb_reuse_pages(tmp_path):
    pinned = lmdb_growth(tmp_path, "pinned", refresh=False)
    refreshed = lmdb_growth(tmp_path, "refreshed", refresh=True)
    # Pinned: every commit's replaced pages stay reachable from the old snapshot, so the
    # file grows by about a store's size per commit. Refreshed: LMDB reuses them.
    print(f"growth over 30 commits: pinned {pinned} B, refreshed {refreshed} B")
    assert pinned > 10 * 2000 * 32 * 4
    assert refreshed * 5 < pinned
