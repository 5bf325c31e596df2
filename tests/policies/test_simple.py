"""The simple-strategy family: spec grammar, masks, waiting, cadence, and the grid."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalogue import CATALOGUE, TIMED_SLOTS, Action, Channel, Offer, Slot, Tone
from engine.errors import PolicyLoadError
from engine.state import HISTORY_DAYS, CaseFlags
from policies.base import FEATURE_INDEX, check_decisions
from policies.observed import PROTECTION_FLAGS, Observed
from policies.registry import load_policy
from policies.simple import (
    MESSAGE_CHANNELS,
    SIMPLE_GRID,
    SimplePolicy,
    SimpleStep,
    SimpleStrategy,
    StrategySpecError,
    slot_order,
)
from policies.synthetic_env import random_masks, random_observations
from simulator.masks import UnshieldedMasks
from simulator.rollout import simulate
from simulator.scenario_loader import load_scenario
from tests.support.cases import case_state, observe

PLAN_EVERY_3 = "PLAN_6/EMPATHETIC/SMS>EMAIL>LETTER/MORNING/every-3d"


def _tones(step: SimpleStep) -> list[Tone]:
    return sorted({Tone(int(t)) for t in CATALOGUE.tones[CATALOGUE.find(action=step.action)]})


@st.composite
def strategies(draw: st.DrawFn) -> SimpleStrategy:
    """Any valid member: a step in one of its tones, 1–4 distinct channels, slot, 1–35 days."""
    step = draw(st.sampled_from(list(SimpleStep)))
    tone = draw(st.sampled_from(_tones(step)))
    channels = draw(st.permutations(MESSAGE_CHANNELS).map(tuple))
    n = draw(st.integers(1, len(channels)))
    slot = draw(st.sampled_from(TIMED_SLOTS))
    return SimpleStrategy(step, tone, channels[:n], slot, draw(st.integers(1, HISTORY_DAYS)))


# ------------------------------------------------------------------------------ grammar


@settings(max_examples=200, deadline=None)
@given(strategy=strategies())
def test_spec_round_trips(strategy: SimpleStrategy) -> None:
    assert SimpleStrategy.parse(strategy.spec) == strategy
    assert SimpleStrategy.parse(f"  simple:{strategy.spec.lower()} ") == strategy
    assert load_policy(f"simple:{strategy.spec}").name == f"simple:{strategy.spec}"


def test_the_grid_is_the_documented_one_and_round_trips() -> None:
    assert len(SIMPLE_GRID) == 10 * 3 * 7 * 2 == len({m.spec for m in SIMPLE_GRID})
    assert all(SimpleStrategy.parse(m.spec) == m for m in SIMPLE_GRID)
    treatments = {(m.step, m.tone) for m in SIMPLE_GRID}
    assert treatments == {(s, t) for s in SimpleStep for t in _tones(s)}
    assert {m.every_days for m in SIMPLE_GRID} == {1, 2, 3, 5, 7, 10, 14}
    assert {m.slot for m in SIMPLE_GRID} == {Slot.MORNING, Slot.EVENING}
    assert {m.channels[0] for m in SIMPLE_GRID} == {Channel.SMS, Channel.EMAIL, Channel.LETTER}
    assert not any(Channel.PUSH in m.channels for m in SIMPLE_GRID)  # push only when named


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("PLAN_6/EMPATHETIC/SMS/MORNING", "has 4 part(s); expected 5"),
        ("PLAN_9/EMPATHETIC/SMS/MORNING/every-3d", "unknown step 'PLAN_9'; choose one of REMINDER"),
        ("PLAN_6/FIRM/SMS/MORNING/every-3d", "PLAN_6 comes in tone EMPATHETIC, not FIRM"),
        ("DEMAND/EMPATHETIC/SMS/MORNING/every-3d", "DEMAND comes in tone NEUTRAL or FIRM"),
        ("REMINDER/KIND/SMS/MORNING/every-3d", "unknown tone 'KIND'"),
        ("REMINDER/NEUTRAL/PHONE/MORNING/every-3d", "unknown channel 'PHONE'; choose one of SMS"),
        ("REMINDER/NEUTRAL/SMS>SMS/MORNING/every-3d", "a channel appears twice"),
        ("REMINDER/NEUTRAL//MORNING/every-3d", "unknown channel ''"),
        ("REMINDER/NEUTRAL/SMS/POST/every-3d", "unknown slot 'POST'; choose one of MORNING"),
        ("REMINDER/NEUTRAL/SMS/MORNING/every-0d", "needs 1 ≤ k ≤ 35, got 0"),
        ("REMINDER/NEUTRAL/SMS/MORNING/every-36d", "needs 1 ≤ k ≤ 35, got 36"),
        ("REMINDER/NEUTRAL/SMS/MORNING/weekly", "cadence 'weekly' is not every-<k>d"),
    ],
)
def test_bad_specs_are_rejected_with_what_to_fix(spec: str, message: str) -> None:
    with pytest.raises(StrategySpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SimpleStrategy.parse(spec)
    with pytest.raises(PolicyLoadError, match="simple strategy"):  # what the service reports
        load_policy(f"simple:{spec}")


def test_preferences_follow_the_channel_order_then_the_nearest_slots() -> None:
    strategy = SimpleStrategy.parse("REMINDER/FIRM/EMAIL>LETTER>SMS/EVENING/every-2d")
    labels = [CATALOGUE[i].label for i in strategy.preferences()]
    assert labels == [
        "REMINDER/EMAIL/FIRM/EVENING",
        "REMINDER/EMAIL/FIRM/AFTERNOON",
        "REMINDER/EMAIL/FIRM/MIDDAY",
        "REMINDER/EMAIL/FIRM/MORNING",
        "REMINDER/LETTER/FIRM/POST",
        "REMINDER/SMS/FIRM/EVENING",
        "REMINDER/SMS/FIRM/AFTERNOON",
        "REMINDER/SMS/FIRM/MIDDAY",
        "REMINDER/SMS/FIRM/MORNING",
    ]
    assert slot_order(Slot.MIDDAY) == (Slot.MIDDAY, Slot.MORNING, Slot.AFTERNOON, Slot.EVENING)


# ------------------------------------------------------------------------------ behaviour


def _decide(spec: str, masks: np.ndarray | None = None, **case: Any) -> int:
    obs = observe(case_state(**case))
    masks = np.ones((1, len(CATALOGUE)), dtype=bool) if masks is None else masks
    decisions = SimplePolicy(SimpleStrategy.parse(spec)).act(obs, masks)
    check_decisions(decisions, masks)
    assert decisions.propensities[0] == 1.0
    return int(decisions.indices[0])


def test_sends_its_one_treatment_and_falls_back_along_its_channel_order() -> None:
    first = CATALOGUE[_decide(PLAN_EVERY_3)]
    assert (first.action, first.offer, first.tone) == (
        Action.INSTALMENT_PLAN,
        Offer.PLAN_6,
        Tone.EMPATHETIC,
    )
    assert (first.channel, first.slot) == (Channel.SMS, Slot.MORNING)
    masks = np.ones((1, len(CATALOGUE)), dtype=bool)
    masks[0, CATALOGUE.find(channel=Channel.SMS, slot=Slot.MORNING)] = False
    assert (
        CATALOGUE[_decide(PLAN_EVERY_3, masks)].label
        == "INSTALMENT_PLAN/SMS/EMPATHETIC/PLAN_6/MIDDAY"
    )
    masks[0, CATALOGUE.find(channel=Channel.SMS)] = False
    assert CATALOGUE[_decide(PLAN_EVERY_3, masks)].channel is Channel.EMAIL
    masks[0, CATALOGUE.find(channel=Channel.EMAIL)] = False
    assert CATALOGUE[_decide(PLAN_EVERY_3, masks)].channel is Channel.LETTER
    masks[0, CATALOGUE.find(channel=Channel.LETTER)] = False
    # Push and calls are open, but not in its order: it waits rather than send another thing.
    assert _decide(PLAN_EVERY_3, masks) == CATALOGUE.WAIT_INDEX


@pytest.mark.parametrize(
    "case",
    [
        {"plan_active": True},
        {"promises_open": 1},
        {"dpd": 0},
        {"flags": CaseFlags(dispute=True)},
        {"flags": CaseFlags(cease_communication=True)},
        {"flags": CaseFlags(bankruptcy=True)},
        {"flags": CaseFlags(breathing_space_until=date(2026, 4, 1))},
        {"flags": CaseFlags(mental_health_crisis=True)},
        {"flags": CaseFlags(time_barred=True)},
    ],
    ids=lambda case: next(iter(case)) if "flags" not in case else repr(case["flags"])[10:40],
)
def test_waits_while_a_plan_runs_a_promise_is_open_or_the_case_is_protected(
    case: dict[str, Any],
) -> None:
    """Even with every treatment allowed (the mask would block most of these anyway)."""
    assert _decide(PLAN_EVERY_3) != CATALOGUE.WAIT_INDEX
    assert _decide(PLAN_EVERY_3, **case) == CATALOGUE.WAIT_INDEX


@pytest.mark.parametrize("every", [1, 2, 3, 7, 14, HISTORY_DAYS])
def test_cadence_is_exact_in_days_since_the_last_contact(every: int) -> None:
    spec = f"REMINDER/NEUTRAL/SMS/MORNING/every-{every}d"
    assert _decide(spec) != CATALOGUE.WAIT_INDEX  # never contacted: go
    for ago in range(HISTORY_DAYS):  # older contacts are not in the case's history
        for channel in (Channel.EMAIL, Channel.LETTER, Channel.PHONE):  # any channel counts
            due = _decide(spec, contacts={(ago, channel): 1}) != CATALOGUE.WAIT_INDEX
            assert due == (ago >= every), (ago, channel)


def test_cadence_holds_on_simulated_debtors() -> None:
    """Through the simulator (every treatment allowed): a reminder every 3 days, never two
    on one day, never sooner, and exactly 3 days apart unless a dispute paused contact."""
    every = 3
    policy = SimplePolicy(SimpleStrategy.parse(f"REMINDER/NEUTRAL/SMS/MORNING/every-{every}d"))
    result = simulate(load_scenario("nordic-telecom"), policy, 200, UnshieldedMasks(), seed=11)
    gaps = []
    for log in result.step_logs:
        contacts, _ = log.contacts()
        order = np.lexsort((contacts["local_day"], contacts["serial"]))
        serial, day = contacts["serial"][order], contacts["local_day"][order].astype(np.int64)
        same = serial[1:] == serial[:-1]
        gaps.append(np.diff(day)[same])
    gap = np.concatenate(gaps)
    assert gap.size > 1000
    assert gap.min() == every
    assert (gap == every).mean() > 0.95


@pytest.mark.parametrize("member", [PLAN_EVERY_3, "DEMAND/FIRM/LETTER>SMS>EMAIL/EVENING/every-1d"])
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 64),
    p_allowed=st.sampled_from([0.0, 0.02, 0.2, 0.5, 0.9, 1.0]),
)
def test_never_picks_a_masked_treatment_and_picks_the_first_allowed(
    member: str, seed: int, n: int, p_allowed: float
) -> None:
    rng = np.random.default_rng(seed)
    obs = random_observations(rng, n)
    binary = rng.random(obs.shape) < 0.15
    flags = [FEATURE_INDEX[name] for name in (*PROTECTION_FLAGS, "plan_active")]
    obs[:, flags] = binary[:, flags]
    masks = random_masks(rng, n, p_allowed)
    policy = SimplePolicy(SimpleStrategy.parse(member))
    decisions = policy.act(obs, masks, rng)
    check_decisions(decisions, masks)
    # The whole rule, from the decoded observation: due rows get their first allowed
    # preference (WAIT if none is allowed), every other row waits.
    o = Observed(obs)
    due = (
        (o.dpd >= 1)
        & ~o.protected()
        & ~o.arranged()
        & (o.days_since("last_contact") >= policy.strategy.every_days)
    )
    prefs = policy.strategy.preferences()
    for row, index in enumerate(decisions.indices):
        allowed = [p for p in prefs if masks[row, p]]
        expected = allowed[0] if due[row] and allowed else CATALOGUE.WAIT_INDEX
        assert index == expected, (row, CATALOGUE[index].label)
