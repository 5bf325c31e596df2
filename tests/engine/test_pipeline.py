"""The decision pipeline without transport: send-time edge cases, and the post-policy
steps (send and review times, explanation, records, reservations, the policy-contract
check) giving exactly what their previous implementations gave."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from google.protobuf import json_format

from bench.bench_pipeline_finish import (
    ReferencePipeline,
    reference_ceil_minute,
    reference_record,
    reference_reservation,
)
from engine.catalogue import CATALOGUE, SLOT_HOURS, Channel, Slot
from engine.compliance import RulesHolder
from engine.convert import case_from_proto
from engine.explanations import local_minute as _local_minute
from engine.ledger import open_ledger
from engine.outcomes import DecisionOutcome
from engine.pipeline import DecisionPipeline, _ceil_minute
from engine.state import CaseSnapshot, LedgerEvent
from policies.base import Policy, PolicyContractError, PolicyDecisions
from policies.registry import load_policy
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


# ---- the post-policy fast path gives what the previous implementation gave ---------------
# The previous implementations are kept in bench/bench_pipeline_finish.py (reference_*,
# ReferencePipeline); the bench measures both in the same run.
DIGEST = "ab" * 32


class AlwaysWait:
    """Waits on every case (a test policy): the review-time path for every example."""

    name = "test-wait"
    version = "1"

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        n = masks.shape[0]
        return PolicyDecisions(np.zeros(n, dtype=np.int64), np.full(n, 0.25))


class Scripted:
    """Returns whatever ``choose(masks)`` gives (a test policy for contract violations)."""

    name = "test-scripted"
    version = "1"

    def __init__(self, choose: Callable[[np.ndarray], PolicyDecisions]) -> None:
        self.choose = choose

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        return self.choose(masks)


def _example_cases() -> list[tuple[CaseSnapshot, list[LedgerEvent]]]:
    return [
        case_from_proto(json_format.Parse(path.read_text(), case_pb2.Case()))
        for path in sorted(EXAMPLES.glob("*.json"))
    ]


def _pipelines(tmp_path: Path, policy: Policy) -> tuple[DecisionPipeline, ReferencePipeline]:
    ledger = open_ledger(f"sqlite:///{tmp_path}/p.db")
    new = DecisionPipeline(rules=RulesHolder(), ledger=ledger, champion=policy)
    return new, ReferencePipeline.like(new)


def _same_value(a: object, b: object) -> bool:
    """Equal, of the same type, and with the same repr (tzinfo and fold of datetimes)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b and repr(a) == repr(b)


def _assert_same_outcome(
    old: DecisionOutcome | Exception, new: DecisionOutcome | Exception
) -> None:
    if isinstance(old, Exception) or isinstance(new, Exception):
        assert (type(old), str(old)) == (type(new), str(new))
        return
    for f in dataclasses.fields(DecisionOutcome):
        # decision_id: random; what it read is kept for the re-check at the reservation.
        if f.name not in ("decision_id", "caller_events", "ledger_events"):
            assert _same_value(getattr(old, f.name), getattr(new, f.name)), f.name
    uuid.UUID(new.decision_id, version=4)
    same_id = dataclasses.replace(new, decision_id=old.decision_id)
    assert _same_value(reference_record(old, DIGEST), same_id.record(DIGEST))
    assert _same_value(reference_reservation(old), same_id.reservation())


STOCKHOLM = ZoneInfo("Europe/Stockholm")
DECISION_TIMES = [
    # A day in UTC: before, at and after slot edges, whole minutes and not.
    *(
        datetime(2026, 11, 26, h, m, s, us, tzinfo=UTC)
        for h, m, s, us in [
            (0, 0, 0, 0),
            (5, 59, 59, 999999),
            (7, 0, 0, 0),
            (7, 30, 45, 500000),
            (8, 59, 30, 0),
            (9, 0, 17, 250000),
            (9, 59, 30, 0),
            (10, 59, 59, 1),
            (12, 0, 0, 0),
            (13, 37, 59, 900000),
            (16, 0, 0, 0),
            (18, 45, 1, 0),
            (19, 59, 59, 0),
            (21, 30, 0, 0),
            (23, 59, 59, 999999),
        ]
    ),
    # Daylight-saving changes (EU, US) and a weekend.
    datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC),
    datetime(2026, 3, 29, 8, 0, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 30, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 14, 15, 15, tzinfo=UTC),
    datetime(2026, 3, 8, 14, 0, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 30, 0, tzinfo=UTC),
    datetime(2026, 11, 28, 11, 11, 11, tzinfo=UTC),
    # A caller clock that is not UTC (the local-time cache is skipped).
    datetime(2026, 11, 26, 10, 0, 17, tzinfo=STOCKHOLM),
    datetime(2026, 10, 25, 2, 30, 0, fold=1, tzinfo=STOCKHOLM),
    datetime(2026, 11, 26, 4, 0, 59, 1, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.mark.parametrize(
    "policy",
    [
        "default",
        "ladder",
        "segmented",
        pytest.param(LastMorningStep(), id="morning"),
        pytest.param(AlwaysWait(), id="wait"),
    ],
)
def test_outcomes_records_and_reservations_match_the_previous_implementation(
    tmp_path: Path, policy: str | Policy
) -> None:
    """The 10 examples (waits, breathing space, unknown zone, blocked channels) decided one
    by one and as a batch, at many times of day: every field the same as before."""
    new, old = _pipelines(tmp_path, load_policy(policy) if isinstance(policy, str) else policy)
    cases = _example_cases()
    seen = set()
    for now in DECISION_TIMES:
        batch = [(snapshot, events, now) for snapshot, events in cases]
        for chunk in [*([c] for c in batch), batch]:
            for o, n in zip(old.decide_many(chunk), new.decide_many(chunk), strict=True):
                _assert_same_outcome(o, n)
                if isinstance(n, DecisionOutcome):
                    seen.add("send" if n.send_at else "wait")
                    seen.add(n.zone.key)
    new.ledger.close()
    assert "America/New_York" in seen  # us-unknown-timezone: the country's reference zone
    if not isinstance(policy, AlwaysWait):
        assert {"send", "wait"} <= seen


def test_breathing_space_wait_reviews_after_it_ends_as_before(tmp_path: Path) -> None:
    new, old = _pipelines(tmp_path, AlwaysWait())
    [(snapshot, events)] = [c for c in _example_cases() if c[0].country == "GB"]
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    [o] = old.decide_many([(snapshot, events, now)])
    [n] = new.decide_many([(snapshot, events, now)])
    new.ledger.close()
    _assert_same_outcome(o, n)
    assert isinstance(n, DecisionOutcome) and n.next_review_at is not None
    # The breathing space lasts until 2027-01-20: review at 08:00 London the day after.
    assert n.next_review_at == datetime(2027, 1, 21, 8, 0, tzinfo=UTC)


def test_duplicate_rule_hits_are_reported_once_as_before(tmp_path: Path) -> None:
    new, old = _pipelines(tmp_path, LastMorningStep())
    arm = new.champion
    now = datetime(2026, 11, 26, 9, 0, 17, tzinfo=UTC)
    for snapshot, events in _example_cases():
        p = new._prepare(snapshot, events, now)
        hits = list(p.verdict.shaping_hits)
        p.verdict.shaping_hits = [*hits, *hits[:2], *reversed(hits)]
        index = int(LastMorningStep().act(np.zeros((1, 1)), p.mask[None, :]).indices[0])
        observation = np.zeros(3, dtype=np.float32)
        o = old._finish(p, index, 0.5, arm, observation, dry_run=False)
        n = new._finish(p, index, 0.5, arm, observation, dry_run=False)
        _assert_same_outcome(o, n)
        assert n.rule_hits == tuple(hits)
    new.ledger.close()


def test_record_label_of_an_outcome_not_built_from_the_catalogue(tmp_path: Path) -> None:
    new, _ = _pipelines(tmp_path, LastMorningStep())
    [snapshot, events] = _example_cases()[0]
    outcome = new.decide(snapshot, events, now=datetime(2026, 11, 26, 9, tzinfo=UTC), dry_run=True)
    new.ledger.close()
    other = dataclasses.replace(outcome, index=0, propensity=float("nan"))
    assert _same_value(reference_record(other, DIGEST), other.record(DIGEST))
    assert other.record(DIGEST).treatment_label == outcome.treatment.label
    assert other.record(DIGEST).propensity == 1.0


def test_local_minute_matches_strftime() -> None:
    zones = [
        ZoneInfo(z)
        for z in (
            "Europe/Stockholm",
            "Europe/London",
            "America/New_York",
            "America/Los_Angeles",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
            "Pacific/Chatham",
            "UTC",
        )
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    instants = [start + timedelta(minutes=97 * k, seconds=k % 60) for k in range(5500)]
    for day in (date(2026, 3, 29), date(2026, 10, 25), date(2026, 3, 8), date(2026, 11, 1)):
        midnight = datetime.combine(day, datetime.min.time(), UTC)
        instants += [midnight + timedelta(minutes=m) for m in range(0, 24 * 60, 7)]
    for zone in zones:
        for at in instants:
            expected = f"{at.astimezone(zone):%a %d %b %H:%M}"
            assert _local_minute(at, zone) == expected  # computed
            assert _local_minute(at, zone) == expected  # remembered
            other = at.astimezone(STOCKHOLM)  # not UTC: never remembered
            assert _local_minute(other, zone) == expected


def test_ceil_minute_matches_the_previous_one() -> None:
    tzs = [UTC, STOCKHOLM, timezone(timedelta(hours=5, minutes=45)), None]
    for tz in tzs:
        for second, micro in [(0, 0), (0, 1), (1, 0), (59, 999999), (30, 500000)]:
            for fold in (0, 1):
                at = datetime(2026, 10, 25, 2, 59, second, micro, tzinfo=tz, fold=fold)
                assert _same_value(reference_ceil_minute(at), _ceil_minute(at))
                assert _same_value(reference_ceil_minute(at).fold, _ceil_minute(at).fold)


def _first_blocked(masks: np.ndarray) -> PolicyDecisions:
    indices = np.array([int(np.flatnonzero(~row)[0]) for row in masks])
    return PolicyDecisions(indices, np.ones(len(indices)))


def _allowed_with(propensity: float, dtype: type = np.int64) -> Callable[..., PolicyDecisions]:
    def choose(masks: np.ndarray) -> PolicyDecisions:
        n = masks.shape[0]
        return PolicyDecisions(np.zeros(n, dtype=dtype), np.full(n, propensity))

    return choose


@pytest.mark.parametrize(
    "choose",
    [
        pytest.param(_first_blocked, id="blocked"),
        pytest.param(_allowed_with(0.0), id="propensity-0"),
        pytest.param(_allowed_with(1.5), id="propensity-above-1"),
        pytest.param(_allowed_with(float("nan")), id="propensity-nan"),
        pytest.param(_allowed_with(1.0, np.float64), id="float-indices"),
        pytest.param(
            lambda m: PolicyDecisions(np.zeros(m.shape[0] + 1, np.int64), np.ones(m.shape[0])),
            id="shape",
        ),
        pytest.param(
            lambda m: PolicyDecisions(np.full(m.shape[0], len(CATALOGUE)), np.ones(m.shape[0])),
            id="past-the-catalogue",
        ),
    ],
)
@pytest.mark.parametrize("batch", [1, 3])
def test_a_policy_breaking_the_contract_fails_as_before(
    tmp_path: Path, choose: Callable[[np.ndarray], PolicyDecisions], batch: int
) -> None:
    """A batch of one is checked without check_decisions' numpy calls: same errors."""
    new, old = _pipelines(tmp_path, Scripted(choose))
    cases = [(s, e, datetime(2026, 11, 26, 9, tzinfo=UTC)) for s, e in _example_cases()]
    cases = cases[:batch]
    with pytest.raises(Exception) as info:
        old.decide_many(cases)
    # The old pipeline raised for the whole call; the new one fails every case of the
    # policy's arm with that error (and would keep the other arm's cases).
    results = new.decide_many(cases)
    new.ledger.close()
    assert len(results) == batch
    assert all(isinstance(r, type(info.value)) and str(r) == str(info.value) for r in results)


def _negative_alias(masks: np.ndarray) -> PolicyDecisions:
    """An allowed contact step, named by its negative index (numpy would wrap it)."""
    index = int(np.flatnonzero(masks[0])[-1])
    assert index > 0
    return PolicyDecisions(np.array([index - len(CATALOGUE)]), np.ones(1))


def _rewrites_its_mask(masks: np.ndarray) -> PolicyDecisions:
    """Marks everything allowed in the mask it was given, then takes a blocked step."""
    blocked = int(np.flatnonzero(~masks[0])[0])
    masks[:] = True
    return PolicyDecisions(np.array([blocked]), np.ones(1))


@pytest.mark.parametrize("choose", [_negative_alias, _rewrites_its_mask])
def test_a_lone_case_never_gets_a_blocked_step(
    tmp_path: Path, choose: Callable[[np.ndarray], PolicyDecisions]
) -> None:
    """Stricter than check_decisions on the policy's copy of the mask: the verdict's own
    mask decides (before, a rewritten mask failed later, in _finish; a negative index was
    taken for the entry it wraps to)."""
    new, _ = _pipelines(tmp_path, Scripted(choose))
    [(snapshot, events)] = [c for c in _example_cases() if c[0].case_id == "se-1002"]
    now = datetime(2026, 11, 26, 9, tzinfo=UTC)
    [result] = new.decide_many([(snapshot, events, now)])
    new.ledger.close()
    assert isinstance(result, PolicyContractError) and "blocked treatment" in str(result)
