"""The ``segmented`` expert strategy on realistic cases built through the real featurizer."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone
from engine.features import FEATURE_NAMES
from engine.state import AgeBand, CaseFlags, CaseState, ConsentStatus, DebtorProfile
from policies.base import FEATURE_INDEX, check_decisions
from policies.observed import PROTECTION_FLAGS
from policies.segmented import Segment, SegmentedPolicy
from policies.synthetic_env import random_masks, random_observations
from tests.support.cases import case_state, observe

POLICY = SegmentedPolicy()


def _decide(state: CaseState, masks: np.ndarray | None = None) -> tuple[int, Segment]:
    obs = observe(state)
    masks = np.ones((1, len(CATALOGUE)), dtype=bool) if masks is None else masks
    decisions = POLICY.act(obs, masks)
    check_decisions(decisions, masks)
    assert decisions.propensities[0] == 1.0
    return int(decisions.indices[0]), Segment(int(POLICY.segments(obs)[0]))


def test_hardship_gets_an_empathetic_instalment_plan() -> None:
    index, segment = _decide(case_state(flags=CaseFlags(hardship=True), opens_30d=2))
    treatment = CATALOGUE[index]
    assert segment is Segment.HARDSHIP
    assert treatment.action is Action.INSTALMENT_PLAN
    assert treatment.tone is Tone.EMPATHETIC
    assert treatment.offer is Offer.PLAN_6  # longer plan, smaller instalments


def test_hardship_after_a_broken_plan_gets_a_deferral() -> None:
    index, _ = _decide(case_state(flags=CaseFlags(vulnerable=True), plans_broken=1, opens_30d=1))
    assert CATALOGUE[index].action is Action.DEFERRAL
    assert CATALOGUE[index].tone is Tone.EMPATHETIC


THREE_UNANSWERED_SMS = {(3, Channel.SMS): 1, (10, Channel.SMS): 1, (17, Channel.SMS): 1}
"""Three SMS in 30 days, the last one 3 days ago (a rhythm day for dpd ≡ 1 mod 3 is free)."""


def test_repeated_broken_promises_get_a_firm_step() -> None:
    index, segment = _decide(case_state(dpd=50, promises_broken=3, opens_30d=1))
    assert segment is Segment.WONT_PAY
    treatment = CATALOGUE[index]
    assert treatment.tone is Tone.FIRM
    assert (treatment.action, treatment.channel) == (Action.DEMAND, Channel.LETTER)
    # Once the demand is out: a firm reminder, cheap; a call only after three cheap contacts
    # drew nothing (dpd 51: the segment's every-other-day rhythm).
    demanded: dict[str, Any] = {"dpd": 51, "promises_broken": 3, "days_since_first_demand": 10}
    index, _ = _decide(case_state(**demanded))
    assert (CATALOGUE[index].action, CATALOGUE[index].tone) == (Action.REMINDER, Tone.FIRM)
    index, _ = _decide(case_state(**demanded, contacts=THREE_UNANSWERED_SMS))
    assert (CATALOGUE[index].action, CATALOGUE[index].tone) == (Action.AGENT_CALL, Tone.FIRM)


def test_a_past_complaint_softens_the_tone_and_a_recent_one_stops_contact() -> None:
    index, _ = _decide(case_state(dpd=50, promises_broken=3, complaints_total=1))
    assert CATALOGUE[index].action is Action.DEMAND
    assert CATALOGUE[index].tone is Tone.NEUTRAL
    index, segment = _decide(case_state(dpd=50, complaints_total=1, complaints_30d=1))
    assert (index, segment) == (CATALOGUE.WAIT_INDEX, Segment.PROTECTED)


def test_legal_only_after_a_demand_and_a_long_silence() -> None:
    ready: dict[str, Any] = {"dpd": 120, "promises_broken": 2, "days_since_first_demand": 40}
    index, _ = _decide(case_state(**ready))
    assert CATALOGUE[index].action is Action.LEGAL_ESCALATION
    not_yet: dict[str, Any]
    for not_yet in (
        {"days_since_first_demand": 20},  # demand too recent
        {"days_since_conversation": 5},  # they are talking to us
        {"days_since_last_payment": 30},  # they are paying something
        {"dpd": 60},  # not long overdue
    ):
        index, _ = _decide(case_state(**{**ready, **not_yet}))
        assert CATALOGUE[index].action is not Action.LEGAL_ESCALATION, not_yet


def test_long_overdue_silent_high_risk_gets_a_settlement_offer() -> None:
    profile = DebtorProfile(age_band=AgeBand.AGE_30_44, risk_score=0.8)
    base: dict[str, Any] = {"profile": profile, "days_since_first_demand": 10}
    index, segment = _decide(case_state(dpd=100, **base))
    assert segment is Segment.LONG_OVERDUE
    assert CATALOGUE[index].offer is Offer.SETTLE_20
    index, _ = _decide(case_state(dpd=200, **base))
    assert CATALOGUE[index].offer is Offer.SETTLE_40


def _channels_in_order(state: CaseState) -> list[Channel]:
    """The channels the policy turns to for ``state`` as each preferred one gets blocked."""
    masks = np.ones((1, len(CATALOGUE)), dtype=bool)
    order: list[Channel] = []
    while True:
        index, _ = _decide(state, masks)
        if index == CATALOGUE.WAIT_INDEX:
            return order
        channel = CATALOGUE[index].channel
        order.append(channel)
        masks[0, CATALOGUE.find(channel=channel)] = False


@pytest.mark.parametrize(
    ("profile", "order"),
    [
        (DebtorProfile(age_band=AgeBand.AGE_18_29), [Channel.SMS, Channel.EMAIL, Channel.LETTER]),
        (
            DebtorProfile(age_band=AgeBand.AGE_18_29, has_app=True),
            [Channel.SMS, Channel.EMAIL, Channel.PUSH, Channel.LETTER],
        ),
        (
            DebtorProfile(age_band=AgeBand.AGE_45_64, has_app=True),
            [Channel.SMS, Channel.EMAIL, Channel.LETTER, Channel.PUSH],
        ),
        (
            DebtorProfile(age_band=AgeBand.AGE_65_PLUS, has_app=True),
            [Channel.SMS, Channel.LETTER, Channel.EMAIL, Channel.PUSH],
        ),
        (DebtorProfile(), [Channel.SMS, Channel.EMAIL, Channel.LETTER]),
    ],
)
def test_cheap_read_channels_first_push_never_first(
    profile: DebtorProfile, order: list[Channel]
) -> None:
    """SMS (read ~98 %) first at every age, push (noticed ~10 %) after e-mail for app users,
    letters (50× an SMS) last but for 65+; no push without the app."""
    state = case_state(dpd=4, profile=profile)
    assert _decide(state)[1] is Segment.STANDARD
    assert _channels_in_order(state) == order


def test_habitual_payer_waits_a_few_days_then_gets_a_gentle_morning_nudge() -> None:
    profile = DebtorProfile(age_band=AgeBand.AGE_18_29, prior_on_time_ratio=0.9, risk_score=0.1)
    index, segment = _decide(case_state(dpd=1, profile=profile))
    assert (index, segment) == (CATALOGUE.WAIT_INDEX, Segment.SELF_CURE)
    index, _ = _decide(case_state(dpd=4, profile=profile))
    treatment = CATALOGUE[index]
    assert (treatment.action, treatment.tone) == (Action.REMINDER, Tone.EMPATHETIC)
    assert (treatment.channel, treatment.slot) == (Channel.SMS, Slot.MORNING)


def test_cadence_limits_contacts() -> None:
    busy = {(0, Channel.EMAIL): 1}  # contacted today
    index, _ = _decide(case_state(dpd=4, contacts=busy))
    assert index == CATALOGUE.WAIT_INDEX
    two_this_week = {(2, Channel.EMAIL): 1, (5, Channel.SMS): 1}
    index, _ = _decide(case_state(dpd=7, contacts=two_this_week))
    assert index == CATALOGUE.WAIT_INDEX  # standard: at most 2 in 7 days
    one_this_week = {(3, Channel.EMAIL): 1}
    index, _ = _decide(case_state(dpd=7, contacts=one_this_week))  # 7 ≡ 1 mod 3: rhythm day
    assert CATALOGUE[index].action is Action.REMINDER
    index, _ = _decide(case_state(dpd=8, contacts=one_this_week))  # off rhythm
    assert index == CATALOGUE.WAIT_INDEX


def _channel(state: CaseState) -> Channel:
    index, _ = _decide(state)
    assert CATALOGUE[index].action is Action.REMINDER, CATALOGUE[index]
    return CATALOGUE[index].channel


def test_an_unanswered_sms_is_not_rotated_away_from_its_reads_are_unobservable() -> None:
    """No SMS read is ever recorded: one or two unanswered SMS prove nothing."""
    for sms in ({(3, Channel.SMS): 1}, {(3, Channel.SMS): 1, (9, Channel.SMS): 1}):
        assert _channel(case_state(dpd=7, contacts=sms)) is Channel.SMS
    # Three SMS in 30 days with nothing back (no click, payment, conversation): worn.
    assert _channel(case_state(dpd=7, contacts=THREE_UNANSWERED_SMS)) is Channel.EMAIL
    # ...unless something came back, on any channel.
    for answer in ({"clicks_30d": 1}, {"days_since_last_payment": 12}, {"conversations_30d": 1}):
        state = case_state(dpd=7, contacts=THREE_UNANSWERED_SMS, **answer)
        assert _channel(state) is Channel.SMS, answer


def test_unopened_email_is_rotated_away_from_its_opens_are_tracked() -> None:
    sms_blocked = np.ones((1, len(CATALOGUE)), dtype=bool)
    sms_blocked[0, CATALOGUE.find(channel=Channel.SMS)] = False
    # High risk: up to three contacts a week, so a third can follow two unopened e-mails.
    high_risk = DebtorProfile(age_band=AgeBand.AGE_45_64, risk_score=0.7)
    two_emails = {(3, Channel.EMAIL): 1, (5, Channel.EMAIL): 1}

    def channel(**history: Any) -> Channel:
        index, segment = _decide(case_state(dpd=7, profile=high_risk, **history), sms_blocked)
        assert segment is Segment.HIGH_RISK
        return CATALOGUE[index].channel

    # With SMS blocked, e-mail comes next...
    assert channel(contacts={(3, Channel.EMAIL): 1}) is Channel.EMAIL
    # ...but two unopened e-mails this week move it behind the letter,
    assert channel(contacts=two_emails) is Channel.LETTER
    # and an open keeps it.
    assert channel(contacts=two_emails, opens_7d=1, opens_30d=1) is Channel.EMAIL


def test_seniors_get_a_letter_once_sms_is_worn() -> None:
    profile = DebtorProfile(age_band=AgeBand.AGE_65_PLUS)
    state = case_state(dpd=7, profile=profile, contacts=THREE_UNANSWERED_SMS)
    assert _channel(state) is Channel.LETTER


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
    assert _decide(case_state(flags=flags)) == (CATALOGUE.WAIT_INDEX, Segment.PROTECTED)


def test_active_plan_or_open_promise_waits() -> None:
    assert _decide(case_state(plan_active=True))[0] == CATALOGUE.WAIT_INDEX
    assert _decide(case_state(promises_open=1))[0] == CATALOGUE.WAIT_INDEX


def test_blocked_step_falls_back_to_another_channel_and_opted_out_channels_are_avoided() -> None:
    state = case_state(dpd=4)
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
    state = case_state(dpd=4, profile=DebtorProfile(age_band=AgeBand.AGE_18_29))
    masks = np.zeros((1, len(CATALOGUE)), dtype=bool)
    masks[0, CATALOGUE.WAIT_INDEX] = True
    masks[0, CATALOGUE.find(channel=Channel.PUSH)] = True
    assert _decide(state, masks)[0] == CATALOGUE.WAIT_INDEX


def test_batch_equals_row_by_row() -> None:
    states = [
        case_state(flags=CaseFlags(hardship=True)),
        case_state(dpd=50, promises_broken=3),
        case_state(dpd=4, profile=DebtorProfile(age_band=AgeBand.AGE_65_PLUS)),
        case_state(dpd=100, profile=DebtorProfile(risk_score=0.9), days_since_first_demand=10),
        case_state(dpd=1, profile=DebtorProfile(prior_on_time_ratio=0.9, risk_score=0.1)),
    ]
    obs = observe(*states)
    masks = np.ones((len(states), len(CATALOGUE)), dtype=bool)
    batch = POLICY.act(obs, masks).indices
    single = [POLICY.act(obs[i : i + 1], masks[i : i + 1]).indices[0] for i in range(len(states))]
    np.testing.assert_array_equal(batch, single)
    assert len(set(POLICY.segments(obs).tolist())) == len(states)


THREE_OLDER_UNANSWERED_SMS = {(8, Channel.SMS): 1, (15, Channel.SMS): 1, (22, Channel.SMS): 1}
"""Three SMS in 30 days, none this week (so no weekly cap or rhythm is in the way)."""


def _step(state: CaseState) -> tuple[Action, Tone]:
    index, _ = _decide(state)
    return CATALOGUE[index].action, CATALOGUE[index].tone


def test_calls_only_where_they_pay() -> None:
    """A conversation costs ~5: call a large balance that stayed silent after three cheap
    contacts, at most twice in 30 days."""
    silent = case_state(dpd=22, contacts=THREE_OLDER_UNANSWERED_SMS)
    assert _decide(silent)[1] is Segment.STANDARD
    assert _step(silent) == (Action.AGENT_CALL, Tone.NEUTRAL)
    small = case_state(dpd=22, balance_minor=15_000, contacts=THREE_OLDER_UNANSWERED_SMS)
    assert _step(small) == (Action.REMINDER, Tone.NEUTRAL)
    two_sms = {(8, Channel.SMS): 1, (15, Channel.SMS): 1}
    assert _step(case_state(dpd=22, contacts=two_sms)) == (Action.REMINDER, Tone.NEUTRAL)
    # A click says they read us but cannot pay in full: a plan offer, not a call.
    answered = case_state(dpd=22, contacts=THREE_OLDER_UNANSWERED_SMS, clicks_30d=1)
    assert _step(answered) == (Action.INSTALMENT_PLAN, Tone.EMPATHETIC)
    called_twice = {**THREE_OLDER_UNANSWERED_SMS, (10, Channel.PHONE): 1, (20, Channel.PHONE): 1}
    assert _step(case_state(dpd=22, contacts=called_twice)) == (Action.REMINDER, Tone.NEUTRAL)


def test_a_call_is_never_chosen_for_a_self_cure_case() -> None:
    """A habitual payer who owes a lot and has not answered is still nudged cheaply (and
    at most three times a month, so never silent after three contacts and contactable)."""
    profile = DebtorProfile(age_band=AgeBand.AGE_45_64, prior_on_time_ratio=0.9, risk_score=0.1)
    for dpd, contacts in ((8, {}), (22, {(8, Channel.SMS): 1, (15, Channel.SMS): 1})):
        state = case_state(dpd=dpd, balance_minor=2_000_000, profile=profile, contacts=contacts)
        assert _decide(state)[1] is Segment.SELF_CURE
        assert _step(state) == (Action.REMINDER, Tone.EMPATHETIC)
    worn = case_state(dpd=22, profile=profile, contacts=THREE_OLDER_UNANSWERED_SMS)
    assert _step(worn) == (Action.WAIT, Tone.NONE)


def test_a_blocked_legal_step_falls_back_to_a_firm_reminder_not_a_call() -> None:
    ready = case_state(dpd=120, promises_broken=2, days_since_first_demand=40)
    assert CATALOGUE[_decide(ready)[0]].action is Action.LEGAL_ESCALATION
    masks = np.ones((1, len(CATALOGUE)), dtype=bool)
    masks[0, CATALOGUE.find(action=Action.LEGAL_ESCALATION)] = False
    index, _ = _decide(ready, masks)
    assert (CATALOGUE[index].action, CATALOGUE[index].tone) == (Action.REMINDER, Tone.FIRM)


@pytest.mark.parametrize("flags", [CaseFlags(hardship=True), CaseFlags(vulnerable=True)])
def test_hardship_with_a_good_record_gets_a_deferral_else_a_plan(flags: CaseFlags) -> None:
    """A good payer hit by a shock is likely to recover: defer 30 days; otherwise (or once
    a promise broke) smaller instalments."""
    good = DebtorProfile(age_band=AgeBand.AGE_30_44, prior_on_time_ratio=0.9, risk_score=0.4)
    index, segment = _decide(case_state(flags=flags, profile=good))
    assert segment is Segment.HARDSHIP
    assert (CATALOGUE[index].offer, CATALOGUE[index].tone) == (Offer.DEFER_30, Tone.EMPATHETIC)
    index, _ = _decide(case_state(flags=flags, profile=good, promises_broken=1))
    assert CATALOGUE[index].offer is Offer.PLAN_6


_QUIET_COLUMNS = [
    FEATURE_INDEX[name]
    for name in FEATURE_NAMES
    if name.startswith(("contacts_", "complaints_", "promises_", "opted_out_"))
    or name in ("plan_active", *PROTECTION_FLAGS)
]


def _contactable_observations(rng: np.random.Generator, n: int, flag: str) -> np.ndarray:
    """Random observations of overdue cases with ``flag`` set and, for most rows, nothing
    that makes the strategy wait (no protection, arrangement, complaint or recent
    contact): so the property below is tested where the strategy does contact."""
    obs = random_observations(rng, n)
    obs[:, _QUIET_COLUMNS] = 0.0
    protected = rng.random(n) < 0.1
    obs[protected, FEATURE_INDEX["dispute"]] = 1.0
    obs[:, FEATURE_INDEX["days_past_due"]] = rng.integers(1, 240, n) / 120.0
    for binary in ("has_app", "hardship", "vulnerable", *(f"never_{e}" for e in _EVENTS)):
        obs[:, FEATURE_INDEX[binary]] = rng.random(n) < 0.5
    obs[:, FEATURE_INDEX[flag]] = 1.0
    return obs


_EVENTS = ("conversation", "first_demand", "last_payment", "legal_escalation")


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 64),
    p_allowed=st.sampled_from([0.03, 0.1, 0.3, 1.0]),
    flag=st.sampled_from(["hardship", "vulnerable"]),
)
def test_never_firm_demanding_or_legal_with_hardship_or_vulnerability(
    seed: int, n: int, p_allowed: float, flag: str
) -> None:
    """Whatever the mask leaves open (fallbacks included), never a firm tone, a demand or
    legal escalation for a debtor flagged in hardship or vulnerable."""
    rng = np.random.default_rng(seed)
    obs = _contactable_observations(rng, n, flag)
    masks = random_masks(rng, n, p_allowed)
    chosen = POLICY.act(obs, masks).indices
    assert not (CATALOGUE.tones[chosen] == Tone.FIRM).any()
    assert not np.isin(CATALOGUE.actions[chosen], [Action.DEMAND, Action.LEGAL_ESCALATION]).any()
    if p_allowed == 1.0:  # with nothing blocked it contacts every row but the disputed
        contacted = chosen != CATALOGUE.WAIT_INDEX
        np.testing.assert_array_equal(contacted, obs[:, FEATURE_INDEX["dispute"]] < 1)
