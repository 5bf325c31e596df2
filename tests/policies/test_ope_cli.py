"""Live logs to estimates: a rehearsal through a real server (exploring experiment), then
``tact ledger export`` (Parquet), ``tact ope`` (from the ledger and from the export, the
same numbers) and ``tact experiments report`` (JSON and HTML)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from policies.ope.logged import load_logged
from policies.ope_cli import app
from tests.support.serving import simulate_under_experiment

runner = CliRunner()
EXPERIMENT = """\
id: ope-rehearsal
champion: segmented
challengers:
  - {name: simple, policy: best-simple, share: 0.3}
exploration: {kind: epsilon, epsilon: 0.3}
"""


@pytest.fixture(scope="module")
def ledger_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url, played = simulate_under_experiment(
        tmp_path_factory.mktemp("ope"), EXPERIMENT, 10, seed=1_000_000, run_id="ope-fixture"
    )
    # Every payment reached the ledger: what OPE counts is what the simulator collected.
    logged = load_logged(url)
    paid = logged.case_paid[logged.case_starts()]
    collected = played.outcomes.collected_minor / 100.0
    assert np.allclose(paid, collected)  # cases sort by run prefix + serial
    return url


def test_export_holds_inputs_propensities_versions_and_outcomes(
    ledger_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "decisions.parquet"
    result = runner.invoke(app, ["ledger", "export", "--ledger", ledger_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    exported = load_logged(str(out))
    direct = load_logged(ledger_url)
    assert len(exported) == len(direct) > 100
    assert (exported.propensity == direct.propensity).all()
    assert (exported.observation == direct.observation).all()
    assert (exported.allowed == direct.allowed).all()
    assert (exported.reward == direct.reward).all() and exported.reward.sum() > 0
    assert set(exported.arm) == {"champion", "challenger:simple"}
    assert (exported.propensity < 1).any() and (exported.experiment_id == "ope-rehearsal").all()
    assert all(v for v in exported.ruleset_version) and all(v for v in exported.policy_version)
    # Every served treatment was allowed where it was served.
    assert exported.allowed[range(len(exported)), exported.treatment_index].all()


def test_ope_from_the_ledger_and_from_the_export_agree(ledger_url: str, tmp_path: Path) -> None:
    out = tmp_path / "decisions.parquet"
    runner.invoke(app, ["ledger", "export", "--ledger", ledger_url, "--out", str(out)])
    answers = []
    for source in (ledger_url, str(out)):
        json_out = tmp_path / "ope.json"
        report = tmp_path / "ope.html"
        result = runner.invoke(
            app,
            [
                "ope",
                "--ledger",
                source,
                "--policy",
                "segmented",
                "--policy",
                "ladder",
                "--json",
                str(json_out),
                "--report",
                str(report),
                "--boot",
                "20",
            ],
        )
        assert result.exit_code == 0, result.output
        answers.append(json.loads(json_out.read_text()))
        assert "<svg" in report.read_text()
    assert answers[0] == answers[1]
    [segmented, ladder] = answers[0]
    assert {e["estimator"] for e in segmented["estimates"]} == {"IPS", "SNIPS", "DR", "PDWIS"}
    # The ladder rarely does what segmented logged: the thin support is called out.
    assert any("thin support" in w for w in ladder["warnings"])


def test_case_only_without_case_exploration_says_what_is_needed(ledger_url: str) -> None:
    result = runner.invoke(
        app, ["ope", "--ledger", ledger_url, "--policy", "ladder", "--case-only"]
    )
    assert result.exit_code == 2
    assert "case_exploration" in result.output


def test_ope_without_logs_says_what_is_needed(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["ope", "--ledger", str(tmp_path / "missing.parquet"), "--policy", "ladder"]
    )
    assert result.exit_code == 2 and "neither a database URL" in result.output


def test_experiment_report(ledger_url: str, tmp_path: Path) -> None:
    html_out = tmp_path / "report.html"
    json_out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "experiments",
            "report",
            "--ledger",
            ledger_url,
            "--experiment",
            "ope-rehearsal",
            "--json",
            str(json_out),
            "--report",  # --html, its older name, still works
            str(html_out),
            "--boot",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(json_out.read_text())
    assert set(report["arms"]) == {"champion", "challenger:simple"}
    assert sum(a["debtors"] for a in report["arms"].values()) == 10
    assert report["srm"] is not None and "challenger:simple" in report["ope"]
    assert {g["guardrail"] for g in report["guardrails"]} >= {"complaint_rate", "payment_rate"}
    assert "<svg" in html_out.read_text()
