"""The decision pipeline without transport: send-time edge cases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from google.protobuf import json_format

from engine.catalogue import CATALOGUE, SLOT_HOURS, Channel, Slot
from engine.compliance import RulesHolder
from engine.convert import case_from_proto
from engine.ledger import open_ledger
from engine.pipeline import DecisionPipeline
from policies.base import PolicyDecisions
from tact.v1 import case_pb2

EXAMPLES = Path(__file__).parents[2] / "examples" / "cases"


class LastMorningStep:
    """Picks the last allowed morning contact (a test policy, deterministic)."""

    name = "test-morning"
    version = "1"

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        morning = np.array([t.slot is Slot.MORNING for t in CATALOGUE.treatments])
        allowed = masks & morning[None, :]
        indices = np.array([int(np.flatnonzero(r)[-1]) if r.any() else 0 for r in allowed])
        return PolicyDecisions(indices, np.ones(len(indices)))


def test_send_time_stays_inside_the_window_with_under_a_minute_left(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/p.db")
    pipeline = DecisionPipeline(rules=RulesHolder(), ledger=ledger, champion=LastMorningStep())
    snapshot, events = case_from_proto(
        json_format.Parse((EXAMPLES / "se-telecom-early.json").read_text(), case_pb2.Case())
    )
    # 10:59:30 in Stockholm (UTC+1): the morning slot closes at 11:00 local.
    now = datetime(2026, 11, 26, 9, 59, 30, tzinfo=UTC)
    outcome = pipeline.decide(snapshot, events, now=now, dry_run=True)
    ledger.close()
    assert outcome.treatment.slot is Slot.MORNING and outcome.treatment.channel is not Channel.NONE
    assert outcome.send_at is not None
    local = outcome.send_at.astimezone(outcome.zone)
    assert now <= outcome.send_at
    assert (local.hour, local.minute) < (SLOT_HOURS[Slot.MORNING][1], 0)
