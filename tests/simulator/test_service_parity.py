"""Train/serve parity through the real gRPC service.

Simulated cases are replayed through ``Decide`` — once with their history as
``recent_events``, once with it stored beforehand through ``RecordEvents`` — and the
service must build the same observation and the same action mask as the simulator did
(``DecideRequest.include_inputs`` returns what the policy saw).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import grpc
import numpy as np
import pytest

from engine.convert import case_to_proto, datetime_to_timestamp, event_to_proto
from engine.service import RunningServer, create_server
from engine.settings import Settings
from engine.state import EventKind
from simulator.batched import BatchedCollectionsSim
from simulator.replay import decision_instant, ledger_of, snapshot_of
from tact.v1 import decision_service_pb2, decision_service_pb2_grpc


@pytest.fixture(scope="module")
def stub(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[decision_service_pb2_grpc.DecisionServiceStub]:
    db = tmp_path_factory.mktemp("parity") / "tact.db"
    running: RunningServer = create_server(
        Settings(port=0, database_url=f"sqlite:///{db}", rules_watch=False, policy="ladder")
    )
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield decision_service_pb2_grpc.DecisionServiceStub(channel)
    running.stop(0)


@pytest.mark.parametrize("scenario", ["nordic_telecom", "consumer_credit"])
def test_service_sees_what_the_simulator_saw(
    scenario: str, stub: decision_service_pb2_grpc.DecisionServiceStub, compliance_engine, request
) -> None:  # type: ignore[no-untyped-def]
    sim = BatchedCollectionsSim(
        request.getfixturevalue(scenario),
        12,
        compliance_engine,
        seed=11,
        auto_reset=True,
        record_events=True,
    )
    sim.reset()
    rng = np.random.default_rng(5)
    compared = 0
    for day in range(36):
        if day % 7 == 6:
            observations, masks = sim.observe(), sim.action_masks()
            for row in range(sim.n):
                compared += _compare_row(stub, sim, row, observations[row], masks[row], day)
        masks = sim.action_masks()
        actions = np.argmax(rng.random(masks.shape) * masks, axis=1)
        actions[rng.random(sim.n) < 0.4] = 0
        sim.step(actions)
    assert compared >= 12 * 5 * 2


def _compare_row(
    stub: decision_service_pb2_grpc.DecisionServiceStub,
    sim: BatchedCollectionsSim,
    row: int,
    observation: np.ndarray,
    mask: np.ndarray,
    day: int,
) -> int:
    snapshot = snapshot_of(sim, row)
    # Reservations are the service's own bookkeeping; each was followed by the attempt
    # that supersedes it, which is what a caller reports.
    events = [e for e in ledger_of(sim, row) if e.kind is not EventKind.CONTACT_PLANNED]
    now = datetime_to_timestamp(decision_instant(sim, row))
    expected_allowed = np.flatnonzero(mask).tolist()

    # 1) History supplied by the caller.
    inline = stub.Decide(
        decision_service_pb2.DecideRequest(
            case=case_to_proto(snapshot, events), now=now, dry_run=True, include_inputs=True
        ),
        timeout=10,
    )
    # 2) History recorded beforehand (under a fresh case id), none supplied.
    stored = replace(snapshot, case_id=f"p-{uuid.uuid4()}")
    if events:
        renamed = [event_to_proto(e, currency=snapshot.currency) for e in events]
        for proto in renamed:
            proto.case_id = stored.case_id
            proto.event_id = f"{stored.case_id}/{proto.event_id}"
        stub.RecordEvents(decision_service_pb2.RecordEventsRequest(events=renamed), timeout=10)
    recorded = stub.Decide(
        decision_service_pb2.DecideRequest(
            case=case_to_proto(stored), now=now, dry_run=True, include_inputs=True
        ),
        timeout=10,
    )
    for decision, how in ((inline, "recent_events"), (recorded, "RecordEvents")):
        got = np.asarray(decision.inputs.observation, dtype=np.float32)
        assert np.array_equal(got, observation), (
            f"day {day} row {row} via {how}: observation differs at features "
            f"{np.flatnonzero(got != observation).tolist()}"
        )
        allowed = set(decision.inputs.allowed_indices)
        assert sorted(allowed) == expected_allowed, (
            f"day {day} row {row} via {how}: mask differs (service-only "
            f"{sorted(allowed - set(expected_allowed))}, simulator-only "
            f"{sorted(set(expected_allowed) - allowed)})"
        )
    return 2
