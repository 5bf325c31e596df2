"""Experiment parts without a server: the file's errors, exploration's propensities,
sticky assignment, the sequential tests."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from engine.catalogue import CATALOGUE
from engine.experiments.errors import ExperimentFileError
from engine.experiments.exploration import ExploringPolicy
from engine.experiments.runtime import assignment_bucket, build_runtime, challenger_arm
from engine.experiments.sequential import msprt_harm, srm_check
from engine.experiments.spec import parse_experiment, version_of
from engine.features import N_FEATURES
from policies.registry import load_policy

GOOD = """\
id: exp-1
champion: ladder
challengers:
  - {name: seg, policy: segmented, share: 0.25}
shadows:
  - {name: rnd, policy: random}
exploration: {kind: epsilon, epsilon: 0.1}
"""


def test_a_valid_file_parses_and_its_version_is_its_text() -> None:
    spec, _ = parse_experiment(GOOD, Path("e.yaml"))
    assert spec.id == "exp-1" and spec.challenger_shares == {"seg": 0.25}
    assert version_of(GOOD) != version_of(GOOD + "\n")


def test_every_problem_is_located_by_line_and_column() -> None:
    text = """\
id: exp-1
champion: ladder
challengers:
  - {name: a, policy: segmented, share: 1.5}
  - name: b
    policy: ladder
    sharee: 0.1
exploration: {kind: softmx}
"""
    with pytest.raises(ExperimentFileError) as caught:
        parse_experiment(text, Path("e.yaml"))
    where = {(i.field, i.line) for i in caught.value.issues}
    assert ("challengers.0.share", 4) in where
    assert ("challengers.1.sharee", 7) in where
    assert ("challengers.1.share", 5) in where
    assert ("exploration.kind", 8) in where
    assert "e.yaml:7:5" in str(caught.value)


def test_shares_over_one_and_bad_yaml_are_rejected() -> None:
    over = GOOD.replace("share: 0.25", "share: 0.75").replace(
        "shadows:", "  - {name: more, policy: ladder, share: 0.5}\nshadows:"
    )
    with pytest.raises(ExperimentFileError, match=r"add up to 1\.25"):
        parse_experiment(over, Path("e.yaml"))
    with pytest.raises(ExperimentFileError, match=r"e.yaml:3:1: not valid YAML"):
        parse_experiment("id: x\nchampion: [\n", Path("e.yaml"))


CASE_EXPLORED = (
    GOOD
    + """\
case_exploration:
  share: 0.3
  policies: [segmented, best-simple, {policy: "rl:default", share: 0.2}]
"""
)


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        (GOOD.replace("policy: segmented", "policy: no-such-policy"), "challengers.0.policy", 4),
        (
            CASE_EXPLORED.replace("best-simple", "no-such-policy"),
            "case_exploration.policies.1.policy",
            10,
        ),
    ],
)
def test_a_policy_that_does_not_load_is_located_at_its_field(
    text: str, field: str, line: int
) -> None:
    spec, root = parse_experiment(text, Path("e.yaml"))
    with pytest.raises(ExperimentFileError) as caught:
        build_runtime(
            spec, text=text, version="v", file=Path("e.yaml"), root=root, load=load_policy
        )
    [issue] = caught.value.issues
    assert (issue.field, issue.line) == (field, line)
    assert "no-such-policy" in issue.message


def test_a_harmful_policy_may_challenge_but_never_be_the_champion() -> None:
    challenging = GOOD.replace("policy: segmented", "policy: daily-calls")
    spec, root = parse_experiment(challenging, Path("e.yaml"))
    runtime = build_runtime(
        spec, text=challenging, version="v", file=Path("e.yaml"), root=root, load=load_policy
    )
    assert "daily-calls" in runtime.arms["challenger:seg"].policy.name
    leading = GOOD.replace("champion: ladder", "champion: daily-calls")
    spec, root = parse_experiment(leading, Path("e.yaml"))
    with pytest.raises(ExperimentFileError) as caught:
        build_runtime(
            spec, text=leading, version="v", file=Path("e.yaml"), root=root, load=load_policy
        )
    [issue] = caught.value.issues
    assert (issue.field, issue.line) == ("champion", 2)
    assert "deliberately harmful" in issue.message


def test_case_exploration_splits_its_share_and_locates_its_problems() -> None:
    spec, _ = parse_experiment(CASE_EXPLORED, Path("e.yaml"))
    assert spec.case_exploration is not None
    shares = dict(spec.case_exploration.pool_shares())
    assert shares == pytest.approx({"segmented": 0.05, "best-simple": 0.05, "rl:default": 0.2})
    bad = (
        GOOD
        + """\
case_exploration:
  share: 1.0
  policies:
    - ladder
    - {policy: segmented, sharee: 0.1}
"""
    )
    with pytest.raises(ExperimentFileError) as caught:
        parse_experiment(bad, Path("e.yaml"))
    where = {(i.field, i.line) for i in caught.value.issues}
    assert ("case_exploration.share", 9) in where
    assert ("case_exploration.policies.1.sharee", 12) in where
    for pool, message in (
        ("{share: 0.3, policies: [ladder, ladder]}", "once"),
        ("{share: 0.3, policies: [{policy: ladder, share: 0.1}]}", "not share 0.3"),
        ("{share: 0.2, policies: [{policy: ladder, share: 0.2}, segmented]}", "leaving nothing"),
        ("{policies: [ladder]}", "give case_exploration a share"),
        ("{share: 0.2, policies: [random]}", "'random' cannot be in the pool"),
    ):
        with pytest.raises(ExperimentFileError, match=message) as caught:
            parse_experiment(GOOD + f"case_exploration: {pool}\n", Path("e.yaml"))
        assert caught.value.issues[0].field == "case_exploration"


def test_case_runners_are_drawn_per_case_sticky_and_in_their_shares() -> None:
    spec, root = parse_experiment(CASE_EXPLORED, Path("e.yaml"))
    runtime = build_runtime(
        spec, text=CASE_EXPLORED, version="v", file=Path("e.yaml"), root=root, load=load_policy
    )
    runners = [runtime.case_runner("champion", f"case-{i}") for i in range(20_000)]
    counts = {
        p: sum(r.policy == p for r in runners if r) / len(runners) for p in shares_of(runtime)
    }
    # ladder (the champion) keeps 0.7; segmented, best-simple 0.05 each; rl:default 0.2.
    assert counts["ladder"] == pytest.approx(0.7, abs=0.01)
    assert counts["rl:default"] == pytest.approx(0.2, abs=0.01)
    assert counts["segmented"] == pytest.approx(0.05, abs=0.005)
    runner = runners[7]
    assert runner is not None and runtime.case_runner("champion", "case-7") == runner
    assert runner.propensity == pytest.approx(dict(shares_of(runtime))[runner.policy])
    # The challenger's mixture has its own policy (segmented, also in the pool: 0.75).
    challenger = runtime.mixtures[challenger_arm("seg")]
    assert challenger.share_of("segmented") == pytest.approx(0.75)
    # The case's runner serves it, in whichever arm its debtor is (same policy objects).
    served = {id(runtime.serving_arm("debtor-1", f"case-{i}").policy) for i in range(200)}
    assert len(served) == 4
    arm = runtime.serving_arm("debtor-1", "case-7")
    assert arm.name == runtime.arm_for("debtor-1").name


def shares_of(runtime: object) -> dict[str, float]:
    mixture = runtime.mixtures["champion"]  # type: ignore[attr-defined]
    return {c.policy: c.share for c in mixture.components()}


def _masks(rng: np.random.Generator, n: int) -> np.ndarray:
    masks = rng.random((n, len(CATALOGUE))) < 0.2
    masks[:, CATALOGUE.WAIT_INDEX] = True
    return masks


@pytest.mark.parametrize(
    ("kind", "policy"), [("epsilon", "segmented"), ("softmax", "segmented"), ("softmax", "default")]
)
def test_exploration_draws_only_allowed_steps_with_their_exact_probability(
    kind: str, policy: str
) -> None:
    rng = np.random.default_rng(3)
    explorer = ExploringPolicy(load_policy(policy), kind, epsilon=0.3, temperature=0.7)  # type: ignore[arg-type]
    observations = np.random.default_rng(1).random((4, N_FEATURES)).astype(np.float32)
    masks = _masks(rng, 4)
    probs = explorer.distribution(observations, masks)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs[~masks] == 0).all()
    draws = 20_000
    rows = np.repeat(np.arange(4), draws // 4)
    decided = explorer.act(observations[rows], masks[rows], rng)
    assert masks[rows, decided.indices].all()
    assert np.allclose(decided.propensities, probs[rows, decided.indices])
    for r in range(4):
        counts = np.bincount(decided.indices[rows == r], minlength=len(CATALOGUE))
        freq = counts / counts.sum()
        # Every frequency within 5 standard errors of its probability.
        se = np.sqrt(probs[r] * (1 - probs[r]) / counts.sum()) + 1e-9
        assert (np.abs(freq - probs[r]) <= 5 * se + 1e-3).all()


def test_assignment_is_per_debtor_and_independent_between_experiments() -> None:
    buckets = np.array([assignment_bucket("e1", f"d{i}") for i in range(20_000)])
    assert abs((buckets < 0.1).mean() - 0.1) < 0.01
    other = np.array([assignment_bucket("e2", f"d{i}") for i in range(20_000)])
    assert abs(np.corrcoef(buckets, other)[0, 1]) < 0.03
    assert assignment_bucket("e1", "d7") == assignment_bucket("e1", "d7")


def test_msprt_rejects_real_harm_and_rarely_a_null_watched_continuously() -> None:
    rng = np.random.default_rng(0)
    false_alarms = 0
    runs = 200
    for _ in range(runs):
        champ = rng.random(3000) < 0.05
        chall = rng.random(3000) < 0.05
        for n in range(100, 3001, 100):  # checked 30 times
            result = msprt_harm(
                (int(chall[: n // 9].sum()), int(champ[:n].sum())),
                (n // 9, n),
                margin=0.0,
                alpha=0.05,
                tau=0.1,
            )
            if result.crossed:
                false_alarms += 1
                break
    assert false_alarms / runs <= 0.05
    harm = msprt_harm((40, 50), (200, 1000), margin=0.01, alpha=0.05, tau=0.1)
    assert harm.crossed and harm.statistic >= harm.threshold


def test_srm_threshold_shrinks_with_each_check() -> None:
    fine = srm_check([100, 900], [0.1, 0.9], alpha=0.001, check=1)
    assert not fine.alarm and fine.threshold == pytest.approx(0.0005)
    skewed = srm_check([200, 800], [0.1, 0.9], alpha=0.001, check=10)
    assert skewed.alarm and skewed.threshold == pytest.approx(0.001 / 110)


def test_the_shipped_example_and_the_guides_file_load_with_every_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """examples/experiments/ppo-vs-champion.yaml (the file docs/experiments.md shows) parses
    and builds without a warning: every policy it names loads, the shares are its own."""
    from engine.settings import REPO_ROOT

    path = REPO_ROOT / "examples" / "experiments" / "ppo-vs-champion.yaml"
    text = path.read_text()
    assert text in (REPO_ROOT / "docs" / "experiments.md").read_text()
    spec, root = parse_experiment(text, path)
    runtime = build_runtime(
        spec, text=text, version=version_of(text), file=path, root=root, load=load_policy
    )
    assert spec.challenger_shares == {"ppo": 0.10, "expert": 0.05}
    assert sorted(runtime.arms) == sorted(
        ["champion", *(challenger_arm(n) for n in ("ppo", "expert"))]
    )
    assert sorted(runtime.mixtures) == sorted(runtime.arms)
    assert runtime.mixtures["champion"].share_of("ladder") == pytest.approx(0.05)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
