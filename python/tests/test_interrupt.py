"""Ctrl-C during a long build cancels it promptly and leaves the index unchanged."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from conftest import build_index, vectors_for


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="no SIGINT on this platform")
@pytest.mark.parametrize("backend", ["lmdb"])
def test_ctrl_c_cancels_a_build(make_db, request):
    assert threading.current_thread() is threading.main_thread()
    # A process started in the background by a non-interactive shell (as CI jobs can be)
    # inherits SIGINT as ignored, and Python then installs no handler for it: install the
    # one an interactive Python has, for this test only.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    db = make_db("euclidean")
    vectors = vectors_for("euclidean", 40_000, 32, seed=9)
    build_index(db, vectors[:100])
    timings = {}

    def progress(phase, done, total):
        # Once insertions are under way, a SIGINT arrives from another thread, as a
        # terminal's Ctrl-C would, while the calling thread waits for the build.
        if phase == "inserting" and "start" not in timings:
            timings["start"] = time.monotonic()
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        timings["last"] = (done, total)

    with pytest.raises(KeyboardInterrupt):
        # ef_construction 400 makes the build take seconds (2 threads, even on a quiet
        # machine), far longer than the signal's delay, however loaded the machine is.
        with db.writer(32, ef_construction=400) as writer:
            writer.add_items(np.arange(100, 40_000), vectors[100:])
            writer.build(progress=progress, threads=2)
    stopped = time.monotonic() - timings["start"]
    done, total = timings["last"]
    assert done < total, "the build finished before the signal: make it longer"
    assert stopped < 2.0, f"cancelling took {stopped:.2f} s"
    assert writer.closed
    reader = db.reader()
    assert len(reader) == 100 and 100 not in reader
