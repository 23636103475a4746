"""Search time budgets: ``timeout=`` (seconds) on ``search``, ``search_batch`` and
``search_item``, with ``return_cut_short=True`` reporting whether each search was cut short.
A search cut short returns the best it found, distances exact; one that is not answers
exactly as without a timeout."""

import math

import numpy as np
import pytest

from conftest import build_index, reference_distances, vectors_for


def indexed(make_db, quantization, seed, queries):
    """A Euclidean index of 1,500 items (with `quantization` codes), its items and `queries`
    query vectors."""
    items = vectors_for("euclidean", 1500, 16, seed=seed)
    reader = build_index(make_db("euclidean"), items, quantization=quantization)
    return reader, items, vectors_for("euclidean", queries, 16, seed=seed + 1)


@pytest.mark.parametrize("quantization", [None, "sq8"])
def test_a_generous_timeout_changes_nothing(make_db, quantization):
    reader, _, queries = indexed(make_db, quantization, 21, 10)
    for query in queries:
        plain = reader.search(query, k=8)
        found, cut_short = reader.search(query, k=8, timeout=600.0, return_cut_short=True)
        assert not cut_short
        assert found == plain
        assert reader.search(query, k=8, timeout=600.0) == plain
    ids, distances = reader.search_batch(queries, k=8)
    ids2, distances2, cut_short = reader.search_batch(
        queries, k=8, timeout=600.0, return_cut_short=True
    )
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_array_equal(distances2, distances)
    assert cut_short.dtype == np.bool_ and cut_short.shape == (10,) and not cut_short.any()
    by_item, cut = reader.search_item(5, k=8, timeout=600.0, return_cut_short=True)
    assert not cut and by_item == reader.search_item(5, k=8)


@pytest.mark.parametrize("quantization", [None, "sq8"])
def test_a_spent_timeout_returns_what_was_found(make_db, quantization):
    reader, items, queries = indexed(make_db, quantization, 23, 6)

    def assert_exact(pairs, query):
        assert len(pairs) <= 8
        ids = np.array([i for i, _ in pairs], dtype=np.int64)
        distances = np.array([d for _, d in pairs])
        assert np.all(np.diff(distances) >= 0)
        np.testing.assert_allclose(
            distances, reference_distances("euclidean", query, items[ids]), rtol=1e-4, atol=1e-4
        )

    for query in queries:
        found, cut_short = reader.search(query, k=8, ef_search=200, timeout=0.0,
                                         return_cut_short=True)
        assert cut_short
        assert found, "the entry point at least"
        assert_exact(found, query)
    ids, distances, cut_short = reader.search_batch(
        queries, k=8, ef_search=200, timeout=0.0, return_cut_short=True
    )
    assert cut_short.all()
    for row, query in enumerate(queries):
        kept = ids[row] != np.iinfo(np.uint32).max
        assert np.all(np.isinf(distances[row][~kept]))
        assert_exact(list(zip(ids[row][kept].tolist(), distances[row][kept].tolist())), query)
    found, cut_short = reader.search_item(3, k=8, timeout=0.0, return_cut_short=True)
    assert cut_short
    assert_exact(found, items[3])


@pytest.mark.parametrize("timeout", [-1.0, math.nan, math.inf, -0.001])
def test_a_bad_timeout_is_a_value_error(make_db, timeout):
    db = make_db("euclidean")
    reader = build_index(db, vectors_for("euclidean", 50, 4, seed=25))
    query = np.zeros(4, dtype=np.float32)
    with pytest.raises(ValueError, match="timeout"):
        reader.search(query, timeout=timeout)
    with pytest.raises(ValueError, match="timeout"):
        reader.search_batch(query[None, :], timeout=timeout)
    with pytest.raises(ValueError, match="timeout"):
        reader.search_item(0, timeout=timeout)
