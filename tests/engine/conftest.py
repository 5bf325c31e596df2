"""Fixtures of the engine's service tests: a real server on port 0 (ladder policy, shipped
rules, no watching; the session's ledger: a SQLite file, and PostgreSQL when reachable) and a
real channel to it. A module may override ``running`` with a server of its own; ``channel``
and ``stub`` then talk to that one."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from engine.service import RunningServer, create_server
from engine.settings import Settings
from tact.v1 import decision_service_pb2_grpc


def _ladder_server(database_url: str) -> RunningServer:
    return create_server(
        Settings(port=0, database_url=database_url, rules_watch=False, policy="ladder")
    )


@pytest.fixture
def running(database_url: str) -> Iterator[RunningServer]:
    server = _ladder_server(database_url)
    yield server
    server.stop(0)


@pytest.fixture
def channel(running: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> decision_service_pb2_grpc.DecisionServiceStub:
    return decision_service_pb2_grpc.DecisionServiceStub(channel)


@pytest.fixture
def decisions(database_url: str) -> Iterator[decision_service_pb2_grpc.DecisionServiceStub]:
    """A DecisionService stub on a fresh ladder server of its own (whatever ``running``
    a module defines)."""
    server = _ladder_server(database_url)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield decision_service_pb2_grpc.DecisionServiceStub(channel)
    finally:
        server.stop(0)
