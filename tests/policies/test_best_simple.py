"""``best-simple``: the shipped search artifact, through the registry and a real gRPC server."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from engine.catalogue import CATALOGUE
from engine.errors import PolicyLoadError
from engine.service import create_server
from engine.settings import Settings
from policies import best_simple
from policies.best_simple import BEST_SIMPLE_DIR, BestSimplePolicy, read_artifact
from policies.registry import available_policies, load_policy
from policies.simple import SIMPLE_GRID, SimpleStrategy
from policies.train_config import EVAL_SEED_OFFSET
from tests.support.decide_examples import EXAMPLES, decide, load_case


def test_the_shipped_artifact_is_a_grid_search_on_training_debtors() -> None:
    artifact = read_artifact("nordic-telecom")
    assert artifact.scenario == "nordic-telecom" and artifact.grid == "SIMPLE_GRID"
    assert artifact.members == len(SIMPLE_GRID)
    assert SimpleStrategy.parse(artifact.winner) in SIMPLE_GRID
    assert [len(s.rows) for s in artifact.stages] == [420, 105, 4]
    assert all(0 <= s.seed < EVAL_SEED_OFFSET for s in artifact.stages)
    assert artifact.stages[-1].rows[0].member == artifact.winner
    assert artifact.command.startswith("tact search-simple --scenario nordic-telecom --seed ")


def test_best_simple_loads_through_the_registry() -> None:
    assert "best-simple[:<scenario>]" in available_policies()
    assert "simple:<spec>" in available_policies()
    policy = load_policy("best-simple")
    assert isinstance(policy, BestSimplePolicy) and policy.name == "best-simple"
    assert policy.strategy == SimpleStrategy.parse(read_artifact("nordic-telecom").winner)
    same = load_policy("best-simple:nordic-telecom")
    assert same.version == policy.version and same.name == "best-simple"


def test_a_missing_or_bad_artifact_says_how_to_make_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(best_simple, "BEST_SIMPLE_DIR", tmp_path)
    with pytest.raises(PolicyLoadError, match="tact search-simple --scenario nordic-telecom"):
        load_policy("best-simple")
    with pytest.raises(PolicyLoadError, match="tact search-simple --scenario consumer-credit"):
        load_policy("best-simple:consumer-credit")
    with pytest.raises(PolicyLoadError, match="name a shipped scenario"):
        load_policy("best-simple:../default")
    (tmp_path / "nordic-telecom.json").write_text('{"winner": "PLAN_6/EMPATHETIC/SMS"}')
    with pytest.raises(PolicyLoadError, match="malformed"):
        load_policy("best-simple")
    shipped = (BEST_SIMPLE_DIR / "nordic-telecom.json").read_text()
    (tmp_path / "consumer-credit.json").write_text(shipped)
    with pytest.raises(PolicyLoadError, match="holds the search for scenario 'nordic-telecom'"):
        load_policy("best-simple:consumer-credit")


def test_the_service_serves_best_simple(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """TACT_POLICY=best-simple: the server starts, decides, and names the policy and member."""
    monkeypatch.setenv("TACT_POLICY", "best-simple")
    settings = Settings(port=0, database_url=database_url, rules_watch=False)
    assert settings.policy == "best-simple"
    winner = SimpleStrategy.parse(read_artifact("nordic-telecom").winner)
    server = create_server(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            from tact.v1 import decision_service_pb2_grpc

            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            contacted = 0
            for path in EXAMPLES:
                decision = decide(stub, load_case(path))
                assert decision.policy.name == "best-simple"
                assert decision.policy.version.startswith(winner.spec + "+")
                assert decision.policy.propensity == 1.0
                index = decision.treatment.catalogue_index
                if index != CATALOGUE.WAIT_INDEX:  # one of the winner's own treatments
                    contacted += 1
                    assert index in winner.preferences(), CATALOGUE[index].label
            assert contacted > 0  # the examples include cases it may contact now
    finally:
        server.stop(0)


def test_evaluate_warns_when_best_simple_was_searched_on_another_scenario_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from policies.cli import app

    shipped = read_artifact("nordic-telecom")
    monkeypatch.setattr(best_simple, "BEST_SIMPLE_DIR", tmp_path)
    args = ["evaluate", "--policies", "best-simple", "--debtors", "8", "--audit-contacts", "1"]
    shipped.write(tmp_path / "nordic-telecom.json")
    quiet = CliRunner().invoke(app, args)
    assert quiet.exit_code == 0, quiet.output
    assert "searched" not in quiet.output  # the shipped search matches the shipped scenario
    shipped.model_copy(update={"scenario_hash": "0" * 16}).write(tmp_path / "nordic-telecom.json")
    stale = CliRunner().invoke(app, args)
    assert stale.exit_code == 0, stale.output
    said = " ".join(stale.output.split())  # rich wraps lines at the terminal width
    assert "was searched before scenario 'nordic-telecom' last changed" in said
    assert "tact search-simple --scenario nordic-telecom --seed 0" in said
    other = CliRunner().invoke(app, [*args, "--scenario", "consumer-credit"])
    said = " ".join(other.output.split())
    assert "was searched on scenario 'nordic-telecom', not 'consumer-credit'" in said
