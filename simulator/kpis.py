"""Collection KPIs from per-debtor outcomes, each with a 95 % confidence interval.

Every KPI is a mean over debtors of a per-debtor value (see :func:`per_debtor_values`), or
a ratio of two sums (recovery, plan break rate), so intervals come from the normal
approximation (Wilson's score interval for a share of debtors, the delta method for
ratios, the lower limit cut at 0 for a KPI that cannot be negative) or from a bootstrap
over debtors. Definitions,
also in docs/simulator.md:

* resolution rate — % of debtors whose episode ended PAID, SETTLED or PLAN_COMPLETED; a plan
  still running at the horizon is *not* resolved (reported apart), nor is a legal hand-over;
* plans running — % of debtors with a plan in good standing at the horizon, and the
  expected value of their remaining instalments per case;
* recovery rate — collected during the episode / original balance, summed over debtors;
  also by day 30 and day 60 of the episode;
* net collections per case — cash collected, discounted to the episode start at the
  scenario's rate, + expected value of running plans + expected net legal recovery (both
  discounted) − contact and legal costs;
* net value per case — net collections − churn cost (the scenario's churn price × the
  debtor's probability of leaving: 1 if they left during collection, else the modelled
  probability within 90 days after it);
* cost per case — contact and legal costs;
* plan break rate — plans broken / plans agreed during the episodes;
* complaints per 1,000 cases;
* churn within 90 days — % of debtors who left the creditor during the episode or within
  90 days after it (one simulated draw per debtor);
* NPS — promoters (answer 9–10) minus detractors (0–6), in points, from one simulated
  survey answer per debtor at the end of the episode;
* days to first payment — mean over debtors who paid anything (reported, not paired);
* contacts per case; reward per case (the RL objective, scaled units).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from simulator.outcomes import CaseOutcomes

Z95 = 1.959963984540054
CIMethod = Literal["normal", "bootstrap"]


@dataclass(frozen=True, slots=True)
class KPI:
    """One KPI: its estimate and 95 % confidence interval."""

    name: str
    label: str
    unit: str
    mean: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2.0


@dataclass(frozen=True, slots=True)
class KPIReport:
    """KPIs of one run, in display order; index by name (``report["nps"]``)."""

    kpis: tuple[KPI, ...]

    def __getitem__(self, name: str) -> KPI:
        for k in self.kpis:
            if k.name == name:
                return k
        raise KeyError(f"no KPI {name!r}; have {', '.join(k.name for k in self.kpis)}")

    def __contains__(self, name: object) -> bool:
        return any(k.name == name for k in self.kpis)

    def __iter__(self) -> Iterator[KPI]:
        return iter(self.kpis)


# name → (label, unit, scale of the per-debtor mean)
_MEAN_KPIS: dict[str, tuple[str, str, float]] = {
    "resolution_rate": ("resolution rate", "%", 100.0),
    "plans_running": ("plans running at the horizon", "%", 100.0),
    "running_plan_value_per_case": ("expected value of running plans per case", "currency", 1.0),
    "net_value_per_case": ("net value per case", "currency", 1.0),
    "net_collections_per_case": ("net collections per case", "currency", 1.0),
    "cost_per_case": ("cost per case", "currency", 1.0),
    "complaints_per_1000": ("complaints per 1,000 cases", "", 1000.0),
    "churn_90d": ("churn within 90 days", "%", 100.0),
    "nps": ("NPS", "points", 1.0),
    "contacts_per_case": ("contacts per case", "", 1.0),
    "reward_per_case": ("reward per case", "scaled", 1.0),
}
PROPORTION_KPIS = frozenset({"resolution_rate", "plans_running", "churn_90d"})
"""Means of a yes/no per debtor: their normal-method CI is Wilson's score interval."""
_NOT_NEGATIVE = frozenset(
    {
        "running_plan_value_per_case",
        "cost_per_case",
        "complaints_per_1000",
        "contacts_per_case",
        "recovery_rate",
        "recovery_60d",
        "recovery_30d",
        "plan_break_rate",
    }
)
"""KPIs that cannot be negative: an interval's lower limit is cut at 0 (this loses no
coverage, since the true value lies above 0)."""
CHURN_KPIS = ("churn_90d",)
"""KPIs left out of scenarios without a customer relationship."""

# name → (label, numerator, denominator) of ratio KPIs, in %.
_RATIO_KPIS: dict[str, tuple[str, str, str]] = {
    "recovery_rate": ("recovery rate (day 120)", "collected_minor", "original_minor"),
    "recovery_60d": ("recovery by day 60", "collected_60_minor", "original_minor"),
    "recovery_30d": ("recovery by day 30", "collected_30_minor", "original_minor"),
    "plan_break_rate": ("plan break rate", "plans_broken", "plans_agreed"),
}
_RATIO_AFTER = {
    "recovery_rate": "resolution_rate",
    "plan_break_rate": "running_plan_value_per_case",
}
"""Where each group of ratio KPIs is shown (after this mean KPI)."""


def net_collections(outcomes: CaseOutcomes) -> np.ndarray:
    """Per debtor: discounted cash + expected running-plan and legal value − costs (major)."""
    future = outcomes.collected_pv_minor + outcomes.plan_expected_minor
    return (future + outcomes.legal_expected_minor) / 100.0 - outcomes.cost


def per_debtor_values(outcomes: CaseOutcomes) -> dict[str, np.ndarray]:
    """The per-debtor value whose mean (× scale) is each mean-type KPI."""
    answer = outcomes.nps_score.astype(np.int64)
    collections = net_collections(outcomes)
    return {
        "resolution_rate": outcomes.resolved.astype(np.float64),
        "plans_running": outcomes.plan_running.astype(np.float64),
        "running_plan_value_per_case": outcomes.plan_expected_minor / 100.0,
        "net_value_per_case": collections - outcomes.churn_price * outcomes.churn_expected,
        "net_collections_per_case": collections,
        "cost_per_case": outcomes.cost.astype(np.float64),
        "complaints_per_1000": outcomes.complaints.astype(np.float64),
        "churn_90d": outcomes.churned.astype(np.float64),
        "nps": np.where(answer >= 9, 100.0, np.where(answer <= 6, -100.0, 0.0)),
        "contacts_per_case": outcomes.contacts.astype(np.float64),
        "reward_per_case": outcomes.reward.astype(np.float64),
    }


def kpi_scale(name: str) -> float:
    """Multiplier from a per-debtor value's mean to the KPI (100 for %, 1,000 per 1,000)."""
    return _MEAN_KPIS[name][2]


def compute_kpis(
    outcomes: CaseOutcomes,
    *,
    churn_applies: bool = True,
    method: CIMethod = "normal",
    n_boot: int = 1000,
    rng: np.random.Generator | None = None,
) -> KPIReport:
    """All KPIs of ``outcomes`` with 95 % CIs (``normal`` approximation or ``bootstrap``).

    ``churn_applies=False`` (scenarios without a customer relationship) leaves churn out.
    A ratio KPI whose denominator is zero (no plan was agreed) is NaN.
    """
    n = len(outcomes)
    if n == 0:
        raise ValueError("no finished debtors: run the simulation until episodes end")
    if method not in ("normal", "bootstrap"):
        raise ValueError(f"method must be 'normal' or 'bootstrap', got {method!r}")
    values = per_debtor_values(outcomes)
    names = [k for k in _MEAN_KPIS if churn_applies or k not in CHURN_KPIS]
    ratio_columns = {
        name: (
            getattr(outcomes, num).astype(np.float64),
            getattr(outcomes, den).astype(np.float64),
        )
        for name, (_, num, den) in _RATIO_KPIS.items()
    }
    boots: np.ndarray | None = None
    if method == "bootstrap":
        rows = [values[k] for k in names]
        for num, den in ratio_columns.values():
            rows += [num, den]
        boots = bootstrap_sums(
            np.stack(rows), n_boot, rng if rng is not None else np.random.default_rng(0)
        )
    kpis: list[KPI] = []
    for j, name in enumerate(names):
        label, unit, scale = _MEAN_KPIS[name]
        if boots is None:
            mean, low, high = kpi_ci(name, values[name])
        else:
            mean = float(values[name].mean())
            low, high = (float(x) for x in np.percentile(boots[:, j] / n, [2.5, 97.5]))
        kpis.append(KPI(name, label, unit, mean * scale, low * scale, high * scale, n))
    ratios: dict[str, KPI] = {}
    for i, (name, (num, den)) in enumerate(ratio_columns.items()):
        label = _RATIO_KPIS[name][0]
        if den.sum() <= 0:
            nan = float("nan")
            ratios[name] = KPI(name, label, "%", nan, nan, nan, n)
            continue
        if boots is None:
            ratio, low, high = ratio_ci(num, den)
            low = max(low, 0.0)
        else:
            col = len(names) + 2 * i
            ratio = float(num.sum() / den.sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                draws = boots[:, col] / boots[:, col + 1]
            low, high = (float(x) for x in np.nanpercentile(draws, [2.5, 97.5]))
        ratios[name] = KPI(name, label, "%", ratio * 100, low * 100, high * 100, n)
    ordered: list[KPI] = []
    for k in kpis:
        ordered.append(k)
        if k.name == _RATIO_AFTER["recovery_rate"]:
            ordered += [ratios["recovery_rate"], ratios["recovery_60d"], ratios["recovery_30d"]]
        if k.name == _RATIO_AFTER["plan_break_rate"]:
            ordered.append(ratios["plan_break_rate"])
    return KPIReport(tuple(ordered))


def days_to_first_payment(outcomes: CaseOutcomes) -> tuple[float, float, float, int]:
    """Mean days in collection to the first payment among debtors who paid, its 95 % CI,
    and how many paid."""
    paid = outcomes.first_payment_day >= 0
    if not paid.any():
        nan = float("nan")
        return nan, nan, nan, 0
    mean, low, high = mean_ci(outcomes.first_payment_day[paid])
    return mean, low, high, int(paid.sum())


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and its 95 % CI by the normal approximation."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean, mean
    half = Z95 * float(values.std(ddof=1)) / np.sqrt(values.size)
    return mean, mean - half, mean + half


def wilson_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Share of ones in ``values`` (0/1) and Wilson's 95 % score interval: inside [0, 1],
    and not of width 0 when every value is the same."""
    n = int(np.asarray(values).size)
    share = float(np.mean(values))
    if n == 0:
        return share, share, share
    z2 = Z95 * Z95
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * np.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return share, max(0.0, centre - half), min(1.0, centre + half)


def kpi_ci(name: str, values: np.ndarray) -> tuple[float, float, float]:
    """Mean of the per-debtor ``values`` of KPI ``name`` (unscaled) and its 95 % CI: Wilson
    for a share of debtors, else normal; never below 0 for a KPI that cannot be."""
    if name in PROPORTION_KPIS:
        return wilson_ci(values)
    mean, low, high = mean_ci(values)
    return mean, max(low, 0.0) if name in _NOT_NEGATIVE else low, high


def ratio_ci(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float, float]:
    """Ratio of sums and its 95 % CI by the delta method."""
    total = float(denominator.sum())
    if total <= 0:
        raise ValueError("the denominator sums to zero; a ratio KPI is undefined")
    ratio = float(numerator.sum()) / total
    n = numerator.size
    if n < 2:
        return ratio, ratio, ratio
    residual = numerator - ratio * denominator
    se = float(residual.std(ddof=1)) * np.sqrt(n) / total
    return ratio, ratio - Z95 * se, ratio + Z95 * se


def bootstrap_sums(
    matrix: np.ndarray, n_boot: int, rng: np.random.Generator, chunk: int = 100
) -> np.ndarray:
    """(n_boot, k) sums of each row of ``matrix`` (k, n) over bootstrap resamples of its
    columns (the debtors), drawn in chunks to bound memory."""
    n = matrix.shape[1]
    out = np.empty((n_boot, matrix.shape[0]))
    p = np.full(n, 1.0 / n)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        counts = rng.multinomial(n, p, size=stop - start).astype(np.float64)
        out[start:stop] = counts @ matrix.T
    return out
