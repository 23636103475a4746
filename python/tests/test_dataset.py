"""Recall on the real dataset (98,000 sentence embeddings, 384-d, cosine), built through
Python on LMDB with the default parameters and searched with the default settings."""

import numpy as np

import hannoy


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(row[:k]) & set(expected[:k])) for row, expected in zip(found, truth))
    return hits / (k * len(found))


def test_recall_at_10_on_the_real_dataset(tmp_path, dataset):
    base, queries, truth = dataset
    db = hannoy.Database(tmp_path / "db", "cosine")
    with db.writer(base.shape[1]) as writer:
        writer.add_items(np.arange(len(base), dtype=np.uint32), base)
        stats = writer.build(threads=2)
    assert stats["inserted"] == len(base)
    reader = db.reader()
    assert len(reader) == len(base)

    ids, distances = reader.search_batch(queries, k=10)
    recall = recall_at(ids, truth, 10)
    assert recall >= 0.95, f"recall@10 at the default ef_search is {recall:.4f}"
    assert (np.diff(distances, axis=1) >= 0).all()

    # The single-query path gives the same answers.
    for row in range(0, len(queries), 97):
        assert [i for i, _ in reader.search(queries[row], k=10)] == ids[row].tolist()
