"""Offers, plans and what an episode is worth: the mechanics that decide whether an offer
pays, checked with common random numbers (the same debtors and luck under two policies).

These runs use UnshieldedMasks: they test the behaviour model, not a rule file.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone, Treatment
from policies.base import PolicyDecisions
from simulator.kpis import per_debtor_values
from simulator.masks import UnshieldedMasks
from simulator.outcomes import CaseOutcomes, Outcome
from simulator.rollout import simulate
from simulator.scenario import Param, Scenario
from simulator.valuation import discount_factor, keep_probability, running_plan_value

N = 1500


class Scripted:
    """``first`` on day 0 of each debtor, then ``then`` every ``k`` days (None = wait)."""

    name = "scripted"
    version = "test"

    def __init__(self, first: Treatment | None, then: Treatment | None, k: int = 1) -> None:
        self.first = 0 if first is None else CATALOGUE.index_of(first)
        self.then = 0 if then is None else CATALOGUE.index_of(then)
        self.k = k
        self.day = 0

    def act(self, observations: np.ndarray, masks: np.ndarray, rng=None) -> PolicyDecisions:  # type: ignore[no-untyped-def]
        n = observations.shape[0]
        if self.day == 0:
            chosen = np.full(n, self.first)
        else:
            chosen = np.full(n, self.then if self.day % self.k == 0 else 0)
        self.day += 1
        chosen = np.where(masks[np.arange(n), chosen], chosen, 0)  # finished debtors only wait
        return PolicyDecisions(indices=chosen.astype(np.int64), propensities=np.ones(n))


def _sms(action: Action, tone: Tone, offer: Offer = Offer.NONE) -> Treatment:
    return Treatment(action, Channel.SMS, tone, offer, Slot.EVENING)


def _segment(scenario: Scenario, name: str, **updates: object) -> Scenario:
    """Only segment ``name``, with ``updates`` to its parameters."""
    segments = {}
    for key, spec in scenario.segments.items():
        spec = spec.model_copy(update={"share": 1.0 if key == name else 0.0})
        if key == name:
            spec = spec.model_copy(update=updates)
        segments[key] = spec
    return scenario.model_copy(update={"segments": segments})


def _run(scenario: Scenario, policy: Scripted, seed: int = 3) -> CaseOutcomes:
    # One batch, so that the scripted policy's day counter is every debtor's day.
    return simulate(
        scenario, policy, N, UnshieldedMasks(), seed=seed, batch_size=N, log_steps=False
    ).outcomes


def test_a_rejected_offer_leads_only_to_what_a_reminder_would_have(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    # Nobody accepts any offer, but the offer draws far more attention than a reminder: if a
    # rejected offer could fall through to a payment, the offer would collect more.
    seg = nordic_telecom.segments["sporadic_late"]
    response = seg.action_response.model_copy(update={"OFFER": Param(value=2.0)})
    world = _segment(
        nordic_telecom,
        "sporadic_late",
        plan_acceptance=Param(value=0.0),
        deferral_acceptance=Param(value=0.0),
        settlement_acceptance=Param(value=0.0),
        action_response=response,
    )
    plan = _sms(Action.INSTALMENT_PLAN, Tone.EMPATHETIC, Offer.PLAN_6)
    reminder = _sms(Action.REMINDER, Tone.EMPATHETIC)
    offered = _run(world, Scripted(plan, plan, k=7))
    reminded = _run(world, Scripted(reminder, reminder, k=7))
    for column in ("collected_minor", "outcome", "days", "complaints", "churned", "nps_score"):
        np.testing.assert_array_equal(getattr(offered, column), getattr(reminded, column))
    assert offered.plans_agreed.sum() == 0


def test_plan_holders_pay_on_schedule_whatever_they_are_sent(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    # Everyone who acts on day 0 takes the plan; afterwards one group hears nothing, the
    # other gets a reminder every day. A contact must not make a plan holder pay early.
    world = _segment(nordic_telecom, "forgetful", plan_acceptance=Param(value=1.0))
    plans = world.plans.model_copy(update={"able_to_pay_factor": Param(value=1.0)})
    world = world.model_copy(update={"plans": plans})
    plan = _sms(Action.INSTALMENT_PLAN, Tone.EMPATHETIC, Offer.PLAN_6)
    quiet = _run(world, Scripted(plan, None))
    pushed = _run(world, Scripted(plan, _sms(Action.REMINDER, Tone.NEUTRAL)))
    on_plan = (quiet.first_payment_day == 0) & (quiet.plans_agreed > 0)
    assert on_plan.sum() > 100
    np.testing.assert_array_equal(pushed.plans_agreed[on_plan], quiet.plans_agreed[on_plan])
    np.testing.assert_array_equal(pushed.collected_minor[on_plan], quiet.collected_minor[on_plan])
    assert (pushed.contacts[on_plan] > quiet.contacts[on_plan]).all()


def test_able_debtors_take_plans_less_often(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    plan = _sms(Action.INSTALMENT_PLAN, Tone.EMPATHETIC, Offer.PLAN_6)

    def agreed(factor: float) -> float:
        plans = nordic_telecom.plans.model_copy(update={"able_to_pay_factor": Param(value=factor)})
        world = _segment(nordic_telecom, "forgetful").model_copy(update={"plans": plans})
        return float((_run(world, Scripted(plan, None)).plans_agreed > 0).mean())

    assert agreed(0.0) == 0.0  # forgetful debtors can all pay in full
    assert agreed(1.0) > agreed(0.5) > 0.0


def test_a_running_plan_is_valued_not_resolved(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    world = _segment(nordic_telecom, "chronic_late", plan_acceptance=Param(value=1.0))
    late = Scripted(None, _sms(Action.INSTALMENT_PLAN, Tone.EMPATHETIC, Offer.PLAN_6), k=100)
    out = _run(world, late)  # a plan offered on day 100 is still running at day 120
    running = out.outcome == Outcome.PLAN_ACTIVE
    assert running.sum() > 50
    assert not out.resolved[running].any()
    owed = (out.original_minor - out.collected_minor)[running]
    value = out.plan_expected_minor[running]
    assert (value > 0).all() and (value < owed).all()  # discounted, and plans may break
    assert (out.plan_expected_minor[~running] == 0).all()


def test_rewards_add_up_to_net_value_less_complaint_prices(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    # The RL objective and the reported net value are the same money (simulator.valuation).
    policy = Scripted(
        _sms(Action.INSTALMENT_PLAN, Tone.EMPATHETIC, Offer.PLAN_3),
        _sms(Action.REMINDER, Tone.FIRM),
        k=5,
    )
    out = _run(nordic_telecom, policy)
    r = nordic_telecom.reward
    net = per_debtor_values(out)["net_value_per_case"]
    expected = (net - r.complaint_price.value * out.complaints) / r.scale
    np.testing.assert_allclose(out.reward, expected, rtol=1e-9, atol=1e-9)


def test_discount_factor() -> None:
    assert discount_factor(0, 0.10) == pytest.approx(1.0)
    assert discount_factor(365, 0.10) == pytest.approx(1 / 1.1)
    assert discount_factor(np.array([0, 730]), 0.0) == pytest.approx([1.0, 1.0])


def test_running_plan_value_by_hand() -> None:
    # 3 instalments of 100 left, next due in 30 days then every 30; keep 0.9 each.
    value, complete = running_plan_value(
        owed=np.array([300.0, 250.0, 500.0]),
        instalment=np.array([100.0, 100.0, 100.0]),
        instalments_left=np.array([3, 3, 0]),
        first_due_in_days=np.array([30, 30, 30]),
        interval_days=30,
        keep=np.array([0.9, 1.0, 0.9]),
        annual_rate=0.0,
    )
    assert value[0] == pytest.approx(100 * (0.9 + 0.81 + 0.729))
    assert value[1] == pytest.approx(250.0)  # the last instalment is what is left
    assert value[2] == 0.0
    assert complete == pytest.approx([0.729, 1.0, 1.0])
    discounted, _ = running_plan_value(
        np.array([100.0]), np.array([100.0]), np.array([1]), np.array([365]), 30,
        np.array([1.0]), 0.10,
    )  # fmt: skip
    assert discounted[0] == pytest.approx(100 / 1.1)


def test_keep_probability() -> None:
    p = keep_probability(
        instalment_keep=np.array([0.99, 0.99, 0.99]),
        by_agent=np.array([False, True, False]),
        agent_break_factor=2.0,
        instalment=np.array([100.0, 100.0, 100.0]),
        liquidity=np.array([0.0, 500.0, 50.0]),
        liquidity_later=np.array([200.0, 0.0, 80.0]),
    )
    assert p == pytest.approx([0.99, 0.98, 0.0])  # cannot afford one more: the plan stops


def test_a_letter_acts_as_what_was_posted_when_it_arrives(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    # A plan offered by letter is taken on the day it arrives (posted day 0, delay 2 days),
    # and is not mistaken for another step (once, every letter acted as a legal notice).
    world = _segment(nordic_telecom, "chronic_late", plan_acceptance=Param(value=1.0))
    letter = Treatment(
        Action.INSTALMENT_PLAN, Channel.LETTER, Tone.EMPATHETIC, Offer.PLAN_6, Slot.POST
    )
    out = _run(world, Scripted(letter, None))
    delay = world.letters.delay_days
    agreed = out.plans_agreed > 0
    assert agreed.sum() > 40
    assert (out.first_payment_day[agreed] == delay).all()
    assert (out.outcome != Outcome.LEGAL).all()
