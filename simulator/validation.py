"""``tact simulate --validate``: does the simulator reproduce the stylised facts it cites?

Each check runs a small, scripted experiment on fresh simulated debtors, under the real
compliance rules, and compares what it measures with a figure from the scenario file
(``validation:`` and ``targets:``, each with its source and grade; the figures come from
``shared/simulator-notes.md``):

==============================  ===========================================================
check                           experiment
==============================  ===========================================================
first-contact response          one neutral reminder on the channel (phone: an agent call),
(per channel)                   sent as soon as the rules allow; % of those sent that the
                                debtor acts on (phone: reaches the right party; push: opens,
                                as the cited figures measure)
plan break within 6 months      a 6-instalment plan offered by SMS every 3 days until one is
(self-service; agent)           agreed (agent: a neutral call every 3 days), 240-day
                                episodes; % of plans agreed by day 60 that broke within 180
                                days of agreement
plans taken by able debtors     the same self-service experiment; % of plans agreed by
                                debtors whose cash covered the whole balance
settlement acceptance           one 40 % settlement offer by SMS; accepted / noticed
time to first payment           the ladder: the monthly hazard of a first payment falls
                                with the age of the debt (collectability curve, shape only)
ladder calibration              the ladder reproduces the published "before" resolution,
                                churn and NPS
==============================  ===========================================================

A check passes when the 95 % confidence interval of the measurement meets the band
``target ± tolerance`` (at large samples: the estimate lies in the band), so a small
population in the test suite does not fail by chance, while a wrong parameter still does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone, Treatment
from policies.base import first_allowed
from simulator.batched import BatchedCollectionsSim
from simulator.kpis import compute_kpis, mean_ci
from simulator.masks import MaskProvider
from simulator.rollout import DEFAULT_BATCH, debtor_batches, simulate
from simulator.scenario import Fact, Scenario

_BREAK_WINDOW = 180
"""Days after agreement within which a broken plan counts (6 months)."""
_AGREED_BY = 60
"""Plans agreed up to this day of the episode are followed for the whole window."""
_PLAN_HORIZON = _AGREED_BY + _BREAK_WINDOW
_RESPONSE_HORIZON = 10
"""Days an episode of the one-contact experiments lasts (letters arrive, debtors act)."""
_HAZARD_WINDOWS = ((0, 30), (30, 60), (60, 90))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One stylised fact: what it should be, what the simulator gives, and the verdict."""

    name: str
    label: str
    measured: float
    ci_low: float
    ci_high: float
    n: int
    passed: bool
    target: str
    """The band (``11 ± 4``) or the shape the measurement must meet."""
    source: str
    grade: str
    detail: str = ""
    """Anything else the reader needs (the three hazards of a shape check)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _idx(action: Action, channel: Channel, tone: Tone, offer: Offer, slot: Slot) -> int:
    return CATALOGUE.index_of(Treatment(action, channel, tone, offer, slot))


def _message(action: Action, tone: Tone, offer: Offer, channels: tuple[Channel, ...]) -> list[int]:
    """The step on each channel in order, morning first (letters by post)."""
    out = []
    for channel in channels:
        slots = (Slot.POST,) if channel is Channel.LETTER else (Slot.MORNING, Slot.MIDDAY)
        out += [_idx(action, channel, tone, offer, slot) for slot in slots]
    return out


_CALL = [
    _idx(Action.AGENT_CALL, Channel.PHONE, Tone.NEUTRAL, Offer.NONE, slot)
    for slot in (Slot.AFTERNOON, Slot.EVENING, Slot.MIDDAY, Slot.MORNING)
]
_PLAN_6 = _message(
    Action.INSTALMENT_PLAN,
    Tone.EMPATHETIC,
    Offer.PLAN_6,
    (Channel.SMS, Channel.EMAIL, Channel.LETTER),
)
_SETTLE_40 = _message(Action.SETTLEMENT, Tone.NEUTRAL, Offer.SETTLE_40, (Channel.SMS,))

Chooser = Callable[[BatchedCollectionsSim], np.ndarray]
"""Given the simulator before today's decision: per row, a boolean "act today"."""


def _play(
    scenario: Scenario,
    masks: MaskProvider,
    n: int,
    seed: int,
    preferences: list[int],
    act_today: Chooser,
) -> dict[str, np.ndarray]:
    """Run the scripted experiment; returns the debtors' final hidden-state columns."""
    prefs = np.array(preferences, dtype=np.int64)
    columns: dict[str, list[np.ndarray]] = {}
    for batch in debtor_batches(scenario, n, masks, seed=seed, batch_size=DEFAULT_BATCH):
        sim = batch.sim
        sim.reset()
        while not sim.all_done:
            wanted = np.broadcast_to(prefs, (sim.n, prefs.size))
            chosen = first_allowed(wanted, sim.action_masks())
            sim.step(np.where(act_today(sim), chosen, CATALOGUE.WAIT_INDEX))
        for name in (
            "contacts",
            "noticed",
            "acted",
            "offers_noticed",
            "offers_taken",
            "first_plan_at",
            "first_plan_broken_at",
            "first_plan_able",
            "first_plan_by_agent",
        ):
            columns.setdefault(name, []).append(getattr(sim.dyn, name).copy())
    return {name: np.concatenate(parts) for name, parts in columns.items()}


def _once(sim: BatchedCollectionsSim) -> np.ndarray:
    """Until the first contact has gone out (it may wait for the rules to allow it)."""
    return sim.dyn.contacts == 0


def _every_third_day_until_plan(sim: BatchedCollectionsSim) -> np.ndarray:
    age = sim.clock - sim.dyn.born
    return (age % 3 == 0) & (sim.dyn.plans_agreed == 0) & (sim.batch.outstanding_minor > 0)


def _with_horizon(scenario: Scenario, days: int) -> Scenario:
    return scenario.model_copy(update={"horizon_days": days})


def _share_check(
    name: str, label: str, fact: Fact, hits: np.ndarray, among: np.ndarray
) -> CheckResult:
    """``hits`` among the rows where ``among`` holds, in %, against ``fact``."""
    values = hits[among].astype(np.float64) * 100.0
    n = int(values.size)
    mean, low, high = mean_ci(values) if n else (float("nan"),) * 3
    lo_band, hi_band = fact.value - fact.tolerance, fact.value + fact.tolerance
    passed = n > 0 and low <= hi_band and high >= lo_band
    return CheckResult(
        name=name,
        label=label,
        measured=mean,
        ci_low=low,
        ci_high=high,
        n=n,
        passed=bool(passed),
        target=f"{fact.value:g} ± {fact.tolerance:g}",
        source=fact.source,
        grade=fact.grade,
    )


def _response_checks(
    scenario: Scenario, masks: MaskProvider, n: int, seed: int
) -> list[CheckResult]:
    out = []
    short = _with_horizon(scenario, _RESPONSE_HORIZON)
    for channel in (Channel.SMS, Channel.EMAIL, Channel.LETTER, Channel.PUSH, Channel.PHONE):
        fact = getattr(scenario.validation.first_response, channel.name)
        if fact is None:
            continue
        if channel is Channel.PHONE:
            prefs = _CALL
        else:
            prefs = _message(Action.REMINDER, Tone.NEUTRAL, Offer.NONE, (channel,))
        cols = _play(short, masks, n, seed, prefs, _once)
        sent = cols["contacts"] > 0
        # What the cited figure measures: for a call, reaching the right party; for a push,
        # opening it; for other messages, acting on them.
        seen = channel in (Channel.PHONE, Channel.PUSH)
        hits = cols["noticed"] > 0 if seen else cols["acted"] > 0
        what = {Channel.PHONE: "right-party contact", Channel.PUSH: "opened"}.get(
            channel, "acted on"
        )
        out.append(
            _share_check(
                f"first_response.{channel.name}",
                f"first {channel.name.lower()} contact: {what}, %",
                fact,
                hits,
                sent,
            )
        )
    return out


def _plan_checks(scenario: Scenario, masks: MaskProvider, n: int, seed: int) -> list[CheckResult]:
    v = scenario.validation
    long = _with_horizon(scenario, _PLAN_HORIZON)
    out = []
    followed = _AGREED_BY
    if v.plan_break_6m_self_service is not None or v.plans_taken_by_able is not None:
        cols = _play(long, masks, n, seed, _PLAN_6, _every_third_day_until_plan)
        agreed = (cols["first_plan_at"] >= 0) & ~cols["first_plan_by_agent"]
        early = agreed & (cols["first_plan_at"] <= followed)
        broke = _broke_within(cols)
        if v.plan_break_6m_self_service is not None:
            out.append(
                _share_check(
                    "plan_break_6m_self_service",
                    "self-service plans broken within 6 months, %",
                    v.plan_break_6m_self_service,
                    broke,
                    early,
                )
            )
        if v.plans_taken_by_able is not None:
            out.append(
                _share_check(
                    "plans_taken_by_able",
                    "plans agreed by debtors able to pay in full, %",
                    v.plans_taken_by_able,
                    cols["first_plan_able"],
                    agreed,
                )
            )
    if v.plan_break_6m_agent is not None:
        cols = _play(long, masks, n, seed, _CALL, _every_third_day_until_plan)
        early = (cols["first_plan_at"] >= 0) & cols["first_plan_by_agent"]
        early &= cols["first_plan_at"] <= followed
        out.append(
            _share_check(
                "plan_break_6m_agent",
                "agent-set plans broken within 6 months, %",
                v.plan_break_6m_agent,
                _broke_within(cols),
                early,
            )
        )
    return out


def _broke_within(cols: dict[str, np.ndarray]) -> np.ndarray:
    broken_at = cols["first_plan_broken_at"]
    return (broken_at >= 0) & (broken_at - cols["first_plan_at"] <= _BREAK_WINDOW)


def _settlement_check(
    scenario: Scenario, masks: MaskProvider, n: int, seed: int
) -> list[CheckResult]:
    fact = scenario.validation.settlement_acceptance
    if fact is None:
        return []
    cols = _play(_with_horizon(scenario, _RESPONSE_HORIZON), masks, n, seed, _SETTLE_40, _once)
    noticed = cols["offers_noticed"] > 0
    return [
        _share_check(
            "settlement_acceptance",
            "40 % settlement offers accepted, % of noticed",
            fact,
            cols["offers_taken"] > 0,
            noticed,
        )
    ]


def _ladder_checks(scenario: Scenario, masks: MaskProvider, n: int, seed: int) -> list[CheckResult]:
    from policies.ladder import LadderPolicy

    result = simulate(scenario, LadderPolicy(), n, masks, seed=seed, log_steps=False)
    outcomes = result.outcomes
    out = []
    report = compute_kpis(outcomes, churn_applies=scenario.churn.enabled)
    for name in ("resolution_rate", "churn_90d", "nps"):
        target = getattr(scenario.targets, name)
        if target is None or name not in report:
            continue
        k = report[name]
        low_band, high_band = target.value - target.tolerance, target.value + target.tolerance
        out.append(
            CheckResult(
                name=f"ladder.{name}",
                label=f"ladder calibration: {k.label}",
                measured=k.mean,
                ci_low=k.ci_low,
                ci_high=k.ci_high,
                n=k.n,
                passed=bool(k.ci_low <= high_band and k.ci_high >= low_band),
                target=f"{target.value:g} ± {target.tolerance:g}",
                source=target.source,
                grade=target.grade,
            )
        )
    out.append(_first_payment_shape(outcomes.first_payment_day, outcomes.days))
    return out


def first_payment_hazards(
    first_payment_day: np.ndarray, days: np.ndarray
) -> list[tuple[float, float, float, int]]:
    """Per window of :data:`_HAZARD_WINDOWS`: the share (%) of debtors still in collection
    and unpaid at its start who make a first payment in it, with its 95 % CI and risk set."""
    out = []
    for start, stop in _HAZARD_WINDOWS:
        at_risk = (days > start) & ((first_payment_day < 0) | (first_payment_day >= start))
        paid = (first_payment_day >= start) & (first_payment_day < stop)
        values = paid[at_risk].astype(np.float64) * 100.0
        mean, low, high = mean_ci(values) if values.size else (float("nan"),) * 3
        out.append((mean, low, high, int(values.size)))
    return out


def _first_payment_shape(first_payment_day: np.ndarray, days: np.ndarray) -> CheckResult:
    """The hazard of a first payment falls from month to month: the first month's 95 % CI
    lies above the third month's, and the second month's estimate is not above the first's
    CI."""
    hazards = first_payment_hazards(first_payment_day, days)
    (h1, l1, u1, n1), (h2, _, _, _), (_, _, u3, _) = hazards
    passed = bool(u3 < l1 and h2 <= u1)
    return CheckResult(
        name="time_to_first_payment",
        label="ladder: hazard of a first payment in month 1 (then 2, 3), %",
        measured=h1,
        ci_low=l1,
        ci_high=u1,
        n=n1,
        passed=passed,
        target="falls month by month",
        detail="months 1 / 2 / 3: " + " / ".join(f"{h:.1f}" for h, *_ in hazards),
        source="collectability by age of debt: 90 % at 30 days, 81 % at 60, 70 % at 90 "
        "(CCAA 2004; commercial debts, shape only)",
        grade="B",
    )


_GROUPS: dict[str, Callable[[Scenario, MaskProvider, int, int], list[CheckResult]]] = {
    "response": _response_checks,
    "plans": _plan_checks,
    "settlement": _settlement_check,
    "ladder": _ladder_checks,
}
GROUPS = tuple(_GROUPS)
"""Experiments of the suite, in the order they run (each checks one or more facts)."""


def validate(
    scenario: Scenario,
    masks: MaskProvider,
    *,
    debtors: int = 4000,
    seed: int = 0,
    groups: tuple[str, ...] = GROUPS,
) -> list[CheckResult]:
    """Every stylised fact the scenario names, each measured on ``debtors`` fresh debtors
    (``groups`` selects experiments: response, plans, settlement, ladder)."""
    if debtors < 1:
        raise ValueError(f"debtors must be at least 1, got {debtors}")
    unknown = set(groups) - set(_GROUPS)
    if unknown:
        raise ValueError(f"unknown validation groups {sorted(unknown)}; choose from {GROUPS}")
    return [check for group in groups for check in _GROUPS[group](scenario, masks, debtors, seed)]


__all__ = ["GROUPS", "CheckResult", "first_payment_hazards", "validate"]
