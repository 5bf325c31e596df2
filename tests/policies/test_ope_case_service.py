"""Case exploration end to end: a real server (port 0) runs an experiment whose champion
hands half of its cases to a pool; simulated debtors drive it; the case-level estimator,
from the ledger and from its Parquet export, covers the true value (the same debtors run
in-process) of the logger's own policy and of the pool's, and wrong logged case
propensities show as a miss. The full-size bar is bench/bench_ope.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from policies.evaluate import resolve_policy
from policies.ope.case_importance import with_claimed_shares
from policies.ope.logged import LoggedDecisions, load_logged, read_ledger
from policies.ope.run import OpeResult, case_explored, evaluate_candidate
from policies.ope_cli import app
from simulator.masks import compliance_masks
from simulator.rollout import simulate
from simulator.scenario_loader import load_scenario
from tests.support.serving import simulate_under_experiment

DEBTORS = 60
SEED = 1_000_000
EXPERIMENT = """\
id: case-exploration-rehearsal
champion: segmented
case_exploration: {share: 0.5, policies: [best-simple]}
"""


@dataclass(frozen=True)
class Logged:
    url: str
    logged: LoggedDecisions
    truth: dict[str, float]


@pytest.fixture(scope="module")
def explored(tmp_path_factory: pytest.TempPathFactory) -> Logged:
    url, _ = simulate_under_experiment(
        tmp_path_factory.mktemp("case-ope"), EXPERIMENT, DEBTORS, seed=SEED, run_id="case-ope"
    )
    scenario, masks = load_scenario("nordic-telecom"), compliance_masks()
    truth = {}
    for spec in ("segmented", "best-simple"):
        run = simulate(scenario, resolve_policy(spec), DEBTORS, masks, seed=SEED, log_steps=False)
        truth[spec] = float(run.outcomes.collected_minor.mean() / 100.0)
    return Logged(url, read_ledger(url), truth)


def _evaluate(logged: LoggedDecisions, spec: str) -> OpeResult:
    cases = case_explored(logged)
    assert cases is not None
    return evaluate_candidate(spec, resolve_policy(spec), logged, n_boot=400, cases=cases)


def test_every_decision_logs_its_case_runner_and_the_mixture(explored: Logged) -> None:
    logged = explored.logged
    runners = {str(r) for r in logged.case_runner}
    assert runners == {"segmented", "best-simple"}
    assert set(np.round(logged.case_propensity, 9)) == {0.5}
    starts = logged.case_starts()
    assert len(starts) == DEBTORS
    # Each case is run by one policy throughout, and the decisions name it.
    for s, e in zip(starts, [*starts[1:], len(logged)], strict=True):
        assert len(set(logged.case_runner[s:e])) == 1
        assert set(logged.policy_name[s:e]) == {resolve_policy(str(logged.case_runner[s])).name}
    cases = case_explored(logged)
    assert cases is not None and len(cases) == DEBTORS
    assert cases.mixed == cases.unexplained == cases.runner_mismatch == 0


def test_the_case_estimates_cover_the_truth_of_the_logger_and_the_pool(explored: Logged) -> None:
    for spec, true in explored.truth.items():
        result = _evaluate(explored.logged, spec)
        found = {e.estimator: e for e in result.estimates}
        for name in ("MIS", "SNMIS"):
            e = found[name]
            assert e.ci_low <= true <= e.ci_high, (spec, name, true, e)
        assert result.case_weights is not None and result.case_weights.consistent


def test_wrong_logged_case_propensities_are_reported_as_a_miss(explored: Logged) -> None:
    """The logger claims best-simple ran 10 % of the cases (it ran 50 %)."""
    wrong = with_claimed_shares(explored.logged, {"segmented": 0.9, "best-simple": 0.1})
    result = _evaluate(wrong, "best-simple")
    mis = next(e for e in result.estimates if e.estimator == "MIS")
    assert not mis.ci_low <= explored.truth["best-simple"] <= mis.ci_high, mis
    assert any("mean case weight" in w for w in result.warnings)


def test_the_export_and_tact_ope_carry_the_case_estimates(explored: Logged, tmp_path: Path) -> None:
    out = tmp_path / "decisions.parquet"
    runner = CliRunner()
    result = runner.invoke(app, ["ledger", "export", "--ledger", explored.url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    exported = load_logged(str(out))
    assert (exported.case_runner == explored.logged.case_runner).all()
    assert (exported.case_mixture == explored.logged.case_mixture).all()
    assert (exported.case_propensity == explored.logged.case_propensity).all()
    report = tmp_path / "ope.html"
    result = runner.invoke(
        app,
        [
            "ope",
            "--ledger",
            str(out),
            "--policy",
            "best-simple",
            "--boot",
            "20",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "MIS" in result.output and "SNMIS" in result.output
    assert "mean case weight" in report.read_text()
    json_out = tmp_path / "case-only.json"
    args = ["ope", "--ledger", str(out), "--policy", "best-simple", "--boot", "20"]
    result = runner.invoke(app, [*args, "--case-only", "--json", str(json_out)])
    assert result.exit_code == 0, result.output
    [only] = json.loads(json_out.read_text())
    assert {e["estimator"] for e in only["estimates"]} == {"MIS", "SNMIS"}
