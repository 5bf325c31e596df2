"""KPI arithmetic on hand-made outcomes, and both kinds of confidence interval."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.kpis import (
    PROPORTION_KPIS,
    Z95,
    compute_kpis,
    days_to_first_payment,
    mean_ci,
    ratio_ci,
    wilson_ci,
)
from simulator.outcomes import CaseOutcomes, Outcome


def _outcomes(n: int) -> CaseOutcomes:
    rng = np.random.default_rng(0)
    collected = rng.integers(0, 10_001, n)
    agreed = rng.integers(0, 3, n).astype(np.int32)
    return CaseOutcomes(
        serial=np.arange(n),
        segment=np.zeros(n, np.int8),
        country=np.full(n, "SE"),
        outcome=rng.choice([int(x) for x in Outcome], size=n).astype(np.int8),
        days=np.full(n, 30, np.int32),
        original_minor=np.full(n, 10_000, np.int64),
        collected_minor=collected,
        collected_pv_minor=collected * 0.99,
        collected_30_minor=collected // 2,
        collected_60_minor=collected // 2,
        first_payment_day=rng.integers(-1, 120, n).astype(np.int32),
        legal_expected_minor=np.zeros(n),
        plan_expected_minor=rng.random(n) * 500,
        plans_agreed=agreed,
        plans_broken=np.minimum(agreed, rng.integers(0, 2, n)).astype(np.int32),
        churn_expected=rng.random(n),
        churn_price=np.full(n, 300.0),
        cost=rng.random(n) * 10,
        contacts=rng.integers(0, 10, n).astype(np.int32),
        complaints=(rng.random(n) < 0.1).astype(np.int32),
        churned=rng.random(n) < 0.5,
        nps_score=rng.integers(0, 11, n).astype(np.int8),
        reward=rng.standard_normal(n),
    )


def test_definitions_on_six_debtors() -> None:
    collected = np.array([100, 60, 20, 100, 0, 20]) * 100
    o = CaseOutcomes(
        serial=np.arange(6),
        segment=np.zeros(6, np.int8),
        country=np.full(6, "SE"),
        outcome=np.array(
            [
                Outcome.PAID,
                Outcome.SETTLED,
                Outcome.PLAN_ACTIVE,
                Outcome.PLAN_COMPLETED,
                Outcome.LEGAL,
                Outcome.UNRESOLVED,
            ],
            dtype=np.int8,
        ),
        days=np.full(6, 10, np.int32),
        original_minor=np.array([100, 100, 100, 100, 100, 500]) * 100,
        collected_minor=collected,
        collected_pv_minor=collected * 0.98,
        collected_30_minor=np.array([100, 60, 20, 0, 0, 0]) * 100,
        collected_60_minor=np.array([100, 60, 20, 50, 0, 20]) * 100,
        first_payment_day=np.array([3, 5, 1, 40, -1, 50], np.int32),
        legal_expected_minor=np.array([0, 0, 0, 0, 4000.0, 0]),
        plan_expected_minor=np.array([0, 0, 6000.0, 0, 0, 0]),
        plans_agreed=np.array([0, 0, 1, 1, 0, 2], np.int32),
        plans_broken=np.array([0, 0, 0, 0, 0, 2], np.int32),
        churn_expected=np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        churn_price=np.full(6, 100.0),
        cost=np.array([1.0, 2, 3, 4, 5, 6]),
        contacts=np.array([1, 2, 3, 4, 5, 6], np.int32),
        complaints=np.array([0, 0, 1, 0, 1, 0], np.int32),
        churned=np.array([False, False, False, True, True, True]),
        nps_score=np.array([10, 9, 8, 7, 6, 0], np.int8),
        reward=np.zeros(6),
    )
    k = compute_kpis(o)
    # A running plan is not resolved: paid, settled, plan completed = 3 of 6.
    assert k["resolution_rate"].mean == pytest.approx(3 / 6 * 100)
    assert k["plans_running"].mean == pytest.approx(1 / 6 * 100)
    assert k["running_plan_value_per_case"].mean == pytest.approx(60 / 6)
    assert k["recovery_rate"].mean == pytest.approx(300 / 1000 * 100)
    assert k["recovery_30d"].mean == pytest.approx(180 / 1000 * 100)
    assert k["recovery_60d"].mean == pytest.approx(250 / 1000 * 100)
    assert k["plan_break_rate"].mean == pytest.approx(2 / 4 * 100)
    # Discounted cash + running plan + legal − costs; then − churn price × P(churn).
    collections = (300 * 0.98 + 60 + 40 - 21) / 6
    assert k["net_collections_per_case"].mean == pytest.approx(collections)
    churn_cost = 100 * (0.1 + 0.2 + 0.3 + 0.4 + 0.5 + 0.6) / 6
    assert k["net_value_per_case"].mean == pytest.approx(collections - churn_cost)
    assert k["cost_per_case"].mean == pytest.approx(3.5)
    assert k["complaints_per_1000"].mean == pytest.approx(2 / 6 * 1000)
    assert k["churn_90d"].mean == pytest.approx(50.0)
    assert k["nps"].mean == pytest.approx((2 - 2) / 6 * 100)
    assert k["contacts_per_case"].mean == pytest.approx(3.5)
    assert "churn_90d" not in compute_kpis(o, churn_applies=False)
    assert days_to_first_payment(o)[0] == pytest.approx((3 + 5 + 1 + 40 + 50) / 5)


def test_plan_break_rate_is_nan_without_plans() -> None:
    o = _outcomes(50)
    o.plans_agreed[:] = 0
    o.plans_broken[:] = 0
    assert np.isnan(compute_kpis(o)["plan_break_rate"].mean)
    assert np.isnan(compute_kpis(o, method="bootstrap", n_boot=50)["plan_break_rate"].mean)


def test_normal_interval_formula() -> None:
    values = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    mean, low, high = mean_ci(values)
    half = Z95 * values.std(ddof=1) / np.sqrt(5)
    assert (mean, low, high) == pytest.approx((0.6, 0.6 - half, 0.6 + half))


def test_wilson_interval_formula_and_bounds() -> None:
    # 3 of 10: the textbook Wilson interval [0.1078, 0.6032].
    share, low, high = wilson_ci(np.array([1.0] * 3 + [0.0] * 7))
    assert (share, low, high) == pytest.approx((0.3, 0.1078, 0.6032), abs=1e-4)
    assert wilson_ci(np.zeros(16))[1:] == pytest.approx((0.0, 0.1936), abs=1e-4)
    assert wilson_ci(np.ones(16))[1:] == pytest.approx((0.8064, 1.0), abs=1e-4)


def test_no_normal_interval_leaves_the_range_its_kpi_can_take() -> None:
    """Small runs: a share of debtors stays in [0, 100] %, counts and costs above 0 (the
    plain normal interval of 1 resolved debtor in 16 went down to −5.6 %)."""
    o = _outcomes(16)
    o.outcome[:] = Outcome.LEGAL
    o.outcome[0] = Outcome.PAID
    o.complaints[:] = 0
    o.complaints[3] = 2
    o.plans_agreed[:] = 1
    o.plans_broken[:] = 0
    o.plans_broken[5] = 1
    report = compute_kpis(o)
    assert set(PROPORTION_KPIS) <= {k.name for k in report}
    for k in report:
        if k.unit == "%" or k.name in ("complaints_per_1000", "cost_per_case"):
            assert k.ci_low >= 0.0, k
        if k.name in PROPORTION_KPIS:
            assert k.ci_high <= 100.0, k
    assert 0.0 < report["resolution_rate"].ci_low < 6.25 < report["resolution_rate"].ci_high


def test_ratio_interval_covers_the_ratio_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    den = rng.uniform(50, 150, 400)
    num = den * rng.uniform(0, 1, 400)
    r, lo, hi = ratio_ci(num, den)
    assert lo < r < hi
    r4, lo4, hi4 = ratio_ci(np.tile(num, 4), np.tile(den, 4))
    assert r4 == pytest.approx(r) and (hi4 - lo4) == pytest.approx((hi - lo) / 2, rel=0.01)


def test_bootstrap_agrees_with_normal_on_large_samples() -> None:
    o = _outcomes(4000)
    normal = compute_kpis(o)
    boot = compute_kpis(o, method="bootstrap", n_boot=400, rng=np.random.default_rng(2))
    for k in normal:
        b = boot[k.name]
        assert b.mean == pytest.approx(k.mean)
        assert b.half_width == pytest.approx(k.half_width, rel=0.2, abs=1e-9)


def test_errors_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="no finished debtors"):
        compute_kpis(CaseOutcomes.empty())
    with pytest.raises(ValueError, match="'normal' or 'bootstrap'"):
        compute_kpis(_outcomes(10), method="jackknife")  # type: ignore[arg-type]
