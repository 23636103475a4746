"""Compact codes from Python: ``quantization=`` on the writer, ``rescore=`` on searches,
``Reader.quantization``; exact distances after rescoring, bad input as ValueError."""

import numpy as np
import pytest

import hannoy
from conftest import reference_distances

SCHEMES = ["sq8", "rabitq1"]


def offset_vectors(n: int, dims: int, seed: int) -> np.ndarray:
    """Vectors far from the origin, of varying scales: the centre of the codes matters."""
    rng = np.random.default_rng(seed)
    scale = 1.0 + (np.arange(n) % 7)[:, None] * 0.5
    return (rng.normal(size=(n, dims)) * scale + 3.0).astype(np.float32)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "dot"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_search_on_codes_returns_exact_distances(make_db, metric, scheme):
    db = make_db(metric)
    items = offset_vectors(1200, 32, seed=1)
    queries = offset_vectors(30, 32, seed=2)
    with db.writer(32, quantization=scheme) as writer:
        writer.add_items(np.arange(len(items), dtype=np.uint32), items)
    reader = db.reader()
    assert reader.quantization == scheme
    hits = 0
    for query in queries:
        found = reader.search(query, k=10, ef_search=64)
        ids = np.array([i for i, _ in found])
        distances = np.array([d for _, d in found])
        np.testing.assert_allclose(
            distances, reference_distances(metric, query, items[ids]), rtol=1e-4, atol=1e-4
        )
        truth = np.argsort(reference_distances(metric, query, items))[:10]
        hits += len(set(ids.tolist()) & set(truth.tolist()))
        fewer = reader.search(query, k=10, ef_search=64, rescore=12)
        assert len(fewer) == 10
    recall = hits / (10 * len(queries))
    assert recall >= (0.85 if scheme == "sq8" else 0.75), recall
    ids, distances = reader.search_batch(queries, k=5, rescore=20)
    for row, query in enumerate(queries):
        assert ids[row].tolist() == [i for i, _ in reader.search(query, k=5, rescore=20)]
    # By item: the nearest to item 7 (itself, but under the dot product, not a metric).
    nearest = int(np.argsort(reference_distances(metric, items[7], items))[0])
    assert reader.search_item(7, k=3, ef_search=128)[0][0] == nearest


def test_quantization_changes_without_new_items(make_db):
    db = make_db("euclidean")
    items = offset_vectors(500, 16, seed=3)
    with db.writer(16) as writer:
        writer.add_items(np.arange(500, dtype=np.uint32), items)
    assert db.reader().quantization is None
    for scheme in ["sq8", "rabitq1", "none"]:
        with db.writer(16, quantization=scheme) as writer:
            writer.build()
        reader = db.reader()
        assert reader.quantization == (None if scheme == "none" else scheme)
        assert reader.search(items[9], k=1)[0][0] == 9


def test_bad_quantization_and_rescore_are_value_errors(make_db):
    with pytest.raises(ValueError, match="quantization"):
        make_db("euclidean").writer(8, quantization="pq")
    with pytest.raises(ValueError, match="takes no compact codes"):
        make_db("manhattan", name="m").writer(8, quantization="sq8")
    db = make_db("euclidean", name="e")
    items = offset_vectors(100, 8, seed=4)
    with db.writer(8, quantization="sq8") as writer:
        writer.add_items(np.arange(100, dtype=np.uint32), items)
    reader = db.reader()
    with pytest.raises(ValueError, match="rescore"):
        reader.search(items[0], rescore=0)
    with pytest.raises(ValueError):
        reader.search_batch(items[:3], rescore=-1)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "dot"])
def test_codes_only_keeps_no_vectors_and_takes_updates(make_db, metric):
    db = make_db(metric)
    items = offset_vectors(1000, 32, seed=5)
    queries = offset_vectors(30, 32, seed=6)
    with db.writer(32, quantization="sq8", codes_only=True) as writer:
        writer.add_items(np.arange(900, dtype=np.uint32), items[:900])
    reader = db.reader()
    assert reader.quantization == "sq8"
    assert reader.codes_only
    hits = 0
    for query in queries:
        found = reader.search(query, k=10, ef_search=64)
        truth = np.argsort(reference_distances(metric, query, items[:900]))[:10]
        hits += len({i for i, _ in found} & set(truth.tolist()))
    assert hits / (10 * len(queries)) >= 0.85
    # The vector a code stands for: close to the item's (normalized under cosine).
    back = reader.item_vector(7)
    want = items[7] / np.linalg.norm(items[7]) if metric == "cosine" else items[7]
    assert np.linalg.norm(back - want) < 0.02 * np.linalg.norm(want)
    # Adds and deletes later; the scheme stays.
    with db.writer(32, quantization="sq8", codes_only=True) as writer:
        writer.add_items(np.arange(900, 1000, dtype=np.uint32), items[900:])
        assert writer.del_item(3)
    reader.refresh()
    assert len(reader) == 999
    found = reader.search(items[950], k=1, ef_search=64)
    assert found[0][0] == 950
    with pytest.raises(ValueError):
        with db.writer(32, quantization="rabitq1") as writer:
            writer.add_item(5000, items[0])


def test_codes_only_needs_sq8(make_db):
    db = make_db("euclidean")
    for quantization in [None, "none", "rabitq1"]:
        with pytest.raises(ValueError, match="codes_only"):
            db.writer(8, quantization=quantization, codes_only=True)


@pytest.mark.parametrize("quantization,codes_only", [(None, False), ("sq8", False), ("sq8", True)])
def test_reader_held_in_memory_answers_the_same(make_db, quantization, codes_only):
    db = make_db("euclidean")
    items = offset_vectors(800, 24, seed=7)
    queries = offset_vectors(20, 24, seed=8)
    with db.writer(24, quantization=quantization, codes_only=codes_only) as writer:
        writer.add_items(np.arange(700, dtype=np.uint32), items[:700])
    plain = db.reader()
    held = db.reader(hold_in_memory=True)
    assert held.hold_in_memory and not plain.hold_in_memory

    def answers(reader):
        ids, distances = reader.search_batch(queries, k=10, ef_search=64)
        one = [reader.search(q, k=10, candidates=np.arange(0, 700, 3, dtype=np.uint32)) for q in queries]
        return ids.tolist(), distances.tobytes(), one, reader.search_item(5, k=5)

    assert answers(held) == answers(plain)
    # A refresh holds the new snapshot too.
    with db.writer(24, quantization=quantization, codes_only=codes_only) as writer:
        writer.add_items(np.arange(700, 800, dtype=np.uint32), items[700:])
    held.refresh()
    plain.refresh()
    assert held.hold_in_memory and len(held) == 800
    assert answers(held) == answers(plain)
