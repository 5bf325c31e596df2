"""A real decision server on port 0 (ladder policy, bundled rules, the session's ledger:
a SQLite file, and PostgreSQL when reachable) and a real channel to it."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from engine.service import RunningServer, create_server
from engine.settings import Settings
from tact.v1 import decision_service_pb2_grpc


@pytest.fixture
def running(database_url: str) -> Iterator[RunningServer]:
    settings = Settings(port=0, database_url=database_url, rules_watch=False, policy="ladder")
    server = create_server(settings)
    yield server
    server.stop(0)


@pytest.fixture
def channel(running: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> decision_service_pb2_grpc.DecisionServiceStub:
    return decision_service_pb2_grpc.DecisionServiceStub(channel)
