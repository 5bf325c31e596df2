"""``tact simulate --against``: simulated debtors driving a real tact over gRPC.

The same policy on the same debtors, in-process and through the service, must agree (the
bar is "within the 95 % CIs"; with a deterministic policy and train/serve parity every
debtor's episode is in fact the same). The full-size bar (5,000 debtors) is
bench/bench_simulate_against.py; its figures are in docs/experiments.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.experiments.store import ExperimentStore
from engine.service import RunningServer, create_server
from engine.settings import Settings
from simulator.against import ServiceCallError, simulate_against
from simulator.cli import app
from simulator.kpis import compute_kpis
from simulator.masks import compliance_masks
from simulator.policy_registry import resolve_policy
from simulator.rollout import simulate
from simulator.scenario_loader import load_scenario

SEED = 1_000_000
N = 16


@pytest.fixture(scope="module")
def segmented_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    db = tmp_path_factory.mktemp("against") / "tact.db"
    server = create_server(
        Settings(port=0, database_url=f"sqlite:///{db}", rules_watch=False, policy="segmented")
    )
    yield server
    server.stop(0)


def test_the_service_reproduces_the_in_process_run(segmented_server: RunningServer) -> None:
    scenario = load_scenario("nordic-telecom")
    masks = compliance_masks()
    served = simulate_against(f"127.0.0.1:{segmented_server.port}", scenario, N, masks, seed=SEED)
    local = simulate(scenario, resolve_policy("segmented"), N, masks, seed=SEED, log_steps=False)
    assert served.blocked_in_simulator == 0
    assert served.arms == {"champion": served.decisions} and served.events_sent > 0
    kpis_served = {k.name: k for k in compute_kpis(served.outcomes)}
    kpis_local = {k.name: k for k in compute_kpis(local.outcomes)}
    for name in ("net_value_per_case", "resolution_rate"):
        a, b = kpis_served[name], kpis_local[name]
        assert a.ci_low <= b.mean <= a.ci_high and b.ci_low <= a.mean <= b.ci_high, name
    # Stronger than the bar: the same episodes, debtor by debtor.
    assert (served.outcomes.collected_minor == local.outcomes.collected_minor).all()
    assert (served.outcomes.contacts == local.outcomes.contacts).all()


def test_the_cli_writes_kpis_and_counts(segmented_server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "against.json"
    result = CliRunner().invoke(
        app,
        [
            "--against",
            f"127.0.0.1:{segmented_server.port}",
            "--debtors",
            "2",
            "--seed",
            str(SEED),
            "--json",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["debtors"] == 2 and summary["blocked_in_simulator"] == 0
    assert "net_value_per_case" in summary["kpis"]
    assert "net value per case" in result.output


def test_no_service_is_a_clear_error() -> None:
    with pytest.raises(ServiceCallError, match=r"no tact answers at 127\.0\.0\.1:9"):
        simulate_against(
            "127.0.0.1:9",
            load_scenario("nordic-telecom"),
            1,
            compliance_masks(),
            seed=SEED,
            connect_timeout=0.5,
        )


def test_an_experiment_is_rehearsed_with_every_decision_tagged(tmp_path: Path) -> None:
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(
        "id: rehearsal\nchampion: segmented\nchallengers:\n"
        "  - {name: simple, policy: best-simple, share: 0.5}\n"
        "shadows:\n  - {name: ladder, policy: ladder}\n"
        "exploration: {kind: epsilon, epsilon: 0.1}\n"
    )
    url = f"sqlite:///{tmp_path / 'tact.db'}"
    server = create_server(
        Settings(port=0, database_url=url, rules_watch=False, experiment_file=experiment)
    )
    try:
        result = simulate_against(
            f"127.0.0.1:{server.port}",
            load_scenario("nordic-telecom"),
            12,
            compliance_masks(),
            seed=SEED,
            run_id="rehearsal",  # fixed case ids: a fixed split between the arms
        )
        holder = server.components.experiment
        assert holder is not None
        stats = holder.store.arm_stats("rehearsal")
    finally:
        server.stop(0)
    assert set(result.arms) == {"champion", "challenger:simple"}
    assert result.blocked_in_simulator == 0
    assert sum(s.debtors for s in stats.values()) == 12
    store = ExperimentStore(url)
    try:
        import sqlalchemy as sa

        with store._engine.connect() as connection:
            tagged = connection.execute(sa.text("SELECT COUNT(*) FROM experiment_decision"))
            assert tagged.scalar_one() == result.decisions
    finally:
        store.close()


def test_a_server_that_wants_tokens_gets_the_callers_token(tmp_path: Path) -> None:
    import hashlib

    token = "sim-token-1"
    digest = hashlib.sha256(token.encode()).hexdigest()
    tokens = f"tokens: [{{name: sim, sha256: {digest}, scopes: [decide, events]}}]\n"
    server = create_server(
        Settings(
            port=0,
            database_url=f"sqlite:///{tmp_path / 'tact.db'}",
            rules_watch=False,
            policy="segmented",
            auth_tokens=tokens,
        )
    )
    try:
        target, sc = f"127.0.0.1:{server.port}", load_scenario("nordic-telecom")
        with pytest.raises(ServiceCallError, match=r"UNAUTHENTICATED.*TACT_TOKEN"):
            simulate_against(target, sc, 2, compliance_masks(), seed=1_000_000)
        result = simulate_against(target, sc, 2, compliance_masks(), seed=1_000_000, token=token)
        assert result.decisions > 0
    finally:
        server.stop(0)
