"""`tact rules check | test | explain | schema`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.compliance import DEFAULT_RULES_DIR
from engine.rules_cli import app

runner = CliRunner()
EXAMPLES = DEFAULT_RULES_DIR.parent / "examples" / "cases"


def test_check_ok() -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "US" in result.output


def test_check_reports_file_line_column_rule_and_fix(rules_copy: Path) -> None:
    path = rules_copy / "GB.yaml"
    path.write_text(path.read_text().replace("per: day", "per: dya"))
    result = runner.invoke(app, ["check", str(rules_copy)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "GB.yaml:" in result.output and "GB.contacts.per-day" in result.output
    assert "use one of 'day', 'week' or 'month'" in result.output
    # Each problem once (not a table and then the same lines again).
    assert result.output.count("use one of 'day', 'week' or 'month'") == 1


def test_check_accepts_a_single_file_path() -> None:
    result = runner.invoke(app, ["check", str(DEFAULT_RULES_DIR / "NO.yaml")])
    assert result.exit_code == 0, result.output


def test_test_command_runs_the_officer_cases(rules_copy: Path) -> None:
    result = runner.invoke(app, ["test"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "FAIL" not in result.output
    us = rules_copy / "US.yaml"
    us.write_text(us.read_text().replace("      days: 7\n", "      days: 6\n", 1))
    failing = runner.invoke(app, ["test", str(rules_copy)], env={"COLUMNS": "200"})
    assert failing.exit_code == 1 and "FAIL" in failing.output


def test_explain_proto_json_case() -> None:
    case = EXAMPLES / "us-card-7in7.json"
    if not case.exists():  # the example set belongs to the service; plain JSON is tested below
        return
    result = runner.invoke(
        app, ["explain", "--case", str(case), "--at", "2026-11-24T10:00"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "US.calls.7-in-7" in result.output and "PHONE" in result.output


def test_explain_plain_json_case(tmp_path: Path) -> None:
    case = {
        "case_id": "c1",
        "country": "NO",
        "timezone": "Europe/Oslo",
        "days_past_due": 20,
        "consents": {"SMS": "OPTED_OUT"},
        "recent_events": [
            {
                "kind": "CONTACT_ATTEMPTED",
                "occurred_at": "2024-03-16T08:30:00Z",
                "channel": "PHONE",
                "action": "AGENT_CALL",
            }
        ],
    }
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    result = runner.invoke(
        app, ["explain", "--case", str(path), "--at", "2024-03-16T12:00"], env={"COLUMNS": "220"}
    )
    assert result.exit_code == 0, result.output
    for expected in ("Saturday", "NO.calls.per-day", "consent.opt-out", "window.calls"):
        assert expected in result.output


def test_explain_rejects_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text('{"case_id": "c", "country": "XX"}')
    result = runner.invoke(app, ["explain", "--case", str(path), "--at", "2024-03-16T12:00"])
    assert result.exit_code == 1 and "XX" in result.output
    result = runner.invoke(app, ["explain", "--case", str(path), "--at", "yesterday"])
    assert result.exit_code == 2


def test_schema_command_writes_identical_files(rules_copy: Path) -> None:
    before = (rules_copy / "schema.json").read_text()
    result = runner.invoke(app, ["schema", str(rules_copy)])
    assert result.exit_code == 0
    assert (rules_copy / "schema.json").read_text() == before
