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

import grpc
import pytest
from typer.testing import CliRunner

from engine.experiments.store import ExperimentStore
from engine.service import RunningServer, create_server
from engine.settings import Settings
from simulator.against import AgainstResult, ServiceCallError, simulate_against
from simulator.cli import app
from simulator.kpis import compute_kpis
from simulator.masks import compliance_masks
from simulator.policy_registry import resolve_policy
from simulator.rollout import simulate
from simulator.scenario_loader import load_scenario
from tact.v1 import admin_service_pb2, admin_service_pb2_grpc

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
            "--arrivals-per-day",
            "1",
            "--json",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["debtors"] == 2 and summary["blocked_in_simulator"] == 0
    assert summary["arrivals_per_day"] == 1 and summary["days"] > 1
    assert "net_value_per_case" in summary["kpis"]
    assert "net value per case" in result.output


def test_arrivals_without_a_service_are_refused() -> None:
    result = CliRunner().invoke(app, ["--arrivals-per-day", "10"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "--arrivals-per-day" in result.output and "--against" in result.output


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


def test_arrivals_play_the_same_debtors_as_batches_of_that_size(
    segmented_server: RunningServer,
) -> None:
    """Four debtors arrive a day: each day's arrivals are the debtors of one batch of four,
    played beside the earlier ones; with a deterministic policy every episode is the one
    the in-process run of batches of four plays."""
    scenario, masks = load_scenario("nordic-telecom"), compliance_masks()
    decided: list[int] = []

    def watch(day: int, so_far: AgainstResult) -> bool:
        decided.append(so_far.decisions)
        return True

    served = simulate_against(
        f"127.0.0.1:{segmented_server.port}",
        scenario,
        N,
        masks,
        seed=SEED,
        arrivals_per_day=4,
        on_day=watch,
    )
    local = simulate(
        scenario, resolve_policy("segmented"), N, masks, seed=SEED, batch_size=4, log_steps=False
    )
    assert (served.outcomes.collected_minor == local.outcomes.collected_minor).all()
    assert (served.outcomes.contacts == local.outcomes.contacts).all()
    # Day 0 decides for the first four debtors only, day 1 for at most eight, …
    assert decided[0] == 4 and decided[1] - decided[0] <= 8
    assert served.days == len(decided) and served.stopped_on_day is None
    assert served.blocked_in_simulator == 0


def test_on_day_can_end_a_run_early(segmented_server: RunningServer) -> None:
    served = simulate_against(
        f"127.0.0.1:{segmented_server.port}",
        load_scenario("nordic-telecom"),
        N,
        compliance_masks(),
        seed=SEED,
        arrivals_per_day=2,
        on_day=lambda day, _: day < 2,
    )
    assert served.stopped_on_day == 2 and served.days == 3
    # Three days of arrivals (six debtors), none of them at the end of its episode.
    assert 0 < served.decisions <= 2 + 4 + 6 and len(served.outcomes.serial) < N


def test_a_harmful_challenger_is_rolled_back_by_the_service_during_a_rehearsal(
    tmp_path: Path,
) -> None:
    """The guardrail bar in small: `daily-calls` as a challenger, debtors arriving day by
    day, the service's own guardrail pass rolls it back, and from then on its debtors get
    the champion."""
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(
        "id: harm\nchampion: segmented\nchallengers:\n"
        "  - {name: harm, policy: daily-calls, share: 0.5}\n"
        "guardrails: {min_debtors: 20, check_seconds: 0.05}\n"
    )
    url = f"sqlite:///{tmp_path / 'tact.db'}"
    server = create_server(
        Settings(port=0, database_url=url, rules_watch=False, experiment_file=experiment)
    )
    seen: dict[str, object] = {}
    try:
        target = f"127.0.0.1:{server.port}"
        with grpc.insecure_channel(target) as channel:
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)

            def watch(day: int, so_far: AgainstResult) -> bool:
                if "day" not in seen:
                    status = admin.GetExperiment(admin_service_pb2.GetExperimentRequest())
                    arm = {a.name: a for a in status.arms}["challenger:harm"]
                    if arm.rolled_back:
                        seen.update(day=day, arm=arm, decided=so_far.arms.get(arm.name, 0))
                        return True
                return "day" not in seen or day < int(seen["day"]) + 3  # type: ignore[call-overload]

            result = simulate_against(
                target,
                load_scenario("nordic-telecom"),
                1200,
                compliance_masks(),
                seed=SEED,
                arrivals_per_day=40,
                on_day=watch,
                run_id="harm",
            )
    finally:
        server.stop(0)
    arm = seen["arm"]
    assert isinstance(arm, admin_service_pb2.ExperimentArm)
    assert arm.rollback_reason.startswith("complaint_rate"), arm.rollback_reason
    assert arm.share == 0.0 and arm.debtors < 300
    # Three more days after the rollback, and not one more decision for the challenger.
    assert result.arms["challenger:harm"] == seen["decided"]
    assert result.arms["champion"] > result.arms["challenger:harm"]
    assert result.blocked_in_simulator == 0
