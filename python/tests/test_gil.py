"""Long calls release the GIL: another Python thread keeps running meanwhile."""

import threading
import time

import numpy as np

from conftest import vectors_for


def longest_pause_during(call) -> tuple[float, float]:
    """Runs `call` in a thread while this one ticks; returns the call's duration and the
    longest gap between two ticks while it ran (about the whole call if it held the GIL)."""
    done = threading.Event()
    span = {}

    def run():
        span["start"] = time.perf_counter()
        call()
        span["end"] = time.perf_counter()
        done.set()

    ticks = []
    thread = threading.Thread(target=run)
    thread.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
    thread.join()
    inside = [t for t in ticks if span["start"] <= t <= span["end"]]
    edges = [span["start"], *inside, span["end"]]
    return span["end"] - span["start"], max(b - a for a, b in zip(edges, edges[1:]))


# A call holding the GIL would stall the ticking thread for all of it; released, the
# ticks go on, with gaps of a few milliseconds at most (the GIL's switch interval is 5 ms).
def test_build_and_batch_search_release_the_gil(tmp_path):
    import hannoy

    db = hannoy.Database(tmp_path / "db", "euclidean")
    vectors = vectors_for("euclidean", 8_000, 32, seed=11)
    writer = db.writer(32)
    writer.add_items(np.arange(len(vectors)), vectors)
    duration, pause = longest_pause_during(lambda: writer.build(threads=1))
    writer.commit()
    assert duration > 0.05, f"the build took only {duration:.3f} s: make it longer"
    assert pause < duration / 2, f"this thread stalled {pause:.3f} s of a {duration:.3f} s build"

    reader = db.reader()
    queries = np.tile(vectors[:2000], (2, 1))
    duration, pause = longest_pause_during(
        lambda: reader.search_batch(queries, k=10, ef_search=200))
    assert duration > 0.05, f"the batch took only {duration:.3f} s: make it longer"
    assert pause < duration / 2, f"this thread stalled {pause:.3f} s of a {duration:.3f} s batch"
