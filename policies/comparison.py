"""How ``tact evaluate`` compares policies: paired differences, treatment mix, the champion.

Every policy of an evaluation meets the same debtors, so differences are taken debtor by
debtor (paired) and their confidence intervals are far narrower than those of two
independent means. Each policy is compared with **every baseline** in the evaluation
(hand-written strategies: ``ladder``, ``segmented``, ``random``, ``best-simple``,
``simple:<spec>``) and with the **champion** — the better of ``segmented`` and
``best-simple`` by net value per case, when both were evaluated: the strategy a trained
policy has to beat to be worth serving.

The treatment mix shows *what* a policy does: the share of its executed contacts that
went to its most used treatment, and the entropy (bits) of its treatment distribution —
overall and per hidden behaviour segment. A policy that sends one treatment to everyone
has a top share near 1 and an entropy near 0, whatever its KPIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.catalogue import CATALOGUE
from simulator.kpis import (
    Z95,
    compute_kpis,
    days_to_first_payment,
    kpi_ci,
    kpi_scale,
    mean_ci,
    per_debtor_values,
)
from simulator.outcomes import CaseOutcomes

if TYPE_CHECKING:
    from policies.evaluate import Evaluation

CHAMPION_CANDIDATES = ("segmented", "best-simple")
"""The champion is the better of these (by mean net value per case) among those evaluated."""
VIOLATIONS_KPI = "violations_per_1000_contacts"
PAIRED_KPIS = (
    "net_value_per_case",
    "net_collections_per_case",
    "resolution_rate",
    "plans_running",
    "recovery_rate",
    "recovery_30d",
    "recovery_60d",
    "cost_per_case",
    "complaints_per_1000",
    "churn_90d",
    "nps",
    "contacts_per_case",
    "reward_per_case",
)
"""KPIs whose paired difference against every baseline is reported."""
RELATIVE_KPIS = ("net_value_per_case", "net_collections_per_case")
"""KPIs whose paired *relative* difference (%) against every baseline is reported."""
SEGMENT_KPIS = ("net_value_per_case", "resolution_rate", "contacts_per_case", "churn_90d")
"""KPIs reported per hidden behaviour segment (and their paired differences)."""
_RATIO_KPIS = {
    "recovery_rate": "collected_minor",
    "recovery_30d": "collected_30_minor",
    "recovery_60d": "collected_60_minor",
}


def is_baseline(name: str) -> bool:
    """A hand-written strategy (what a trained policy is compared against)."""
    return name in ("ladder", "segmented", "random") or name.startswith(("best-simple", "simple:"))


def champion(evaluation: Evaluation) -> str | None:
    """The better of ``segmented`` and ``best-simple`` by mean net value per case, among
    those evaluated (the one present if only one is), else None."""
    present = [name for name in CHAMPION_CANDIDATES if name in evaluation.runs]
    if not present:
        return None
    value = {
        name: float(per_debtor_values(evaluation.runs[name].outcomes)["net_value_per_case"].mean())
        for name in present
    }
    return max(present, key=lambda name: value[name])


# ------------------------------------------------------------------------------ statistics


def interval(mean: float, low: float, high: float) -> dict[str, Any]:
    """``{"mean", "ci95"}``; an undefined value (NaN) is null, so the JSON stays strict."""

    def number(x: float) -> float | None:
        return None if x != x else float(x)

    return {"mean": number(mean), "ci95": [number(low), number(high)]}


def violation_rate(violations: int, audited: int) -> tuple[float, float, float]:
    """Violations per 1,000 audited contacts with an exact (Clopper-Pearson) 95 % CI."""
    from scipy.stats import beta

    if audited == 0:
        return 0.0, 0.0, 1000.0  # nothing audited: nothing is known
    rate = violations / audited
    low = 0.0 if violations == 0 else float(beta.ppf(0.025, violations, audited - violations + 1))
    high = (
        1.0
        if violations == audited
        else float(beta.ppf(0.975, violations + 1, audited - violations))
    )
    return 1000 * rate, 1000 * low, 1000 * high


def paired_difference(run: CaseOutcomes, ref: CaseOutcomes, kpi: str) -> tuple[float, float, float]:
    """Mean paired difference (run − ref) of ``kpi`` over the same debtors, with 95 % CI."""
    check_paired(run, ref)
    if kpi in _RATIO_KPIS:
        # A ratio of sums over the same balances: the difference of the numerators / Σ original.
        column = _RATIO_KPIS[kpi]
        scale = 100.0 / float(ref.original_minor.mean())
        diff = (getattr(run, column) - getattr(ref, column)).astype(np.float64) * scale
        return mean_ci(diff)
    diff = (per_debtor_values(run)[kpi] - per_debtor_values(ref)[kpi]) * kpi_scale(kpi)
    return mean_ci(diff)


def paired_relative_difference(
    run: CaseOutcomes, ref: CaseOutcomes, kpi: str
) -> tuple[float, float, float]:
    """Paired difference of the means relative to the reference's magnitude, in %:
    ``(mean(run) − mean(ref)) / |mean(ref)|``, 95 % CI by the delta method.

    Dividing by the magnitude keeps the sign meaningful when the reference is negative (net
    value after churn cost often is): +10 % is always an improvement of a tenth of the
    reference's size. When the reference's own 95 % interval contains 0 a relative change
    means nothing (its size is unknown, its sign too): the answer is NaN — read the absolute
    paired difference instead.
    """
    check_paired(run, ref)
    x = per_debtor_values(run)[kpi]
    y = per_debtor_values(ref)[kpi]
    my, low, high = mean_ci(y)
    if low <= 0.0 <= high:
        return float("nan"), float("nan"), float("nan")
    ratio = float(x.mean()) / my
    residual = (x - ratio * y) / abs(my)
    half = Z95 * float(residual.std(ddof=1)) / np.sqrt(x.size) if x.size > 1 else 0.0
    gain = (ratio - 1.0) * np.sign(my)
    return 100 * gain, 100 * (gain - half), 100 * (gain + half)


def check_paired(run: CaseOutcomes, ref: CaseOutcomes) -> None:
    if not np.array_equal(run.serial, ref.serial) or not np.array_equal(
        run.original_minor, ref.original_minor
    ):
        raise ValueError(
            "paired differences need the same debtors in both runs: evaluate both policies "
            "with the same scenario, seed, debtor count and batch size"
        )


@dataclass(frozen=True, slots=True)
class TreatmentMix:
    """What a policy sent: its executed contacts by treatment."""

    contacts: int
    top_treatment: str
    top_share: float
    entropy_bits: float

    def to_json(self) -> dict[str, Any]:
        return {
            "contacts": self.contacts,
            "top_treatment": self.top_treatment,
            "top_share": self.top_share,
            "entropy_bits": self.entropy_bits,
        }


def treatment_mix(counts: np.ndarray) -> TreatmentMix:
    """Top treatment, its share and the entropy of ``counts`` (per catalogue index)."""
    total = int(counts.sum())
    if total == 0:
        return TreatmentMix(0, "WAIT", 0.0, 0.0)
    p = counts / total
    nonzero = p[p > 0]
    top = int(np.argmax(counts))
    return TreatmentMix(
        contacts=total,
        top_treatment=CATALOGUE.labels[top],
        top_share=float(p[top]),
        entropy_bits=float(-(nonzero * np.log2(nonzero)).sum()),
    )


# ------------------------------------------------------------------------------ JSON


def policy_kpis(evaluation: Evaluation, name: str) -> dict[str, dict[str, Any]]:
    """Every KPI of one policy (and its violations per 1,000 audited contacts), with CIs."""
    run = evaluation.runs[name]
    report = compute_kpis(run.outcomes, churn_applies=evaluation.scenario.churn.enabled)
    out = {k.name: interval(k.mean, k.ci_low, k.ci_high) for k in report}
    out[VIOLATIONS_KPI] = interval(
        *violation_rate(run.audit.violations, run.audit.contacts_audited)
    )
    return out


def _segment_rows(outcomes: CaseOutcomes, segment: int) -> np.ndarray:
    return np.flatnonzero(outcomes.segment == segment)


def by_segment(evaluation: Evaluation, name: str) -> dict[str, dict[str, Any]]:
    """Per hidden behaviour segment: share of debtors, :data:`SEGMENT_KPIS`, treatment mix."""
    run = evaluation.runs[name]
    out: dict[str, dict[str, Any]] = {}
    kpis = [k for k in SEGMENT_KPIS if evaluation.scenario.churn.enabled or k != "churn_90d"]
    for s, segment in enumerate(evaluation.scenario.segment_names):
        rows = _segment_rows(run.outcomes, s)
        if rows.size == 0:
            continue
        values = per_debtor_values(run.outcomes.take(rows))
        block: dict[str, Any] = {"debtors": int(rows.size)}
        for kpi in kpis:
            scale = kpi_scale(kpi)
            mean, low, high = kpi_ci(kpi, values[kpi])
            block[kpi] = interval(mean * scale, low * scale, high * scale)
        block["treatment_mix"] = treatment_mix(run.treatment_counts[s]).to_json()
        out[segment] = block
    return out


def paired_block(evaluation: Evaluation, name: str, baseline: str) -> dict[str, Any]:
    """Paired differences of ``name`` against ``baseline``: every KPI, relative net value,
    and net value per segment."""
    run = evaluation.runs[name].outcomes
    ref = evaluation.runs[baseline].outcomes
    churn = evaluation.scenario.churn.enabled
    block: dict[str, Any] = {}
    for kpi in PAIRED_KPIS:
        if kpi == "churn_90d" and not churn:
            continue
        block[kpi] = interval(*paired_difference(run, ref, kpi))
    for kpi in RELATIVE_KPIS:
        block[f"{kpi}_rel_pct"] = interval(*paired_relative_difference(run, ref, kpi))
    segments: dict[str, Any] = {}
    for s, segment in enumerate(evaluation.scenario.segment_names):
        rows = _segment_rows(run, s)
        if rows.size:
            diff = paired_difference(run.take(rows), ref.take(rows), "net_value_per_case")
            segments[segment] = {"net_value_per_case": interval(*diff)}
    block["by_segment"] = segments
    return block


def policy_summary(evaluation: Evaluation, name: str) -> dict[str, Any]:
    """The JSON block of one policy (see docs/policies.md, "tact evaluate")."""
    run = evaluation.runs[name]
    first, low, high, payers = days_to_first_payment(run.outcomes)
    a = run.audit
    baselines = [b for b in evaluation.runs if b != name and is_baseline(b)]
    best = champion(evaluation)
    if best is not None and best != name and best not in baselines:
        baselines.append(best)
    overall = treatment_mix(run.treatment_counts.sum(axis=0))
    return {
        "kpis": policy_kpis(evaluation, name),
        "days_to_first_payment": {**interval(first, low, high), "payers": payers},
        "treatment_mix": overall.to_json(),
        "by_segment": by_segment(evaluation, name),
        "paired": {b: paired_block(evaluation, name, b) for b in baselines},
        "audit": {
            "decisions": a.decisions,
            "contacts_executed": a.contacts_executed,
            "contacts_audited": a.contacts_audited,
            "violations": a.violations,
            "blocked_requests": a.blocked_requests,
            "reconstruction_errors": a.reconstruction_errors,
        },
    }


__all__ = [
    "CHAMPION_CANDIDATES",
    "PAIRED_KPIS",
    "RELATIVE_KPIS",
    "VIOLATIONS_KPI",
    "TreatmentMix",
    "champion",
    "is_baseline",
    "paired_block",
    "paired_difference",
    "paired_relative_difference",
    "policy_kpis",
    "policy_summary",
    "treatment_mix",
    "violation_rate",
]
