"""durable_rules is not thread-safe (jruizgit/rules#291): the engine must be.

The engines here have the memo of durable_rules' answers off, so that every evaluation,
in every thread, really goes into durable_rules at the same time as the others (with the
memo on, a fact set seen once is answered from the memo and durable_rules is never
called concurrently: removing its lock would go unnoticed). Eight threads evaluate
different cases at once; every verdict must equal the one computed alone for the same
case (no crash, no facts mixed between cases), and durable_rules must have been asked
exactly once per evaluation.

Python switches threads every 5 ms by default: so seldom that threads rarely meet inside
an evaluation (≈ 50 µs). The tests switch every microsecond, so that they do: without
the lock in ``DurableRuleset`` about one evaluation in 500 then fails (facts of another
evaluation, an unfinished evaluation, error 307 from the engine).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from compliance_factories import jurisdictions_of, random_states

from engine.compliance import ComplianceEngine
from engine.state import CaseBatch

THREADS = 8


@pytest.fixture(autouse=True)
def thread_switch_every_microsecond() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def _memo_off() -> ComplianceEngine:
    """An engine of its own whose every evaluation posts to durable_rules."""
    engine = ComplianceEngine(ComplianceEngine.load().compiled)
    engine.fired_memo_size = 0
    return engine


def test_concurrent_evaluations_never_mix_cases() -> None:
    engine = _memo_off()
    states = random_states(engine, 250, seed=7)
    expected = [engine.evaluate(s) for s in states]
    assert len({e.mask.tobytes() for e in expected}) > 20, "cases must differ to catch mixing"
    posts_before = engine.durable_posts
    barrier = threading.Barrier(THREADS)

    def worker(offset: int) -> list[tuple[int, np.ndarray, list[str]]]:
        barrier.wait()  # start together to maximise contention
        out = []
        for k in range(4):  # each thread walks all cases, from its own starting point
            for j in range(len(states)):
                i = (j * 7 + offset * 50 + k) % len(states)
                v = engine.evaluate(states[i])
                out.append((i, v.mask, v.rule_ids))
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        results = [f.result() for f in [pool.submit(worker, t) for t in range(THREADS)]]
    checked = 0
    for result in results:
        for i, mask, rule_ids in result:
            assert np.array_equal(mask, expected[i].mask), f"case {i} got another case's mask"
            assert rule_ids == expected[i].rule_ids
            checked += 1
    assert checked == THREADS * 4 * len(states)
    # Every one of them went into durable_rules, concurrently (counted under its lock).
    assert engine.durable_posts - posts_before == checked


def test_concurrent_batch_and_single_paths() -> None:
    engine = _memo_off()
    states = random_states(engine, 200, seed=8)
    batch = CaseBatch.from_states(states)
    dates = np.array([s.local_date for s in states], dtype="datetime64[D]")
    codes = jurisdictions_of(engine, states)
    expected = engine.mask_batch(batch, dates, codes)
    barrier = threading.Barrier(THREADS)

    def single(offset: int) -> bool:
        barrier.wait()
        order = [(offset * 25 + j) % len(states) for j in range(len(states))]
        return all(np.array_equal(engine.evaluate(states[i]).mask, expected[i]) for i in order)

    def whole(_: int) -> bool:
        return bool(np.array_equal(engine.mask_batch(batch, dates, codes), expected))

    with ThreadPoolExecutor(THREADS + 2) as pool:
        singles = [pool.submit(single, t) for t in range(THREADS)]
        wholes = [pool.submit(whole, t) for t in range(2)]
        assert all(f.result() for f in singles) and all(f.result() for f in wholes)
