"""``tact evaluate``: every policy on the same simulated debtors, KPIs with 95 % CIs.

How the comparison is kept fair (common random numbers). The debtors are simulated in
batches of ``batch_size``; batch ``b`` gets the simulator seed and the policy seed that
:func:`simulator.rollout.simulate` would give it (``SeedSequence(seed).spawn``), so

* **common to every policy**: the debtor population — every debtor's observable case
  facts *and* hidden behaviour traits, drawn at reset before the first decision — and,
  since the simulator draws the same amount of randomness for every row every day
  whatever it does, each debtor's luck on each day (whether a message would be noticed,
  whether they would act, pay, complain…), and with ``randomise`` the drawn world (one per
  batch);
* **not common**: what that luck meets — a debtor contacted on day 3 by one policy and
  on day 5 by another uses different days' draws for it; and a policy's own randomness
  (``random``) comes from its own stream.

Paired differences are taken debtor by debtor (same serial) against every baseline and the
champion (:mod:`policies.comparison`); sharing the population and the daily luck removes
most of the variance from them.

Compliance: every executed contact is logged with the case facts its mask was computed
from, and :func:`simulator.audit.audit_log` re-asks the rules through the ``durable_rules``
path for ``audit_contacts`` of them (a uniform sample per batch, proportional to the
batch's size; ``None`` audits all). Violations per 1,000 audited contacts are a KPI with
an exact (Clopper-Pearson) 95 % interval. Independently, every decision is checked
against the mask it was taken under (:func:`policies.base.check_decisions`).

This module steps the batches of :func:`simulator.rollout.debtor_batches` itself rather
than calling ``simulate`` because it also records what the report needs (cumulative recovery by
day, executed treatments by behaviour segment, send hours) and hands the oracle the simulator.
For non-oracle policies its outcomes equal ``simulate``'s for the same seed and batch size
(tested).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Slot, Tone
from policies.base import Policy, PolicyDecisions, check_decisions
from policies.comparison import champion, policy_summary
from policies.oracle import HiddenStateConsumer, OraclePolicy
from simulator.audit import Verdicts, audit_log
from simulator.masks import MaskProvider
from simulator.outcomes import CaseOutcomes
from simulator.rollout import debtor_batches
from simulator.scenario import Scenario
from simulator.timeline import SLOT_HOUR

DEFAULT_BATCH = 4096
"""Debtors simulated side by side (as :data:`simulator.rollout.DEFAULT_BATCH`)."""
DEFAULT_AUDIT_CONTACTS = 5000
"""Executed contacts re-checked through durable_rules per policy (≈ 3 ms each)."""
REPORTED_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.LETTER, Channel.PHONE, Channel.PUSH)
REPORTED_TONES = (Tone.EMPATHETIC, Tone.NEUTRAL, Tone.FIRM)
REPORTED_ACTIONS = tuple(a for a in Action if a is not Action.WAIT)

PolicyFactory = Callable[[str], Policy]
Progress = Callable[[str, int], None]
"""Called with (policy name, debtors just finished)."""


@dataclass(frozen=True, slots=True)
class AuditSummary:
    """Compliance of one policy's run."""

    decisions: int
    contacts_executed: int
    contacts_audited: int
    violations: int
    blocked_requests: int
    """Requests the shield turned into WAIT; 0 for a policy that respects its masks."""
    reconstruction_errors: int

    @property
    def sample(self) -> str:
        return "all" if self.contacts_audited >= self.contacts_executed else "sample"


@dataclass(slots=True)
class PolicyRun:
    """Everything one policy produced on the evaluation debtors."""

    name: str
    outcomes: CaseOutcomes
    recovered_by_day: np.ndarray
    """(horizon,) cumulative collected / original balance, all debtors, by day in collection."""
    treatment_counts: np.ndarray
    """(n segments, len(CATALOGUE)) executed contacts by hidden behaviour segment."""
    send_hours: np.ndarray
    """(24,) executed contacts by local hour they were placed (letters: posted)."""
    audit: AuditSummary
    seconds: float

    def _mix(self, attribute: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
        return np.stack([self.treatment_counts[:, attribute == v].sum(axis=1) for v in values], 1)

    @property
    def channel_mix(self) -> np.ndarray:
        """(n segments, len(REPORTED_CHANNELS)) executed contacts."""
        return self._mix(CATALOGUE.channels, tuple(int(c) for c in REPORTED_CHANNELS))

    @property
    def tone_mix(self) -> np.ndarray:
        """(n segments, len(REPORTED_TONES)) executed contacts."""
        return self._mix(CATALOGUE.tones, tuple(int(t) for t in REPORTED_TONES))

    @property
    def action_mix(self) -> np.ndarray:
        """(n segments, len(REPORTED_ACTIONS)) executed contacts."""
        return self._mix(CATALOGUE.actions, tuple(int(a) for a in REPORTED_ACTIONS))


@dataclass(slots=True)
class Evaluation:
    """The runs of every policy on one scenario, and the settings that produced them."""

    scenario: Scenario
    debtors: int
    seed: int
    randomise: bool
    runs: dict[str, PolicyRun] = field(default_factory=dict)

    @property
    def champion(self) -> str | None:
        """The better of ``segmented`` and ``best-simple`` (policies.comparison.champion)."""
        return champion(self)

    def to_json(self) -> dict[str, Any]:
        """``{"scenario", "debtors", "seed", "randomise", "champion", "policies": {name:
        block}}``; a policy's block is :func:`policies.comparison.policy_summary`."""
        return {
            "scenario": self.scenario.name,
            "debtors": self.debtors,
            "seed": self.seed,
            "randomise": self.randomise,
            "champion": self.champion,
            "policies": {name: policy_summary(self, name) for name in self.runs},
        }


# ------------------------------------------------------------------------------ running


def run_policy(
    scenario: Scenario,
    policy: Policy,
    n_debtors: int,
    masks: MaskProvider,
    *,
    seed: int,
    verdicts: Verdicts,
    randomise: bool = False,
    batch_size: int = DEFAULT_BATCH,
    audit_contacts: int | None = DEFAULT_AUDIT_CONTACTS,
    progress: Progress | None = None,
) -> PolicyRun:
    """Simulate ``n_debtors`` episodes of ``policy`` with the seeding of ``simulate``."""
    started = time.perf_counter()
    audit_rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA0D17]))
    horizon = scenario.horizon_days
    n_segments = len(scenario.segment_names)
    collected_by_day = np.zeros(horizon)
    treatment_counts = np.zeros((n_segments, len(CATALOGUE)), dtype=np.int64)
    send_hours = np.zeros(24, dtype=np.int64)
    contact_hour = SLOT_HOUR.copy()
    contact_hour[Slot.POST] = 7  # letters are posted at 07:30 (simulator.timeline)
    parts: list[CaseOutcomes] = []
    totals = {"decisions": 0, "executed": 0, "audited": 0, "violations": 0, "blocked": 0}
    totals["reconstruction"] = 0
    name = getattr(policy, "name", type(policy).__name__)
    # The same batches (debtors, luck) as `tact simulate` and every other policy.
    for batch in debtor_batches(
        scenario,
        n_debtors,
        masks,
        seed=seed,
        batch_size=batch_size,
        randomise=randomise,
        log_steps=audit_contacts != 0,
    ):
        sim, policy_rng, n = batch.sim, batch.policy_rng, batch.sim.n
        obs = sim.reset()
        day = 0
        while not sim.all_done:
            masks_now = sim.action_masks()
            if isinstance(policy, HiddenStateConsumer):
                policy.observe_hidden(sim)
            decisions = policy.act(obs, masks_now, policy_rng)
            check_decisions(decisions, masks_now)
            rows = np.flatnonzero(sim.dyn.active & (decisions.indices != CATALOGUE.WAIT_INDEX))
            chosen = decisions.indices[rows]
            segment = sim.traits.segment[rows].astype(np.intp)
            np.add.at(treatment_counts, (segment, chosen), 1)
            np.add.at(send_hours, contact_hour[CATALOGUE.slots[chosen]], 1)
            result = sim.step(decisions.indices)
            if day < horizon:
                collected_by_day[day] += float(sim.dyn.collected_minor.sum())
            day += 1
            if len(result.finished):
                parts.append(result.finished)
                if progress is not None:
                    progress(name, len(result.finished))
            obs = sim.observe()
        # A batch that ended early keeps its final total for the remaining days.
        collected_by_day[day:] += float(sim.dyn.collected_minor.sum())
        log = sim.step_log
        if log is None:  # audit_contacts == 0: nothing logged, nothing audited
            continue
        budget = None
        if audit_contacts is not None:
            budget = min(log.n_contacts, int(np.ceil(audit_contacts * n / n_debtors)))
        if budget == 0:
            totals["decisions"] += log.n_decisions
            totals["executed"] += log.n_contacts
            totals["blocked"] += log.blocked_requests
            continue
        report = audit_log(log, verdicts, max_contacts=budget, rng=audit_rng)
        totals["decisions"] += report.decisions
        totals["executed"] += report.contacts_logged
        totals["audited"] += report.contacts_checked
        totals["violations"] += report.n_violations
        totals["blocked"] += report.blocked_requests
        totals["reconstruction"] += report.reconstruction_errors
    outcomes = CaseOutcomes.concat(parts).sorted_by_serial()
    original = float(outcomes.original_minor.sum())
    return PolicyRun(
        name=name,
        outcomes=outcomes,
        recovered_by_day=collected_by_day / max(original, 1.0),
        treatment_counts=treatment_counts,
        send_hours=send_hours,
        audit=AuditSummary(
            decisions=totals["decisions"],
            contacts_executed=totals["executed"],
            contacts_audited=totals["audited"],
            violations=totals["violations"],
            blocked_requests=totals["blocked"],
            reconstruction_errors=totals["reconstruction"],
        ),
        seconds=time.perf_counter() - started,
    )


class Served:
    """A policy evaluated as the service runs it: deterministic (the rng is dropped)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.name = policy.name
        self.version = policy.version

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        return self.policy.act(observations, masks, None)


def resolve_policy(spec: str) -> Policy:
    """A policy by evaluation name: ``oracle`` here, anything else via the registry.

    Trained (``rl:``) policies, and ``default`` when it resolves to one, are wrapped in
    :class:`Served` so that they are evaluated deterministically, exactly as the service
    runs them; ``random`` keeps its random stream.
    """
    name = spec.strip()
    if name == "oracle":
        return OraclePolicy()
    from policies.numpy_runtime import NumpyPolicy
    from policies.registry import load_policy

    policy = load_policy(name)
    return Served(policy) if isinstance(policy, NumpyPolicy) else policy


def evaluate(
    scenario: Scenario,
    policy_specs: Sequence[str],
    n_debtors: int,
    masks: MaskProvider,
    verdicts: Verdicts,
    *,
    seed: int = 0,
    randomise: bool = False,
    batch_size: int = DEFAULT_BATCH,
    audit_contacts: int | None = DEFAULT_AUDIT_CONTACTS,
    load: PolicyFactory = resolve_policy,
    progress: Progress | None = None,
) -> Evaluation:
    """Run every policy in ``policy_specs`` on the same ``n_debtors`` debtors."""
    specs = [s.strip() for s in policy_specs if s.strip()]
    if not specs:
        raise ValueError("no policies to evaluate; pass e.g. --policies ladder,segmented")
    if len(set(specs)) != len(specs):
        raise ValueError(f"policy list {specs} names a policy twice; list each once")
    policies = [load(s) for s in specs]  # load all first: fail before hours of simulation
    evaluation = Evaluation(
        scenario=scenario,
        debtors=n_debtors,
        seed=seed,
        randomise=randomise,
    )
    for spec, policy in zip(specs, policies, strict=True):
        evaluation.runs[spec] = run_policy(
            scenario,
            policy,
            n_debtors,
            masks,
            seed=seed,
            verdicts=verdicts,
            randomise=randomise,
            batch_size=batch_size,
            audit_contacts=audit_contacts,
            progress=progress,
        )
    return evaluation


def write_json(evaluation: Evaluation, path: Path) -> Path:
    """Write :meth:`Evaluation.to_json` (sorted, indented: diff-friendly and reproducible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


__all__ = [
    "DEFAULT_AUDIT_CONTACTS",
    "DEFAULT_BATCH",
    "AuditSummary",
    "Evaluation",
    "PolicyRun",
    "Served",
    "evaluate",
    "resolve_policy",
    "run_policy",
    "write_json",
]
