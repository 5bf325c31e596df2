"""Behaviour mechanisms that make "segment, predict, act" matter, checked in isolation.

These runs use UnshieldedMasks (every treatment allowed) on purpose: they test the
behaviour model, not compliance, and must not depend on what a rule file allows.
"""

from __future__ import annotations

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone, Treatment
from engine.features import N_FEATURES
from policies.base import FEATURE_INDEX, PolicyDecisions
from simulator.kpis import KPIReport, compute_kpis
from simulator.masks import UnshieldedMasks
from simulator.rollout import simulate
from simulator.scenario import Scenario

N = 1000


class EveryKDays:
    """Sends one fixed treatment whenever nothing was sent in the last ``k`` days."""

    name = "every-k-days"
    version = "test"

    def __init__(self, treatment: Treatment | None, k: int) -> None:
        self.index = 0 if treatment is None else CATALOGUE.index_of(treatment)
        self.k = k

    def act(self, observations: np.ndarray, masks: np.ndarray, rng=None) -> PolicyDecisions:  # type: ignore[no-untyped-def]
        assert observations.shape[1] == N_FEATURES
        window = "1d" if self.k == 1 else "7d"
        recent = sum(
            observations[:, FEATURE_INDEX[f"contacts_{c.name.lower()}_{window}"]]
            for c in (Channel.EMAIL, Channel.SMS, Channel.LETTER, Channel.PHONE, Channel.PUSH)
        )
        send = (recent == 0) & masks[:, self.index]
        return PolicyDecisions(
            indices=np.where(send, self.index, 0), propensities=np.ones(len(observations))
        )


def _only(scenario: Scenario, segment: str) -> Scenario:
    segments = {
        name: spec.model_copy(update={"share": 1.0 if name == segment else 0.0})
        for name, spec in scenario.segments.items()
    }
    return scenario.model_copy(update={"segments": segments})


def _kpis(scenario: Scenario, policy: EveryKDays) -> KPIReport:
    result = simulate(scenario, policy, N, UnshieldedMasks(), seed=1, log_steps=False)
    assert not result.shielded
    return compute_kpis(result.outcomes)


def _sms(action: Action, tone: Tone, offer: Offer = Offer.NONE) -> Treatment:
    return Treatment(action, Channel.SMS, tone, offer, Slot.EVENING)


def test_hardship_debtors_answer_empathy_and_offers_not_firmness(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    hardship = _only(nordic_telecom, "hardship")
    offer = _kpis(
        hardship, EveryKDays(_sms(Action.INSTALMENT_PLAN, Tone.EMPATHETIC, Offer.PLAN_6), 7)
    )
    firm = _kpis(hardship, EveryKDays(_sms(Action.REMINDER, Tone.FIRM), 7))
    # Plans agreed late in the episode are still running at the horizon: compare what
    # the cases are worth (a running plan at its expected completion), not resolution.
    assert offer["net_collections_per_case"].ci_low > firm["net_collections_per_case"].ci_high
    assert offer["nps"].ci_low > firm["nps"].ci_high
    assert offer["complaints_per_1000"].mean < firm["complaints_per_1000"].mean


def test_strategic_debtors_answer_pressure_not_empathy(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    strategic = _only(nordic_telecom, "strategic")
    firm = _kpis(strategic, EveryKDays(_sms(Action.DEMAND, Tone.FIRM), 7))
    soft = _kpis(strategic, EveryKDays(_sms(Action.REMINDER, Tone.EMPATHETIC), 7))
    assert firm["recovery_rate"].mean > soft["recovery_rate"].mean


def test_daily_contact_builds_fatigue_and_complaints(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    sms = _sms(Action.REMINDER, Tone.NEUTRAL)
    daily = _kpis(nordic_telecom, EveryKDays(sms, 1))
    weekly = _kpis(nordic_telecom, EveryKDays(sms, 7))
    per_contact_daily = daily["complaints_per_1000"].mean / daily["contacts_per_case"].mean
    per_contact_weekly = weekly["complaints_per_1000"].mean / weekly["contacts_per_case"].mean
    assert per_contact_daily > 1.2 * per_contact_weekly  # each contact irritates more
    assert daily["complaints_per_1000"].ci_low > 2 * weekly["complaints_per_1000"].ci_high
    assert daily["nps"].ci_high < weekly["nps"].ci_low


def test_contact_beats_silence_but_forgetful_debtors_pay_anyway(nordic_telecom) -> None:  # type: ignore[no-untyped-def]
    silent = _kpis(nordic_telecom, EveryKDays(None, 7))
    reminded = _kpis(nordic_telecom, EveryKDays(_sms(Action.REMINDER, Tone.NEUTRAL), 7))
    assert reminded["resolution_rate"].ci_low > silent["resolution_rate"].ci_high
    assert silent["resolution_rate"].mean > 10.0  # unprompted payers exist
    assert silent["contacts_per_case"].mean == 0.0
