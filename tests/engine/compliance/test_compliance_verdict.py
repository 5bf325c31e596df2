"""The public interface: verdicts, errors and fail-closed behaviour (next allowed instants:
test_compliance_planning.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest
from compliance_factories import make_state

from engine.catalogue import CATALOGUE, Action, Channel, Slot, Tone
from engine.compliance import (
    ComplianceEngine,
    ComplianceError,
    ComplianceVerdict,
    InvalidCaseError,
    RuleHit,
    UnknownCountryError,
)
from engine.state import CaseFlags

CALL = int(CATALOGUE.find(action=Action.AGENT_CALL, tone=Tone.NEUTRAL, slot=Slot.AFTERNOON)[0])
CALL_MORNING = int(
    CATALOGUE.find(action=Action.AGENT_CALL, tone=Tone.NEUTRAL, slot=Slot.MORNING)[0]
)
LEGAL = int(CATALOGUE.find(action=Action.LEGAL_ESCALATION)[0])
EMAIL = int(CATALOGUE.find(action=Action.REMINDER, channel=Channel.EMAIL, slot=Slot.MIDDAY)[0])


def test_verdict_shape_and_version(engine: ComplianceEngine) -> None:
    verdict = engine.evaluate(make_state("US", date(2024, 3, 12), engine=engine))
    assert isinstance(verdict, ComplianceVerdict)
    assert verdict.mask.dtype == bool and verdict.mask.shape == (len(CATALOGUE),)
    assert verdict.mask[0] and verdict.ruleset_version == engine.version
    assert verdict.window_utc(0) is None and verdict.hits_for(0) == []
    assert all(isinstance(h, RuleHit) and h.citation for h in verdict.shaping_hits)
    assert engine.countries == frozenset({"US", "US-MA", "GB", "SE", "NO", "DK", "FI", "DE"})


def test_unknown_country_fails_closed(engine: ComplianceEngine) -> None:
    state = make_state("US", date(2024, 3, 12), engine=engine)
    state = replace(state, snapshot=replace(state.snapshot, country="FR"))
    with pytest.raises(UnknownCountryError) as err:
        engine.evaluate(state)
    assert isinstance(err.value, ComplianceError)
    assert "FR" in str(err.value) and "rules/FR.yaml" in str(err.value)


def test_naive_decision_time_is_rejected(engine: ComplianceEngine) -> None:
    state = make_state("US", date(2024, 3, 12), engine=engine)
    with pytest.raises(InvalidCaseError):
        engine.evaluate(replace(state, as_of=datetime(2024, 3, 12, 10)))


def test_wait_only_verdict_blocks_everything_but_wait() -> None:
    verdict = ComplianceVerdict.wait_only(
        ruleset_version="v",
        country="US",
        local_date=date(2024, 1, 1),
        as_of=datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert verdict.mask.sum() == 1 and verdict.mask[0]
    assert verdict.hits_for(5)[0].rule_id == "tact.fail-closed"


def test_hold_allows_only_wait(engine: ComplianceEngine) -> None:
    verdict = engine.evaluate(
        make_state("SE", date(2024, 3, 12), flags=CaseFlags(dispute=True), engine=engine)
    )
    assert verdict.hold and verdict.mask.sum() == 1
    assert {h.rule_id for h in verdict.hits_for(EMAIL)} == {"dispute.hold"}


def test_every_allowed_contact_has_a_send_window_still_open(engine: ComplianceEngine) -> None:
    """The pipeline relies on this: an allowed step's UTC window exists and ends after the
    decision instant, at any time of day, known or unknown zone."""
    import numpy as np
    from compliance_factories import random_states

    rng = np.random.default_rng(7)
    checked = 0
    for state in random_states(engine, 400, seed=99):
        minute = int(rng.integers(0, 24 * 60))
        zone = None if rng.random() < 0.3 else ""
        moved = make_state(
            state.snapshot.country,
            state.local_date,
            timezone=zone,
            at=time(minute // 60, minute % 60, int(rng.integers(0, 60))),
            history=state.history,
            flags=state.snapshot.flags,
            engine=engine,
        )
        verdict = engine.evaluate(moved)
        for index in np.flatnonzero(verdict.mask[1:]) + 1:
            window = verdict.window_utc(int(index))
            assert window is not None, CATALOGUE[int(index)].label
            start, end = window
            assert start < end and end > moved.as_of and start >= moved.as_of
            checked += 1
    assert checked > 1000
