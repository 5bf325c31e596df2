"""The case-level MIS estimator on synthetic logs with a known truth: exactly unbiased (the
expectation over the runner draw, enumerated), the formula written out, CIs covering the
truth under case + per-decision exploration, and wrong logged case propensities missing it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from engine.catalogue import CATALOGUE
from engine.experiments.case_exploration import CaseMixture, MixtureComponent
from engine.experiments.exploration import ExploringPolicy
from engine.features import N_FEATURES
from policies.base import Policy, PolicyDecisions
from policies.ope.case_importance import (
    LoggedCases,
    case_weights,
    estimate_cases,
    logged_cases,
    with_claimed_shares,
)
from policies.ope.logged import LoggedDecisions

K = 4  # treatments used: catalogue indices 0..3
STEPS = 6
# P(pay at a step | treatment, debtor type): treatment 1 suits type 0, 2 type 1, 3 late.
PAY = np.array([[0.02, 0.25, 0.05, 0.10], [0.02, 0.05, 0.30, 0.10]])


@dataclass
class RulePolicy:
    """A deterministic toy policy: ``rule(observations) → treatment``."""

    name: str
    rule: str
    version: str = "1"

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        kind, step = observations[:, 0] > 0.5, observations[:, 1]
        choice = {
            "one": np.ones(len(kind)),
            "by-type": np.where(kind, 2, 1),
            "late-three": np.where(step >= 2, 3, np.where(kind, 2, 1)),
            "two": np.full(len(kind), 2),
            "three": np.full(len(kind), 3),
        }[self.rule]
        return PolicyDecisions(choice.astype(np.int64), np.ones(len(kind)))


POLICIES: dict[str, Policy] = {
    "one": RulePolicy("one", "one"),
    "by-type": RulePolicy("by-type", "by-type"),
    "late": RulePolicy("late", "late-three"),
    "two": RulePolicy("two", "two"),
    "three": RulePolicy("three", "three"),
}


def load(spec: str) -> Policy:
    return POLICIES[spec]


@dataclass(frozen=True)
class Debtors:
    kind: np.ndarray  # (n,) 0/1
    luck: np.ndarray  # (n, STEPS) uniforms: pays at step t when luck < PAY[kind, a]
    amount: np.ndarray  # (n,)


def debtors(n: int, seed: int) -> Debtors:
    rng = np.random.default_rng(seed)
    return Debtors(
        rng.integers(0, 2, n), rng.random((n, STEPS)), rng.choice([50.0, 100.0, 400.0], n)
    )


def play(
    d: Debtors, i: int, policy: Policy, rng: np.random.Generator | None, label: str
) -> tuple[list[np.ndarray], list[int], list[float], list[float]]:
    """One case run by ``policy`` (with exploration ``label``): observations, treatments,
    propensities, rewards."""
    explorer = None
    if label.startswith("epsilon:"):
        explorer = ExploringPolicy(policy, "epsilon", epsilon=float(label.split(":")[1]))
    mask = np.zeros((1, len(CATALOGUE)), dtype=bool)
    mask[0, :K] = True
    obs, acts, props, rewards = [], [], [], []
    for t in range(STEPS):
        x = np.zeros((1, N_FEATURES), dtype=np.float32)
        x[0, 0], x[0, 1] = d.kind[i], t
        decided = (explorer or policy).act(x, mask.copy(), rng)
        a = int(decided.indices[0])
        paid = d.luck[i, t] < PAY[d.kind[i], a]
        obs.append(x[0])
        acts.append(a)
        props.append(float(decided.propensities[0]))
        rewards.append(float(d.amount[i]) if paid else 0.0)
        if paid:
            break
    return obs, acts, props, rewards


def truth(d: Debtors, policy: Policy) -> float:
    return float(np.mean([sum(play(d, i, policy, None, "none")[3]) for i in range(len(d.kind))]))


def build_log(cases: list[tuple[str, str, float, str, tuple]]) -> LoggedDecisions:  # type: ignore[type-arg]
    """``(case id, runner, case propensity, mixture JSON, play(...))`` per case."""
    cols: dict[str, list] = {k: [] for k in ("case", "a", "p", "r", "obs", "run", "q", "mix")}  # type: ignore[type-arg]
    for case_id, runner, q, mixture, (obs, acts, props, rewards) in cases:
        for x, a, p, r in zip(obs, acts, props, rewards, strict=True):
            for key, value in zip(
                ("case", "a", "p", "r", "obs", "run", "q", "mix"),
                (case_id, a, p, r, x, runner, q, mixture),
                strict=True,
            ):
                cols[key].append(value)
    n = len(cols["a"])
    allowed = np.zeros((n, len(CATALOGUE)), dtype=bool)
    allowed[:, :K] = True
    text = np.full(n, "x")
    case = np.array(cols["case"])
    return LoggedDecisions(
        decision_id=np.array([f"d{i}" for i in range(n)]),
        case_id=case,
        debtor_id=case,
        decided_at=np.arange(n).astype("datetime64[s]").astype("datetime64[us]"),
        treatment_index=np.array(cols["a"], dtype=np.int64),
        treatment_label=text,
        propensity=np.array(cols["p"]),
        policy_name=text,
        policy_version=text,
        arm=text,
        ruleset_version=text,
        experiment_id=text,
        experiment_version=text,
        exploration=np.full(n, EXPLORATION[0]),
        observation=np.array(cols["obs"], dtype=np.float32).reshape(n, N_FEATURES),
        allowed=allowed,
        reward=np.array(cols["r"]),
        case_paid=np.zeros(n),
        case_complaints=np.zeros(n, dtype=np.int64),
        case_opted_out=np.zeros(n, dtype=bool),
        case_runner=np.array(cols["run"]),
        case_propensity=np.array(cols["q"]),
        case_mixture=np.array(cols["mix"]),
    )


EXPLORATION = ["none"]  # the label build_log writes (set per test)
MIXTURE = CaseMixture(
    "one",
    (MixtureComponent("by-type", 0.1), MixtureComponent("late", 0.1), MixtureComponent("two", 0.1)),
)


def explored_log(d: Debtors, mixture: CaseMixture, seed: int, label: str) -> LoggedDecisions:
    """Each case run by a runner drawn from ``mixture`` (as the service draws it)."""
    EXPLORATION[0] = label
    rng = np.random.default_rng(seed)
    text = mixture.to_json()
    cases = []
    for i in range(len(d.kind)):
        runner = mixture.runner(float(rng.random()))
        played = play(d, i, load(runner), rng, label)
        cases.append((f"c{i:06d}", runner, mixture.share_of(runner), text, played))
    return build_log(cases)


def estimates(
    logged: LoggedDecisions, candidate: str, cases: LoggedCases | None = None
) -> dict[str, object]:
    cases = cases or logged_cases(logged, load=load)
    action = load(candidate).act(logged.observation, logged.allowed, None).indices
    w = case_weights(cases, logged, action)
    found, check = estimate_cases(w, cases.reward, n_boot=400, rng=np.random.default_rng(0))
    return {**{e.estimator: e for e in found}, "check": check}


@pytest.mark.parametrize("candidate", ["one", "by-type", "late", "two"])
def test_mis_is_exactly_unbiased_over_the_runner_draw(candidate: str) -> None:
    """For fixed debtors, E[MIS] over the draw of each case's runner = Σ_j q_j (the estimate
    had j run every case): enumerated, it is the candidate's true value to rounding."""
    d = debtors(300, seed=5)
    EXPLORATION[0] = "none"
    text = MIXTURE.to_json()
    components = MIXTURE.components()
    # Every case as each component would have run it: one log, then weighted by q_j.
    log = build_log(
        [
            (f"c{i:04d}-{j}", c.policy, c.share, text, play(d, i, load(c.policy), None, "none"))
            for i in range(len(d.kind))
            for j, c in enumerate(components)
        ]
    )
    cases = logged_cases(log, load=load)
    assert len(cases) == len(d.kind) * len(components) and cases.runner_mismatch == 0
    action = load(candidate).act(log.observation, log.allowed, None).indices
    w = case_weights(cases, log, action)
    q = np.tile([c.share for c in components], len(d.kind))
    expected = float(np.sum(q * w * cases.reward) / len(d.kind))
    assert expected == pytest.approx(truth(d, load(candidate)), rel=1e-12)
    assert float(np.sum(q * w) / len(d.kind)) == pytest.approx(1.0)  # E[w] = 1


def test_the_weight_is_the_formula_written_out() -> None:
    """w = Π 1[a_t = c(x_t)] / Σ_j q_j Π_t μ_j(a_t|x_t), μ_j ε-greedy, by hand."""
    EXPLORATION[0] = "epsilon:0.2"
    d = Debtors(np.array([1]), np.array([[0.9, 0.9, 0.01, 0.9, 0.9, 0.9]]), np.array([100.0]))
    mixture = CaseMixture("one", (MixtureComponent("by-type", 0.3),))
    # Run by by-type without deviating: treatments 2, 2, 2 (pays at step 2).
    played = play(d, 0, load("by-type"), None, "none")
    assert played[1] == [2, 2, 2] and played[3] == [0.0, 0.0, 100.0]
    log = build_log([("c0", "by-type", 0.3, mixture.to_json(), played)])
    cases = logged_cases(log, load=load)
    eps, k = 0.2, K
    mu_one = (eps / k) ** 3  # "one" serves 1; 2 only by exploring
    mu_by_type = (1 - eps + eps / k) ** 3
    density = 0.7 * mu_one + 0.3 * mu_by_type
    assert np.exp(cases.log_density[0]) == pytest.approx(density, rel=1e-12)
    for candidate, expected in (("by-type", 1 / density), ("two", 1 / density), ("one", 0.0)):
        action = load(candidate).act(log.observation, log.allowed, None).indices
        assert case_weights(cases, log, action)[0] == pytest.approx(expected, rel=1e-12)
    assert cases.reward[0] == 100.0


@pytest.mark.parametrize("label", ["none", "epsilon:0.1"])
def test_the_cis_cover_the_truth_and_wrong_case_propensities_miss_it(label: str) -> None:
    d = debtors(6000, seed=11)
    logged = explored_log(d, MIXTURE, seed=3, label=label)
    cases = logged_cases(logged, load=load)
    truths = {c: truth(d, load(c)) for c in ("one", "by-type", "late", "two")}
    for candidate, true in truths.items():
        found = estimates(logged, candidate, cases)
        for name in ("MIS", "SNMIS"):
            e = found[name]
            assert e.ci_low <= true <= e.ci_high, (candidate, name, true, e)  # type: ignore[attr-defined]
        assert found["check"].consistent, found["check"]  # type: ignore[attr-defined]
    # The logger claims an even split over the four policies (they were 0.7/0.1/0.1/0.1).
    wrong = with_claimed_shares(logged, {"one": 0.25, "by-type": 0.25, "late": 0.25, "two": 0.25})
    assert json.loads(wrong.case_mixture[0])[0] == {"policy": "one", "share": 0.25}
    wrong_cases = logged_cases(wrong, load=load)
    for candidate in ("one", "by-type", "late"):
        found = estimates(wrong, candidate, wrong_cases)
        e = found["MIS"]
        assert not (e.ci_low <= truths[candidate] <= e.ci_high), (candidate, e)  # type: ignore[attr-defined]
        assert not found["check"].consistent  # type: ignore[attr-defined]


def test_a_candidate_outside_the_pool_is_flagged_by_its_mean_weight() -> None:
    """'three' never runs a case: it gets weight only where a pool policy agrees with it on
    a whole case (never here), so its mean weight is 0, not 1."""
    d = debtors(500, seed=2)
    found = estimates(explored_log(d, MIXTURE, seed=1, label="none"), "three")
    assert found["check"].mean == 0.0 and not found["check"].consistent  # type: ignore[attr-defined]


def test_cases_whose_mixture_changed_mid_case_are_left_out_and_counted() -> None:
    d = debtors(50, seed=4)
    logged = explored_log(d, MIXTURE, seed=1, label="none")
    mixtures = logged.case_mixture.astype(object)
    first = logged.case_id == logged.case_id[0]
    mixtures[np.flatnonzero(first)[-1]] = CaseMixture(
        "one", (MixtureComponent("two", 0.5),)
    ).to_json()
    from dataclasses import replace

    changed = replace(logged, case_mixture=mixtures.astype(str))
    cases = logged_cases(changed, load=load)
    if first.sum() > 1:
        assert cases.mixed == 1 and len(cases) == 49
