"""The service commands of the `tact` CLI against a real server on port 0."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.service import RunningServer, create_server
from engine.settings import Settings

EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("cli") / "tact.db"
    running: RunningServer = create_server(
        Settings(port=0, database_url=f"sqlite:///{db}", rules_watch=False, policy="ladder")
    )
    yield f"127.0.0.1:{running.port}"
    running.stop(0)


def test_decide_prints_decision_json(server: str) -> None:
    result = runner.invoke(
        app,
        [
            "decide",
            "--case",
            str(EXAMPLES / "cases" / "se-telecom-early.json"),
            "--at",
            "2026-11-26T10:00:00+01:00",
            "--server",
            server,
        ],
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert decision["caseId"] == "se-1001" and decision["decisionId"]
    assert decision["rulesetVersion"] and decision["explanation"]
    assert "sendAt" in decision or "nextReviewAt" in decision


def test_check_reports_blocking_rules(server: str) -> None:
    result = runner.invoke(
        app,
        [
            "check",
            "--case",
            str(EXAMPLES / "cases" / "us-card-7in7.json"),
            "--action",
            "AGENT_CALL",
            "--channel",
            "PHONE",
            "--at",
            "2026-11-24T10:00:00-06:00",
            "--server",
            server,
        ],
    )
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)
    assert check.get("allowed", False) is False
    assert [v["ruleId"] for v in check["violations"]] == ["US.calls.7-in-7"]
    assert check["nextAllowedAt"] == "2026-11-27T14:00:00Z"  # day 8, 08:00 in Chicago


def test_events_are_recorded_once(server: str) -> None:
    args = ["events", "--file", str(EXAMPLES / "events" / "se-1001-paid.json"), "--server", server]
    first = runner.invoke(app, args)
    second = runner.invoke(app, args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert json.loads(first.stdout).get("stored") == 3
    assert json.loads(second.stdout).get("duplicates") == 3


def test_bad_case_file_is_a_clear_error(tmp_path: Path, server: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"caseId": "x", "country": "sweden", "daysPastDue": -1}')
    result = runner.invoke(app, ["decide", "--case", str(bad), "--server", server])
    assert result.exit_code == 2
    assert "INVALID_ARGUMENT" in result.output and "case.country" in result.output


def test_unreachable_server_says_how_to_start_it(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "decide",
            "--case",
            str(EXAMPLES / "cases" / "se-telecom-early.json"),
            "--server",
            "127.0.0.1:1",
        ],
    )
    assert result.exit_code == 2
    assert "make serve" in result.output


def test_readme_configuration_table_lists_every_setting() -> None:
    from engine.settings import Settings

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [
        f"TACT_{name.upper()}"
        for name in Settings.model_fields
        if f"| `TACT_{name.upper()}` |" not in readme
    ]
    assert not missing, f"README configuration table lacks {missing}"
