"""A real server for a test (port 0, SQLite in the test's directory) and the example
cases and events it is called with."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format

from engine.auth import hash_token
from engine.service import RunningServer, create_server
from engine.settings import REPO_ROOT, Settings
from tact.v1 import case_pb2, decision_service_pb2

if TYPE_CHECKING:
    from simulator.against import AgainstResult

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def example_case(name: str = "se-telecom-early") -> case_pb2.Case:
    path = REPO_ROOT / "examples" / "cases" / f"{name}.json"
    return json_format.Parse(path.read_text(), case_pb2.Case())


def example_events(name: str = "se-1001-paid") -> decision_service_pb2.RecordEventsRequest:
    path = REPO_ROOT / "examples" / "events" / f"{name}.json"
    return json_format.Parse(path.read_text(), decision_service_pb2.RecordEventsRequest())


def write_tokens(path: Path, entries: dict[str, tuple[str, list[str]]]) -> Path:
    """A tokens file: ``{name: (token, scopes)}``, the tokens stored as their sha256."""
    lines = ["tokens:"]
    for name, (token, scopes) in entries.items():
        lines += [f"  - name: {name}", f"    sha256: {hash_token(token)}", f"    scopes: {scopes}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_settings(tmp_path: Path, **fields: Any) -> Settings:
    """Port 0, a SQLite file in ``tmp_path``, no rule watching, the ladder policy."""
    fields.setdefault("database_url", f"sqlite:///{tmp_path / 'tact.db'}")
    return Settings(port=0, rules_watch=False, policy="ladder", **fields)


test_settings.__test__ = False  # type: ignore[attr-defined]


def start(tmp_path: Path, **fields: Any) -> RunningServer:
    return create_server(test_settings(tmp_path, **fields))


def simulate_under_experiment(
    tmp_path: Path, experiment: str, debtors: int, *, seed: int, run_id: str
) -> tuple[str, AgainstResult]:
    """A server (port 0, SQLite in ``tmp_path``) running the experiment file ``experiment``,
    driven by ``debtors`` simulated debtors of nordic-telecom; its ledger URL and the run."""
    from simulator.against import simulate_against
    from simulator.masks import compliance_masks
    from simulator.scenario_loader import load_scenario

    path = tmp_path / "experiment.yaml"
    path.write_text(experiment)
    url = f"sqlite:///{tmp_path / 'tact.db'}"
    server = create_server(
        Settings(port=0, database_url=url, rules_watch=False, experiment_file=path)
    )
    try:
        played = simulate_against(
            f"127.0.0.1:{server.port}",
            load_scenario("nordic-telecom"),
            debtors,
            compliance_masks(),
            seed=seed,
            run_id=run_id,  # fixed case ids: fixed draws of arms and runners
        )
    finally:
        server.stop(0)
    return url, played
