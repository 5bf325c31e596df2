"""The ``segmented`` expert strategy on realistic cases built through the real featurizer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone
from engine.features import featurize
from engine.state import (
    AgeBand,
    CaseBatch,
    CaseFlags,
    CaseSnapshot,
    CaseState,
    ConsentStatus,
    DebtorProfile,
    HistorySummary,
)
from policies.base import check_decisions
from policies.segmented import Segment, SegmentedPolicy

AS_OF = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)  # a Wednesday
POLICY = SegmentedPolicy()


def _state(
    *,
    dpd: int = 31,
    profile: DebtorProfile | None = None,
    flags: CaseFlags | None = None,
    consents: dict[Channel, ConsentStatus] | None = None,
    contacts: dict[tuple[int, Channel], int] | None = None,
    **history: Any,
) -> CaseState:
    """A case with a 4,000.00 balance; ``contacts`` maps (days ago, channel) → count."""
    h = HistorySummary(**history)
    for (ago, channel), count in (contacts or {}).items():
        h.contacts_by_day[ago, channel] = count
    snapshot = CaseSnapshot(
        case_id="c1",
        debtor_id="d1",
        country="SE",
        timezone="Europe/Stockholm",
        currency="SEK",
        outstanding_minor=400_000,
        original_minor=400_000,
        days_past_due=dpd,
        debtor=profile or DebtorProfile(age_band=AgeBand.AGE_45_64, risk_score=0.5),
        consents=consents or {},
        flags=flags or CaseFlags(),
    )
    return CaseState(snapshot=snapshot, history=h, as_of=AS_OF, local_date=date(2026, 3, 11))


def _observe(*states: CaseState) -> np.ndarray:
    return featurize(CaseBatch.from_states(list(states)))


def _decide(state: CaseState, masks: np.ndarray | None = None) -> tuple[int, Segment]:
    obs = _observe(state)
    masks = np.ones((1, len(CATALOGUE)), dtype=bool) if masks is None else masks
    decisions = POLICY.act(obs, masks)
    check_decisions(decisions, masks)
    assert decisions.propensities[0] == 1.0
    return int(decisions.indices[0]), Segment(int(POLICY.segments(obs)[0]))


def test_hardship_gets_an_empathetic_instalment_plan() -> None:
    index, segment = _decide(_state(flags=CaseFlags(hardship=True), opens_30d=2))
    treatment = CATALOGUE[index]
    assert segment is Segment.HARDSHIP
    assert treatment.action is Action.INSTALMENT_PLAN
    assert treatment.tone is Tone.EMPATHETIC
    assert treatment.offer is Offer.PLAN_6  # longer plan, smaller instalments


def test_hardship_after_a_broken_plan_gets_a_deferral() -> None:
    index, _ = _decide(_state(flags=CaseFlags(vulnerable=True), plans_broken=1, opens_30d=1))
    assert CATALOGUE[index].action is Action.DEFERRAL
    assert CATALOGUE[index].tone is Tone.EMPATHETIC


def test_repeated_broken_promises_get_a_firm_step() -> None:
    index, segment = _decide(_state(dpd=50, promises_broken=3, opens_30d=1))
    assert segment is Segment.WONT_PAY
    treatment = CATALOGUE[index]
    assert treatment.tone is Tone.FIRM
    assert (treatment.action, treatment.channel) == (Action.DEMAND, Channel.LETTER)
    # Once the demand is out, the next firm step is a call, not another letter.
    index, _ = _decide(_state(dpd=50, promises_broken=3, days_since_first_demand=10))
    assert (CATALOGUE[index].action, CATALOGUE[index].tone) == (Action.AGENT_CALL, Tone.FIRM)


def test_a_past_complaint_softens_the_tone_and_a_recent_one_stops_contact() -> None:
    index, _ = _decide(_state(dpd=50, promises_broken=3, complaints_total=1))
    assert CATALOGUE[index].action is Action.DEMAND
    assert CATALOGUE[index].tone is Tone.NEUTRAL
    index, segment = _decide(_state(dpd=50, complaints_total=1, complaints_30d=1))
    assert (index, segment) == (CATALOGUE.WAIT_INDEX, Segment.PROTECTED)


def test_legal_only_after_a_demand_and_a_long_silence() -> None:
    ready: dict[str, Any] = {"dpd": 120, "promises_broken": 2, "days_since_first_demand": 40}
    index, _ = _decide(_state(**ready))
    assert CATALOGUE[index].action is Action.LEGAL_ESCALATION
    not_yet: dict[str, Any]
    for not_yet in (
        {"days_since_first_demand": 20},  # demand too recent
        {"days_since_conversation": 5},  # they are talking to us
        {"days_since_last_payment": 30},  # they are paying something
        {"dpd": 60},  # not long overdue
    ):
        index, _ = _decide(_state(**{**ready, **not_yet}))
        assert CATALOGUE[index].action is not Action.LEGAL_ESCALATION, not_yet


def test_long_overdue_silent_high_risk_gets_a_settlement_offer() -> None:
    profile = DebtorProfile(age_band=AgeBand.AGE_30_44, risk_score=0.8)
    base: dict[str, Any] = {"profile": profile, "days_since_first_demand": 10}
    index, segment = _decide(_state(dpd=100, **base))
    assert segment is Segment.LONG_OVERDUE
    assert CATALOGUE[index].offer is Offer.SETTLE_20
    index, _ = _decide(_state(dpd=200, **base))
    assert CATALOGUE[index].offer is Offer.SETTLE_40


@pytest.mark.parametrize(
    ("profile", "channel"),
    [
        (DebtorProfile(age_band=AgeBand.AGE_18_29, risk_score=0.5), Channel.SMS),
        (DebtorProfile(age_band=AgeBand.AGE_18_29, risk_score=0.5, has_app=True), Channel.PUSH),
        (DebtorProfile(age_band=AgeBand.AGE_45_64, risk_score=0.5), Channel.EMAIL),
        (DebtorProfile(age_band=AgeBand.AGE_65_PLUS, risk_score=0.5), Channel.LETTER),
    ],
)
def test_channel_follows_age_band_and_app(profile: DebtorProfile, channel: Channel) -> None:
    index, segment = _decide(_state(dpd=4, profile=profile))
    assert segment is Segment.STANDARD
    assert CATALOGUE[index].action is Action.REMINDER
    assert CATALOGUE[index].channel is channel


def test_habitual_payer_waits_a_few_days_then_gets_a_gentle_morning_nudge() -> None:
    profile = DebtorProfile(age_band=AgeBand.AGE_18_29, prior_on_time_ratio=0.9, risk_score=0.1)
    index, segment = _decide(_state(dpd=1, profile=profile))
    assert (index, segment) == (CATALOGUE.WAIT_INDEX, Segment.SELF_CURE)
    index, _ = _decide(_state(dpd=4, profile=profile))
    treatment = CATALOGUE[index]
    assert (treatment.action, treatment.tone) == (Action.REMINDER, Tone.EMPATHETIC)
    assert (treatment.channel, treatment.slot) == (Channel.SMS, Slot.MORNING)


def test_cadence_limits_contacts() -> None:
    busy = {(0, Channel.EMAIL): 1}  # contacted today
    index, _ = _decide(_state(dpd=4, contacts=busy))
    assert index == CATALOGUE.WAIT_INDEX
    two_this_week = {(2, Channel.EMAIL): 1, (5, Channel.SMS): 1}
    index, _ = _decide(_state(dpd=7, contacts=two_this_week))
    assert index == CATALOGUE.WAIT_INDEX  # standard: at most 2 in 7 days
    one_this_week = {(3, Channel.EMAIL): 1}
    index, _ = _decide(_state(dpd=7, contacts=one_this_week))  # 7 ≡ 1 mod 3: rhythm day
    assert CATALOGUE[index].action is Action.REMINDER
    index, _ = _decide(_state(dpd=8, contacts=one_this_week))  # off rhythm
    assert index == CATALOGUE.WAIT_INDEX


def test_unanswered_channel_is_rotated_away_from() -> None:
    index, _ = _decide(_state(dpd=7, contacts={(3, Channel.EMAIL): 1}))
    assert CATALOGUE[index].channel is Channel.SMS  # e-mail first for 45–64, but unanswered
    index, _ = _decide(_state(dpd=7, contacts={(3, Channel.EMAIL): 1}, opens_7d=1))
    assert CATALOGUE[index].channel is Channel.EMAIL


@pytest.mark.parametrize(
    "flags",
    [
        CaseFlags(dispute=True),
        CaseFlags(cease_communication=True),
        CaseFlags(bankruptcy=True),
        CaseFlags(breathing_space_until=date(2026, 4, 1)),
        CaseFlags(mental_health_crisis=True),
    ],
)
def test_protected_cases_wait(flags: CaseFlags) -> None:
    assert _decide(_state(flags=flags)) == (CATALOGUE.WAIT_INDEX, Segment.PROTECTED)


def test_active_plan_or_open_promise_waits() -> None:
    assert _decide(_state(plan_active=True))[0] == CATALOGUE.WAIT_INDEX
    assert _decide(_state(promises_open=1))[0] == CATALOGUE.WAIT_INDEX


def test_blocked_step_falls_back_to_another_channel_and_opted_out_channels_are_avoided() -> None:
    state = _state(dpd=4)
    masks = np.ones((1, len(CATALOGUE)), dtype=bool)
    masks[0, CATALOGUE.find(channel=Channel.EMAIL)] = False
    index, _ = _decide(state, masks)
    assert (CATALOGUE[index].action, CATALOGUE[index].channel) == (Action.REMINDER, Channel.SMS)
    opted_out = replace(
        state, snapshot=replace(state.snapshot, consents={Channel.EMAIL: ConsentStatus.OPTED_OUT})
    )
    index, _ = _decide(opted_out)
    assert CATALOGUE[index].channel is Channel.SMS
    only_wait = np.zeros((1, len(CATALOGUE)), dtype=bool)
    only_wait[0, CATALOGUE.WAIT_INDEX] = True
    assert _decide(state, only_wait)[0] == CATALOGUE.WAIT_INDEX


def test_no_push_without_the_app() -> None:
    state = _state(dpd=4, profile=DebtorProfile(age_band=AgeBand.AGE_18_29))
    masks = np.zeros((1, len(CATALOGUE)), dtype=bool)
    masks[0, CATALOGUE.WAIT_INDEX] = True
    masks[0, CATALOGUE.find(channel=Channel.PUSH)] = True
    assert _decide(state, masks)[0] == CATALOGUE.WAIT_INDEX


def test_batch_equals_row_by_row() -> None:
    states = [
        _state(flags=CaseFlags(hardship=True)),
        _state(dpd=50, promises_broken=3),
        _state(dpd=4, profile=DebtorProfile(age_band=AgeBand.AGE_65_PLUS)),
        _state(dpd=100, profile=DebtorProfile(risk_score=0.9), days_since_first_demand=10),
        _state(dpd=1, profile=DebtorProfile(prior_on_time_ratio=0.9, risk_score=0.1)),
    ]
    obs = _observe(*states)
    masks = np.ones((len(states), len(CATALOGUE)), dtype=bool)
    batch = POLICY.act(obs, masks).indices
    single = [POLICY.act(obs[i : i + 1], masks[i : i + 1]).indices[0] for i in range(len(states))]
    np.testing.assert_array_equal(batch, single)
    assert len(set(POLICY.segments(obs).tolist())) == len(states)
