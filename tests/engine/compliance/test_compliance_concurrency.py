"""durable_rules is not thread-safe (jruizgit/rules#291): the engine must be.

Eight threads evaluate different cases at once; every verdict must equal the one
computed alone for the same case (no crash, no facts mixed between cases).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from compliance_factories import jurisdictions_of, random_states

from engine.compliance import ComplianceEngine

THREADS = 8


def test_concurrent_evaluations_never_mix_cases(engine: ComplianceEngine) -> None:
    states = random_states(engine, 250, seed=7)
    expected = [engine.evaluate(s) for s in states]
    assert len({e.mask.tobytes() for e in expected}) > 20, "cases must differ to catch mixing"
    barrier = threading.Barrier(THREADS)

    def worker(offset: int) -> list[tuple[int, np.ndarray, list[str]]]:
        barrier.wait()  # start together to maximise contention
        out = []
        for k in range(2):  # each thread walks all cases, from its own starting point
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
    assert checked == THREADS * 2 * len(states)


def test_concurrent_batch_and_single_paths(engine: ComplianceEngine) -> None:
    from engine.state import CaseBatch

    states = random_states(engine, 200, seed=8)
    batch = CaseBatch.from_states(states)
    dates = np.array([s.local_date for s in states], dtype="datetime64[D]")
    codes = jurisdictions_of(engine, states)
    expected = engine.mask_batch(batch, dates, codes)

    def single(i: int) -> bool:
        return bool(np.array_equal(engine.evaluate(states[i]).mask, expected[i]))

    def whole(_: int) -> bool:
        return bool(np.array_equal(engine.mask_batch(batch, dates, codes), expected))

    with ThreadPoolExecutor(THREADS) as pool:
        singles = list(pool.map(single, range(len(states))))
        wholes = list(pool.map(whole, range(THREADS)))
    assert all(singles) and all(wholes)
