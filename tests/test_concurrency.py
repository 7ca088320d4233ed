"""map_threaded: results in input order, errors reach the caller, an early stop cancels the rest."""
from __future__ import annotations

import threading
import time

import pytest
from comfyui_animeinterp.core.concurrency import map_threaded, run_pair, worker_count


def test_results_come_in_input_order_whatever_finishes_first():
    def slow_for_small(x):
        time.sleep(0.02 * (5 - x))
        return x * x

    assert list(map_threaded(slow_for_small, range(5), workers=3)) == [0, 1, 4, 9, 16]


def test_work_runs_on_several_threads():
    seen, barrier = set(), threading.Barrier(2, timeout=5)

    def meet(x):
        barrier.wait()  # deadlocks (times out) unless two calls run at once
        seen.add(threading.get_ident())
        return x

    assert list(map_threaded(meet, ["a", "b"], workers=2)) == ["a", "b"]
    assert len(seen) == 2
    assert run_pair(str.upper, "a", "b") == ("A", "B")


def test_an_error_in_a_job_reaches_the_caller():
    def fail_on_two(x):
        if x == 2:
            raise ValueError("bad item 2")
        return x

    with pytest.raises(ValueError, match="bad item 2"):
        list(map_threaded(fail_on_two, range(4), workers=2))


def test_stopping_early_cancels_jobs_not_yet_started():
    started = []

    def job(x):
        started.append(x)
        time.sleep(0.05)
        return x

    class Cancelled(Exception):
        pass

    with pytest.raises(Cancelled):
        for x in map_threaded(job, range(40), workers=2):
            if x == 1:
                raise Cancelled  # what a progress callback does on user interruption
    assert len(started) < 10


def test_one_worker_runs_on_the_calling_thread():
    caller = threading.get_ident()
    assert list(map_threaded(lambda x: threading.get_ident(), range(3), workers=1)) == [caller] * 3
    assert worker_count(1) == 1 and worker_count() >= 1
