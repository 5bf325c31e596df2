"""Calibration of a scenario against its published figures, and the direction check.

``python -m simulator.calibration [SCENARIO] [--debtors N] [--seed S] [--fit]`` prints the
ladder's KPIs against the scenario's ``targets`` (with 95 % CIs) next to the segmented
probe (:mod:`simulator.probe_policy`). ``--fit`` solves the two outcome-survey offsets
marked ``CAL`` in the scenario (the NPS intercept and a common shift of the churn-after
intercepts) by bisection with common random numbers; the behaviour parameters are never
fitted automatically.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from policies.base import Policy
from simulator.kpis import KPIReport, compute_kpis
from simulator.masks import MaskProvider, UnshieldedMasks, compliance_masks
from simulator.rollout import simulate
from simulator.scenario import Param, Scenario, Target
from simulator.scenario_loader import DEFAULT_SCENARIO, load_scenario

TARGET_KPIS = {"resolution_rate": "resolution_rate", "churn_90d": "churn_90d", "nps": "nps"}
"""Scenario target name → KPI name."""


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    kpi: str
    target: Target
    measured: float
    ci_low: float
    ci_high: float

    @property
    def within(self) -> bool:
        return abs(self.measured - self.target.value) <= self.target.tolerance


def measure(
    scenario: Scenario, policy: Policy, masks: MaskProvider, n_debtors: int, seed: int
) -> KPIReport:
    result = simulate(scenario, policy, n_debtors, masks, seed=seed, log_steps=False)
    return compute_kpis(result.outcomes, churn_applies=scenario.churn.enabled)


def calibration_rows(scenario: Scenario, report: KPIReport) -> list[CalibrationRow]:
    """The scenario's targets next to the measured KPIs."""
    rows = []
    for target_name, kpi_name in TARGET_KPIS.items():
        target = getattr(scenario.targets, target_name)
        if target is None or kpi_name not in report:
            continue
        k = report[kpi_name]
        rows.append(CalibrationRow(kpi_name, target, k.mean, k.ci_low, k.ci_high))
    return rows


def with_outcome_offsets(scenario: Scenario, nps_intercept: float, churn_shift: float) -> Scenario:
    """A copy of ``scenario`` with the NPS intercept set and the churn intercepts shifted."""
    after = scenario.churn.after

    def shifted(p: Param) -> Param:
        rng = None if p.range is None else (p.range[0] + churn_shift, p.range[1] + churn_shift)
        return Param(value=p.value + churn_shift, range=rng)

    churn = scenario.churn.model_copy(
        update={
            "after": after.model_copy(
                update={
                    "resolved": shifted(after.resolved),
                    "unresolved": shifted(after.unresolved),
                    "legal": shifted(after.legal),
                }
            )
        }
    )
    nps = scenario.nps.model_copy(update={"intercept": Param(value=nps_intercept)})
    return scenario.model_copy(update={"churn": churn, "nps": nps})


def fit_outcome_offsets(
    scenario: Scenario, policy: Policy, masks: MaskProvider, n_debtors: int, seed: int
) -> tuple[float, float]:
    """NPS intercept and churn shift that put the policy on the scenario's NPS and churn
    targets. Both only act at the end of an episode, so the dynamics (and, with a fixed seed,
    the random numbers) stay the same and each measure is monotone in its offset."""
    targets = scenario.targets

    def solve(measure_at: Callable[[float], float], target: float, lo: float, hi: float) -> float:
        for _ in range(9):
            mid = (lo + hi) / 2
            if measure_at(mid) < target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    nps_intercept = scenario.nps.intercept.value
    churn_shift = 0.0
    if targets.nps is not None:
        nps_intercept = solve(
            lambda x: (
                measure(with_outcome_offsets(scenario, x, 0.0), policy, masks, n_debtors, seed)[
                    "nps"
                ].mean
            ),
            targets.nps.value,
            0.0,
            10.0,
        )
    if targets.churn_90d is not None and scenario.churn.enabled:
        churn_shift = solve(
            lambda x: (
                measure(
                    with_outcome_offsets(scenario, nps_intercept, x), policy, masks, n_debtors, seed
                )["churn_90d"].mean
            ),
            targets.churn_90d.value,
            -4.0,
            4.0,
        )
    return nps_intercept, churn_shift


def main(argv: list[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from policies.ladder import LadderPolicy
    from simulator.probe_policy import SegmentedProbePolicy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO)
    parser.add_argument("--debtors", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", action="store_true", help="solve the CAL outcome offsets")
    parser.add_argument(
        "--unshielded",
        action="store_true",
        help="allow every treatment (dynamics development only; not a calibration)",
    )
    args = parser.parse_args(argv)
    console = Console()
    scenario = load_scenario(args.scenario)
    masks = UnshieldedMasks() if args.unshielded else compliance_masks()
    if args.unshielded:
        console.print("[bold red]unshielded: masks do not come from the compliance rules[/]")
    if args.fit:
        nps_intercept, churn_shift = fit_outcome_offsets(
            scenario, LadderPolicy(), masks, args.debtors, args.seed
        )
        after = scenario.churn.after
        shifted = ", ".join(
            f"{name} {getattr(after, name).value + churn_shift:.3f}"
            for name in ("resolved", "unresolved", "legal")
        )
        console.print(f"nps.intercept: {nps_intercept:.3f}; churn.after: {shifted}")
        scenario = with_outcome_offsets(scenario, nps_intercept, churn_shift)
    ladder = measure(scenario, LadderPolicy(), masks, args.debtors, args.seed)
    probe = measure(scenario, SegmentedProbePolicy(), masks, args.debtors, args.seed)
    table = Table(title=f"{scenario.name}: {args.debtors} debtors, seed {args.seed}")
    for column in (
        "KPI",
        "target (ladder)",
        "ladder",
        "95 % CI",
        "ok",
        "segmented probe",
        "95 % CI",
    ):
        table.add_column(column)
    targets = {row.kpi: row for row in calibration_rows(scenario, ladder)}
    for k in ladder:
        p = probe[k.name]
        row = targets.get(k.name)
        table.add_row(
            k.label,
            f"{row.target.value:g} ± {row.target.tolerance:g}" if row else "",
            f"{k.mean:.1f}",
            f"[{k.ci_low:.1f}, {k.ci_high:.1f}]",
            ("yes" if row.within else "NO") if row else "",
            f"{p.mean:.1f}",
            f"[{p.ci_low:.1f}, {p.ci_high:.1f}]",
        )
    console.print(table)


if __name__ == "__main__":
    main()
