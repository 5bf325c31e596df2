"""Off-policy estimators, with case-bootstrap 95 % CIs and effective sample sizes.

Notation (one row per logged decision ``i``): context ``x_i`` (observation and mask),
served treatment ``a_i`` with logging probability ``μ_i``, reward ``r_i``; the candidate
gives ``a_i`` probability ``π_i = π(a_i | x_i)``; importance weight ``w_i = π_i / μ_i``.
The formulas are those of Open Bandit Pipeline (``obp.ope``):

* IPS:   ``V = mean(w r)``
* SNIPS: ``V = Σ w r / Σ w``
* DR:    ``V = mean(q̂(x, π) + w (r − q̂(x, a)))`` with ``q̂`` a ridge regression of the
  reward on the observation and the treatment (cross-fitted over two halves of the cases);

each the value *per decision* of one step of the candidate from the logged states (a
one-step deviation: the bandit view). For the sequential case, the **per-decision
weighted importance sampling** estimator (Precup, Sutton & Singh 2000; Thomas 2015) gives
the value *per case* of running the candidate throughout: with ``ρ_{c,t} = Π_{k≤t} w_{c,k}``
over case ``c``'s decisions, ``V = Σ_t Σ_c ρ_{c,t} r_{c,t} / Σ_c ρ_{c,t}`` (a finished
case keeps its last ``ρ`` with reward 0).

CIs: percentile bootstrap over *cases* (a case's decisions are dependent), 95 %.
ESS: ``(Σ w)² / Σ w²`` (for PDWIS, of the final per-case ``ρ``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.catalogue import CATALOGUE
from policies.ope.logged import LoggedDecisions


@dataclass(frozen=True, slots=True)
class Estimate:
    estimator: str
    value: float
    ci_low: float
    ci_high: float
    ess: float
    n: int
    unit: str
    """``per decision`` or ``per case``."""


def ips(w: np.ndarray, r: np.ndarray) -> float:
    return float(np.mean(w * r)) if len(w) else float("nan")


def snips(w: np.ndarray, r: np.ndarray) -> float:
    total = float(np.sum(w))
    return float(np.sum(w * r) / total) if total > 0 else float("nan")


def dr(w: np.ndarray, r: np.ndarray, q_logged: np.ndarray, q_candidate: np.ndarray) -> float:
    return float(np.mean(q_candidate + w * (r - q_logged))) if len(w) else float("nan")


def ess(w: np.ndarray) -> float:
    squares = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / squares if squares > 0 else 0.0


def pdwis(w: np.ndarray, r: np.ndarray, starts: np.ndarray) -> tuple[float, np.ndarray]:
    """(value per case, final ρ per case) for rows grouped by case from ``starts``."""
    n_cases = len(starts)
    if n_cases == 0:
        return float("nan"), np.zeros(0)
    lengths = np.diff(np.append(starts, len(w)))
    horizon = int(lengths.max())
    case = np.repeat(np.arange(n_cases), lengths)
    step = np.arange(len(w)) - np.repeat(starts, lengths)
    weights = np.ones((n_cases, horizon))  # a finished case keeps its last ρ
    weights[case, step] = w
    rewards = np.zeros((n_cases, horizon))
    rewards[case, step] = r
    rho = np.cumprod(weights, axis=1)
    totals = rho.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_step = np.where(totals > 0, (rho * rewards).sum(axis=0) / totals, 0.0)
    return float(per_step.sum()), rho[:, -1]


def _design(observation: np.ndarray, action: np.ndarray) -> np.ndarray:
    onehot = np.zeros((len(action), len(CATALOGUE)))
    onehot[np.arange(len(action)), action] = 1.0
    return np.hstack([observation.astype(np.float64), onehot, np.ones((len(action), 1))])


def fit_reward_model(
    observation: np.ndarray, action: np.ndarray, reward: np.ndarray, ridge: float = 1.0
) -> np.ndarray:
    x = _design(observation, action)
    return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ reward)


def predict_reward(coef: np.ndarray, observation: np.ndarray, action: np.ndarray) -> np.ndarray:
    return _design(observation, action) @ coef


def cross_fitted_q(
    logged: LoggedDecisions, candidate_action: np.ndarray, case_fold: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(q̂(x, a_logged), q̂(x, a_candidate)) per row, each predicted by the model fitted on
    the other fold's cases."""
    q_logged = np.zeros(len(logged))
    q_candidate = np.zeros(len(logged))
    for fold in (0, 1):
        train, test = case_fold != fold, case_fold == fold
        if not train.any() or not test.any():
            train = test = np.ones(len(logged), dtype=bool)
        coef = fit_reward_model(
            logged.observation[train], logged.treatment_index[train], logged.reward[train]
        )
        q_logged[test] = predict_reward(
            coef, logged.observation[test], logged.treatment_index[test]
        )
        q_candidate[test] = predict_reward(coef, logged.observation[test], candidate_action[test])
    return q_logged, q_candidate


Statistic = Callable[[np.ndarray], float]
"""Given the rows of a bootstrap sample (row indices), the estimate."""


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    starts: np.ndarray,
    n_rows: int,
    *,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile 95 % CI of ``statistic(rows, case_starts)`` over cases drawn with
    replacement (``rows``: the sample's row indices, grouped by case)."""
    lengths = np.diff(np.append(starts, n_rows))
    values = []
    for _ in range(n_boot):
        cases = rng.integers(0, len(starts), len(starts))
        picked = lengths[cases]
        new_starts = np.concatenate([[0], np.cumsum(picked)[:-1]]).astype(np.int64)
        offsets = np.arange(int(picked.sum())) - np.repeat(new_starts, picked)
        rows = np.repeat(starts[cases], picked) + offsets
        values.append(statistic(rows, new_starts))
    finite = np.asarray([v for v in values if np.isfinite(v)])
    if len(finite) == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def estimate_all(
    logged: LoggedDecisions,
    candidate_probability: np.ndarray,
    candidate_action: np.ndarray,
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> list[Estimate]:
    """IPS, SNIPS, DR (per decision) and PDWIS (per case) of a candidate whose probability
    of each logged treatment is ``candidate_probability`` and whose own choice is
    ``candidate_action`` (for the reward model's ``q̂(x, π)``; a deterministic candidate)."""
    rng = np.random.default_rng(seed)
    starts = logged.case_starts()
    case_of_row = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(logged))))
    fold = rng.integers(0, 2, len(starts))[case_of_row] if len(starts) else np.zeros(0, int)
    w = candidate_probability / logged.propensity
    r = logged.reward
    q_logged, q_candidate = cross_fitted_q(logged, candidate_action, fold)
    n = len(logged)
    estimates = []
    per_decision: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "IPS": lambda rows, _s: ips(w[rows], r[rows]),
        "SNIPS": lambda rows, _s: snips(w[rows], r[rows]),
        "DR": lambda rows, _s: dr(w[rows], r[rows], q_logged[rows], q_candidate[rows]),
    }
    for name, statistic in per_decision.items():
        value = statistic(np.arange(n), starts)
        low, high = bootstrap_ci(statistic, starts, n, n_boot=n_boot, rng=rng)
        estimates.append(Estimate(name, value, low, high, ess(w), n, "per decision"))
    value, final_rho = pdwis(w, r, starts)
    low, high = bootstrap_ci(
        lambda rows, s: pdwis(w[rows], r[rows], s)[0], starts, n, n_boot=n_boot, rng=rng
    )
    estimates.append(Estimate("PDWIS", value, low, high, ess(final_rho), len(starts), "per case"))
    return estimates


__all__ = [
    "Estimate",
    "bootstrap_ci",
    "dr",
    "ess",
    "estimate_all",
    "fit_reward_model",
    "ips",
    "pdwis",
    "predict_reward",
    "snips",
]
