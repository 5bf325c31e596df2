"""Run a policy over N simulated debtors and collect their outcomes and the step log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from policies.base import Policy, check_decisions
from simulator.batched import BatchedCollectionsSim
from simulator.masks import MaskProvider, is_shielded
from simulator.outcomes import CaseOutcomes
from simulator.scenario import Scenario
from simulator.step_log import StepLog

DEFAULT_BATCH = 4096
"""Debtors simulated side by side; larger batches amortise numpy overhead."""

Progress = Callable[[int], None]
"""Called with the number of debtors that just finished."""


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Outcomes of every debtor (ordered by serial) and, if logged, every decision."""

    scenario: str
    policy: str
    seed: int
    outcomes: CaseOutcomes
    step_logs: tuple[StepLog, ...]
    shielded: bool
    """False when the masks did not come from the compliance rules (dynamics tests only)."""
    debtor_days: int


@dataclass(frozen=True, slots=True)
class DebtorBatch:
    """One batch of a run: its first debtor, its simulator and its policy's generator."""

    start: int
    sim: BatchedCollectionsSim
    policy_rng: np.random.Generator


def debtor_batches(
    scenario: Scenario,
    n_debtors: int,
    masks: MaskProvider,
    *,
    seed: int,
    batch_size: int,
    randomise: bool = False,
    log_steps: bool = False,
    record_events: bool = False,
) -> Iterator[DebtorBatch]:
    """The batches of a run, seeded from ``seed`` alone: every caller (``simulate``,
    ``tact evaluate``) that asks for the same ``(seed, batch_size)`` gets the same debtors
    and the same per-debtor luck — the common random numbers policies are compared on."""
    if n_debtors < 1:
        raise ValueError(f"n_debtors must be at least 1, got {n_debtors}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n_batches = (n_debtors + batch_size - 1) // batch_size
    seeds = np.random.SeedSequence(seed).spawn(2 * n_batches)
    for b, start in enumerate(range(0, n_debtors, batch_size)):
        sim = BatchedCollectionsSim(
            scenario,
            min(batch_size, n_debtors - start),
            masks,
            seed=int(seeds[2 * b].generate_state(1)[0]),
            randomise=randomise,
            auto_reset=False,
            log_steps=log_steps,
            first_serial=start,
            record_events=record_events,
        )
        yield DebtorBatch(start, sim, np.random.default_rng(seeds[2 * b + 1]))


def simulate(
    scenario: Scenario,
    policy: Policy,
    n_debtors: int,
    masks: MaskProvider,
    *,
    seed: int = 0,
    randomise: bool = False,
    log_steps: bool = True,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> SimulationResult:
    """Simulate ``n_debtors`` episodes of ``policy`` (each debtor from day 0 to its end).

    Debtors are simulated in batches of ``batch_size`` with independent seeds drawn from
    ``seed``, so a run is reproducible for a given ``(seed, batch_size)``.
    """
    parts: list[CaseOutcomes] = []
    logs: list[StepLog] = []
    debtor_days = 0
    for batch in debtor_batches(
        scenario,
        n_debtors,
        masks,
        seed=seed,
        batch_size=batch_size,
        randomise=randomise,
        log_steps=log_steps,
    ):
        sim, policy_rng = batch.sim, batch.policy_rng
        obs = sim.reset()
        while not sim.all_done:
            masks_now = sim.action_masks()
            decisions = policy.act(obs, masks_now, policy_rng)
            check_decisions(decisions, masks_now)
            debtor_days += int(sim.dyn.active.sum())
            result = sim.step(decisions.indices)
            if len(result.finished):
                parts.append(result.finished)
                if progress is not None:
                    progress(len(result.finished))
            obs = sim.observe()
        if sim.step_log is not None:
            logs.append(sim.step_log)
    return SimulationResult(
        scenario=scenario.name,
        policy=getattr(policy, "name", type(policy).__name__),
        seed=seed,
        outcomes=CaseOutcomes.concat(parts).sorted_by_serial(),
        step_logs=tuple(logs),
        shielded=is_shielded(masks),
        debtor_days=debtor_days,
    )
