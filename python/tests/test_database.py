"""Opening databases: backends, shared LMDB/redb stores, settings, reopening."""

import gc

import numpy as np
import pytest

import hannoy
from conftest import build_index, open_db, vectors_for


def test_every_backend_opens_and_reports_its_settings(tmp_path, backend):
    db = open_db(tmp_path, backend, "euclidean")
    assert db.backend == backend
    assert db.metric == hannoy.Metric.EUCLIDEAN
    if backend == "memory":
        assert db.path is None
    else:
        assert db.path is not None and str(tmp_path.resolve()) in str(db.path)
    assert (db.map_size is not None) == (backend == "lmdb")
    assert backend in repr(db)


def test_metric_strings_and_enum_are_interchangeable(tmp_path):
    for metric in hannoy.Metric.all():
        assert hannoy.Metric.parse(metric.value) == metric
        assert hannoy.Metric.parse(metric.value.upper()) == metric
        assert str(metric) == metric.value
        assert hannoy.Database(None, metric.value, backend="memory").metric == metric
        assert hannoy.Database(None, metric, backend="memory").metric == metric
    with pytest.raises(ValueError, match="unknown metric"):
        hannoy.Database(None, "l3", backend="memory")
    with pytest.raises(ValueError):
        hannoy.Database(None, 3, backend="memory")


def test_bad_settings_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown backend"):
        hannoy.Database(tmp_path / "x", "cosine", backend="rocksdb")
    with pytest.raises(ValueError, match="path=None"):
        hannoy.Database(tmp_path / "x", "cosine", backend="memory")
    with pytest.raises(ValueError, match="needs a path"):
        hannoy.Database(None, "cosine", backend="lmdb")
    with pytest.raises(ValueError, match="lmdb backend only"):
        hannoy.Database(tmp_path / "x.redb", "cosine", backend="redb", map_size=1 << 20)
    with pytest.raises(ValueError, match="positive"):
        hannoy.Database(tmp_path / "x", "cosine", map_size=0)


def test_io_errors_are_os_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        hannoy.Database(blocker / "db", "cosine")
    with pytest.raises(OSError):
        hannoy.Database(tmp_path / "missing-dir" / "db.redb", "cosine", backend="redb")


@pytest.mark.parametrize("backend", ["lmdb", "redb"])
def test_reopening_a_persisted_database_finds_its_index(tmp_path, backend):
    vectors = vectors_for("cosine", 200, 8)
    db = open_db(tmp_path, backend)
    build_index(db, vectors)
    path = db.path
    del db
    gc.collect()

    # Everything from the first open is gone: other LMDB settings are fine now.
    extra = {"map_size": 1 << 30} if backend == "lmdb" else {}
    again = hannoy.Database(path, "cosine", backend=backend, **extra)
    reader = again.reader()
    assert len(reader) == 200
    assert reader.search(vectors[5], k=1)[0][0] == 5
    np.testing.assert_array_equal(reader.item_vector(7), vectors[7])


@pytest.mark.parametrize("backend", ["lmdb", "redb"])
def test_opening_a_path_twice_shares_the_store(tmp_path, backend):
    first = open_db(tmp_path, backend)
    # Another spelling of the same path names the same store.
    second = hannoy.Database(str(first.path) + "/." if backend == "lmdb" else first.path,
                             "cosine", backend=backend)
    assert second.path == first.path
    vectors = vectors_for("cosine", 50, 4)
    build_index(first, vectors)
    assert len(second.reader()) == 50

    # One writer per store, whichever Database object asks.
    writer = first.writer(4)
    with pytest.raises(hannoy.WriterBusyError):
        second.writer(4)
    writer.abort()
    second.writer(4).abort()


def test_lmdb_settings_that_disagree_are_refused(tmp_path):
    db = hannoy.Database(tmp_path / "db", "cosine", map_size=1 << 30)
    same = hannoy.Database(tmp_path / "db", "cosine", map_size=1 << 30)
    unspecified = hannoy.Database(tmp_path / "db", "cosine")
    assert same.map_size == unspecified.map_size == 1 << 30
    with pytest.raises(hannoy.AlreadyOpenError, match="map_size"):
        hannoy.Database(tmp_path / "db", "cosine", map_size=1 << 31)

    # A reader keeps the store open with its settings.
    build_index(db, vectors_for("cosine", 10, 4))
    reader = db.reader()
    del db, same, unspecified
    gc.collect()
    with pytest.raises(hannoy.AlreadyOpenError):
        hannoy.Database(tmp_path / "db", "cosine", map_size=1 << 31)
    del reader
    gc.collect()
    reopened = hannoy.Database(tmp_path / "db", "cosine", map_size=1 << 31)
    assert reopened.map_size == 1 << 31
    assert len(reopened.reader()) == 10


def test_indexes_of_a_database_are_independent(make_db):
    db = make_db("euclidean")
    small = vectors_for("euclidean", 20, 3, seed=1)
    large = vectors_for("euclidean", 100, 3, seed=2)
    build_index(db, small, index=1)
    build_index(db, large, index=7)
    assert len(db.reader(1)) == 20
    assert len(db.reader(7)) == 100
    assert db.reader(7).index == 7
    with pytest.raises(hannoy.MissingIndexError):
        db.reader(0)
    with pytest.raises(ValueError, match="out of range"):
        db.reader(70_000)
    with pytest.raises(ValueError, match="out of range"):
        db.writer(3, index=-1)


def test_an_index_refuses_another_metric_or_dimensions(make_db):
    cosine = make_db("cosine")
    build_index(cosine, vectors_for("cosine", 30, 6))
    with pytest.raises(hannoy.IndexMismatchError, match="dimensions"):
        cosine.writer(5)
    if cosine.backend != "memory":
        euclidean = hannoy.Database(cosine.path, "euclidean", backend=cosine.backend)
        with pytest.raises(hannoy.IndexMismatchError, match="metric"):
            euclidean.reader()
        with pytest.raises(hannoy.IndexMismatchError, match="metric"):
            euclidean.writer(6)
    assert len(cosine.reader()) == 30
