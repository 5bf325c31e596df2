"""AdminService against a real server: rule reloads (good and broken edits) and status."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from engine.compliance.rule_tests import load_rule_tests
from engine.convert import datetime_to_timestamp
from engine.service import RULES_HEALTH_NAME, RunningServer, create_server
from engine.settings import REPO_ROOT, Settings
from tact.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    case_pb2,
    decision_service_pb2,
    decision_service_pb2_grpc,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CASE = json_format.Parse(
    (REPO_ROOT / "examples" / "cases" / "se-telecom-early.json").read_text(), case_pb2.Case()
)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(REPO_ROOT / "rules", target)
    return target


@pytest.fixture
def running(rules_dir: Path, tmp_path: Path) -> Iterator[RunningServer]:
    server = create_server(
        Settings(
            port=0,
            database_url=f"sqlite:///{tmp_path / 'tact.db'}",
            rules_dir=rules_dir,
            rules_watch=False,
            policy="ladder",
        )
    )
    yield server
    server.stop(0)


def _decide(channel: grpc.Channel) -> decision_service_pb2.Decision:
    stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
    return stub.Decide(
        decision_service_pb2.DecideRequest(case=CASE, now=datetime_to_timestamp(NOW), dry_run=True),
        timeout=10,
    )


def test_broken_edit_is_rejected_and_the_last_good_rules_keep_serving(
    channel: grpc.Channel, rules_dir: Path, running: RunningServer
) -> None:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    before = _decide(channel).ruleset_version
    se = rules_dir / "SE.yaml"
    good_text = se.read_text()
    se.write_text(good_text + "\n  - id: SE.broken\n    title: [unclosed\n")

    result = admin.ReloadRules(admin_service_pb2.ReloadRulesRequest(), timeout=30)
    assert not result.ok and not result.changed
    assert result.ruleset_version == before
    # The unclosed list runs to the end of the file: the YAML error is at the last line.
    [issue] = result.issues
    assert (Path(issue.file).name, issue.line, issue.column) == (
        "SE.yaml",
        good_text.count("\n") + 4,
        1,
    )
    assert issue.message == "not valid YAML: did not find expected ',' or ']'"
    assert _decide(channel).ruleset_version == before  # still deciding, on the old rules

    status = admin.GetStatus(admin_service_pb2.GetStatusRequest(), timeout=5)
    assert not status.rules.last_reload_ok and "SE.yaml" in status.rules.last_error
    assert status.rules.reload_failures == 1
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the health monitor polls every 2 s
        check = health.Check(health_pb2.HealthCheckRequest(service=RULES_HEALTH_NAME), timeout=5)
        if check.status == health_pb2.HealthCheckResponse.NOT_SERVING:
            break
        time.sleep(0.2)
    assert check.status == health_pb2.HealthCheckResponse.NOT_SERVING

    # A valid edit is swapped in and decisions carry the new version.
    se.write_text(good_text + "\n# reviewed 2026-11-26\n")
    result = admin.ReloadRules(admin_service_pb2.ReloadRulesRequest(), timeout=30)
    officer_cases = sum(len(t.tests.cases) for t in load_rule_tests(rules_dir / "tests"))
    assert result.ok and result.changed and result.tests_run == officer_cases > 90
    assert result.previous_version == before and result.ruleset_version != before
    assert _decide(channel).ruleset_version == result.ruleset_version


def test_status_counts_decisions_and_failures(channel: grpc.Channel) -> None:
    _decide(channel)
    bad = case_pb2.Case()
    bad.CopyFrom(CASE)
    bad.country = "ZZ"
    stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
    with pytest.raises(grpc.RpcError):
        stub.Decide(decision_service_pb2.DecideRequest(case=bad), timeout=10)
    status = admin_service_pb2_grpc.AdminServiceStub(channel).GetStatus(
        admin_service_pb2.GetStatusRequest(), timeout=5
    )
    assert sum(status.decisions_by_action.values()) == 1
    assert status.failures_by_code["FAILED_PRECONDITION"] == 1
    assert status.champion.name == "ladder" and status.ledger_ok
    assert status.rules.ruleset_version and status.rules.last_reload_ok


def test_cli_status_and_rules_reload(running: RunningServer) -> None:
    import json

    from typer.testing import CliRunner

    from engine.cli import app as service_app
    from engine.rules_cli import app as rules_app

    server = f"127.0.0.1:{running.port}"
    runner = CliRunner()
    status = runner.invoke(service_app, ["status", "--server", server])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["rules"]["lastReloadOk"] is True
    reload = runner.invoke(rules_app, ["reload", "--server", server])
    assert reload.exit_code == 0, reload.output
    assert json.loads(reload.stdout)["ok"] is True
