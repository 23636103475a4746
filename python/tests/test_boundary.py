"""The Rust/Python boundary: a panic in the Rust code is a ``hannoy.InternalError`` (an
``Exception``, caught by ``except Exception``), never pyo3's ``PanicException``; a writer it
happened in is aborted and the database keeps its last commit; absurd sizes are refused."""

import numpy as np
import pytest

import hannoy
from conftest import vectors_for


def built(make_db, n=200, dims=8):
    db = make_db("euclidean")
    vectors = vectors_for("euclidean", n, dims, seed=3)
    with db.writer(dims) as writer:
        writer.add_items(np.arange(n, dtype=np.uint32), vectors)
    return db, vectors


def test_internal_error_is_an_ordinary_exception():
    assert issubclass(hannoy.InternalError, hannoy.HannoyError)
    assert issubclass(hannoy.InternalError, Exception)
    assert issubclass(hannoy.ForeignFormatError, hannoy.HannoyError)


def test_a_panic_in_a_search_is_an_internal_error_and_the_reader_still_works(make_db):
    db, vectors = built(make_db)
    reader = db.reader()
    before = reader.search(vectors[5], k=5)
    for _ in range(2):  # twice: a poisoned lock (LMDB) must not stay in the way
        try:
            reader._raise_panic("search went wrong at slot 42")
        except Exception as error:  # noqa: BLE001 - the point: Exception catches it
            assert isinstance(error, hannoy.InternalError)
            assert "search went wrong at slot 42" in str(error)
        else:
            pytest.fail("the panic was not raised")
    assert reader.search(vectors[5], k=5) == before


@pytest.mark.parametrize("in_build", [False, True])
def test_a_panic_in_a_writer_aborts_it_and_keeps_the_last_commit(make_db, in_build):
    db, vectors = built(make_db)
    expected = db.reader().search(vectors[7], k=10)
    writer = db.writer(8)
    writer.add_items(np.arange(1000, 1100, dtype=np.uint32), vectors[:100])
    with pytest.raises(hannoy.InternalError, match="boom in the writer"):
        writer._raise_panic("boom in the writer", in_build=in_build)
    # The transaction is gone: only abort is left, and it does nothing more.
    with pytest.raises(hannoy.WriterClosedError):
        writer.add_item(2000, vectors[0])
    with pytest.raises(hannoy.WriterClosedError):
        writer.commit()
    writer.abort()
    reader = db.reader()
    assert len(reader) == 200
    assert 1000 not in reader
    assert reader.search(vectors[7], k=10) == expected
    # The next writer opens and builds as usual.
    with db.writer(8) as again:
        again.add_item(3000, vectors[1])
    assert 3000 in db.reader()


def test_absurd_thread_counts_are_refused(make_db):
    db = make_db("euclidean")
    with db.writer(4) as writer:
        writer.add_item(1, [1.0, 2.0, 3.0, 4.0])
        with pytest.raises(ValueError, match="at most 1024"):
            writer.build(threads=1_000_000)
        with pytest.raises(ValueError):
            writer.build(threads=0)
        writer.build(threads=2)
    assert 1 in db.reader()


def test_huge_k_returns_everything_without_a_huge_allocation(make_db):
    db, vectors = built(make_db, n=50)
    reader = db.reader()
    allowed = np.arange(0, 50, 2, dtype=np.uint32)
    found = reader.search(vectors[0], k=2**62, candidates=allowed)
    assert sorted(id for id, _ in found) == list(range(0, 50, 2))
    assert len(reader.search(vectors[0], k=2**62)) == 50
