"""The simulator's case columns equal what the service folds from the same ledger events.

Every few days, each simulated case is rebuilt the service's way — its snapshot plus
``summarise_history`` over the LedgerEvents the simulator recorded — and must give the
same CaseBatch row, the same observation and the same mask as the simulator used.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from engine.features import featurize
from engine.state import CaseBatch, EventKind
from simulator.batched import BatchedCollectionsSim
from simulator.replay import ledger_of, replayed_state


def test_replayed_ledger_rebuilds_the_simulated_case(nordic_telecom, compliance_engine) -> None:  # type: ignore[no-untyped-def]
    sim = BatchedCollectionsSim(
        nordic_telecom, 40, compliance_engine, seed=3, auto_reset=True, record_events=True
    )
    sim.reset()
    rng = np.random.default_rng(0)
    checked = 0
    for day in range(90):
        if day % 4 == 0:
            rows = np.arange(sim.n)
            rebuilt = CaseBatch.from_states([replayed_state(sim, int(r)) for r in rows])
            for f in fields(CaseBatch):
                assert np.array_equal(getattr(rebuilt, f.name), getattr(sim.batch, f.name)), (
                    f"day {day}: column {f.name} differs from the replayed ledger"
                )
            assert np.array_equal(featurize(rebuilt), sim.observe())
            assert np.array_equal(
                compliance_engine.mask_batch(rebuilt, sim.local_dates), sim.action_masks()
            )
            assert all(ledger_of(sim, int(r)) is not None for r in rows)
            checked += sim.n
        masks = sim.action_masks()
        actions = np.argmax(rng.random(masks.shape) * masks, axis=1)
        actions[rng.random(sim.n) < 0.5] = 0  # half the debtors wait today
        sim.step(actions)
    assert checked >= 40 * 22
    assert sim.recorder is not None
    kinds = {e.kind for events in sim.recorder.events.values() for e in events}
    # The replay exercised the order-sensitive folds, not just contacts.
    assert {
        EventKind.CONTACT_PLANNED,
        EventKind.CONTACT_ATTEMPTED,
        EventKind.CALL_NOT_CONNECTED,
        EventKind.CONVERSATION,
        EventKind.CONTACT_OPENED,
        EventKind.PAYMENT,
        EventKind.PROMISE_TO_PAY,
        EventKind.PLAN_AGREED,
        EventKind.COMPLAINT,
        EventKind.DISPUTE_OPENED,
        EventKind.CASE_CLOSED,
    } <= kinds
