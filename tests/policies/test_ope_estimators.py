"""OPE estimators on a logged bandit with a known truth; obp's formulas as the reference;
wrong logged propensities must show as a miss."""

from __future__ import annotations

import numpy as np
import pytest

from engine.catalogue import CATALOGUE
from engine.features import N_FEATURES
from policies.ope.estimators import estimate_all, pdwis
from policies.ope.logged import LoggedDecisions

K = 4  # treatments used: catalogue indices 0..3
EPSILON = 0.3


def _logged(
    n_cases: int, steps: int, seed: int, *, wrong_propensities: bool = False
) -> tuple[LoggedDecisions, np.ndarray, float]:
    """ε-greedy logging of a 'always 0' logger; reward ~ Bernoulli(mean[context, action]).
    Returns (logged, candidate action per row, true per-decision value of the candidate
    'always action 2')."""
    rng = np.random.default_rng(seed)
    n = n_cases * steps
    context = rng.integers(0, 2, n)
    means = np.array([[0.2, 0.1, 0.5, 0.3], [0.4, 0.2, 0.6, 0.1]])
    greedy = np.zeros(n, dtype=np.int64)
    explore = rng.random(n) < EPSILON
    action = np.where(explore, rng.integers(0, K, n), greedy)
    propensity = np.where(action == greedy, 1 - EPSILON + EPSILON / K, EPSILON / K)
    if wrong_propensities:  # e.g. the logger recorded its greedy probability for everything
        propensity = np.full(n, 1 - EPSILON + EPSILON / K)
    reward = (rng.random(n) < means[context, action]).astype(np.float64)
    observation = np.zeros((n, N_FEATURES), dtype=np.float32)
    observation[:, 0] = context
    allowed = np.zeros((n, len(CATALOGUE)), dtype=bool)
    allowed[:, :K] = True
    ids = np.array([f"c{i // steps:05d}" for i in range(n)])
    s = np.full(n, "x")
    logged = LoggedDecisions(
        decision_id=np.array([f"d{i}" for i in range(n)]),
        case_id=ids,
        debtor_id=ids,
        decided_at=np.arange(n).astype("datetime64[s]").astype("datetime64[us]"),
        treatment_index=action.astype(np.int64),
        treatment_label=s,
        propensity=propensity,
        policy_name=s,
        policy_version=s,
        arm=s,
        ruleset_version=s,
        experiment_id=s,
        experiment_version=s,
        exploration=s,
        observation=observation,
        allowed=allowed,
        reward=reward,
        case_paid=np.zeros(n),
        case_complaints=np.zeros(n, dtype=np.int64),
        case_opted_out=np.zeros(n, dtype=bool),
        case_runner=np.full(n, ""),
        case_propensity=np.full(n, np.nan),
        case_mixture=np.full(n, ""),
    )
    truth = float(means[:, 2].mean())  # contexts are equally likely
    return logged, np.full(n, 2, dtype=np.int64), truth


def _by_name(logged: LoggedDecisions, candidate: np.ndarray) -> dict[str, object]:
    probability = (candidate == logged.treatment_index).astype(np.float64)
    return {e.estimator: e for e in estimate_all(logged, probability, candidate, n_boot=200)}


def test_every_per_decision_estimator_covers_the_truth() -> None:
    logged, candidate, truth = _logged(400, 10, seed=1)
    for name in ("IPS", "SNIPS", "DR"):
        e = _by_name(logged, candidate)[name]
        assert e.ci_low <= truth <= e.ci_high, (name, e)  # type: ignore[attr-defined]
        assert 0 < e.ess < len(logged)  # type: ignore[attr-defined]


def test_wrong_logged_propensities_are_reported_as_a_miss() -> None:
    logged, candidate, truth = _logged(400, 10, seed=1, wrong_propensities=True)
    e = _by_name(logged, candidate)["IPS"]
    assert not (e.ci_low <= truth <= e.ci_high), e  # type: ignore[attr-defined]


def test_the_formulas_are_obps() -> None:
    """obp.ope: InverseProbabilityWeighting, SelfNormalizedInverseProbabilityWeighting,
    DoublyRobust — their estimate_policy_value, written out from obp 0.5's source."""
    logged, candidate, _ = _logged(50, 4, seed=2)
    probability = (candidate == logged.treatment_index).astype(np.float64)
    iw = probability / logged.propensity
    r = logged.reward
    estimates = {e.estimator: e for e in estimate_all(logged, probability, candidate, n_boot=20)}
    assert estimates["IPS"].value == pytest.approx((r * iw).mean())
    assert estimates["SNIPS"].value == pytest.approx((r * iw / iw.mean()).mean())
    # DR with q̂ = 0 is IPS; with the fitted q̂ it is q̂(x,π) + iw (r − q̂(x,a)) on average.
    from policies.ope.estimators import dr

    assert dr(iw, r, np.zeros_like(r), np.zeros_like(r)) == pytest.approx((r * iw).mean())


def test_pdwis_of_the_logger_itself_is_its_value_per_case() -> None:
    rng = np.random.default_rng(0)
    r = rng.random(30)
    starts = np.array([0, 10, 25])
    value, rho = pdwis(np.ones(30), r, starts)
    per_case = [r[0:10].sum(), r[10:25].sum(), r[25:30].sum()]
    assert value == pytest.approx(np.mean(per_case)) and (rho == 1).all()
