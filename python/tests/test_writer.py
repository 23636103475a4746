"""Writers: adding, replacing and deleting items, builds, commit, abort, the context
manager, input validation, and failures that must leave the index unchanged."""

import threading

import numpy as np
import pytest

import hannoy
from conftest import build_index, vectors_for


def test_add_search_delete_round_trip(make_db):
    db = make_db("euclidean")
    vectors = vectors_for("euclidean", 300, 8)
    writer = db.writer(8)
    assert len(writer) == 0 and 3 not in writer
    writer.add_items(np.arange(300, dtype=np.uint32), vectors)
    writer.add_item(1000, vectors[0] + 5)
    assert len(writer) == 301 and 1000 in writer and 301 not in writer
    assert writer.del_item(10)
    assert not writer.del_item(10)
    assert not writer.del_item(123_456)
    assert len(writer) == 300 and 10 not in writer
    stats = writer.build()
    assert stats["inserted"] == 300
    assert set(stats) >= {"inserted", "removed", "repaired", "compute_seconds", "write_seconds"}
    writer.commit()
    assert writer.closed

    reader = db.reader()
    assert len(reader) == 300 and 10 not in reader and 1000 in reader
    assert reader.search(vectors[10], k=1)[0][0] != 10
    np.testing.assert_array_equal(reader.item_vector(1000), vectors[0] + 5)

    # A second writer replaces and deletes; the reader opened before keeps its snapshot.
    with db.writer(8) as writer:
        writer.add_item(0, vectors[1])
        writer.del_item(1)
    assert 1 in reader
    fresh = db.reader()
    assert 1 not in fresh and len(fresh) == 299
    np.testing.assert_array_equal(fresh.item_vector(0), vectors[1])


def test_context_manager_commits_or_aborts(make_db):
    db = make_db()
    vectors = vectors_for("cosine", 100, 4)
    build_index(db, vectors[:50])

    with pytest.raises(RuntimeError, match="boom"):
        with db.writer(4) as writer:
            writer.add_items(np.arange(50, 100), vectors[50:])
            writer.del_item(0)
            raise RuntimeError("boom")
    assert writer.closed
    reader = db.reader()
    assert len(reader) == 50 and 0 in reader and 60 not in reader

    # A writer left in the middle of a build by an exception is aborted too.
    with pytest.raises(ZeroDivisionError):
        with db.writer(4) as writer:
            writer.add_items(np.arange(50, 100), vectors[50:])
            writer.build()
            1 / 0
    assert len(db.reader()) == 50

    # An explicit commit inside the block is kept; the exit does nothing more.
    with db.writer(4) as writer:
        writer.add_item(99, vectors[99])
        writer.build()
        writer.commit()
    assert 99 in db.reader()

    # An empty block makes the index exist (empty), as a build of nothing does.
    with db.writer(4, index=3):
        pass
    empty = db.reader(3)
    assert len(empty) == 0 and empty.search(vectors[0]) == []


def test_closed_writers_refuse_work(make_db):
    db = make_db()
    writer = db.writer(4)
    writer.add_item(1, [1.0, 0.0, 0.0, 0.0])
    writer.abort()
    writer.abort()  # aborting twice is fine
    for call in (
        lambda: writer.add_item(2, [1.0, 0.0, 0.0, 0.0]),
        lambda: writer.del_item(1),
        writer.build,
        writer.commit,
        lambda: len(writer),
    ):
        with pytest.raises(hannoy.WriterClosedError):
            call()
    with pytest.raises(hannoy.MissingIndexError):
        db.reader()  # the aborted writer wrote nothing


def test_one_writer_at_a_time(make_db):
    db = make_db()
    writer = db.writer(4)
    with pytest.raises(hannoy.WriterBusyError):
        db.writer(4)
    writer.commit()
    second = db.writer(4)
    del second  # dropping an open writer aborts it and frees the database
    db.writer(4).abort()


def test_a_writer_works_from_any_thread(make_db):
    db = make_db()
    vectors = vectors_for("cosine", 200, 6)
    writer = db.writer(6)
    errors = []

    def add(part):
        try:
            writer.add_items(np.arange(part * 100, part * 100 + 100),
                             vectors[part * 100:part * 100 + 100])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    for part in range(2):
        thread = threading.Thread(target=add, args=(part,))
        thread.start()
        thread.join()
    assert errors == []
    writer.build()
    writer.commit()
    assert len(db.reader()) == 200


@pytest.mark.parametrize("layout", ["float64", "strided", "fortran", "reversed", "list"])
def test_add_items_accepts_any_float_layout(make_db, layout):
    db = make_db("euclidean")
    base = vectors_for("euclidean", 40, 12)
    if layout == "float64":
        given = base.astype(np.float64)
    elif layout == "strided":
        wide = np.zeros((80, 24), dtype=np.float32)
        wide[::2, ::2] = base
        given = wide[::2, ::2]
        assert not given.flags.c_contiguous
    elif layout == "fortran":
        given = np.asfortranarray(base)
        assert not given.flags.c_contiguous
    elif layout == "reversed":
        given = base[::-1]
    else:
        given = base.tolist()
    expected = np.asarray(given, dtype=np.float32)
    with db.writer(12) as writer:
        writer.add_items(range(40), given)
    reader = db.reader()
    for i in (0, 17, 39):
        np.testing.assert_array_equal(reader.item_vector(i), expected[i])


def test_add_item_accepts_float64_lists_and_views(make_db):
    db = make_db("manhattan")
    row = np.arange(16, dtype=np.float64)
    with db.writer(8) as writer:
        writer.add_item(0, row[::2])
        writer.add_item(np.uint64(1), [float(x) for x in range(8)])
        writer.add_item(2, np.float32(2) * np.ones(8, dtype=np.float32))
    reader = db.reader()
    np.testing.assert_array_equal(reader.item_vector(0), row[::2].astype(np.float32))
    np.testing.assert_array_equal(reader.item_vector(1), np.arange(8, dtype=np.float32))
    assert reader.item_vector(2).dtype == np.float32


def test_bad_input_is_a_value_error_and_writes_nothing(make_db):
    db = make_db("cosine")
    vectors = vectors_for("cosine", 20, 4)
    build_index(db, vectors)
    writer = db.writer(4)
    bad_rows = vectors[:10].copy()
    bad_rows[6, 2] = np.nan
    cases = [
        (lambda: writer.add_items(np.arange(100, 110), bad_rows), "finite"),
        (lambda: writer.add_item(100, [0.0, np.inf, 0.0, 0.0]), "finite"),
        (lambda: writer.add_item(100, np.zeros(4)), "zero"),
        (lambda: writer.add_item(100, np.ones(5)), "5 dimensions"),
        (lambda: writer.add_item(100, np.ones((1, 4))), "1-D"),
        (lambda: writer.add_item(100, np.ones(4, dtype=np.int64)), "float32 or float64"),
        (lambda: writer.add_items(np.arange(3), np.ones((3, 5))), "5 dimensions"),
        (lambda: writer.add_items(np.arange(3), np.ones(12)), "2-D"),
        (lambda: writer.add_items(np.arange(3), np.ones((3, 4, 1))), "2-D"),
        (lambda: writer.add_items(np.arange(4), np.ones((3, 4))), "4 ids for 3 vectors"),
        (lambda: writer.add_items(np.arange(3), np.ones((3, 4), dtype=np.int32)), "dtype"),
        (lambda: writer.add_items(np.arange(3.0), np.ones((3, 4))), "integers"),
        (lambda: writer.add_items([1, -2, 3], np.ones((3, 4))), "out of range"),
        (lambda: writer.add_items([1, 2**32, 3], np.ones((3, 4))), "out of range"),
        (lambda: writer.add_items(np.arange(3).reshape(3, 1), np.ones((3, 4))), "1-D"),
        (lambda: writer.add_item(-1, np.ones(4)), "out of range"),
        (lambda: writer.add_item(2**70, np.ones(4)), "out of range"),
        (lambda: writer.add_items(np.arange(2), [[1.0, 2.0, 3.0, 4.0], [1.0]]), None),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError):
        writer.add_item("seven", np.ones(4))
    # Nothing of the refused calls was written: the writer is still usable and unchanged.
    assert len(writer) == 20 and 100 not in writer
    writer.commit()
    assert len(db.reader()) == 20


@pytest.mark.parametrize(
    "args, message",
    [
        ({"dims": 0}, "dims"),
        ({"dims": -3}, "dims"),
        ({"dims": 4, "m": 1}, "m = 1"),
        ({"dims": 4, "m": 16, "m0": 8}, "m0"),
        ({"dims": 4, "m0": 300}, "m0"),
        ({"dims": 4, "ef_construction": 8}, "ef_construction"),
        ({"dims": 4, "ef_construction": -1}, "ef_construction"),
        ({"dims": 4, "index": 1 << 16}, "index"),
        ({"dims": 4, "seed": -1}, "seed"),
    ],
)
def test_bad_writer_parameters_are_value_errors(make_db, args, message):
    db = make_db()
    with pytest.raises(ValueError, match=message):
        db.writer(**args)
    db.writer(4).abort()  # the failed calls left no writer open


def test_hamming_refuses_non_binary_values(make_db):
    db = make_db("hamming")
    with db.writer(8) as writer:
        with pytest.raises(ValueError, match="binary|0.5"):
            writer.add_item(0, [0.5] * 8)
        writer.add_item(0, [1, 0, 1, 0, 1, 0, 1, 0])
    assert len(db.reader()) == 1


def test_duplicate_ids_in_a_batch_keep_the_last_row(make_db):
    db = make_db("euclidean")
    rows = np.arange(10, dtype=np.float32).reshape(5, 2)
    with db.writer(2) as writer:
        writer.add_items([5, 7, 5, 9, 5], rows)
        assert len(writer) == 3
    reader = db.reader()
    np.testing.assert_array_equal(reader.item_vector(5), rows[4])
    np.testing.assert_array_equal(reader.item_vector(7), rows[1])
    assert list(reader.ids()) == [5, 7, 9]


def test_build_reports_progress_and_uses_the_threads_asked_for(make_db):
    db = make_db()
    vectors = vectors_for("cosine", 2000, 16)
    reports = []
    with db.writer(16) as writer:
        writer.add_items(np.arange(2000), vectors)
        stats = writer.build(progress=lambda *report: reports.append(report), threads=1)
        with pytest.raises(ValueError):
            writer.build(threads=0)
    phases = [phase for phase, _, _ in reports]
    assert phases[0] == "loading" and "writing" in phases
    inserting = [(done, total) for phase, done, total in reports if phase == "inserting"]
    assert inserting[-1] == (2000, 2000)
    assert all(isinstance(done, int) for _, done, _ in reports)
    assert stats["inserted"] == 2000
    assert len(db.reader()) == 2000


def test_force_rebuild_and_alpha(make_db):
    db = make_db("euclidean")
    vectors = vectors_for("euclidean", 800, 8)
    with db.writer(8) as writer:
        writer.add_items(np.arange(800), vectors)
        assert writer.build(threads=1)["relinked"] == 0
    before = db.reader().search(vectors[3], k=5)
    with db.writer(8) as writer:
        writer.del_item(3)
        writer.add_item(900, vectors[3])
        stats = writer.build(threads=1, force_rebuild=True, alpha=1.2)
    assert stats["relinked"] == 799 and stats["inserted"] == 1 and stats["removed"] == 1
    reader = db.reader()
    assert len(reader) == 800 and 3 not in reader
    found = reader.search(vectors[3], k=5)
    assert found[0] == (900, 0.0)
    # The same neighbours (an exact answer on 800 items) under the new id.
    assert [id for id, _ in found[1:]] == [id for id, _ in before[1:]]
    with db.writer(8) as writer:
        for alpha in (0.5, 4.5, float("nan")):
            with pytest.raises(ValueError, match="alpha"):
                writer.build(alpha=alpha)


def test_an_exception_in_the_progress_callback_cancels_the_build(make_db):
    db = make_db()
    vectors = vectors_for("cosine", 3000, 16)
    build_index(db, vectors[:100])

    def progress(phase, done, total):
        if phase == "inserting" and done > 0:
            raise LookupError("stop here")

    with pytest.raises(LookupError, match="stop here"):
        with db.writer(16) as writer:
            writer.add_items(np.arange(100, 3000), vectors[100:])
            writer.build(progress=progress)
    assert len(db.reader()) == 100

    # Outside a with block, the writer's transaction is untouched by the cancelled build:
    # a later build and commit go through.
    writer = db.writer(16)
    writer.add_items(np.arange(100, 3000), vectors[100:])
    with pytest.raises(LookupError):
        writer.build(progress=progress)
    assert writer.build()["inserted"] == 2900
    writer.commit()
    assert len(db.reader()) == 3000


def test_index_parameters_are_fixed_once_built(make_db):
    db = make_db()
    vectors = vectors_for("cosine", 100, 4)
    build_index(db, vectors[:50], m=8)
    writer = db.writer(4, m=12)
    writer.add_items(np.arange(50, 100), vectors[50:])
    with pytest.raises(ValueError, match="m = 8"):
        writer.build()
    writer.abort()
    with db.writer(4, m=8, ef_construction=40) as writer:
        writer.add_items(np.arange(50, 100), vectors[50:])
    assert len(db.reader()) == 100


def test_a_full_lmdb_store_fails_cleanly(tmp_path):
    db = hannoy.Database(tmp_path / "small", "euclidean", map_size=1 << 20)
    vectors = vectors_for("euclidean", 100, 8)
    build_index(db, vectors)
    writer = db.writer(8)
    with pytest.raises(hannoy.StoreFullError, match="map size"):
        writer.add_items(np.arange(100, 40100), vectors_for("euclidean", 40000, 8))
    with pytest.raises(hannoy.WriterClosedError, match="abort"):
        writer.add_item(5000, vectors[0])
    with pytest.raises(hannoy.WriterClosedError):
        writer.commit()
    writer.abort()
    reader = db.reader()
    assert len(reader) == 100
    np.testing.assert_array_equal(reader.item_vector(3), vectors[3])
