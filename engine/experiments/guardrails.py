"""Guardrails per challenger, each an always-valid sequential test against the champion.

* complaint rate and opt-out rate: the share of an arm's debtors who complained (opted out)
  since their first decision; harmful when the challenger's exceeds the champion's by more
  than ``max_excess`` (one-sided mSPRT, :mod:`engine.experiments.sequential`);
* payment rate floor: the share who paid; harmful when it falls short of the champion's by
  more than ``max_shortfall`` (the same test on debtors *without* a payment);
* compliance violations: any attempt of a blocked step (a policy contract error) rolls the
  challenger back at once.

The first crossing rolls the challenger back: its share goes to the champion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.experiments.runtime import ExperimentRuntime, challenger_arm
from engine.experiments.sequential import msprt_harm, srm_check
from engine.experiments.spec import CHAMPION_ARM
from engine.experiments.store import ArmStats


@dataclass(frozen=True, slots=True)
class GuardrailState:
    arm: str
    guardrail: str
    arm_rate: float
    champion_rate: float
    arm_debtors: int
    champion_debtors: int
    statistic: float
    threshold: float
    crossed: bool

    def reason(self) -> str:
        if self.guardrail == "compliance_violations":
            return f"{self.arm}: {int(self.arm_rate)} attempted step(s) the rules block"
        return (
            f"{self.arm}: {self.guardrail} {self.arm_rate:.4f} vs champion "
            f"{self.champion_rate:.4f} ({self.arm_debtors} vs {self.champion_debtors} debtors; "
            f"mSPRT Λ = {self.statistic:.3g} ≥ {self.threshold:g})"
        )


def _rate(x: int, n: int) -> float:
    return x / n if n else 0.0


def evaluate_guardrails(
    runtime: ExperimentRuntime,
    stats: Mapping[str, ArmStats],
    violations: Mapping[str, int],
    *,
    include_rolled_back: bool = False,
) -> list[GuardrailState]:
    """Every configured guardrail of every challenger not yet rolled back (and of those
    rolled back too with ``include_rolled_back``: what the data says of them now)."""
    g = runtime.spec.guardrails
    champ = stats.get(CHAMPION_ARM, ArmStats())
    states: list[GuardrailState] = []
    for challenger in runtime.spec.challengers:
        arm = challenger_arm(challenger.name)
        if arm in runtime.rollbacks and not include_rolled_back:
            continue
        mine = stats.get(arm, ArmStats())
        enough = mine.debtors >= g.min_debtors and champ.debtors >= g.min_debtors
        checks: list[tuple[str, int, int, float]] = []
        if g.complaint_rate is not None:
            checks.append(
                ("complaint_rate", mine.complained, champ.complained, g.complaint_rate.max_excess)
            )
        if g.opt_out_rate is not None:
            checks.append(
                ("opt_out_rate", mine.opted_out, champ.opted_out, g.opt_out_rate.max_excess)
            )
        for name, x1, x0, margin in checks:
            result = msprt_harm(
                (x1, x0), (mine.debtors, champ.debtors), margin=margin, alpha=g.alpha, tau=g.tau
            )
            states.append(
                GuardrailState(
                    arm,
                    name,
                    _rate(x1, mine.debtors),
                    _rate(x0, champ.debtors),
                    mine.debtors,
                    champ.debtors,
                    result.statistic,
                    result.threshold,
                    enough and result.crossed,
                )
            )
        if g.payment_rate is not None:
            result = msprt_harm(
                (mine.debtors - mine.paid, champ.debtors - champ.paid),
                (mine.debtors, champ.debtors),
                margin=g.payment_rate.max_shortfall,
                alpha=g.alpha,
                tau=g.tau,
            )
            states.append(
                GuardrailState(
                    arm,
                    "payment_rate",
                    _rate(mine.paid, mine.debtors),
                    _rate(champ.paid, champ.debtors),
                    mine.debtors,
                    champ.debtors,
                    result.statistic,
                    result.threshold,
                    enough and result.crossed,
                )
            )
        if g.compliance_violations:
            count = violations.get(arm, 0)
            states.append(
                GuardrailState(
                    arm,
                    "compliance_violations",
                    float(count),
                    float(violations.get(CHAMPION_ARM, 0)),
                    mine.debtors,
                    champ.debtors,
                    float(count),
                    1.0,
                    count > 0,
                )
            )
    return states


@dataclass(frozen=True, slots=True)
class SrmState:
    chi2: float
    p_value: float
    threshold: float
    alarm: bool
    checks: int
    counts: dict[str, int]
    expected_shares: dict[str, float]


def evaluate_srm(
    runtime: ExperimentRuntime, stats: Mapping[str, ArmStats], check: int
) -> SrmState | None:
    """Debtors per arm against the configured shares; None once a challenger is rolled
    back (the split no longer follows the shares)."""
    if runtime.rollbacks or not runtime.spec.challengers:
        return None
    shares = runtime.effective_shares()
    counts = {arm: stats.get(arm, ArmStats()).debtors for arm in shares}
    result = srm_check(
        list(counts.values()), list(shares.values()), alpha=runtime.spec.srm.alpha, check=check
    )
    return SrmState(
        result.chi2, result.p_value, result.threshold, result.alarm, check, counts, shares
    )


__all__ = ["GuardrailState", "SrmState", "evaluate_guardrails", "evaluate_srm"]
