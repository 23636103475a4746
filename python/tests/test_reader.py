"""Readers: searches by vector, batch and item on every backend and metric, filters,
padding, input validation, snapshots and concurrent searches."""

import threading

import numpy as np
import pytest

import hannoy
from conftest import METRICS, build_index, reference_distances, vectors_for


@pytest.mark.parametrize("metric", METRICS)
def test_exact_results_at_full_ef_for_every_metric(make_db, metric):
    db = make_db(metric)
    items = vectors_for(metric, 400, 24, seed=1)
    queries = vectors_for(metric, 20, 24, seed=2)
    reader = build_index(db, items)
    assert reader.metric == hannoy.Metric.parse(metric)
    for query in queries:
        found = reader.search(query, k=10, ef_search=len(items))
        ids = np.array([i for i, _ in found])
        distances = np.array([d for _, d in found])
        expected = np.sort(reference_distances(metric, query, items))[:10]
        # The distances are the metric's, for the ids returned, and the best there are
        # (ties make the ids themselves ambiguous for the binary metrics).
        np.testing.assert_allclose(
            distances, reference_distances(metric, query, items[ids]), rtol=1e-4, atol=1e-4
        )
        np.testing.assert_allclose(distances, expected, rtol=1e-4, atol=1e-4)
        assert np.all(np.diff(distances) >= 0)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_batch_search_agrees_with_single_searches(make_db, metric):
    db = make_db(metric)
    items = vectors_for(metric, 1000, 16, seed=3)
    queries = vectors_for(metric, 50, 16, seed=4)
    reader = build_index(db, items, ids=np.arange(1000, dtype=np.uint32) * 2)
    ids, distances = reader.search_batch(queries, k=7, ef_search=40)
    assert ids.shape == distances.shape == (50, 7)
    assert ids.dtype == np.uint32 and distances.dtype == np.float32
    for row, query in enumerate(queries):
        single = reader.search(query, k=7, ef_search=40)
        assert ids[row].tolist() == [i for i, _ in single]
        np.testing.assert_allclose(distances[row], [d for _, d in single], rtol=1e-6)
    # float64 and strided queries give the same answers.
    ids64, _ = reader.search_batch(queries.astype(np.float64), k=7, ef_search=40)
    np.testing.assert_array_equal(ids64, ids)
    wide = np.zeros((50, 32), dtype=np.float32)
    wide[:, ::2] = queries
    strided, _ = reader.search_batch(wide[:, ::2], k=7, ef_search=40)
    np.testing.assert_array_equal(strided, ids)


def test_short_rows_are_padded(make_db):
    db = make_db("euclidean")
    items = vectors_for("euclidean", 5, 3)
    reader = build_index(db, items)
    ids, distances = reader.search_batch(items[:2], k=8)
    assert ids.shape == (2, 8)
    assert (ids[:, 5:] == hannoy.MISSING_ID).all() and hannoy.MISSING_ID == 2**32 - 1
    assert np.isinf(distances[:, 5:]).all() and np.isfinite(distances[:, :5]).all()
    assert ids[0, 0] == 0 and ids[1, 0] == 1
    assert len(reader.search(items[0], k=8)) == 5
    assert len(reader.search(items[0], k=10**12)) == 5  # a huge k allocates nothing huge
    assert reader.search(items[0], k=0) == []
    empty_ids, empty_distances = reader.search_batch(np.zeros((0, 3), np.float32), k=4)
    assert empty_ids.shape == empty_distances.shape == (0, 4)
    zero_ids, _ = reader.search_batch(items, k=0)
    assert zero_ids.shape == (5, 0)


def test_prefetch_reads_ahead_and_changes_no_answer(make_db):
    db = make_db("euclidean")
    vectors = vectors_for("euclidean", 2000, 32)
    reader = build_index(db, vectors)
    before = reader.search_batch(vectors[:50], k=10)
    walk = reader.prefetch(vectors=False)
    everything = reader.prefetch()
    # Without codes the walk reads the full vectors: the two spans are the same, and at
    # least the raw vectors.
    assert walk == everything >= vectors.nbytes
    after = reader.search_batch(vectors[:50], k=10)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.prefetch()


def test_candidates_restrict_results(make_db):
    db = make_db("cosine")
    items = vectors_for("cosine", 500, 8, seed=5)
    reader = build_index(db, items)
    query = items[0]
    allowed = [3, 77, 150, 499, 10_000]
    for candidates in (
        allowed,
        set(allowed),
        np.array(allowed, dtype=np.uint32),
        np.array(allowed, dtype=np.int64),
        (i for i in allowed),
    ):
        found = reader.search(query, k=10, candidates=candidates)
        assert sorted(i for i, _ in found) == [3, 77, 150, 499]
    assert reader.search(query, candidates=[]) == []
    assert [i for i, _ in reader.search(query, k=3, candidates=range(100, 200))] == [
        i for i, _ in reader.search(query, k=3, ef_search=500, candidates=range(100, 200))
    ]
    ids, _ = reader.search_batch(items[:3], k=4, candidates=np.array(allowed, np.uint32))
    assert set(ids.ravel()) <= set(allowed[:4]) | {hannoy.MISSING_ID}
    found = reader.search_item(3, k=2, candidates=[3, 77])
    assert [i for i, _ in found] == [3, 77]
    with pytest.raises(ValueError, match="out of range"):
        reader.search(query, candidates=[-1])
    with pytest.raises(ValueError, match="integers"):
        reader.search(query, candidates=np.array([1.5]))
    with pytest.raises(TypeError):
        reader.search(query, candidates=["a"])


def test_row_candidates_give_each_query_its_own_set(make_db):
    db = make_db("euclidean")
    items = vectors_for("euclidean", 600, 8, seed=9)
    reader = build_index(db, items)
    queries = items[:6]
    rng = np.random.default_rng(4)
    # One set per row, of very different shares: a few ids, a tenth, a half, everything.
    sets = [
        rng.choice(600, size=size, replace=False).astype(np.uint32)
        for size in (3, 60, 300, 600, 12, 150)
    ]
    ids, distances = reader.search_batch(queries, k=5, ef_search=600, row_candidates=sets)
    for row, allowed in enumerate(sets):
        one = reader.search(queries[row], k=5, ef_search=600, candidates=allowed)
        expected = [i for i, _ in one]
        assert list(ids[row][: len(expected)]) == expected
        assert set(expected) <= set(allowed.tolist())
        np.testing.assert_allclose(distances[row][: len(expected)], [d for _, d in one])
    # Three ids allowed: two slots of padding.
    assert list(ids[0][3:]) == [hannoy.MISSING_ID] * 2
    # Any iterable of id collections; an empty set gives an empty row.
    ids, _ = reader.search_batch(queries[:2], k=3, row_candidates=([], range(10, 20)))
    assert list(ids[0]) == [hannoy.MISSING_ID] * 3
    assert set(ids[1]) <= set(range(10, 20))
    with pytest.raises(ValueError, match="one per row"):
        reader.search_batch(queries, k=3, row_candidates=sets[:2])
    with pytest.raises(ValueError, match="not both"):
        reader.search_batch(queries, k=3, candidates=[1], row_candidates=sets)


def test_search_item_item_vector_and_ids(make_db):
    db = make_db("euclidean")
    items = vectors_for("euclidean", 200, 6)
    ids = np.arange(200, dtype=np.uint32) * 5 + 1
    reader = build_index(db, items, ids=ids)
    assert reader.dimensions == 6 and len(reader) == 200
    np.testing.assert_array_equal(reader.ids(), ids)
    assert reader.ids().dtype == np.uint32
    assert 6 in reader and 7 not in reader and -1 not in reader and "x" not in reader
    found = reader.search_item(6, k=4)
    assert found[0] == (6, 0.0) and len(found) == 4
    np.testing.assert_array_equal(reader.item_vector(6), items[1])
    for missing in (7, 2**32 - 1):
        with pytest.raises(KeyError):
            reader.search_item(missing)
        with pytest.raises(KeyError):
            reader.item_vector(missing)
    with pytest.raises(ValueError, match="out of range"):
        reader.item_vector(-4)


def test_bad_queries_are_value_errors(make_db):
    db = make_db("cosine")
    reader = build_index(db, vectors_for("cosine", 50, 4))
    bad_batch = vectors_for("cosine", 6, 4)
    bad_batch[4] = 0.0
    cases = [
        (lambda: reader.search([1.0, np.nan, 0.0, 0.0]), "finite"),
        (lambda: reader.search([np.inf, 1.0, 0.0, 0.0]), "finite"),
        (lambda: reader.search(np.zeros(4)), "zero"),
        (lambda: reader.search(np.ones(3)), "3 dimensions"),
        (lambda: reader.search(np.ones((2, 4))), "1-D"),
        (lambda: reader.search(np.ones(4, dtype=np.int8)), "float32 or float64"),
        (lambda: reader.search(np.ones(4), k=-1), "k must be"),
        (lambda: reader.search(np.ones(4), ef_search=-5), "ef_search"),
        (lambda: reader.search_batch(np.ones(4)), "2-D"),
        (lambda: reader.search_batch(np.ones((3, 5))), "5 dimensions"),
        (lambda: reader.search_batch(bad_batch), "row 4"),
        (lambda: reader.search_item(1, k=-2), "k must be"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_a_reader_keeps_its_snapshot(make_db):
    db = make_db("euclidean")
    items = vectors_for("euclidean", 100, 4)
    old = build_index(db, items[:50])
    with db.writer(4) as writer:
        writer.add_items(np.arange(50, 100), items[50:])
        writer.del_item(0)
        # Pending changes are invisible to readers until committed.
        assert len(db.reader()) == 50
    assert len(old) == 50 and 0 in old
    assert old.search(items[0], k=1)[0][0] == 0
    new = db.reader()
    assert len(new) == 99 and 0 not in new
    assert new.search(items[0], k=1)[0][0] != 0


def test_many_threads_search_one_reader(make_db):
    db = make_db("cosine")
    items = vectors_for("cosine", 3000, 32, seed=6)
    queries = vectors_for("cosine", 200, 32, seed=7)
    reader = build_index(db, items)
    expected = [reader.search(q, k=5) for q in queries]
    batch_ids, _ = reader.search_batch(queries, k=5)
    results = {}
    errors = []

    def worker(t):
        try:
            for i in range(t, len(queries), 8):
                results[i] = reader.search(queries[i], k=5)
            ids, _ = reader.search_batch(queries[t::8], k=5)
            np.testing.assert_array_equal(ids, batch_ids[t::8])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # The same bits: the kernels' summation order does not depend on where a query's
    # buffer sits in memory.
    for i, found in enumerate(expected):
        assert results[i] == found


def test_readers_and_a_writer_at_once(make_db):
    db = make_db("euclidean")
    items = vectors_for("euclidean", 2000, 8)
    reader = build_index(db, items[:1000])
    stop = threading.Event()
    errors = []

    def search():
        try:
            while not stop.is_set():
                assert len(reader.search(items[0], k=3)) == 3
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=search)
    thread.start()
    with db.writer(8) as writer:
        writer.add_items(np.arange(1000, 2000), items[1000:])
    stop.set()
    thread.join()
    assert errors == []
    assert len(reader) == 1000 and len(db.reader()) == 2000


def test_search_items_is_search_item_per_id(make_db):
    db = make_db("cosine")
    items = vectors_for("cosine", 600, 12, seed=41)
    reader = build_index(db, items, ids=np.arange(600, dtype=np.uint32) * 5)
    asked = np.array([0, 35, 2995, 35, 1000], dtype=np.uint32)
    # ef_search covering every item: each item's own search surely finds it (a parallel
    # build's graph differs from run to run, and a narrow search need not).
    for exclude_self in (False, True):
        ids, distances = reader.search_items(asked, k=6, ef_search=600, exclude_self=exclude_self)
        assert ids.shape == distances.shape == (5, 6)
        for row, item in enumerate(asked.tolist()):
            single = reader.search_item(item, k=6, ef_search=600, exclude_self=exclude_self)
            assert ids[row].tolist() == [i for i, _ in single]
            np.testing.assert_allclose(distances[row], [d for _, d in single], rtol=1e-6)
            assert (item in ids[row].tolist()) == (not exclude_self)
    with_self = reader.search_item(35, k=7, ef_search=600)
    assert with_self[0][0] == 35
    assert reader.search_item(35, k=6, ef_search=600, exclude_self=True) == with_self[1:]
    with pytest.raises(KeyError):
        reader.search_items([0, 3], k=6)
    ids, distances, cut = reader.search_items([0, 5], k=6, timeout=0.0, return_cut_short=True)
    assert cut.tolist() == [True, True]
    empty, _ = reader.search_items(np.array([], dtype=np.uint32), k=6)
    assert empty.shape == (0, 6)
