"""``tact search-simple``: the best member of the simple-strategy family, by successive halving.

Every member of :data:`policies.simple.SIMPLE_GRID` (or a given list) is run on the same
simulated debtors — common random numbers, :func:`policies.evaluate.run_policy` with the
seeding of ``tact evaluate``, no compliance audit — and ranked by mean net value per case
as :mod:`simulator.kpis` computes it. The best quarter goes on to a stage with more
debtors, and so on; the last stage runs the finalists on the most debtors and names the
winner. Each stage draws *new* debtors (its own seed), so a member that was lucky on one
stage's debtors carries no advantage into the next.

Only training seeds are used (< ``EVAL_SEED_OFFSET``, 1,000,000): the winner is chosen on
debtors that ``tact evaluate`` never reports on, so evaluating ``best-simple`` on
evaluation seeds is an honest out-of-sample figure, as for the trained policy.

Default stages: 420 members on 500 debtors → the best 105 on 2,000 → the best 4 on 16,000:
about 6 minutes on the shared 2-core development machine when it is quiet, more when it is
not (docs/policies.md; each artifact records its own wall time).
"""

from __future__ import annotations

import hashlib
import math
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policies.best_simple import (
    BestSimpleArtifact,
    SearchStage,
    StageRow,
    artifact_path,
)
from policies.evaluate import DEFAULT_BATCH, run_policy
from policies.model_card import current_code_revision
from policies.simple import SIMPLE_GRID, SimplePolicy, SimpleStrategy
from policies.train_config import EVAL_SEED_OFFSET
from simulator.audit import Verdicts
from simulator.kpis import compute_kpis
from simulator.masks import MaskProvider
from simulator.scenario import Scenario

MEASURE = "net_value_per_case"
"""The KPI members are ranked by (higher is better)."""
DEFAULT_STAGE_DEBTORS = (500, 2_000, 16_000)
_DECIMALS = 4  # of the stage tables in the artifact: a hundredth of a cent, readable diffs
DEFAULT_KEEP_FRACTION = 0.25
DEFAULT_FINALISTS = 4

StageProgress = Callable[[int, int, int], None]
"""Called with (stage index, members done in the stage, members in the stage)."""


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How many debtors each stage uses and how many members survive each stage."""

    stage_debtors: tuple[int, ...] = DEFAULT_STAGE_DEBTORS
    """Debtors per stage, one entry per stage (increasing, as a rule)."""
    keep_fraction: float = DEFAULT_KEEP_FRACTION
    """Share of a stage's members promoted to the next one (rounded up), except that..."""
    finalists: int = DEFAULT_FINALISTS
    """...the last stage runs exactly this many (or all that are left)."""

    def __post_init__(self) -> None:
        if not self.stage_debtors or min(self.stage_debtors) < 1:
            raise ValueError(
                f"stage debtors must be one or more positive counts, got {self.stage_debtors}"
            )
        if not 0 < self.keep_fraction <= 1:
            raise ValueError(f"keep fraction must lie in (0, 1], got {self.keep_fraction}")
        if self.finalists < 1:
            raise ValueError(f"finalists must be at least 1, got {self.finalists}")

    def survivors(self, stage: int, members: int) -> int:
        """Members promoted out of stage ``stage`` (0-based) that ran ``members``."""
        last = len(self.stage_debtors) - 1
        if stage == last:
            return 1  # the winner
        if stage == last - 1:
            return min(members, self.finalists)
        return max(min(members, self.finalists), math.ceil(members * self.keep_fraction))


def stage_seeds(seed: int, stages: int) -> list[int]:
    """One training seed per stage, drawn from ``seed`` (reproducible, all < 1,000,000)."""
    if not 0 <= seed < EVAL_SEED_OFFSET:
        raise ValueError(
            f"seed {seed} is not a training seed: the search must not see evaluation "
            f"debtors; use a seed in [0, {EVAL_SEED_OFFSET})"
        )
    children = np.random.SeedSequence([seed, 0x5E4C]).spawn(stages)
    return [int(c.generate_state(1)[0] % EVAL_SEED_OFFSET) for c in children]


def scenario_hash(scenario: Scenario) -> str:
    """Content hash of a scenario's validated parameters (comments and layout ignored)."""
    return hashlib.sha256(scenario.model_dump_json().encode()).hexdigest()[:16]


def rank_members(
    scenario: Scenario,
    members: Sequence[SimpleStrategy],
    n_debtors: int,
    masks: MaskProvider,
    verdicts: Verdicts,
    *,
    seed: int,
    batch_size: int = DEFAULT_BATCH,
    on_member: Callable[[int], None] | None = None,
) -> list[StageRow]:
    """Every member on the same ``n_debtors`` debtors, best first (ties: spec order)."""
    rows = []
    for done, member in enumerate(members, start=1):
        run = run_policy(
            scenario,
            SimplePolicy(member),
            n_debtors,
            masks,
            seed=seed,
            verdicts=verdicts,
            batch_size=batch_size,
            audit_contacts=0,
        )
        kpi = compute_kpis(run.outcomes, churn_applies=scenario.churn.enabled)[MEASURE]
        rows.append(
            StageRow(
                member=member.spec,
                debtors=n_debtors,
                mean=round(kpi.mean, _DECIMALS),
                ci95=(round(kpi.ci_low, _DECIMALS), round(kpi.ci_high, _DECIMALS)),
            )
        )
        if on_member is not None:
            on_member(done)
    return sorted(rows, key=lambda r: (-r.mean, r.member))


def search_simple(
    scenario: Scenario,
    masks: MaskProvider,
    verdicts: Verdicts,
    *,
    seed: int = 0,
    members: Sequence[SimpleStrategy] = SIMPLE_GRID,
    plan: SearchPlan | None = None,
    batch_size: int = DEFAULT_BATCH,
    command: str = "",
    progress: StageProgress | None = None,
) -> BestSimpleArtifact:
    """Successive halving over ``members``; returns the artifact (not yet written)."""
    plan = plan or SearchPlan()
    if not members:
        raise ValueError("no members to search; pass SIMPLE_GRID or a list of specs")
    specs = [m.spec for m in members]
    if len(set(specs)) != len(specs):
        raise ValueError("a member is listed twice; list each spec once")
    started = time.perf_counter()
    revision = current_code_revision()  # of the code that runs, before anyone edits it
    seeds = stage_seeds(seed, len(plan.stage_debtors))
    by_spec = {m.spec: m for m in members}
    alive = list(members)
    stages: list[SearchStage] = []
    for index, (n_debtors, stage_seed) in enumerate(zip(plan.stage_debtors, seeds, strict=True)):
        stage_started = time.perf_counter()
        total = len(alive)

        def on_member(done: int, index: int = index, total: int = total) -> None:
            if progress is not None:
                progress(index, done, total)

        rows = rank_members(
            scenario,
            alive,
            n_debtors,
            masks,
            verdicts,
            seed=stage_seed,
            batch_size=batch_size,
            on_member=on_member,
        )
        promoted = [r.member for r in rows[: plan.survivors(index, len(rows))]]
        stages.append(
            SearchStage(
                debtors=n_debtors,
                seed=stage_seed,
                rows=rows,
                promoted=promoted,
                seconds=round(time.perf_counter() - stage_started, 1),
            )
        )
        alive = [by_spec[spec] for spec in promoted]
    is_grid = tuple(members) == SIMPLE_GRID
    return BestSimpleArtifact(
        winner=stages[-1].promoted[0],
        scenario=scenario.name,
        scenario_hash=scenario_hash(scenario),
        measure=MEASURE,
        seed=seed,
        grid="SIMPLE_GRID" if is_grid else "custom",
        members=len(members),
        stages=stages,
        code_revision=revision,
        wall_time_s=round(time.perf_counter() - started, 1),
        command=command,
    )


def search_command(scenario: str, seed: int, plan: SearchPlan, members: Sequence[str]) -> str:
    """The ``tact search-simple`` command line that reproduces a search."""
    parts = ["tact", "search-simple", "--scenario", scenario, "--seed", str(seed)]
    if plan != SearchPlan():
        parts += ["--debtors-per-stage", ",".join(str(d) for d in plan.stage_debtors)]
        parts += ["--keep-fraction", str(plan.keep_fraction), "--finalists", str(plan.finalists)]
    for spec in members:
        parts += ["--member", spec]
    return shlex.join(parts)


def write_artifact(artifact: BestSimpleArtifact, out: Path | None = None) -> Path:
    """Write ``artifact`` to ``out`` or to where ``best-simple:<scenario>`` reads it."""
    return artifact.write(out or artifact_path(artifact.scenario))


__all__ = [
    "DEFAULT_STAGE_DEBTORS",
    "MEASURE",
    "SearchPlan",
    "rank_members",
    "scenario_hash",
    "search_command",
    "search_simple",
    "stage_seeds",
    "write_artifact",
]
