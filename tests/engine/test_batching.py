"""GroupRunner: concurrent calls processed in groups, each caller gets its own result."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent import futures

import pytest

from engine.batching import GroupRunner


def test_a_lone_call_runs_at_once_on_the_callers_thread() -> None:
    seen: list[tuple[list[int], str]] = []

    def process(jobs: Sequence[int]) -> list[int]:
        seen.append((list(jobs), threading.current_thread().name))
        return [j * 10 for j in jobs]

    runner: GroupRunner[int, int] = GroupRunner(process, key=lambda j: j)
    assert runner.submit(4) == 40 and runner.submit(5) == 50
    assert seen == [([4], threading.current_thread().name), ([5], threading.current_thread().name)]


def test_concurrent_calls_are_grouped_and_each_gets_its_own_result() -> None:
    groups: list[list[int]] = []

    def process(jobs: Sequence[int]) -> list[int]:
        groups.append(list(jobs))
        time.sleep(0.005)  # long enough for the other callers to queue up
        return [j * j for j in jobs]

    runner: GroupRunner[int, int] = GroupRunner(process, key=lambda j: j, max_group=16)
    with futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(runner.submit, range(200)))
    assert results == [j * j for j in range(200)]
    assert sorted(j for g in groups for j in g) == list(range(200))
    assert runner.jobs == 200 and runner.groups == len(groups)
    assert len(groups) < 200 / 2, "concurrent jobs should share groups"
    assert max(len(g) for g in groups) <= 16


def test_one_key_never_twice_in_a_group() -> None:
    groups: list[list[tuple[str, int]]] = []
    lock = threading.Lock()

    def process(jobs: Sequence[tuple[str, int]]) -> list[int]:
        with lock:
            groups.append(list(jobs))
        time.sleep(0.002)
        return [n for _, n in jobs]

    runner: GroupRunner[tuple[str, int], int] = GroupRunner(process, key=lambda j: j[0])
    jobs = [(f"case-{i % 3}", i) for i in range(60)]
    with futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(runner.submit, jobs)) == list(range(60))
    for group in groups:
        keys = [k for k, _ in group]
        assert len(keys) == len(set(keys)), group


def test_errors_reach_only_their_callers_and_a_failed_group_reaches_all() -> None:
    def process(jobs: Sequence[int]) -> list[int | BaseException]:
        if -1 in jobs:
            raise OSError("ledger down")
        return [ValueError(f"bad {j}") if j % 2 else j for j in jobs]

    runner: GroupRunner[int, int] = GroupRunner(process, key=lambda j: j)
    assert runner.submit(2) == 2
    with pytest.raises(ValueError, match="bad 3"):
        runner.submit(3)
    with pytest.raises(OSError, match="ledger down"):
        runner.submit(-1)
    # The runner keeps working after a failed group.
    with futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda j: _outcome(runner, j), range(40)))
    assert outcomes == [j if j % 2 == 0 else f"bad {j}" for j in range(40)]


def _outcome(runner: GroupRunner[int, int], job: int) -> int | str:
    try:
        return runner.submit(job)
    except ValueError as exc:
        return str(exc)


def test_a_job_still_queued_at_its_deadline_is_withdrawn_unprocessed() -> None:
    started, release = threading.Event(), threading.Event()
    processed: list[int] = []

    def process(jobs: Sequence[int]) -> list[int]:
        processed.extend(jobs)
        if 0 in jobs:
            started.set()
            release.wait(5)
        return list(jobs)

    runner: GroupRunner[int, int] = GroupRunner(process, key=lambda j: j)
    with futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(runner.submit, 0)
        assert started.wait(5)
        with pytest.raises(TimeoutError):
            runner.submit(1, timeout=0.05)  # the leader is busy: job 1 waits, then gives up
        release.set()
        assert first.result(5) == 0
    assert processed == [0]
    assert runner.submit(2, timeout=1.0) == 2  # nothing left behind in the queue
