"""Case-level multiple importance sampling: the value of running a candidate for whole
cases, from the logs of case exploration.

Under case exploration (:mod:`engine.experiments.case_exploration`) a case of an arm was
run, first decision to last, by policy ``j`` of the arm's mixture with probability
``q_j``, each policy with the experiment's per-decision exploration ``μ_j(a | x)`` (an
indicator of its choice without one). The runner is drawn independently of the debtor, so
the probability of a case's logged treatments ``a_1..a_T`` given what the debtor did is
``Σ_j q_j Π_t μ_j(a_t | x_t)`` (the debtor's own transitions are the same for every policy
and cancel). A deterministic candidate ``c`` gives the trajectory probability
``Π_t 1[a_t = c(x_t)]``; the balance-heuristic weight (Veach & Guibas 1995; for OPE with
several loggers Agarwal, Basu, Schnabel & Joachims 2017, *Effective Evaluation using
Logged Bandit Feedback from Multiple Loggers*) is

    w = Π_t 1[a_t = c(x_t)] / Σ_j q_j Π_t μ_j(a_t | x_t)

and ``E[w R] = V(c)``, ``R`` the case's total reward, whenever every trajectory ``c`` can
take has positive probability under the mixture (exact: tests/policies/test_ope_case.py
enumerates it). Reported:

* ``MIS``:   ``mean(w R)`` over the logged cases — unbiased; a wrong logged ``q`` moves it;
* ``SNMIS``: ``Σ w R / Σ w`` — self-normalised: lower variance, consistent, not unbiased,
  and blind to a wrong ``q`` shared by all of a candidate's cases;
* the mean weight with its CI: ``E[w] = 1`` for a candidate the mixture supports, so a CI
  that excludes 1 says the support is missing (a candidate outside the pool, which only
  gets weight where it agrees with a pool policy on a whole case) or the logged case
  propensities are wrong.

``μ_j`` is recomputed offline from the logged observation and mask with the policy named
in the mixture (loaded now: it must be the version that served, which is checked against
the logged treatments and propensities of the runner). The ``q_j`` are the *logged* ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.experiments.case_exploration import MixtureComponent, parse_components
from engine.experiments.exploration import ExploringPolicy
from policies.base import Policy
from policies.ope.estimators import Estimate, ess
from policies.ope.logged import LoggedDecisions

PolicyLoader = Callable[[str], Policy]
_PROPENSITY_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class LoggedCases:
    """The case-explored cases of a log, with each trajectory's logging probability."""

    rows: np.ndarray
    """Row indices (into the log) of the cases used, grouped by case."""
    starts: np.ndarray
    """Where each case begins within ``rows``."""
    reward: np.ndarray
    """Per case: its total reward (what it paid while tact decided it)."""
    log_density: np.ndarray
    """Per case: ``log Σ_j q_j Π_t μ_j(a_t | x_t)`` (finite for every case kept)."""
    runner: np.ndarray
    """Per case: the runner's policy spec, as logged."""
    mixed: int
    """Cases left out: their decisions carry different mixtures (a version with other
    shares, or a rollback, came mid-case)."""
    unexplained: int
    """Cases left out: no policy of their mixture could have made their decisions (the
    policies loaded now are not those that served, or a re-check turned a contact into a
    WAIT)."""
    runner_mismatch: int
    """Decisions whose treatment or propensity the runner, recomputed, does not give."""

    def __len__(self) -> int:
        return int(self.starts.shape[0])


def _exploring(policy: Policy, label: str) -> ExploringPolicy | None:
    """The per-decision exploration named by a logged label (``none``, ``epsilon:ε``,
    ``softmax:T``), around ``policy``; None for ``none``."""
    kind, _, value = label.partition(":")
    if kind == "epsilon":
        return ExploringPolicy(policy, "epsilon", epsilon=float(value))
    if kind == "softmax":
        return ExploringPolicy(policy, "softmax", temperature=float(value))
    if kind != "none":
        raise ValueError(f"unknown logged exploration {label!r}: expected none, epsilon:, softmax:")
    return None


def served_probability(
    policy: Policy, label: str, logged: LoggedDecisions, rows: np.ndarray, chunk: int = 4096
) -> np.ndarray:
    """``μ(a_i | x_i)``: the probability ``policy`` served with exploration ``label`` gives
    the logged treatment of each of ``rows``."""
    explorer = _exploring(policy, label)
    out = np.zeros(len(rows))
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        observations = logged.observation[part]
        masks = logged.allowed[part].copy()
        served = logged.treatment_index[part]
        if explorer is None:
            chosen = policy.act(observations, masks, None).indices
            out[start : start + chunk] = chosen == served
        else:
            probs = explorer.distribution(observations, masks)
            out[start : start + chunk] = probs[np.arange(len(part)), served]
    return out


def _rows_of(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The row indices of cases beginning at ``starts`` with ``lengths``, in order."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return (np.repeat(starts, lengths) + offsets).astype(np.int64)


def _first_rows(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def logged_cases(logged: LoggedDecisions, *, load: PolicyLoader) -> LoggedCases:
    """The cases of ``logged`` that ran under case exploration, weighed by their mixtures.

    ``load``: policy spec → policy, as the service loads them
    (``policies.registry.load_policy``)."""
    starts = logged.case_starts()
    lengths = np.diff(np.append(starts, len(logged))).astype(np.int64)
    explored = np.array([logged.case_mixture[s] != "" for s in starts], dtype=bool)
    rows_all = np.arange(len(logged))
    case_of_row = np.repeat(np.arange(len(starts)), lengths)
    differs = (logged.case_mixture != logged.case_mixture[starts][case_of_row]) | (
        logged.case_runner != logged.case_runner[starts][case_of_row]
    )
    mixed_case = np.zeros(len(starts), dtype=bool)
    mixed_case[case_of_row[rows_all[differs]]] = True
    mixed = int((explored & mixed_case).sum())
    kept = np.flatnonzero(explored & ~mixed_case)
    rows = _rows_of(starts[kept], lengths[kept])
    case_starts = _first_rows(lengths[kept])
    mixtures = [parse_components(str(logged.case_mixture[starts[k]])) for k in kept]
    specs = sorted({c.policy for mixture in mixtures for c in mixture})
    log_mu = np.zeros((len(rows), len(specs)))
    labels = logged.exploration[rows]
    runner_rows = logged.case_runner[rows]
    runner_mismatch = 0
    for j, spec in enumerate(specs):
        policy = load(spec)
        mu = np.zeros(len(rows))
        for label in np.unique(labels):
            at = np.flatnonzero(labels == label)
            mu[at] = served_probability(policy, str(label), logged, rows[at])
        with np.errstate(divide="ignore"):
            log_mu[:, j] = np.log(mu)
        # The runner must give what was served: its choice, and its logged propensity
        # where it explored (a deterministic network logs its softmax probability).
        off = (runner_rows == spec) & (
            (mu <= 0)
            | ((labels != "none") & (np.abs(mu - logged.propensity[rows]) > _PROPENSITY_TOLERANCE))
        )
        runner_mismatch += int(off.sum())
    log_q = np.full((len(kept), len(specs)), -np.inf)
    index = {spec: j for j, spec in enumerate(specs)}
    for k, mixture in enumerate(mixtures):
        for c in mixture:
            if c.share > 0:
                log_q[k, index[c.policy]] = np.log(c.share)
    if len(rows):
        log_density = _logsumexp(log_q + np.add.reduceat(log_mu, case_starts, axis=0))
        reward = np.add.reduceat(logged.reward[rows], case_starts)
    else:
        log_density, reward = np.zeros(0), np.zeros(0)
    good = np.isfinite(log_density)  # the others cannot be weighed: left out, counted
    kept = kept[good]
    return LoggedCases(
        rows=_rows_of(starts[kept], lengths[kept]),
        starts=_first_rows(lengths[kept]),
        reward=reward[good],
        log_density=log_density[good],
        runner=logged.case_runner[starts[kept]],
        mixed=mixed,
        unexplained=int((~good).sum()),
        runner_mismatch=runner_mismatch,
    )


def _logsumexp(x: np.ndarray) -> np.ndarray:
    """Row-wise ``log Σ exp``; ``-inf`` for a row of ``-inf``."""
    if x.shape[1] == 0:
        return np.full(x.shape[0], -np.inf)
    top = x.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(x - safe[:, None]).sum(axis=1))


def case_weights(cases: LoggedCases, logged: LoggedDecisions, action: np.ndarray) -> np.ndarray:
    """Per case the weight of a deterministic candidate whose choice on every logged row is
    ``action`` (length of the log): ``1 / density`` where it agrees with the whole case."""
    agree = (action[cases.rows] == logged.treatment_index[cases.rows]).astype(np.int64)
    if len(cases) == 0:
        return np.zeros(0)
    lengths = np.diff(np.append(cases.starts, len(cases.rows)))
    whole = np.add.reduceat(agree, cases.starts) == lengths
    return np.where(whole, np.exp(-cases.log_density), 0.0)


@dataclass(frozen=True, slots=True)
class WeightCheck:
    """The mean case weight, 1 in expectation for a candidate the mixture supports."""

    mean: float
    ci_low: float
    ci_high: float
    matched_cases: int
    """Cases the candidate agrees with from first decision to last."""

    @property
    def consistent(self) -> bool:
        return self.ci_low <= 1.0 <= self.ci_high


def mis(w: np.ndarray, r: np.ndarray) -> float:
    return float(np.mean(w * r)) if len(w) else float("nan")


def snmis(w: np.ndarray, r: np.ndarray) -> float:
    total = float(np.sum(w))
    return float(np.sum(w * r) / total) if total > 0 else float("nan")


def estimate_cases(
    w: np.ndarray, r: np.ndarray, *, n_boot: int, rng: np.random.Generator
) -> tuple[list[Estimate], WeightCheck]:
    """MIS and SNMIS per case with percentile-bootstrap 95 % CIs over cases, and the
    mean-weight check."""
    n = len(w)
    if n == 0:
        nan = float("nan")
        return (
            [Estimate(name, nan, nan, nan, 0.0, 0, "per case") for name in ("MIS", "SNMIS")],
            WeightCheck(nan, nan, nan, 0),
        )
    picks = rng.integers(0, n, (n_boot, n))
    wb, rb = w[picks], r[picks]
    wr = (wb * rb).sum(axis=1)
    totals = wb.sum(axis=1)
    boot = {
        "MIS": wr / n,
        "SNMIS": np.where(totals > 0, wr / np.where(totals > 0, totals, 1.0), np.nan),
    }
    values = {"MIS": mis(w, r), "SNMIS": snmis(w, r)}
    estimates = []
    for name, samples in boot.items():
        finite = samples[np.isfinite(samples)]
        low, high = np.percentile(finite, [2.5, 97.5]) if len(finite) else (np.nan, np.nan)
        estimates.append(
            Estimate(name, values[name], float(low), float(high), ess(w), n, "per case")
        )
    low, high = np.percentile(totals / n, [2.5, 97.5])
    check = WeightCheck(float(w.mean()), float(low), float(high), int((w > 0).sum()))
    return estimates, check


def with_claimed_shares(logged: LoggedDecisions, shares: dict[str, float]) -> LoggedDecisions:
    """``logged`` as if its mixtures had claimed ``shares`` (policy spec → share) for the
    policies they name: wrong logging, for showing that the estimator notices it."""
    from dataclasses import replace

    from engine.experiments.case_exploration import components_json

    mixtures = logged.case_mixture.astype(object)
    propensity = logged.case_propensity.copy()
    for text in np.unique(logged.case_mixture):
        if not text:
            continue
        claimed = tuple(
            MixtureComponent(c.policy, shares.get(c.policy, c.share))
            for c in parse_components(str(text))
        )
        at = logged.case_mixture == text
        mixtures[at] = components_json(claimed)
        by_policy = {c.policy: c.share for c in claimed}
        for i in np.flatnonzero(at):
            propensity[i] = by_policy.get(str(logged.case_runner[i]), np.nan)
    return replace(logged, case_mixture=mixtures.astype(str), case_propensity=propensity)


__all__ = [
    "LoggedCases",
    "WeightCheck",
    "case_weights",
    "estimate_cases",
    "logged_cases",
    "mis",
    "served_probability",
    "snmis",
    "with_claimed_shares",
]
