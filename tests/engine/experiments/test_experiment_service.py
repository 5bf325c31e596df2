"""Experiments through a real server on port 0: arms per debtor, shadows and versions
stored with each decision, hot reload (good and broken edits), guardrail rollbacks shared
through the ledger, health and AdminService."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from engine.convert import datetime_to_timestamp
from engine.experiments.holder import ExperimentHolder
from engine.experiments.store import ExperimentStore
from engine.ledger.models import LEDGER_METADATA
from engine.service import EXPERIMENT_HEALTH_NAME, RunningServer, create_server
from engine.settings import Settings
from engine.state import EventKind
from tact.v1 import admin_service_pb2, admin_service_pb2_grpc, decision_service_pb2
from tact.v1 import decision_service_pb2_grpc as rpc
from tests.support.service_calls import case, event, fresh, record

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Chicago

EXPERIMENT = """\
id: {id}
champion: ladder
challengers:
  - name: seg
    policy: segmented
    share: 0.5
shadows:
  - {{name: rnd, policy: random}}
exploration: {{kind: epsilon, epsilon: 0.2}}
guardrails:
  complaint_rate: {{max_excess: 0.01}}
  opt_out_rate: null
  payment_rate: null
  min_debtors: 5
  check_seconds: 3600
"""


@pytest.fixture
def experiment_file(tmp_path: Path) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT.format(id=fresh("exp")))
    return path


@pytest.fixture
def running(database_url: str, experiment_file: Path) -> Iterator[RunningServer]:
    server = create_server(
        Settings(
            port=0,
            database_url=database_url,
            rules_watch=False,
            experiment_file=experiment_file,
        )
    )
    yield server
    server.stop(0)


def _decide(channel: grpc.Channel, case_id: str, debtor: str) -> decision_service_pb2.Decision:
    of = case(case_id, timezone="America/Chicago")
    of.debtor_id = debtor
    request = decision_service_pb2.DecideRequest(
        case=of,
        now=datetime_to_timestamp(NOW),
    )
    decision: decision_service_pb2.Decision = rpc.DecisionServiceStub(channel).Decide(
        request, timeout=10
    )
    return decision


def _tags(url: str, ids: list[str]) -> dict[str, dict[str, object]]:
    store = ExperimentStore(url)
    try:
        return store.tags_for(ids)
    finally:
        store.close()


def test_arms_are_sticky_per_debtor_and_every_decision_is_tagged(
    running: RunningServer, channel: grpc.Channel, database_url: str
) -> None:
    holder = running.components.experiment
    assert holder is not None
    version = holder.current.version
    decisions = []
    arms: dict[str, set[str]] = {}
    for d in range(24):
        debtor = fresh(f"debtor{d}")
        for c in range(2):  # two cases of one debtor: one arm
            decision = _decide(channel, fresh(f"case{d}-{c}"), debtor)
            arms.setdefault(debtor, set()).add(decision.policy.arm)
            decisions.append(decision)
    assert all(len(a) == 1 for a in arms.values())
    seen = {a for s in arms.values() for a in s}
    assert seen == {"champion", "challenger:seg"}
    tags = _tags(database_url, [d.decision_id for d in decisions])
    assert len(tags) == len(decisions)
    for decision in decisions:
        tag = tags[decision.decision_id]
        assert tag["version"] == version and tag["arm"] == decision.policy.arm
        assert tag["exploration"] == "epsilon:0.2"
        [shadow] = json.loads(str(tag["shadows"]))
        assert shadow["name"] == "rnd"
        assert shadow["agrees"] == (shadow["treatment_index"] == decision.treatment.catalogue_index)
        # Exploration's propensity is exact: at least ε / allowed, at most 1.
        assert 0 < decision.policy.propensity <= 1


def test_a_reload_versions_decisions_and_a_broken_edit_keeps_the_last_good(
    running: RunningServer, channel: grpc.Channel, experiment_file: Path, database_url: str
) -> None:
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    first = admin.GetExperiment(admin_service_pb2.GetExperimentRequest(), timeout=10)
    before = _decide(channel, fresh("c"), fresh("d"))
    experiment_file.write_text(experiment_file.read_text().replace("0.2}", "0.3}"))
    second = admin.ReloadExperiment(admin_service_pb2.ReloadExperimentRequest(), timeout=10)
    assert second.last_load_ok and second.version != first.version
    assert second.exploration == "epsilon:0.3"
    after = _decide(channel, fresh("c"), fresh("d"))
    tags = _tags(database_url, [before.decision_id, after.decision_id])
    assert tags[before.decision_id]["version"] == first.version
    assert tags[after.decision_id]["version"] == second.version
    experiment_file.write_text(experiment_file.read_text().replace("share: 0.5", "share: 2"))
    broken = admin.ReloadExperiment(admin_service_pb2.ReloadExperimentRequest(), timeout=10)
    assert not broken.last_load_ok and broken.version == second.version
    [issue] = broken.issues
    assert (issue.field, issue.line) == ("challengers.0.share", 6)
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        status = health.Check(health_pb2.HealthCheckRequest(service=EXPERIMENT_HEALTH_NAME)).status
        if status == health_pb2.HealthCheckResponse.NOT_SERVING:
            break
        time.sleep(0.2)
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    # Decisions go on under the last good version.
    assert _decide(channel, fresh("c"), fresh("d")).decision_id


def test_a_harmful_challenger_is_rolled_back_for_every_replica(
    running: RunningServer, channel: grpc.Channel, database_url: str, experiment_file: Path
) -> None:
    holder = running.components.experiment
    assert holder is not None
    by_arm: dict[str, list[decision_service_pb2.Decision]] = {}
    debtors: dict[str, str] = {}
    for d in range(40):
        debtor = fresh(f"debtor{d}")
        decision = _decide(channel, fresh(f"case{d}"), debtor)
        by_arm.setdefault(decision.policy.arm, []).append(decision)
        debtors[decision.case_id] = debtor
    # Every challenger debtor complains, no champion debtor does.
    stub = rpc.DecisionServiceStub(channel)
    for decision in by_arm["challenger:seg"]:
        record(
            stub,
            event(
                decision.case_id,
                "complaint-1",
                EventKind.COMPLAINT,
                NOW + timedelta(hours=2),
                debtor_id=debtors[decision.case_id],
            ),
        )
    states = holder.check_guardrails()
    crossed = [s for s in states if s.crossed]
    assert [s.guardrail for s in crossed] == ["complaint_rate"]
    status = admin_service_pb2_grpc.AdminServiceStub(channel).GetStatus(
        admin_service_pb2.GetStatusRequest(), timeout=10
    )
    arm = {a.name: a for a in status.experiment.arms}["challenger:seg"]
    assert arm.rolled_back and arm.share == 0.0 and "complaint_rate" in arm.rollback_reason
    assert {a.name: a for a in status.experiment.arms}["champion"].share == 1.0
    assert not holder.as_configured()  # the health entry tact.experiment turns NOT_SERVING
    # Later passes test no guardrail (the only challenger is rolled back) but still count
    # every arm's debtors.
    holder.check_guardrails()
    status = admin_service_pb2_grpc.AdminServiceStub(channel).GetStatus(
        admin_service_pb2.GetStatusRequest(), timeout=10
    )
    counted = {a.name: a.debtors for a in status.experiment.arms}
    assert counted == {arm: len(given) for arm, given in by_arm.items()}
    # … and still show the rolled-back challenger's tests (not an empty list).
    shown = {(g.arm, g.guardrail): g.crossed for g in status.experiment.guardrails}
    assert shown == {
        ("challenger:seg", "complaint_rate"): True,
        ("challenger:seg", "compliance_violations"): False,
    }
    assert len(holder.store.rollbacks(holder.current.experiment_id)) == 1
    # The challenger's debtors now get the champion.
    moved = by_arm["challenger:seg"][0]
    again = _decide(channel, fresh("another-case"), debtors[moved.case_id])
    assert again.policy.arm == "champion"
    # Another replica on the same ledger starts with the rollback applied.
    other = ExperimentHolder(experiment_file, ExperimentStore(database_url))
    try:
        assert "challenger:seg" in other.current.rollbacks
        assert other.current.effective_shares()["challenger:seg"] == 0.0
    finally:
        other.stop()


def test_an_identical_challenger_is_not_rolled_back(
    running: RunningServer, channel: grpc.Channel
) -> None:
    holder = running.components.experiment
    assert holder is not None
    stub = rpc.DecisionServiceStub(channel)
    for d in range(40):
        debtor = fresh(f"debtor{d}")
        decision = _decide(channel, fresh(f"case{d}"), debtor)
        if d % 4 == 0:  # a quarter of every arm complains
            record(
                stub,
                event(
                    decision.case_id,
                    "c1",
                    EventKind.COMPLAINT,
                    NOW + timedelta(hours=1),
                    debtor_id=debtor,
                ),
            )
    assert not any(s.crossed for s in holder.check_guardrails())
    assert not holder.current.rollbacks


def test_experiment_rows_survive_in_the_ledger_tables(
    running: RunningServer, channel: grpc.Channel, database_url: str
) -> None:
    _decide(channel, fresh("c"), fresh("d"))
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT COUNT(*) FROM experiment_version"))
            assert versions.scalar_one() >= 1
    finally:
        engine.dispose()


def test_editing_the_experiment_under_load_fails_no_call(
    running: RunningServer, channel: grpc.Channel, experiment_file: Path, database_url: str
) -> None:
    """Decide from four threads while the file is edited and reloaded: no call fails, and
    each decision's stored version is one whose text explains how it was drawn."""
    import threading

    stop = threading.Event()
    ids: list[str] = []
    failures: list[BaseException] = []

    def load() -> None:
        while not stop.is_set():
            try:
                ids.append(_decide(channel, fresh("c"), fresh("d")).decision_id)
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    versions = set()
    text = experiment_file.read_text()
    for k, epsilon in enumerate((0.1, 0.3, 0.5, 0.7, 0.9, 0.2)):
        experiment_file.write_text(text.replace("epsilon: 0.2", f"epsilon: {epsilon}"))
        status = admin.ReloadExperiment(admin_service_pb2.ReloadExperimentRequest(), timeout=10)
        assert status.last_load_ok, status.issues
        versions.add(status.version)
        time.sleep(0.15 if k % 2 else 0.3)
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    assert len(ids) > 20
    tags = _tags(database_url, ids)
    assert set(tags) == set(ids)
    store = ExperimentStore(database_url)
    try:
        holder = running.components.experiment
        assert holder is not None
        for tag in tags.values():
            served_text = store.version_text(holder.current.experiment_id, str(tag["version"]))
            epsilon = served_text.split("epsilon: ")[1].split("}")[0]
            assert tag["exploration"] == f"epsilon:{float(epsilon):g}"
    finally:
        store.close()
    assert len({t["version"] for t in tags.values()}) >= 3


def test_erasing_a_debtor_erases_their_experiment_rows(
    running: RunningServer, channel: grpc.Channel, database_url: str
) -> None:
    debtor = fresh("erase-me")
    kept = _decide(channel, fresh("c"), fresh("other"))
    gone = [_decide(channel, fresh("c"), debtor) for _ in range(2)]
    store = ExperimentStore(database_url)
    try:
        assert store.erase_debtor(debtor) == 4  # two tags, two case arms
        running.components.ledger.erase_debtor(debtor)
        left = store.tags_for([kept.decision_id, *(d.decision_id for d in gone)])
        assert set(left) == {kept.decision_id}
    finally:
        store.close()


def test_a_decision_whose_tag_cannot_be_written_is_not_stored_and_fails_retryably(
    running: RunningServer,
    channel: grpc.Channel,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tag is written in the decision's own transaction: when the tag's insert fails
    (the database fails mid-transaction), neither is stored and the caller is told to retry
    (UNAVAILABLE, not INTERNAL); a retry then stores both."""
    from engine.ledger import driver

    ledger = running.components.ledger
    driver_error = ledger.engine.dialect.loaded_dbapi.OperationalError

    def fail(**_kwargs: object) -> None:
        raise driver_error("disk I/O error (injected while writing the experiment tags)")

    monkeypatch.setattr(driver, "insert_companions", fail)
    case_id, debtor = fresh("c"), fresh("d")
    with pytest.raises(grpc.RpcError) as info:
        _decide(channel, case_id, debtor)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "Traceback" not in (info.value.details() or "")
    monkeypatch.undo()
    decisions = LEDGER_METADATA.tables["decision"]
    with ledger.engine.connect() as connection:
        stored = connection.execute(
            sa.select(decisions.c.decision_id).where(decisions.c.case_id == case_id)
        ).all()
    assert stored == []

    decision = _decide(channel, case_id, debtor)
    assert set(_tags(database_url, [decision.decision_id])) == {decision.decision_id}


def test_case_exploration_is_reported_and_stored_with_each_decision(
    running: RunningServer, channel: grpc.Channel, experiment_file: Path, database_url: str
) -> None:
    experiment_file.write_text(
        experiment_file.read_text()
        + "case_exploration: {share: 0.5, policies: [segmented, best-simple]}\n"
    )
    admin = admin_service_pb2_grpc.AdminServiceStub(channel)
    status = admin.ReloadExperiment(admin_service_pb2.ReloadExperimentRequest(), timeout=10)
    assert status.last_load_ok, status.issues
    assert status.case_exploration_share == pytest.approx(0.5)
    assert [(p.policy, p.share) for p in status.case_exploration] == [
        ("segmented", pytest.approx(0.25)),
        ("best-simple", pytest.approx(0.25)),
    ]
    decisions = [_decide(channel, fresh("c"), fresh("d")) for _ in range(24)]
    tags = _tags(database_url, [d.decision_id for d in decisions])
    runners = set()
    for decision in decisions:
        tag = tags[decision.decision_id]
        runners.add(tag["case_runner"])
        assert decision.policy.name == tag["case_runner"]  # the runner decided the case
        arm_policy = "ladder" if tag["arm"] == "champion" else "segmented"
        # P(this policy runs a case of this arm): the arm's own 0.5, plus its pool share.
        pool = {"segmented": 0.25, "best-simple": 0.25}
        expected = (0.5 if tag["case_runner"] == arm_policy else 0.0) + pool.get(
            str(tag["case_runner"]), 0.0
        )
        assert tag["case_propensity"] == pytest.approx(expected), (tag["arm"], tag["case_runner"])
    assert "best-simple" in runners and len(runners) >= 2
