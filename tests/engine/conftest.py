"""Fixtures of the engine's service tests: a real server on port 0 and a real channel."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from engine.service import create_server
from engine.settings import Settings
from tact.v1 import decision_service_pb2_grpc


@pytest.fixture
def decisions(database_url: str) -> Iterator[decision_service_pb2_grpc.DecisionServiceStub]:
    """A DecisionService stub on a fresh server (ladder policy, shipped rules, no watching)."""
    settings = Settings(port=0, database_url=database_url, rules_watch=False, policy="ladder")
    server = create_server(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield decision_service_pb2_grpc.DecisionServiceStub(channel)
    finally:
        server.stop(0)
